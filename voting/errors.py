"""Every exception the core raises; the bot maps these, and only these, to user texts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "N_",
    "AlreadyAnsweredError",
    "AnswerError",
    "BatchRefusedError",
    "CatalogueError",
    "CatalogueProblem",
    "ConflictError",
    "DefinitionProblem",
    "DuplicateSubmissionError",
    "ExtensionError",
    "FileProblem",
    "InputFileError",
    "InviteError",
    "MenuError",
    "NotBoundError",
    "NotFoundError",
    "ObjectionError",
    "OutOfScopeError",
    "PermissionDeniedError",
    "Problem",
    "ProjectError",
    "QuestionnaireError",
    "RuleError",
    "ScopeError",
    "SurveyError",
    "VoteClosedError",
    "VoteNotOpenError",
    "VoteStateError",
    "VotingError",
]


class VotingError(Exception):
    """Base of every error the core raises on purpose."""


class Problem(StrEnum):
    """What can be wrong with one row (or the whole) of an input file."""

    UNREADABLE_ENCODING = "unreadable_encoding"
    UNREADABLE_FILE = "unreadable_file"
    EMPTY_FILE = "empty_file"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    MISSING_VALUE = "missing_value"
    BAD_AREA = "bad_area"
    AREA_NOT_POSITIVE = "area_not_positive"
    AREA_TOO_PRECISE = "area_too_precise"
    DUPLICATE_UNIT = "duplicate_unit"
    UNKNOWN_STATUS = "unknown_status"
    UNKNOWN_AREA_SOURCE = "unknown_area_source"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_CHOICE = "unknown_choice"


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One thing wrong with an input file. `row` is the 1-based line of the sheet (header = 1)."""

    problem: Problem
    row: int | None = None
    column: str | None = None
    value: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class InputFileError(VotingError):
    """A roster or ballot file that cannot be loaded; lists every problem found, nothing is loaded."""

    def __init__(self, filename: str, problems: list[FileProblem]) -> None:
        self.filename = filename
        self.problems = tuple(problems)
        super().__init__(f"{filename}: {len(self.problems)} problem(s)")


def N_(template: str) -> str:
    """Mark a message template for translation; the bot translates it, the core never does."""
    return template


class RuleError(VotingError):
    """A counting rule that is unknown or malformed. `template` is an English gettext msgid."""

    def __init__(self, template: str, *, source: str = "", **params: Any) -> None:
        self.template = template
        self.params = params
        self.source = source
        message = template.format(**params)
        super().__init__(f"{source}: {message}" if source else message)


class ScopeError(VotingError):
    """A vote scope that selects no unit of the roster."""


class NotFoundError(VotingError):
    """A community, roster, vote or receipt that does not exist."""

    def __init__(self, what: str, key: object) -> None:
        self.what = what
        self.key = key
        super().__init__(f"no {what} {key!r}")


class VoteStateError(VotingError):
    """The vote is not in a state that allows this (not open yet, closed, already open, ...)."""

    def __init__(self, vote_id: int, status: str, action: str) -> None:
        self.vote_id = vote_id
        self.status = status
        self.action = action
        super().__init__(f"vote {vote_id} is {status}: cannot {action}")


class VoteClosedError(VoteStateError):
    """A ballot that arrives after the deadline (or after the vote was closed)."""


class VoteNotOpenError(VoteStateError):
    """A ballot that arrives before the vote opens."""


class OutOfScopeError(VotingError):
    """The unit or owner is not in the frozen roster of this vote."""

    def __init__(self, vote_id: int, unit_id: str) -> None:
        self.vote_id = vote_id
        self.unit_id = unit_id
        super().__init__(f"unit {unit_id!r} is not in the scope of vote {vote_id}")


class DuplicateSubmissionError(VotingError):
    """The same submission (one Telegram update, one paper-batch row) arrived twice; the first one stands."""

    def __init__(self, idempotency_key: str, receipt: str | None = None) -> None:
        self.idempotency_key = idempotency_key
        self.receipt = receipt
        super().__init__(f"already recorded: {idempotency_key}")


class ConflictError(VotingError):
    """A concurrent change won a race the database decided (a retry may succeed)."""


class InviteError(VotingError):
    """An invite code that cannot bind: `reason` is one of unknown, used, revoked, expired."""

    def __init__(self, reason: str, code: str) -> None:
        self.reason = reason
        self.code = code
        super().__init__(f"invite code {code!r}: {reason}")


class NotBoundError(VotingError):
    """The account is bound to no owner (or not to one in this vote's scope)."""

    def __init__(self, telegram_id: int) -> None:
        self.telegram_id = telegram_id
        super().__init__(f"account {telegram_id} is not bound to any owner")


class PermissionDeniedError(VotingError):
    """The account lacks the role this action needs in this community."""

    def __init__(self, telegram_id: int, role: str, community_id: int | None) -> None:
        self.telegram_id = telegram_id
        self.role = role
        self.community_id = community_id
        super().__init__(f"account {telegram_id} is not {role} of community {community_id}")


