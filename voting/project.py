"""A renovation project as a pure state machine over the stages of DOMAIN.md's process:

    willingness (意愿征询: a vote or a questionnaire) → menu (居民点单) → plan approval (方案表决,
    a formal vote) → acceptance (竣工验收: a satisfaction questionnaire)

each counted on the project's one frozen roster version unless a worker re-freezes it explicitly,
with the thresholds of a local programme (Baoding's three 80%, Suining, Hangzhou Xiacheng).

Nothing here touches a vote or a questionnaire: a stage holds only the id of the vote, menu round or
questionnaire that ran it and a JSON-able summary of its result. The bot starts the instrument, counts
it (with `stage_rule`), and records the outcome here. Every function returns a new Project.

A failed stage does not end the project. DOMAIN.md's programmes describe consultation that goes
on until residents agree: a community that misses Baoding's 80% willingness is simply not in this
year's plan and may ask again; a plan that fails its vote is revised (back to the menu, or a revised
plan put to the vote again); works that fail acceptance are rectified (整改) and surveyed again. So a
failed stage may be started again (a new attempt; earlier attempts are kept), and a worker who gives
up ends the project explicitly with `abandon`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from enum import StrEnum
from fractions import Fraction
from typing import Any

from voting.errors import N_, ProjectError
from voting.rules import Base, Condition, ConditionKind, Rule, preset
from voting.schedule import add_working_days

__all__ = [
    "PROJECT_PRESETS",
    "STAGE_TITLES",
    "Action",
    "Attempt",
    "Instrument",
    "NextStep",
    "Project",
    "ProjectPreset",
    "ProjectStatus",
    "Refreeze",
    "Refusal",
    "RefusalCode",
    "Stage",
    "StageKind",
    "StageSpec",
    "StageStatus",
    "abandon",
    "can_start",
    "new_project",
    "next_step",
    "post_notice",
    "project_preset",
    "record_result",
    "refreeze",
    "stage_rule",
    "start_stage",
]


class StageKind(StrEnum):
    WILLINGNESS = "willingness"  # 需求征集 / 改造意愿
    MENU = "menu"  # 菜单式改造, 居民点单
    PLAN_APPROVAL = "plan_approval"  # 方案表决 / 改造同意书
    ACCEPTANCE = "acceptance"  # 竣工验收: satisfaction


STAGE_TITLES: Mapping[StageKind, str] = {
    StageKind.WILLINGNESS: N_("Willingness to renovate"),
    StageKind.MENU: N_("Menu selection"),
    StageKind.PLAN_APPROVAL: N_("Plan approval vote"),
    StageKind.ACCEPTANCE: N_("Satisfaction at acceptance"),
}


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"


class Instrument(StrEnum):
    """What runs a stage; the stage keeps its id."""

    VOTE = "vote"
    QUESTIONNAIRE = "questionnaire"
    MENU = "menu"  # a menu round (selections of voting.menu)


class ProjectStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class StageSpec:
    """What a programme asks of a stage: how it may be run, the rule it must pass (None: the
    programme sets no count, the worker records the outcome), and a public notice (公示) of at least
    `notice_working_days` working days after it passes before the next stage may start."""

    kind: StageKind
    instruments: tuple[Instrument, ...]
    rule: Rule | None
    notice_working_days: int = 0


@dataclass(frozen=True, slots=True)
class ProjectPreset:
    name: str
    title: str  # English gettext msgid
    stages: tuple[StageSpec, ...]


_EIGHTY = preset("eighty-percent")
_DOUBLE_TWO_THIRDS = preset("double-two-thirds")
#: Hangzhou Xiacheng (2019): double two-thirds plus a plan-approval rate of 2/3 of those taking part.
HANGZHOU_PLAN_RULE = Rule(
    "hangzhou-xiacheng",
    (
        *_DOUBLE_TWO_THIRDS.conditions,
        Condition(ConditionKind.APPROVAL, Fraction(2, 3), base=Base.PARTICIPATING),
    ),
    N_("Hangzhou Xiacheng: double two-thirds and a plan-approval rate of two-thirds"),
)

_WILLINGNESS_BY = (Instrument.VOTE, Instrument.QUESTIONNAIRE)
_MENU_BY = (Instrument.MENU,)
_VOTE_BY = (Instrument.VOTE,)
_ACCEPTANCE_BY = (Instrument.QUESTIONNAIRE, Instrument.VOTE)

PROJECT_PRESETS: Mapping[str, ProjectPreset] = {
    p.name: p
    for p in (
        ProjectPreset(
            "baoding",
            N_("Baoding three 80%: enter the plan, approve the plan, satisfied at acceptance"),
            (
                StageSpec(StageKind.WILLINGNESS, _WILLINGNESS_BY, _EIGHTY),
                StageSpec(StageKind.MENU, _MENU_BY, None),
                StageSpec(StageKind.PLAN_APPROVAL, _VOTE_BY, _EIGHTY),
                StageSpec(StageKind.ACCEPTANCE, _ACCEPTANCE_BY, _EIGHTY),
            ),
        ),
        ProjectPreset(
            "suining",
            N_("Suining: double two-thirds to apply and to approve"),
            (
                StageSpec(StageKind.WILLINGNESS, _WILLINGNESS_BY, _DOUBLE_TWO_THIRDS),
                StageSpec(StageKind.MENU, _MENU_BY, None),
                StageSpec(StageKind.PLAN_APPROVAL, _VOTE_BY, _DOUBLE_TWO_THIRDS),
                StageSpec(StageKind.ACCEPTANCE, _ACCEPTANCE_BY, None),
            ),
        ),
        ProjectPreset(
            "hangzhou-xiacheng",
            N_("Hangzhou Xiacheng: double two-thirds, plan approval rate 2/3, public notice of 5 working days"),
            (
                StageSpec(StageKind.WILLINGNESS, _WILLINGNESS_BY, _DOUBLE_TWO_THIRDS),
                StageSpec(StageKind.MENU, _MENU_BY, None),
                StageSpec(StageKind.PLAN_APPROVAL, _VOTE_BY, HANGZHOU_PLAN_RULE, notice_working_days=5),
                StageSpec(StageKind.ACCEPTANCE, _ACCEPTANCE_BY, None),
            ),
        ),
    )
}


class RefusalCode(StrEnum):
    UNKNOWN_STAGE = "unknown_stage"
    PROJECT_ENDED = "project_ended"
    PREVIOUS_NOT_PASSED = "previous_not_passed"
    ALREADY_RUNNING = "already_running"
    ALREADY_PASSED = "already_passed"
    NOTICE_NOT_POSTED = "notice_not_posted"
    NOTICE_RUNNING = "notice_running"
    NO_NOTICE = "no_notice"
    WRONG_INSTRUMENT = "wrong_instrument"
    ROSTER_MISMATCH = "roster_mismatch"
    NOT_RUNNING = "not_running"
    STAGE_RUNNING = "stage_running"
    SAME_VERSION = "same_version"
    NO_REASON = "no_reason"
    UNKNOWN_PRESET = "unknown_preset"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a step is not allowed now: a stable `code` and an English gettext template with params
    (`stage` params are StageKind values: the bot shows them with STAGE_TITLES)."""

    code: RefusalCode
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    def error(self) -> ProjectError:
        return ProjectError(str(self.code), self.template, **self.params)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a stage: what ran it, on which roster version, and its outcome (None while running)."""

    instrument: Instrument
    ref_id: int
    roster_version: int
    passed: bool | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # JSON-able


@dataclass(frozen=True, slots=True)
class Stage:
    kind: StageKind
    status: StageStatus = StageStatus.PENDING
    attempts: tuple[Attempt, ...] = ()
    notice_posted_at: datetime | None = None
    notice_until: datetime | None = None

    @property
    def current(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def ref_id(self) -> int | None:
        return self.attempts[-1].ref_id if self.attempts else None

    @property
    def summary(self) -> dict[str, Any]:
        return self.attempts[-1].summary if self.attempts else {}


@dataclass(frozen=True, slots=True)
class Refreeze:
    """A worker's explicit move of the project to another roster version, and why."""

    from_version: int
    to_version: int
    reason: str
    before_stage: StageKind | None


