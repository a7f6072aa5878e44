"""A person in a real browser (headless Chromium) uses the sandbox's web chat: binds with a code and votes.

Keeps a screenshot at var/test-artifacts/webchat-vote.png. Skips, saying why, where Chromium or its
driver is missing (`.ci/run` installs Debian's chromium and chromium-driver).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.sandbox.run import start_sandbox
from tests.botkit import SettableClock, fresh_db

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path("var/test-artifacts")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="headless browser test skipped: Debian's chromium and chromium-driver are not installed "
    "(.ci/run installs them: apt-get install chromium chromium-driver)",
)


def _driver(profile: Path):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)


async def test_a_resident_binds_and_votes_in_the_web_chat(template_db: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    box = await start_sandbox(fresh_db(template_db, tmp_path), clock=SettableClock())
    driver = await asyncio.to_thread(_driver, tmp_path / "profile")
    resident = box.demo.residents[0]

    def xpath_button(text: str) -> tuple[str, str]:
        return By.XPATH, f"//button[normalize-space(.)='{text}']"

    def scenario() -> str:
        wait = WebDriverWait(driver, 20)
        driver.get(box.url)
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f".user[data-user='{resident.id}']"))).click()
        field = wait.until(ec.element_to_be_clickable((By.ID, "text")))
        field.send_keys(resident.hint)
        driver.find_element(By.ID, "send").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "messages"), "绑定成功"))
        wait.until(ec.element_to_be_clickable(xpath_button("🗳 投票"))).click()
        wait.until(ec.element_to_be_clickable(xpath_button("✅ 同意"))).click()
        wait.until(ec.element_to_be_clickable(xpath_button("✔ 确认提交"))).click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "messages"), "回执码"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        fonts = driver.execute_async_script(
            "document.fonts.ready.then(() => arguments[0]([...document.fonts]"
            ".filter(f => f.status === 'loaded').map(f => f.family)))"
        )
        assert any("Renovote Sans SC" in family for family in fonts), fonts  # the page's Chinese font is ours
        driver.save_screenshot(str(ARTIFACTS / "webchat-vote.png"))
        return str(driver.find_element(By.ID, "messages").text)

    try:
        shown = await asyncio.to_thread(scenario)
    finally:
        await asyncio.to_thread(driver.quit)
        entries = []
        async with box.ctx.uow() as uow:
            entries = [e async for e in uow.ledger.entries(box.demo.vote_id)]
        await box.close()
    (entry,) = entries
    assert entry.receipt in shown
    assert (ARTIFACTS / "webchat-vote.png").stat().st_size > 10_000
