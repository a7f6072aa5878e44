"""A vote's life after launch, as workers and residents take part in it: extending the deadline,
reminders, ballots a worker enters (paper, door-to-door, proxy), turnout by building, the objection
period with its corrections, and who is told what.

Every use case checks the caller's role in the vote's community inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voting.audit import SignedTally
from voting.errors import (
    BatchRefusedError,
    ExtensionError,
    NotFoundError,
    ObjectionError,
    OutOfScopeError,
    VoteNotOpenError,
    VoteStateError,
    VotingError,
)
from voting.ledger import EntryKind, FrozenRoster
from voting.model import Choice
from voting.ports import UnitOfWork
from voting.residents import Account, Role, check_role
from voting.services import BallotReceipt, BallotRequest, finalize_vote, record_ballots
from voting.tally import TallyResult
from voting.votes import Vote, VoteStatus

__all__ = [
    "BuildingCount",
    "Objection",
    "Recipient",
    "VoteEvent",
    "WorkerBallot",
    "building_turnout",
    "extend_vote",
    "file_objection",
    "finalize_when_due",
    "objections_of",
    "owner_units",
    "recipients",
    "record_worker_ballots",
    "resolve_objection",
    "set_reminder",
    "turnout",
    "worker_actor",
]

WORKER_KINDS = (EntryKind.PAPER, EntryKind.DOOR_TO_DOOR, EntryKind.PROXY)


def worker_actor(telegram_id: int) -> str:
    """How a worker appears in the ledger and the event log."""
    return f"worker:{telegram_id}"


@dataclass(frozen=True, slots=True)
class Recipient:
    telegram_id: int
    language: str | None


@dataclass(frozen=True, slots=True)
class VoteEvent:
    vote_id: int
    at: datetime
    actor: str
    kind: str  # extended, reminder-set, closed-early, objection, objection-resolved, ...
    detail: str


@dataclass(frozen=True, slots=True)
class Objection:
    id: int
    vote_id: int
    account_id: int
    telegram_id: int
    owner_key: str
    unit_id: str
    text: str
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    correction_seq: int | None = None


@dataclass(frozen=True, slots=True)
class BuildingCount:
    """Turnout of one building: homes and area that have a ballot counting now."""

    building: str
    units: int
    voted_units: int
    area: int
    voted_area: int


async def _vote_as(uow: UnitOfWork, telegram_id: int, vote_id: int, role: Role) -> tuple[Vote, Account]:
    vote = await uow.votes.get(vote_id, lock=True)
    account = await check_role(uow, telegram_id, vote.community_id, role)
    return vote, account


async def extend_vote(
    uow: UnitOfWork, telegram_id: int, vote_id: int, closes_at: datetime, now: datetime, *, reason: str = ""
) -> Vote:
    """Move an open (or scheduled) vote's deadline later; logged with the worker, both times and the reason."""
    async with uow:
        vote, _account = await _vote_as(uow, telegram_id, vote_id, Role.WORKER)
        if vote.status not in (VoteStatus.SCHEDULED, VoteStatus.OPEN) or now >= vote.closes_at:
            raise ExtensionError(vote_id, "state")
        if closes_at <= now:
            raise ExtensionError(vote_id, "past")
        if closes_at <= vote.closes_at:
            raise ExtensionError(vote_id, "not_later")
        extended = replace(vote, closes_at=closes_at)
        await uow.votes.save(extended)
        detail = f"{vote.closes_at.isoformat()} -> {closes_at.isoformat()}" + (f": {reason}" if reason else "")
        await uow.votes.add_event(vote_id, "extended", worker_actor(telegram_id), detail, now)
        await uow.commit()
    return extended


async def set_reminder(uow: UnitOfWork, telegram_id: int, vote_id: int, hhmm: str | None, now: datetime) -> Vote:
    """Daily reminders at local `hhmm` to owners in scope who have not voted; None stops them."""
    async with uow:
        vote, _account = await _vote_as(uow, telegram_id, vote_id, Role.WORKER)
        if vote.status not in (VoteStatus.SCHEDULED, VoteStatus.OPEN):
            raise VoteStateError(vote_id, str(vote.status), "set reminders")
        changed = replace(vote, reminder_time=hhmm)
        await uow.votes.save(changed)
        await uow.votes.add_event(vote_id, "reminder-set", worker_actor(telegram_id), hhmm or "off", now)
        await uow.commit()
    return changed


