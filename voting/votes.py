"""Votes as records: what a worker launches, and where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from voting.model import Scope
from voting.rules import Rule

__all__ = ["GENESIS", "Vote", "VoteStatus"]

GENESIS = "0" * 64


class VoteStatus(StrEnum):
    SCHEDULED = "scheduled"  # created, not open yet: the roster is not frozen
    OPEN = "open"  # roster frozen, ballots accepted until closes_at
    CLOSED = "closed"  # preliminary tally signed; corrections possible during the objection period
    FINAL = "final"  # final tally signed


@dataclass(frozen=True, slots=True)
class Vote:
    """A motion put to the owners in a scope of a community, counted under a rule."""

    community_id: int
    title: str
    text: str
    rule: Rule
    scope: Scope
    opens_at: datetime
    closes_at: datetime
    show_turnout: bool = False
    non_voters_follow_majority: bool = False
    id: int = 0
    status: VoteStatus = VoteStatus.SCHEDULED
    roster_version_id: int | None = None
    roster_hash: str | None = None
    pseudonym_key: bytes | None = None
    head_seq: int = 0
    head_hash: str = GENESIS
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    reminder_time: str | None = None  # local "HH:MM": daily reminders to owners who have not voted
    objection_until: datetime | None = None  # set at close: corrections until then, then the final tally
    created_by: str = ""

    def __post_init__(self) -> None:
        for name in ("opens_at", "closes_at", "opened_at", "closed_at", "objection_until"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime (UTC)")
        if self.closes_at <= self.opens_at:
            raise ValueError("a vote must close after it opens")
