"""Community workers, auditors and the scheduler, end to end: the unmodified aiogram client over real
HTTP against the sandbox, with the clock injected (times move only when a test moves them).

The scheduler's timer is APScheduler on real time; a test moves the clock and then wakes the
scheduler (`run_due`) as the timer would, or restarts the bot (rebuilt from the database).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.callbacks import WorkCb
from bot.i18n import translator
from bot.sandbox.run import Sandbox, start_sandbox
from bot.sandbox.seed import ADMIN_ID, AUDITOR_ID, GROUP_ID, WORKER_ID
from tests.botkit import SettableClock, fresh_db, wait_for
from voting.audit import verify_bundle
from voting.ledger import EntryKind
from voting.votes import VoteStatus

ZH = translator("zh_CN")
RESIDENT, TWO_HOMES, ENGLISH = 100001, 100002, 100003
EXAMPLE = Path(__file__).resolve().parents[2] / "bot" / "examples" / "community.csv"


@pytest.fixture
async def box(template_db: Path, tmp_path: Path, clock: SettableClock) -> AsyncIterator[Sandbox]:
    sandbox = await start_sandbox(fresh_db(template_db, tmp_path), clock=clock)
    try:
        yield sandbox
    finally:
        await sandbox.close()


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


def _bot_messages(box: Sandbox, chat: int, after: int = 0) -> list[dict[str, Any]]:
    return [m for m in box.api.messages(chat)[after:] if m["from"]["is_bot"]]


async def _said(box: Sandbox, chat: int, before: int, needle: str) -> dict[str, Any]:
    """The bot's first message in `chat` after index `before` whose text or caption contains `needle`."""
    return await wait_for(
        lambda: next(
            (m for m in _bot_messages(box, chat, before) if needle in (m.get("text") or m.get("caption") or "")),
            None,
        ),
        what=f"a message with {needle!r} in chat {chat}",
    )


async def _say(box: Sandbox, user: int, text: str, expect: str) -> dict[str, Any]:
    before = len(box.api.messages(user))
    await box.api.user_sends_text(user, text)
    return await _said(box, user, before, expect)


async def _press(box: Sandbox, user: int, message: dict[str, Any], label_part: str, expect: str) -> dict[str, Any]:
    data = next(d for text, d in _buttons(message) if label_part in text)
    before = len(box.api.messages(user))
    update = box.api.user_presses(user, message["message_id"], data)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers, what="the button's answer")
    return await _said(box, user, before, expect)


async def _tap(box: Sandbox, user: int, message: dict[str, Any], label_part: str) -> dict[str, Any]:
    """Press a button whose answer edits the same message (a vote card); the message as it is then."""
    data = next(d for text, d in _buttons(message) if label_part in text)
    update = box.api.user_presses(user, message["message_id"], data)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers, what="the button's answer")
    return next(m for m in box.api.messages(user) if m["message_id"] == message["message_id"])


async def _send_file(box: Sandbox, user: int, data: bytes, name: str, expect: str) -> dict[str, Any]:
    before = len(box.api.messages(user))
    await box.api.user_sends_document(user, data, name, "text/csv" if name.endswith(".csv") else "application/toml")
    return await _said(box, user, before, expect)


def _file(box: Sandbox, message: dict[str, Any]) -> bytes:
    return box.api.files[message["document"]["file_id"]][0]


async def _bind(box: Sandbox, user: int, code: str) -> None:
    await _say(box, user, f"/start {code}", "m²")  # the bound homes with their area, in any language


async def _vote_in_chat(box: Sandbox, user: int, choice_label: str) -> None:
    card = await _say(box, user, ZH("🗳 Votes"), "")
    confirm = await _tap(box, user, card, choice_label)
    await _tap(box, user, confirm, "✔")


