"""Use cases: each takes a unit of work, does one transaction, and commits once.

Times come in as `now` (aware UTC); randomness (pseudonym keys) and keys come in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from voting.audit import BundleWriter, SignedTally, sign_tally, tally_payload
from voting.canonical import sha256_hex
from voting.errors import (
    N_,
    DuplicateSubmissionError,
    NotFoundError,
    OutOfScopeError,
    RuleError,
    VoteClosedError,
    VoteNotOpenError,
    VoteStateError,
    VotingError,
)
from voting.ledger import EntryKind, FrozenRoster, LedgerEntry, next_entry, utc_iso
from voting.model import Choice, Roster
from voting.ports import UnitOfWork
from voting.tally import TallyResult
from voting.votes import Vote, VoteStatus

__all__ = [
    "BallotReceipt",
    "BallotRequest",
    "BatchOutcome",
    "ImportedRoster",
    "add_vote",
    "cast_ballot",
    "cast_ballots",
    "check_accepts_ballots",
    "close_vote",
    "create_community",
    "create_vote",
    "current_tally",
    "export_bundle",
    "finalize_vote",
    "import_roster",
    "open_vote",
    "record_ballots",
]

WORKER_KINDS = frozenset({EntryKind.PAPER, EntryKind.DOOR_TO_DOOR, EntryKind.PROXY})


@dataclass(frozen=True, slots=True)
class ImportedRoster:
    roster_version_id: int
    version: int
    units: int
    owners: int
    total_area: int


@dataclass(frozen=True, slots=True)
class BallotReceipt:
    """What a voter is told: the receipt code, and whether an earlier ballot was replaced."""

    vote_id: int
    seq: int
    receipt: str
    choice: Choice | None
    replaced: Choice | None  # the owner's ballot that counted before, if any
    entry_hash: str


async def create_community(uow: UnitOfWork, name: str, now: datetime) -> int:
    async with uow:
        community_id = await uow.communities.add(name, now)
        await uow.commit()
    return community_id


async def import_roster(
    uow: UnitOfWork,
    community_id: int,
    roster: Roster,
    source_name: str,
    source_bytes: bytes,
    created_by: str,
    now: datetime,
) -> ImportedRoster:
    """Store a parsed roster as the community's next version; open votes keep the version they froze."""
    async with uow:
        await uow.communities.name(community_id)  # NotFoundError for an unknown community
        version_id, version = await uow.rosters.add_version(
            community_id, roster, source_name, sha256_hex(source_bytes), created_by, now
        )
        await uow.commit()
    total = roster.total
    return ImportedRoster(version_id, version, len(roster), total.headcount, total.area)


async def create_vote(uow: UnitOfWork, vote: Vote, now: datetime) -> int:
    """Store a vote as scheduled; its roster is frozen when it opens.

    Checked now rather than at opening time, so the worker hears it: the closing time is still in
    the future, and the scope holds homes of the current roster (ScopeError otherwise).
    """
    async with uow:
        vote_id = await add_vote(uow, vote, now)
        await uow.commit()
    return vote_id


async def add_vote(uow: UnitOfWork, vote: Vote, now: datetime) -> int:
    """`create_vote` inside the caller's transaction (a project stage stores its vote with the stage)."""
    if vote.closes_at <= max(vote.opens_at, now):
        raise RuleError(N_("closes_at: must be later than opens_at and than now"))
    await uow.communities.name(vote.community_id)
    version_id = vote.roster_version_id or await uow.rosters.latest(vote.community_id)
    if version_id is None:
        raise NotFoundError("roster of community", vote.community_id)
    (await uow.rosters.load(version_id)).restrict(vote.scope)
    return await uow.votes.add(replace(vote, status=VoteStatus.SCHEDULED), now)