class ExtensionError(VotingError):
    """A deadline that cannot be moved so: `reason` is not_later (not after the current deadline),
    past (not in the future) or state (the vote no longer takes ballots)."""

    def __init__(self, vote_id: int, reason: str) -> None:
        self.vote_id = vote_id
        self.reason = reason
        super().__init__(f"vote {vote_id}: cannot extend ({reason})")


class ObjectionError(VotingError):
    """An objection that cannot be filed or resolved: `reason` is not_closed (the vote is not in its
    objection period), period_over, resolved (already resolved) or empty (no text)."""

    def __init__(self, vote_id: int, reason: str) -> None:
        self.vote_id = vote_id
        self.reason = reason
        super().__init__(f"vote {vote_id}: objection refused ({reason})")


class BatchRefusedError(VotingError):
    """A batch of ballots (a paper-ballot sheet) of which some rows were refused: nothing was recorded.
    `problems` holds (row number, the error) for each refused row."""

    def __init__(self, problems: list[tuple[int, VotingError]]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} rows refused; nothing recorded")


class MenuError(VotingError):
    """A renovation-menu request that cannot be served (an unknown item, an empty electorate, ...).
    `template` is an English gettext msgid; the bot translates it and formats it with `params`."""

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params))


@dataclass(frozen=True, slots=True)
class CatalogueProblem:
    """One thing wrong with a catalogue: where (a TOML key such as `items[3].cost`, or a sheet row
    and column as the worker wrote it) and an English gettext template saying what to write."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    row: int | None = None
    column: str | None = None

    def text(self, translate: Callable[[str], str] = str) -> str:
        """The problem as one line in the reader's language (`translate` is the bot's gettext)."""
        message = translate(self.template).format(**self.params)
        if self.row is not None and self.column:
            where = translate(N_('row {row}, column "{column}"')).format(row=self.row, column=self.column)
        elif self.row is not None:
            where = translate(N_("row {row}")).format(row=self.row)
        else:
            where = _item_place(self.key or "", translate)
        return f"{where}: {message}" if where else message


def _item_place(key: str, translate: Callable[[str], str]) -> str:
    """A TOML key path as people say it: items[3].cost -> "item 3 (cost)"; other keys as they are."""
    match = re.fullmatch(r"items\[(\d+)\](?:\.(\w+))?", key)
    if match is None:
        return key
    if match[2]:
        return translate(N_("item {n} ({key})")).format(n=match[1], key=match[2])
    return translate(N_("item {n}")).format(n=match[1])


class CatalogueError(VotingError):
    """A menu catalogue (TOML or spreadsheet) that cannot be loaded: every problem found, nothing loaded."""

    def __init__(self, source: str, problems: list[CatalogueProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(p.text() for p in self.problems))

    def lines(self, translate: Callable[[str], str] = str) -> list[str]:
        return [p.text(translate) for p in self.problems]


class ProjectError(VotingError):
    """A renovation-project step that its state does not allow. `code` is stable for programs
    (see voting.project.Refusal); `template` an English gettext msgid with `params`."""

    def __init__(self, code: str, template: str, **params: Any) -> None:
        self.code = code
        self.template = template
        self.params = params
        super().__init__(template.format(**params))


@dataclass(frozen=True, slots=True)
class DefinitionProblem:
    """One thing wrong with a questionnaire definition. `template` is an English gettext msgid.

    `question` is the id of the question it concerns (blank for the questionnaire itself), `field`
    the key of the definition file it is about (id, type, text, options, required, min, max,
    show_if, decimals, title, intro, satisfaction, ...), `row` the spreadsheet row (header = 1) when
    the definition came from a spreadsheet.
    """

    template: str
    params: dict[str, Any] = field(default_factory=dict)
    question: str = ""
    field: str = ""
    row: int | None = None

    @property
    def message(self) -> str:
        return self.template.format(**self.params)

    def __str__(self) -> str:
        where = [f"row {self.row}" if self.row is not None else "", self.question, self.field]
        prefix = ", ".join(w for w in where if w)
        return f"{prefix}: {self.message}" if prefix else self.message


class QuestionnaireError(VotingError):
    """A questionnaire definition that cannot be used; lists every problem found, nothing is built."""

    def __init__(self, problems: list[DefinitionProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class AnswerError(VotingError):
    """An answer a resident typed or tapped that does not fit its question. `template` is an English msgid.

    The bot shows the text and asks the same question again; nothing is stored.
    """

    def __init__(self, template: str, *, question: str = "", **params: Any) -> None:
        self.template = template
        self.question = question
        self.params = params
        message = template.format(**params)
        super().__init__(f"{question}: {message}" if question else message)


class AlreadyAnsweredError(VotingError):
    """An owner who already answered an anonymous questionnaire: the response is not linked to them,
    so it cannot be replaced, and a second one would count them twice."""

    def __init__(self, owner_key: str) -> None:
        self.owner_key = owner_key
        super().__init__(f"{owner_key!r} has already answered this anonymous questionnaire")


class SurveyError(VotingError):
    """A questionnaire or menu-round request that cannot be served now (closed, not open yet, not for
    this owner, the wrong kind). `reason` is stable for programs; `template` an English gettext msgid."""

    def __init__(self, reason: str, template: str, **params: Any) -> None:
        self.reason = reason
        self.template = template
        self.params = params
        super().__init__(template.format(**params))
