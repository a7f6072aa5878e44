"""A worker's conversation in progress — a vote wizard, a file awaiting confirmation — kept in the
database so a restart, or a day's pause, loses nothing. One open draft of each kind per account."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from voting.errors import NotFoundError
from voting.ports import UnitOfWork

__all__ = ["Draft", "cancel_drafts", "finish_draft", "load_draft", "open_draft", "save_draft", "start_draft"]


@dataclass(frozen=True, slots=True)
class Draft:
    account_id: int
    community_id: int
    kind: str  # vote-wizard, roster-upload, vote-file, paper-sheet, ...
    data: dict[str, Any] = field(default_factory=dict)  # JSON-able
    payload: bytes | None = None  # an uploaded file
    created_at: datetime | None = None
    updated_at: datetime | None = None
    done_at: datetime | None = None
    id: int = 0


async def _account_id(uow: UnitOfWork, telegram_id: int) -> int:
    account = await uow.accounts.find(telegram_id)
    if account is None:
        raise NotFoundError("account", telegram_id)
    return account.id


async def start_draft(
    uow: UnitOfWork,
    telegram_id: int,
    community_id: int,
    kind: str,
    data: dict[str, Any],
    now: datetime,
    *,
    payload: bytes | None = None,
) -> Draft:
    """A new draft. One conversation at a time: the account's other open drafts are closed."""
    async with uow:
        account_id = await _account_id(uow, telegram_id)
        await uow.drafts.close_open(account_id, now)
        draft = Draft(account_id, community_id, kind, data, payload, now, now)
        draft = replace(draft, id=await uow.drafts.add(draft))
        await uow.commit()
    return draft


async def open_draft(uow: UnitOfWork, telegram_id: int, kind: str | None = None) -> Draft | None:
    """The account's open draft of `kind`, or its newest open draft of any kind."""
    async with uow:
        account = await uow.accounts.find(telegram_id)
        return None if account is None else await uow.drafts.open_of(account.id, kind)


async def load_draft(uow: UnitOfWork, telegram_id: int, draft_id: int) -> Draft:
    """The account's own draft, still open (a button from an old or someone else's draft: NotFoundError)."""
    async with uow:
        account_id = await _account_id(uow, telegram_id)
        draft = await uow.drafts.get(draft_id)
        if draft is None or draft.account_id != account_id or draft.done_at is not None:
            raise NotFoundError("draft", draft_id)
        return draft


async def save_draft(uow: UnitOfWork, draft: Draft, now: datetime) -> Draft:
    changed = replace(draft, updated_at=now)
    async with uow:
        await uow.drafts.save(changed)
        await uow.commit()
    return changed


async def cancel_drafts(uow: UnitOfWork, telegram_id: int, now: datetime) -> None:
    async with uow:
        account = await uow.accounts.find(telegram_id)
        if account is not None:
            await uow.drafts.close_open(account.id, now)
            await uow.commit()


async def finish_draft(uow: UnitOfWork, draft: Draft, now: datetime) -> None:
    """Close a draft; NotFoundError if it was closed already (a second press of the same ✔ button),
    so what a confirmation does happens once."""
    async with uow:
        if not await uow.drafts.finish(draft.id, now):
            raise NotFoundError("draft", draft.id)
        await uow.commit()
