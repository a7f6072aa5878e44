"""Send one reminder to 10,000 residents within Telegram's limits, against the floor those limits set.

What is measured: the real aiogram client (FloodControl, then `bot.broadcast.RateLimiter`, as the
bot is wired) over loopback HTTP to the sandbox's Bot API server, which enforces Telegram's limits
strictly (`FloodLimits()`: 30 messages in any second overall, a burst of 3 then 1 a second per chat,
20 a minute per group) and answers 429 past them. `bot.broadcast.broadcast` sends the reminder to
every resident with a progress message in the worker's chat, edited at most every 3 s through the
same limiter.

The floor: Telegram allows no more than 30 messages a second, so N reminders take at least N / 30 s
(333 s for 10,000); the achieved rate's share of 30/s is the figure (target >= 90%, with no 429 at
all). To show that the limiter, not the HTTP stack, sets the pace, the same client, stack and
broadcast first send 2,000 messages to a server with the limits off and no limiter: that rate is
printed beside the floor.

The server runs in this process, on the same event loop as the client (its flood clock then sees
the requests in the order and at the moments the loop handles them).

Usage: .venv/bin/python benchmarks/reminder_bench.py [--count N]   (about 6 minutes at the default)
Targets: rate >= 90% of 30 msg/s; 0 answers 429; 0 429s in the worker's chat.
A benchmark, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections import Counter

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.broadcast import BroadcastReport, Outgoing, Progress, broadcast, install_rate_limiter
from bot.middlewares import FloodControl
from bot.sandbox.botapi import ApiError, BotApiServer, FloodLimits, SandboxUser

TOKEN = "123456:BENCH"
WORKER = 10**9  # the community worker's chat id, apart from the residents' 1..N
TELEGRAM_RATE = 30.0
UNLIMITED = FloodLimits(global_per_second=10**9, chat_per_second=10**9, chat_burst=10**9, group_per_minute=10**9)
REMINDER = "Reminder: the vote on the lift closes on Friday at 18:00. Tap 🗳 to vote."


class CountingServer(BotApiServer):
    """The sandbox's server, also counting its 429 answers by chat (it counts only the total)."""

    def __init__(self, token: str, limits: FloodLimits | None = None) -> None:
        super().__init__(token, limits=limits)
        self.rejected_by_chat: Counter[int] = Counter()

    def _check_flood(self, chat_id: int) -> None:
        try:
            super()._check_flood(chat_id)
        except ApiError as exc:
            if exc.code == 429:
                self.rejected_by_chat[chat_id] += 1
            raise


async def serve(api: BotApiServer) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(api.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def make_bot(base: str, *, paced: bool) -> tuple[Bot, FloodControl]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(base))
    control = FloodControl()
    session.middleware(control)
    if paced:
        install_rate_limiter(session)
    return Bot(TOKEN, session=session), control


def render(done: int, total: int, report: BroadcastReport) -> str:
    return f"Reminder: {done}/{total} done, {report.sent} sent, {report.blocked} blocked, {report.failed} failed"


async def unthrottled_rate(count: int) -> float:
    """Messages a second through the same client, HTTP stack and broadcast, with no limit anywhere."""
    api = CountingServer(TOKEN, UNLIMITED)
    for user_id in range(1, count + 1):
        api.add_user(SandboxUser(user_id, f"R{user_id}"))
    runner, base = await serve(api)
    bot, _ = make_bot(base, paced=False)
    try:
        start = time.perf_counter()
        report = await broadcast(bot, [Outgoing(u, REMINDER) for u in range(1, count + 1)])
        elapsed = time.perf_counter() - start
    finally:
        await bot.session.close()
        await runner.cleanup()
    return report.sent / elapsed


async def reminder_run(count: int) -> None:
    api = CountingServer(TOKEN)  # FloodLimits(): Telegram's limits, strictly
    for user_id in range(1, count + 1):
        api.add_user(SandboxUser(user_id, f"R{user_id}"))
    api.add_user(SandboxUser(WORKER, "Worker"))
    runner, base = await serve(api)
    bot, control = make_bot(base, paced=True)
    try:
        note = await bot.send_message(WORKER, "Sending the reminder…")
        items = [Outgoing(u, REMINDER) for u in range(1, count + 1)]
        start = time.perf_counter()
        report = await broadcast(bot, items, progress=Progress(WORKER, note.message_id, render))
        elapsed = time.perf_counter() - start
    finally:
        await bot.session.close()
        await runner.cleanup()
    rate = report.sent / elapsed
    floor = count / TELEGRAM_RATE
    share = rate / TELEGRAM_RATE
    delivered = sum(1 for u in range(1, count + 1) if api.messages(u))
    worker_429 = api.rejected_by_chat[WORKER]
    outcome = f"delivered {delivered:,}; blocked {report.blocked}, failed {report.failed}"
    print(f"messages sent        {report.sent:,} of {count:,} ({outcome})")
    print(f"elapsed              {elapsed:.1f} s   floor {floor:.1f} s ({count:,} / 30 msg/s): {elapsed / floor:.3f}x")
    print(f"rate                 {rate:.2f} msg/s = {share:.1%} of 30 msg/s   {verdict(share >= 0.9)} (target >= 90%)")
    waited = f"FloodControl waited {control.waited:.0f} s"
    print(f"429 answers          {api.rejected_429}   {verdict(api.rejected_429 == 0)} (target 0); {waited}")
    edits = f"{report.progress_edits}; worker chat 429s {worker_429}"
    print(f"progress edits       {edits}   {verdict(worker_429 == 0)} (target 0)")
    print(f"last progress text   {api.messages(WORKER)[-1]['text']!r}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def bench(count: int, unthrottled_count: int) -> None:
    rate = await unthrottled_rate(unthrottled_count)
    print(
        f"unthrottled          {rate:,.0f} msg/s ({unthrottled_count:,} messages, limits off, no limiter): "
        f"{rate / TELEGRAM_RATE:.0f}x Telegram's 30 msg/s, so the limiter sets the pace below",
        flush=True,
    )
    await reminder_run(count)
    print(f"peak RSS             {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="residents to remind (default 10,000)")
    parser.add_argument("--unthrottled", type=int, default=2_000, help="messages for the no-limit rate (default 2,000)")
    args = parser.parse_args()
    asyncio.run(bench(args.count, args.unthrottled))


if __name__ == "__main__":
    main()