async def _wizard(box: Sandbox, clock: SettableClock, title: str) -> int:
    """A worker creates a vote through the chat wizard: opens in one hour, closes in 3 days, reminders 19:00."""
    w = WORKER_ID
    await _say(box, w, ZH("➕ New vote"), ZH("Title of the vote, e.g. 加装电梯. /cancel to stop."))
    await _say(box, w, title, ZH("The question put to the owners, in full."))
    question = "是否同意更换屋面防水，费用由维修资金列支？"
    rule = await _say(box, w, question, ZH("Counting rule? For another rule, send a rule TOML file now."))
    scope = await _press(box, w, rule, "", ZH("Who votes?"))  # the first preset: double two-thirds
    opens = await _press(box, w, scope, ZH("Whole community"), "")
    example = (clock() + timedelta(days=1)).astimezone(box.ctx.tz).strftime("%Y-%m-%d 08:00")
    assert example in opens["text"]  # the example date is tomorrow, not a fixed date long past
    past = (clock() - timedelta(hours=2)).astimezone(box.ctx.tz).strftime("%Y-%m-%d %H:%M")
    refused = await _say(box, w, past, past)
    assert refused["text"] == ZH(
        "{time} has already passed (it is now {now}). Tap “now” to open it at once, or write a later "
        "time such as {example}."
    ).format(time=past, now=box.ctx.local(clock()), example=example)
    start = clock() + timedelta(hours=1)
    closes = await _say(box, w, start.astimezone(box.ctx.tz).strftime("%Y-%m-%d %H:%M"), "20:00")
    turnout = await _press(box, w, closes, ZH("In {n} days, 20:00").format(n=3), "")
    reminder = await _press(box, w, turnout, ZH("No"), "18:30")
    review = await _press(box, w, reminder, "19:00", ZH("Check the vote before launching it:"))
    assert opens and title in review["text"] and "19:00" in review["text"]
    launched = await _press(box, w, review, ZH("🚀 Launch"), ZH("now")[:0] + "#")
    async with box.ctx.uow() as uow:
        votes = await uow.votes.of_community(box.demo.community_id)
    vote = votes[-1]
    assert vote.title == title and vote.status is VoteStatus.SCHEDULED and f"#{vote.id}" in launched["text"]
    return vote.id


