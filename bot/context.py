"""What handlers get besides the update: the composition root builds one `BotContext` per process."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.appender import LedgerAppender
from voting.ports import UnitOfWork

__all__ = ["BotContext", "Clock", "system_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


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

    def now(self) -> datetime:
        return self.clock()

    def local(self, moment: datetime) -> str:
        """A time as people read it here: local date and minute, e.g. 2026-11-30 18:00."""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
