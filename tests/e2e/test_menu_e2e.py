"""The renovation menu end to end: the unmodified aiogram client over real HTTP against the sandbox.

A worker uploads a catalogue (a bad one is refused), launches a menu round, two residents tick items
and see their estimated share, the worker closes the round, downloads the plan's cost sheet and puts
the plan to a vote in one step.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import openpyxl

from bot.sandbox.run import Sandbox
from bot.sandbox.seed import WORKER_ID
from tests.botkit import wait_for
from tests.e2e import test_worker_e2e
from tests.e2e.test_worker_e2e import (
    ENGLISH,
    RESIDENT,
    ZH,
    _bind,
    _buttons,
    _file,
    _press,
    _said,
    _say,
    _send_file,
    _tap,
)
from voting.menu import DEFAULT_MENU_RULE, default_catalogue
from voting.rules import preset
from voting.surveys import SurveyKind

box = test_worker_e2e.box  # the fixture: a sandbox with the demo community and its clock

SHARE = "Your estimated share in all: {amount}"  # the msgid of the running total

CATALOGUE = """
name = "幸福里改造菜单"

[[items]]
id = "B01"
class = "basic"
name = "楼道整治"
cost = "50000"
share_per_m2 = "2.50"
required = true

[[items]]
id = "I01"
class = "improvement"
name = "外墙保温"
cost = "300000"
share_per_m2 = "10"

[[items]]
id = "I02"
class = "improvement"
name = "加装电梯"
name_en = "Lifts"
cost = "600000"
share_total = "120000"