async def test_a_worker_imports_a_roster_from_the_chat_and_prints_invites_a_resident_can_use(box: Sandbox) -> None:
    w = WORKER_ID
    bad = EXAMPLE.read_bytes().replace(b"62.35", b"62,3x", 1)
    refused = await _send_file(box, w, bad, "roster.csv", ZH("Nothing was loaded. Fix the file and try again."))
    assert "2" in refused["text"]  # the row is named
    good = EXAMPLE.read_bytes() + "9,1,101,88.00,新业主,已售,测绘\n".encode()
    preview = await _send_file(box, w, good, "roster-v2.csv", ZH("Roster preview:"))
    assert "121" in preview["text"]
    assert ZH("Compared with the current roster: no home added, removed or changed.") not in preview["text"]
    assert ZH("Added:") + " 9-1-101 (88.00 m²)" in preview["text"]
    async with box.ctx.uow() as uow:
        assert await uow.rosters.latest(box.demo.community_id) == 1  # nothing stored before the confirmation
    imported = await _press(box, w, preview, ZH("✔ Import"), "2")
    assert "121" in imported["text"]
    async with box.ctx.uow() as uow:  # the open vote keeps the roster it froze
        assert len((await uow.votes.frozen(box.demo.vote_id)).units) == 120
    # A file that drops a home and changes an area shows it before anything is stored, and asks again.
    lines = good.decode("utf-8-sig").splitlines()
    fewer = "\n".join([lines[0], *lines[2:]]).replace("58.90", "58.99", 1) + "\n"
    changed = await _send_file(box, w, fewer.encode(), "roster-v3.csv", ZH("Removed:"))
    assert ZH("Removed:") + " 1-1-101 (62.35 m²)" in changed["text"]
    one = ZH("  {unit}: {what}").format(
        unit="1-1-102", what=ZH("area {before} → {after} m²").format(before="58.90", after="58.99")
    )
    assert one in changed["text"].splitlines() and "8509.30 → 8447.04" in changed["text"]
    assert ZH("Check these changes. Open votes keep the roster they froze. Import anyway?") in changed["text"]
    async with box.ctx.uow() as uow:
        assert await uow.rosters.latest(box.demo.community_id) == 2  # nothing stored before ✔
    await _say(box, w, "/cancel", "")

    ask = await _say(box, w, "/invites", "")
    before = len(box.api.messages(w))
    await _press(box, w, ask, ZH("🖨 Make the sheet"), "")

    def documents() -> list[dict[str, Any]] | None:
        found = [m for m in _bot_messages(box, w, before) if "document" in m]
        return found if len(found) >= 2 else None

    sheet = await wait_for(documents, what="the invite sheet's PDF and CSV")
    pdf_message = next(m for m in sheet if m["document"]["file_name"].endswith(".pdf"))
    assert _file(box, pdf_message).startswith(b"%PDF")
    csv_message = await wait_for(lambda: next((m for m in sheet if m["document"]["file_name"].endswith(".csv")), None))
    rows = list(csv.reader(io.StringIO(_file(box, csv_message).decode("utf-8-sig"))))
    codes = {row[0]: row[1] for row in rows[1:]}
    assert len(codes) == 121 and rows[1][2].startswith("https://t.me/")
    await _bind(box, ENGLISH, codes["9-1-101"])
    old_code = box.demo.codes["1-1-101"]  # printed before the new sheet, never used: no longer works
    refused_code = await _say(box, RESIDENT, f"/start {old_code}", "")
    assert old_code in refused_code["text"]

    reissued_text = ZH("New code for {unit}; its earlier unused code no longer works.").format(unit="9-1-101")
    reissued = await _say(box, w, "/reissue 9-1-101", reissued_text)
    assert reissued


async def test_a_resident_cannot_reach_worker_tools_and_a_worker_only_their_community(box: Sandbox) -> None:
    await _bind(box, RESIDENT, box.demo.residents[0].hint)
    refused = await _say(box, RESIDENT, "/manage", ZH("This is only for community workers of this community."))
    assert refused
    await _say(box, RESIDENT, "/newvote", ZH("This is only for community workers of this community."))
    admins_only = ZH("This is only for the administrators named in the bot's configuration.")
    await _say(box, RESIDENT, "/grant 1 worker 100001", admins_only)
    # An admin makes a second community and a worker for it; that worker cannot touch the demo vote.
    made = await _say(box, ADMIN_ID, "/newcommunity 别的小区", "#2")
    assert "别的小区" in made["text"]
    await _say(box, ADMIN_ID, f"/grant 2 worker {TWO_HOMES}", "2")
    empty = ZH("{name} has no vote yet. Create one with ➕ New vote (/newvote).").format(name="别的小区")
    await _say(box, TWO_HOMES, "/manage", empty)
    forged = WorkCb(action="close_ok", vote_id=box.demo.vote_id).pack()
    message = box.api.messages(TWO_HOMES)[-1]
    update = box.api.user_presses(TWO_HOMES, message["message_id"], forged)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers)
    async with box.ctx.uow() as uow:
        assert (await uow.votes.get(box.demo.vote_id)).status is VoteStatus.OPEN
    await _say(box, ADMIN_ID, f"/revoke 2 worker {TWO_HOMES}", "2")
    await _say(box, TWO_HOMES, "/manage", ZH("This is only for community workers of this community."))


