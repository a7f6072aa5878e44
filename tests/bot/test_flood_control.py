"""The session middleware: Telegram's 429 retry_after is honoured; a 403 marks the account inactive."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError

from bot.middlewares import FloodControl
from bot.sandbox.botapi import ApiError, BotApiServer, FloodLimits, SandboxUser
from tests.botkit import InProcessSession


def _bot(api: BotApiServer, control: FloodControl) -> Bot:
    session = InProcessSession(api)
    session.middleware(control)
    return Bot("123456:TEST", session=session)


async def test_a_429_is_waited_out_for_its_retry_after_and_the_message_then_goes_through() -> None:
    api = BotApiServer("123456:TEST", limits=FloodLimits(chat_burst=100))
    api.add_user(SandboxUser(7, "A"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    api.forced_errors.append(("sendMessage", ApiError(429, "Too Many Requests: retry after 3", retry_after=3)))
    bot = _bot(api, FloodControl(sleep=sleep))
    message = await bot.send_message(7, "你好")
    assert slept == [3]
    assert [m["text"] for m in api.messages(7)] == ["你好"]
    assert message.text == "你好"


async def test_the_sandbox_enforces_the_per_chat_pace_and_flood_control_keeps_within_it() -> None:
    now = [0.0]
    api = BotApiServer("123456:TEST", limits=FloodLimits(chat_burst=2, chat_per_second=1.0), clock=lambda: now[0])
    api.add_user(SandboxUser(7, "A"))

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    bot = _bot(api, FloodControl(sleep=sleep))
    for i in range(5):
        await bot.send_message(7, f"m{i}")
    assert len(api.messages(7)) == 5
    assert api.rejected_429 == 3  # the burst of 2 went at once; each later message waited ~1 s
    assert now[0] >= 3.0


async def test_a_user_who_blocked_the_bot_gets_403_and_the_account_is_marked_inactive() -> None:
    api = BotApiServer("123456:TEST")
    api.add_user(SandboxUser(7, "A", blocked=True))
    marked: list[int] = []

    async def on_blocked(chat_id: int) -> None:
        marked.append(chat_id)

    bot = _bot(api, FloodControl(on_blocked))
    try:
        await bot.send_message(7, "你好")
    except TelegramForbiddenError as exc:
        assert "blocked" in exc.message
    else:
        raise AssertionError("a blocked user must answer 403")
    assert marked == [7]
