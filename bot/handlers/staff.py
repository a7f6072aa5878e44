"""Administrators, community workers and auditors: communities and roles, the group chat, the votes
of a community with their actions (turnout, deadline, reminders, close, objections, export).

Every command and button checks the role again in the use case it calls: a worker of one community
never sees nor touches another's votes; a resident is refused.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, FSInputFile, InlineKeyboardMarkup, Message

from bot.broadcast import BroadcastReport
from bot.callbacks import CommunityCb, ObjectionCb, WorkCb
from bot.charts import turnout_png
from bot.context import BotContext
from bot.handlers.votes import edit
from bot.i18n import Translator
from bot.keyboards import MenuButton, button, rows_of
from bot.notices import turnout_text
from bot.outbox import ProgressSpec
from voting import doors, drafts, lifecycle, residents, services
from voting.doors import HomeToVisit
from voting.errors import N_, NotFoundError, PermissionDeniedError
from voting.lifecycle import Objection
from voting.residents import Role
from voting.schedule import add_working_days
from voting.votes import Vote, VoteStatus

__all__ = ["build_group_router", "build_staff_router", "chat_of", "user_of", "vote_for_staff"]

log = logging.getLogger(__name__)

ROLE_WORDS = {Role.WORKER: N_("community worker"), Role.AUDITOR: N_("auditor")}

_STATUS = {
    VoteStatus.SCHEDULED: "⏳",
    VoteStatus.OPEN: "🟢",
    VoteStatus.CLOSED: "⚖",
    VoteStatus.FINAL: "✅",
}


def user_of(event: Message | CallbackQuery) -> int:
    assert event.from_user is not None
    return event.from_user.id


def chat_of(query: CallbackQuery) -> int:
    """Where to answer a button press: its message's chat (the presser's, for an inaccessible message)."""
    return query.message.chat.id if query.message is not None else query.from_user.id


async def vote_for_staff(ctx: BotContext, telegram_id: int, vote_id: int, roles: tuple[Role, ...]) -> Vote:
    """The vote, if the account holds one of `roles` in its community (PermissionDeniedError otherwise)."""
    async with ctx.uow() as uow:
        vote = await uow.votes.get(vote_id)
        await residents.check_any_role(uow, telegram_id, vote.community_id, roles)
    return vote


def _card(ctx: BotContext, _: Translator, vote: Vote) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        f"{_STATUS[vote.status]} #{vote.id} {vote.title}",
        _("Opens {opens}, closes {closes} (Beijing time)").format(
            opens=ctx.local(vote.opens_at), closes=ctx.local(vote.closes_at)
        ),
        _("Daily reminder: {time}").format(time=vote.reminder_time or _("off")),
    ]
    if vote.objection_until is not None:
        lines.append(_("Objections until {until}").format(until=ctx.local(vote.objection_until)))
    actions: list[tuple[str, str]] = []
    if vote.status in (VoteStatus.OPEN, VoteStatus.CLOSED, VoteStatus.FINAL):
        actions.append((_("📊 Turnout"), "turnout"))
    if vote.status is VoteStatus.OPEN:
        actions += [(_("🚪 Not voted yet"), "doors"), (_("🖨 Ballot forms"), "forms")]
    if vote.status in (VoteStatus.SCHEDULED, VoteStatus.OPEN):
        actions += [(_("📅 Extend deadline"), "extend"), (_("⏰ Reminders"), "remind")]
    if vote.status is VoteStatus.OPEN:
        actions += [(_("📝 Paper ballot"), "paper"), (_("📣 Remind now"), "remind_now"), (_("⛔ Close now"), "close")]
    if vote.status is VoteStatus.CLOSED:
        actions.append((_("⚖ Objections"), "objections"))
    if vote.status in (VoteStatus.CLOSED, VoteStatus.FINAL):
        actions.append((_("📦 Export audit bundle"), "export"))
    markup = rows_of([button(label, WorkCb(action=action, vote_id=vote.id).pack()) for label, action in actions], 2)
    return "\n".join(lines), markup


def _objection_line(ctx: BotContext, _: Translator, objection: Objection) -> str:
    return _("Objection #{id} · home {unit} · {when}: {text}").format(
        id=objection.id, unit=objection.unit_id, when=ctx.local(objection.created_at), text=objection.text
    )


def objection_buttons(_: Translator, objection_id: int) -> InlineKeyboardMarkup:
    labels = [
        (_("Keep as recorded"), "keep"),
        (_("Correct to ✅ Agree"), "agree"),
        (_("Correct to ❌ Disagree"), "disagree"),
        (_("Correct to ⚪ Abstain"), "abstain"),
    ]
    return rows_of([button(label, ObjectionCb(action=a, ref=objection_id).pack()) for label, a in labels], 1)


async def _export(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, vote: Vote) -> None:
    from bot.cli_audit import write_bundle_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"renovote-vote-{vote.id}-bundle.zip"
        await write_bundle_file(ctx.uow, vote.id, path)  # type: ignore[arg-type]
        caption = _(
            "Audit bundle of “{title}”. Check it offline, without trusting this server: "
            "renovote audit verify {name} --public-key KEY.pem (the community's published public key)."
        ).format(title=vote.title, name=path.name)
        await bot.send_document(chat_id, FSInputFile(path, filename=path.name), caption=caption[:1024])


UNREACHED_LINES = 50  # homes listed after a reminder; 🚪 Not voted yet has them all


def remind_report_text(_: Translator, report: BroadcastReport, missed: list[HomeToVisit]) -> str:
    """The last word of a reminder: how many were sent, blocked, failed, and the homes it did not reach."""
    lines = [
        _("Sent {sent}, {blocked} people have blocked the bot, {failed} failed.").format(
            sent=report.sent, blocked=report.blocked, failed=report.failed
        )
    ]
    if missed:
        lines.append(_("Homes not reached ({n}): visit or phone them.").format(n=len(missed)))
        lines += [f"  {home.unit_id} · {home.owner or '—'}" for home in missed[:UNREACHED_LINES]]
        if len(missed) > UNREACHED_LINES:
            lines.append(_("… and {n} more: 🚪 Not voted yet lists them all.").format(n=len(missed) - UNREACHED_LINES))
    return "\n".join(lines)


async def _ask_remind_now(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, vote: Vote) -> None:
    """How many a reminder would reach, and a button to send it; or, in words, that there is nobody."""
    people = await lifecycle.recipients(ctx.uow(), vote.id, non_voters_only=True)
    _vote, homes = await doors.not_voted(ctx.uow(), user, vote.id)
    offline = sum(1 for home in homes if not home.bound)
    if not homes:
        await bot.send_message(
            chat_id, _("Nobody to remind: every owner of “{title}” has voted.").format(title=vote.title)
        )
        return
    if not people:
        await bot.send_message(
            chat_id,
            _(
                "Nobody to remind in the chat: every owner of “{title}” who uses the chat has voted. {n} homes have "
                "not voted and use no chat: 🚪 Not voted yet lists them for a visit."
            ).format(title=vote.title, n=offline),
        )
        return
    await bot.send_message(
        chat_id,
        _(
            "Remind now the {n} people who use the chat and whose home has not voted on “{title}”? "
            "{offline} homes that have not voted use no chat: 🚪 Not voted yet lists them for a visit."
        ).format(n=len(people), title=vote.title, offline=offline),
        reply_markup=rows_of(
            [button(_("📣 Yes, remind {n}").format(n=len(people)), WorkCb(action="remind_ok", vote_id=vote.id).pack())],
            1,
        ),
    )


def _finished(background: set[asyncio.Task[Any]], task: asyncio.Task[Any]) -> None:
    """A worker's reminder sending ended: forget the task, and log it if it failed (nobody awaits it)."""
    background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("reminder sending failed", exc_info=task.exception())


