"""The use cases on a real database (SQLite file and PostgreSQL): open, cast, close, sign, export, verify."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import tables as t
from storage.uow import UnitOfWorkFactory
from tests.factories import roster_a
from voting import services
from voting.audit import find_receipt, generate_private_key, verify_bundle
from voting.errors import (
    DuplicateSubmissionError,
    OutOfScopeError,
    VoteClosedError,
    VoteNotOpenError,
)
from voting.ledger import EntryKind
from voting.model import Choice, Roster, Scope, Unit
from voting.rules import preset
from voting.votes import Vote, VoteStatus

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
KEY = b"k" * 32


WHOLE = Scope()


async def _setup(
    uow: UnitOfWorkFactory, roster: Roster, *, scope: Scope = WHOLE, rule: str = "double-two-thirds"
) -> int:
    community = await services.create_community(uow(), "幸福里小区", T0)
    await services.import_roster(uow(), community, roster, "roster.csv", b"raw", "worker:1", T0)
    vote = Vote(community, "加装电梯", "是否同意加装电梯", preset(rule), scope, T0, T0 + timedelta(days=7))
    vote_id = await services.create_vote(uow(), vote, T0)
    await services.open_vote(uow(), vote_id, T0, KEY)
    return vote_id


async def test_roster_a_vote_end_to_end_signs_a_tally_the_auditor_can_verify(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    now = T0 + timedelta(hours=1)
    r1 = await services.cast_ballot(uow(), vote_id, "101", Choice.DISAGREE, actor="account:1", now=now)
    r1b = await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=now)
    await services.cast_ballot(uow(), vote_id, "102", Choice.DISAGREE, actor="account:2", now=now)
    photo = b"\x89PNG scanned paper"
    await services.cast_ballot(
        uow(), vote_id, "202", Choice.AGREE, actor="worker:9", now=now, kind=EntryKind.PAPER, attachment=photo
    )
    assert r1.replaced is None and r1b.replaced is Choice.DISAGREE and r1b.seq == 2
    signed = await services.close_vote(uow(), vote_id, T0 + timedelta(days=7), generate_private_key())
    data = signed.data()
    assert data["passed"] is True
    assert data["counts"]["agree"] == {"area_m2": "240.00", "headcount": 2}
    assert data["ledger_head"]["seq"] == 4

    out = io.BytesIO()
    await services.export_bundle(uow(), vote_id, out, summary="摘要 / summary")
    report = verify_bundle(out.getvalue())
    assert report.ok, [f.message() for f in report.failures]
    assert report.entries == 4
    assert find_receipt(out.getvalue(), r1b.receipt) is not None

    public = io.BytesIO()
    await services.export_bundle(uow(), vote_id, public, summary="", pseudonymise=True)
    assert verify_bundle(public.getvalue()).ok
    with zipfile.ZipFile(io.BytesIO(public.getvalue())) as zf:
        assert zf.read("roster.csv").decode().splitlines()[0] == "unit_ref,owner_ref,area_m2,status"
        assert "pseudonym_key.txt" not in zf.namelist()
    assert find_receipt(public.getvalue(), r1b.receipt) is not None


async def test_a_ballot_after_the_deadline_is_refused_and_nothing_is_written(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    with pytest.raises(VoteClosedError):
        await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0 + timedelta(days=7))
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(t.LedgerEntry)) == 0


async def test_a_ballot_before_opening_is_refused(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community = await services.create_community(uow(), "c", T0)
    await services.import_roster(uow(), community, roster_a(), "r.csv", b"", "w", T0)
    vote_id = await services.create_vote(
        uow(), Vote(community, "t", "x", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=1)), T0
    )
    with pytest.raises(VoteNotOpenError):
        await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0)


async def test_the_same_update_twice_makes_one_ballot(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    first = await services.cast_ballot(
        uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0, idempotency_key="tg-update:77"
    )
    with pytest.raises(DuplicateSubmissionError) as info:
        await services.cast_ballot(
            uow(), vote_id, "101", Choice.DISAGREE, actor="account:1", now=T0, idempotency_key="tg-update:77"
        )
    assert info.value.receipt == first.receipt
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(t.LedgerEntry)) == 1


async def test_a_unit_outside_the_scope_cannot_vote(engine: AsyncEngine) -> None:
    roster = Roster.of(
        [Unit("1-1-101", 6000, "a", building="1", entrance="1"), Unit("1-2-101", 6000, "b", building="1", entrance="2")]
    )
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster, scope=Scope("1", "1"))
    with pytest.raises(OutOfScopeError):
        await services.cast_ballot(uow(), vote_id, "1-2-101", Choice.AGREE, actor="account:2", now=T0)
    _vote, result = await services.current_tally(uow(), vote_id)
    assert result.total.headcount == 1  # the denominator comes from the scope alone


async def test_a_later_roster_version_does_not_change_an_open_vote(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    vote = await _get(uow, vote_id)
    bigger = Roster.of([*roster_a(), Unit("301", 10000, "p9")])
    await services.import_roster(uow(), vote.community_id, bigger, "roster2.csv", b"2", "worker:1", T0)
    _vote, result = await services.current_tally(uow(), vote_id)
    assert result.total.area == 30000
    with pytest.raises(OutOfScopeError):
        await services.cast_ballot(uow(), vote_id, "301", Choice.AGREE, actor="account:9", now=T0)


async def _insert_raw(engine: AsyncEngine, vote_id: int, entry: object, at: datetime) -> None:
    """Insert a ledger row directly, bypassing the use cases, as buggy or hostile code would."""
    from voting.ledger import LedgerEntry

    assert isinstance(entry, LedgerEntry)
    async with engine.begin() as conn:
        await conn.execute(
            t.LedgerEntry.__table__.insert().values(
                vote_id=vote_id,
                seq=entry.seq,
                prev_hash=entry.prev_hash,
                entry_hash=entry.entry_hash,
                receipt=entry.receipt,
                kind=str(entry.kind),
                owner_ref=entry.owner_ref,
                choice=None if entry.choice is None else str(entry.choice),
                actor=entry.actor,
                at=at,
                body=entry.line().decode(),
            )
        )


async def _get(uow: UnitOfWorkFactory, vote_id: int) -> Vote:
    async with uow() as u:
        return await u.votes.get(vote_id)


async def test_closing_twice_returns_the_same_signed_tally_and_correction_then_final(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0)
    await services.cast_ballot(uow(), vote_id, "201", Choice.DISAGREE, actor="worker:2", now=T0, kind=EntryKind.PAPER)
    key = generate_private_key()
    first = await services.close_vote(uow(), vote_id, T0 + timedelta(days=8), key)
    again = await services.close_vote(uow(), vote_id, T0 + timedelta(days=9), key)
    assert first.payload == again.payload
    assert first.data()["passed"] is False
    with pytest.raises(VoteClosedError):
        await services.cast_ballot(uow(), vote_id, "102", Choice.AGREE, actor="account:2", now=T0 + timedelta(days=8))
    # objection: p3 says their paper ballot was recorded wrongly; the worker corrects it with a reason
    await services.cast_ballot(
        uow(),
        vote_id,
        "201",
        Choice.AGREE,
        actor="worker:2",
        now=T0 + timedelta(days=9),
        kind=EntryKind.CORRECTION,
        reason="paper ballot misread: 同意",
    )
    final = await services.finalize_vote(uow(), vote_id, T0 + timedelta(days=12), key)
    assert final.data()["passed"] is True  # p1 and p3 agree: 240.00 of 300.00 m² and 2 of 3 owners
    assert final.data()["counts"]["agree"] == {"area_m2": "240.00", "headcount": 2}
    out = io.BytesIO()
    await services.export_bundle(uow(), vote_id, out, summary="")
    report = verify_bundle(out.getvalue(), key.public_key())
    assert report.ok, [f.message() for f in report.failures]
    assert [t["stage"] for t in report.tallies] == ["preliminary", "final"]
    assert (await _get(uow, vote_id)).status is VoteStatus.FINAL


@pytest.mark.parametrize("writers", [16])
async def test_concurrent_casts_never_fork_skip_or_lose_a_ballot(engine: AsyncEngine, writers: int) -> None:
    units = [Unit(f"u{i:03d}", 5000 + i, f"o{i}") for i in range(writers * 5)]
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, Roster.of(units))

    async def writer(w: int) -> list[int]:
        seqs = []
        for j in range(5):
            unit = units[w * 5 + j].unit_id
            for choice in (Choice.DISAGREE, Choice.AGREE):
                while True:
                    try:
                        receipt = await services.cast_ballot(uow(), vote_id, unit, choice, actor=f"account:{w}", now=T0)
                        break
                    except services_conflict():  # the database decided a race; the ballot was not written
                        await asyncio.sleep(0.01)
                seqs.append(receipt.seq)
        return seqs

    results = await asyncio.gather(*(writer(w) for w in range(writers)))
    seqs = sorted(s for r in results for s in r)
    assert seqs == list(range(1, writers * 10 + 1))
    _vote, result = await services.current_tally(uow(), vote_id)
    assert result.agree.headcount == writers * 5
    signed = await services.close_vote(uow(), vote_id, T0 + timedelta(days=7), generate_private_key())
    out = io.BytesIO()
    await services.export_bundle(uow(), vote_id, out, summary="")
    report = verify_bundle(out.getvalue())
    assert report.ok, [f.message() for f in report.failures]
    assert signed.data()["ledger_head"]["seq"] == writers * 10


def services_conflict() -> type[Exception]:
    from voting.errors import ConflictError

    return ConflictError


async def test_the_database_itself_refuses_an_entry_that_does_not_follow_the_head(engine: AsyncEngine) -> None:
    """Even code that bypasses the use case cannot fork the chain: the head trigger refuses it."""
    from sqlalchemy.exc import IntegrityError

    from voting.ledger import next_entry, utc_iso

    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    first = await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0)
    async with uow() as u:
        refs = await u.votes.frozen_unit(vote_id, "102")
    assert refs is not None
    fork = next_entry(
        0,
        "",
        vote_id=str(vote_id),
        kind=EntryKind.CAST,
        unit_ref=refs[0],
        owner_ref=refs[1],
        choice=Choice.AGREE,
        actor="account:2",
        at=utc_iso(T0),
    )  # a second seq 1
    skip = next_entry(
        5,
        first.entry_hash,
        vote_id=str(vote_id),
        kind=EntryKind.CAST,
        unit_ref=refs[0],
        owner_ref=refs[1],
        choice=Choice.AGREE,
        actor="account:2",
        at=utc_iso(T0),
    )  # seq 6
    for bad in (fork, skip):
        with pytest.raises(IntegrityError):
            await _insert_raw(engine, vote_id, bad, T0)
    vote = await _get(uow, vote_id)
    assert (vote.head_seq, vote.head_hash) == (1, first.entry_hash)


async def test_a_batch_records_each_ballot_or_its_refusal_in_order(engine: AsyncEngine) -> None:
    from voting.services import BallotRequest

    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    first = await services.cast_ballot(uow(), vote_id, "101", Choice.DISAGREE, actor="a", now=T0, idempotency_key="k0")
    outcome = await services.cast_ballots(
        uow(),
        vote_id,
        [
            BallotRequest("101", Choice.AGREE, "a", T0, idempotency_key="k1"),
            BallotRequest("999", Choice.AGREE, "b", T0),  # not in the roster
            BallotRequest("201", Choice.AGREE, "c", T0, idempotency_key="k1"),  # same key twice in one batch
            BallotRequest("202", Choice.ABSTAIN, "c", T0, idempotency_key="k0"),  # key already recorded
            BallotRequest("201", Choice.DISAGREE, "c", T0),
            BallotRequest("202", Choice.AGREE, "c", T0),  # p3 again, through the other unit
        ],
    )
    r1, out, dup, old, p3a, p3b = outcome.results
    assert outcome.vote.head_seq == 4
    assert isinstance(r1, services.BallotReceipt) and r1.replaced is Choice.DISAGREE and r1.seq == 2
    assert isinstance(out, OutOfScopeError)
    assert isinstance(dup, DuplicateSubmissionError) and dup.receipt == r1.receipt
    assert isinstance(old, DuplicateSubmissionError) and old.receipt == first.receipt
    assert isinstance(p3a, services.BallotReceipt) and p3a.replaced is None and p3a.seq == 3
    assert isinstance(p3b, services.BallotReceipt) and p3b.replaced is Choice.DISAGREE and p3b.seq == 4
    _vote, result = await services.current_tally(uow(), vote_id)
    assert result.agree.headcount == 2 and result.participating.headcount == 2


async def test_the_appender_groups_concurrent_ballots_and_loses_none(engine: AsyncEngine) -> None:
    from bot.appender import LedgerAppender
    from voting.services import BallotRequest

    units = [Unit(f"u{i:03d}", 5000 + i, f"o{i}") for i in range(60)]
    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, Roster.of(units))
    appender = LedgerAppender(uow)
    requests = [BallotRequest(u.unit_id, Choice.AGREE, "a", T0, idempotency_key=f"k{i}") for i, u in enumerate(units)]
    requests.append(BallotRequest("u000", Choice.DISAGREE, "a", T0, idempotency_key="k0"))  # a replayed update
    outcomes = await asyncio.gather(*(appender.cast(vote_id, r) for r in requests), return_exceptions=True)
    receipts = [o for o in outcomes if isinstance(o, services.BallotReceipt)]
    assert sorted(r.seq for r in receipts) == list(range(1, 61))
    assert isinstance(outcomes[-1], DuplicateSubmissionError)
    async with engine.connect() as conn:
        commits_hint = await conn.scalar(select(func.count()).select_from(t.LedgerEntry))
    assert commits_hint == 60
    out = io.BytesIO()
    await services.close_vote(uow(), vote_id, T0 + timedelta(days=7), generate_private_key())
    await services.export_bundle(uow(), vote_id, out, summary="")
    assert verify_bundle(out.getvalue()).ok


async def test_the_appender_recovers_when_what_it_knew_went_stale(engine: AsyncEngine) -> None:
    """Another process appends, a key is replayed, the vote closes: the database refuses, the appender
    re-reads the vote and every caller gets the right answer."""
    from bot.appender import LedgerAppender
    from voting.services import BallotRequest

    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    ours, theirs = LedgerAppender(uow), LedgerAppender(UnitOfWorkFactory(engine))
    first = await ours.cast(vote_id, BallotRequest("101", Choice.AGREE, "a", T0, idempotency_key="u1"))
    await theirs.cast(vote_id, BallotRequest("102", Choice.DISAGREE, "b", T0))  # moves the head under `ours`
    third = await ours.cast(vote_id, BallotRequest("201", Choice.AGREE, "c", T0))
    assert (first.seq, third.seq) == (1, 3)
    with pytest.raises(DuplicateSubmissionError) as replay:
        await ours.cast(vote_id, BallotRequest("101", Choice.DISAGREE, "a", T0, idempotency_key="u1"))
    assert replay.value.receipt == first.receipt
    await services.close_vote(uow(), vote_id, T0 + timedelta(days=1), generate_private_key(), early=True)
    with pytest.raises(VoteClosedError):
        await ours.cast(vote_id, BallotRequest("202", Choice.AGREE, "c", T0 + timedelta(days=2)))
    out = io.BytesIO()
    await services.export_bundle(uow(), vote_id, out, summary="")
    report = verify_bundle(out.getvalue())
    assert report.ok and report.entries == 3


async def test_the_database_refuses_an_entry_for_a_vote_that_is_not_open(engine: AsyncEngine) -> None:
    from sqlalchemy.exc import IntegrityError

    from voting.ledger import next_entry, utc_iso

    uow = UnitOfWorkFactory(engine)
    vote_id = await _setup(uow, roster_a())
    async with uow() as u:
        refs = await u.votes.frozen_unit(vote_id, "101")
    assert refs is not None
    late = T0 + timedelta(days=7)  # the closing time itself is already too late
    entry = next_entry(
        0,
        "",
        vote_id=str(vote_id),
        kind=EntryKind.CAST,
        unit_ref=refs[0],
        owner_ref=refs[1],
        choice=Choice.AGREE,
        actor="x",
        at=utc_iso(late),
    )
    with pytest.raises(IntegrityError, match="does not accept"):
        await _insert_raw(engine, vote_id, entry, late)