async def test_a_wizard_vote_opens_announces_reminds_non_voters_extends_and_closes_while_down(
    box: Sandbox, clock: SettableClock
) -> None:
    await _bind(box, RESIDENT, box.demo.residents[0].hint)
    await _bind(box, ENGLISH, box.demo.residents[2].hint)
    vote_id = await _wizard(box, clock, "屋面防水")
    jobs = box.running.jobs  # type: ignore[union-attr]
    assert jobs is not None

    clock.advance(hours=1, minutes=1)
    group_before = len(box.api.messages(GROUP_ID))
    await jobs.run_due()
    announce = await _said(box, RESIDENT, 0, "屋面防水")
    assert any("card" in data for _t, data in _buttons(announce))
    await _said(box, ENGLISH, 0, "A vote has opened for your home")
    checkpoint = await _said(box, GROUP_ID, group_before, "🔗")
    in_group = await _said(box, GROUP_ID, group_before, "🗳")
    assert "屋面防水" in in_group["text"] and not _buttons(in_group)  # owners vote privately, not in the group
    async with box.ctx.uow() as uow:
        vote = await uow.votes.get(vote_id)
    assert vote.status is VoteStatus.OPEN and vote.head_hash in checkpoint["text"]

    # The resident votes from the announcement; the English resident does not.
    card = await _tap(box, RESIDENT, announce, "")
    pick = await _tap(box, RESIDENT, card, ZH("✅ Agree"))
    await _tap(box, RESIDENT, pick, "✔")

    # 19:00 local: a reminder to the owner who has not voted, none to the one who has.
    local = clock().astimezone(box.ctx.tz)
    clock.now = local.replace(hour=19, minute=0, second=30).astimezone(clock().tzinfo) if local.hour < 19 else clock.now
    resident_before, english_before = len(box.api.messages(RESIDENT)), len(box.api.messages(ENGLISH))
    report = await jobs.run_due()
    assert any(key.startswith(f"remind:{vote_id}:") for key in report.ran)
    await _said(box, ENGLISH, english_before, "Reminder: you have not voted yet")
    assert not [m for m in _bot_messages(box, RESIDENT, resident_before) if "⏰" in (m.get("text") or "")]
    again = await jobs.run_due()  # the same reminder never goes twice
    assert not any(key.startswith("remind:") for key in again.ran)

    # The next morning's checkpoint goes to the group.
    group_before = len(box.api.messages(GROUP_ID))
    clock.now = clock().astimezone(box.ctx.tz).replace(hour=9, minute=0, second=10).astimezone(clock().tzinfo)
    clock.advance(days=1)
    morning = await jobs.run_due()
    assert any(key.startswith(f"checkpoint:{vote_id}:") for key in morning.ran)
    await _said(box, GROUP_ID, group_before, "🔗")

    # The worker extends the deadline; residents in scope are told.
    card = await _say(box, WORKER_ID, "/manage", "")
    vote_card = await _press(box, WORKER_ID, card, f"#{vote_id}", "")
    example = box.ctx.local(vote.closes_at + timedelta(days=3))  # an example after the current deadline
    ask = await _press(box, WORKER_ID, vote_card, ZH("📅 Extend deadline"), example)
    new_deadline = (vote.closes_at + timedelta(days=2)).astimezone(box.ctx.tz).strftime("%Y-%m-%d %H:%M")
    assert ask
    earlier = box.ctx.local(vote.closes_at - timedelta(hours=1))
    refused = await _say(box, WORKER_ID, earlier, box.ctx.local(vote.closes_at))
    assert refused["text"] == ZH(
        "The new deadline must be later than the current one, {deadline}. Write a later date and time."
    ).format(deadline=box.ctx.local(vote.closes_at))
    why = await _say(box, WORKER_ID, new_deadline, new_deadline)  # asks for the reason before anything changes
    async with box.ctx.uow() as uow:
        assert (await uow.votes.get(vote_id)).closes_at == vote.closes_at
    assert why["text"] == ZH(
        "Why is the deadline moved to {after}? Owners and the owners' group will read it with the new "
        "deadline, e.g. 还有 12 户未表决，留出上门收票的时间."
    ).format(after=new_deadline)
    group_before = len(box.api.messages(GROUP_ID))
    await _say(box, WORKER_ID, "还有 12 户未表决，留出上门收票的时间", ZH("The owners' group is told too."))
    told = await _said(box, ENGLISH, english_before, "has been extended")
    assert "Reason: 还有 12 户未表决" in told["text"]
    in_group = await _said(box, GROUP_ID, group_before, "还有 12 户未表决")
    assert new_deadline in in_group["text"]
    async with box.ctx.uow() as uow:
        extended = await uow.votes.get(vote_id)
        events = await uow.votes.events(vote_id)
    assert extended.closes_at == vote.closes_at + timedelta(days=2)
    assert [e.kind for e in events if e.kind == "extended"] == ["extended"]

    # The bot is down when the deadline passes; at start it closes the vote and publishes the result.
    await box.stop_bot()
    clock.now = extended.closes_at + timedelta(hours=5)
    group_before = len(box.api.messages(GROUP_ID))
    await box.start_bot()
    async with box.ctx.uow() as uow:
        closed = await uow.votes.get(vote_id)
        tallies = await uow.tallies.of_vote(vote_id)
    assert closed.status is VoteStatus.CLOSED and [t.stage for t in tallies] == ["preliminary"]
    assert closed.objection_until is not None and closed.objection_until > clock()
    result = await _said(box, RESIDENT, 0, "📢")
    assert "<pre>" not in result["text"] and any("o:file" in d for _t, d in _buttons(result))
    await wait_for(lambda: any("photo" in m for m in _bot_messages(box, RESIDENT, 0)), what="the result chart")
    await _said(box, GROUP_ID, group_before, "📢")
    await _said(box, GROUP_ID, group_before, "🔗")


