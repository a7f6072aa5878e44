"""Repositories over one AsyncSession. They flush, never commit; database clashes become voting errors."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import tables as t
from voting.errors import ConflictError, DuplicateSubmissionError, NotFoundError
from voting.ledger import FrozenRoster, FrozenUnit, LedgerEntry, parse_entry_line
from voting.lifecycle import Recipient, VoteEvent
from voting.model import DEVELOPER, AreaSource, Choice, Roster, Scope, Unit, UnitStatus
from voting.residents import Account, Binding, Invite, Role
from voting.rules import Rule, rule_from_dict
from voting.votes import GENESIS, Vote, VoteStatus

__all__ = [
    "SqlAccounts",
    "SqlBindings",
    "SqlCommunities",
    "SqlInvites",
    "SqlLedger",
    "SqlRoles",
    "SqlRosters",
    "SqlTallies",
    "SqlVotes",
    "utc",
    "utc_opt",
]


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone=True columns; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


async def insert_once(session: AsyncSession, row: Any, key: Any) -> bool:
    """Insert `row` unless its primary key `key` is taken; False when it was, or when another transaction
    inserted it first (the primary key decides the race, in a savepoint so the caller's work stays)."""
    if await session.get(type(row), key) is not None:
        return False
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    return True


class SqlCommunities:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, name: str, now: datetime) -> int:
        row = t.Community(name=name, created_at=now)
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def name(self, community_id: int) -> str:
        row = await self._s.get(t.Community, community_id)
        if row is None:
            raise NotFoundError("community", community_id)
        return row.name

    async def all(self) -> list[tuple[int, str]]:
        rows = await self._s.execute(select(t.Community.id, t.Community.name).order_by(t.Community.id))
        return [(i, name) for i, name in rows]

    async def group_chat(self, community_id: int) -> int | None:
        return await self._s.scalar(select(t.Community.group_chat_id).where(t.Community.id == community_id))

    async def set_group_chat(self, community_id: int, chat_id: int | None) -> None:
        await self._s.execute(update(t.Community).where(t.Community.id == community_id).values(group_chat_id=chat_id))


class SqlRosters:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_version(
        self,
        community_id: int,
        roster: Roster,
        source_name: str,
        source_sha256: str,
        created_by: str,
        now: datetime,
    ) -> tuple[int, int]:
        """Store a new roster version; returns (roster_version_id, version number)."""
        latest = await self._s.scalar(
            select(func.max(t.RosterVersion.version)).where(t.RosterVersion.community_id == community_id)
        )
        version = (latest or 0) + 1
        row = t.RosterVersion(
            community_id=community_id,
            version=version,
            source_name=source_name,
            source_sha256=source_sha256,
            created_at=now,
            created_by=created_by,
        )
        self._s.add(row)
        try:
            await self._s.flush()
        except IntegrityError as exc:  # two imports at once picked the same version number
            raise ConflictError("roster version taken by a concurrent import") from exc
        await self._s.execute(
            t.RosterUnit.__table__.insert(),
            [
                {
                    "roster_version_id": row.id,
                    "unit_id": u.unit_id,
                    "area": u.area,
                    "owner": u.owner,
                    "status": str(u.status),
                    "building": u.building,
                    "entrance": u.entrance,
                    "room": u.room,
                    "area_source": str(u.area_source),
                    "phone": u.phone,
                }
                for u in roster
            ],
        )
        return row.id, version

    async def latest(self, community_id: int) -> int | None:
        """The id of the community's newest roster version, if any."""
        return await self._s.scalar(
            select(t.RosterVersion.id)
            .where(t.RosterVersion.community_id == community_id)
            .order_by(t.RosterVersion.version.desc())
            .limit(1)
        )

    async def version_number(self, roster_version_id: int) -> int:
        number = await self._s.scalar(select(t.RosterVersion.version).where(t.RosterVersion.id == roster_version_id))
        if number is None:
            raise NotFoundError("roster version", roster_version_id)
        return int(number)

    async def load(self, roster_version_id: int) -> Roster:
        rows = await self._s.scalars(
            select(t.RosterUnit).where(t.RosterUnit.roster_version_id == roster_version_id).order_by(t.RosterUnit.id)
        )
        units = [
            Unit(
                r.unit_id,
                r.area,
                r.owner,
                UnitStatus(r.status),
                r.building,
                r.entrance,
                r.room,
                AreaSource(r.area_source),
                r.phone,
            )
            for r in rows
        ]
        if not units:
            raise NotFoundError("roster version", roster_version_id)
        return Roster(tuple(units))


