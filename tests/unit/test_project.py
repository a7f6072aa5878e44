"""The renovation project: stages in DOMAIN.md's order, each preset's thresholds, retries and re-freezing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.factories import roster_a
from voting.errors import ProjectError
from voting.model import Choice
from voting.project import (
    PROJECT_PRESETS,
    Action,
    Instrument,
    Project,
    ProjectStatus,
    RefusalCode,
    StageKind,
    StageStatus,
    abandon,
    can_start,
    new_project,
    next_step,
    post_notice,
    project_preset,
    record_result,
    refreeze,
    stage_rule,
    start_stage,
)
from voting.rules import Base, ConditionKind, Dimension
from voting.tally import latest_choices, tally

W, M, P, A = StageKind.WILLINGNESS, StageKind.MENU, StageKind.PLAN_APPROVAL, StageKind.ACCEPTANCE
VOTE, SURVEY, MENU = Instrument.VOTE, Instrument.QUESTIONNAIRE, Instrument.MENU
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _baoding() -> Project:
    return new_project(7, "幸福小区改造", "baoding", roster_version=3)


def _run(project: Project, stage: StageKind, instrument: Instrument, ref: int, passed: bool = True) -> Project:
    project = start_stage(project, stage, instrument, ref, project.roster_version)
    return record_result(project, stage, passed, {"ref": ref})


def _code(project: Project, stage: StageKind, **kw: Any) -> RefusalCode | None:
    refusal = can_start(project, stage, **kw)
    return None if refusal is None else refusal.code


# --- presets -------------------------------------------------------------------------------------


def test_every_preset_has_the_four_stages_in_domain_order() -> None:
    for spec in PROJECT_PRESETS.values():
        assert [s.kind for s in spec.stages] == [W, M, P, A]
        assert [s.instruments for s in spec.stages] == [(VOTE, SURVEY), (MENU,), (VOTE,), (SURVEY, VOTE)]


def test_baoding_is_three_times_eighty_percent_of_all_owners_by_area_and_headcount() -> None:
    project = _baoding()
    assert stage_rule(project, M) is None
    for stage in (W, P, A):
        rule = stage_rule(project, stage)
        assert rule is not None
        (condition,) = rule.conditions
        assert (condition.kind, condition.threshold, condition.base) == (
            ConditionKind.APPROVAL,
            Fraction(4, 5),
            Base.TOTAL,
        )
        assert condition.dimensions == (Dimension.AREA, Dimension.HEADCOUNT)
    assert all(s.notice_working_days == 0 for s in project_preset("baoding").stages)


def test_suining_is_double_two_thirds_to_apply_and_to_approve_with_no_acceptance_threshold() -> None:
    project = new_project(1, "x", "suining", 1)
    for stage in (W, P):
        rule = stage_rule(project, stage)
        assert rule is not None and rule.name == "double-two-thirds"
    assert stage_rule(project, A) is None


def test_hangzhou_adds_a_two_thirds_plan_approval_rate_and_a_five_working_day_notice() -> None:
    project = new_project(1, "x", "hangzhou-xiacheng", 1)
    willingness = stage_rule(project, W)
    assert willingness is not None and willingness.name == "double-two-thirds"
    plan = stage_rule(project, P)
    assert plan is not None
    total, rate = plan.conditions
    assert (total.threshold, total.base) == (Fraction(2, 3), Base.TOTAL)
    assert (rate.threshold, rate.base) == (Fraction(2, 3), Base.PARTICIPATING)
    assert [s.notice_working_days for s in project_preset("hangzhou-xiacheng").stages] == [0, 0, 5, 0]


def test_hangzhou_plan_rule_counts_both_the_total_and_the_rate_among_those_taking_part() -> None:
    """Roster A: p1 and p3 agree (240.00 of 300.00 m², 2 of 3), p2 disagrees: double two-thirds and the
    rate (2 of 3 taking part) hold. p3 alone agrees with p1 disagreeing: 180.00 m² fails both."""
    rule = stage_rule(new_project(1, "x", "hangzhou-xiacheng", 1), P)
    assert rule is not None
    roster = roster_a()
    passing = latest_choices(roster, [("101", Choice.AGREE), ("102", Choice.DISAGREE), ("201", Choice.AGREE)])
    result = tally(roster, rule, passing)
    assert result.passed and len(result.conditions) == 2
    failing = latest_choices(roster, [("201", Choice.AGREE), ("101", Choice.DISAGREE)])
    assert [c.holds for c in tally(roster, rule, failing).conditions] == [False, False]


def test_an_unknown_preset_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ProjectError) as info:
        new_project(1, "x", "shenzhen", 1)
    assert info.value.code == "unknown_preset" and "baoding" in info.value.params["known"]


# --- transitions ------------------------------------------------------------------------------------


def test_a_new_project_starts_with_willingness_only() -> None:
    project = _baoding()
    assert [s.status for s in project.stages] == [StageStatus.PENDING] * 4
    assert _code(project, W) is None
    assert _code(project, M) is RefusalCode.PREVIOUS_NOT_PASSED
    assert _code(project, P) is RefusalCode.PREVIOUS_NOT_PASSED
    assert _code(project, A) is RefusalCode.PREVIOUS_NOT_PASSED
    step = next_step(project)
    assert (step.action, step.stage, step.instruments) == (Action.START, W, (VOTE, SURVEY))


def test_a_running_stage_blocks_every_start_and_waits_for_its_result() -> None:
    project = start_stage(_baoding(), W, SURVEY, 11, 3)
    assert project.stage(W).status is StageStatus.RUNNING and project.stage(W).ref_id == 11
    assert _code(project, W) is RefusalCode.ALREADY_RUNNING
    assert _code(project, M) is RefusalCode.STAGE_RUNNING
    assert next_step(project).action is Action.WAIT_RESULT
    with pytest.raises(ProjectError):
        start_stage(project, W, SURVEY, 12, 3)


def test_a_stage_is_run_only_by_its_instruments() -> None:
    project = _baoding()
    assert _code(project, W, instrument=MENU) is RefusalCode.WRONG_INSTRUMENT
    project = _run(project, W, VOTE, 1)
    assert _code(project, M, instrument=VOTE) is RefusalCode.WRONG_INSTRUMENT
    project = _run(project, M, MENU, 2)
    assert _code(project, P, instrument=SURVEY) is RefusalCode.WRONG_INSTRUMENT
    assert _code(project, P, instrument=VOTE) is None


def test_a_stage_must_run_on_the_projects_frozen_roster() -> None:
    project = _baoding()
    assert _code(project, W, roster_version=4) is RefusalCode.ROSTER_MISMATCH
    with pytest.raises(ProjectError) as info:
        start_stage(project, W, VOTE, 1, roster_version=4)
    assert info.value.code == "roster_mismatch"


def test_recording_a_result_needs_the_stage_running() -> None:
    project = _baoding()
    with pytest.raises(ProjectError) as info:
        record_result(project, W, True, {})
    assert info.value.code == "not_running"
    project = _run(project, W, VOTE, 1)
    with pytest.raises(ProjectError):
        record_result(project, W, False, {})


def test_a_passed_stage_cannot_start_again() -> None:
    project = _run(_baoding(), W, VOTE, 1)
    assert _code(project, W) is RefusalCode.ALREADY_PASSED
    assert _code(project, M) is None


def test_a_failed_stage_may_be_run_again_keeping_the_earlier_attempt() -> None:
    project = _run(_baoding(), W, SURVEY, 1, passed=False)
    assert project.status is ProjectStatus.ACTIVE
    assert _code(project, W) is None
    assert _code(project, M) is RefusalCode.PREVIOUS_NOT_PASSED
    step = next_step(project)
    assert (step.action, step.stage) == (Action.RETRY, W)
    project = _run(project, W, VOTE, 2)
    attempts = project.stage(W).attempts
    assert [(a.instrument, a.ref_id, a.passed) for a in attempts] == [(SURVEY, 1, False), (VOTE, 2, True)]


def test_after_a_failed_plan_vote_the_menu_may_be_run_again_and_the_plan_vote_waits_again() -> None:
    project = _run(_run(_run(_baoding(), W, VOTE, 1), M, MENU, 2), P, VOTE, 3, passed=False)
    assert _code(project, W) is RefusalCode.ALREADY_PASSED
    assert _code(project, M) is None  # revise the plan
    assert _code(project, P) is None  # or put a revised plan to the vote again
    project = start_stage(project, M, MENU, 4, 3)
    assert project.stage(P).status is StageStatus.PENDING
    assert [a.ref_id for a in project.stage(P).attempts] == [3]
    project = record_result(project, M, True, {})
    assert _code(project, P) is None


def test_a_passed_menu_cannot_be_rerun_unless_the_plan_vote_failed() -> None:
    project = _run(_run(_baoding(), W, VOTE, 1), M, MENU, 2)
    assert _code(project, M) is RefusalCode.ALREADY_PASSED


def test_an_abandoned_project_refuses_everything() -> None:
    project = abandon(_run(_baoding(), W, VOTE, 1, passed=False), "居民意愿不足")
    assert project.status is ProjectStatus.ABANDONED
    assert _code(project, W) is RefusalCode.PROJECT_ENDED
    assert next_step(project).action is Action.ENDED
    with pytest.raises(ProjectError):
        refreeze(project, 4, "x")
    with pytest.raises(ProjectError):
        abandon(project, "again")
    with pytest.raises(ProjectError):
        abandon(_baoding(), "  ")


# --- the roster ----------------------------------------------------------------------------------


def test_refreezing_is_explicit_recorded_and_refused_while_a_stage_runs() -> None:
    project = _run(_baoding(), W, VOTE, 1)
    running = start_stage(project, M, MENU, 2, 3)
    with pytest.raises(ProjectError) as info:
        refreeze(running, 4, "新增 5 号楼")
    assert info.value.code == "stage_running"
    with pytest.raises(ProjectError) as info:
        refreeze(project, 3, "x")
    assert info.value.code == "same_version"
    with pytest.raises(ProjectError) as info:
        refreeze(project, 4, " ")
    assert info.value.code == "no_reason"
    moved = refreeze(project, 4, "新增 5 号楼")
    assert moved.roster_version == 4
    (record,) = moved.refreezes
    assert (record.from_version, record.to_version, record.before_stage) == (3, 4, M)
    assert _code(moved, M, roster_version=3) is RefusalCode.ROSTER_MISMATCH
    moved = _run(moved, M, MENU, 2)
    assert [a.roster_version for s in moved.stages for a in s.attempts] == [3, 4]


# --- the public notice --------------------------------------------------------------------------------


def test_hangzhou_acceptance_waits_for_five_working_days_of_notice_after_the_plan_passes() -> None:
    project = new_project(1, "x", "hangzhou-xiacheng", 9)
    project = _run(_run(_run(project, W, VOTE, 1), M, MENU, 2), P, VOTE, 3)
    assert _code(project, A) is RefusalCode.NOTICE_NOT_POSTED
    assert next_step(project).action is Action.POST_NOTICE
    posted = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 10:00 in Hangzhou
    project = post_notice(project, P, posted, SHANGHAI)
    until = project.stage(P).notice_until
    assert until == datetime(2026, 12, 5, 0, 0, tzinfo=SHANGHAI)  # Mon 30 Nov to Fri 4 Dec, until Saturday 00:00
    assert _code(project, A) is RefusalCode.NOTICE_RUNNING
    assert _code(project, A, now=until - timedelta(seconds=1)) is RefusalCode.NOTICE_RUNNING
    step = next_step(project, now=until - timedelta(seconds=1))
    assert step.action is Action.WAIT_NOTICE
    assert _code(project, A, now=until) is None
    assert next_step(project, now=until).action is Action.START


def test_a_notice_is_only_for_a_passed_stage_that_needs_one() -> None:
    project = _run(new_project(1, "x", "hangzhou-xiacheng", 9), W, VOTE, 1)
    with pytest.raises(ProjectError) as info:
        post_notice(project, W, datetime(2026, 11, 27, tzinfo=UTC), SHANGHAI)
    assert info.value.code == "no_notice"
    with pytest.raises(ProjectError) as info:
        post_notice(project, P, datetime(2026, 11, 27, tzinfo=UTC), SHANGHAI)
    assert info.value.code == "previous_not_passed"


# --- a whole project ---------------------------------------------------------------------------


def test_a_baoding_project_through_all_stages_with_the_plan_vote_failing_once() -> None:
    """Willingness 80% by questionnaire passes; the menu round makes a plan; the first plan vote fails
    (p3 alone agrees: 60% of area); a revised plan is voted again and passes; acceptance passes."""
    roster = roster_a()
    project = _baoding()
    rule = stage_rule(project, W)
    assert rule is not None

    def count(ballots: list[tuple[str, Choice]]) -> tuple[bool, dict[str, object]]:
        result = tally(roster, rule, latest_choices(roster, ballots))
        return result.passed, result.as_dict()

    all_agree = [("101", Choice.AGREE), ("102", Choice.AGREE), ("201", Choice.AGREE)]
    project = start_stage(project, W, SURVEY, 100, 3)
    project = record_result(project, W, *count(all_agree))
    project = start_stage(project, M, MENU, 200, 3)
    project = record_result(project, M, True, {"plan_items": ["roofs", "lifts"]})
    project = start_stage(project, P, VOTE, 300, 3)
    passed, summary = count([("201", Choice.AGREE), ("101", Choice.DISAGREE)])
    assert not passed
    project = record_result(project, P, passed, summary)
    assert project.stage(P).status is StageStatus.FAILED
    assert _code(project, A) is RefusalCode.PREVIOUS_NOT_PASSED
    assert next_step(project).action is Action.RETRY
    project = start_stage(project, P, VOTE, 301, 3)
    project = record_result(project, P, *count(all_agree))
    assert next_step(project).stage is A
    project = start_stage(project, A, SURVEY, 400, 3)
    project = record_result(project, A, *count(all_agree))
    assert project.status is ProjectStatus.COMPLETED
    assert next_step(project).action is Action.DONE
    assert [a.passed for a in project.stage(P).attempts] == [False, True]
    assert _code(project, A) is RefusalCode.PROJECT_ENDED
    again = Project.from_dict(json.loads(json.dumps(project.as_dict())))
    assert again == project


def test_a_project_with_a_notice_survives_a_json_round_trip() -> None:
    project = new_project(1, "x", "hangzhou-xiacheng", 9)
    project = _run(_run(_run(project, W, VOTE, 1), M, MENU, 2), P, VOTE, 3)
    project = refreeze(post_notice(project, P, datetime(2026, 11, 27, 2, tzinfo=UTC), SHANGHAI), 10, "更正面积")
    assert Project.from_dict(json.loads(json.dumps(project.as_dict()))) == project