@dataclass(frozen=True, slots=True)
class Project:
    community_id: int
    name: str
    preset: str
    roster_version: int
    stages: tuple[Stage, ...]
    refreezes: tuple[Refreeze, ...] = ()
    abandoned_reason: str = ""
    id: int = 0

    @property
    def status(self) -> ProjectStatus:
        if self.abandoned_reason:
            return ProjectStatus.ABANDONED
        if all(s.status is StageStatus.PASSED for s in self.stages):
            return ProjectStatus.COMPLETED
        return ProjectStatus.ACTIVE

    def stage(self, kind: StageKind) -> Stage:
        for stage in self.stages:
            if stage.kind is kind:
                return stage
        raise _refuse(RefusalCode.UNKNOWN_STAGE, N_('this project has no stage "{stage}"'), stage=str(kind)).error()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: datetimes as ISO 8601 text."""

        def moment(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "community_id": self.community_id,
            "name": self.name,
            "preset": self.preset,
            "roster_version": self.roster_version,
            "status": str(self.status),
            "abandoned_reason": self.abandoned_reason,
            "stages": [
                {
                    "kind": str(s.kind),
                    "status": str(s.status),
                    "notice_posted_at": moment(s.notice_posted_at),
                    "notice_until": moment(s.notice_until),
                    "attempts": [
                        {
                            "instrument": str(a.instrument),
                            "ref_id": a.ref_id,
                            "roster_version": a.roster_version,
                            "passed": a.passed,
                            "summary": a.summary,
                        }
                        for a in s.attempts
                    ],
                }
                for s in self.stages
            ],
            "refreezes": [
                {
                    "from_version": r.from_version,
                    "to_version": r.to_version,
                    "reason": r.reason,
                    "before_stage": None if r.before_stage is None else str(r.before_stage),
                }
                for r in self.refreezes
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Project:
        def moment(value: Any) -> datetime | None:
            return None if value is None else datetime.fromisoformat(str(value))

        stages = tuple(
            Stage(
                StageKind(s["kind"]),
                StageStatus(s["status"]),
                tuple(
                    Attempt(
                        Instrument(a["instrument"]),
                        int(a["ref_id"]),
                        int(a["roster_version"]),
                        a["passed"],
                        dict(a["summary"]),
                    )
                    for a in s["attempts"]
                ),
                moment(s.get("notice_posted_at")),
                moment(s.get("notice_until")),
            )
            for s in data["stages"]
        )
        refreezes = tuple(
            Refreeze(
                int(r["from_version"]),
                int(r["to_version"]),
                str(r["reason"]),
                None if r["before_stage"] is None else StageKind(r["before_stage"]),
            )
            for r in data.get("refreezes", [])
        )
        return cls(
            int(data["community_id"]),
            str(data["name"]),
            str(data["preset"]),
            int(data["roster_version"]),
            stages,
            refreezes,
            str(data.get("abandoned_reason", "")),
            int(data.get("id", 0)),
        )


def _refuse(code: RefusalCode, template: str, **params: Any) -> Refusal:
    return Refusal(code, template, params)


def project_preset(name: str) -> ProjectPreset:
    try:
        return PROJECT_PRESETS[name]
    except KeyError:
        raise _refuse(
            RefusalCode.UNKNOWN_PRESET,
            N_('unknown project preset "{name}"; use one of {known}'),
            name=name,
            known=", ".join(PROJECT_PRESETS),
        ).error() from None


def new_project(community_id: int, name: str, preset_name: str, roster_version: int) -> Project:
    """A project with every stage of its preset pending, on the given frozen roster version."""
    spec = project_preset(preset_name)
    return Project(community_id, name, spec.name, roster_version, tuple(Stage(s.kind) for s in spec.stages))


def _spec(project: Project, kind: StageKind) -> StageSpec:
    for spec in project_preset(project.preset).stages:
        if spec.kind is kind:
            return spec
    raise _refuse(RefusalCode.UNKNOWN_STAGE, N_('this project has no stage "{stage}"'), stage=str(kind)).error()


def stage_rule(project: Project, stage: StageKind) -> Rule | None:
    """The rule the stage's vote or questionnaire must pass (None: the programme sets none)."""
    return _spec(project, stage).rule