[[items]]
id = "U01"
class = "upgrade"
name = "智能快递柜"
cost = "20000"
share_total = "3000"
"""


def _half_up(value: Fraction) -> int:
    return (value + Fraction(1, 2)).__floor__()


def _expected_share() -> str:
    """By hand: the resident of 1-1-101 has 62.35 m²; the demo roster (bot/examples/community.csv,
    120 homes) has 8421.30 m² in all. Required 楼道整治 at 2.50 yuan/m², plus 加装电梯's 120000 yuan
    split by area; each item rounded half up to the fen:
      2.50 × 62.35 = 155.875 -> 155.88
      120000 × 62.35 / 8421.30 = 888.4614… -> 888.46
      total 1044.34 yuan."""
    per_m2 = _half_up(Fraction(250) * 6235 / 100)  # fen: 250 fen/m² × 62.35 m²
    split = _half_up(Fraction(12_000_000) * 6235 / 842_130)  # fen: 120000.00 yuan × 62.35 / 8421.30
    assert (per_m2, split) == (15588, 88846)
    total = per_m2 + split
    return f"{total // 100}.{total % 100:02d}"


async def test_a_menu_round_from_catalogue_to_the_plan_vote(box: Sandbox) -> None:
    w = WORKER_ID
    assert _expected_share() == "1044.34"
    shown = await _say(box, w, "/catalogue", "📚")
    assert ZH("This is the shipped default catalogue: its costs are illustrative only; replace them.") in shown["text"]

    # A bad catalogue: every problem named, nothing saved.
    bad = CATALOGUE.replace('cost = "300000"', 'cost = "30万"').replace('class = "upgrade"', 'class = "luxury"')
    refused = await _send_file(
        box, w, bad.encode(), "menu.toml", ZH("The catalogue cannot be used. Fix these and send it again:")
    )
    assert ZH("item {n} ({key})").format(n=2, key="cost") in refused["text"] and "luxury" in refused["text"]
    assert "items[" not in refused["text"]
    async with box.ctx.uow() as uow:
        assert await uow.surveys.catalogue(box.demo.community_id) is None

    preview = await _send_file(box, w, CATALOGUE.encode(), "menu.toml", "幸福里改造菜单")
    assert "加装电梯" in preview["text"]
    await _press(box, w, preview, ZH("✔ Save as the catalogue"), ZH("This is the community's own catalogue."))
    async with box.ctx.uow() as uow:
        stored = await uow.surveys.catalogue(box.demo.community_id)
    assert stored is not None and [i["id"] for i in stored["items"]] == ["B01", "I01", "I02", "U01"]

    # Two residents bound; the worker launches a round and both are told.
    await _bind(box, RESIDENT, box.demo.codes["1-1-101"])
    await _bind(box, ENGLISH, box.demo.residents[2].hint)
    ask = await _say(box, w, "/newmenu", "幸福里改造菜单")
    which = ZH("Title: {title}. Which optional items go into the draft plan?").format(title="幸福里改造点单")
    threshold = await _say(box, w, "幸福里改造点单", which)
    assert ask and ZH(DEFAULT_MENU_RULE.title) in threshold["text"]
    when = ZH("Rule: {rule}. When does the round close?").format(rule=ZH(DEFAULT_MENU_RULE.title))
    closing = await _press(box, w, threshold, ZH(DEFAULT_MENU_RULE.title)[:10], when)
    launched = await _press(box, w, closing, ZH("In {n} days, 20:00").format(n=7), "幸福里改造点单")
    async with box.ctx.uow() as uow:
        rounds = await uow.surveys.of_community(box.demo.community_id)
    survey = rounds[0]
    assert survey.kind is SurveyKind.MENU and survey.title == "幸福里改造点单"
    told_text = ZH("Menu round #{id} “{title}” is open until {time}; {n} residents were told.")
    assert launched["text"] == told_text.format(
        id=survey.id, title=survey.title, time=box.ctx.local(survey.closes_at), n=2
    )

    # The resident opens it, ticks two items and unticks one; the share is the hand computation.
    told = await _said(box, RESIDENT, 0, "幸福里改造点单")
    card = await _press(box, RESIDENT, told, ZH("🛒 Choose items"), "¥")
    assert "1-1-101" in card["text"] and "62.35" in card["text"]
    # One class a page, each item's cost to this home, the required one shown as included.
    page = ZH("Page {page} of {pages}: {title}")
    assert page.format(page=1, pages=3, title=ZH("Basic (基础类)")) in card["text"]
    included = ZH("🔒 {name}: {cost} (required, included)")
    home = ZH("{cost} for your home")
    assert included.format(name="楼道整治", cost=home.format(cost="¥155.88")) in card["text"]
    assert len(_buttons(card)) <= 8
    assert (
        ZH("These costs are estimates from the example catalogue; the community's plan sets the real ones.")
        not in (card["text"])
    )  # the community's own catalogue: its costs are the community's
    locked = next(d for t, d in _buttons(card) if t.startswith("🔒 楼道整治"))
    update = box.api.user_presses(RESIDENT, card["message_id"], locked)
    answer = await wait_for(lambda: box.api.callback_answers.get(update["callback_query"]["id"]))
    assert answer["show_alert"] and answer["text"] == ZH("This item is required: it is always in.")
    card = await _tap(box, RESIDENT, card, ZH("Page {n} ▶").format(n=2))
    assert page.format(page=2, pages=3, title=ZH("Improvement (完善类)")) in card["text"]
    line = ZH("{mark} {name}: {cost}")
    assert line.format(mark="⬜", name="加装电梯", cost=home.format(cost="¥888.46")) in card["text"]
    card = await _tap(box, RESIDENT, card, "⬜ 加装电梯 ¥888.46")
    assert line.format(mark="☑", name="加装电梯", cost=home.format(cost="¥888.46")) in card["text"]
    card = await _tap(box, RESIDENT, card, ZH("Page {n} ▶").format(n=3))
    card = await _tap(box, RESIDENT, card, "⬜ 智能快递柜")
    assert any(t.startswith("☑ 智能快递柜") for t, _d in _buttons(card))
    card = await _tap(box, RESIDENT, card, "☑ 智能快递柜")
    assert ZH(SHARE).format(amount="¥1,044.34") in card["text"]
    assert [t for t, _d in _buttons(card) if t.startswith("☑")] == []  # page 3: the lift is on page 2
    # Leaving and coming back keeps the ticks (kept as progress).
    again = await _press(box, RESIDENT, told, ZH("🛒 Choose items"), "¥")
    assert ZH(SHARE).format(amount="¥1,044.34") in again["text"]
    done = await _tap(box, RESIDENT, again, ZH("✔ Submit my choice"))
    assert "✅" in done["text"] and "¥1,044.34" in done["text"]

    # The English resident sees English names where the catalogue has them, and submits two items.
    told_en = await _said(box, ENGLISH, 0, "幸福里改造点单")
    card_en = await _press(box, ENGLISH, told_en, "", "¥")
    card_en = await _tap(box, ENGLISH, card_en, "Page 2 ▶")
    card_en = await _tap(box, ENGLISH, card_en, "⬜ Lifts")
    card_en = await _tap(box, ENGLISH, card_en, "⬜ 外墙保温")
    assert "Your estimated share in all: ¥" in card_en["text"]
    done_en = await _tap(box, ENGLISH, card_en, "Submit")
    assert "✅" in done_en["text"]

    # The worker: results, close, each item's support, the plan's XLSX, the plan put to a vote.
    results = await _press(box, w, launched, ZH("📊 Results"), ZH("Draft plan:"))
    assert ZH("Responded: {heads} of {total_heads} owners, {area} of {total_area} m².").split("{")[0] in results["text"]
    confirm = await _press(box, w, results, ZH("⛔ Close now"), "幸福里改造点单")
    closed = await _press(box, w, confirm, ZH("⛔ Yes, close now"), ZH("Draft plan:"))
    lines = closed["text"].splitlines()
    lift = next(line for line in lines if line.startswith("· 加装电梯"))
    assert "2 " in lift and "100.0%" in lift  # both respondents chose it
    wall = next(line for line in lines if line.startswith("· 外墙保温"))
    assert "50.0%" in wall and ZH("not enough support") in wall  # one of two: not more than half
    parcel = next(line for line in lines if line.startswith("· 智能快递柜"))
    assert "0.0%" in parcel

    before = len(box.api.messages(w))
    data = next(d for t, d in _buttons(closed) if ZH("⬇ Plan XLSX") in t)
    box.api.user_presses(w, closed["message_id"], data)
    sheet_message = await wait_for(
        lambda: next((m for m in box.api.messages(w)[before:] if "document" in m), None), what="the plan XLSX"
    )
    assert sheet_message["document"]["file_name"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(_file(box, sheet_message)))
    shares = book.worksheets[1]
    rows = [[c.value for c in row] for row in shares.iter_rows()]
    header, mine = rows[0], next(r for r in rows if r[0] == "1-1-101")
    assert len(header) == 6  # unit, owner, area, 楼道整治, 加装电梯, total
    assert mine[2] == "62.35" and mine[3] == "155.88"
    # 加装电梯 split exactly over all owners (largest remainder): 888.46 or one fen more.
    assert mine[4] in ("888.46", "888.47")
    assert mine[5] in ("1044.34", "1044.35")

    ask_rule = await _press(
        box, w, closed, ZH("🗳 Put the plan to a vote"), ZH("Put the draft plan to a vote: which rule?")
    )
    default = ZH("{rule} (default for renovation works, art. 278)").format(rule=ZH(preset("civil-code-major").title))
    assert _buttons(ask_rule)[0][0] == default  # the default, first
    ask_days = await _press(box, w, ask_rule, default, ZH("Rule: {rule}. When does the vote close?")[-10:])
    launched_vote = await _press(box, w, ask_days, ZH("In {n} days, 20:00").format(n=7), "#")
    # A resident coming back after the close is told so.
    await _press(
        box, RESIDENT, done, ZH("✏ Change my choice"), ZH("This menu round has closed; choices are no longer taken.")
    )
    async with box.ctx.uow() as uow:
        vote = (await uow.votes.of_community(box.demo.community_id))[-1]
    assert f"#{vote.id}" in launched_vote["text"]
    assert vote.rule.name == "civil-code-major" and vote.roster_version_id == survey.roster_version_id
    assert "加装电梯" in vote.text and "楼道整治" in vote.text and "外墙保温" not in vote.text


async def _stored(box: Sandbox) -> dict[str, Any]:
    async with box.ctx.uow() as uow:
        stored = await uow.surveys.catalogue(box.demo.community_id)
    assert stored is not None
    return stored


async def _document_after(box: Sandbox, user: int, before: int) -> dict[str, Any]:
    found = await wait_for(
        lambda: next((m for m in box.api.messages(user)[before:] if "document" in m), None), what="a document"
    )
    assert isinstance(found, dict)
    return found


async def _press_for_document(box: Sandbox, user: int, message: dict[str, Any], label: str) -> bytes:
    before = len(box.api.messages(user))
    data = next(d for t, d in _buttons(message) if label in t)
    box.api.user_presses(user, message["message_id"], data)
    return _file(box, await _document_after(box, user, before))


async def test_a_worker_downloads_reuploads_and_edits_the_catalogue(box: Sandbox) -> None:
    w = WORKER_ID
    shown = await _say(box, w, "/catalogue", "📚")
    assert _buttons(shown)
    toml_text = (await _press_for_document(box, w, shown, ZH("⬇ TOML"))).decode()
    assert "[[items]]" in toml_text and 'cost = "600000.00"' in toml_text
    sheet = await _press_for_document(box, w, shown, ZH("⬇ XLSX"))

    # Without "⬆ Upload a catalogue" a CSV is a roster, as before.
    roster = (Path(__file__).resolve().parents[2] / "bot" / "examples" / "community.csv").read_bytes()
    await _send_file(box, w, roster, "community.csv", ZH("Roster preview:"))

    # The downloaded sheet uploaded again is the same catalogue.
    ask = await _press(box, w, shown, ZH("⬆ Upload a catalogue"), "XLSX")
    assert ask
    bad = "id,class,name,cost,share_per_m2\nA1,basic,路面,abc,1\nA2,nope,绿化,100,1\n".encode()
    refused = await _send_file(
        box, w, bad, "menu.csv", ZH("The catalogue cannot be used. Fix these and send it again:")
    )
    assert "abc" in refused["text"] and "nope" in refused["text"]
    await _press(box, w, shown, ZH("⬆ Upload a catalogue"), "XLSX")
    preview = await _send_file(
        box,
        w,
        sheet,
        "catalogue.xlsx",
        ZH("Catalogue preview ({n} items). Nothing is saved until you tap ✔.").split("{")[0],
    )
    saved = await _press(box, w, preview, ZH("✔ Save as the catalogue"), ZH("This is the community's own catalogue."))
    async with box.ctx.uow() as uow:
        stored = await uow.surveys.catalogue(box.demo.community_id)
    assert stored is not None and stored["items"] == default_catalogue().as_dict()["items"]

    # Edit item 1: its cost (a bad value asked again), then required off, then remove it.
    pick = await _press(box, w, saved, ZH("✏ Edit an item"), ZH("Which item? (the numbers of the list above)"))
    fields = await _press(box, w, pick, "1", "1.")
    await _press(box, w, fields, ZH("💰 Cost"), "120000")
    await _say(box, w, "十二元", ZH("Write an amount in yuan with at most two decimals, e.g. 120000 or 12.5."))
    saved = await _say(box, w, "12.5", ZH("This is the community's own catalogue."))
    first = (await _stored(box))["items"][0]
    assert first["cost_fen"] == 1250 and first["required"] is True
    pick = await _press(box, w, saved, ZH("✏ Edit an item"), ZH("Which item? (the numbers of the list above)"))
    fields = await _press(box, w, pick, "1", "1.")
    saved = await _press(box, w, fields, ZH("🔓 Make it optional"), ZH("This is the community's own catalogue."))
    pick = await _press(box, w, saved, ZH("✏ Edit an item"), ZH("Which item? (the numbers of the list above)"))
    fields = await _press(box, w, pick, "1", "1.")
    await _press(box, w, fields, ZH("🗑 Remove"), ZH("This is the community's own catalogue."))
    items = (await _stored(box))["items"]
    assert len(items) == len(default_catalogue().items) - 1 and items[0]["id"] != first["id"]
    # The same button again (a double tap, an old message) removes nothing more: it names the item.
    again = next(d for t, d in _buttons(fields) if ZH("🗑 Remove") in t)
    update = box.api.user_presses(w, fields["message_id"], again)
    answer = await wait_for(lambda: box.api.callback_answers.get(update["callback_query"]["id"]))
    assert answer["text"] == ZH('the menu has no item "{item}"').format(item=first["id"])
    assert (await _stored(box))["items"] == items
