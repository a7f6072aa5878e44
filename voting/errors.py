"""Every exception the core raises; the bot maps these, and only these, to user texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "N_",
    "FileProblem",
    "InputFileError",
    "Problem",
    "RuleError",
    "ScopeError",
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
