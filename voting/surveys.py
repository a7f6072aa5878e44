"""Questionnaires and menu rounds as stored, and the use cases around them.

A *survey* is either a questionnaire (voting.questionnaire) or a menu round (voting.menu: residents
tick items of a catalogue). Both run on one frozen roster version of a community — the whole
community, counted by headcount and by area — from the moment a worker launches them until their
closing time or until a worker closes them early. A survey is open or closed by the clock: nothing
has to run at the deadline for an answer to be refused after it.

Residents' answers in progress are kept in storage per account (so a resident can leave and come
back days later); a submitted response is the owner's, and the latest counts (named), or carries
only the owner's weight and a random id (anonymous questionnaires: see voting.questionnaire.submit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from voting.canonical import canonical_json, sha256_hex
from voting.errors import (
    N_,
    AlreadyAnsweredError,
    NotBoundError,
    NotFoundError,
    RuleError,
    SurveyError,
)
from voting.lifecycle import Recipient
from voting.menu import (
    DEFAULT_MENU_RULE,
    Catalogue,
    DraftPlan,
    SelectionResult,
    default_catalogue,
    draft_plan,
    latest_selections,
    plan_vote_text,
    plan_vote_title,
    selection_result,
)
from voting.model import Roster, Scope, Weight
from voting.ports import UnitOfWork
from voting.questionnaire import (
    Questionnaire,
    QuestionnaireResult,
    Response,
    questionnaire_from_dict,
    submit,
    tally_questionnaire,
)
from voting.residents import Account, Role, check_any_role, check_role
from voting.rules import Rule, rule_from_dict
from voting.votes import Vote

__all__ = [
    "MenuOutcome",
    "ResidentSurvey",
    "StoredResponse",
    "Survey",
    "SurveyKind",
    "close_survey",
    "community_surveys",
    "create_menu_round",
    "create_questionnaire",
    "current_catalogue",
    "menu_outcome",
    "plan_vote",
    "questionnaire_result",
    "resident_survey",
    "resident_surveys",
    "save_catalogue",
    "save_progress",
    "staff_survey",
    "submit_menu",
    "submit_questionnaire",
    "survey_recipients",
    "update_progress",
]


class SurveyKind(StrEnum):
    QUESTIONNAIRE = "questionnaire"
    MENU = "menu"


@dataclass(frozen=True, slots=True)
class Survey:
    community_id: int
    kind: SurveyKind
    title: str
    definition: dict[str, Any]  # JSON-able, see storage.tables.Survey
    roster_version_id: int
    opens_at: datetime
    closes_at: datetime
    created_by: str
    anonymous: bool = False
    closed_at: datetime | None = None
    id: int = 0

    def is_open(self, now: datetime) -> bool:
        return self.closed_at is None and self.opens_at <= now < self.closes_at

    def is_closed(self, now: datetime) -> bool:
        return self.closed_at is not None or now >= self.closes_at

    @property
    def ended_at(self) -> datetime:
        return self.closes_at if self.closed_at is None else min(self.closed_at, self.closes_at)

    @property
    def definition_sha256(self) -> str:
        return sha256_hex(canonical_json(self.definition))

    def questionnaire(self) -> Questionnaire:
        if self.kind is not SurveyKind.QUESTIONNAIRE:
            raise _wrong_kind(self)
        return questionnaire_from_dict(self.definition)

    def catalogue(self) -> Catalogue:
        if self.kind is not SurveyKind.MENU:
            raise _wrong_kind(self)
        return Catalogue.from_dict(self.definition["catalogue"])

    def menu_rule(self) -> Rule:
        if self.kind is not SurveyKind.MENU:
            raise _wrong_kind(self)
        return rule_from_dict(self.definition["rule"])


def _wrong_kind(survey: Survey) -> SurveyError:
    return SurveyError("kind", N_("this is not a {kind}"), kind=str(survey.kind))


@dataclass(frozen=True, slots=True)
class StoredResponse:
    respondent: str  # owner key (named) or a random id (anonymous)
    answers: dict[str, Any]  # questionnaire answers, or {"items": [...]} for a menu round
    anonymous: bool = False
    weight_area: int | None = None  # anonymous only: the owner's area at submission
    account_id: int | None = None  # named only
    unit_id: str | None = None  # named only: the home the resident answered for
    submitted_at: datetime | None = None  # named only
    id: int = 0  # the order of submission


# ---------------------------------------------------------------------------------------- workers


async def add_survey(uow: UnitOfWork, survey: Survey, now: datetime) -> Survey:
    """Inside the caller's transaction: check the times and the roster, store the survey open from now."""
    if survey.closes_at <= now:
        raise RuleError(N_("closes_at: must be later than opens_at and than now"))
    await uow.communities.name(survey.community_id)
    version_id = survey.roster_version_id or await uow.rosters.latest(survey.community_id)
    if version_id is None:
        raise NotFoundError("roster of community", survey.community_id)
    survey = replace(survey, roster_version_id=version_id, opens_at=now)
    return replace(survey, id=await uow.surveys.add(survey, now))


