"""What the use cases need from storage. `storage/` implements these; tests may use fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from voting.model import Choice, Roster
from voting.votes import Vote

if TYPE_CHECKING:
    from voting.ledger import FrozenRoster, LedgerEntry

__all__ = ["Communities", "Ledger", "Rosters", "StoredTally", "Tallies", "UnitOfWork", "Votes"]


class Communities(Protocol):
    async def add(self, name: str, now: datetime) -> int: ...
    async def name(self, community_id: int) -> str: ...


class Rosters(Protocol):
    async def add_version(
        self,
        community_id: int,
        roster: Roster,
        source_name: str,
        source_sha256: str,
        created_by: str,
        now: datetime,
    ) -> tuple[int, int]: ...
    async def latest(self, community_id: int) -> int | None: ...
    async def load(self, roster_version_id: int) -> Roster: ...


class Votes(Protocol):
    async def add(self, vote: Vote, now: datetime) -> int: ...
    async def get(self, vote_id: int, *, lock: bool = False) -> Vote: ...
    async def save(self, vote: Vote) -> None: ...
    async def freeze(self, vote_id: int, roster: Roster, frozen: FrozenRoster) -> None: ...
    async def frozen(self, vote_id: int) -> FrozenRoster: ...
    async def frozen_unit(self, vote_id: int, unit_id: str) -> tuple[str, str] | None: ...


class Ledger(Protocol):
    async def append_many(
        self, items: Sequence[tuple[LedgerEntry, str | None, bytes | None]]
    ) -> list[Choice | None]: ...
    async def receipts_for_keys(self, vote_id: int, keys: Sequence[str]) -> dict[str, str]: ...
    async def current(self, vote_id: int) -> dict[str, Choice]: ...
    def entries(self, vote_id: int, upto_seq: int | None = None) -> AsyncIterator[LedgerEntry]: ...


class StoredTally(Protocol):
    stage: str
    payload: bytes
    signature: bytes
    public_key: bytes


class Tallies(Protocol):
    async def add(
        self, vote_id: int, stage: str, payload: bytes, signature: bytes, public_key: bytes, now: datetime
    ) -> None: ...
    async def of_vote(self, vote_id: int) -> list[StoredTally]: ...


class UnitOfWork(Protocol):
    """One transaction per use case: `async with uow:` ... `await uow.commit()`; otherwise rolled back."""

    communities: Communities
    rosters: Rosters
    votes: Votes
    ledger: Ledger
    tallies: Tallies

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...