def _index(project: Project, kind: StageKind) -> int:
    for index, stage in enumerate(project.stages):
        if stage.kind is kind:
            return index
    raise _refuse(RefusalCode.UNKNOWN_STAGE, N_('this project has no stage "{stage}"'), stage=str(kind)).error()


def _notice_refusal(project: Project, stage: Stage, now: datetime | None) -> Refusal | None:
    """A passed stage whose programme asks for a public notice holds up the next until it has run."""
    needed = _spec(project, stage.kind).notice_working_days
    if not needed:
        return None
    if stage.notice_until is None:
        return _refuse(
            RefusalCode.NOTICE_NOT_POSTED,
            N_("post the public notice of the {stage} result first ({days} working days at least)"),
            stage=str(stage.kind),
            days=needed,
        )
    if now is None or now < stage.notice_until:
        return _refuse(
            RefusalCode.NOTICE_RUNNING,
            N_("the public notice of the {stage} result runs until {until}"),
            stage=str(stage.kind),
            until=stage.notice_until.isoformat(),
        )
    return None


def can_start(  # noqa: PLR0911 - one early return per rule of the process reads as the rule list
    project: Project,
    stage: StageKind,
    *,
    instrument: Instrument | None = None,
    roster_version: int | None = None,
    now: datetime | None = None,
) -> Refusal | None:
    """None if `stage` may start now, else why not.

    A stage starts when the one before it has passed (and that one's public notice, if any, is over:
    give `now`); a failed stage may start again; a passed menu may be run again when the plan vote
    after it failed (the plan is revised). `instrument` and `roster_version`, when given, are checked
    against the stage's allowed instruments and the project's frozen roster.
    """
    if project.status is not ProjectStatus.ACTIVE:
        return _refuse(RefusalCode.PROJECT_ENDED, N_("the project has ended ({status})"), status=str(project.status))
    try:
        index = _index(project, stage)
        spec = _spec(project, stage)
    except ProjectError as exc:
        return _refuse(RefusalCode(exc.code), exc.template, **exc.params)
    running = [s for s in project.stages if s.status is StageStatus.RUNNING]
    if running:
        return _refuse(
            RefusalCode.ALREADY_RUNNING if running[0].kind is stage else RefusalCode.STAGE_RUNNING,
            N_("the {stage} stage is still running; record its result first"),
            stage=str(running[0].kind),
        )
    current = project.stages[index]
    if current.status is StageStatus.PASSED:
        following = project.stages[index + 1] if index + 1 < len(project.stages) else None
        revisable = stage is StageKind.MENU and following is not None and following.status is StageStatus.FAILED
        if not revisable:
            return _refuse(RefusalCode.ALREADY_PASSED, N_("the {stage} stage has already passed"), stage=str(stage))
    if index > 0:
        previous = project.stages[index - 1]
        if previous.status is not StageStatus.PASSED:
            return _refuse(
                RefusalCode.PREVIOUS_NOT_PASSED,
                N_("the {previous} stage must pass before the {stage} stage can start"),
                previous=str(previous.kind),
                stage=str(stage),
            )
        notice = _notice_refusal(project, previous, now)
        if notice is not None:
            return notice
    if instrument is not None and instrument not in spec.instruments:
        return _refuse(
            RefusalCode.WRONG_INSTRUMENT,
            N_("the {stage} stage is run by: {allowed}"),
            stage=str(stage),
            allowed=", ".join(str(i) for i in spec.instruments),
        )
    if roster_version is not None and roster_version != project.roster_version:
        return _refuse(
            RefusalCode.ROSTER_MISMATCH,
            N_(
                "the project is frozen on roster version {project_version}, not {version}; "
                "re-freeze the project explicitly to use another roster"
            ),
            project_version=project.roster_version,
            version=roster_version,
        )
    return None


