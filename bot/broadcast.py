"""Rate-limited sending: one pacer for every outbound message, and a broadcast over many chats.

Telegram answers 429 past about 30 messages a second overall, about 1 a second in one chat (a short
burst is tolerated) and 20 a minute in one group. Waiting out a 429 (`bot.middlewares.FloodControl`)
is the last resort: a broadcast that relies on it stalls for the whole `retry_after` at every
rejection, and Telegram may lengthen the penalty. `RateLimiter` keeps every sending request inside
the three limits before it leaves, so a 429 should not happen at all.

Middleware order: the limiter must be *inside* FloodControl (registered after it; aiogram runs the
first registered middleware outermost). FloodControl's retry after a 429 then goes through the
limiter again and takes a fresh slot like any other message; with the limiter outside, a retry
would leave unpaced, in the middle of slots already given to others.

This module holds no user-facing text: callers pass the texts and render the progress message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import ForceReply, InlineKeyboardMarkup, InputFile, ReplyKeyboardMarkup, ReplyKeyboardRemove

__all__ = [
    "PACED_METHODS",
    "BroadcastReport",
    "Outgoing",
    "Progress",
    "RateLimiter",
    "SendLimits",
    "broadcast",
    "install_rate_limiter",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Every Bot API method that puts a message in a chat or changes one: Telegram counts them all
# against the same limits (an edit costs as much as a new message). Answers to callback queries,
# chat actions and reads are not paced: they must stay instant.
PACED_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendInvoice",
        "sendPaidMedia",
        "sendMediaGroup",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
        "editMessageLiveLocation",
        "stopMessageLiveLocation",
        "stopPoll",
    }
)

GROUP_WINDOW = 60.0  # seconds: the group limit is counted over a sliding minute
# Added to every per-chat and per-group due time: a message due exactly on the boundary can look a
# hair early to a server that does the same float arithmetic in another order (0.069 + 0.931 < 1.0).
BOUNDARY_GUARD = 0.001


@dataclass(frozen=True)
class SendLimits:
    """The pace the limiter keeps.

    `per_second` is 29, not Telegram's 30: the server counts requests in sliding one-second windows
    at the moment they *arrive*, and loopback or network jitter can bring two requests closer than
    they left. With slots 1/29 s apart, 31 requests span 30/29 s, so jitter would have to squeeze a
    window by 34 ms to show the server 31 in one second; at exactly 30 a millisecond would do.
    """

    per_second: float = 29.0
    chat_interval: float = 1.0  # seconds between messages to one chat once its burst is spent
    chat_burst: int = 3  # quick messages one chat takes before the interval applies
    group_per_minute: int = 20  # messages to one group (negative chat id) in any 60 seconds

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.chat_interval <= 0 or self.chat_burst < 1 or self.group_per_minute < 1:
            raise ValueError(f"send limits must be positive: {self}")


@dataclass(slots=True)
class _ChatPace:
    """One chat's budget: a token bucket (burst, then one per interval) and, for groups, the times of
    the last messages. Times recorded here are *completion* times, never earlier than the moment the
    server counted the message, so the bucket can only under-estimate what the server allows."""

    tokens: float
    stamp: float  # refill is accounted up to this time
    window: deque[float] | None  # groups only: completion times of the last `group_per_minute` messages
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    not_before: float = float("-inf")  # set by a 429 for this chat
    users: int = 0  # requests holding or waiting for `lock`: the pace must not be forgotten meanwhile

    def tokens_at(self, now: float, limits: SendLimits) -> float:
        refill = max(0.0, now - self.stamp) / limits.chat_interval
        return min(float(limits.chat_burst), self.tokens + refill)

    def ready_at(self, now: float, limits: SendLimits) -> float:
        """The earliest time, not before `now`, at which one more message keeps within every chat limit."""
        ready = max(now, self.not_before)
        missing = 1.0 - self.tokens + BOUNDARY_GUARD / limits.chat_interval  # a whole token, and the guard
        if missing > 0:
            ready = max(ready, self.stamp + missing * limits.chat_interval)
        if self.window is not None and len(self.window) >= limits.group_per_minute:
            ready = max(ready, self.window[0] + GROUP_WINDOW + BOUNDARY_GUARD)
        return ready

    def take(self, now: float, limits: SendLimits) -> None:
        self.tokens = self.tokens_at(now, limits) - 1.0
        self.stamp = now

    def settle(self, now: float) -> None:
        """The request is answered: no refill is credited for the time it was in flight (the server
        may have counted it as late as now), and a group's window gets the message at this time."""
        self.stamp = now
        if self.window is not None:
            self.window.append(now)

    def idle(self, now: float, limits: SendLimits) -> bool:
        """Nobody uses it and a fresh pace would behave the same: it can be dropped."""
        return (
            self.users == 0
            and self.tokens_at(now, limits) >= limits.chat_burst
            and self.not_before <= now
            and (not self.window or self.window[-1] + GROUP_WINDOW <= now)
        )


