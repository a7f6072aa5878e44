"""Who has not voted, and a ballot form's code, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.uow import UnitOfWorkFactory
from tests.integration.test_lifecycle import T0, WORKER, _open_vote
from voting import doors, lifecycle, residents
from voting.errors import PermissionDeniedError
from voting.ledger import EntryKind
from voting.lifecycle import WorkerBallot
from voting.model import Choice

RESIDENT = 700


async def test_an_owner_who_voted_through_one_home_leaves_the_list_with_all_their_homes(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    _community, vote_id, codes = await _open_vote(uow)
    await residents.ensure_account(uow(), RESIDENT, "", T0)
    await residents.bind(uow(), RESIDENT, codes["102"], T0)  # p2 uses the chat, has not voted
    ballot = WorkerBallot("201", Choice.AGREE, EntryKind.DOOR_TO_DOOR, idempotency_key="door:1")
    await lifecycle.record_worker_ballots(uow(), WORKER, vote_id, [ballot], T0)  # p3 (201 and 202)
    _vote, homes = await doors.not_voted(uow(), WORKER, vote_id)
    assert [(h.unit_id, h.owner, h.bound, h.telegram_ids) for h in homes] == [
        ("101", "p1", False, ()),
        ("102", "p2", True, (RESIDENT,)),
    ]
    assert [h.unit_id for h in doors.unreached(homes, [RESIDENT])] == ["101", "102"]  # p2 blocked the bot
    assert [h.unit_id for h in doors.unreached(homes, [])] == ["101"]


async def test_a_form_code_names_one_home_of_its_vote_and_only_staff_see_the_list(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    _community, vote_id, _codes = await _open_vote(uow)
    async with uow() as u:
        frozen = await u.votes.frozen(vote_id)
    for unit in frozen.units:
        code = doors.parse_form_code(doors.form_code(unit.unit_ref))
        assert code is not None and await doors.home_for_form_code(uow(), vote_id, code) == unit.unit_id
    assert await doors.home_for_form_code(uow(), vote_id, "00000000") in (None, *[u.unit_id for u in frozen.units])
    with pytest.raises(PermissionDeniedError):
        await doors.not_voted(uow(), RESIDENT, vote_id)


def test_form_codes_are_read_as_typed_or_scanned() -> None:
    assert doors.parse_form_code("3f1a-9c0b") == "3f1a9c0b"
    assert doors.parse_form_code(" 3F1A 9C0B ") == "3f1a9c0b"
    assert doors.parse_form_code("3F1A9C0B") == "3f1a9c0b"
    assert doors.parse_form_code("3-2-401") is None
    assert doors.form_code("3f1a9c0b" + "0" * 24) == "3F1A-9C0B"


async def test_the_roster_s_phone_reaches_the_door_to_door_list(engine: AsyncEngine) -> None:
    from datetime import timedelta

    from tests.integration.test_lifecycle import OTHER_WORKER
    from voting import services
    from voting.model import Roster, Scope, Unit
    from voting.rules import preset
    from voting.votes import Vote

    uow = UnitOfWorkFactory(engine)
    community = await services.create_community(uow(), "电话小区", T0)
    roster = Roster.of([Unit("101", 6000, "p1", phone="13800138000"), Unit("102", 6000, "p2")])
    await services.import_roster(uow(), community, roster, "roster.csv", b"raw", "worker:1", T0)
    await residents.grant_role(uow(), OTHER_WORKER + 7, community, residents.Role.WORKER, "社区小王", T0)
    vote = Vote(community, "加装电梯", "是否同意", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=7))
    vote_id = await services.create_vote(uow(), vote, T0)
    await services.open_vote(uow(), vote_id, T0, b"k" * 32)
    _vote, homes = await doors.not_voted(uow(), OTHER_WORKER + 7, vote_id)
    assert [(h.unit_id, h.phone) for h in homes] == [("101", "13800138000"), ("102", "")]