def questionnaire_survey(
    community_id: int, questionnaire: Questionnaire, closes_at: datetime, created_by: str, roster_version_id: int = 0
) -> Survey:
    return Survey(
        community_id,
        SurveyKind.QUESTIONNAIRE,
        questionnaire.title,
        questionnaire.as_dict(),
        roster_version_id,
        closes_at,  # replaced by the launch time
        closes_at,
        created_by,
        anonymous=questionnaire.anonymous,
    )


def menu_survey(
    community_id: int,
    title: str,
    catalogue: Catalogue,
    closes_at: datetime,
    created_by: str,
    rule: Rule = DEFAULT_MENU_RULE,
    roster_version_id: int = 0,
) -> Survey:
    definition = {"catalogue": catalogue.as_dict(), "rule": rule.as_dict()}
    title = title.strip() or catalogue.name
    return Survey(
        community_id, SurveyKind.MENU, title[:300], definition, roster_version_id, closes_at, closes_at, created_by
    )


async def create_questionnaire(
    uow: UnitOfWork,
    telegram_id: int,
    community_id: int,
    questionnaire: Questionnaire,
    closes_at: datetime,
    now: datetime,
    *,
    created_by: str = "",
) -> Survey:
    """Launch a questionnaire now, on the community's latest roster, until `closes_at`."""
    async with uow:
        await check_role(uow, telegram_id, community_id, Role.WORKER)
        survey = questionnaire_survey(community_id, questionnaire, closes_at, created_by or f"worker:{telegram_id}")
        survey = await add_survey(uow, survey, now)
        await uow.commit()
    return survey


async def create_menu_round(
    uow: UnitOfWork,
    telegram_id: int,
    community_id: int,
    title: str,
    closes_at: datetime,
    now: datetime,
    *,
    rule: Rule = DEFAULT_MENU_RULE,
) -> Survey:
    """Launch a menu round now with the community's current catalogue (a copy is kept with the round)."""
    async with uow:
        await check_role(uow, telegram_id, community_id, Role.WORKER)
        catalogue = await _catalogue(uow, community_id)
        survey = menu_survey(community_id, title, catalogue, closes_at, f"worker:{telegram_id}", rule)
        survey = await add_survey(uow, survey, now)
        await uow.commit()
    return survey


async def staff_survey(
    uow: UnitOfWork, telegram_id: int, survey_id: int, roles: Sequence[Role] = (Role.WORKER,)
) -> Survey:
    """A survey as a worker (or, given, an auditor) of its community sees it."""
    async with uow:
        survey = await uow.surveys.get(survey_id)
        await check_any_role(uow, telegram_id, survey.community_id, roles)
    return survey


async def community_surveys(uow: UnitOfWork, telegram_id: int, community_id: int) -> list[tuple[Survey, int]]:
    """The community's surveys, newest first, each with how many owners have responded."""
    async with uow:
        await check_any_role(uow, telegram_id, community_id, (Role.WORKER, Role.AUDITOR))
        surveys = await uow.surveys.of_community(community_id)
        return [(s, await uow.surveys.counts(s)) for s in surveys]


