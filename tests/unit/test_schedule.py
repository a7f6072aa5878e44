"""Jobs derived from a vote's stored times: what is due, what comes next, the objection deadline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voting.model import Scope
from voting.rules import preset
from voting.schedule import JobKind, add_working_days, due_and_next, jobs_for, parse_hhmm
from voting.votes import Vote, VoteStatus

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)  # type: ignore[misc]


def vote(**changes: object) -> Vote:
    base = Vote(
        1, "t", "x", preset("double-two-thirds"), Scope(), local(2026, 11, 23, 8), local(2026, 11, 30, 18), id=7
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_five_working_days_skip_the_weekend_and_end_at_local_midnight() -> None:
    friday_evening = local(2026, 11, 27, 18)
    assert add_working_days(friday_evening, 5, TZ) == local(2026, 12, 5, 0)  # Mon..Fri, ends Friday night
    assert add_working_days(local(2026, 11, 23, 9), 0, TZ) == local(2026, 11, 24, 0)


@pytest.mark.parametrize(("text", "expected"), [("19:00", "19:00"), ("7:05", "07:05"), ("19：30", "19:30")])
def test_times_of_day_are_read_as_people_type_them(text: str, expected: str) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", ["24:00", "19", "7pm", "19:60", ""])
def test_other_times_of_day_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(text)


def test_a_scheduled_vote_opens_and_an_open_one_closes_reminds_and_checkpoints() -> None:
    assert [(j.kind, j.at) for j in jobs_for(vote(), local(2026, 11, 22, 12), TZ)] == [
        (JobKind.OPEN, local(2026, 11, 23, 8))
    ]
    opened = vote(status=VoteStatus.OPEN, opened_at=local(2026, 11, 23, 8), reminder_time="19:00")
    now = local(2026, 11, 23, 20)  # one hour after the first reminder time: still within the grace
    due, upcoming = due_and_next(jobs_for(opened, now, TZ), now, done=set())
    assert [j.key for j in due] == ["announce:7", "remind:7:2026-11-23"]
    assert upcoming == local(2026, 11, 24, 9)  # the next day's checkpoint
    due, _ = due_and_next(jobs_for(opened, now, TZ), now, done={"announce:7", "remind:7:2026-11-23"})
    assert due == []


def test_a_reminder_missed_by_hours_is_skipped_but_a_missed_close_is_not() -> None:
    opened = vote(status=VoteStatus.OPEN, opened_at=local(2026, 11, 23, 8), reminder_time="19:00")
    three_am = local(2026, 12, 1, 3)  # down since before the close, back at 3 a.m.
    due, upcoming = due_and_next(jobs_for(opened, three_am, TZ), three_am, done={"announce:7"})
    assert [j.kind for j in due] == [JobKind.CLOSE]
    assert upcoming is None


def test_no_reminder_after_the_deadline_and_none_before_the_vote_opened() -> None:
    opened = vote(
        status=VoteStatus.OPEN,
        opened_at=local(2026, 11, 29, 20),
        closes_at=local(2026, 11, 30, 18),
        reminder_time="19:00",
    )
    days = [j.day for j in jobs_for(opened, local(2026, 11, 29, 20), TZ) if j.kind is JobKind.REMIND]
    assert days == []  # 29th 19:00 was before opening, 30th 19:00 after the deadline


def test_a_closed_vote_publishes_then_finalizes_after_its_objection_period() -> None:
    closed = vote(status=VoteStatus.CLOSED, closed_at=local(2026, 11, 30, 18), objection_until=local(2026, 12, 8, 0))
    due, upcoming = due_and_next(jobs_for(closed, local(2026, 11, 30, 18), TZ), local(2026, 11, 30, 18), set())
    assert [j.kind for j in due] == [JobKind.PUBLISH] and upcoming == local(2026, 12, 8, 0)


def test_a_vote_past_its_deadline_is_closed_before_anything_daily_is_sent() -> None:
    """Down at 09:30 (reminder) and 10:00 (deadline), back at 11:00: close, then no late reminder."""
    opened = vote(
        status=VoteStatus.OPEN,
        opened_at=local(2026, 11, 23, 8),
        closes_at=local(2026, 11, 30, 10),
        reminder_time="09:30",
    )
    back = local(2026, 11, 30, 11)
    due, _upcoming = due_and_next(jobs_for(opened, back, TZ), back, done={"announce:7"})
    assert [j.kind for j in due] == [JobKind.CLOSE]
