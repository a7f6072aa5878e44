"""The rate limiter keeps every message within Telegram's limits, and a broadcast reports what became of each.

Most tests run on virtual time: the limiter's clock and sleep, and the sandbox's flood clock, are one
`VirtualTime`, so a minute of pacing takes milliseconds and the sandbox's own limits are the judge.
The last test runs the real client over loopback HTTP against the sandbox's strict, default limits.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from aiohttp import web

from bot.broadcast import BroadcastReport, Outgoing, Progress, RateLimiter, SendLimits, broadcast, install_rate_limiter
from bot.middlewares import FloodControl
from bot.sandbox.botapi import ApiError, BotApiServer, SandboxUser
from tests.botkit import InProcessSession

T = TypeVar("T")
TOKEN = "123456:TEST"
WORKER = 900  # the community worker's chat, where the progress message lives
GROUP = -100


class VirtualTime:
    """A clock that jumps to the next sleeper's wake-up once every task is waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def run(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        while True:
            await self._settle()
            if task.done():
                return task.result()
            assert self._sleepers, "every task waits and nobody sleeps: a deadlock"
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)

    @staticmethod
    async def _settle() -> None:
        # No public API says "every other task is blocked"; the loop's ready queue does (CPython).
        loop = asyncio.get_running_loop()
        idle = 0
        while idle < 2:
            await asyncio.sleep(0)
            idle = idle + 1 if not loop._ready else 0  # type: ignore[attr-defined]


class Recorder(InProcessSession):
    """The in-process sandbox session, noting the virtual time at which each method reached the server."""

    def __init__(self, api: BotApiServer, time: VirtualTime) -> None:
        super().__init__(api)
        self.time = time
        self.sent: list[tuple[float, str, Any]] = []  # (time, method, chat_id)

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.sent.append((self.time.now, method.__api_method__, getattr(method, "chat_id", None)))
        return await super().make_request(bot, method, timeout)

    def times(self, chat_id: int | None = None, method: str = "sendMessage") -> list[float]:
        return [t for t, m, c in self.sent if m == method and (chat_id is None or c == chat_id)]


def _world(
    users: int, limits: SendLimits | None = None
) -> tuple[VirtualTime, BotApiServer, Recorder, Bot, RateLimiter]:
    """Sandbox with Telegram's default limits on virtual time; a bot with FloodControl, then the limiter."""
    time = VirtualTime()
    api = BotApiServer(TOKEN, clock=time.clock)
    for user_id in range(1, users + 1):
        api.add_user(SandboxUser(user_id, f"U{user_id}"))
    api.add_user(SandboxUser(WORKER, "Worker"))
    api.add_group(GROUP, "Building 1")
    session = Recorder(api, time)
    session.middleware(FloodControl(sleep=time.sleep))
    limiter = RateLimiter(limits, clock=time.clock, sleep=time.sleep)
    session.middleware(limiter)
    return time, api, session, Bot(TOKEN, session=session), limiter


async def _send_all(bot: Bot, chats: list[int]) -> None:
    """Every message started at once, in this order: the limiter alone decides when each leaves."""
    await asyncio.gather(*(bot.send_message(chat, f"m{i}") for i, chat in enumerate(chats)))


def _spacing(times: list[float]) -> float:
    return min(b - a for a, b in itertools.pairwise(times))


async def test_global_slots_are_evenly_spaced_at_29_a_second_not_bursts() -> None:
    time, api, session, bot, _ = _world(120)
    await time.run(_send_all(bot, list(range(1, 121))))
    times = session.times()
    assert len(times) == 120
    assert _spacing(times) == pytest.approx(1 / 29)
    assert times[-1] == pytest.approx(119 / 29)
    assert api.rejected_429 == 0


async def test_one_chat_takes_a_burst_of_three_then_one_message_a_second() -> None:
    time, api, session, bot, _ = _world(1)
    await time.run(_send_all(bot, [1] * 8))
    times = session.times(1)
    assert times[2] < 0.1  # the burst went at the global pace
    assert times[3] >= 1.0 - 1e-9  # then the bucket is empty until a whole interval has passed
    assert _spacing(times[3:]) >= 1.0 - 1e-9
    assert times[-1] < 6.0
    assert [m["text"] for m in api.messages(1)] == [f"m{i}" for i in range(8)]  # in order
    assert api.rejected_429 == 0


