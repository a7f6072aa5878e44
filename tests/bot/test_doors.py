"""Door-to-door work through the real dispatcher: who has not voted (chat, XLSX, PDF), paper ballot
forms whose typed or scanned code selects the home in the paper-ballot entry."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from pypdf import PdfReader

from bot.callbacks import WorkCb
from bot.i18n import translator
from bot.sandbox.seed import WORKER_ID
from tests.bot.conftest import Harness
from voting import doors

ZH = translator("zh_CN")
RESIDENT = 100001  # 莫珍, 1-1-101


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


def _document(h: Harness, message: dict[str, Any]) -> bytes:
    data, _name, _mime = h.api.files[message["document"]["file_id"]]
    return data


async def _vote_as_resident(h: Harness) -> None:
    await h.say(RESIDENT, f"/start {h.demo.codes['1-1-101']}")
    card = await h.say(RESIDENT, ZH("🗳 Votes"))
    await h.press(RESIDENT, card["message_id"], _buttons(card)[0][1])
    confirm = h.last(RESIDENT)
    await h.press(RESIDENT, confirm["message_id"], _buttons(confirm)[0][1])


async def test_the_not_voted_list_comes_by_building_in_the_chat_and_as_xlsx_and_pdf(h: Harness) -> None:
    await h.say(100003, f"/start {h.demo.codes['3-1-101']}")  # bound, has not voted
    await _vote_as_resident(h)
    before = len(h.api.messages(WORKER_ID))
    listing = await h.say(WORKER_ID, "/manage")
    await h.press(WORKER_ID, listing["message_id"], WorkCb(action="card", vote_id=h.demo.vote_id).pack())
    card = h.last(WORKER_ID)
    assert any(text == ZH("🚪 Not voted yet") for text, _d in _buttons(card))
    await h.press(WORKER_ID, card["message_id"], WorkCb(action="doors", vote_id=h.demo.vote_id).pack())
    sent = h.api.messages(WORKER_ID)[before:]
    texts = "\n".join(m.get("text", "") for m in sent)
    assert ZH("{building}: {n} homes").split("{")[0] in texts or "号楼" in texts
    assert "1-1-101" not in texts  # voted
    assert "3-1-101" in texts and ZH("in the chat") in texts and ZH("not in the chat") in texts
    files = [m for m in sent if "document" in m]
    assert [m["document"]["file_name"].rsplit(".", 1)[1] for m in files] == ["xlsx", "pdf"]
    sheet = openpyxl.load_workbook(io.BytesIO(_document(h, files[0]))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][3] == ZH("Home") and len(rows) == 1 + 119  # 120 homes, one voted
    assert "1-1-101" not in [r[3] for r in rows]
    pdf = PdfReader(io.BytesIO(_document(h, files[1])))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "3-1-101" in text and "莫珍" not in text
    fonts = [f.get_object() for f in pdf.pages[0]["/Resources"]["/Font"].values()]
    assert any("/FontFile2" in f.get("/FontDescriptor", {}) for f in fonts)  # Chinese embedded


def _qr_texts(pdf: bytes) -> list[str]:
    """Decode every QR code of a PDF page by page (rendered from its vector squares)."""
    from tests.unit.test_documents import _decode, _qr_drawings

    reader = PdfReader(io.BytesIO(pdf))
    return [_decode(rects) for page in range(len(reader.pages)) for _m, rects in _qr_drawings(reader, page)]


async def test_a_ballot_form_s_code_typed_or_scanned_selects_its_home_in_the_paper_entry(h: Harness) -> None:
    h.ctx.bot_username = "renovote_sandbox_bot"
    before = len(h.api.messages(WORKER_ID))
    await h.say(WORKER_ID, "/manage")
    listing = h.last(WORKER_ID)
    await h.press(WORKER_ID, listing["message_id"], WorkCb(action="forms", vote_id=h.demo.vote_id).pack())
    ask = h.last(WORKER_ID)
    all_forms = next(d for t, d in _buttons(ask) if "120" in t)
    await h.press(WORKER_ID, ask["message_id"], all_forms)
    form_pdf = _document(h, h.last(WORKER_ID))
    reader = PdfReader(io.BytesIO(form_pdf))
    assert len(reader.pages) == 120
    first = reader.pages[0].extract_text()
    assert "加装电梯" in first and ZH("Agree") in first and ZH("Owner's signature:") in first
    async with h.ctx.uow() as uow:
        frozen = await uow.votes.frozen(h.demo.vote_id)
    ref = next(u.unit_ref for u in frozen.units if u.unit_id == "1-1-101")
    code = doors.form_code(ref)
    assert code in "".join(page.extract_text() for page in reader.pages)
    links = _qr_texts(form_pdf)
    assert f"https://t.me/renovote_sandbox_bot?start=pb{h.demo.vote_id}_{code.replace('-', '')}" in links

    # Typed: the paper-ballot entry takes the form code for the unit number.
    card = h.last(WORKER_ID)
    await h.press(WORKER_ID, card["message_id"], WorkCb(action="paper", vote_id=h.demo.vote_id).pack())
    asked = await h.say(WORKER_ID, code.lower())
    assert asked["text"].startswith(ZH("Home {unit} (owner's homes: {units}). Their choice?").split("{")[0])
    assert "1-1-101" in asked["text"]
    await h.say(WORKER_ID, "/cancel")

    # Scanned: the QR code's link opens the entry with the home selected.
    scanned = await h.say(WORKER_ID, f"/start pb{h.demo.vote_id}_{code.replace('-', '')}")
    assert "1-1-101" in scanned["text"]
    assert before < len(h.api.messages(WORKER_ID))


async def test_a_blank_form_prints_lines_to_fill_in_and_a_resident_cannot_print_forms(h: Harness) -> None:
    await h.say(WORKER_ID, "/manage")
    listing = h.last(WORKER_ID)
    await h.press(WORKER_ID, listing["message_id"], WorkCb(action="forms_blank", vote_id=h.demo.vote_id).pack())
    blank = PdfReader(io.BytesIO(_document(h, h.last(WORKER_ID))))
    assert len(blank.pages) == 1 and ZH("Home:") in blank.pages[0].extract_text()
    bound = await h.say(RESIDENT, f"/start {h.demo.codes['1-1-101']}")
    files = len(h.api.files)
    for action in ("forms_all", "doors"):
        update = await h.press(RESIDENT, bound["message_id"], WorkCb(action=action, vote_id=h.demo.vote_id).pack())
        assert h.answer(update)["text"] == ZH("This is only for community workers of this community.")
    assert len(h.api.files) == files  # nothing printed for a resident


async def test_remind_now_with_nobody_in_the_chat_says_so_in_words_and_sends_nothing(h: Harness) -> None:
    await _vote_as_resident(h)  # the only bound resident has voted
    listing = await h.say(WORKER_ID, "/manage")
    await h.press(WORKER_ID, listing["message_id"], WorkCb(action="remind_now", vote_id=h.demo.vote_id).pack())
    said = h.last(WORKER_ID)
    async with h.ctx.uow() as uow:
        title = (await uow.votes.get(h.demo.vote_id)).title
    assert said["text"] == ZH(
        "Nobody to remind in the chat: every owner of “{title}” who uses the chat has voted. {n} homes have "
        "not voted and use no chat: 🚪 Not voted yet lists them for a visit."
    ).format(title=title, n=119)
    assert not _buttons(said)


def test_the_reminders_last_line_counts_sent_blocked_and_failed_and_lists_homes_not_reached() -> None:
    from bot.broadcast import BroadcastReport
    from bot.handlers.staff import remind_report_text
    from voting.doors import HomeToVisit

    report = BroadcastReport(total=5, sent=3, blocked=1, failed=1, unreached=[11, 12])
    missed = [
        HomeToVisit("1-1-101", "1", "1", "101", "张三", "", (11,)),
        HomeToVisit("2-1-101", "2", "1", "101", "", "", ()),
    ]
    text = remind_report_text(ZH, report, missed)
    assert text.splitlines()[0] == "已发送 3，1 人已屏蔽机器人，1 失败"
    assert "1-1-101 · 张三" in text and "2-1-101 · —" in text
