"""Use cases of a renovation project (voting.project): create it, start each stage with the vote,
menu round or questionnaire that runs it — on the project's frozen roster version and under the
stage's rule — and read its card.

A running stage's outcome is read off its instrument whenever the project is loaded: a vote once its
final tally is signed (after the objection period), a questionnaire or a menu round once it has
closed. Nothing has to run at a deadline for the card to be right.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from voting.errors import N_, NotFoundError, SurveyError
from voting.model import Weight, format_area
from voting.ports import UnitOfWork
from voting.project import (
    Instrument,
    NextStep,
    Project,
    StageKind,
    StageStatus,
    abandon,
    can_start,
    new_project,
    next_step,
    post_notice,
    record_result,
    refreeze,
    stage_rule,
    start_stage,
)
from voting.questionnaire import Questionnaire, parse_questionnaire_toml
from voting.residents import Role, check_any_role, check_role
from voting.services import add_vote
from voting.surveys import (
    MenuOutcome,
    Survey,
    SurveyKind,
    add_survey,
    count_menu,
    count_questionnaire,
    plan_vote,
)
from voting.tally import TallyResult, tally_weights
from voting.votes import Vote, VoteStatus

__all__ = [
    "ProjectView",
    "abandon_project",
    "community_projects",
    "create_project",
    "notice_project",
    "plan_to_vote",
    "project_of_survey",
    "project_view",
    "refreeze_project",
    "settle_projects",
    "stage_questionnaire",
    "start_survey_stage",
    "start_vote_stage",
]


def stage_questionnaire(stage: StageKind) -> Questionnaire:
    """The questionnaire renovote ships for a stage run by questionnaire (willingness or acceptance),
    with the satisfaction measure the stage's rule is applied to."""
    from importlib.resources import files  # read-only package data

    name = "acceptance.toml" if stage is StageKind.ACCEPTANCE else "willingness.toml"
    return parse_questionnaire_toml(files("voting.catalogue").joinpath(name).read_bytes())


def _share(part: Weight, base: Weight) -> dict[str, Any]:
    return {
        "area_m2": format_area(part.area),
        "headcount": part.headcount,
        "total_area_m2": format_area(base.area),
        "total_headcount": base.headcount,
    }


def _count_summary(instrument: Instrument, ref_id: int, title: str, count: TallyResult) -> dict[str, Any]:
    return {
        "instrument": str(instrument),
        "ref_id": ref_id,
        "title": title,
        "passed": count.passed,
        "agree": _share(count.agree, count.total),
        "participating": _share(count.participating, count.total),
        "conditions": [c.as_dict() for c in count.conditions],
    }


async def _vote_outcome(uow: UnitOfWork, vote_id: int) -> tuple[bool, dict[str, Any]] | None:
    vote = await uow.votes.get(vote_id)
    if vote.status is not VoteStatus.FINAL:
        return None
    frozen = await uow.votes.frozen(vote_id)
    count = frozen.count(vote.rule, await uow.ledger.current(vote_id))
    return count.passed, _count_summary(Instrument.VOTE, vote_id, vote.title, count)


async def _questionnaire_outcome(
    uow: UnitOfWork, project: Project, stage: StageKind, survey: Survey, now: datetime
) -> tuple[bool, dict[str, Any]] | None:
    if not survey.is_closed(now):
        return None
    roster = await uow.rosters.load(survey.roster_version_id)
    result = count_questionnaire(survey, roster, await uow.surveys.responses(survey.id))
    measure = result.satisfaction
    if measure is None:  # refused at start; an old record: nothing to count
        return False, {"instrument": "questionnaire", "ref_id": survey.id, "title": survey.title, "passed": False}
    rule = stage_rule(project, stage)
    if rule is None:
        passed = measure.holds()
        summary = {
            "instrument": "questionnaire",
            "ref_id": survey.id,
            "title": survey.title,
            "passed": passed,
            "agree": _share(measure.satisfied, measure.total),
        }
        return passed, summary
    count = tally_weights(rule, measure.total, measure.satisfied, measure.answered - measure.satisfied)
    return count.passed, _count_summary(Instrument.QUESTIONNAIRE, survey.id, survey.title, count)


def _menu_outcome(outcome: MenuOutcome) -> tuple[bool, dict[str, Any]]:
    plan = outcome.plan
    passed = bool(plan.items) and outcome.result.respondents.headcount > 0
    return passed, {
        "instrument": "menu",
        "ref_id": outcome.survey.id,
        "title": outcome.survey.title,
        "passed": passed,
        "participating": _share(outcome.result.respondents, outcome.result.total),
        "items": [item.id for item in plan.items],
        "total_cost_fen": plan.total_cost,
        "residents_total_fen": plan.residents_total,
    }


