"""Questionnaires, menu rounds and renovation projects on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import tables as t
from storage.uow import UnitOfWorkFactory
from tests.factories import roster_a
from voting import renovation, residents, services, surveys
from voting.errors import (
    AlreadyAnsweredError,
    AnswerError,
    MenuError,
    PermissionDeniedError,
    ProjectError,
    SurveyError,
)
from voting.menu import Catalogue, ItemClass, MenuItem, ShareKind
from voting.model import Choice, Scope
from voting.project import Instrument, StageKind, StageStatus
from voting.questionnaire import parse_questionnaire_toml
from voting.residents import Role
from voting.rules import preset
from voting.votes import Vote

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
WORKER, OTHER_WORKER, AUDITOR = 900, 901, 902
#: Telegram ids of the owners of roster A: p1 (101), p2 (102), p3 (201 and 202).
P1, P2, P3 = 1, 2, 3

QUESTIONNAIRE = """
title = "改造意愿调查"
[[questions]]
id = "want"
type = "yes_no"
text = "您是否同意实施改造？"
[[questions]]
id = "why"
type = "text"
text = "为什么不同意？"
show_if = "want=no"
[[questions]]
id = "score"
type = "rating"
text = "您对目前的居住环境打几分？"
required = false
[satisfaction]
question = "want"
satisfied = ["yes"]
threshold = "80%"
"""


async def _community(uow: UnitOfWorkFactory) -> int:
    community = await services.create_community(uow(), "幸福里小区", T0)
    await services.import_roster(uow(), community, roster_a(), "roster.csv", b"raw", "worker:1", T0)
    invites = await residents.issue_invites(uow(), community, None, T0, secrets.token_bytes)
    codes = {i.unit_id: i.code for i in invites}
    await residents.grant_role(uow(), WORKER, community, Role.WORKER, "社区小李", T0)
    await residents.grant_role(uow(), AUDITOR, community, Role.AUDITOR, "审计", T0)
    elsewhere = await services.create_community(uow(), "别的小区", T0)
    await residents.grant_role(uow(), OTHER_WORKER, elsewhere, Role.WORKER, "别处", T0)
    for telegram_id, unit in ((P1, "101"), (P2, "102"), (P3, "202")):
        await residents.ensure_account(uow(), telegram_id, "", T0)
        await residents.bind(uow(), telegram_id, codes[unit], T0)
    return community


def _ids() -> str:
    return secrets.token_hex(8)


async def test_a_named_questionnaire_keeps_progress_takes_the_latest_response_and_closes(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community = await _community(uow)
    questionnaire = parse_questionnaire_toml(QUESTIONNAIRE.encode())
    closes = T0 + timedelta(days=7)
    with pytest.raises(PermissionDeniedError):
        await surveys.create_questionnaire(uow(), OTHER_WORKER, community, questionnaire, closes, T0)
    survey = await surveys.create_questionnaire(uow(), WORKER, community, questionnaire, closes, T0)
    assert survey.is_open(T0) and not survey.anonymous

    (seen,) = await surveys.resident_surveys(uow(), P3, T0)
    assert seen.survey.id == survey.id and seen.units == (("201", 9000), ("202", 9000)) and seen.owner_area == 18000
    assert seen.progress is None and not seen.answered
    await surveys.save_progress(uow(), seen, {"answers": {"want": False}, "at": "why"}, T0)
    again = await surveys.resident_survey(uow(), P3, survey.id)  # another day, another process
    assert again.progress == {"answers": {"want": False}, "at": "why"}

    with pytest.raises(AnswerError):  # "why" is asked after a no and is required
        await surveys.submit_questionnaire(uow(), again, {"want": False}, T0, random_id=_ids)
    await surveys.submit_questionnaire(uow(), again, {"want": False, "why": "费用太高"}, T0, random_id=_ids)
    changed = await surveys.resident_survey(uow(), P3, survey.id)
    assert changed.progress is None and changed.answered and changed.latest is not None
    assert changed.latest.answers == {"want": False, "why": "费用太高", "score": None}
    await surveys.submit_questionnaire(uow(), changed, {"want": True, "score": 4}, T0, random_id=_ids)
    for telegram_id in (P1, P2):
        seen = await surveys.resident_survey(uow(), telegram_id, survey.id)
        await surveys.submit_questionnaire(uow(), seen, {"want": True}, T0, random_id=_ids)

    _survey, result = await surveys.questionnaire_result(uow(), AUDITOR, survey.id)
    assert result.respondents.headcount == 3 and result.respondents.area == 30000
    assert result.satisfaction is not None and result.satisfaction.holds()
    with pytest.raises(PermissionDeniedError):
        await surveys.questionnaire_result(uow(), OTHER_WORKER, survey.id)

    await surveys.close_survey(uow(), WORKER, survey.id, T0 + timedelta(hours=1))
    late = await surveys.resident_survey(uow(), P1, survey.id)
    with pytest.raises(SurveyError) as closed:
        await surveys.submit_questionnaire(
            uow(), late, {"want": False, "why": "x"}, T0 + timedelta(hours=2), random_id=_ids
        )
    assert closed.value.reason == "closed"
    with pytest.raises(SurveyError):
        await surveys.save_progress(uow(), late, {}, T0 + timedelta(hours=2))
    assert await surveys.resident_surveys(uow(), P1, T0 + timedelta(hours=2)) == []


async def test_an_anonymous_response_is_stored_without_anything_that_links_it_to_the_owner(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community = await _community(uow)
    questionnaire = parse_questionnaire_toml(("anonymous = true\n" + QUESTIONNAIRE).encode())
    survey = await surveys.create_questionnaire(uow(), WORKER, community, questionnaire, T0 + timedelta(days=7), T0)
    seen = await surveys.resident_survey(uow(), P3, survey.id)
    stored = await surveys.submit_questionnaire(uow(), seen, {"want": True}, T0, random_id=_ids)
    assert stored.anonymous and stored.account_id is None and stored.weight_area == 18000
    seen = await surveys.resident_survey(uow(), P3, survey.id)
    assert seen.answered and seen.latest is None
    with pytest.raises(AlreadyAnsweredError):
        await surveys.submit_questionnaire(uow(), seen, {"want": False, "why": "x"}, T0, random_id=_ids)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(t.SurveyResponse))).all()
        markers = (await conn.execute(select(t.SurveyAnswered))).all()
    assert len(rows) == 1 and rows[0].respondent != seen.owner_key and rows[0].submitted_at is None
    assert rows[0].unit_id is None and [tuple(m) for m in markers] == [(survey.id, seen.owner_key)]
    _s, result = await surveys.questionnaire_result(uow(), WORKER, survey.id)
    assert result.respondents.headcount == 1 and result.respondents.area == 18000

    for telegram_id in (P1, P2):
        seen = await surveys.resident_survey(uow(), telegram_id, survey.id)
        await surveys.submit_questionnaire(uow(), seen, {"want": telegram_id == P1, "why": "贵"}, T0, random_id=_ids)
    _s, result = await surveys.questionnaire_result(uow(), WORKER, survey.id)
    assert result.respondents.headcount == 3 and result.respondents.area == 30000
    if engine.dialect.name == "postgresql":
        # Every submission rewrites the anonymous responses in a random order: they all carry the last
        # transaction's id, so an earlier owner's marker matches no response by xmin.
        async with engine.connect() as conn:
            marks = dict((await conn.execute(text("SELECT owner_key, xmin::text FROM survey_answered"))).all())
            xmins = {x for (x,) in (await conn.execute(text("SELECT xmin::text FROM survey_responses"))).all()}
        assert len(xmins) == 1 and len(marks) == 3
        assert sum(mark in xmins for mark in marks.values()) == 1  # only the last submitter's, matching all three


async def test_a_menu_round_counts_the_latest_selection_and_drafts_a_plan_to_vote(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community = await _community(uow)
    catalogue = Catalogue(
        "幸福里菜单",
        (
            MenuItem("roof", ItemClass.BASIC, "屋面防水", 2_000_000, ShareKind.PER_M2, 1000, required=True),
            MenuItem("lift", ItemClass.IMPROVEMENT, "加装电梯", 60_000_000, ShareKind.SPLIT, 12_000_000),
            MenuItem("gym", ItemClass.UPGRADE, "健身设施", 1_000_000, ShareKind.SPLIT, 0),
        ),
    )
    default, own = await surveys.current_catalogue(uow(), WORKER, community)
    assert not own and default.items
    await surveys.save_catalogue(uow(), WORKER, community, catalogue, T0)
    assert await surveys.current_catalogue(uow(), AUDITOR, community) == (catalogue, True)
    survey = await surveys.create_menu_round(uow(), WORKER, community, "", T0 + timedelta(days=7), T0)
    assert survey.title == "幸福里菜单" and survey.catalogue() == catalogue

    p3 = await surveys.resident_survey(uow(), P3, survey.id)
    with pytest.raises(MenuError):
        await surveys.submit_menu(uow(), p3, ["sauna"], T0)
    await surveys.submit_menu(uow(), p3, ["gym"], T0)
    await surveys.submit_menu(uow(), p3, ["lift"], T0)  # the latest replaces the earlier whole
    p1 = await surveys.resident_survey(uow(), P1, survey.id)
    await surveys.submit_menu(uow(), p1, ["lift", "gym"], T0)
    p2 = await surveys.resident_survey(uow(), P2, survey.id)
    await surveys.submit_menu(uow(), p2, [], T0)

    outcome = await surveys.menu_outcome(uow(), WORKER, survey.id)
    lift = outcome.result.support_of("lift")
    assert (lift.support.headcount, lift.support.area) == (2, 24000)
    assert outcome.result.support_of("roof").support.headcount == 3  # required: every respondent
    assert [i.id for i in outcome.plan.items] == ["roof", "lift"]  # gym: 1 of 3 is not more than half
    with pytest.raises(SurveyError) as open_round:
        surveys.plan_vote(outcome, preset("civil-code-major"), T0 + timedelta(days=14), T0, "worker:900")
    assert open_round.value.reason == "open"
    later = T0 + timedelta(days=8)
    vote = surveys.plan_vote(outcome, preset("civil-code-major"), later + timedelta(days=7), later, "worker:900")
    assert vote.roster_version_id == survey.roster_version_id and "加装电梯" in vote.text
    assert "120000.00" in vote.text  # the lift's residents' share, in yuan
    assert [s.id for s, _n in await surveys.community_surveys(uow(), WORKER, community)] == [survey.id]


async def _finish_vote(uow: UnitOfWorkFactory, vote_id: int, agree: list[str], now: datetime) -> None:
    key = Ed25519PrivateKey.generate()
    await services.open_vote(uow(), vote_id, now, b"k" * 32)
    for unit in agree:
        await services.cast_ballot(uow(), vote_id, unit, Choice.AGREE, actor="account:1", now=now)
    await services.close_vote(uow(), vote_id, now + timedelta(minutes=1), key, early=True)
    await services.finalize_vote(uow(), vote_id, now + timedelta(minutes=1), key)


async def test_a_baoding_project_runs_its_stages_in_order_on_one_roster(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community = await _community(uow)
    project = await renovation.create_project(uow(), WORKER, community, "幸福里改造", "baoding", T0)
    with pytest.raises(PermissionDeniedError):
        await renovation.project_view(uow(), OTHER_WORKER, project.id, T0)
    motion = Vote(
        community, "改造意愿", "是否同意改造", preset("civil-code-major"), Scope(), T0, T0 + timedelta(days=7)
    )

    menu = surveys.menu_survey(
        community,
        "菜单",
        (await surveys.current_catalogue(uow(), WORKER, community))[0],
        T0 + timedelta(days=7),
        "worker:900",
    )
    with pytest.raises(ProjectError) as early:
        await renovation.start_survey_stage(uow(), WORKER, project.id, StageKind.MENU, menu, T0)
    assert early.value.code == "previous_not_passed"

    _p, vote_id = await renovation.start_vote_stage(uow(), WORKER, project.id, StageKind.WILLINGNESS, motion, T0)
    async with uow() as u:
        stored = await u.votes.get(vote_id)
    assert stored.rule.name == "eighty-percent" and stored.roster_version_id == project.roster_version
    # p1 and p2 agree: 2 of 3 owners, 120 of 300 m²: under 80%, the stage fails.
    await _finish_vote(uow, vote_id, ["101", "102"], T0)
    view = await renovation.project_view(uow(), AUDITOR, project.id, T0)
    assert view.project.stage(StageKind.WILLINGNESS).status is StageStatus.FAILED
    assert view.next.action == "retry" and view.roster_number == 1
    assert view.project.stage(StageKind.WILLINGNESS).summary["agree"]["headcount"] == 2

    _p, vote_id = await renovation.start_vote_stage(uow(), WORKER, project.id, StageKind.WILLINGNESS, motion, T0)
    await _finish_vote(uow, vote_id, ["101", "102", "201"], T0)
    view = await renovation.project_view(uow(), WORKER, project.id, T0)
    willingness = view.project.stage(StageKind.WILLINGNESS)
    assert willingness.status is StageStatus.PASSED and len(willingness.attempts) == 2

    _p, round_ = await renovation.start_survey_stage(uow(), WORKER, project.id, StageKind.MENU, menu, T0)
    for telegram_id in (P1, P2, P3):
        seen = await surveys.resident_survey(uow(), telegram_id, round_.id)
        await surveys.submit_menu(uow(), seen, [], T0)
    with pytest.raises(ProjectError):  # the menu round is still open
        await renovation.plan_to_vote(uow(), WORKER, project.id, T0 + timedelta(days=20), T0)
    await surveys.close_survey(uow(), WORKER, round_.id, T0 + timedelta(hours=1))
    later = T0 + timedelta(hours=2)
    view = await renovation.project_view(uow(), WORKER, project.id, later)
    assert view.project.stage(StageKind.MENU).status is StageStatus.PASSED  # the required items make a plan
    _p, plan_vote_id = await renovation.plan_to_vote(uow(), WORKER, project.id, later + timedelta(days=7), later)
    await _finish_vote(uow, plan_vote_id, ["101", "102", "201"], later)
    view = await renovation.project_view(uow(), WORKER, project.id, later)
    assert view.project.stage(StageKind.PLAN_APPROVAL).status is StageStatus.PASSED

    acceptance = parse_questionnaire_toml(QUESTIONNAIRE.encode())
    check = surveys.questionnaire_survey(community, acceptance, later + timedelta(days=7), "worker:900")
    _p, q = await renovation.start_survey_stage(uow(), WORKER, project.id, StageKind.ACCEPTANCE, check, later)
    assert view.project.stage(StageKind.ACCEPTANCE).status is StageStatus.PENDING
    for telegram_id in (P1, P2, P3):
        seen = await surveys.resident_survey(uow(), telegram_id, q.id)
        await surveys.submit_questionnaire(uow(), seen, {"want": True}, later, random_id=_ids)
    view = await renovation.project_view(uow(), WORKER, project.id, later + timedelta(days=8))
    assert view.project.stage(StageKind.ACCEPTANCE).status is StageStatus.PASSED
    assert view.next.action == "done"
    assert view.project.stage(StageKind.ACCEPTANCE).current.instrument is Instrument.QUESTIONNAIRE


async def test_a_hangzhou_plan_is_publicly_noticed_five_working_days_before_acceptance(engine: AsyncEngine) -> None:
    uow = UnitOfWorkFactory(engine)
    community = await _community(uow)
    project = await renovation.create_project(uow(), WORKER, community, "下城改造", "hangzhou-xiacheng", T0)
    motion = Vote(
        community, "改造意愿", "是否同意改造", preset("civil-code-major"), Scope(), T0, T0 + timedelta(days=7)
    )
    _p, vote_id = await renovation.start_vote_stage(uow(), WORKER, project.id, StageKind.WILLINGNESS, motion, T0)
    await _finish_vote(uow, vote_id, ["101", "102", "201"], T0)
    catalogue = (await surveys.current_catalogue(uow(), WORKER, community))[0]
    menu = surveys.menu_survey(community, "菜单", catalogue, T0 + timedelta(days=7), "worker:900")
    _p, round_ = await renovation.start_survey_stage(uow(), WORKER, project.id, StageKind.MENU, menu, T0)
    seen = await surveys.resident_survey(uow(), P1, round_.id)
    await surveys.submit_menu(uow(), seen, [], T0)
    await surveys.close_survey(uow(), WORKER, round_.id, T0 + timedelta(hours=1))
    later = T0 + timedelta(hours=2)  # Monday 2026-11-23, 11:00 in Beijing
    _p, plan_vote_id = await renovation.plan_to_vote(uow(), WORKER, project.id, later + timedelta(days=7), later)
    async with uow() as u:
        assert (await u.votes.get(plan_vote_id)).rule.name == "hangzhou-xiacheng"
    await _finish_vote(uow, plan_vote_id, ["101", "102", "201"], later)

    view = await renovation.project_view(uow(), WORKER, project.id, later)
    assert view.project.stage(StageKind.PLAN_APPROVAL).status is StageStatus.PASSED
    assert view.next.action == "post_notice"
    check = surveys.questionnaire_survey(
        community, renovation.stage_questionnaire(StageKind.ACCEPTANCE), later + timedelta(days=30), "worker:900"
    )
    with pytest.raises(ProjectError) as not_posted:
        await renovation.start_survey_stage(uow(), WORKER, project.id, StageKind.ACCEPTANCE, check, later)
    assert not_posted.value.code == "notice_not_posted"
    await renovation.notice_project(
        uow(), WORKER, project.id, StageKind.PLAN_APPROVAL, later, ZoneInfo("Asia/Shanghai")
    )
    view = await renovation.project_view(uow(), WORKER, project.id, later + timedelta(days=4))
    assert view.next.action == "wait_notice"
    with pytest.raises(ProjectError) as running:  # Friday: four working days have passed, not five
        await renovation.start_survey_stage(
            uow(), WORKER, project.id, StageKind.ACCEPTANCE, check, later + timedelta(days=4)
        )
    assert running.value.code == "notice_running"
    # Posted on a Monday, the notice runs Tuesday to the next Monday (five whole working days).
    tuesday = later + timedelta(days=8)
    _p, started = await renovation.start_survey_stage(uow(), WORKER, project.id, StageKind.ACCEPTANCE, check, tuesday)
    assert started.roster_version_id == project.roster_version
