"""Update middleware (who is writing, in which language) and request middleware (Telegram's flood
control and blocked users)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, User

from bot.context import BotContext
from bot.i18n import normalize_locale, translator
from voting import residents

__all__ = ["AccountMiddleware", "FloodControl", "OneAtATime"]

log = logging.getLogger(__name__)


class OneAtATime(BaseMiddleware):
    """One person's updates are handled one at a time, in the order they arrived.

    Polling and webhooks hand updates to handlers concurrently; an elderly resident tapping two
    items of the menu, or two answers, in quick succession would otherwise have two handlers read the
    same progress and the second write over the first's tick. Different people still run in
    parallel. (The menu's ticks are also changed under a database lock, for several processes.)
    """

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._waiting[user.id] = self._waiting.get(user.id, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self._waiting[user.id] -= 1
            if not self._waiting[user.id]:
                del self._waiting[user.id]
                del self._locks[user.id]


class AccountMiddleware(BaseMiddleware):
    """Records the account (first contact creates it) and puts `account`, `locale` and `_` into the handler data.

    The language is the one the user picked with /language, else their Telegram language (English for
    en*, Simplified Chinese otherwise), else the configured default.
    """

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        locale = self.ctx.default_locale
        if user is not None and not user.is_bot:
            app_locale = normalize_locale(user.language_code) if user.language_code else None
            account = await residents.ensure_account(
                self.ctx.uow(), user.id, user.full_name, self.ctx.now(), app_locale
            )
            data["account"] = account
            if account.language:
                locale = account.language
            elif app_locale:
                locale = app_locale
        data["locale"] = locale
        data["_"] = translator(locale)
        data["ctx"] = self.ctx
        return await handler(event, data)


class FloodControl(BaseRequestMiddleware):
    """Honours Telegram's 429 `retry_after` by waiting and retrying; on 403 (the user blocked the bot)
    marks the account inactive so nothing more is sent to it, then lets the error through."""

    def __init__(
        self,
        on_blocked: Callable[[int], Awaitable[None]] | None = None,
        *,
        max_retries: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.on_blocked = on_blocked
        self.max_retries = max_retries
        self.sleep = sleep
        self.waited = 0.0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                log.info("flood control: %s waits %s s (attempt %d)", type(method).__name__, exc.retry_after, attempt)
                self.waited += exc.retry_after
                await self.sleep(exc.retry_after)
            except TelegramForbiddenError:
                chat_id = getattr(method, "chat_id", None)
                if isinstance(chat_id, int) and self.on_blocked is not None:
                    await self.on_blocked(chat_id)
                raise