async def test_a_group_gets_twenty_messages_in_any_minute() -> None:
    time, api, session, bot, _ = _world(0)
    await time.run(_send_all(bot, [GROUP] * 45))
    times = session.times(GROUP)
    assert len(times) == 45
    assert all(times[i + 20] - times[i] >= 60.0 for i in range(len(times) - 20))
    assert times[19] < 20.0  # the first twenty did not wait for the minute
    assert times[-1] < 125.0
    assert api.rejected_429 == 0


async def test_a_chat_waiting_for_its_pace_does_not_hold_up_other_chats() -> None:
    time, api, session, bot, _ = _world(30)

    async def scenario() -> None:
        busy = asyncio.gather(*(bot.send_message(1, f"m{i}") for i in range(20)))  # 17 s of chat 1's pace
        await time.sleep(1.5)  # chat 1 now waits for its next token
        await _send_all(bot, list(range(2, 31)))
        await busy

    await time.run(scenario())
    others = [t for t, _, chat in session.sent if chat != 1]
    assert len(others) == 29
    assert others[0] == pytest.approx(1.5)  # at once: chat 1's waiting message holds no global slot
    assert others[-1] <= 1.5 + 29 / 29 + 1e-9  # and all of them at the global pace, none behind chat 1
    assert len(api.messages(1)) == 20
    assert api.rejected_429 == 0


async def test_requests_that_send_nothing_are_not_paced() -> None:
    time, _, _session, bot, limiter = _world(3)
    await time.run(_send_all(bot, [1, 2, 3]))
    await time.run(asyncio.gather(*(bot.get_me() for _ in range(5))))
    assert limiter.granted == 3
    assert time.now == pytest.approx(2 / 29)


async def test_a_429_retry_waits_out_retry_after_and_takes_a_new_slot_inside_flood_control() -> None:
    time, api, session, bot, limiter = _world(2)
    api.forced_errors.append(("sendMessage", ApiError(429, "Too Many Requests: retry after 2", retry_after=2)))
    await time.run(_send_all(bot, [1, 1, 2]))
    assert limiter.granted == 4  # three messages and the retry
    assert sorted(m["text"] for m in api.messages(1)) == ["m0", "m1"]
    assert session.times(2)[0] < 0.1  # chat 2 was not held up by chat 1's 429
    assert min(session.times(1)[1:]) >= 2.0  # the retry and chat 1's next message waited out retry_after


async def test_install_rate_limiter_puts_it_inside_what_is_already_registered() -> None:
    session = InProcessSession(BotApiServer(TOKEN))
    control = FloodControl()
    session.middleware(control)
    limiter = install_rate_limiter(session, SendLimits(per_second=10))
    assert list(session.middleware) == [control, limiter]
    assert limiter.limits.per_second == 10


def test_send_limits_refuse_a_pace_that_would_never_send() -> None:
    with pytest.raises(ValueError, match="positive"):
        SendLimits(per_second=0)


# ------------------------------------------------------------------------------------------- broadcast


def _render(done: int, total: int, report: BroadcastReport) -> str:
    return f"{done}/{total} sent={report.sent} blocked={report.blocked} failed={report.failed}"


async def test_a_broadcast_counts_blocked_and_failing_chats_and_delivers_to_everyone_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time, api, _, bot, _ = _world(10)
    api.set_blocked(4, True)
    items = [Outgoing(chat, "Reminder") for chat in [*range(1, 6), 777, *range(6, 11)]]  # 777: no such chat
    with caplog.at_level(logging.WARNING, logger="bot.broadcast"):
        report = await time.run(broadcast(bot, items, concurrency=4))
    assert (report.total, report.sent, report.blocked, report.failed) == (11, 9, 1, 1)
    assert all(api.messages(chat)[-1]["text"] == "Reminder" for chat in range(1, 11) if chat != 4)
    assert "777" in caplog.text and "chat not found" in caplog.text


