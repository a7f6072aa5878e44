"""Messages the bot sends on its own (announcements, reminders, results), to many chats at once.

Every request goes through the bot's session, so through its rate limiter and flood control; this
module adds what a mass sending needs on top: photos and HTML, a blocked or broken chat never
stopping the rest, and a progress message the worker sees being updated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from bot.broadcast import BroadcastReport, Outgoing, Progress, broadcast

__all__ = ["Notice", "ProgressSpec", "deliver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None
    parse_mode: str | None = None
    photo: bytes | None = None  # sent as a photo (text, if any, is its caption)


@dataclass(frozen=True, slots=True)
class ProgressSpec:
    """A message in the worker's chat, edited as the sending goes: render(done, total, report)."""

    chat_id: int
    render: Callable[[int, int, BroadcastReport], str]


async def deliver(bot: Bot, notices: Sequence[Notice], *, progress: ProgressSpec | None = None) -> BroadcastReport:
    items = [_outgoing(n) for n in notices]
    tracker = None
    if progress is not None:
        empty = BroadcastReport(total=len(items))
        first = await bot.send_message(progress.chat_id, progress.render(0, len(items), empty))
        tracker = Progress(progress.chat_id, first.message_id, progress.render)
    report = await broadcast(bot, items, progress=tracker)
    if report.failed:
        log.warning("sending: %d sent, %d blocked, %d failed", report.sent, report.blocked, report.failed)
    return report


def _outgoing(notice: Notice) -> Outgoing:
    if notice.photo is not None:
        return Outgoing(
            notice.chat_id,
            notice.text,
            notice.markup,
            parse_mode=notice.parse_mode,
            photo=BufferedInputFile(notice.photo, "chart.png"),
        )
    return Outgoing(notice.chat_id, notice.text, notice.markup, parse_mode=notice.parse_mode)