async def close_survey(uow: UnitOfWork, telegram_id: int, survey_id: int, now: datetime) -> Survey:
    """A worker closes a survey before its deadline; closing a closed one changes nothing."""
    async with uow:
        survey = await uow.surveys.get(survey_id, lock=True)
        await check_role(uow, telegram_id, survey.community_id, Role.WORKER)
        if survey.is_closed(now):
            return survey
        await uow.surveys.close(survey_id, now)
        await uow.commit()
    return replace(survey, closed_at=now)


async def _catalogue(uow: UnitOfWork, community_id: int) -> Catalogue:
    stored = await uow.surveys.catalogue(community_id)
    return default_catalogue() if stored is None else Catalogue.from_dict(stored)


async def current_catalogue(uow: UnitOfWork, telegram_id: int, community_id: int) -> tuple[Catalogue, bool]:
    """The community's catalogue, and whether it is the community's own (False: the shipped default)."""
    async with uow:
        await check_any_role(uow, telegram_id, community_id, (Role.WORKER, Role.AUDITOR))
        stored = await uow.surveys.catalogue(community_id)
    return (default_catalogue(), False) if stored is None else (Catalogue.from_dict(stored), True)


async def save_catalogue(
    uow: UnitOfWork, telegram_id: int, community_id: int, catalogue: Catalogue, now: datetime
) -> int:
    """Make `catalogue` the community's current one (earlier ones and running rounds are untouched)."""
    if not catalogue.items:
        raise SurveyError("empty", N_("a catalogue needs at least one item"))
    async with uow:
        await check_role(uow, telegram_id, community_id, Role.WORKER)
        catalogue_id = await uow.surveys.save_catalogue(community_id, catalogue.as_dict(), f"worker:{telegram_id}", now)
        await uow.commit()
    return catalogue_id


# ---------------------------------------------------------------------------------------- results


async def _counted(uow: UnitOfWork, survey: Survey) -> tuple[Roster, list[StoredResponse]]:
    return await uow.rosters.load(survey.roster_version_id), await uow.surveys.responses(survey.id)


def count_questionnaire(survey: Survey, roster: Roster, stored: Sequence[StoredResponse]) -> QuestionnaireResult:
    responses = [
        Response(
            s.respondent,
            s.answers,
            s.id,
            None if not s.anonymous or s.weight_area is None else Weight(s.weight_area, 1),
        )
        for s in stored
    ]
    return tally_questionnaire(survey.questionnaire(), responses, roster)


async def questionnaire_result(uow: UnitOfWork, telegram_id: int, survey_id: int) -> tuple[Survey, QuestionnaireResult]:
    """The count so far (final once closed), for a worker or an auditor of the community."""
    async with uow:
        survey = await uow.surveys.get(survey_id)
        await check_any_role(uow, telegram_id, survey.community_id, (Role.WORKER, Role.AUDITOR))
        roster, stored = await _counted(uow, survey)
    return survey, count_questionnaire(survey, roster, stored)


@dataclass(frozen=True, slots=True)
class MenuOutcome:
    survey: Survey
    catalogue: Catalogue
    roster: Roster
    result: SelectionResult
    plan: DraftPlan


def count_menu(survey: Survey, roster: Roster, stored: Sequence[StoredResponse]) -> MenuOutcome:
    catalogue = survey.catalogue()
    picks = [(s.unit_id or "", s.answers.get("items", [])) for s in sorted(stored, key=lambda s: s.id)]
    selections = latest_selections(roster, catalogue, picks)
    result = selection_result(catalogue, roster, selections)
    plan = draft_plan(catalogue, roster, result, survey.menu_rule(), title=survey.title)
    return MenuOutcome(survey, catalogue, roster, result, plan)


async def menu_outcome(uow: UnitOfWork, telegram_id: int, survey_id: int) -> MenuOutcome:
    """Each item's support and the draft plan, for a worker or an auditor of the community."""
    async with uow:
        survey = await uow.surveys.get(survey_id)
        await check_any_role(uow, telegram_id, survey.community_id, (Role.WORKER, Role.AUDITOR))
        roster, stored = await _counted(uow, survey)
    return count_menu(survey, roster, stored)