async def test_progress_is_edited_at_most_every_three_seconds_and_once_at_the_end() -> None:
    time, api, session, bot, _ = _world(300)
    note = await time.run(bot.send_message(WORKER, "Starting"))
    progress = Progress(WORKER, note.message_id, _render, every=3.0, clock=time.clock)
    items = [Outgoing(chat, "Reminder") for chat in range(1, 301)]
    report = await time.run(broadcast(bot, items, progress=progress))
    edits = session.times(WORKER, "editMessageText")
    assert report.sent == 300
    assert len(edits) == report.progress_edits == 4  # ~3 s, ~6 s, ~9 s, and the end at ~10.4 s
    assert _spacing(edits[:-1]) >= 3.0
    assert api.messages(WORKER)[-1]["text"] == "300/300 sent=300 blocked=0 failed=0"
    assert api.rejected_429 == 0


async def test_a_progress_message_that_cannot_be_edited_never_fails_the_broadcast() -> None:
    time, _, session, bot, _ = _world(120)
    progress = Progress(WORKER, 424242, _render, every=1.0, clock=time.clock)  # no such message
    report = await time.run(broadcast(bot, [Outgoing(c, "Reminder") for c in range(1, 121)], progress=progress))
    assert report.sent == 120
    assert report.progress_edits == 0
    assert len(session.times(WORKER, "editMessageText")) >= 3  # it kept trying, without harm


async def test_an_unchanged_progress_text_is_not_sent_again() -> None:
    time, _, session, bot, _ = _world(60)
    note = await time.run(bot.send_message(WORKER, "Starting"))
    progress = Progress(WORKER, note.message_id, lambda done, total, report: "Sending…", every=0.5, clock=time.clock)
    report = await time.run(broadcast(bot, [Outgoing(c, "Reminder") for c in range(1, 61)], progress=progress))
    assert report.progress_edits == 1
    assert len(session.times(WORKER, "editMessageText")) == 1


# ------------------------------------------------------------------------- real HTTP, real time, strict limits


@pytest.fixture
async def http_sandbox() -> AsyncIterator[tuple[BotApiServer, Callable[[], Bot]]]:
    api = BotApiServer(TOKEN)  # FloodLimits(): Telegram's limits, strictly
    app = web.Application()
    app.add_routes(api.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    bots: list[Bot] = []

    def make_bot() -> Bot:
        session = AiohttpSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"))
        session.middleware(FloodControl())
        install_rate_limiter(session)
        bots.append(Bot(TOKEN, session=session))
        return bots[-1]

    try:
        yield api, make_bot
    finally:
        for bot in bots:
            await bot.session.close()
        await api.close()
        await runner.cleanup()


async def test_over_http_a_broadcast_with_a_busy_chat_and_progress_gets_no_429_from_strict_limits(
    http_sandbox: tuple[BotApiServer, Callable[[], Bot]],
) -> None:
    api, make_bot = http_sandbox
    for user_id in range(1, 121):
        api.add_user(SandboxUser(user_id, f"U{user_id}"))
    api.add_user(SandboxUser(WORKER, "Worker"))
    bot = make_bot()
    note = await bot.send_message(WORKER, "Starting")
    items = [Outgoing(chat, f"Reminder {chat}") for chat in range(1, 121)]
    for k in range(10):  # ten messages to one resident, spread through the list
        items.insert(12 * k + 6, Outgoing(7, f"Note {k}"))
    report = await broadcast(bot, items, progress=Progress(WORKER, note.message_id, _render, every=2.0))
    assert (report.sent, report.blocked, report.failed) == (130, 0, 0)
    assert api.rejected_429 == 0
    assert all(f"Reminder {chat}" in [m["text"] for m in api.messages(chat)] for chat in range(1, 121))
    assert [m["text"] for m in api.messages(7) if m["text"].startswith("Note")] == [f"Note {k}" for k in range(10)]
    assert report.progress_edits >= 3
    assert api.messages(WORKER)[-1]["text"] == "130/130 sent=130 blocked=0 failed=0"
