"""Start the whole sandbox in one process: the Bot API server with the web chat, the demo community, and
the real bot (aiogram over HTTP to that server) by long polling or webhook."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Running, build_bot, build_context, build_dispatcher, start_polling, start_webhook
from bot.context import BotContext, Clock, system_clock
from bot.sandbox.botapi import BotApiServer, FloodLimits
from bot.sandbox.seed import ADMIN_ID, DemoCommunity, seed_demo
from bot.sandbox.webchat import webchat_routes
from storage.db import make_engine
from storage.uow import UnitOfWorkFactory

__all__ = ["Sandbox", "free_port", "start_sandbox"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Sandbox:
    api: BotApiServer
    url: str  # the web chat and the Bot API base
    demo: DemoCommunity
    ctx: BotContext
    engine: AsyncEngine
    runner: web.AppRunner
    running: Running | None

    async def stop_bot(self) -> None:
        """Stop the bot only (the Bot API server keeps its pending updates), as if the bot process died."""
        if self.running is not None:
            await self.running.stop(wake=self.api.wake)
            self.running = None

    async def start_bot(self, mode: Literal["polling", "webhook"] = "polling") -> None:
        self.running = await _start_bot(self.api, self.url, self.ctx, mode)
        await self.running.start_jobs(self.ctx)

    async def close(self) -> None:
        await self.stop_bot()
        await self.api.close()
        await self.runner.cleanup()
        await self.engine.dispose()


async def _start_bot(api: BotApiServer, url: str, ctx: BotContext, mode: str) -> Running:
    bot = build_bot(api.token, url, ctx)
    dp = build_dispatcher(ctx)
    if mode == "webhook":
        port = free_port()
        return await start_webhook(
            bot,
            dp,
            public_url=f"http://127.0.0.1:{port}",
            secret=secrets.token_urlsafe(24),
            host="127.0.0.1",
            port=port,
        )
    return await start_polling(bot, dp, polling_timeout=5)


async def start_sandbox(
    database_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    mode: Literal["polling", "webhook"] = "polling",
    clock: Clock = system_clock,
    tz_name: str = "Asia/Shanghai",
    default_locale: str = "zh_CN",
    limits: FloodLimits | None = None,
    start_bot: bool = True,
    signing_key: Ed25519PrivateKey | None = None,
    admins: frozenset[int] = frozenset({ADMIN_ID}),
    objection_days: int = 5,
) -> Sandbox:
    """`database_url` must point at a migrated, empty database (the CLI makes a fresh SQLite file)."""
    engine = make_engine(database_url)
    uow = UnitOfWorkFactory(engine)
    api = BotApiServer(f"{secrets.randbelow(10**9)}:sandbox-{secrets.token_hex(8)}", limits=limits)
    app = web.Application()
    app.add_routes(api.routes() + webchat_routes(api))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port or free_port(host)).start()
    bound_host, bound_port = runner.addresses[0][:2]
    url = f"http://{bound_host}:{bound_port}"
    demo = await seed_demo(uow, api, clock())
    key = signing_key or Ed25519PrivateKey.generate()
    ctx = build_context(
        uow,
        clock=clock,
        tz_name=tz_name,
        default_locale=default_locale,
        signing_key=lambda: key,
        admins=admins,
        objection_days=objection_days,
    )
    ctx.bot_username = api.bot_username
    sandbox = Sandbox(api, url, demo, ctx, engine, runner, None)
    if start_bot:
        await sandbox.start_bot(mode)
    return sandbox
