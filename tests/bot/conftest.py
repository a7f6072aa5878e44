"""Router tests: the real dispatcher fed updates made by the sandbox's simulated users, on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import build_context, build_dispatcher
from bot.context import BotContext
from bot.sandbox.botapi import BotApiServer, FloodLimits
from bot.sandbox.seed import DemoCommunity, seed_demo
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory
from tests.botkit import InProcessSession, SettableClock, fresh_db


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "renovote.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@dataclass
class Harness:
    api: BotApiServer
    bot: Bot
    dp: Dispatcher
    ctx: BotContext
    demo: DemoCommunity
    clock: SettableClock
    session: InProcessSession

    async def feed(self, update: dict[str, Any]) -> None:
        await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))

    async def say(self, user_id: int, text: str) -> dict[str, Any]:
        await self.feed(await self.api.user_sends_text(user_id, text))
        return self.api.messages(user_id)[-1]

    async def press(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        update = self.api.user_presses(user_id, message_id, data)
        await self.feed(update)
        return update

    def last(self, user_id: int) -> dict[str, Any]:
        return self.api.messages(user_id)[-1]

    def answer(self, update: dict[str, Any]) -> dict[str, Any]:
        return self.api.callback_answers[update["callback_query"]["id"]]


@pytest.fixture
async def h(template_db: Path, tmp_path: Path) -> AsyncIterator[Harness]:
    engine = make_engine(fresh_db(template_db, tmp_path))
    uow = UnitOfWorkFactory(engine)
    api = BotApiServer("123456:TEST", limits=FloodLimits(chat_burst=10_000))  # flood control has its own tests
    clock = SettableClock()
    demo = await seed_demo(uow, api, clock())
    ctx = build_context(uow, clock=clock)
    session = InProcessSession(api)
    bot = Bot("123456:TEST", session=session)
    try:
        yield Harness(api, bot, build_dispatcher(ctx), ctx, demo, clock, session)
    finally:
        await engine.dispose()
