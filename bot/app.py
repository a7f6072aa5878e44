"""Composition root: build the bot, the dispatcher and the context; run by long polling or webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.appender import LedgerAppender
from bot.broadcast import SendLimits, install_rate_limiter
from bot.context import BotContext, Clock, system_clock
from bot.handlers import build_root_router
from bot.i18n import translator
from bot.jobs import VoteJobs
from bot.middlewares import AccountMiddleware, FloodControl, OneAtATime
from voting import residents
from voting.ports import UnitOfWork

__all__ = ["build_bot", "build_context", "build_dispatcher", "set_commands", "start_polling", "start_webhook"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"


def build_context(
    uow: Callable[[], UnitOfWork],
    *,
    clock: Clock = system_clock,
    tz_name: str = "Asia/Shanghai",
    default_locale: str = "zh_CN",
    signing_key: Callable[[], Ed25519PrivateKey] | None = None,
    admins: frozenset[int] = frozenset(),
    objection_days: int = 5,
    checkpoint_time: str = "09:00",
) -> BotContext:
    ctx = BotContext(
        uow=uow,
        appender=LedgerAppender(uow),
        clock=clock,
        tz=ZoneInfo(tz_name),
        default_locale=default_locale,
        admins=admins,
        objection_days=objection_days,
        checkpoint_time=checkpoint_time,
    )
    if signing_key is not None:
        ctx.signing_key = signing_key
    return ctx


def build_bot(token: str, api_base: str, ctx: BotContext, limits: SendLimits | None = None) -> Bot:
    """The real aiogram client, pointed at any Bot API server (Telegram, a self-hosted one, the sandbox)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))

    async def mark_blocked(chat_id: int) -> None:
        log.info("chat %s blocked the bot: account marked inactive", chat_id)
        await residents.set_account_active(ctx.uow(), chat_id, False)

    # Order matters: FloodControl first (outermost), then the rate limiter inside it, so every request
    # and every retry after a 429 is paced (bot/broadcast.py explains).
    session.middleware(FloodControl(mark_blocked))
    install_rate_limiter(session, limits)
    return Bot(token, session=session, default=DefaultBotProperties(link_preview_is_disabled=True))


def build_dispatcher(ctx: BotContext) -> Dispatcher:
    dp = Dispatcher()
    dp.update.outer_middleware(OneAtATime())
    dp.update.outer_middleware(AccountMiddleware(ctx))
    dp.include_router(build_root_router(ctx))
    return dp


async def set_commands(bot: Bot) -> None:
    """The command menu in both languages (Telegram shows the one matching the user's app language)."""
    for locale, language_code in (("zh_CN", None), ("en", "en")):
        _ = translator(locale)
        commands = [
            BotCommand(command="start", description=_("Start, or link your home with a code")),
            BotCommand(command="votes", description=_("Open votes")),
            BotCommand(command="my", description=_("My homes, ballots and receipts")),
            BotCommand(command="language", description=_("Language / 语言")),
            BotCommand(command="help", description=_("Help")),
        ]
        await bot.set_my_commands(commands, language_code=language_code)


@dataclass
class Running:
    """A started bot: `stop()` ends polling or the webhook server and closes the HTTP session."""

    bot: Bot
    dispatcher: Dispatcher
    task: asyncio.Task[None] | None = None
    runner: web.AppRunner | None = None
    jobs: VoteJobs | None = None

    async def start_jobs(self, ctx: BotContext) -> VoteJobs:
        """Start the scheduler: rebuilt from the database, overdue work (a close missed while down) first."""
        self.jobs = VoteJobs(ctx, self.bot)
        ctx.jobs = self.jobs
        await self.jobs.start()
        return self.jobs

    async def stop(self, wake: Callable[[], None] | None = None) -> None:
        """`wake` ends a long poll in flight at once (the sandbox can; Telegram's returns within its timeout)."""
        if self.jobs is not None:
            self.jobs.stop()
        if self.task is not None:
            await self.dispatcher.stop_polling()
            if wake is not None:
                wake()
            try:
                await asyncio.wait_for(self.task, 10)
            except (TimeoutError, RuntimeError):
                self.task.cancel()
        if self.runner is not None:
            await self.bot.delete_webhook()
            await self.runner.cleanup()
        await self.bot.session.close()


async def start_polling(bot: Bot, dp: Dispatcher, *, polling_timeout: int = 10) -> Running:
    await bot.delete_webhook()
    await set_commands(bot)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=polling_timeout)
    )
    return Running(bot, dp, task=task)


async def start_webhook(
    bot: Bot, dp: Dispatcher, *, public_url: str, secret: str, host: str, port: int, drop_pending: bool = False
) -> Running:
    """Serve WEBHOOK_PATH on host:port and register `public_url` (which must reach it) with the secret.

    Updates are handled before the answer (not in the background): an update whose handling failed
    gets a 500, and the Bot API server delivers it again; the ballot's idempotency key makes the retry
    harmless.
    """
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token=secret, handle_in_background=False).register(app, path=WEBHOOK_PATH)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    await set_commands(bot)
    await bot.set_webhook(public_url.rstrip("/") + WEBHOOK_PATH, secret_token=secret, drop_pending_updates=drop_pending)
    return Running(bot, dp, runner=runner)