async def _sync(uow: UnitOfWork, project: Project, now: datetime) -> Project:
    """Record the outcome of a running stage whose instrument has finished."""
    for stage in project.stages:
        attempt = stage.current
        if stage.status is not StageStatus.RUNNING or attempt is None:
            continue
        outcome: tuple[bool, dict[str, Any]] | None
        if attempt.instrument is Instrument.VOTE:
            outcome = await _vote_outcome(uow, attempt.ref_id)
        else:
            survey = await uow.surveys.get(attempt.ref_id)
            if attempt.instrument is Instrument.QUESTIONNAIRE:
                outcome = await _questionnaire_outcome(uow, project, stage.kind, survey, now)
            elif survey.is_closed(now):
                roster = await uow.rosters.load(survey.roster_version_id)
                outcome = _menu_outcome(count_menu(survey, roster, await uow.surveys.responses(survey.id)))
            else:
                outcome = None
        if outcome is not None:
            project = record_result(project, stage.kind, outcome[0], outcome[1])
    return project


async def _load(uow: UnitOfWork, project_id: int, *, lock: bool = False) -> Project:
    return Project.from_dict(await uow.projects.get(project_id, lock=lock))


async def _save(uow: UnitOfWork, project: Project, now: datetime) -> None:
    await uow.projects.save(project.id, project.as_dict(), now)


@dataclass(frozen=True, slots=True)
class ProjectView:
    project: Project
    next: NextStep
    roster_number: int  # the community's number of the project's roster version


async def project_of_survey(uow: UnitOfWork, survey: Survey) -> Project | None:
    """The project whose stage the survey ran (or runs), if any: its plan is voted through the project."""
    async with uow:
        for project_id, _name in await uow.projects.of_community(survey.community_id):
            project = await _load(uow, project_id)
            for stage in project.stages:
                if any(a.instrument is not Instrument.VOTE and a.ref_id == survey.id for a in stage.attempts):
                    return project
    return None


async def create_project(
    uow: UnitOfWork, telegram_id: int, community_id: int, name: str, preset_name: str, now: datetime
) -> Project:
    """A new project of a programme preset, frozen on the community's latest roster version."""
    name = " ".join(name.split())
    if not name:
        raise SurveyError("empty", N_("give the project a name"))
    async with uow:
        await check_role(uow, telegram_id, community_id, Role.WORKER)
        version_id = await uow.rosters.latest(community_id)
        if version_id is None:
            raise NotFoundError("roster of community", community_id)
        project = new_project(community_id, name[:200], preset_name, version_id)
        project_id = await uow.projects.add(project.as_dict(), community_id, project.name, f"worker:{telegram_id}", now)
        project = replace(project, id=project_id)
        await _save(uow, project, now)
        await uow.commit()
    return project


async def community_projects(uow: UnitOfWork, telegram_id: int, community_id: int) -> list[tuple[int, str]]:
    async with uow:
        await check_any_role(uow, telegram_id, community_id, (Role.WORKER, Role.AUDITOR))
        return await uow.projects.of_community(community_id)


async def project_view(uow: UnitOfWork, telegram_id: int, project_id: int, now: datetime) -> ProjectView:
    """The project card's content for a worker or an auditor, with finished stages recorded."""
    async with uow:
        project = await _load(uow, project_id, lock=True)
        await check_any_role(uow, telegram_id, project.community_id, (Role.WORKER, Role.AUDITOR))
        synced = await _sync(uow, project, now)
        if synced != project:
            await _save(uow, synced, now)
        number = await uow.rosters.version_number(synced.roster_version)
        await uow.commit()
    return ProjectView(synced, next_step(synced, now=now), number)


async def settle_projects(uow: UnitOfWork, community_id: int, now: datetime) -> list[tuple[Project, StageKind, bool]]:
    """Record every running stage of the community's projects whose instrument has finished (the
    scheduler calls this when a vote's final result is out): (project, stage, passed) for each."""
    settled: list[tuple[Project, StageKind, bool]] = []
    async with uow:
        for project_id, _name in await uow.projects.of_community(community_id):
            project = await _load(uow, project_id, lock=True)
            synced = await _sync(uow, project, now)
            if synced == project:
                continue
            await _save(uow, synced, now)
            for before, after in zip(project.stages, synced.stages, strict=True):
                if before.status is StageStatus.RUNNING and after.status is not StageStatus.RUNNING:
                    settled.append((synced, after.kind, after.status is StageStatus.PASSED))
        await uow.commit()
    return settled


async def _worker_project(uow: UnitOfWork, telegram_id: int, project_id: int, now: datetime) -> Project:
    project = await _load(uow, project_id, lock=True)
    await check_role(uow, telegram_id, project.community_id, Role.WORKER)
    return await _sync(uow, project, now)


