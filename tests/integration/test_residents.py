"""Invite codes, bindings, roles and a resident's view of votes, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.uow import UnitOfWorkFactory
from tests.factories import roster_a
from voting import residents, services
from voting.errors import InviteError, NotBoundError, PermissionDeniedError
from voting.model import Choice, Scope
from voting.residents import Role
from voting.rules import preset
from voting.votes import Vote, VoteStatus

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def counter_bytes():  # type: ignore[no-untyped-def]
    """The random source the bot uses, as the use case takes it (an argument)."""
    return secrets.token_bytes


async def _community(uow: UnitOfWorkFactory) -> tuple[int, dict[str, str]]:
    community = await services.create_community(uow(), "幸福里小区", T0)
    await services.import_roster(uow(), community, roster_a(), "roster.csv", b"raw", "worker:1", T0)
    invites = await residents.issue_invites(uow(), community, None, T0, counter_bytes())
    return community, {i.unit_id: i.code for i in invites}


async def test_a_code_binds_the_account_to_the_owner_of_its_unit_with_all_their_units(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    _community_id, codes = await _community(uow)
    await residents.ensure_account(uow(), 5001, "王阿姨", T0)
    binding = await residents.bind(uow(), 5001, codes["201"].lower().replace("-", " "), T0)
    assert binding.owner_key == "owner:p3"
    assert sorted(binding.units) == [("201", 9000), ("202", 9000)]
    assert binding.area == 18000
    again = await residents.bind(uow(), 5001, codes["201"], T0)  # the same update delivered twice
    assert again.id == binding.id
    assert [b.id for b in await residents.my_bindings(uow(), 5001)] == [binding.id]


async def test_used_revoked_expired_and_unknown_codes_are_refused_by_reason(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community, codes = await _community(uow)
    for telegram_id in (1, 2, 3):
        await residents.ensure_account(uow(), telegram_id, "", T0)
    await residents.bind(uow(), 1, codes["101"], T0)
    with pytest.raises(InviteError) as used:
        await residents.bind(uow(), 2, codes["101"], T0)
    assert used.value.reason == "used"
    reissued = await residents.issue_invites(uow(), community, ["102"], T0, counter_bytes())
    with pytest.raises(InviteError) as revoked:
        await residents.bind(uow(), 2, codes["102"], T0)
    assert revoked.value.reason == "revoked"
    await residents.bind(uow(), 2, reissued[0].code, T0)
    short = await residents.issue_invites(
        uow(), community, ["201"], T0, counter_bytes(), expires_at=T0 + timedelta(days=1)
    )
    with pytest.raises(InviteError) as expired:
        await residents.bind(uow(), 3, short[0].code, T0 + timedelta(days=2))
    assert expired.value.reason == "expired"
    with pytest.raises(InviteError) as unknown:
        await residents.bind(uow(), 3, "ZZZZ-ZZZZ", T0)
    assert unknown.value.reason == "unknown"
    # reissuing does not undo a binding made with a used code
    await residents.issue_invites(uow(), community, ["101"], T0, counter_bytes())
    assert len(await residents.my_bindings(uow(), 1)) == 1


async def test_two_accounts_may_bind_to_one_owner_and_a_worker_lists_and_revokes_them(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community, codes = await _community(uow)
    family = await residents.issue_invites(uow(), community, ["202"], T0, counter_bytes())
    for telegram_id in (10, 11, 99):
        await residents.ensure_account(uow(), telegram_id, f"user {telegram_id}", T0)
    await residents.bind(uow(), 10, codes["201"], T0)
    await residents.bind(uow(), 11, family[0].code, T0)
    with pytest.raises(PermissionDeniedError):
        await residents.bindings_of_community(uow(), 99, community)
    await residents.grant_role(uow(), 99, community, Role.WORKER, "社区小李", T0)
    listed = await residents.bindings_of_community(uow(), 99, community)
    assert sorted((b.telegram_id, b.owner_key) for b in listed) == [(10, "owner:p3"), (11, "owner:p3")]
    with pytest.raises(PermissionDeniedError):
        await residents.revoke_binding(uow(), 10, listed[0].id, T0)
    revoked = await residents.revoke_binding(uow(), 99, listed[0].id, T0)
    assert revoked.revoked_at is not None
    assert await residents.my_bindings(uow(), revoked.telegram_id) == []
    assert len(await residents.bindings_of_community(uow(), 99, community)) == 1


async def test_a_resident_sees_the_open_votes_of_their_owner_in_scope_with_their_ballots(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community, codes = await _community(uow)
    await residents.ensure_account(uow(), 7, "", T0)
    with pytest.raises(NotBoundError):
        await residents.owner_votes(uow(), 7)
    await residents.bind(uow(), 7, codes["202"], T0)
    whole = Vote(community, "加装电梯", "是否同意", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=7))
    vote_id = await services.create_vote(uow(), whole, T0)
    await services.open_vote(uow(), vote_id, T0, b"k" * 32)
    await services.cast_ballot(uow(), vote_id, "201", Choice.AGREE, actor="account:7", now=T0)
    await services.cast_ballot(uow(), vote_id, "202", Choice.DISAGREE, actor="account:7", now=T0)
    (seen,) = await residents.owner_votes(uow(), 7)
    assert seen.vote.id == vote_id and seen.vote.status is VoteStatus.OPEN
    assert seen.units == (("201", 9000), ("202", 9000)) and seen.area == 18000
    assert seen.choice is Choice.DISAGREE
    assert [e.choice for e in seen.entries] == [Choice.AGREE, Choice.DISAGREE]
    assert await residents.owner_votes(uow(), 7, (VoteStatus.CLOSED,)) == []


async def test_a_binding_lists_the_owners_units_for_the_developer_and_for_a_unit_without_an_owner_name(
    engine: AsyncEngine,
) -> None:
    from voting.model import Roster, Unit, UnitStatus

    uow = UnitOfWorkFactory(engine)
    community = await services.create_community(uow(), "幸福里小区", T0)
    roster = Roster.of(
        [
            Unit("A1", 6000, "p1"),
            Unit("A2", 7000),
            Unit("U1", 9000, status=UnitStatus.UNSOLD),
            Unit("U2", 8000, status=UnitStatus.UNDELIVERED),
            Unit("A3", 5000, "p1"),
        ]
    )
    await services.import_roster(uow(), community, roster, "roster.csv", b"raw", "worker:1", T0)
    codes = {i.unit_id: i.code for i in await residents.issue_invites(uow(), community, None, T0, counter_bytes())}
    for telegram_id, unit in ((1, "U1"), (2, "A2"), (3, "A3")):
        await residents.ensure_account(uow(), telegram_id, "", T0)
        await residents.bind(uow(), telegram_id, codes[unit], T0)
    (developer,) = await residents.my_bindings(uow(), 1)
    (nameless,) = await residents.my_bindings(uow(), 2)
    (named,) = await residents.my_bindings(uow(), 3)
    assert developer.units == (("U1", 9000), ("U2", 8000))
    assert nameless.units == (("A2", 7000),)
    assert named.units == (("A1", 6000), ("A3", 5000))
