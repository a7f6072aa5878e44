"""Repositories for the worker tools: job runs, objections, drafts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import tables as t
from storage.repositories import insert_once, utc, utc_opt
from voting.doors import HomeToVisit
from voting.drafts import Draft
from voting.errors import ConflictError
from voting.lifecycle import Objection

__all__ = ["SqlDoors", "SqlDrafts", "SqlJobRuns", "SqlObjections"]


class SqlJobRuns:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def claim(self, key: str, now: datetime) -> bool:
        return await insert_once(self._s, t.JobRun(key=key, done_at=now), key)  # pk_job_runs decides races

    async def done(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            rows = await self._s.scalars(select(t.JobRun.key).where(t.JobRun.key.in_(keys[start : start + 500])))
            found.update(rows)
        return found


def _objection(row: t.Objection, telegram_id: int) -> Objection:
    return Objection(
        row.id,
        row.vote_id,
        row.account_id,
        telegram_id,
        row.owner_key,
        row.unit_id,
        row.text,
        utc(row.created_at),
        utc_opt(row.resolved_at),
        row.resolved_by,
        row.resolution,
        row.correction_seq,
    )


class SqlObjections:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, vote_id: int, account_id: int, owner_key: str, unit_id: str, text: str, now: datetime) -> int:
        row = t.Objection(
            vote_id=vote_id, account_id=account_id, owner_key=owner_key, unit_id=unit_id, text=text, created_at=now
        )
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def _select(self, *conditions: object) -> list[Objection]:
        rows = await self._s.execute(
            select(t.Objection, t.Account.telegram_id)
            .join(t.Account, t.Account.id == t.Objection.account_id)
            .where(*conditions)  # type: ignore[arg-type]
            .order_by(t.Objection.id)
        )
        return [_objection(row, telegram_id) for row, telegram_id in rows]

    async def get(self, objection_id: int) -> Objection | None:
        found = await self._select(t.Objection.id == objection_id)
        return found[0] if found else None

    async def of_vote(self, vote_id: int, *, open_only: bool) -> list[Objection]:
        conditions = [t.Objection.vote_id == vote_id]
        if open_only:
            conditions.append(t.Objection.resolved_at.is_(None))
        return await self._select(*conditions)

    async def resolve(
        self, objection_id: int, by: str, resolution: str, correction_seq: int | None, now: datetime
    ) -> None:
        result = await self._s.execute(
            update(t.Objection)
            .where(t.Objection.id == objection_id, t.Objection.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=by, resolution=resolution, correction_seq=correction_seq)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(f"objection {objection_id} was resolved meanwhile")


def _draft(row: t.Draft) -> Draft:
    return Draft(
        row.account_id,
        row.community_id,
        row.kind,
        json.loads(row.data),
        row.payload,
        utc(row.created_at),
        utc(row.updated_at),
        utc_opt(row.done_at),
        row.id,
    )


class SqlDrafts:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, draft: Draft) -> int:
        assert draft.created_at is not None and draft.updated_at is not None
        row = t.Draft(
            account_id=draft.account_id,
            community_id=draft.community_id,
            kind=draft.kind,
            data=json.dumps(draft.data, ensure_ascii=False),
            payload=draft.payload,
            created_at=draft.created_at,
            updated_at=draft.updated_at,
        )
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def get(self, draft_id: int) -> Draft | None:
        row = await self._s.get(t.Draft, draft_id)
        return None if row is None else _draft(row)

    async def open_of(self, account_id: int, kind: str | None) -> Draft | None:
        query = select(t.Draft).where(t.Draft.account_id == account_id, t.Draft.done_at.is_(None))
        if kind is not None:
            query = query.where(t.Draft.kind == kind)
        row = await self._s.scalar(query.order_by(t.Draft.id.desc()).limit(1))
        return None if row is None else _draft(row)

    async def save(self, draft: Draft) -> None:
        await self._s.execute(
            update(t.Draft)
            .where(t.Draft.id == draft.id)
            .values(
                data=json.dumps(draft.data, ensure_ascii=False),
                payload=draft.payload,
                updated_at=draft.updated_at,
                done_at=draft.done_at,
            )
            .execution_options(synchronize_session=False)
        )

    async def finish(self, draft_id: int, now: datetime) -> bool:
        result = await self._s.execute(
            update(t.Draft)
            .where(t.Draft.id == draft_id, t.Draft.done_at.is_(None))
            .values(done_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def close_open(self, account_id: int, now: datetime) -> None:
        await self._s.execute(
            update(t.Draft)
            .where(t.Draft.account_id == account_id, t.Draft.done_at.is_(None))
            .values(done_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )


class SqlDoors:
    """Door-to-door work: the homes whose owner has not voted, a form code's home."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def not_voted(self, vote_id: int) -> list[HomeToVisit]:
        fu, v, b, a = t.FrozenUnit, t.Vote, t.Binding, t.Account
        voted = select(t.CurrentBallot.owner_ref).where(
            t.CurrentBallot.vote_id == vote_id,
            t.CurrentBallot.owner_ref == fu.owner_ref,
            t.CurrentBallot.choice.is_not(None),
        )
        query = (
            select(fu.unit_id, fu.building, fu.entrance, fu.room, fu.owner, a.telegram_id, fu.unit_ref, fu.phone)
            .select_from(fu)
            .join(v, v.id == fu.vote_id)
            .outerjoin(b, and_(b.owner_key == fu.owner_key, b.community_id == v.community_id, b.revoked_at.is_(None)))
            .outerjoin(a, and_(a.id == b.account_id, a.active.is_(True)))
            .where(fu.vote_id == vote_id, ~voted.exists())
        )
        homes: dict[str, tuple[tuple[str, str, str, str, str, str], str, set[int]]] = {}
        for unit_id, building, entrance, room, owner, telegram_id, unit_ref, phone in await self._s.execute(query):
            _fields, _ref, accounts = homes.setdefault(
                unit_id, ((unit_id, building, entrance, room, owner, phone), unit_ref, set())
            )
            if telegram_id is not None:
                accounts.add(int(telegram_id))
        return [
            HomeToVisit(*fields, telegram_ids=tuple(sorted(accounts)), unit_ref=ref)
            for fields, ref, accounts in homes.values()
        ]

    async def units_by_ref_prefix(self, vote_id: int, prefix: str) -> list[str]:
        fu = t.FrozenUnit
        rows = await self._s.execute(
            select(fu.unit_id).where(fu.vote_id == vote_id, fu.unit_ref.startswith(prefix, autoescape=True)).limit(2)
        )
        return [unit_id for (unit_id,) in rows]
