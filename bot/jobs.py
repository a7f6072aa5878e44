"""Scheduled work: open and close votes, announce, remind, post checkpoints, publish and finalize.

The times live in the votes table (see voting/schedule.py); nothing lives only in the scheduler.
APScheduler (in-memory job store) holds a single "wake" job at the next due time; each wake reads
the votes, runs what is due — overdue work from while the bot was down first — and sets the next
wake. Every job is idempotent: opening, closing and finalizing are guarded by the vote's status
(the row is locked), notifications by a claim in the job_runs table (claimed before sending, so a
crash mid-way never sends a reminder twice; at most once is the right failure for a reminder).
Two processes may both run this safely; only one of them needs to.

The clock is the context's (injected in tests); APScheduler only provides the timer, so the delay
to the next wake is computed on that clock and slept in real time. A safety wake every
`safety_interval` catches anything an out-of-band change did not announce with `poke()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.broadcast import BroadcastReport
from bot.callbacks import ProjectCb, SurveyCb
from bot.charts import result_png
from bot.context import BotContext
from bot.i18n import translator
from bot.keyboards import button, object_button, open_vote_markup
from bot.notices import announce_text, checkpoint_text, reminder_text, result_html
from bot.outbox import Notice, ProgressSpec, deliver
from voting import lifecycle, renovation, services
from voting.errors import N_, VotingError
from voting.lifecycle import Recipient
from voting.project import STAGE_TITLES
from voting.residents import Role
from voting.schedule import Job, JobKind, add_working_days, due_and_next, jobs_for
from voting.votes import Vote, VoteStatus

__all__ = ["VoteJobs"]

log = logging.getLogger(__name__)

ACTIVE = (VoteStatus.SCHEDULED, VoteStatus.OPEN, VoteStatus.CLOSED)
AT_MOST_ONCE = frozenset({JobKind.REMIND, JobKind.CHECKPOINT})
AT_LEAST_ONCE = frozenset({JobKind.ANNOUNCE, JobKind.PUBLISH, JobKind.PUBLISH_FINAL})
NOTIFY = AT_MOST_ONCE | AT_LEAST_ONCE
OPEN_FAILED = N_(
    "Vote #{id} “{title}” could not open at its time: {error}. Check its scope against the roster; "
    "launch it again if needed."
)
SURVEY_CLOSED = N_("📝 “{title}” has closed: {n} owners answered.")
SURVEY_LOOKBACK = timedelta(days=7)
STAGE_PASSED = N_("🏗 “{project}”: the {stage} stage has passed. The project card shows what comes next.")
STAGE_FAILED = N_("🏗 “{project}”: the {stage} stage has not passed. The project card shows the result and the options.")
BLOCKED = N_(
    "The objection period of “{title}” is over, but {n} objection(s) are still open. "
    "Resolve them with /objections; the final result is signed when none is left."
)


@dataclass
class RunReport:
    """What one wake did (tests and logs read it)."""

    ran: list[str]
    next_at: datetime | None


class VoteJobs:
    def __init__(
        self,
        ctx: BotContext,
        bot: Bot,
        *,
        safety_interval: timedelta = timedelta(minutes=15),
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self.ctx = ctx
        self.bot = bot
        self.safety_interval = safety_interval
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self._lock = asyncio.Lock()
        self.history: list[str] = []  # keys of the jobs run by this process, in order

    async def start(self) -> RunReport:
        """Start the timer and catch up at once: a close that fell due while the bot was down happens now."""
        self.ctx.poke = self.poke
        if not self.scheduler.running:
            self.scheduler.start()
        return await self.run_due()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def poke(self) -> None:
        """Something changed (a vote launched, a deadline moved): look again now."""
        self._wake_in(0.0)

    def _wake_in(self, seconds: float) -> None:
        when = datetime.now(UTC) + timedelta(seconds=max(seconds, 0.0))
        self.scheduler.add_job(
            self.run_due,
            DateTrigger(run_date=when),
            id="wake",
            replace_existing=True,
            misfire_grace_time=None,  # a late wake still runs: the work it finds is idempotent
            coalesce=True,
        )

    async def run_due(self) -> RunReport:
        async with self._lock:
            ran: list[str] = []
            upcoming: datetime | None = None
            for _pass in range(20):  # opening makes the announcement due, closing the publication, ...
                now = self.ctx.now()
                async with self.ctx.uow() as uow:
                    votes = await uow.votes.in_statuses(ACTIVE)
                    # a final vote until its final result is published (the publish-final claim below)
                    votes += await uow.votes.in_statuses((VoteStatus.FINAL,))
                    jobs = [
                        j
                        for v in votes
                        for j in jobs_for(v, now, self.ctx.tz, checkpoint_time=self.ctx.checkpoint_time)
                    ]
                    done = await uow.jobs.done([j.key for j in jobs if j.kind in NOTIFY])
                due, upcoming = due_and_next(jobs, now, done)
                due = [j for j in due if j.key not in ran]
                if not due:
                    break
                for job in due:
                    try:
                        await self._run(job, {v.id: v for v in votes}[job.vote_id])
                    except Exception:  # one failing job must not stop the others; it is retried at the next wake
                        log.exception("job %s failed", job.key)
                    ran.append(job.key)
            try:
                upcoming = min(filter(None, (upcoming, await self._survey_closings(ran))), default=None)
            except Exception:  # the next wake is scheduled all the same; it tries again
                log.exception("looking for closed questionnaires and menu rounds failed")
            self.history += ran
            delay = self.safety_interval.total_seconds()
            if upcoming is not None:
                delay = min(delay, (upcoming - self.ctx.now()).total_seconds())
            if self.scheduler.running:
                self._wake_in(delay)
            return RunReport(ran, upcoming)

    async def _claim(self, key: str) -> bool:
        async with self.ctx.uow() as uow:
            claimed = await uow.jobs.claim(key, self.ctx.now())
            await uow.commit()
        return claimed

    async def _run(self, job: Job, vote: Vote) -> None:
        now = self.ctx.now()
        # Reminders and checkpoints: claimed before sending, so a crash never sends one twice.
        if job.kind in AT_MOST_ONCE and not await self._claim(job.key):
            return
        log.info("job %s", job.key)
        await self._do(job, vote, now)
        # Announcements and results: claimed once sent, so a failure is retried at the next wake
        # (a resident may then get one twice; never getting a result is the worse failure).
        if job.kind in AT_LEAST_ONCE and not await self._claim(job.key):
            log.warning("job %s was also done elsewhere meanwhile", job.key)
        if job.kind is JobKind.PUBLISH_FINAL:
            # After the claim: a failure here must not publish the final result again.
            try:
                await self._settle_projects(vote.community_id)
            except Exception:  # the project card records the stage when it is next viewed
                log.exception("recording the project stages decided by vote %s failed", vote.id)

    async def _do(self, job: Job, vote: Vote, now: datetime) -> None:
        if job.kind is JobKind.OPEN:
            try:
                await services.open_vote(self.ctx.uow(), vote.id, now, self.ctx.random_bytes(32))
            except VotingError as exc:
                log.warning("vote %s could not open: %s", vote.id, exc)
                await self._tell_workers_once(vote, f"open-failed:{vote.id}", OPEN_FAILED, error=str(exc))
        elif job.kind is JobKind.CLOSE:
            until = add_working_days(now, self.ctx.objection_days, self.ctx.tz)
            await services.close_vote(self.ctx.uow(), vote.id, now, self.ctx.signing_key(), objection_until=until)
        elif job.kind is JobKind.FINALIZE:
            await self._finalize(vote, job)
        elif job.kind is JobKind.ANNOUNCE:
            await self._announce(vote)
        elif job.kind is JobKind.REMIND:
            await self.remind(vote)
        elif job.kind is JobKind.CHECKPOINT:
            await self._checkpoint(vote, "daily")
        elif job.kind in (JobKind.PUBLISH, JobKind.PUBLISH_FINAL):
            await self._publish(vote.id, "preliminary" if job.kind is JobKind.PUBLISH else "final")

    async def _survey_closings(self, ran: list[str]) -> datetime | None:
        """Questionnaires and menu rounds that have closed (deadline or early close) in the last week:
        once each, the workers hear how many answered and a project stage it ran is recorded.
        Returns the next deadline of an open one, to wake up for it."""
        now = self.ctx.now()
        async with self.ctx.uow() as uow:
            recent = await uow.surveys.recent(now - SURVEY_LOOKBACK)
        upcoming = min((s.closes_at for s in recent if not s.is_closed(now)), default=None)
        for survey in (s for s in recent if s.is_closed(now)):
            key = f"survey-closed:{survey.id}"
            if not await self._claim(key):  # told already (by this process or another)
                continue
            ran.append(key)
            try:
                async with self.ctx.uow() as uow:
                    answered = await uow.surveys.counts(survey)
                    workers = await uow.roles.holders(survey.community_id, Role.WORKER)
                results = SurveyCb(action="results", survey_id=survey.id).pack()
                notices = []
                for worker in workers:
                    _ = translator(self._locale(worker))
                    text = _(SURVEY_CLOSED).format(title=survey.title, n=answered)
                    markup = InlineKeyboardMarkup(inline_keyboard=[[button(_("📊 Results"), results)]])
                    notices.append(Notice(worker.telegram_id, text, markup))
                await self.send(notices)
                await self._settle_projects(survey.community_id)
            except Exception:  # the results stay one tap away; the project card records the stage when viewed
                log.exception("survey %s closing notice failed", survey.id)
        return upcoming

    async def _settle_projects(self, community_id: int) -> None:
        """A final result or a closed survey may decide a renovation project's stage: record it and
        tell the workers."""
        settled = await renovation.settle_projects(self.ctx.uow(), community_id, self.ctx.now())
        if not settled:
            return
        async with self.ctx.uow() as uow:
            workers = await uow.roles.holders(community_id, Role.WORKER)
        notices = []
        for project, stage, passed in settled:
            for worker in workers:
                _ = translator(self._locale(worker))
                template = STAGE_PASSED if passed else STAGE_FAILED
                text = _(template).format(project=project.name, stage=_(STAGE_TITLES[stage]))
                card = ProjectCb(action="card", project_id=project.id).pack()
                markup = InlineKeyboardMarkup(inline_keyboard=[[button(_("🏗 Open the project"), card)]])
                notices.append(Notice(worker.telegram_id, text, markup))
        await self.send(notices)

    async def _finalize(self, vote: Vote, job: Job) -> None:
        outcome = await lifecycle.finalize_when_due(self.ctx.uow(), vote.id, self.ctx.now(), self.ctx.signing_key())
        if isinstance(outcome, int):  # objections still open: tell the workers, once a day
            day = self.ctx.now().astimezone(self.ctx.tz).date().isoformat()
            await self._tell_workers_once(vote, f"finalize-blocked:{vote.id}:{day}", BLOCKED, n=outcome)

    async def _tell_workers_once(self, vote: Vote, key: str, template: str, **params: object) -> None:
        if not await self._claim(key):
            return
        async with self.ctx.uow() as uow:
            workers = await uow.roles.holders(vote.community_id, Role.WORKER)
        notices = []
        for worker in workers:
            _ = translator(self._locale(worker))
            notices.append(Notice(worker.telegram_id, _(template).format(id=vote.id, title=vote.title, **params)))
        await self.send(notices)

    def _locale(self, recipient: Recipient) -> str:
        return recipient.language or self.ctx.default_locale

    async def _group(self, community_id: int) -> int | None:
        async with self.ctx.uow() as uow:
            return await uow.communities.group_chat(community_id)

    async def _load(self, vote_id: int) -> Vote:
        async with self.ctx.uow() as uow:
            return await uow.votes.get(vote_id)

    async def _announce(self, vote: Vote) -> None:
        vote = await self._load(vote.id)
        people = await lifecycle.recipients(self.ctx.uow(), vote.id)
        items = []
        for person in people:
            _ = translator(self._locale(person))
            items.append(Notice(person.telegram_id, announce_text(self.ctx, _, vote), open_vote_markup(_, vote.id)))
        group = await self._group(vote.community_id)
        if group is not None:
            _ = translator(self.ctx.default_locale)
            items.append(Notice(group, announce_text(self.ctx, _, vote, group=True)))
            items.append(Notice(group, checkpoint_text(self.ctx, _, vote, _("launch"))))
        await self.send(items)

    async def remind(
        self, vote: Vote, *, progress: ProgressSpec | None = None, actor: str = "scheduler"
    ) -> BroadcastReport:
        """Remind the owners in scope who have not voted (found from the roster); what became of it."""
        vote = await self._load(vote.id)
        if vote.status is not VoteStatus.OPEN or self.ctx.now() >= vote.closes_at:
            log.info("no reminder for vote %s: it no longer takes ballots", vote.id)
            return BroadcastReport(total=0)
        people = await lifecycle.recipients(self.ctx.uow(), vote.id, non_voters_only=True)
        items = [
            Notice(p.telegram_id, reminder_text(self.ctx, translator(self._locale(p)), vote), None) for p in people
        ]
        report = await self.send(items, progress=progress)
        async with self.ctx.uow() as uow:
            await uow.votes.add_event(vote.id, "reminded", actor, f"{report.sent}/{len(items)}", self.ctx.now())
            await uow.commit()
        return report

    async def _checkpoint(self, vote: Vote, moment_msgid: str) -> None:
        vote = await self._load(vote.id)
        group = await self._group(vote.community_id)
        if group is None:
            return
        _ = translator(self.ctx.default_locale)
        moments = {"daily": _("daily"), "close": _("close")}
        await self.send([Notice(group, checkpoint_text(self.ctx, _, vote, moments[moment_msgid]))])

    async def _publish(self, vote_id: int, stage: str) -> None:
        vote, result = await services.current_tally(self.ctx.uow(), vote_id)
        people = await lifecycle.recipients(self.ctx.uow(), vote.id)
        group = await self._group(vote.community_id)
        chart_cache: dict[str, bytes] = {}
        items: list[Notice] = []
        targets = [(p.telegram_id, self._locale(p), True) for p in people]
        if group is not None:
            targets.append((group, self.ctx.default_locale, False))
        for chat_id, locale, resident in targets:
            _ = translator(locale)
            if locale not in chart_cache:
                chart_cache[locale] = await asyncio.to_thread(result_png, _, vote, result)
            markup = object_button(_, vote.id) if stage == "preliminary" and resident else None
            items.append(Notice(chat_id, result_html(self.ctx, _, vote, result, stage), markup, parse_mode="HTML"))
            items.append(Notice(chat_id, "", None, photo=chart_cache[locale]))
        if group is not None and stage == "preliminary":
            _ = translator(self.ctx.default_locale)
            items.append(Notice(group, checkpoint_text(self.ctx, _, vote, _("close"))))
        await self.send(items)

    async def send(self, items: Sequence[Notice], *, progress: ProgressSpec | None = None) -> BroadcastReport:
        return await deliver(self.bot, items, progress=progress)
