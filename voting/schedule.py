"""When things happen to a vote: the jobs due from its stored times, and the objection deadline.

Pure: the times live in the vote (opens_at, closes_at, reminder_time, objection_until), so the
scheduler in `bot/jobs.py` rebuilds every job from the database at start and after each change.
Each job has a key (`close:7`, `remind:7:2026-11-24`); the job-runs table lets each key run once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from voting.votes import Vote, VoteStatus

__all__ = [
    "DEFAULT_OBJECTION_WORKING_DAYS",
    "Job",
    "JobKind",
    "add_working_days",
    "due_and_next",
    "jobs_for",
    "parse_hhmm",
    "parse_local_datetime",
]

#: Hangzhou's public notice: at least 5 working days.
DEFAULT_OBJECTION_WORKING_DAYS = 5

#: A daily reminder or checkpoint missed by more than this (the bot was down) is skipped, not sent
#: late: a 19:00 reminder at 3 a.m. helps nobody. Opening and closing are never skipped.
LATE_GRACE = timedelta(hours=2)

_HHMM = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


class JobKind(StrEnum):
    OPEN = "open"
    ANNOUNCE = "announce"  # tell residents in scope and the group: the vote is open (+ checkpoint)
    REMIND = "remind"
    CHECKPOINT = "checkpoint"  # the ledger head posted to the group, daily while open
    CLOSE = "close"
    PUBLISH = "publish"  # the preliminary result, to residents in scope and the group
    FINALIZE = "finalize"  # after the objection period: sign the final tally
    PUBLISH_FINAL = "publish-final"


#: Order of jobs due at the same moment: open before announcing, close before publishing.
_ORDER = {kind: i for i, kind in enumerate(JobKind)}


@dataclass(frozen=True, slots=True)
class Job:
    kind: JobKind
    vote_id: int
    at: datetime
    day: date | None = None  # for daily jobs: the local day it belongs to

    @property
    def key(self) -> str:
        suffix = f":{self.day.isoformat()}" if self.day is not None else ""
        return f"{self.kind}:{self.vote_id}{suffix}"


def parse_hhmm(text: str) -> str:
    """'19:00', '7:05', '19：00' -> 'HH:MM'; ValueError for anything else."""
    match = _HHMM.match(text.strip())
    if match is None:
        raise ValueError(f"not a time of day: {text!r}")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def add_working_days(start: datetime, days: int, tz: tzinfo) -> datetime:
    """The end (local midnight) of the `days`-th working day after `start`'s local day.

    Working days are Monday to Friday; public holidays are not known here, so a period over a
    holiday is shorter than the law's count by the holidays in it (a worker extends it if needed).
    """
    if days < 0:
        raise ValueError("days must not be negative")
    day = start.astimezone(tz).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return end.astimezone(start.tzinfo)


def _daily(
    kind: JobKind, vote: Vote, hhmm: str, start: datetime, end: datetime, now: datetime, tz: tzinfo
) -> Iterator[Job]:
    """The daily job's occurrence due now (within LATE_GRACE), if any, and the next one."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    day = (now - LATE_GRACE).astimezone(tz).date()
    found = 0
    while found < 2:
        moment = datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(now.tzinfo)
        if moment >= end:
            return
        if moment >= start and moment > now - LATE_GRACE:
            yield Job(kind, vote.id, moment, day)
            found += 1
        day += timedelta(days=1)


def jobs_for(vote: Vote, now: datetime, tz: tzinfo, *, checkpoint_time: str = "09:00") -> list[Job]:
    """The jobs of one vote that are due now or later, as its stored state says."""
    jobs: list[Job] = []
    if vote.status is VoteStatus.SCHEDULED:
        jobs.append(Job(JobKind.OPEN, vote.id, vote.opens_at))
    elif vote.status is VoteStatus.OPEN:
        opened = vote.opened_at or vote.opens_at
        jobs.append(Job(JobKind.ANNOUNCE, vote.id, opened))
        jobs.append(Job(JobKind.CLOSE, vote.id, vote.closes_at))
        if now >= vote.closes_at:  # past its deadline (the bot was down): close, and nothing daily
            return jobs
        if vote.reminder_time:
            jobs.extend(_daily(JobKind.REMIND, vote, vote.reminder_time, opened, vote.closes_at, now, tz))
        # The launch checkpoint goes with the announcement; daily ones start the next day.
        later = opened + timedelta(minutes=1)
        jobs.extend(_daily(JobKind.CHECKPOINT, vote, checkpoint_time, later, vote.closes_at, now, tz))
    elif vote.status is VoteStatus.CLOSED:
        closed = vote.closed_at or vote.closes_at
        jobs.append(Job(JobKind.PUBLISH, vote.id, closed))
        jobs.append(Job(JobKind.FINALIZE, vote.id, vote.objection_until or closed))
    elif vote.status is VoteStatus.FINAL:
        jobs.append(Job(JobKind.PUBLISH, vote.id, vote.closed_at or vote.closes_at))
        jobs.append(Job(JobKind.PUBLISH_FINAL, vote.id, vote.objection_until or vote.closes_at))
    return jobs


def due_and_next(jobs: Iterable[Job], now: datetime, done: set[str]) -> tuple[list[Job], datetime | None]:
    """Split jobs into those due now and not done yet (in the order to run them), and the next wake-up."""
    due: list[Job] = []
    upcoming: datetime | None = None
    for job in jobs:
        if job.key in done:
            continue
        if job.at <= now:
            due.append(job)
        elif upcoming is None or job.at < upcoming:
            upcoming = job.at
    due.sort(key=lambda j: (j.at, _ORDER[j.kind], j.vote_id))
    return due, upcoming


_DATETIME = re.compile(
    r"^(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?(?:\s+|T)?(?:([01]?\d|2[0-3])[:：]([0-5]\d))?$"
)


def parse_local_datetime(text: str, tz: tzinfo, now: datetime) -> datetime:
    """A moment as a worker types it in local time: "2026-12-05 20:00", "12-05 20:00", "2026/12/5",
    "12月5日 20:00" (no time: end of that day, 23:59). The year defaults to the next such date.
    ValueError for anything else."""
    match = _DATETIME.match(text.strip())
    if match is None:
        raise ValueError(f"not a date and time: {text!r}")
    year_text, month, day, hour, minute = match.groups()
    local_now = now.astimezone(tz)
    clock = time(int(hour), int(minute)) if hour is not None else time(23, 59)
    year = int(year_text) if year_text else local_now.year
    moment = datetime.combine(date(year, int(month), int(day)), clock, tzinfo=tz)
    if not year_text and moment < local_now:
        moment = moment.replace(year=year + 1)
    return moment.astimezone(now.tzinfo)
