"""A vote's life after launch on a real database (SQLite and PostgreSQL): extension, recipients
from the roster, worker-entered ballots, objections with corrections, the final tally, job claims."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.uow import UnitOfWorkFactory
from tests.factories import roster_a
from voting import drafts, lifecycle, residents, services
from voting.errors import (
    BatchRefusedError,
    DuplicateSubmissionError,
    ExtensionError,
    ObjectionError,
    OutOfScopeError,
    PermissionDeniedError,
    VoteStateError,
)
from voting.ledger import EntryKind
from voting.lifecycle import WorkerBallot
from voting.model import Choice, Scope
from voting.residents import Role
from voting.rules import preset
from voting.votes import Vote, VoteStatus

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
WORKER, OTHER_WORKER = 900, 901


async def _open_vote(uow: UnitOfWorkFactory) -> tuple[int, int, dict[str, str]]:
    community = await services.create_community(uow(), "幸福里小区", T0)
    await services.import_roster(uow(), community, roster_a(), "roster.csv", b"raw", "worker:1", T0)
    invites = await residents.issue_invites(uow(), community, None, T0, secrets.token_bytes)
    await residents.grant_role(uow(), WORKER, community, Role.WORKER, "社区小李", T0)
    elsewhere = await services.create_community(uow(), "别的小区", T0)
    await residents.grant_role(uow(), OTHER_WORKER, elsewhere, Role.WORKER, "别处", T0)
    vote = Vote(community, "加装电梯", "是否同意", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=7))
    vote_id = await services.create_vote(uow(), vote, T0)
    await services.open_vote(uow(), vote_id, T0, b"k" * 32)
    return community, vote_id, {i.unit_id: i.code for i in invites}


async def test_a_worker_extends_a_deadline_later_only_and_it_is_logged(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    _community, vote_id, _codes = await _open_vote(uow)
    later = T0 + timedelta(days=10)
    with pytest.raises(PermissionDeniedError):
        await lifecycle.extend_vote(uow(), OTHER_WORKER, vote_id, later, T0)
    with pytest.raises(ExtensionError) as earlier:
        await lifecycle.extend_vote(uow(), WORKER, vote_id, T0 + timedelta(days=3), T0)
    assert earlier.value.reason == "not_later"
    extended = await lifecycle.extend_vote(uow(), WORKER, vote_id, later, T0 + timedelta(hours=1))
    assert extended.closes_at == later
    async with uow() as u:
        assert (await u.votes.get(vote_id)).closes_at == later
        (event,) = await u.votes.events(vote_id)
    assert (event.kind, event.actor) == ("extended", f"worker:{WORKER}")
    assert event.detail.endswith(later.isoformat())


async def test_recipients_are_the_bound_owners_in_scope_and_non_voters_excludes_those_who_voted(
    engine: AsyncEngine,
) -> None:
    uow = UnitOfWorkFactory(engine)
    _community, vote_id, codes = await _open_vote(uow)
    for telegram_id, unit in ((1, "101"), (2, "102"), (3, "201")):
        await residents.ensure_account(uow(), telegram_id, "", T0)
        await residents.bind(uow(), telegram_id, codes[unit], T0)
    await residents.ensure_account(uow(), 4, "", T0)  # never bound: never told
    await services.cast_ballot(uow(), vote_id, "202", Choice.AGREE, actor="account:3", now=T0)  # p3 via 202
    await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0)
    await services.cast_ballot(uow(), vote_id, "101", None, actor="account:1", now=T0)  # withdrawn: no ballot
    everyone = await lifecycle.recipients(uow(), vote_id)
    assert [r.telegram_id for r in everyone] == [1, 2, 3]
    assert [r.telegram_id for r in await lifecycle.recipients(uow(), vote_id, non_voters_only=True)] == [1, 2]
    await residents.set_account_active(uow(), 2, False)  # blocked the bot
    assert [r.telegram_id for r in await lifecycle.recipients(uow(), vote_id, non_voters_only=True)] == [1]


async def test_paper_ballots_are_all_or_nothing_and_the_latest_ballot_counts(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    _community, vote_id, _codes = await _open_vote(uow)
    await services.cast_ballot(uow(), vote_id, "101", Choice.DISAGREE, actor="account:1", now=T0)
    photo = b"\x89PNG signed paper"
    sheet = [
        WorkerBallot("101", Choice.AGREE, EntryKind.PAPER, attachment=photo, idempotency_key="sheet:1"),
        WorkerBallot("999", Choice.AGREE, EntryKind.PAPER, idempotency_key="sheet:2"),
    ]
    with pytest.raises(BatchRefusedError) as refused:
        await lifecycle.record_worker_ballots(uow(), WORKER, vote_id, sheet, T0)
    ((row, error),) = refused.value.problems
    assert row == 2 and isinstance(error, OutOfScopeError)
    _vote, before = await services.current_tally(uow(), vote_id)
    receipts = await lifecycle.record_worker_ballots(
        uow(),
        WORKER,
        vote_id,
        [sheet[0], WorkerBallot("102", Choice.AGREE, EntryKind.PROXY, proxy_name=" 张三 ", idempotency_key="p")],
        T0 + timedelta(minutes=1),
    )
    assert [r.replaced for r in receipts] == [Choice.DISAGREE, None]
    with pytest.raises(BatchRefusedError) as again:
        await lifecycle.record_worker_ballots(uow(), WORKER, vote_id, sheet[:1], T0)
    assert isinstance(again.value.problems[0][1], DuplicateSubmissionError)
    with pytest.raises(PermissionDeniedError):
        await lifecycle.record_worker_ballots(uow(), OTHER_WORKER, vote_id, sheet[:1], T0)
    async with uow() as u:
        entries = [e async for e in u.ledger.entries(vote_id)]
    assert [(e.kind, e.actor) for e in entries] == [
        (EntryKind.CAST, "account:1"),
        (EntryKind.PAPER, f"worker:{WORKER}"),
        (EntryKind.PROXY, f"worker:{WORKER}"),
    ]
    assert entries[1].attachment_sha256 is not None and entries[2].proxy_name == "张三"
    assert before.participating.headcount < (await services.current_tally(uow(), vote_id))[1].participating.headcount


async def test_an_objection_is_corrected_in_the_ledger_and_the_final_tally_waits_for_it(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    _community, vote_id, codes = await _open_vote(uow)
    key = Ed25519PrivateKey.generate()
    await residents.ensure_account(uow(), 1, "", T0)
    await residents.bind(uow(), 1, codes["101"], T0)
    await lifecycle.record_worker_ballots(
        uow(), WORKER, vote_id, [WorkerBallot("101", Choice.DISAGREE, EntryKind.DOOR_TO_DOOR)], T0
    )
    with pytest.raises(ObjectionError) as too_early:
        await lifecycle.file_objection(uow(), 1, vote_id, "我投的是同意", T0)
    assert too_early.value.reason == "not_closed"
    closed_at = T0 + timedelta(days=7)
    until = closed_at + timedelta(days=7)
    await services.close_vote(uow(), vote_id, closed_at, key, objection_until=until)
    objection = await lifecycle.file_objection(uow(), 1, vote_id, "我投的是同意", closed_at)
    assert objection.unit_id == "101" and objection.telegram_id == 1
    with pytest.raises(VoteStateError):
        await lifecycle.finalize_when_due(uow(), vote_id, closed_at, key)
    assert await lifecycle.finalize_when_due(uow(), vote_id, until, key) == 1  # still open: nothing signed
    _vote, listed = await lifecycle.objections_of(uow(), WORKER, vote_id)
    assert [o.id for o in listed] == [objection.id]
    resolved, receipt = await lifecycle.resolve_objection(
        uow(), WORKER, objection.id, "核对纸质表决票，登记错误", until, correct_to=Choice.AGREE
    )
    assert receipt is not None and receipt.replaced is Choice.DISAGREE
    assert resolved.correction_seq == receipt.seq and resolved.resolved_by == f"worker:{WORKER}"
    with pytest.raises(ObjectionError):
        await lifecycle.resolve_objection(uow(), WORKER, objection.id, "again", until)
    final = await lifecycle.finalize_when_due(uow(), vote_id, until, key)
    assert not isinstance(final, int) and final.stage == "final"
    async with uow() as u:
        assert (await u.votes.get(vote_id)).status is VoteStatus.FINAL
        assert [s.stage for s in await u.tallies.of_vote(vote_id)] == ["preliminary", "final"]
        correction = [e async for e in u.ledger.entries(vote_id)][-1]
    assert correction.kind is EntryKind.CORRECTION and correction.reason == "核对纸质表决票，登记错误"
    with pytest.raises(ObjectionError) as after:
        await lifecycle.file_objection(uow(), 1, vote_id, "还有问题", until)
    assert after.value.reason == "not_closed"


async def test_a_job_is_claimed_once_and_drafts_survive_between_units_of_work(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community, _vote_id, _codes = await _open_vote(uow)
    async with uow() as u:
        assert await u.jobs.claim("remind:1:2026-11-24", T0)
        assert not await u.jobs.claim("remind:1:2026-11-24", T0)
        await u.commit()
    async with uow() as u:
        assert await u.jobs.done(["remind:1:2026-11-24", "remind:1:2026-11-25"]) == {"remind:1:2026-11-24"}
    draft = await drafts.start_draft(uow(), WORKER, community, "vote-wizard", {"step": "title"}, T0)
    again = await drafts.open_draft(uow(), WORKER, "vote-wizard")
    assert again is not None and again.id == draft.id and again.data == {"step": "title"}
    second = await drafts.start_draft(uow(), WORKER, community, "vote-wizard", {"step": "title"}, T0)
    assert (await drafts.open_draft(uow(), WORKER)).id == second.id  # type: ignore[union-attr]
    await drafts.finish_draft(uow(), second, T0)
    assert await drafts.open_draft(uow(), WORKER, "vote-wizard") is None
    chosen, name, held = await residents.acting_community(uow(), WORKER)
    assert (chosen, name, held) == (community, "幸福里小区", [(community, "幸福里小区")])
