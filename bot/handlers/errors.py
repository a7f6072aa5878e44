"""The one error handler: core errors become texts, anything else an apology and a log line."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, ErrorEvent

from bot.context import BotContext
from bot.i18n import Translator, translator
from bot.texts import describe_error
from voting.errors import OutOfScopeError, VotingError

__all__ = ["build_errors_router"]

log = logging.getLogger(__name__)


async def _tell_presser(query: CallbackQuery, text: str) -> None:
    """An alert on the button when it fits (200 characters) and the handler has not answered the press
    yet (Telegram takes one answer per press); otherwise a message in the chat."""
    if len(text) <= 200:
        try:
            await query.answer(text, show_alert=True)
            return
        except TelegramBadRequest:  # the handler answered before it failed
            pass
    else:
        with contextlib.suppress(TelegramBadRequest):
            await query.answer()
    if query.message is not None:
        await query.message.answer(text)


def build_errors_router(ctx: BotContext) -> Router:
    router = Router(name="errors")

    @router.errors()
    async def on_error(event: ErrorEvent, **data: Any) -> None:
        update = event.update
        exc = event.exception
        _: Translator = data.get("_") or translator(ctx.default_locale)
        if isinstance(exc, VotingError):
            if isinstance(exc, OutOfScopeError):
                log.warning("update %s: refused %s", update.update_id, exc)
            else:
                log.info("update %s: %s", update.update_id, exc)
            text = describe_error(ctx, _, exc)
        else:
            log.error("update %s failed", update.update_id, exc_info=exc)
            text = _("Sorry, something went wrong on our side. Please try again in a minute.")
        try:
            if update.callback_query is not None:
                await _tell_presser(update.callback_query, text)
            elif update.message is not None:
                await update.message.answer(text)
        except TelegramAPIError:  # the user blocked the bot, or the query expired: nothing more to tell
            log.info("update %s: could not deliver the error text", update.update_id)

    return router