async def test_paper_ballots_with_a_photo_and_a_sheet_and_the_latest_ballot_counts(box: Sandbox) -> None:
    await _bind(box, RESIDENT, box.demo.residents[0].hint)
    await _vote_in_chat(box, RESIDENT, ZH("❌ Disagree"))
    w = WORKER_ID
    listing = await _say(box, w, ZH("🛠 Manage votes"), "")
    card = await _press(box, w, listing, f"#{box.demo.vote_id}", "")
    ask_unit = await _press(box, w, card, ZH("📝 Paper ballot"), "CSV")
    assert ask_unit
    unknown = ZH("Home {unit} is not in this vote's roster. Check the number and write it again.")
    await _say(box, w, "9-9-999", unknown.format(unit="9-9-999"))
    unit = box.demo.residents[0].label.split(" · ")[1]
    choice = await _say(box, w, unit, unit)
    channel = await _press(box, w, choice, ZH("✅ Agree"), "")
    ask_photo = await _press(box, w, channel, ZH("📄 Paper ballot"), "")
    assert ask_photo and not _buttons(ask_photo)  # a paper ballot needs its photo: no "skip"
    before = len(box.api.messages(w))
    await box.api.user_sends_photo(w, b"\xff\xd8 signed paper scan")
    review = await _said(box, w, before, ZH("Record this ballot?"))
    done = await _press(box, w, review, ZH("✔ Record"), unit)
    assert "receipt" in done["text"] or "回执" in done["text"]

    sheet = "房屋编号,表决意见\n1-1-102,同意\n1-1-201,反对\n".encode()
    again = await _press(box, w, done, ZH("📝 Next paper ballot"), "CSV")
    assert again
    review_sheet = await _send_file(box, w, sheet, "stack.csv", "stack.csv")
    recorded = await _press(box, w, review_sheet, ZH("✔ Record all"), "2")
    async with box.ctx.uow() as uow:
        entries = [e async for e in uow.ledger.entries(box.demo.vote_id)]
        current = await uow.ledger.current(box.demo.vote_id)
    paper = [e for e in entries if e.kind is EntryKind.PAPER]
    assert len(paper) == 3 and all(e.actor == f"worker:{WORKER_ID}" for e in paper)
    assert paper[0].attachment_sha256 is not None
    resident_entries = [e for e in entries if e.owner_ref == paper[0].owner_ref]
    assert [e.kind for e in resident_entries] == [EntryKind.CAST, EntryKind.PAPER]
    assert current[paper[0].owner_ref].value == "agree"  # the latest counts
    # The same sheet entered again: refused as a whole, each ballot said why, nothing recorded.
    await _press(box, w, recorded, ZH("📝 Next paper ballot"), "CSV")
    review_again = await _send_file(box, w, sheet, "stack.csv", "stack.csv")
    refused = await _press(
        box, w, review_again, ZH("✔ Record all"), ZH("Nothing was recorded: these ballots were refused.")
    )
    assert refused["text"].count(ZH("Already recorded.")[:4]) == 2
    async with box.ctx.uow() as uow:
        assert len([e async for e in uow.ledger.entries(box.demo.vote_id)]) == len(entries)