async def start_vote_stage(
    uow: UnitOfWork, telegram_id: int, project_id: int, stage: StageKind, vote: Vote, now: datetime
) -> tuple[Project, int]:
    """Create the stage's vote (the stage's rule, the project's roster) and mark the stage running."""
    async with uow:
        project = await _worker_project(uow, telegram_id, project_id, now)
        rule = stage_rule(project, stage) or vote.rule
        vote = replace(vote, community_id=project.community_id, rule=rule, roster_version_id=project.roster_version)
        # Refused before anything is stored: the stage's order, the instrument, the roster.
        start_stage(project, stage, Instrument.VOTE, 0, project.roster_version, now=now)
        vote_id = await add_vote(uow, vote, now)
        project = start_stage(project, stage, Instrument.VOTE, vote_id, project.roster_version, now=now)
        await _save(uow, project, now)
        await uow.commit()
    return project, vote_id


async def start_survey_stage(
    uow: UnitOfWork, telegram_id: int, project_id: int, stage: StageKind, survey: Survey, now: datetime
) -> tuple[Project, Survey]:
    """Launch the stage's questionnaire or menu round on the project's roster and mark the stage running.

    A questionnaire that decides a stage must say how to read agreement or satisfaction off it (its
    `satisfaction` measure); the stage's rule is applied to that measure.
    """
    instrument = Instrument.MENU if survey.kind is SurveyKind.MENU else Instrument.QUESTIONNAIRE
    if instrument is Instrument.QUESTIONNAIRE and survey.questionnaire().satisfaction is None:
        raise SurveyError(
            "no_measure",
            N_(
                "a questionnaire that decides a project stage needs a [satisfaction] measure: the question "
                "and the answers that count as agreeing or satisfied"
            ),
        )
    async with uow:
        project = await _worker_project(uow, telegram_id, project_id, now)
        survey = replace(survey, community_id=project.community_id, roster_version_id=project.roster_version)
        start_stage(project, stage, instrument, 0, project.roster_version, now=now)
        survey = await add_survey(uow, survey, now)
        project = start_stage(project, stage, instrument, survey.id, project.roster_version, now=now)
        await _save(uow, project, now)
        await uow.commit()
    return project, survey


async def plan_to_vote(
    uow: UnitOfWork,
    telegram_id: int,
    project_id: int,
    closes_at: datetime,
    now: datetime,
    translate: Any = str,
) -> tuple[Project, int]:
    """Put the draft plan of the project's last menu round to the plan-approval vote, in one step."""
    async with uow:
        project = await _worker_project(uow, telegram_id, project_id, now)
        refusal = can_start(
            project, StageKind.PLAN_APPROVAL, instrument=Instrument.VOTE, roster_version=project.roster_version, now=now
        )
        if refusal is not None:
            raise refusal.error()
        menu_id = project.stage(StageKind.MENU).ref_id
        assert menu_id is not None  # the menu stage has passed
        survey = await uow.surveys.get(menu_id)
        roster = await uow.rosters.load(survey.roster_version_id)
        outcome = count_menu(survey, roster, await uow.surveys.responses(survey.id))
        rule = stage_rule(project, StageKind.PLAN_APPROVAL)
        assert rule is not None
        vote = plan_vote(outcome, rule, closes_at, now, f"worker:{telegram_id}", translate)
        vote_id = await add_vote(uow, replace(vote, roster_version_id=project.roster_version), now)
        project = start_stage(
            project, StageKind.PLAN_APPROVAL, Instrument.VOTE, vote_id, project.roster_version, now=now
        )
        await _save(uow, project, now)
        await uow.commit()
    return project, vote_id


async def notice_project(
    uow: UnitOfWork, telegram_id: int, project_id: int, stage: StageKind, now: datetime, tz: tzinfo
) -> Project:
    """The worker has posted the public notice (公示) of a passed stage's result, from now."""
    async with uow:
        project = await _worker_project(uow, telegram_id, project_id, now)
        project = post_notice(project, stage, now, tz)
        await _save(uow, project, now)
        await uow.commit()
    return project


async def refreeze_project(uow: UnitOfWork, telegram_id: int, project_id: int, reason: str, now: datetime) -> Project:
    """Move the project to the community's latest roster version, explicitly, with a reason."""
    async with uow:
        project = await _worker_project(uow, telegram_id, project_id, now)
        latest = await uow.rosters.latest(project.community_id)
        assert latest is not None
        project = refreeze(project, latest, reason)
        await _save(uow, project, now)
        await uow.commit()
    return project


async def abandon_project(uow: UnitOfWork, telegram_id: int, project_id: int, reason: str, now: datetime) -> Project:
    async with uow:
        project = await _worker_project(uow, telegram_id, project_id, now)
        project = abandon(project, reason)
        await _save(uow, project, now)
        await uow.commit()
    return project