def build_group_router() -> Router:
    """Group chats (the owners' group): the bot only posts there. It links a group with /group and
    ignores everything else, so no worker tool, file or conversation ever answers in a group."""
    router = Router(name="group")
    router.message.filter(F.chat.type.in_({"group", "supergroup", "channel"}))

    @router.message(Command("group"))
    async def link_group(message: Message, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(ctx.uow(), user_of(message))
        async with ctx.uow() as uow:
            await uow.communities.set_group_chat(community_id, message.chat.id)
            await uow.commit()
        await message.answer(
            _("This group is now the group of {name}: launches, daily checkpoints and results are posted here.").format(
                name=name
            )
        )

    @router.message()
    async def ignore(message: Message) -> None:
        """Not for the bot: group members talk among themselves."""

    return router


def build_staff_router() -> Router:
    router = Router(name="staff")

    @router.message(Command("whoami"))
    async def whoami(message: Message, _: Translator) -> None:
        await message.answer(_("Your Telegram id: {id}").format(id=user_of(message)))

    # --- administrators (config [admin] telegram_ids) ---

    def _admin(ctx: BotContext, telegram_id: int) -> None:
        if telegram_id not in ctx.admins:
            raise PermissionDeniedError(telegram_id, "admin", None)

    @router.message(Command("newcommunity"))
    async def new_community(message: Message, command: CommandObject, ctx: BotContext, _: Translator) -> None:
        _admin(ctx, user_of(message))
        name = (command.args or "").strip()
        if not name:
            await message.answer(_("Write the name after the command: /newcommunity 幸福里小区"))
            return
        community_id = await services.create_community(ctx.uow(), name[:200], ctx.now())
        await message.answer(
            _("Community #{id} “{name}” created. Grant a worker: /grant {id} worker TELEGRAM_ID").format(
                id=community_id, name=name
            )
        )

    @router.message(Command("communities"))
    async def list_communities(message: Message, ctx: BotContext, _: Translator) -> None:
        _admin(ctx, user_of(message))
        async with ctx.uow() as uow:
            found = await uow.communities.all()
        lines = [f"#{c} {name}" for c, name in found] or [_("No community yet: /newcommunity NAME")]
        await message.answer("\n".join(lines))

    @router.message(Command("grant", "revoke"))
    async def grant(message: Message, command: CommandObject, ctx: BotContext, _: Translator) -> None:
        _admin(ctx, user_of(message))
        parts = (command.args or "").split()
        usage = _("Usage: /{command} COMMUNITY_ID worker|auditor TELEGRAM_ID (the user finds their id with /whoami)")
        if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in ("worker", "auditor") or not parts[2].isdigit():
            await message.answer(usage.format(command=command.command))
            return
        community_id, role, target = int(parts[0]), Role(parts[1]), int(parts[2])
        if command.command == "grant":
            await residents.grant_role(ctx.uow(), target, community_id, role, "", ctx.now())
            await message.answer(
                _("Granted: {user} is {role} of community #{id}.").format(
                    user=target, role=_(ROLE_WORDS[role]), id=community_id
                )
            )
        else:
            done = await residents.revoke_role(ctx.uow(), target, community_id, role)
            text = (
                _("Revoked: {user} is no longer {role} of community #{id}.")
                if done
                else _("{user} was not {role} of community #{id}.")
            )
            await message.answer(text.format(user=target, role=_(ROLE_WORDS[role]), id=community_id))

    # --- workers and auditors ---

    @router.message(Command("community"))
    async def choose_community(message: Message, ctx: BotContext, _: Translator) -> None:
        chosen, name, held = await residents.acting_community(ctx.uow(), user_of(message), (Role.WORKER, Role.AUDITOR))
        rows = [button(("● " if c == chosen else "") + n, CommunityCb(community_id=c).pack()) for c, n in held]
        await message.answer(_("You act on: {name}. Choose another:").format(name=name), reply_markup=rows_of(rows, 1))

    @router.callback_query(CommunityCb.filter())
    async def community_chosen(
        query: CallbackQuery, callback_data: CommunityCb, ctx: BotContext, _: Translator
    ) -> None:
        name = await residents.choose_community(ctx.uow(), query.from_user.id, callback_data.community_id)
        await edit(query, _("You now act on: {name}.").format(name=name), None)
        await query.answer()

    @router.message(Command("manage"))
    @router.message(MenuButton("manage"))
    async def manage(message: Message, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(ctx.uow(), user_of(message))
        async with ctx.uow() as uow:
            votes = await uow.votes.of_community(community_id)
        if not votes:
            await message.answer(_("{name} has no vote yet. Create one with ➕ New vote (/newvote).").format(name=name))
            return
        rows = [
            button(f"{_STATUS[v.status]} #{v.id} {v.title}"[:60], WorkCb(action="card", vote_id=v.id).pack())
            for v in reversed(votes[-30:])
        ]
        await message.answer(_("Votes of {name} — tap one:").format(name=name), reply_markup=rows_of(rows, 1))

    async def _turnout(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, vote: Vote) -> None:
        vote, result, buildings = await lifecycle.turnout(ctx.uow(), vote.id)
        await bot.send_message(chat_id, turnout_text(_, vote, result, buildings))
        png = await asyncio.to_thread(turnout_png, _, vote, buildings)
        await bot.send_photo(chat_id, BufferedInputFile(png, f"turnout-{vote.id}.png"))

    @router.message(Command("turnout"))
    async def turnout(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(
            ctx.uow(), user_of(message), (Role.WORKER, Role.AUDITOR)
        )
        async with ctx.uow() as uow:
            votes = [v for v in await uow.votes.of_community(community_id) if v.status is VoteStatus.OPEN]
        if not votes:
            await message.answer(_("{name} has no open vote.").format(name=name))
        for vote in votes:
            await _turnout(ctx, bot, _, message.chat.id, vote)

    @router.message(Command("fingerprint"))
    @router.message(MenuButton("fingerprint"))
    async def signing_key(message: Message, ctx: BotContext, _: Translator) -> None:
        from bot.handlers.resident import key_fingerprint

        await residents.acting_community(ctx.uow(), user_of(message), (Role.AUDITOR, Role.WORKER))
        await message.answer(
            _(
                "🔑 The key that signs this bot's results has the fingerprint {fingerprint}. Compare it with the one "
                "the community published; `renovote audit verify` prints the same for a bundle."
            ).format(fingerprint=key_fingerprint(ctx))
        )

    @router.message(Command("export"))
    @router.message(MenuButton("export"))
    async def export(message: Message, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(
            ctx.uow(), user_of(message), (Role.AUDITOR, Role.WORKER)
        )
        async with ctx.uow() as uow:
            votes = [
                v
                for v in await uow.votes.of_community(community_id)
                if v.status in (VoteStatus.CLOSED, VoteStatus.FINAL)
            ]
        if not votes:
            await message.answer(_("{name} has no closed vote to export yet.").format(name=name))
            return
        rows = [button(f"📦 #{v.id} {v.title}"[:60], WorkCb(action="export", vote_id=v.id).pack()) for v in votes]
        await message.answer(_("Which vote's audit bundle?"), reply_markup=rows_of(rows, 1))

    @router.message(Command("objections"))
    async def objections(message: Message, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(ctx.uow(), user_of(message))
        async with ctx.uow() as uow:
            closed = [v for v in await uow.votes.of_community(community_id) if v.status is VoteStatus.CLOSED]
        shown = 0
        for vote in closed:
            _vote, found = await lifecycle.objections_of(ctx.uow(), user_of(message), vote.id)
            for objection in found:
                shown += 1
                await message.answer(
                    f"{vote.title}\n" + _objection_line(ctx, _, objection),
                    reply_markup=objection_buttons(_, objection.id),
                )
        if not shown:
            await message.answer(_("No open objection in {name}.").format(name=name))

    @router.callback_query(WorkCb.filter())
    async def work_button(
        query: CallbackQuery, callback_data: WorkCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        action, user = callback_data.action, query.from_user.id
        chat_id = chat_of(query)
        staff = (Role.WORKER, Role.AUDITOR) if action in ("export", "turnout", "doors") else (Role.WORKER,)
        vote = await vote_for_staff(ctx, user, callback_data.vote_id, staff)
        await query.answer()
        if action == "card":
            text, markup = _card(ctx, _, vote)
            await bot.send_message(chat_id, text, reply_markup=markup)
        elif action == "turnout":
            await _turnout(ctx, bot, _, chat_id, vote)
        elif action == "doors":
            from bot.handlers.doors import send_not_voted

            await send_not_voted(ctx, bot, _, user, chat_id, vote.id)
        elif action in ("forms", "forms_all", "forms_blank"):
            from bot.handlers.doors import send_ballot_forms

            await send_ballot_forms(ctx, bot, _, user, chat_id, vote, action)
        elif action == "export":
            await _export(ctx, bot, _, chat_id, vote)
        elif action == "extend":
            await drafts.start_draft(ctx.uow(), user, vote.community_id, "extend", {"vote_id": vote.id}, ctx.now())
            await bot.send_message(
                chat_id,
                _("New deadline for “{title}” (now {deadline}), local time, e.g. {example}. /cancel to stop.").format(
                    title=vote.title,
                    deadline=ctx.local(vote.closes_at),
                    example=ctx.local(vote.closes_at + timedelta(days=3)),
                ),
            )
        elif action == "remind":
            await drafts.start_draft(ctx.uow(), user, vote.community_id, "remind", {"vote_id": vote.id}, ctx.now())
            await bot.send_message(
                chat_id,
                _(
                    "At what local time should owners who have not voted be reminded every day? "
                    "Write e.g. 19:00, or “off”. /cancel to stop."
                ),
            )
        elif action == "remind_now":
            await _ask_remind_now(ctx, bot, _, user, chat_id, vote)
        elif action == "remind_ok":
            jobs = ctx.jobs
            if jobs is None:
                raise NotFoundError("scheduler", None)
            minute = ctx.now().strftime("%Y%m%d%H%M")
            async with ctx.uow() as uow:  # a double tap, or two workers at once: one sending
                claimed = await uow.jobs.claim(f"remind-now:{vote.id}:{minute}", ctx.now())
                await uow.commit()
            if not claimed:
                await bot.send_message(chat_id, _("Reminders for this vote are already being sent."))
                return

            def render(done: int, total: int, report: object) -> str:
                return _("Sending reminders for “{title}”: {done} / {total}").format(
                    title=vote.title, done=done, total=total
                )

            async def remind_and_report() -> None:
                _vote, homes = await doors.not_voted(ctx.uow(), user, vote.id)
                report = await jobs.remind(vote, progress=ProgressSpec(chat_id, render), actor=f"worker:{user}")
                await bot.send_message(chat_id, remind_report_text(_, report, doors.unreached(homes, report.unreached)))

            task = asyncio.create_task(remind_and_report())
            ctx.background.add(task)
            task.add_done_callback(lambda done: _finished(ctx.background, done))
        elif action == "close":
            until = add_working_days(ctx.now(), ctx.objection_days, ctx.tz)
            await bot.send_message(
                chat_id,
                _(
                    "Close “{title}” now, before its deadline {deadline}? Ballots stop, the preliminary result is "
                    "signed and published; objections until {until}."
                ).format(title=vote.title, deadline=ctx.local(vote.closes_at), until=ctx.local(until)),
                reply_markup=rows_of(
                    [button(_("⛔ Yes, close now"), WorkCb(action="close_ok", vote_id=vote.id).pack())], 1
                ),
            )
        elif action == "close_ok":
            now = ctx.now()
            until = add_working_days(now, ctx.objection_days, ctx.tz)
            await services.close_vote(ctx.uow(), vote.id, now, ctx.signing_key(), early=True, objection_until=until)
            async with ctx.uow() as uow:
                closed = await uow.votes.get(vote.id)
                by_us = closed.closed_at == now  # else the scheduler or another worker closed it first
                if by_us:
                    await uow.votes.add_event(vote.id, "closed-early", lifecycle.worker_actor(user), "", now)
                    await uow.commit()
            text = (
                _("Closed. The preliminary result is being published.") if by_us else _("This vote was already closed.")
            )
            await edit(query, text, None)
            ctx.poke()
        elif action == "paper":
            from bot.handlers.conversation import start_paper

            await start_paper(ctx, bot, _, user, chat_id, vote)
        elif action == "objections":
            _vote, found = await lifecycle.objections_of(ctx.uow(), user, vote.id)
            if not found:
                await bot.send_message(chat_id, _("No open objection for “{title}”.").format(title=vote.title))
            for objection in found:
                await bot.send_message(
                    chat_id, _objection_line(ctx, _, objection), reply_markup=objection_buttons(_, objection.id)
                )
        else:
            log.warning("refused worker action %r from %s", action, user)

    return router