@functools.lru_cache(maxsize=256)
def _rule(definition: str) -> Rule:
    """Rules are stored as JSON; a vote's rule is parsed once, not at every ballot."""
    return rule_from_dict(json.loads(definition))


def _vote_from_row(row: Any) -> Vote:
    return Vote(
        community_id=row.community_id,
        title=row.title,
        text=row.text,
        rule=_rule(row.rule),
        scope=Scope(row.scope_building, row.scope_entrance),
        opens_at=utc(row.opens_at),
        closes_at=utc(row.closes_at),
        show_turnout=row.show_turnout,
        non_voters_follow_majority=row.non_voters_follow_majority,
        id=row.id,
        status=VoteStatus(row.status),
        roster_version_id=row.roster_version_id,
        roster_hash=row.roster_hash,
        pseudonym_key=row.pseudonym_key,
        head_seq=row.head_seq,
        head_hash=row.head_hash,
        opened_at=utc_opt(row.opened_at),
        closed_at=utc_opt(row.closed_at),
        reminder_time=row.reminder_time,
        objection_until=utc_opt(row.objection_until),
        created_by=row.created_by,
    )


def _vote_columns(vote: Vote) -> dict[str, object]:
    return {
        "community_id": vote.community_id,
        "title": vote.title,
        "text": vote.text,
        "rule": json.dumps(vote.rule.as_dict(), ensure_ascii=False, sort_keys=True),
        "scope_building": vote.scope.building,
        "scope_entrance": vote.scope.entrance,
        "opens_at": vote.opens_at,
        "closes_at": vote.closes_at,
        "status": str(vote.status),
        "show_turnout": vote.show_turnout,
        "non_voters_follow_majority": vote.non_voters_follow_majority,
        "roster_version_id": vote.roster_version_id,
        "roster_hash": vote.roster_hash,
        "pseudonym_key": vote.pseudonym_key,
        "opened_at": vote.opened_at,
        "closed_at": vote.closed_at,
        "reminder_time": vote.reminder_time,
        "objection_until": vote.objection_until,
        "created_by": vote.created_by,
    }