def plan_vote(
    outcome: MenuOutcome,
    rule: Rule,
    closes_at: datetime,
    now: datetime,
    created_by: str,
    translate: Callable[[str], str] = str,
) -> Vote:
    """The formal vote on a menu round's draft plan, on the round's roster (one step for the worker)."""
    if not outcome.survey.is_closed(now):
        raise SurveyError("open", N_("close the menu round first: the plan is drafted from its final count"))
    if not outcome.plan.items:
        raise SurveyError("empty", N_("no item has enough support: there is no plan to put to the vote"))
    return Vote(
        outcome.survey.community_id,
        plan_vote_title(outcome.plan, translate),
        plan_vote_text(outcome.plan, translate),
        rule,
        Scope(),
        now,
        closes_at,
        roster_version_id=outcome.survey.roster_version_id,
        created_by=created_by,
    )


# --------------------------------------------------------------------------------------- residents


@dataclass(frozen=True, slots=True)
class ResidentSurvey:
    """A survey as one of the account's owners sees it."""

    survey: Survey
    owner_key: str
    units: tuple[tuple[str, int], ...]  # the owner's homes in the survey's roster: (unit id, area)
    total_area: int  # the roster's, for the share of a split item
    progress: dict[str, Any] | None = None  # this account's answers in progress
    latest: StoredResponse | None = None  # the owner's counting response (named)
    answered: bool = False  # the owner has responded (named or anonymous)
    account_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def owner_area(self) -> int:
        return sum(area for _, area in self.units)


async def survey_recipients(uow: UnitOfWork, survey_id: int) -> list[Recipient]:
    """Active accounts bound to owners in the survey's roster, each once, in their language."""
    async with uow:
        survey = await uow.surveys.get(survey_id)
        roster = await uow.rosters.load(survey.roster_version_id)
        found: dict[int, Recipient] = {}
        for telegram_id, language, owner_key in await uow.surveys.bound_accounts(survey.community_id):
            if owner_key in roster.owner_area:
                found.setdefault(telegram_id, Recipient(telegram_id, language))
    return list(found.values())


async def _bound(uow: UnitOfWork, telegram_id: int) -> tuple[Account, list[tuple[int, str, str]]]:
    account = await uow.accounts.find(telegram_id)
    bindings = [] if account is None else await uow.bindings.of_account(account.id)
    if account is None or not bindings:
        raise NotBoundError(telegram_id)
    return account, [(b.community_id, b.owner_key, b.unit_id) for b in bindings]


async def _as_owner(
    uow: UnitOfWork, account: Account, bound: list[tuple[int, str, str]], survey: Survey, rosters: dict[int, Roster]
) -> ResidentSurvey | None:
    roster = rosters.get(survey.roster_version_id)
    if roster is None:
        roster = rosters[survey.roster_version_id] = await uow.rosters.load(survey.roster_version_id)
    for community_id, owner_key, _unit in bound:
        if community_id != survey.community_id or owner_key not in roster.owner_area:
            continue
        units = tuple((u.unit_id, u.area) for u in roster if roster.owner_of(u.unit_id) == owner_key)
        progress = await uow.surveys.progress(survey.id, account.id)
        if survey.anonymous:
            latest, answered = None, await uow.surveys.answered(survey.id, owner_key)
        else:
            latest = await uow.surveys.latest_of(survey.id, owner_key)
            answered = latest is not None
        return ResidentSurvey(survey, owner_key, units, roster.total.area, progress, latest, answered, account.id)
    return None


async def resident_surveys(uow: UnitOfWork, telegram_id: int, now: datetime) -> list[ResidentSurvey]:
    """The open surveys of the account's owners, newest first; NotBoundError when unbound."""
    async with uow:
        account, bound = await _bound(uow, telegram_id)
        found: list[ResidentSurvey] = []
        rosters: dict[int, Roster] = {}
        for survey in await uow.surveys.open_in(sorted({c for c, _o, _u in bound}), now):
            seen = await _as_owner(uow, account, bound, survey, rosters)
            if seen is not None:
                found.append(seen)
    return found


async def resident_survey(uow: UnitOfWork, telegram_id: int, survey_id: int) -> ResidentSurvey:
    """One survey as the account's owner sees it, open or not; SurveyError when it is not theirs."""
    async with uow:
        account, bound = await _bound(uow, telegram_id)
        try:
            survey = await uow.surveys.get(survey_id)
        except NotFoundError:
            raise _not_yours() from None
        seen = await _as_owner(uow, account, bound, survey, {})
    if seen is None:
        raise _not_yours()
    return seen


