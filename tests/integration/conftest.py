"""Real databases for the storage suite: a SQLite file always, PostgreSQL when one answers.

PostgreSQL is TEST_DATABASE_URL when set (an override: a failure to reach it fails the tests);
otherwise the usual local server, ``postgresql+asyncpg://postgres@127.0.0.1:5432/test`` (trust
authentication), when it answers; otherwise the PostgreSQL tests skip and say why.

Each test session gets its own PostgreSQL database (created and dropped here), migrated with the
project's own Alembic migrations; each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.db import make_engine
from storage.migrate import upgrade
from storage.tables import Base

PG_ENV = "TEST_DATABASE_URL"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "renovote.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


async def _answers(url: str) -> str | None:
    """None when the server at url lets us in, else why not (in a few words)."""
    engine = create_async_engine(url, connect_args={"timeout": 3})
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, TimeoutError, SQLAlchemyError) as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        await engine.dispose()
    return None


def postgresql_base() -> str:
    """The PostgreSQL server URL to test on, or skip (with the reason) when none is set and none answers."""
    base = os.environ.get(PG_ENV)
    if base:
        return base
    why = asyncio.run(_answers(PG_DEFAULT))
    if why is not None:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set and {PG_DEFAULT} does not answer ({why})")
    return PG_DEFAULT


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    base = postgresql_base()
    name = f"renovote_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    try:
        yield engine
    finally:
        await engine.dispose()
