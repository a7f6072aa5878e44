"""The resident's chat through Dispatcher.feed_update: binding, voting, receipts, refusals, language."""

from __future__ import annotations

import logging

import pytest

from bot.callbacks import VoteCb
from bot.i18n import translator
from tests.bot.conftest import Harness
from voting import services
from voting.model import Scope
from voting.rules import preset
from voting.votes import Vote

ZH = translator("zh_CN")
EN = translator("en")
RESIDENT = 100001  # 莫珍, 1-1-101, Chinese
ENGLISH = 100003  # Li Wei, building 3, English


async def _entries(h: Harness, vote_id: int) -> list[object]:
    async with h.ctx.uow() as uow:
        return [e async for e in uow.ledger.entries(vote_id)]


async def _bind(h: Harness, user: int = RESIDENT, unit: str = "1-1-101") -> None:
    await h.say(user, f"/start {h.demo.codes[unit]}")


def _buttons(message: dict[str, object]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def test_an_unbound_account_sees_what_the_bot_is_and_how_to_get_a_code_and_nothing_else(h: Harness) -> None:
    welcome = (await h.say(RESIDENT, "/start"))["text"]
    assert "邀请码" in welcome or "invite code" in welcome.lower()
    keyboard = h.api.keyboard(RESIDENT)
    assert keyboard is not None
    labels = {b["text"] for row in keyboard["keyboard"] for b in row}
    assert labels == {ZH("❓ Help"), ZH("🌐 Language")}
    for attempt in ("/votes", "/my", ZH("🗳 Votes"), "/bindings", "hello"):
        reply = await h.say(RESIDENT, attempt)
        assert reply["text"] in (welcome, ZH("This is only for community workers of this community.")), attempt
        assert not _buttons(reply)


async def test_the_deep_link_binds_the_account_and_a_second_use_of_the_code_is_refused(h: Harness) -> None:
    code = h.demo.codes["1-1-101"]
    reply = await h.say(RESIDENT, f"/start {code}")
    assert "1-1-101" in reply["text"] and "62.35" in reply["text"]
    again = await h.say(RESIDENT, f"/start {code}")  # the same resident tapping the link again
    assert "1-1-101" in again["text"]
    other = await h.say(ENGLISH, code)
    assert code in other["text"] and "already been used" in other["text"]
    typo = await h.say(ENGLISH, "ABCD-EFGH")
    assert "not known" in typo["text"]


async def test_voting_asks_for_confirmation_then_records_and_gives_a_receipt(h: Harness) -> None:
    await _bind(h)
    card = await h.say(RESIDENT, ZH("🗳 Votes"))
    assert "三分之二" in card["text"] and "62.35" in card["text"] and "北京时间" in card["text"]
    agree = _buttons(card)[0][1]
    await h.press(RESIDENT, card["message_id"], agree)
    assert await _entries(h, h.demo.vote_id) == []  # nothing recorded before the confirmation
    confirm = h.last(RESIDENT)
    ok = _buttons(confirm)[0][1]
    update = await h.press(RESIDENT, confirm["message_id"], ok)
    (entry,) = await _entries(h, h.demo.vote_id)
    assert entry.receipt in h.last(RESIDENT)["text"]  # type: ignore[attr-defined]
    assert h.answer(update)["text"] == ZH("Recorded")


async def test_a_double_tap_and_a_redelivered_update_record_one_ballot(h: Harness) -> None:
    await _bind(h)
    card = await h.say(RESIDENT, "/votes")
    await h.press(RESIDENT, card["message_id"], _buttons(card)[0][1])
    ok = _buttons(h.last(RESIDENT))[0][1]
    first = await h.press(RESIDENT, card["message_id"], ok)
    second = await h.press(RESIDENT, card["message_id"], ok)  # double tap: a second callback query
    await h.feed(first)  # the first update delivered again
    entries = await _entries(h, h.demo.vote_id)
    assert len(entries) == 1
    assert entries[0].receipt in h.answer(second)["text"]  # type: ignore[attr-defined]


async def test_changing_a_vote_says_the_earlier_ballot_is_replaced(h: Harness) -> None:
    await _bind(h)
    for choice_index in (0, 1):
        card = await h.say(RESIDENT, "/votes")
        await h.press(RESIDENT, card["message_id"], _buttons(card)[choice_index][1])
        confirm = h.last(RESIDENT)
        if choice_index == 1:
            assert ZH("This replaces your earlier ballot ({choice}).").format(choice=ZH("✅ Agree")) in confirm["text"]
        await h.press(RESIDENT, confirm["message_id"], _buttons(confirm)[0][1])
    receipt = h.last(RESIDENT)["text"]
    assert (
        ZH("Your earlier ballot ({choice}) is replaced; only this one counts.").format(choice=ZH("✅ Agree")) in receipt
    )
    my = await h.say(RESIDENT, "/my")
    entries = await _entries(h, h.demo.vote_id)
    assert all(e.receipt in my["text"] for e in entries)  # type: ignore[attr-defined]


async def test_after_the_deadline_a_vote_is_refused_with_a_clear_answer(h: Harness) -> None:
    await _bind(h)
    card = await h.say(RESIDENT, "/votes")
    await h.press(RESIDENT, card["message_id"], _buttons(card)[0][1])
    ok = _buttons(h.last(RESIDENT))[0][1]
    h.clock.advance(days=8)
    update = await h.press(RESIDENT, card["message_id"], ok)
    assert h.answer(update)["text"] == ZH("This vote has closed. Ballots are no longer accepted.")
    assert h.answer(update)["show_alert"]
    assert await _entries(h, h.demo.vote_id) == []


async def test_a_forged_button_for_a_vote_outside_my_scope_is_refused_and_logged(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await _bind(h)  # building 1
    now = h.clock()
    other = Vote(
        h.demo.community_id,
        "3号楼屋面",
        "是否同意",
        preset("double-two-thirds"),
        Scope("3"),
        now,
        now.replace(year=now.year + 1),
    )
    other_id = await services.create_vote(h.ctx.uow(), other, now)
    await services.open_vote(h.ctx.uow(), other_id, now, b"k" * 32)
    card = await h.say(RESIDENT, "/votes")
    forged = VoteCb(action="ok", vote_id=other_id, choice="agree", nonce="0123456789").pack()
    with caplog.at_level(logging.WARNING):
        update = await h.press(RESIDENT, card["message_id"], forged)
        tampered = await h.press(RESIDENT, card["message_id"], "v:ok:notanumber")
    assert h.answer(update)["text"] == ZH("This vote is not for your home.")
    assert h.answer(tampered)["show_alert"]
    assert await _entries(h, other_id) == []
    assert any("refused" in r.getMessage() for r in caplog.records)


async def test_language_follows_telegram_and_can_be_switched(h: Harness) -> None:
    english = await h.say(ENGLISH, "/start")
    assert "invite code" in english["text"]
    await h.say(RESIDENT, "/language")
    picker = h.last(RESIDENT)
    english_button = next(data for text, data in _buttons(picker) if text == "English")
    await h.press(RESIDENT, picker["message_id"], english_button)
    assert h.last(RESIDENT)["text"] == EN("Language set: English.")
    keyboard = h.api.keyboard(RESIDENT)
    assert keyboard is not None and keyboard["keyboard"][-1][0]["text"] == EN("❓ Help")
    assert "invite code" in (await h.say(RESIDENT, "/start"))["text"]


async def test_a_worker_lists_and_revokes_bindings_and_a_resident_cannot(h: Harness) -> None:
    from bot.sandbox.seed import WORKER_ID

    await _bind(h)
    refused = await h.say(RESIDENT, "/bindings")
    assert refused["text"] == ZH("This is only for community workers of this community.")
    listing = await h.say(WORKER_ID, ZH("👥 Bindings"))
    assert "1-1-101" in listing["text"] and "莫珍" in listing["text"]
    await h.press(WORKER_ID, listing["message_id"], _buttons(listing)[0][1])
    confirm = h.last(WORKER_ID)
    await h.press(WORKER_ID, confirm["message_id"], _buttons(confirm)[0][1])
    assert "1-1-101" in h.last(WORKER_ID)["text"]
    again = await h.say(RESIDENT, "/votes")
    assert "邀请码" in again["text"]  # unbound again: only the welcome


async def test_an_unexpected_failure_gets_an_apology_and_a_log_line_with_the_update_id(
    h: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _bind(h)

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("database on fire")

    monkeypatch.setattr("voting.residents.owner_votes", broken)
    update = await h.api.user_sends_text(RESIDENT, "/votes")
    with caplog.at_level(logging.ERROR):
        await h.feed(update)
    assert h.last(RESIDENT)["text"] == ZH("Sorry, something went wrong on our side. Please try again in a minute.")
    assert any(f"update {update['update_id']} failed" in r.getMessage() for r in caplog.records)


async def test_a_refusal_on_a_button_arrives_whole_alert_or_message(h: Harness) -> None:
    from bot.sandbox.seed import WORKER_ID
    from bot.texts import welcome_unbound

    await _bind(h, ENGLISH, "3-1-101")
    card = await h.say(ENGLISH, "/votes")
    listing = await h.say(WORKER_ID, "/bindings")
    await h.press(WORKER_ID, listing["message_id"], _buttons(listing)[0][1])
    confirm = h.last(WORKER_ID)
    await h.press(WORKER_ID, confirm["message_id"], _buttons(confirm)[0][1])
    update = await h.press(ENGLISH, card["message_id"], _buttons(card)[0][1])  # unbound now
    welcome = welcome_unbound(EN)
    assert len(welcome) > 200  # too long for an alert: it comes as a message, whole
    assert h.last(ENGLISH)["text"] == welcome
    assert not h.answer(update)["show_alert"]