async def test_close_objection_correction_final_result_and_the_auditor_verifies_the_export(
    box: Sandbox, clock: SettableClock
) -> None:
    await _bind(box, RESIDENT, box.demo.residents[0].hint)
    await _vote_in_chat(box, RESIDENT, ZH("❌ Disagree"))
    w = WORKER_ID
    turnout = await _say(box, w, "/turnout", "📊")
    assert "1" in turnout["text"]
    await wait_for(lambda: any("photo" in m for m in box.api.messages(w)), what="the turnout chart")

    listing = await _say(box, w, ZH("🛠 Manage votes"), "")
    card = await _press(box, w, listing, f"#{box.demo.vote_id}", "")
    ask = await _press(box, w, card, ZH("⛔ Close now"), "")
    await _tap(box, w, ask, ZH("⛔ Yes, close now"))
    result = await _said(box, RESIDENT, 0, "📢")
    objected = await _press(box, RESIDENT, result, "", "")
    assert objected
    await _say(box, RESIDENT, "我在纸上签的是同意", "#")
    notice = await _said(box, w, 0, "我在纸上签的是同意")
    ask_reason = await _press(box, w, notice, ZH("Correct to ✅ Agree"), "#")
    assert ask_reason
    await _say(box, w, "核对纸质表决票：登记有误", "#")
    await _said(box, RESIDENT, 0, "核对纸质表决票：登记有误")

    async with box.ctx.uow() as uow:
        vote = await uow.votes.get(box.demo.vote_id)
    assert vote.objection_until is not None
    clock.now = vote.objection_until + timedelta(minutes=1)
    await box.running.jobs.run_due()  # type: ignore[union-attr]
    async with box.ctx.uow() as uow:
        final = await uow.votes.get(box.demo.vote_id)
        stages = [t.stage for t in await uow.tallies.of_vote(box.demo.vote_id)]
        entries = [e async for e in uow.ledger.entries(box.demo.vote_id)]
    assert final.status is VoteStatus.FINAL and stages == ["preliminary", "final"]
    assert entries[-1].kind is EntryKind.CORRECTION and entries[-1].reason == "核对纸质表决票：登记有误"
    await _said(box, RESIDENT, 0, ZH("📢 Final result of “{title}”").format(title=vote.title)[:4])

    choose = await _say(box, AUDITOR_ID, "/export", "")
    before = len(box.api.messages(AUDITOR_ID))
    data = next(d for _t, d in _buttons(choose))
    update = box.api.user_presses(AUDITOR_ID, choose["message_id"], data)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers)
    bundle = await wait_for(lambda: next((m for m in _bot_messages(box, AUDITOR_ID, before) if "document" in m), None))
    report = verify_bundle(_file(box, bundle), box.ctx.signing_key().public_key())
    assert report.ok, report
    assert "renovote audit verify" in bundle["caption"]