async def open_vote(uow: UnitOfWork, vote_id: int, now: datetime, pseudonym_key: bytes) -> Vote:
    """Freeze the roster in scope (its hash goes into every signed tally) and start accepting ballots.

    Idempotent: opening an open vote returns it unchanged.
    """
    if len(pseudonym_key) < 16:
        raise ValueError("the pseudonym key needs at least 16 random bytes")
    async with uow:
        vote = await uow.votes.get(vote_id, lock=True)
        if vote.status is VoteStatus.OPEN:
            return vote
        if vote.status is not VoteStatus.SCHEDULED:
            raise VoteStateError(vote_id, str(vote.status), "open")
        if now >= vote.closes_at:
            raise VoteClosedError(vote_id, str(vote.status), "open after its closing time")
        version_id = vote.roster_version_id or await uow.rosters.latest(vote.community_id)
        if version_id is None:
            raise VoteStateError(vote_id, "without roster", "open")
        roster = (await uow.rosters.load(version_id)).restrict(vote.scope)
        frozen = FrozenRoster.build(roster, pseudonym_key)
        await uow.votes.freeze(vote_id, roster, frozen)
        opened = replace(
            vote,
            status=VoteStatus.OPEN,
            roster_version_id=version_id,
            roster_hash=frozen.roster_hash,
            pseudonym_key=pseudonym_key,
            opened_at=now,
            opens_at=min(vote.opens_at, now),
        )
        await uow.votes.save(opened)
        await uow.commit()
    return opened


def check_accepts_ballots(vote: Vote, now: datetime) -> None:
    """Raise VoteNotOpenError / VoteClosedError unless the vote takes ballots at `now` (for a chat's
    confirmation step, before anything is recorded; recording checks again)."""
    _check_can_record(vote, EntryKind.CAST, now)


def _check_can_record(vote: Vote, kind: EntryKind, now: datetime) -> None:
    if kind is EntryKind.CORRECTION:
        if vote.status is not VoteStatus.CLOSED:
            raise VoteStateError(vote.id, str(vote.status), "correct a ballot outside the objection period")
        return
    if vote.status is VoteStatus.SCHEDULED or (vote.status is VoteStatus.OPEN and now < vote.opens_at):
        raise VoteNotOpenError(vote.id, str(vote.status), "vote before the vote opens")
    if vote.status is not VoteStatus.OPEN or now >= vote.closes_at:
        raise VoteClosedError(vote.id, str(vote.status), "vote after the deadline")


@dataclass(frozen=True, slots=True)
class BallotRequest:
    """One ballot event to record: `unit_id` is any unit of the owner in scope; `choice` None withdraws."""

    unit_id: str
    choice: Choice | None
    actor: str
    now: datetime
    kind: EntryKind = EntryKind.CAST
    idempotency_key: str | None = None
    proxy_name: str | None = None
    reason: str | None = None
    attachment: bytes | None = None


class BatchOutcome(NamedTuple):
    vote: Vote  # the vote as it stands after the batch (its new ledger head)
    results: list[BallotReceipt | VotingError]


async def cast_ballots(
    uow: UnitOfWork, vote_id: int, requests: Sequence[BallotRequest], *, known: Vote | None = None
) -> BatchOutcome:
    """Record ballots of one vote in one transaction (group commit), in the order given.

    Each request gets its receipt or the VotingError that refused it (closed, out of scope, the
    same idempotency key seen before, ...); refused requests write nothing.

    Without `known`, the vote row is read and locked first, so concurrent batches queue, and every
    request is checked here. With `known` (the vote as the caller last saw it, head included) the
    read is skipped: the database's append trigger is the judge — it refuses an entry that does not
    follow the head or that the vote does not accept now — and any refusal, or a repeated
    idempotency key, fails the whole batch with ConflictError or DuplicateSubmissionError so the
    caller can retry without `known`.
    """
    async with uow:
        outcome = await record_ballots(uow, vote_id, requests, known=known)
        await uow.commit()
    return outcome


