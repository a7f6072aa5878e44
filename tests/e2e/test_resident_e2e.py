"""A resident binds, votes, changes the vote, meets the deadline — over real HTTP, by polling and by webhook.

Also: a redelivered update, a double tap, a forged button, Telegram's 429 and a user who blocked the bot.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.callbacks import VoteCb
from bot.i18n import translator
from bot.sandbox.botapi import ApiError
from bot.sandbox.run import Sandbox
from tests.botkit import SettableClock, wait_for

ZH = translator("zh_CN")
RESIDENT = 100001
TWO_HOMES = 100002


def _buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def _reply(box: Sandbox, user: int, text: str) -> dict[str, Any]:
    before = len(box.api.messages(user))
    await box.api.user_sends_text(user, text)
    return await wait_for(
        lambda: next((m for m in box.api.messages(user)[before + 1 :] if m["from"]["is_bot"]), None),
        what=f"the bot's answer to {text!r}",
    )


async def _press(box: Sandbox, user: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    update = box.api.user_presses(user, message["message_id"], data)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers, what="the button's answer")
    return update


async def _entries(box: Sandbox) -> list[Any]:
    async with box.ctx.uow() as uow:
        return [e async for e in uow.ledger.entries(box.demo.vote_id)]


async def _vote(box: Sandbox, user: int, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    card = await _reply(box, user, ZH("🗳 Votes"))
    await _press(box, user, card, _buttons(card)[index])
    confirm = box.api.messages(user)[-1]
    update = await _press(box, user, confirm, _buttons(confirm)[0])
    return box.api.messages(user)[-1], update


async def test_bind_vote_change_deadline_refusal(sandbox: Sandbox, clock: SettableClock) -> None:
    box = sandbox
    linked = await _reply(box, TWO_HOMES, f"/start {box.demo.residents[1].hint}")
    assert linked["text"].count("m²") == 1 and "2 套房屋" in linked["text"]

    receipt, _update = await _vote(box, TWO_HOMES, 0)
    first = await _entries(box)
    assert len(first) == 1 and first[0].receipt in receipt["text"]

    clock.advance(hours=2)
    changed, _update = await _vote(box, TWO_HOMES, 1)
    assert (
        ZH("Your earlier ballot ({choice}) is replaced; only this one counts.").format(choice=ZH("✅ Agree"))
        in changed["text"]
    )
    assert [str(e.choice) for e in await _entries(box)] == ["agree", "disagree"]

    card = await _reply(box, TWO_HOMES, ZH("🗳 Votes"))
    await _press(box, TWO_HOMES, card, _buttons(card)[2])
    late_confirm = box.api.messages(TWO_HOMES)[-1]
    clock.advance(days=8)
    late = await _press(box, TWO_HOMES, late_confirm, _buttons(late_confirm)[0])
    assert box.api.callback_answers[late["callback_query"]["id"]]["text"] == ZH(
        "This vote has closed. Ballots are no longer accepted."
    )
    assert len(await _entries(box)) == 2

    my = await _reply(box, TWO_HOMES, ZH("📋 My ballots"))
    assert all(e.receipt in my["text"] for e in await _entries(box))


async def test_a_redelivered_update_and_a_double_tap_make_one_ballot(sandbox: Sandbox) -> None:
    box = sandbox
    await _reply(box, RESIDENT, box.demo.residents[0].hint)
    card = await _reply(box, RESIDENT, "/votes")
    await _press(box, RESIDENT, card, _buttons(card)[0])
    confirm = box.api.messages(RESIDENT)[-1]
    ok = _buttons(confirm)[0]
    first = box.api.user_presses(RESIDENT, confirm["message_id"], ok)
    second = box.api.user_presses(RESIDENT, confirm["message_id"], ok)  # double tap, handled concurrently
    await wait_for(
        lambda: {first["callback_query"]["id"], second["callback_query"]["id"]} <= set(box.api.callback_answers),
        what="both taps answered",
    )
    box.api.redeliver(first)  # a webhook retry or a restart before the offset was confirmed
    await wait_for(lambda: box.api.pending_count() == 0, what="the redelivered update")
    assert len(await _entries(box)) == 1


async def test_a_forged_button_is_refused_and_nothing_is_written(sandbox: Sandbox) -> None:
    box = sandbox
    await _reply(box, RESIDENT, box.demo.residents[0].hint)
    card = await _reply(box, RESIDENT, "/votes")
    forged = VoteCb(action="ok", vote_id=box.demo.vote_id + 99, choice="agree", nonce="aaaaaaaaaa").pack()
    update = await _press(box, RESIDENT, card, forged)
    assert box.api.callback_answers[update["callback_query"]["id"]]["show_alert"]
    assert await _entries(box) == []


async def test_telegram_429_is_waited_out_and_a_blocked_user_is_marked_inactive(sandbox: Sandbox) -> None:
    box = sandbox
    box.api.forced_errors.append(("sendMessage", ApiError(429, "Too Many Requests: retry after 1", retry_after=1)))
    reply = await _reply(box, RESIDENT, "/help")
    assert reply["text"].startswith(ZH("How to use renovote:"))
    assert box.api.rejected_429 == 0 and not box.api.forced_errors  # the forced one was served, then retried

    box.api.set_blocked(RESIDENT, True)
    await box.api.user_sends_text(RESIDENT, "/help")

    async def inactive() -> bool:
        async with box.ctx.uow() as uow:
            account = await uow.accounts.find(RESIDENT)
        return account is not None and not account.active

    for _ in range(200):
        if await inactive():
            break
        await asyncio.sleep(0.05)
    assert await inactive()
