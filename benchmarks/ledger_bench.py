"""Ballot append throughput against the physical floor, on SQLite and PostgreSQL.

What is measured: ballots recorded the way the bot records them, through `bot.appender.LedgerAppender`
(lock the vote row, append the hash-chained entry — the database checks it, moves the head and sets
the owner's current ballot — and commit), with 1 writer waiting for each receipt before the next
ballot, and with 16 concurrent writers (the appender then commits what is queued together).

The floor, measured in the same run on the same engine and driver: a bare INSERT of a row of the
same size as a ledger entry plus a COMMIT, with the same number of writers. Durability settings are
the project's (SQLite WAL with synchronous=FULL), so the commit cost is the same on both sides.

Usage: .venv/bin/python benchmarks/ledger_bench.py [--ballots N] [--pg URL]
Target: ballots/s >= 50% of the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.appender import LedgerAppender
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory
from voting import services
from voting.errors import ConflictError
from voting.model import Choice, Roster, Scope, Unit
from voting.rules import preset
from voting.services import BallotRequest
from voting.votes import Vote

T0 = datetime(2026, 11, 23, tzinfo=UTC)
ROW = "x" * 420  # about the size of a canonical ledger line
floor_meta = MetaData()
floor_table = Table("bench_floor", floor_meta, Column("id", Integer, primary_key=True), Column("body", Text))


async def _floor(engine: AsyncEngine, total: int, writers: int) -> float:
    async with engine.begin() as conn:
        await conn.run_sync(floor_meta.drop_all)
        await conn.run_sync(floor_meta.create_all)

    async def writer(count: int) -> None:
        for _ in range(count):
            async with engine.begin() as conn:
                await conn.execute(floor_table.insert().values(body=ROW))

    start = time.perf_counter()
    await asyncio.gather(*(writer(total // writers) for _ in range(writers)))
    elapsed = time.perf_counter() - start
    async with engine.begin() as conn:
        await conn.run_sync(floor_meta.drop_all)
    return (total // writers * writers) / elapsed


async def _ballots(engine: AsyncEngine, total: int, writers: int) -> float:
    uow = UnitOfWorkFactory(engine)
    units = [Unit(f"u{i}", 6000, f"o{i}") for i in range(max(total, writers))]
    community = await services.create_community(uow(), "bench", T0)
    await services.import_roster(uow(), community, Roster.of(units), "bench.csv", b"", "bench", T0)
    vote_id = await services.create_vote(
        uow(), Vote(community, "bench", "", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=30)), T0
    )
    await services.open_vote(uow(), vote_id, T0, os.urandom(32))
    per = total // writers

    appender = LedgerAppender(uow)

    async def writer(w: int) -> None:
        for j in range(per):
            request = BallotRequest(f"u{w * per + j}", Choice.AGREE, f"account:{w}", T0 + timedelta(seconds=1))
            while True:
                try:
                    await appender.cast(vote_id, request)
                    break
                except ConflictError:
                    await asyncio.sleep(0.001)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per * writers / (time.perf_counter() - start)


async def _reset_pg(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def measure(label: str, url: str, ballots: int) -> list[str]:
    upgrade(url)
    lines = []
    for writers in (1, 16):

        async def run(w: int = writers) -> tuple[float, float]:
            engine = make_engine(url, pool_size=20, max_overflow=0) if "postgresql" in url else make_engine(url)
            try:
                floor = await _floor(engine, ballots, w)
                rate = await _ballots(engine, ballots, w)
            finally:
                await engine.dispose()
            return floor, rate

        floor, rate = asyncio.run(run())
        lines.append(
            f"{label:<10} {writers:>2} writer(s): {rate:8.0f} ballots/s   floor {floor:8.0f} rows/s   "
            f"ratio {rate / floor:5.1%}   {'PASS' if rate >= 0.5 * floor else 'MISS'} (target >= 50%)"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=2000)
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}", args.ballots)
    if args.pg:
        from sqlalchemy.engine import make_url

        base = make_url(args.pg)
        name = f"renovote_bench_{os.getpid()}"

        async def admin(sql: str) -> None:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(args.pg, isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                await conn.execute(text(sql))
            await engine.dispose()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        try:
            measure("PostgreSQL", base.set(database=name).render_as_string(hide_password=False), args.ballots)
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        print("PostgreSQL: skipped (pass --pg URL or set TEST_DATABASE_URL)")


if __name__ == "__main__":
    main()