def _replace_stage(project: Project, index: int, stage: Stage) -> Project:
    stages = list(project.stages)
    stages[index] = stage
    return replace(project, stages=tuple(stages))


def start_stage(
    project: Project,
    stage: StageKind,
    instrument: Instrument,
    ref_id: int,
    roster_version: int,
    *,
    now: datetime | None = None,
) -> Project:
    """Mark `stage` running with the vote, menu round or questionnaire `ref_id` the bot has opened on
    `roster_version`; ProjectError (with the Refusal's code) if `can_start` refuses. Re-running the
    menu after a failed plan vote sets the plan-approval stage back to pending (attempts are kept)."""
    refusal = can_start(project, stage, instrument=instrument, roster_version=roster_version, now=now)
    if refusal is not None:
        raise refusal.error()
    index = _index(project, stage)
    current = project.stages[index]
    attempt = Attempt(instrument, ref_id, roster_version)
    project = _replace_stage(
        project,
        index,
        replace(current, status=StageStatus.RUNNING, attempts=(*current.attempts, attempt)),
    )
    for later in range(index + 1, len(project.stages)):
        if project.stages[later].status is not StageStatus.PENDING:
            project = _replace_stage(project, later, replace(project.stages[later], status=StageStatus.PENDING))
    return project


def record_result(project: Project, stage: StageKind, passed: bool, summary: Mapping[str, Any]) -> Project:
    """Close the running `stage` as passed or failed with a JSON-able summary of its result
    (for a vote, e.g. `TallyResult.as_dict()` counted under `stage_rule`)."""
    index = _index(project, stage)
    current = project.stages[index]
    if current.status is not StageStatus.RUNNING or not current.attempts:
        raise _refuse(RefusalCode.NOT_RUNNING, N_("the {stage} stage is not running"), stage=str(stage)).error()
    attempt = replace(current.attempts[-1], passed=passed, summary=dict(summary))
    status = StageStatus.PASSED if passed else StageStatus.FAILED
    return _replace_stage(project, index, replace(current, status=status, attempts=(*current.attempts[:-1], attempt)))


