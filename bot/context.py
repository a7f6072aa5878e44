"""What handlers get besides the update: the composition root builds one `BotContext` per process."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.appender import LedgerAppender
from voting.ports import UnitOfWork

if TYPE_CHECKING:
    from bot.jobs import VoteJobs

__all__ = ["BotContext", "Clock", "system_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def _no_key() -> Ed25519PrivateKey:
    raise RuntimeError("no tally-signing key configured")


@dataclass
class BotContext:
    """Shared services: a unit-of-work factory, the ballot appender, the clock, settings."""

    uow: Callable[[], UnitOfWork]
    appender: LedgerAppender
    clock: Clock = system_clock
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    default_locale: str = "zh_CN"
    bot_username: str = ""
    random_bytes: Callable[[int], bytes] = secrets.token_bytes
    admins: frozenset[int] = frozenset()  # may create communities and grant roles (config [admin])
    objection_days: int = 5  # working days after close (config [voting])
    checkpoint_time: str = "09:00"
    # The tally-signing key, loaded when first needed (closing a vote), never at import.
    signing_key: Callable[[], Ed25519PrivateKey] = field(default=_no_key)
    # Set by the scheduler: tells it that stored times changed (a vote launched, a deadline moved).
    poke: Callable[[], None] = field(default=lambda: None)
    jobs: VoteJobs | None = None  # the scheduler, for a worker's "remind now"
    background: set[asyncio.Task[Any]] = field(default_factory=set)  # long sendings started by a worker

    def now(self) -> datetime:
        return self.clock()

    def evening_in(self, days: int) -> datetime:
        """20:00 local time `days` days from today (the usual closing time), as an aware time like now()."""
        day = self.now().astimezone(self.tz).date() + timedelta(days=days)
        return datetime.combine(day, time(20, 0), tzinfo=self.tz).astimezone(self.now().tzinfo)

    def example_time(self, days: int = 3, hour: int = 20) -> str:
        """An example local time for a prompt, relative to today (never a date already past)."""
        day = self.now().astimezone(self.tz).date() + timedelta(days=days)
        return f"{day.isoformat()} {hour:02d}:00"

    def local(self, moment: datetime) -> str:
        """A time as people read it here: local date and minute, e.g. 2026-11-30 18:00."""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