def _not_yours() -> SurveyError:
    return SurveyError("scope", N_("this is not for your home"))


def _check_open(survey: Survey, now: datetime) -> None:
    if survey.closed_at is not None or now >= survey.closes_at:
        raise SurveyError("closed", N_("“{title}” has closed; answers are no longer taken"), title=survey.title)
    if now < survey.opens_at:
        raise SurveyError("not_open", N_("“{title}” has not opened yet"), title=survey.title)


async def save_progress(uow: UnitOfWork, seen: ResidentSurvey, data: dict[str, Any], now: datetime) -> None:
    """Keep a resident's answers or ticks in progress (refused once the survey has closed)."""
    async with uow:
        survey = await uow.surveys.get(seen.survey.id)
        _check_open(survey, now)
        await uow.surveys.save_progress(survey.id, seen.account_id, seen.owner_key, data, now)
        await uow.commit()


async def update_progress(
    uow: UnitOfWork,
    seen: ResidentSurvey,
    change: Callable[[dict[str, Any] | None], dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """Read, change and write a resident's progress in one transaction, under the survey's row lock:
    two quick taps (handled concurrently) each see the other's tick instead of overwriting it."""
    async with uow:
        survey = await uow.surveys.get(seen.survey.id, lock=True)
        _check_open(survey, now)
        data = change(await uow.surveys.progress(survey.id, seen.account_id))
        await uow.surveys.save_progress(survey.id, seen.account_id, seen.owner_key, data, now)
        await uow.commit()
    return data


async def submit_questionnaire(
    uow: UnitOfWork,
    seen: ResidentSurvey,
    answers: dict[str, Any],
    now: datetime,
    *,
    random_id: Callable[[], str],
) -> StoredResponse:
    """Check and store a resident's response (AnswerError if incomplete; AlreadyAnsweredError for a second
    anonymous one). The progress is dropped in the same transaction."""
    async with uow:
        survey = await uow.surveys.get(seen.survey.id, lock=True)
        _check_open(survey, now)
        roster = await uow.rosters.load(survey.roster_version_id)
        questionnaire = survey.questionnaire()
        already = survey.anonymous and await uow.surveys.answered(survey.id, seen.owner_key)
        anonymous_id = random_id() if survey.anonymous else ""
        response = submit(
            questionnaire, answers, seen.owner_key, roster, seq=0, already_answered=already, anonymous_id=anonymous_id
        )
        if survey.anonymous:
            if not await uow.surveys.mark_answered(survey.id, seen.owner_key):
                raise AlreadyAnsweredError(seen.owner_key)
            assert response.weight is not None
            stored = StoredResponse(response.respondent, dict(response.answers), True, response.weight.area)
            await uow.surveys.add_anonymous(survey.id, stored)
        else:
            unit = seen.units[0][0] if seen.units else None
            stored = StoredResponse(
                response.respondent, dict(response.answers), False, None, seen.account_id, unit, now
            )
            stored = replace(stored, id=await uow.surveys.add_response(survey.id, stored))
        await uow.surveys.drop_progress(survey.id, seen.account_id)
        await uow.commit()
    return stored


async def submit_menu(uow: UnitOfWork, seen: ResidentSurvey, item_ids: Sequence[str], now: datetime) -> StoredResponse:
    """Store an owner's selection (required items included); a later one replaces it."""
    async with uow:
        survey = await uow.surveys.get(seen.survey.id, lock=True)
        _check_open(survey, now)
        catalogue = survey.catalogue()
        for item_id in item_ids:
            catalogue.item(item_id)  # MenuError for an unknown item (a stale or forged button)
        chosen = sorted(set(item_ids) | catalogue.required_ids, key=[i.id for i in catalogue.items].index)
        unit = seen.units[0][0] if seen.units else None
        stored = StoredResponse(seen.owner_key, {"items": chosen}, False, None, seen.account_id, unit, now)
        stored = replace(stored, id=await uow.surveys.add_response(survey.id, stored))
        await uow.surveys.drop_progress(survey.id, seen.account_id)
        await uow.commit()
    return stored