async def record_ballots(
    uow: UnitOfWork, vote_id: int, requests: Sequence[BallotRequest], *, known: Vote | None = None
) -> BatchOutcome:
    """cast_ballots inside a transaction the caller holds (and commits): for use cases that record
    ballots together with something else, e.g. a correction and the objection it resolves."""
    results: list[BallotReceipt | VotingError | None] = []
    vote = known if known is not None else await uow.votes.get(vote_id, lock=True)
    keys = [r.idempotency_key for r in requests if r.idempotency_key is not None]
    seen_keys = await uow.ledger.receipts_for_keys(vote_id, keys) if keys and known is None else {}
    head_seq, head_hash = vote.head_seq, vote.head_hash
    pending: list[tuple[int, LedgerEntry, BallotRequest]] = []
    for request in requests:
        key = request.idempotency_key
        try:
            if key is not None and key in seen_keys:
                raise DuplicateSubmissionError(key, seen_keys[key])
            if known is None:
                _check_can_record(vote, request.kind, request.now)
            refs = await uow.votes.frozen_unit(vote_id, request.unit_id)
            if refs is None:
                raise OutOfScopeError(vote_id, request.unit_id)
            entry = next_entry(
                head_seq,
                head_hash,
                vote_id=str(vote_id),
                kind=EntryKind.WITHDRAW if request.choice is None else request.kind,
                unit_ref=refs[0],
                owner_ref=refs[1],
                choice=request.choice,
                actor=request.actor,
                at=utc_iso(request.now),
                proxy_name=request.proxy_name,
                reason=request.reason,
                attachment_sha256=None if request.attachment is None else sha256_hex(request.attachment),
            )
        except VotingError as exc:
            results.append(exc)
            continue
        head_seq, head_hash = entry.seq, entry.entry_hash
        if key is not None:
            seen_keys[key] = entry.receipt
        pending.append((len(results), entry, request))
        results.append(None)
    if pending:
        # The database checks each entry, moves the head and sets the current ballot; it returns
        # each owner's choice from before this batch.
        before = await uow.ledger.append_many([(e, r.idempotency_key, r.attachment) for _i, e, r in pending])
        in_batch: dict[str, Choice | None] = {}
        for (index, entry, _request), previous in zip(pending, before, strict=True):
            replaced = in_batch.get(entry.owner_ref, previous)  # a stored None (withdrawn) counts too
            in_batch[entry.owner_ref] = entry.choice
            results[index] = BallotReceipt(vote_id, entry.seq, entry.receipt, entry.choice, replaced, entry.entry_hash)
    after = replace(vote, head_seq=head_seq, head_hash=head_hash)
    return BatchOutcome(after, [r for r in results if r is not None])


async def cast_ballot(
    uow: UnitOfWork,
    vote_id: int,
    unit_id: str,
    choice: Choice | None,
    *,
    actor: str,
    now: datetime,
    kind: EntryKind = EntryKind.CAST,
    idempotency_key: str | None = None,
    proxy_name: str | None = None,
    reason: str | None = None,
    attachment: bytes | None = None,
) -> BallotReceipt:
    """Record one ballot event (see cast_ballots); raise the VotingError that refuses it, if any."""
    request = BallotRequest(unit_id, choice, actor, now, kind, idempotency_key, proxy_name, reason, attachment)
    (result,) = (await cast_ballots(uow, vote_id, [request])).results
    if isinstance(result, VotingError):
        raise result
    return result


async def current_tally(uow: UnitOfWork, vote_id: int) -> tuple[Vote, TallyResult]:
    """The count as it stands now (turnout while open), from each owner's current ballot."""
    async with uow:
        vote = await uow.votes.get(vote_id)
        if vote.status is VoteStatus.SCHEDULED:
            raise VoteNotOpenError(vote_id, str(vote.status), "count before the vote opens")
        frozen = await uow.votes.frozen(vote_id)
        choices = await uow.ledger.current(vote_id)
    return vote, frozen.count(vote.rule, choices, non_voters_follow_majority=vote.non_voters_follow_majority)


async def _sign(
    uow: UnitOfWork, vote: Vote, stage: str, key: Ed25519PrivateKey, now: datetime
) -> tuple[SignedTally, TallyResult]:
    frozen = await uow.votes.frozen(vote.id)
    if frozen.roster_hash != vote.roster_hash:
        raise VoteStateError(vote.id, "inconsistent", "sign: the frozen roster no longer matches its hash")
    result = frozen.count(
        vote.rule, await uow.ledger.current(vote.id), non_voters_follow_majority=vote.non_voters_follow_majority
    )
    payload = tally_payload(
        vote,
        result,
        stage=stage,
        roster_hash=frozen.roster_hash,
        head_seq=vote.head_seq,
        head_hash=vote.head_hash,
        opened_at=utc_iso(vote.opened_at or vote.opens_at),
        closes_at=utc_iso(vote.closes_at),
        closed_at=utc_iso(vote.closed_at or now),
        signed_at=utc_iso(now),
    )
    signed = sign_tally(key, payload)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    await uow.tallies.add(vote.id, stage, signed.payload, signed.signature, public, now)
    return signed, result