async def test_a_vote_defined_in_a_toml_file_is_reviewed_and_launched(box: Sandbox, clock: SettableClock) -> None:
    opens = (clock() + timedelta(days=1)).astimezone(box.ctx.tz).strftime("%Y-%m-%dT%H:%M:%S")
    closes = (clock() + timedelta(days=8)).astimezone(box.ctx.tz).strftime("%Y-%m-%dT%H:%M:%S")
    good = 'title = "3号楼加装电梯"\ntext = "是否同意？"\nrule = "eighty-percent"\nscope = { building = "3" }\n'
    good += f"opens_at = {opens}\ncloses_at = {closes}\n"
    bad = good.replace('rule = "eighty-percent"', 'rule = "ninety"')
    refused = await _send_file(box, WORKER_ID, bad.encode(), "vote.toml", "ninety")
    assert refused
    review = await _send_file(box, WORKER_ID, good.encode(), "vote.toml", ZH("Check the vote before launching it:"))
    await _press(box, WORKER_ID, review, ZH("🚀 Launch"), "#")
    async with box.ctx.uow() as uow:
        vote = (await uow.votes.of_community(box.demo.community_id))[-1]
    assert (vote.title, vote.scope.building, vote.rule.name) == ("3号楼加装电梯", "3", "eighty-percent")


async def test_remind_now_reaches_only_non_voters_with_a_progress_message_the_worker_sees(box: Sandbox) -> None:
    await _bind(box, RESIDENT, box.demo.residents[0].hint)
    await _bind(box, ENGLISH, box.demo.residents[2].hint)
    await _vote_in_chat(box, RESIDENT, ZH("✅ Agree"))
    w = WORKER_ID
    listing = await _say(box, w, ZH("🛠 Manage votes"), "")
    card = await _press(box, w, listing, f"#{box.demo.vote_id}", "")
    resident_before = len(box.api.messages(RESIDENT))
    english_before = len(box.api.messages(ENGLISH))
    confirm = await _press(box, w, card, ZH("📣 Remind now"), "🚪")
    ask = ZH(
        "Remind now the {n} people who use the chat and whose home has not voted on “{title}”? "
        "{offline} homes that have not voted use no chat: 🚪 Not voted yet lists them for a visit."
    )
    async with box.ctx.uow() as uow:
        title = (await uow.votes.get(box.demo.vote_id)).title
    assert confirm["text"] == ask.format(n=1, title=title, offline=118)
    assert resident_before == len(box.api.messages(RESIDENT)) and english_before == len(box.api.messages(ENGLISH))
    progress = await _press(
        box,
        w,
        confirm,
        ZH("📣 Yes, remind {n}").format(n=1),
        ZH("Sending reminders for “{title}”: {done} / {total}")[:4],
    )
    await _said(box, ENGLISH, english_before, "Reminder: you have not voted yet")
    done = await wait_for(
        lambda: (
            (m := next(x for x in box.api.messages(w) if x["message_id"] == progress["message_id"]))
            and m["text"].endswith("1 / 1")
            and m
        ),
        what="the progress message at 1 / 1",
    )
    assert done
    final = await _said(
        box,
        w,
        len(box.api.messages(w)) - 1,
        ZH("Sent {sent}, {blocked} people have blocked the bot, {failed} failed.")[:2],
    )
    assert final["text"].splitlines()[0] == ZH(
        "Sent {sent}, {blocked} people have blocked the bot, {failed} failed."
    ).format(sent=1, blocked=0, failed=0)
    assert ZH("Homes not reached ({n}): visit or phone them.").format(n=118) in final["text"]
    assert not [m for m in _bot_messages(box, RESIDENT, resident_before) if "⏰" in (m.get("text") or "")]
    async with box.ctx.uow() as uow:
        events = await uow.votes.events(box.demo.vote_id)
    assert [(e.kind, e.actor, e.detail) for e in events if e.kind == "reminded"] == [
        ("reminded", f"worker:{WORKER_ID}", "1/1")
    ]
