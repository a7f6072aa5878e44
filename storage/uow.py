"""The unit of work: one transaction per use case; rolls back unless told to commit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.repositories import (
    SqlAccounts,
    SqlBindings,
    SqlCommunities,
    SqlInvites,
    SqlLedger,
    SqlRoles,
    SqlRosters,
    SqlTallies,
    SqlVotes,
)
from storage.surveys import SqlProjects, SqlSurveys
from storage.worktools import SqlDoors, SqlDrafts, SqlJobRuns, SqlObjections
from voting.errors import ConflictError

__all__ = ["SqlUnitOfWork", "UnitOfWorkFactory"]


class SqlUnitOfWork:
    """`async with uow:` opens a transaction; leaving without `await uow.commit()` rolls it back."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], frozen_cache: dict[int, dict[str, tuple[str, str]]]
    ) -> None:
        self._sessions = sessions
        self._frozen_cache = frozen_cache
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        session = self._sessions()
        self._session = session
        self.communities = SqlCommunities(session)
        self.rosters = SqlRosters(session)
        self.votes = SqlVotes(session, self._frozen_cache)
        self.ledger = SqlLedger(session)
        self.tallies = SqlTallies(session)
        self.accounts = SqlAccounts(session)
        self.invites = SqlInvites(session)
        self.bindings = SqlBindings(session)
        self.roles = SqlRoles(session)
        self.jobs = SqlJobRuns(session)
        self.objections = SqlObjections(session)
        self.drafts = SqlDrafts(session)
        self.surveys = SqlSurveys(session)
        self.projects = SqlProjects(session)
        self.doors = SqlDoors(session)
        await session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self._session
        self._session = None
        if session is None:
            return
        try:
            await session.rollback()  # a no-op after commit
        finally:
            await session.close()

    async def commit(self) -> None:
        if self._session is None:
            raise RuntimeError("commit outside `async with`")
        try:
            await self._session.commit()
        except IntegrityError as exc:
            # A named constraint decided a race between two transactions (see the tables).
            raise ConflictError(str(exc.orig)) from exc
        except OperationalError as exc:  # SQLite still busy after busy_timeout
            raise ConflictError(str(exc.orig)) from exc


class UnitOfWorkFactory:
    """Makes a fresh unit of work for each use case (one per Telegram update)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autobegin=False)
        # Frozen rosters never change once a vote is open: unit lookups are shared across units of work.
        self._frozen_cache: dict[int, dict[str, tuple[str, str]]] = {}

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self._frozen_cache)