def post_notice(project: Project, stage: StageKind, posted_at: datetime, tz: tzinfo) -> Project:
    """Record that the passed stage's result was publicly noticed (公示) from `posted_at`; it runs the
    programme's working days (Monday to Friday, voting.schedule.add_working_days) in the community's
    time zone `tz`."""
    index = _index(project, stage)
    current = project.stages[index]
    needed = _spec(project, stage).notice_working_days
    if not needed:
        raise _refuse(
            RefusalCode.NO_NOTICE,
            N_("the programme asks for no public notice after the {stage} stage"),
            stage=str(stage),
        ).error()
    if current.status is not StageStatus.PASSED:
        raise _refuse(
            RefusalCode.PREVIOUS_NOT_PASSED, N_("only a passed {stage} stage is publicly noticed"), stage=str(stage)
        ).error()
    until = add_working_days(posted_at, needed, tz)
    return _replace_stage(project, index, replace(current, notice_posted_at=posted_at, notice_until=until))


def refreeze(project: Project, new_version: int, reason: str) -> Project:
    """Move the project to another frozen roster version, explicitly and with a reason (a roster
    corrected after a sale, a building added). Refused while a stage runs: its instrument counts on
    the version it opened with. Attempts already made keep the version they were counted on."""
    if project.status is not ProjectStatus.ACTIVE:
        raise _refuse(
            RefusalCode.PROJECT_ENDED, N_("the project has ended ({status})"), status=str(project.status)
        ).error()
    running = [s for s in project.stages if s.status is StageStatus.RUNNING]
    if running:
        raise _refuse(
            RefusalCode.STAGE_RUNNING,
            N_("the {stage} stage is still running; record its result first"),
            stage=str(running[0].kind),
        ).error()
    if new_version == project.roster_version:
        raise _refuse(
            RefusalCode.SAME_VERSION, N_("the project is already on roster version {version}"), version=new_version
        ).error()
    if not reason.strip():
        raise _refuse(RefusalCode.NO_REASON, N_("say why the roster is re-frozen")).error()
    upcoming = next((s.kind for s in project.stages if s.status is not StageStatus.PASSED), None)
    record = Refreeze(project.roster_version, new_version, reason.strip(), upcoming)
    return replace(project, roster_version=new_version, refreezes=(*project.refreezes, record))