async def close_vote(
    uow: UnitOfWork,
    vote_id: int,
    now: datetime,
    key: Ed25519PrivateKey,
    *,
    early: bool = False,
    objection_until: datetime | None = None,
) -> SignedTally:
    """Stop accepting ballots, count, and sign the preliminary tally. Idempotent.

    Before the deadline only with `early` (a worker's explicit decision); the closing time then
    becomes `now`. `objection_until` ends the objection period (corrections, then the final tally).
    """
    async with uow:
        vote = await uow.votes.get(vote_id, lock=True)
        if vote.status in (VoteStatus.CLOSED, VoteStatus.FINAL):
            stored = [s for s in await uow.tallies.of_vote(vote_id) if s.stage == "preliminary"]
            return SignedTally(stored[0].stage, stored[0].payload, stored[0].signature)
        if vote.status is not VoteStatus.OPEN:
            raise VoteStateError(vote_id, str(vote.status), "close")
        if now < vote.closes_at and not early:
            raise VoteStateError(vote_id, str(vote.status), "close before its deadline")
        closing = replace(
            vote,
            status=VoteStatus.CLOSED,
            closed_at=now,
            closes_at=min(vote.closes_at, now),
            objection_until=objection_until,
        )
        signed, _result = await _sign(uow, closing, "preliminary", key, now)
        await uow.votes.save(closing)
        await uow.commit()
    return signed


async def finalize_vote(
    uow: UnitOfWork, vote_id: int, now: datetime, key: Ed25519PrivateKey, *, unless_objections: bool = False
) -> SignedTally | int:
    """After the objection period: count again (corrections included) and sign the final tally. Idempotent.

    With `unless_objections`, nothing is signed while objections are open: their number is returned
    instead (counted under the vote's lock, which filing an objection takes too).
    """
    async with uow:
        vote = await uow.votes.get(vote_id, lock=True)
        if vote.status is VoteStatus.FINAL:
            stored = [s for s in await uow.tallies.of_vote(vote_id) if s.stage == "final"]
            return SignedTally(stored[0].stage, stored[0].payload, stored[0].signature)
        if vote.status is not VoteStatus.CLOSED:
            raise VoteStateError(vote_id, str(vote.status), "finalize")
        if unless_objections:
            still_open = len(await uow.objections.of_vote(vote_id, open_only=True))
            if still_open:
                return still_open
        final = replace(vote, status=VoteStatus.FINAL)
        signed, _result = await _sign(uow, final, "final", key, now)
        await uow.votes.save(final)
        await uow.commit()
    return signed


async def export_bundle(
    uow: UnitOfWork, vote_id: int, out: IO[bytes], *, summary: str, pseudonymise: bool = False
) -> dict[str, Any]:
    """Write the audit bundle of a closed vote to `out`; returns its manifest."""
    async with uow:
        vote = await uow.votes.get(vote_id)
        stored = await uow.tallies.of_vote(vote_id)
        if not stored:
            raise VoteStateError(vote_id, str(vote.status), "export before the vote is closed")
        frozen = await uow.votes.frozen(vote_id)
        writer = BundleWriter(
            out, vote_id=str(vote_id), frozen=frozen, pseudonym_key=None if pseudonymise else vote.pseudonym_key
        )
        async for entry in uow.ledger.entries(vote_id):
            writer.add_entry(entry)
        public_key = Ed25519PublicKey.from_public_bytes(stored[-1].public_key)
        tallies = [SignedTally(s.stage, s.payload, s.signature) for s in stored]
    return writer.finish(tallies, public_key, summary)