@dataclass(frozen=True, slots=True)
class WorkerBallot:
    """A ballot a worker enters for an owner: collected on paper, at the door, or through a proxy."""

    unit_id: str
    choice: Choice | None
    kind: EntryKind
    proxy_name: str | None = None
    attachment: bytes | None = None  # the photo of the signed paper: kept, its SHA-256 in the entry
    idempotency_key: str | None = None


async def record_worker_ballots(
    uow: UnitOfWork, telegram_id: int, vote_id: int, ballots: Sequence[WorkerBallot], now: datetime
) -> list[BallotReceipt]:
    """Record ballots a worker entered, all or nothing: if any is refused (unit out of scope, entered
    before, vote closed), BatchRefusedError lists each refused one by position (1-based) and nothing
    is stored. The worker is the actor of each entry."""
    for ballot in ballots:
        if ballot.kind not in WORKER_KINDS:
            raise ValueError(f"a worker enters paper, door-to-door or proxy ballots, not {ballot.kind}")
        if ballot.kind is EntryKind.PROXY and not (ballot.proxy_name or "").strip():
            raise ValueError("a proxy ballot names the proxy")
    actor = worker_actor(telegram_id)
    requests = [
        BallotRequest(
            b.unit_id,
            b.choice,
            actor,
            now,
            b.kind,
            b.idempotency_key,
            proxy_name=b.proxy_name.strip() if b.proxy_name else None,
            attachment=b.attachment,
        )
        for b in ballots
    ]
    async with uow:
        await _vote_as(uow, telegram_id, vote_id, Role.WORKER)
        outcome = await record_ballots(uow, vote_id, requests)
        problems = [(i, r) for i, r in enumerate(outcome.results, start=1) if isinstance(r, VotingError)]
        if problems:
            raise BatchRefusedError(problems)  # leaving without commit rolls every entry back
        await uow.commit()
    return [r for r in outcome.results if isinstance(r, BallotReceipt)]


def building_turnout(frozen: FrozenRoster, choices: dict[str, Choice]) -> list[BuildingCount]:
    """Per building, the homes and area whose owner has a ballot counting now (`choices` by owner_ref)."""
    counts: dict[str, list[int]] = {}
    for unit in frozen.units:
        row = counts.setdefault(unit.building, [0, 0, 0, 0])
        voted = unit.owner_ref in choices
        row[0] += 1
        row[1] += voted
        row[2] += unit.area
        row[3] += unit.area if voted else 0
    return [BuildingCount(b, *counts[b]) for b in sorted(counts, key=_natural)]


async def turnout(uow: UnitOfWork, vote_id: int) -> tuple[Vote, TallyResult, list[BuildingCount]]:
    """The count as it stands and the turnout by building, from one read of the frozen roster and
    the current ballots (the same snapshot for both)."""
    async with uow:
        vote = await uow.votes.get(vote_id)
        if vote.status is VoteStatus.SCHEDULED:
            raise VoteNotOpenError(vote_id, str(vote.status), "count before the vote opens")
        frozen = await uow.votes.frozen(vote_id)
        choices = await uow.ledger.current(vote_id)
    result = frozen.count(vote.rule, choices, non_voters_follow_majority=vote.non_voters_follow_majority)
    return vote, result, building_turnout(frozen, choices)


def _natural(label: str) -> tuple[int, int, str]:
    """Buildings as people count them: 2 before 10."""
    digits = "".join(ch for ch in label if ch.isdigit())
    return (0, int(digits), label) if digits else (1, 0, label)


async def recipients(uow: UnitOfWork, vote_id: int, *, non_voters_only: bool = False) -> list[Recipient]:
    """Active accounts bound to owners in the vote's frozen roster — found from the roster, not from
    chat membership; with `non_voters_only`, only owners with no ballot counting now."""
    async with uow:
        return await uow.votes.recipients(vote_id, non_voters_only=non_voters_only)