class SqlVotes:
    def __init__(self, session: AsyncSession, frozen_cache: dict[int, dict[str, tuple[str, str]]]) -> None:
        self._s = session
        self._frozen_cache = frozen_cache

    async def add(self, vote: Vote, now: datetime) -> int:
        row = t.Vote(**_vote_columns(vote), head_seq=0, head_hash=GENESIS, created_at=now)
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def get(self, vote_id: int, *, lock: bool = False) -> Vote:
        """Load a vote; `lock` holds its row until commit (PostgreSQL FOR UPDATE; SQLite locks at BEGIN)."""
        table = t.Vote.__table__
        query = select(table).where(table.c.id == vote_id)  # a plain row: cheaper than an ORM entity
        if lock:
            query = query.with_for_update()
        row = (await self._s.execute(query)).first()
        if row is None:
            raise NotFoundError("vote", vote_id)
        return _vote_from_row(row)

    async def save(self, vote: Vote) -> None:
        """Write a vote's state; the ledger head is moved only by the database trigger on append."""
        query = update(t.Vote).where(t.Vote.id == vote.id).values(**_vote_columns(vote))
        result = await self._s.execute(query.execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(f"vote {vote.id} changed under us")

    async def freeze(self, vote_id: int, roster: Roster, frozen: FrozenRoster) -> None:
        """Copy the scoped roster into the vote: later roster versions never change it."""
        by_label = {u.unit_id: u for u in frozen.units}
        await self._s.execute(
            t.FrozenUnit.__table__.insert(),
            [
                {
                    "vote_id": vote_id,
                    "unit_id": u.unit_id,
                    "building": u.building,
                    "entrance": u.entrance,
                    "room": u.room,
                    "area": u.area,
                    "owner": u.owner,
                    "status": str(u.status),
                    "area_source": str(u.area_source),
                    "owner_key": u.owner_key,
                    "unit_ref": by_label[u.unit_id].unit_ref,
                    "owner_ref": by_label[u.unit_id].owner_ref,
                    "phone": u.phone,
                }
                for u in roster
            ],
        )

    async def frozen(self, vote_id: int) -> FrozenRoster:
        rows = await self._s.scalars(select(t.FrozenUnit).where(t.FrozenUnit.vote_id == vote_id))
        units = tuple(
            FrozenUnit(
                r.unit_ref,
                r.owner_ref,
                r.area,
                UnitStatus(r.status),
                r.unit_id,
                r.building,
                r.entrance,
                r.room,
                r.owner_key,
            )
            for r in rows
        )
        if not units:
            raise NotFoundError("frozen roster of vote", vote_id)
        return FrozenRoster(units)

    async def frozen_unit(self, vote_id: int, unit_id: str) -> tuple[str, str] | None:
        """(unit_ref, owner_ref) of a unit in the vote's frozen roster, or None when out of scope.

        A frozen roster never changes, so it is read once per vote and kept in the shared cache.
        """
        lookup = self._frozen_cache.get(vote_id)
        if lookup is None:
            rows = await self._s.execute(
                select(t.FrozenUnit.unit_id, t.FrozenUnit.unit_ref, t.FrozenUnit.owner_ref).where(
                    t.FrozenUnit.vote_id == vote_id
                )
            )
            lookup = {unit: (unit_ref, owner_ref) for unit, unit_ref, owner_ref in rows}
            if lookup:  # an empty result means the vote is not open yet: nothing to keep
                self._frozen_cache[vote_id] = lookup
        return lookup.get(unit_id)

    async def of_owner(
        self, community_id: int, owner_key: str, statuses: Sequence[VoteStatus]
    ) -> list[tuple[Vote, list[tuple[str, int]], str]]:
        fu = t.FrozenUnit.__table__.c
        votes = t.Vote.__table__
        rows = (
            await self._s.execute(
                select(votes, fu.unit_id.label("fu_unit"), fu.area.label("fu_area"), fu.owner_ref.label("fu_owner_ref"))
                .join(t.FrozenUnit.__table__, fu.vote_id == votes.c.id)
                .where(
                    votes.c.community_id == community_id,
                    fu.owner_key == owner_key,
                    votes.c.status.in_([str(s) for s in statuses]),
                )
                .order_by(votes.c.id, fu.unit_id)
            )
        ).all()
        found: dict[int, tuple[Vote, list[tuple[str, int]], str]] = {}
        for row in rows:
            if row.id not in found:
                found[row.id] = (_vote_from_row(row), [], row.fu_owner_ref)
            found[row.id][1].append((row.fu_unit, row.fu_area))
        return list(found.values())

    async def of_community(self, community_id: int) -> list[Vote]:
        table = t.Vote.__table__
        rows = await self._s.execute(select(table).where(table.c.community_id == community_id).order_by(table.c.id))
        return [_vote_from_row(row) for row in rows]

    async def in_statuses(self, statuses: Sequence[VoteStatus]) -> list[Vote]:
        table = t.Vote.__table__
        query = select(table).where(table.c.status.in_([str(s) for s in statuses])).order_by(table.c.id)
        return [_vote_from_row(row) for row in await self._s.execute(query)]

    async def add_event(self, vote_id: int, kind: str, actor: str, detail: str, now: datetime) -> None:
        self._s.add(t.VoteEvent(vote_id=vote_id, at=now, actor=actor[:100], kind=kind, detail=detail))
        await self._s.flush()

    async def events(self, vote_id: int) -> list[VoteEvent]:
        rows = await self._s.scalars(select(t.VoteEvent).where(t.VoteEvent.vote_id == vote_id).order_by(t.VoteEvent.id))
        return [VoteEvent(r.vote_id, utc(r.at), r.actor, r.kind, r.detail) for r in rows]

    async def recipients(self, vote_id: int, *, non_voters_only: bool) -> list[Recipient]:
        fu, b, a, v = t.FrozenUnit, t.Binding, t.Account, t.Vote
        query = (
            select(a.telegram_id, func.coalesce(a.language, a.app_language))
            .distinct()
            .select_from(fu)
            .join(v, v.id == fu.vote_id)
            .join(b, and_(b.owner_key == fu.owner_key, b.community_id == v.community_id))
            .join(a, a.id == b.account_id)
            .where(fu.vote_id == vote_id, b.revoked_at.is_(None), a.active.is_(True))
        )
        if non_voters_only:
            voted = select(t.CurrentBallot.owner_ref).where(
                t.CurrentBallot.vote_id == vote_id,
                t.CurrentBallot.owner_ref == fu.owner_ref,
                t.CurrentBallot.choice.is_not(None),
            )
            query = query.where(~voted.exists())
        rows = await self._s.execute(query.order_by(a.telegram_id))
        return [Recipient(telegram_id, language) for telegram_id, language in rows]


class SqlLedger:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def append_many(self, items: Sequence[tuple[LedgerEntry, str | None, bytes | None]]) -> list[Choice | None]:
        """Insert entries (in chain order) in one statement; the database checks each follows the head,
        moves the head and sets the owner's current ballot. Returns, for each entry, the choice that
        counted for its owner before the statement."""
        table = t.LedgerEntry.__table__
        current = t.CurrentBallot.__table__.c
        # Written out: SQLAlchemy renders RETURNING columns unqualified, which SQLite finds ambiguous here.
        replaced = (
            select(current.choice)
            .where(
                current.vote_id == literal_column("ledger_entries.vote_id"),
                current.owner_ref == literal_column("ledger_entries.owner_ref"),
            )
            .scalar_subquery()
        )
        rows = [
            {
                "vote_id": int(entry.vote_id),
                "seq": entry.seq,
                "prev_hash": entry.prev_hash,
                "entry_hash": entry.entry_hash,
                "receipt": entry.receipt,
                "kind": str(entry.kind),
                "owner_ref": entry.owner_ref,
                "choice": None if entry.choice is None else str(entry.choice),
                "actor": entry.actor,
                "at": datetime.strptime(entry.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                "body": entry.line().decode("utf-8"),
                "idempotency_key": key,
                "attachment": attachment,
            }
            for entry, key, attachment in items
        ]
        try:
            # Parameters apart from the statement: it is compiled once and cached ("insertmanyvalues").
            statement = insert(table).returning(table.c.seq, replaced, sort_by_parameter_order=True)
            result = await self._s.execute(statement, rows)
        except IntegrityError as exc:
            # uq_ledger_entries_vote_id_idempotency_key: the same update arrived twice at once (two processes);
            # otherwise the append trigger or uq_ledger_entries_vote_id_seq refused an entry that does not
            # follow the head. Nothing of the statement is kept.
            if "idempotency_key" in str(exc.orig):
                raise DuplicateSubmissionError(next((k for _e, k, _a in items if k), "")) from exc
            # "ledger: ..." from the append trigger: the head moved, or the vote no longer accepts entries.
            raise ConflictError(f"ledger append refused: {exc.orig}") from exc
        before: dict[int, str | None] = {seq: choice for seq, choice in result}
        return [None if before.get(e.seq) is None else Choice(before[e.seq]) for e, _k, _a in items]

    async def receipts_for_keys(self, vote_id: int, keys: Sequence[str]) -> dict[str, str]:
        """Receipts of entries already recorded under these idempotency keys."""
        rows = await self._s.execute(
            select(t.LedgerEntry.idempotency_key, t.LedgerEntry.receipt).where(
                t.LedgerEntry.vote_id == vote_id, t.LedgerEntry.idempotency_key.in_(list(keys))
            )
        )
        return {key: receipt for key, receipt in rows if key is not None}

    async def current(self, vote_id: int) -> dict[str, Choice]:
        rows = await self._s.execute(
            select(t.CurrentBallot.owner_ref, t.CurrentBallot.choice).where(
                t.CurrentBallot.vote_id == vote_id, t.CurrentBallot.choice.is_not(None)
            )
        )
        return {owner: Choice(choice) for owner, choice in rows}

    async def entries(self, vote_id: int, upto_seq: int | None = None) -> AsyncIterator[LedgerEntry]:
        query = select(t.LedgerEntry.body).where(t.LedgerEntry.vote_id == vote_id).order_by(t.LedgerEntry.seq)
        if upto_seq is not None:
            query = query.where(t.LedgerEntry.seq <= upto_seq)
        result = await self._s.stream_scalars(query.execution_options(yield_per=2000))
        number = 0
        async for body in result:
            number += 1
            yield parse_entry_line(body, number)[0]

    async def of_owner(self, vote_id: int, owner_ref: str) -> list[LedgerEntry]:
        bodies = await self._s.scalars(
            select(t.LedgerEntry.body)
            .where(t.LedgerEntry.vote_id == vote_id, t.LedgerEntry.owner_ref == owner_ref)
            .order_by(t.LedgerEntry.seq)
        )
        return [parse_entry_line(body, 1)[0] for body in bodies]


@dataclass(frozen=True, slots=True)
class StoredTallyRow:
    stage: str
    payload: bytes
    signature: bytes
    public_key: bytes


class SqlTallies:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(
        self, vote_id: int, stage: str, payload: bytes, signature: bytes, public_key: bytes, now: datetime
    ) -> None:
        self._s.add(
            t.SignedTally(
                vote_id=vote_id, stage=stage, payload=payload, signature=signature, public_key=public_key, signed_at=now
            )
        )
        try:
            await self._s.flush()
        except IntegrityError as exc:  # uq_signed_tallies_vote_id_stage: closed twice at once
            raise ConflictError(f"vote {vote_id} already has a {stage} tally") from exc

    async def of_vote(self, vote_id: int) -> list[StoredTallyRow]:
        rows = await self._s.scalars(
            select(t.SignedTally).where(t.SignedTally.vote_id == vote_id).order_by(t.SignedTally.id)
        )
        return [StoredTallyRow(r.stage, r.payload, r.signature, r.public_key) for r in rows]


def _account(row: t.Account) -> Account:
    return Account(row.id, row.telegram_id, row.language, row.active, row.name, row.current_community_id)


class SqlAccounts:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def _row(self, telegram_id: int) -> t.Account | None:
        return await self._s.scalar(select(t.Account).where(t.Account.telegram_id == telegram_id))

    async def get_or_add(self, telegram_id: int, name: str, now: datetime, app_locale: str | None = None) -> Account:
        row = await self._row(telegram_id)
        if row is None:
            row = t.Account(
                telegram_id=telegram_id, name=name[:200], active=True, created_at=now, app_language=app_locale
            )
            self._s.add(row)
            try:
                async with self._s.begin_nested():
                    await self._s.flush()
            except IntegrityError:  # uq_accounts_telegram_id: the user's first two updates raced
                row = await self._row(telegram_id)
                if row is None:
                    raise
        else:
            if name and row.name != name[:200]:
                row.name = name[:200]
            row.active = True  # a user who writes to the bot has not blocked it (any more)
            if app_locale and row.app_language != app_locale:
                row.app_language = app_locale
            await self._s.flush()
        return _account(row)

    async def find(self, telegram_id: int) -> Account | None:
        row = await self._row(telegram_id)
        return None if row is None else _account(row)

    async def get(self, telegram_id: int) -> Account:
        row = await self._row(telegram_id)
        if row is None:
            raise NotFoundError("account", telegram_id)
        return _account(row)

    async def set_language(self, telegram_id: int, locale: str) -> None:
        await self._s.execute(update(t.Account).where(t.Account.telegram_id == telegram_id).values(language=locale))

    async def set_active(self, telegram_id: int, active: bool) -> None:
        await self._s.execute(update(t.Account).where(t.Account.telegram_id == telegram_id).values(active=active))

    async def set_current_community(self, telegram_id: int, community_id: int | None) -> None:
        await self._s.execute(
            update(t.Account).where(t.Account.telegram_id == telegram_id).values(current_community_id=community_id)
        )


def _invite(row: t.InviteCode) -> Invite:
    return Invite(
        row.id,
        row.community_id,
        row.unit_id,
        row.owner_key,
        row.code,
        utc_opt(row.expires_at),
        utc_opt(row.revoked_at),
        utc_opt(row.used_at),
    )


class SqlInvites:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_many(self, invites: Sequence[Invite], now: datetime) -> list[Invite]:
        rows = [
            t.InviteCode(
                community_id=i.community_id,
                unit_id=i.unit_id,
                owner_key=i.owner_key,
                code=i.code,
                created_at=now,
                expires_at=i.expires_at,
            )
            for i in invites
        ]
        self._s.add_all(rows)
        try:
            await self._s.flush()
        except IntegrityError as exc:  # uq_invite_codes_code: a random code repeated (about 1 in 10^12)
            raise ConflictError("invite code collision; issue the codes again") from exc
        return [_invite(r) for r in rows]

    async def find(self, code: str) -> Invite | None:
        row = await self._s.scalar(select(t.InviteCode).where(t.InviteCode.code == code))
        return None if row is None else _invite(row)

    async def revoke_unused(self, community_id: int, unit_ids: Sequence[str], now: datetime) -> None:
        table = t.InviteCode
        for start in range(0, len(unit_ids), 500):
            await self._s.execute(
                update(table)
                .where(
                    table.community_id == community_id,
                    table.unit_id.in_(list(unit_ids[start : start + 500])),
                    table.used_at.is_(None),
                    table.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )

    async def mark_used(self, invite_id: int, account_id: int, now: datetime) -> None:
        result = await self._s.execute(
            update(t.InviteCode)
            .where(t.InviteCode.id == invite_id, t.InviteCode.used_at.is_(None))
            .values(used_at=now, used_by=account_id)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(f"invite {invite_id} was used at the same moment")


class SqlBindings:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, account_id: int, invite: Invite, now: datetime) -> int:
        row = t.Binding(
            account_id=account_id,
            community_id=invite.community_id,
            owner_key=invite.owner_key,
            invite_code_id=invite.id,
            created_at=now,
        )
        self._s.add(row)
        try:
            await self._s.flush()
        except IntegrityError as exc:  # uq_bindings_invite_code_id: the code was used at the same moment
            raise ConflictError(f"invite {invite.id} already made a binding") from exc
        return row.id

    async def _load(self, *conditions: Any) -> list[Binding]:
        b, a, c, i = t.Binding, t.Account, t.Community, t.InviteCode
        rows = (
            await self._s.execute(
                select(b, a.telegram_id, a.name, c.name.label("community_name"), i.unit_id)
                .join(a, a.id == b.account_id)
                .join(c, c.id == b.community_id)
                .join(i, i.id == b.invite_code_id)
                .where(*conditions)
                .order_by(b.community_id, i.unit_id, b.id)
            )
        ).all()
        units = await self._units({(r[0].community_id, r[0].owner_key) for r in rows})
        return [
            Binding(
                r[0].id,
                r[0].account_id,
                r.telegram_id,
                r.name,
                r[0].community_id,
                r.community_name,
                r[0].owner_key,
                r.unit_id,
                tuple(units.get((r[0].community_id, r[0].owner_key), ())),
                utc(r[0].created_at),
                utc_opt(r[0].revoked_at),
            )
            for r in rows
        ]

    async def _units(self, owners: set[tuple[int, str]]) -> dict[tuple[int, str], list[tuple[str, int]]]:
        """Each owner's units (id, area) in their community's latest roster version.

        Only the owners' own rows are read: an owner key selects its units as Unit.owner_key derives it
        (every unsold or undelivered unit for the developer, the sold units under a name, or one unit).
        """
        found: dict[tuple[int, str], list[tuple[str, int]]] = {}
        units = t.RosterUnit
        for community in {community for community, _owner in owners}:
            version = await self._s.scalar(
                select(t.RosterVersion.id)
                .where(t.RosterVersion.community_id == community)
                .order_by(t.RosterVersion.version.desc())
                .limit(1)
            )
            if version is None:
                continue
            wanted = {owner for c, owner in owners if c == community}
            selectors = []
            for key in wanted:
                if key == DEVELOPER:
                    selectors.append(units.status != str(UnitStatus.SOLD))
                elif key.startswith("owner:"):
                    selectors.append(and_(units.status == str(UnitStatus.SOLD), units.owner == key[len("owner:") :]))
                elif key.startswith("unit:"):
                    selectors.append(
                        and_(
                            units.status == str(UnitStatus.SOLD),
                            units.owner == "",
                            units.unit_id == key[len("unit:") :],
                        )
                    )
            if not selectors:
                continue
            rows = await self._s.execute(
                select(units.unit_id, units.area, units.owner, units.status)
                .where(units.roster_version_id == version, or_(*selectors))
                .order_by(units.unit_id)
            )
            for unit_id, area, owner, status in rows:
                key = Unit(unit_id, area, owner, UnitStatus(status)).owner_key
                if key in wanted:
                    found.setdefault((community, key), []).append((unit_id, area))
        return found

    async def get(self, binding_id: int) -> Binding:
        found = await self._load(t.Binding.id == binding_id)
        if not found:
            raise NotFoundError("binding", binding_id)
        return found[0]

    async def by_invite(self, invite_id: int) -> Binding | None:
        found = await self._load(t.Binding.invite_code_id == invite_id)
        return found[0] if found else None

    async def of_account(self, account_id: int) -> list[Binding]:
        return await self._load(t.Binding.account_id == account_id, t.Binding.revoked_at.is_(None))

    async def of_community(self, community_id: int) -> list[Binding]:
        return await self._load(t.Binding.community_id == community_id, t.Binding.revoked_at.is_(None))

    async def revoke(self, binding_id: int, now: datetime) -> None:
        await self._s.execute(
            update(t.Binding).where(t.Binding.id == binding_id, t.Binding.revoked_at.is_(None)).values(revoked_at=now)
        )


class SqlRoles:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def grant(self, account_id: int, community_id: int, role: Role, now: datetime) -> None:
        exists = await self._s.scalar(
            select(t.Role.id).where(
                t.Role.account_id == account_id, t.Role.community_id == community_id, t.Role.role == str(role)
            )
        )
        if exists is None:
            self._s.add(t.Role(account_id=account_id, community_id=community_id, role=str(role), granted_at=now))
            try:
                await self._s.flush()
            except IntegrityError as exc:  # uq_roles_account_id_community_id_role: granted twice at once
                raise ConflictError("role granted twice at once") from exc

    async def of_account(self, account_id: int) -> list[tuple[int, Role]]:
        rows = await self._s.execute(
            select(t.Role.community_id, t.Role.role).where(t.Role.account_id == account_id).order_by(t.Role.id)
        )
        return [(community, Role(role)) for community, role in rows]

    async def revoke(self, account_id: int, community_id: int, role: Role) -> bool:
        result = await self._s.execute(
            delete(t.Role).where(
                t.Role.account_id == account_id, t.Role.community_id == community_id, t.Role.role == str(role)
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def holders(self, community_id: int, role: Role) -> list[Recipient]:
        rows = await self._s.execute(
            select(t.Account.telegram_id, func.coalesce(t.Account.language, t.Account.app_language))
            .join(t.Role, t.Role.account_id == t.Account.id)
            .where(t.Role.community_id == community_id, t.Role.role == str(role), t.Account.active.is_(True))
            .order_by(t.Account.telegram_id)
        )
        return [Recipient(telegram_id, language) for telegram_id, language in rows]