class RateLimiter(BaseRequestMiddleware):
    """Paces every sending request (`PACED_METHODS`) so that none of Telegram's limits is crossed.

    A request first waits for its chat (token bucket; for groups also the per-minute window), holding
    only that chat's lock, then queues for the next global slot: a task waiting for a busy chat never
    sits in the global queue, so other chats' messages pass it. Global slots are evenly spaced
    (1/per_second apart), granted first come, first served. Requests to one chat go one at a time,
    so that chat's pace is measured from answers, immune to jitter.
    """

    def __init__(
        self, limits: SendLimits | None = None, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.limits = limits or SendLimits()
        self._clock = clock
        self._sleep = sleep
        self._interval = 1.0 / self.limits.per_second
        # A wake-up this late still counts as on time (the schedule keeps its rate instead of drifting
        # by every timer's overshoot); a longer stall restarts the schedule from now, so overdue slots
        # are never fired as a burst.
        self._slack = self._interval / 4
        self._next_slot = float("-inf")
        self._global_lock = asyncio.Lock()
        self._chats: dict[int | str, _ChatPace] = {}
        self._sweep_at = 1024
        self.granted = 0  # paced requests let through, for tests and the benchmark

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ not in PACED_METHODS:
            return await make_request(bot, method)
        chat_id = getattr(method, "chat_id", None)
        if not isinstance(chat_id, int | str):  # an inline message: only the global limit is known
            await self._global_slot()
            return await make_request(bot, method)
        pace = self._pace(chat_id)
        pace.users += 1
        try:
            async with pace.lock:
                await self._wait_for_chat(pace)
                pace.take(await self._global_slot(), self.limits)
                try:
                    return await make_request(bot, method)
                except TelegramRetryAfter as exc:
                    # Hold this chat's queue too, not only the retry FloodControl is about to make.
                    pace.not_before = self._clock() + exc.retry_after
                    raise
                finally:
                    pace.settle(self._clock())
        finally:
            pace.users -= 1

    async def _wait_for_chat(self, pace: _ChatPace) -> None:
        now = self._clock()
        while (ready := pace.ready_at(now, self.limits)) > now:
            await self._sleep(ready - now)
            now = self._clock()

    async def _global_slot(self) -> float:
        """Wait for the next global slot; return the time it was granted."""
        async with self._global_lock:
            now = self._clock()
            while now < self._next_slot:
                await self._sleep(self._next_slot - now)
                now = self._clock()
            on_time = now - self._next_slot <= self._slack
            self._next_slot = (self._next_slot if on_time else now) + self._interval
            self.granted += 1
            return now

    def _pace(self, chat_id: int | str) -> _ChatPace:
        pace = self._chats.get(chat_id)
        if pace is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            is_group = isinstance(chat_id, str) or chat_id < 0  # "@channel" or a (super)group's negative id
            window: deque[float] | None = deque(maxlen=self.limits.group_per_minute) if is_group else None
            pace = self._chats[chat_id] = _ChatPace(float(self.limits.chat_burst), self._clock(), window)
        return pace

    def _sweep(self) -> None:
        """Forget chats whose pace is back to a fresh one, so a 10,000-chat broadcast keeps a small table."""
        now = self._clock()
        for chat_id in [c for c, pace in self._chats.items() if pace.idle(now, self.limits)]:
            del self._chats[chat_id]
        self._sweep_at = max(1024, 2 * len(self._chats))


def install_rate_limiter(session: BaseSession, limits: SendLimits | None = None) -> RateLimiter:
    """Register a `RateLimiter` as the innermost request middleware of `session` and return it.

    Call it after `FloodControl` is registered, so 429 retries are paced too (see the module docstring).
    """
    limiter = RateLimiter(limits)
    session.middleware(limiter)
    return limiter


# ---------------------------------------------------------------------------------------- broadcast

ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply

DEFAULT_CONCURRENCY = 32  # requests in flight: ~29/s needs 29 × round trip (~0.3 s to Telegram), plus chats waiting


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a broadcast: text, optionally with a keyboard, a parse mode, or a photo (the
    text is then its caption)."""

    chat_id: int
    text: str
    reply_markup: ReplyMarkup | None = None
    parse_mode: str | None = None
    photo: InputFile | None = None


@dataclass
class BroadcastReport:
    """What became of a broadcast's messages; `done` counts every one, whatever its outcome."""

    total: int
    sent: int = 0
    blocked: int = 0  # the user blocked the bot (403)
    failed: int = 0  # any other Bot API error; each is logged with its chat id
    progress_edits: int = 0  # progress message edits that went through
    unreached: list[int] = field(default_factory=list)  # chats blocked or failed, for the worker's list

    @property
    def done(self) -> int:
        return self.sent + self.blocked + self.failed


@dataclass(frozen=True)
class Progress:
    """A message in the worker's chat, edited as the broadcast advances: at most every `every`
    seconds, and once at the end. `render(done, total, report)` gives its text."""

    chat_id: int
    message_id: int
    render: Callable[[int, int, BroadcastReport], str]
    every: float = 3.0
    clock: Clock = time.monotonic


class _ProgressEditor:
    """Edits the progress message in the background, one edit at a time, never failing the broadcast."""

    def __init__(self, bot: Bot, progress: Progress, report: BroadcastReport) -> None:
        self.bot = bot
        self.progress = progress
        self.report = report
        self.last_at = progress.clock()  # the message was just sent: the first edit is due one period later
        self.last_text: str | None = None
        self.task: asyncio.Task[None] | None = None

    def tick(self) -> None:
        """Called after each message: start an edit if one is due and none is in flight."""
        if self.task is not None and not self.task.done():
            return
        now = self.progress.clock()
        if now - self.last_at < self.progress.every:
            return
        self.last_at = now
        self.task = asyncio.create_task(self._edit())

    async def finish(self) -> None:
        if self.task is not None:
            await self.task
        await self._edit()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _edit(self) -> None:
        report = self.report
        text = self.progress.render(report.done, report.total, report)
        if text == self.last_text:
            return  # Telegram would answer "message is not modified"; don't spend a slot on it
        try:
            await self.bot.edit_message_text(
                text, chat_id=self.progress.chat_id, message_id=self.progress.message_id, parse_mode=None
            )
        except TelegramBadRequest as exc:
            if "message is not modified" not in exc.message:
                log.warning("progress message %s in chat %s: %s", self.progress.message_id, self.progress.chat_id, exc)
            return
        except TelegramAPIError as exc:  # blocked, deleted, network: the broadcast goes on regardless
            log.warning("progress message %s in chat %s: %s", self.progress.message_id, self.progress.chat_id, exc)
            return
        self.last_text = text
        report.progress_edits += 1


async def _send(bot: Bot, item: Outgoing, report: BroadcastReport) -> None:
    """Send one message and count its outcome; only a Bot API error is absorbed, so a bug still surfaces."""
    try:
        if item.photo is not None:
            await bot.send_photo(
                item.chat_id,
                item.photo,
                caption=item.text or None,
                parse_mode=item.parse_mode,
                reply_markup=item.reply_markup,
            )
        else:
            await bot.send_message(item.chat_id, item.text, parse_mode=item.parse_mode, reply_markup=item.reply_markup)
    except TelegramForbiddenError:
        report.blocked += 1
        report.unreached.append(item.chat_id)
    except TelegramAPIError as exc:
        report.failed += 1
        report.unreached.append(item.chat_id)
        log.warning("broadcast to chat %s failed: %s", item.chat_id, exc)
    else:
        report.sent += 1


async def broadcast(
    bot: Bot,
    items: Collection[Outgoing],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> BroadcastReport:
    """Send every item through `bot` (so through its rate limiter) and report what became of each.

    `concurrency` workers take items in order from one shared iterator: enough requests are in flight
    to fill the global rate while some wait for their chat. Items for one chat are best spread out;
    many in a row tie up workers on that chat's pace.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = BroadcastReport(total=len(items))
    editor = _ProgressEditor(bot, progress, report) if progress is not None else None
    # Consecutive items for one chat (a result and its chart) go together, in order, through one worker.
    runs: list[list[Outgoing]] = []
    for item in items:
        if runs and runs[-1][0].chat_id == item.chat_id:
            runs[-1].append(item)
        else:
            runs.append([item])
    queue: Iterator[list[Outgoing]] = iter(runs)  # shared: asyncio switches tasks only at awaits, never inside next()

    async def worker() -> None:
        for run in queue:
            for item in run:
                await _send(bot, item, report)
                if editor is not None:
                    editor.tick()

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, max(1, len(runs)))):
                group.create_task(worker())
        if editor is not None:
            await editor.finish()
    finally:
        if editor is not None:
            editor.cancel()
    return report
