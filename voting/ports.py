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
    from voting.residents import Account, Binding, Invite, Role
    from voting.votes import VoteStatus

__all__ = [
    "Accounts",
    "Bindings",
    "Communities",
    "Invites",
    "Ledger",
    "Roles",
    "Rosters",
    "StoredTally",
    "Tallies",
    "UnitOfWork",
    "Votes",
]


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
    async def of_owner(
        self, community_id: int, owner_key: str, statuses: Sequence[VoteStatus]
    ) -> list[tuple[Vote, list[tuple[str, int]], str]]:
        """Votes whose frozen roster holds the owner: (vote, the owner's units with areas, owner_ref)."""
        ...


class Ledger(Protocol):
    async def append_many(
        self, items: Sequence[tuple[LedgerEntry, str | None, bytes | None]]
    ) -> list[Choice | None]: ...
    async def receipts_for_keys(self, vote_id: int, keys: Sequence[str]) -> dict[str, str]: ...
    async def current(self, vote_id: int) -> dict[str, Choice]: ...
    def entries(self, vote_id: int, upto_seq: int | None = None) -> AsyncIterator[LedgerEntry]: ...
    async def of_owner(self, vote_id: int, owner_ref: str) -> list[LedgerEntry]: ...


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


class Accounts(Protocol):
    async def get_or_add(self, telegram_id: int, name: str, now: datetime) -> Account: ...
    async def find(self, telegram_id: int) -> Account | None: ...
    async def get(self, telegram_id: int) -> Account: ...
    async def set_language(self, telegram_id: int, locale: str) -> None: ...
    async def set_active(self, telegram_id: int, active: bool) -> None: ...


class Invites(Protocol):
    async def add_many(self, invites: Sequence[Invite], now: datetime) -> list[Invite]: ...
    async def find(self, code: str) -> Invite | None: ...
    async def revoke_unused(self, community_id: int, unit_ids: Sequence[str], now: datetime) -> None: ...
    async def mark_used(self, invite_id: int, account_id: int, now: datetime) -> None: ...


class Bindings(Protocol):
    async def add(self, account_id: int, invite: Invite, now: datetime) -> int: ...
    async def get(self, binding_id: int) -> Binding: ...
    async def by_invite(self, invite_id: int) -> Binding | None: ...
    async def of_account(self, account_id: int) -> list[Binding]: ...
    async def of_community(self, community_id: int) -> list[Binding]: ...
    async def revoke(self, binding_id: int, now: datetime) -> None: ...


class Roles(Protocol):
    async def grant(self, account_id: int, community_id: int, role: Role, now: datetime) -> None: ...
    async def of_account(self, account_id: int) -> list[tuple[int, Role]]: ...


class UnitOfWork(Protocol):
    """One transaction per use case: `async with uow:` ... `await uow.commit()`; otherwise rolled back."""

    communities: Communities
    rosters: Rosters
    votes: Votes
    ledger: Ledger
    tallies: Tallies
    accounts: Accounts
    invites: Invites
    bindings: Bindings
    roles: Roles

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...
