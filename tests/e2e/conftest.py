"""End to end: the unmodified aiogram client over real HTTP (loopback) against the sandbox's Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.run import Sandbox, start_sandbox
from storage.migrate import upgrade
from tests.botkit import SettableClock, fresh_db


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "renovote.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(params=["polling", "webhook"])
async def sandbox(
    request: pytest.FixtureRequest, template_db: Path, tmp_path: Path, clock: SettableClock
) -> AsyncIterator[Sandbox]:
    box = await start_sandbox(fresh_db(template_db, tmp_path), mode=request.param, clock=clock)
    try:
        yield box
    finally:
        await box.close()