def abandon(project: Project, reason: str) -> Project:
    """End the project for good (residents will not agree this time); the record is kept."""
    if project.status is not ProjectStatus.ACTIVE:
        raise _refuse(
            RefusalCode.PROJECT_ENDED, N_("the project has ended ({status})"), status=str(project.status)
        ).error()
    if not reason.strip():
        raise _refuse(RefusalCode.NO_REASON, N_("say why the project is abandoned")).error()
    return replace(project, abandoned_reason=reason.strip())


class Action(StrEnum):
    START = "start"
    WAIT_RESULT = "wait_result"
    POST_NOTICE = "post_notice"
    WAIT_NOTICE = "wait_notice"
    RETRY = "retry"
    DONE = "done"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class NextStep:
    """What the project card shows next: an action, the stage it concerns, and a text template."""

    action: Action
    stage: StageKind | None
    template: str
    params: dict[str, Any] = field(default_factory=dict)
    instruments: tuple[Instrument, ...] = ()


def next_step(project: Project, *, now: datetime | None = None) -> NextStep:  # noqa: PLR0911 - one return per card state
    """The one thing to do next on this project (give `now` to see a public notice as over)."""
    if project.status is ProjectStatus.ABANDONED:
        return NextStep(
            Action.ENDED, None, N_("The project was abandoned: {reason}"), {"reason": project.abandoned_reason}
        )
    if project.status is ProjectStatus.COMPLETED:
        return NextStep(Action.DONE, None, N_("Every stage has passed: the renovation is accepted."))
    for index, stage in enumerate(project.stages):
        kind = str(stage.kind)
        if stage.status is StageStatus.RUNNING:
            return NextStep(
                Action.WAIT_RESULT,
                stage.kind,
                N_("The {stage} stage is running; record its result when it closes."),
                {"stage": kind, "ref_id": stage.ref_id},
            )
        if stage.status is StageStatus.FAILED:
            if stage.kind is StageKind.PLAN_APPROVAL:
                template = N_(
                    "The plan was not approved: revise it (run the menu again or put a revised plan to "
                    "the vote), or abandon the project."
                )
            else:
                template = N_("The {stage} stage failed: run it again after more consultation, or abandon the project.")
            spec = _spec(project, stage.kind)
            return NextStep(Action.RETRY, stage.kind, template, {"stage": kind}, spec.instruments)
        if stage.status is StageStatus.PASSED and index + 1 < len(project.stages):
            notice = _notice_refusal(project, stage, now)
            if notice is not None and project.stages[index + 1].status is StageStatus.PENDING:
                if notice.code is RefusalCode.NOTICE_NOT_POSTED:
                    return NextStep(Action.POST_NOTICE, stage.kind, notice.template, notice.params)
                return NextStep(Action.WAIT_NOTICE, stage.kind, notice.template, notice.params)
        if stage.status is StageStatus.PENDING:
            spec = _spec(project, stage.kind)
            return NextStep(Action.START, stage.kind, N_("Start the {stage} stage."), {"stage": kind}, spec.instruments)
    raise AssertionError("an active project has a pending, running or failed stage")  # pragma: no cover
