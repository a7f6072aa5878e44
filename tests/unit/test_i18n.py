"""Every user-facing text is in both catalogues: Simplified Chinese complete, placeholders intact."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, locale_from_env, normalize_locale, translator

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{[a-z_]+(?:![rsa])?\}")


def _catalogue(locale: str):  # type: ignore[no-untyped-def]
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "renovote.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    missing, broken = [], []
    for message in _catalogue("zh_CN"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            missing.append(ids[0])
            continue
        if set(PLACEHOLDER.findall(ids[0])) != set(PLACEHOLDER.findall(strings[0])):
            broken.append(ids[0])
    assert missing == [], f"untranslated or fuzzy zh_CN messages: {missing}"
    assert broken == [], f"placeholders differ: {broken}"


def test_catalogues_hold_every_message_the_code_uses(tmp_path: Path) -> None:
    """Extract from the sources now; the committed template and both catalogues must have the same ids."""
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-k",
            "_",
            "-k",
            "n:1,2",
            "--no-location",
            "-o",
            str(pot),
            "voting",
            "bot",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as fh:
        fresh = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    for locale in ("zh_CN", "en"):
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue(locale) if m.id}
        assert fresh - have == set(), f"{locale} lacks {sorted(fresh - have)}: run `make i18n` and translate"


def test_chinese_is_the_default_and_english_is_picked_from_the_language_code() -> None:
    assert normalize_locale(None) == "zh_CN"
    assert normalize_locale("zh-hans") == "zh_CN"
    assert normalize_locale("en-US") == "en"
    assert normalize_locale("ru") == "zh_CN"
    assert locale_from_env({}) == "zh_CN"
    assert locale_from_env({"LANG": "en_GB.UTF-8"}) == "en"
    assert translator("zh_CN")("Agree") == "同意"
    assert translator("en")("Agree") == "Agree"
    assert translator("en").n("{n} more owner", "{n} more owners", 2) == "{n} more owners"