async def file_objection(uow: UnitOfWork, telegram_id: int, vote_id: int, text: str, now: datetime) -> Objection:
    """A resident disputes how their own ballot was recorded, during the objection period."""
    text = text.strip()
    if not text:
        raise ObjectionError(vote_id, "empty")
    async with uow:
        vote = await uow.votes.get(vote_id, lock=True)  # so finalizing waits for, or sees, this objection
        if vote.status is not VoteStatus.CLOSED:
            raise ObjectionError(vote_id, "not_closed")
        if vote.objection_until is not None and now >= vote.objection_until:
            raise ObjectionError(vote_id, "period_over")
        account = await uow.accounts.find(telegram_id)
        bindings = [] if account is None else await uow.bindings.of_account(account.id)
        for binding in bindings:
            if binding.community_id != vote.community_id:
                continue
            for unit_id, _area in binding.units:
                if await uow.votes.frozen_unit(vote_id, unit_id) is not None:
                    assert account is not None
                    objection_id = await uow.objections.add(
                        vote_id, account.id, binding.owner_key, unit_id, text[:2000], now
                    )
                    await uow.votes.add_event(vote_id, "objection", f"account:{telegram_id}", str(objection_id), now)
                    filed = await _objection(uow, objection_id)
                    await uow.commit()
                    return filed
        raise OutOfScopeError(vote_id, "")


async def _objection(uow: UnitOfWork, objection_id: int) -> Objection:
    found = await uow.objections.get(objection_id)
    if found is None:
        raise NotFoundError("objection", objection_id)
    return found


async def objections_of(
    uow: UnitOfWork, telegram_id: int, vote_id: int, *, open_only: bool = True
) -> tuple[Vote, list[Objection]]:
    async with uow:
        vote = await uow.votes.get(vote_id)
        await check_role(uow, telegram_id, vote.community_id, Role.WORKER)
        return vote, await uow.objections.of_vote(vote_id, open_only=open_only)


async def resolve_objection(
    uow: UnitOfWork,
    telegram_id: int,
    objection_id: int,
    resolution: str,
    now: datetime,
    *,
    correct_to: Choice | None = None,
) -> tuple[Objection, BallotReceipt | None]:
    """A worker answers an objection; with `correct_to` a correction entry with the resolution as its
    reason goes into the ledger in the same transaction. (A correction always names a choice: the
    ledger takes no withdrawal once the vote has closed; an owner who says they never voted is
    corrected to what they state, e.g. abstain, with the reason recorded.)"""
    resolution = resolution.strip()
    async with uow:
        objection = await _objection(uow, objection_id)
        vote, _account = await _vote_as(uow, telegram_id, objection.vote_id, Role.WORKER)
        if objection.resolved_at is not None:
            raise ObjectionError(vote.id, "resolved")
        if not resolution:
            raise ObjectionError(vote.id, "empty")
        receipt: BallotReceipt | None = None
        if correct_to is not None:
            request = BallotRequest(
                objection.unit_id,
                correct_to,
                worker_actor(telegram_id),
                now,
                EntryKind.CORRECTION,
                f"objection:{objection_id}",
                reason=resolution[:500],
            )
            (result,) = (await record_ballots(uow, vote.id, [request])).results
            if isinstance(result, VotingError):
                raise result
            receipt = result
        await uow.objections.resolve(
            objection_id, worker_actor(telegram_id), resolution[:2000], None if receipt is None else receipt.seq, now
        )
        await uow.votes.add_event(vote.id, "objection-resolved", worker_actor(telegram_id), str(objection_id), now)
        resolved = await _objection(uow, objection_id)
        await uow.commit()
    return resolved, receipt


async def finalize_when_due(uow: UnitOfWork, vote_id: int, now: datetime, key: Ed25519PrivateKey) -> SignedTally | int:
    """Sign the final tally once the objection period is over and every objection is resolved.

    Returns the signed tally, or the number of objections still open (nothing signed); before the
    period ends, VoteStateError."""
    async with uow:
        vote = await uow.votes.get(vote_id)
    if vote.status is VoteStatus.CLOSED and vote.objection_until is not None and now < vote.objection_until:
        raise VoteStateError(vote_id, str(vote.status), "finalize during the objection period")
    return await finalize_vote(uow, vote_id, now, key, unless_objections=True)


async def owner_units(uow: UnitOfWork, telegram_id: int, vote_id: int, unit_id: str) -> list[str] | None:
    """For a worker entering a ballot: the units of the home's owner in the vote's frozen roster
    (the ballot counts for all of them), or None when the unit is not in it."""
    async with uow:
        await _vote_as(uow, telegram_id, vote_id, Role.WORKER)
        refs = await uow.votes.frozen_unit(vote_id, unit_id)
        if refs is None:
            return None
        frozen = await uow.votes.frozen(vote_id)
    return sorted(u.unit_id for u in frozen.units if u.owner_ref == refs[1])
