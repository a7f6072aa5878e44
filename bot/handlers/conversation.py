"""Conversations kept as drafts in the database (a restart or a day's pause loses nothing):
the new-vote wizard, a vote or rule file, a roster file, invite sheets, a new deadline, the reminder
time, a paper ballot (or a sheet of them), a resident's objection and a worker's answer to it.

One conversation at a time per account; /cancel ends it. Typed text goes to the open conversation
before anything else (commands and menu buttons excepted).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Document, InlineKeyboardMarkup, Message

from bot.callbacks import DraftCb, ObjectionCb
from bot.context import BotContext
from bot.documents import InviteSlip, invite_csv, invite_sheet_pdf
from bot.handlers.staff import chat_of, user_of, vote_for_staff
from bot.handlers.votes import edit
from bot.i18n import Translator, translator
from bot.keyboards import MenuButton, button, choice_label, is_menu_label, rows_of
from bot.outbox import Notice, deliver
from bot.render import describe_input_error, describe_rule, describe_rule_error, rule_title
from voting import doors, drafts, lifecycle, residents, services
from voting.definitions import parse_vote_toml
from voting.drafts import Draft
from voting.errors import N_, InputFileError, NotFoundError, PermissionDeniedError, RuleError
from voting.files import read_ballots, read_roster
from voting.ledger import EntryKind, FrozenRoster
from voting.lifecycle import WorkerBallot
from voting.model import Choice, Roster, Scope, Unit, UnitStatus, format_area
from voting.residents import Role
from voting.roster_diff import roster_changes
from voting.rules import PRESETS, parse_rule_toml, preset, rule_from_dict
from voting.schedule import parse_hhmm, parse_local_datetime
from voting.votes import Vote

__all__ = ["build_conversation_router", "start_paper", "start_paper_from_form"]

log = logging.getLogger(__name__)

MAX_FILE = 10 * 1024 * 1024  # a roster of 100,000 units as XLSX is ~4 MB
ROSTER_FILES = (".csv", ".xlsx")


def _choices(draft: Draft, options: list[tuple[str, str]], per_row: int = 1) -> InlineKeyboardMarkup:
    """Buttons for the draft's current step; the step goes with each, so an old question's button
    pressed later is refused rather than applied to whatever step the draft is at now."""
    step = str(draft.data.get("step", ""))
    return rows_of(
        [button(label, DraftCb(draft_id=draft.id, action="set", value=v, step=step).pack()) for label, v in options],
        per_row,
    )


def _pick(value: str, labels: list[str]) -> str | None:
    """A tapped option ("#3": an index, so a roster's label never has to fit in callback data) or a
    typed label, as one of `labels`; "" (the whole community / building) stays ""; None: not there."""
    if value == "":
        return ""
    if value.startswith("#") and value[1:].isdigit():
        index = int(value[1:])
        return labels[index] if index < len(labels) else None
    return value.strip() if value.strip() in labels else None


def _confirm(_: Translator, draft: Draft, ok: str) -> InlineKeyboardMarkup:
    return rows_of(
        [
            button(ok, DraftCb(draft_id=draft.id, action="ok").pack()),
            button(_("✖ Cancel"), DraftCb(draft_id=draft.id, action="cancel").pack()),
        ],
        2,
    )


async def _download(bot: Bot, document: Document) -> bytes:
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    return buffer.getvalue()


# --- the new-vote wizard -------------------------------------------------------------------------

WIZARD_STEPS = ("title", "text", "rule", "scope", "entrance", "opens", "closes", "turnout", "reminder", "review")


def _vote_from(draft: Draft, created_by: str) -> Vote:
    d = draft.data
    return Vote(
        draft.community_id,
        d["title"],
        d["text"],
        rule_from_dict(d["rule"]),
        Scope(d.get("building", ""), d.get("entrance", "")),
        datetime.fromisoformat(d["opens_at"]),
        datetime.fromisoformat(d["closes_at"]),
        show_turnout=bool(d.get("show_turnout", False)),
        reminder_time=d.get("reminder_time"),
        created_by=created_by,
    )


def _vote_data(vote: Vote) -> dict[str, Any]:
    return {
        "title": vote.title,
        "text": vote.text,
        "rule": vote.rule.as_dict(),
        "building": vote.scope.building,
        "entrance": vote.scope.entrance,
        "opens_at": vote.opens_at.isoformat(),
        "closes_at": vote.closes_at.isoformat(),
        "show_turnout": vote.show_turnout,
        "reminder_time": vote.reminder_time,
    }


def _review(ctx: BotContext, _: Translator, vote: Vote) -> str:
    scope = _("whole community")
    if vote.scope.building:
        scope = _("building {b}").format(b=vote.scope.building)
        if vote.scope.entrance:
            scope += " · " + _("entrance {e}").format(e=vote.scope.entrance)
    return "\n".join(
        [
            _("Check the vote before launching it:"),
            f"🗳 {vote.title}",
            vote.text,
            _("Rule: {rule}").format(rule=describe_rule(_, vote.rule)),
            _("Scope: {scope}").format(scope=scope),
            _("Opens {opens}, closes {closes} (Beijing time)").format(
                opens=ctx.local(vote.opens_at), closes=ctx.local(vote.closes_at)
            ),
            _("Turnout shown while open: {yes}").format(yes=_("yes") if vote.show_turnout else _("no")),
            _("Daily reminder: {time}").format(time=vote.reminder_time or _("off")),
            _("The roster is frozen when the vote opens; bound residents in scope are told then."),
        ]
    )


async def _roster(ctx: BotContext, community_id: int) -> Roster:
    async with ctx.uow() as uow:
        version = await uow.rosters.latest(community_id)
        roster = None if version is None else await uow.rosters.load(version)
    if roster is None:
        raise NotFoundError("roster of community", community_id)
    return roster


def _in_order(labels: set[str]) -> list[str]:
    return sorted(labels, key=lambda b: (len(b), b))


async def _buildings(ctx: BotContext, community_id: int) -> list[str]:
    return _in_order({u.building for u in await _roster(ctx, community_id) if u.building})


async def _ask(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, draft: Draft) -> None:
    """Ask the wizard's current step."""
    step = draft.data["step"]
    progress = f"({WIZARD_STEPS.index(step) + 1}/{len(WIZARD_STEPS)}) "
    if step == "title":
        await bot.send_message(chat_id, progress + _("Title of the vote, e.g. 加装电梯. /cancel to stop."))
    elif step == "text":
        await bot.send_message(chat_id, progress + _("The question put to the owners, in full."))
    elif step == "rule":
        options = [(rule_title(_, rule), name) for name, rule in PRESETS.items()]
        await bot.send_message(
            chat_id,
            progress + _("Counting rule? For another rule, send a rule TOML file now."),
            reply_markup=_choices(draft, options),
        )
    elif step == "scope":
        options = [(_("Whole community"), "")] + [
            (_("Building {b}").format(b=b), f"#{i}") for i, b in enumerate(await _buildings(ctx, draft.community_id))
        ]
        await bot.send_message(chat_id, progress + _("Who votes?"), reply_markup=_choices(draft, options[:60], 3))
    elif step == "entrance":
        building = draft.data["building"]
        roster = await _roster(ctx, draft.community_id)
        entrances = _in_order({u.entrance for u in roster if u.building == building and u.entrance})
        options = [(_("Whole building {b}").format(b=building), "")] + [
            (_("Entrance {e}").format(e=e), f"#{i}") for i, e in enumerate(entrances)
        ]
        await bot.send_message(chat_id, progress + _("Which entrance?"), reply_markup=_choices(draft, options[:60], 3))
    elif step == "opens":
        await bot.send_message(
            chat_id,
            progress
            + _("When does it open? Tap “now”, or write a local time such as {example}.").format(
                example=ctx.example_time(1, 8)
            ),
            reply_markup=_choices(draft, [(_("Now"), "now")]),
        )
    elif step == "closes":
        options = [(_("In {n} days, 20:00").format(n=n), str(n)) for n in (3, 7, 14)]
        await bot.send_message(
            chat_id,
            progress
            + _("When does it close? Tap one, or write a local time such as {example}.").format(
                example=ctx.example_time(7)
            ),
            reply_markup=_choices(draft, options, 3),
        )
    elif step == "turnout":
        await bot.send_message(
            chat_id,
            progress + _("Show residents the turnout while the vote is open?"),
            reply_markup=_choices(draft, [(_("Yes"), "yes"), (_("No"), "no")], 2),
        )
    elif step == "reminder":
        await bot.send_message(
            chat_id,
            progress + _("Daily reminder to owners who have not voted? Tap a time, or write one such as 18:30."),
            reply_markup=_choices(draft, [("19:00", "19-00"), ("20:00", "20-00"), (_("No reminders"), "off")], 3),
        )
    else:
        vote = _vote_from(draft, "")
        await bot.send_message(chat_id, _review(ctx, _, vote), reply_markup=_confirm(_, draft, _("🚀 Launch")))


async def _advance(
    ctx: BotContext, bot: Bot, _: Translator, chat_id: int, draft: Draft, skip: int = 0, **data: Any
) -> None:
    step = WIZARD_STEPS[WIZARD_STEPS.index(draft.data["step"]) + 1 + skip]
    draft = await drafts.save_draft(ctx.uow(), replace(draft, data={**draft.data, **data, "step": step}), ctx.now())
    await _ask(ctx, bot, _, chat_id, draft)


async def _wizard_value(  # noqa: PLR0911 - each step asks again on a value it cannot use
    ctx: BotContext, bot: Bot, _: Translator, chat_id: int, draft: Draft, value: str
) -> None:
    """A typed text or a tapped option for the wizard's current step."""
    step = draft.data["step"]
    if step == "title":
        if not 2 <= len(value) <= 200:
            await bot.send_message(chat_id, _("A title of 2 to 200 characters, please."))
            return
        await _advance(ctx, bot, _, chat_id, draft, title=value)
    elif step == "text":
        await _advance(ctx, bot, _, chat_id, draft, text=value[:3000])
    elif step == "rule":
        if value not in PRESETS:
            await bot.send_message(chat_id, _("Tap one of the rules above, or send a rule TOML file."))
            return
        await _advance(ctx, bot, _, chat_id, draft, rule=preset(value).as_dict())
    elif step == "scope":  # the whole community has no entrance to choose
        building = _pick(value, await _buildings(ctx, draft.community_id))
        if building is None:
            await bot.send_message(
                chat_id, _("There is no building {b} in the roster; tap one of the buttons.").format(b=value)
            )
            return
        await _advance(ctx, bot, _, chat_id, draft, skip=0 if building else 1, building=building, entrance="")
    elif step == "entrance":
        roster = await _roster(ctx, draft.community_id)
        b = draft.data["building"]
        entrance = _pick(value, _in_order({u.entrance for u in roster if u.building == b and u.entrance}))
        if entrance is None:
            await bot.send_message(
                chat_id, _("There is no entrance {e} in building {b}; tap one of the buttons.").format(e=value, b=b)
            )
            return
        await _advance(ctx, bot, _, chat_id, draft, entrance=entrance)
    elif step in ("opens", "closes"):
        try:
            if value == "now" and step == "opens":
                moment = ctx.now()
            elif value.isdigit() and step == "closes":
                moment = ctx.evening_in(int(value))
            else:
                moment = parse_local_datetime(value, ctx.tz, ctx.now())
        except ValueError:
            await bot.send_message(
                chat_id, _("Write a local date and time such as {example}.").format(example=ctx.example_time())
            )
            return
        if step == "opens":
            if moment < ctx.now() - timedelta(minutes=1):  # a typed time already past: say so, never "now"
                await bot.send_message(
                    chat_id,
                    _(
                        "{time} has already passed (it is now {now}). Tap “now” to open it at once, or write a later "
                        "time such as {example}."
                    ).format(time=ctx.local(moment), now=ctx.local(ctx.now()), example=ctx.example_time(1, 8)),
                )
                return
            await _advance(ctx, bot, _, chat_id, draft, opens_at=max(moment, ctx.now()).isoformat())
        else:
            if moment <= max(datetime.fromisoformat(draft.data["opens_at"]), ctx.now()):
                await bot.send_message(chat_id, _("The closing time must be after the opening time and in the future."))
                return
            await _advance(ctx, bot, _, chat_id, draft, closes_at=moment.isoformat())
    elif step == "turnout":
        await _advance(ctx, bot, _, chat_id, draft, show_turnout=value == "yes")
    elif step == "reminder":
        try:
            # a button's value is "19-00" (callback data cannot hold ":"); typed text is "19:00"
            reminder = None if value in ("off", _("off")) else parse_hhmm(value.replace("-", ":"))
        except ValueError:
            await bot.send_message(chat_id, _("Write a time of day such as 19:00, or tap “No reminders”."))
            return
        await _advance(ctx, bot, _, chat_id, draft, reminder_time=reminder)


async def _launch(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft) -> None:
    vote = _vote_from(draft, lifecycle.worker_actor(user))
    await residents.require_role(ctx.uow(), user, vote.community_id, Role.WORKER)
    vote_id = await services.create_vote(ctx.uow(), vote, ctx.now())
    await drafts.finish_draft(ctx.uow(), draft, ctx.now())
    when = _("now") if vote.opens_at <= ctx.now() else ctx.local(vote.opens_at)
    await bot.send_message(
        chat_id,
        _(
            "Vote #{id} “{title}” is launched: it opens {when}; residents in scope are told then. "
            "🛠 Manage votes shows it."
        ).format(id=vote_id, title=vote.title, when=when),
    )
    ctx.poke()


# --- paper ballots -------------------------------------------------------------------------------


async def start_paper(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, vote: Vote) -> None:
    await drafts.start_draft(
        ctx.uow(), user, vote.community_id, "paper", {"vote_id": vote.id, "step": "unit"}, ctx.now()
    )
    await bot.send_message(
        chat_id,
        _(
            "Paper, door-to-door or proxy ballot for “{title}”. Write the home's unit number (as in the roster, "
            "e.g. 3-2-401). For a stack of paper ballots, send a CSV or XLSX with columns unit and choice. "
            "/cancel to stop."
        ).format(title=vote.title),
    )


async def start_paper_from_form(
    ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, vote_id: int, code: str
) -> None:
    """A worker scanned a ballot form's QR code: the paper-ballot entry of its vote, its home selected
    (a blank form's code names only the vote)."""
    from bot.handlers.staff import vote_for_staff

    vote = await vote_for_staff(ctx, user, vote_id, (Role.WORKER,))
    await start_paper(ctx, bot, _, user, chat_id, vote)
    if code:
        draft = await drafts.open_draft(ctx.uow(), user, "paper")
        if draft is not None:
            await _paper_step(ctx, bot, _, chat_id, user, draft, code)


CHANNELS = {"paper": EntryKind.PAPER, "door": EntryKind.DOOR_TO_DOOR, "proxy": EntryKind.PROXY}


async def _paper_review(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, draft: Draft) -> None:
    d = draft.data
    channel = {"paper": _("paper ballot"), "door": _("door-to-door"), "proxy": _("proxy")}[d["channel"]]
    lines = [
        _("Record this ballot?"),
        _("Home {unit}: {choice} ({channel})").format(
            unit=d["unit"], choice=choice_label(_, Choice(d["choice"])), channel=channel
        ),
    ]
    if d.get("proxy"):
        lines.append(_("Proxy: {name}").format(name=d["proxy"]))
    lines.append(_("Photo of the signed paper: {state}").format(state=_("attached") if draft.payload else _("none")))
    await bot.send_message(chat_id, "\n".join(lines), reply_markup=_confirm(_, draft, _("✔ Record")))


async def _paper_step(
    ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, value: str
) -> None:
    d, step = draft.data, draft.data["step"]
    if step == "unit":
        unit = value.strip()
        owner_units = await lifecycle.owner_units(ctx.uow(), user, d["vote_id"], unit)
        code = doors.parse_form_code(value) if owner_units is None else None
        if code is not None:  # the code printed on a ballot form (typed, or from its QR code)
            found = await doors.home_for_form_code(ctx.uow(), d["vote_id"], code)
            if found is not None:
                unit = found
                owner_units = await lifecycle.owner_units(ctx.uow(), user, d["vote_id"], unit)
        if owner_units is None:
            await bot.send_message(
                chat_id,
                _("Home {unit} is not in this vote's roster. Check the number and write it again.").format(unit=value),
            )
            return
        draft = await drafts.save_draft(
            ctx.uow(), replace(draft, data={**d, "unit": unit, "step": "choice"}), ctx.now()
        )
        options = [(choice_label(_, c), str(c)) for c in Choice]
        await bot.send_message(
            chat_id,
            _("Home {unit} (owner's homes: {units}). Their choice?").format(unit=unit, units=", ".join(owner_units)),
            reply_markup=_choices(draft, options, 3),
        )
    elif step == "choice":
        if value not in {str(c) for c in Choice}:
            await bot.send_message(chat_id, _("Tap one of the buttons above for the owner's choice."))
            return
        draft = await drafts.save_draft(
            ctx.uow(), replace(draft, data={**d, "choice": value, "step": "channel"}), ctx.now()
        )
        options = [(_("📄 Paper ballot"), "paper"), (_("🚪 Door-to-door"), "door"), (_("🤝 Proxy"), "proxy")]
        await bot.send_message(chat_id, _("How was it collected?"), reply_markup=_choices(draft, options, 3))
    elif step == "channel":
        if value not in CHANNELS:
            await bot.send_message(chat_id, _("Tap one of the buttons above: paper, door-to-door or proxy."))
            return
        nxt = "proxy" if value == "proxy" else "photo"
        draft = await drafts.save_draft(ctx.uow(), replace(draft, data={**d, "channel": value, "step": nxt}), ctx.now())
        if nxt == "proxy":
            await bot.send_message(chat_id, _("The proxy's full name, as on the signed authorisation:"))
        else:
            await _ask_photo(bot, _, chat_id, draft)
    elif step == "proxy":
        draft = await drafts.save_draft(
            ctx.uow(), replace(draft, data={**d, "proxy": value[:100], "step": "photo"}), ctx.now()
        )
        await _ask_photo(bot, _, chat_id, draft)
    elif step == "photo" and value == "skip":
        if d["channel"] == "paper":
            await bot.send_message(
                chat_id, _("A paper ballot needs the photo of the signed paper. Send it as a photo.")
            )
            return
        draft = await drafts.save_draft(ctx.uow(), replace(draft, data={**d, "step": "review"}), ctx.now())
        await _paper_review(ctx, bot, _, chat_id, draft)


async def _ask_photo(bot: Bot, _: Translator, chat_id: int, draft: Draft) -> None:
    text = _("Send a photo of the signed paper (it is kept; its hash goes into the ledger).")
    markup = None
    if draft.data["channel"] != "paper":
        markup = _choices(draft, [(_("No photo"), "skip")])
    await bot.send_message(chat_id, text, reply_markup=markup)


def _next_paper(_: Translator, draft: Draft) -> InlineKeyboardMarkup:
    return rows_of([button(_("📝 Next paper ballot"), DraftCb(draft_id=draft.id, action="again").pack())], 1)


async def _record_paper(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft) -> None:
    d = draft.data
    ballot = WorkerBallot(
        d["unit"], Choice(d["choice"]), CHANNELS[d["channel"]], d.get("proxy"), draft.payload, f"paper:{draft.id}"
    )
    (receipt,) = await lifecycle.record_worker_ballots(ctx.uow(), user, d["vote_id"], [ballot], ctx.now())
    await drafts.finish_draft(ctx.uow(), draft, ctx.now())
    replaced = ""
    if receipt.replaced is not None:
        replaced = " " + _("It replaces the owner's earlier ballot ({choice}); both stay in the ledger.").format(
            choice=choice_label(_, receipt.replaced)
        )
    await bot.send_message(
        chat_id,
        _("Recorded for home {unit}: receipt {receipt}.").format(unit=d["unit"], receipt=receipt.receipt) + replaced,
        reply_markup=_next_paper(_, draft),
    )


def _tapped_label(query: CallbackQuery) -> str | None:
    """The text of the button that was tapped, as the person saw it."""
    if not isinstance(query.message, Message) or query.message.reply_markup is None:
        return None
    for row in query.message.reply_markup.inline_keyboard:
        for tapped in row:
            if tapped.callback_data == query.data:
                return tapped.text
    return None


async def _settle(query: CallbackQuery, label: str) -> None:
    """A question answered: its buttons go, the answer stays under it (a record of the conversation)."""
    if isinstance(query.message, Message):
        await edit(query, f"{query.message.text or query.message.caption or ''}\n→ {label}", None)


# --- the router ----------------------------------------------------------------------------------


def build_conversation_router() -> Router:
    router = Router(name="conversation")

    @router.message(Command("cancel"))
    async def cancel(message: Message, ctx: BotContext, _: Translator) -> None:
        await drafts.cancel_drafts(ctx.uow(), user_of(message), ctx.now())
        await message.answer(_("Stopped. Nothing was saved from it."))

    @router.message(Command("newvote"))
    @router.message(MenuButton("new_vote"))
    async def new_vote(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(ctx.uow(), user_of(message))
        await _buildings(ctx, community_id)  # a vote needs a roster: say so now, not at the last step
        draft = await drafts.start_draft(
            ctx.uow(), user_of(message), community_id, "vote-wizard", {"step": "title"}, ctx.now()
        )
        await message.answer(
            _("New vote in {name}. You can also send a vote TOML file instead (see the README).").format(name=name)
        )
        await _ask(ctx, bot, _, message.chat.id, draft)

    @router.message(Command("invites"))
    async def invites(message: Message, ctx: BotContext, _: Translator) -> None:
        community_id, name, _held = await residents.acting_community(ctx.uow(), user_of(message))
        units = await _buildings(ctx, community_id)  # raises when there is no roster yet
        draft = await drafts.start_draft(ctx.uow(), user_of(message), community_id, "invites", {}, ctx.now())
        await message.answer(
            _(
                "Print a new invite sheet for every home of {name} ({n} buildings)? Codes printed before and not "
                "used yet stop working; homes already bound stay bound. For one home only: /reissue UNIT."
            ).format(name=name, n=len(units)),
            reply_markup=_confirm(_, draft, _("🖨 Make the sheet")),
        )

    async def _send_sheet(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, community_id: int, units: list[str] | None
    ) -> None:
        issued = await residents.issue_invites(ctx.uow(), community_id, units, ctx.now(), ctx.random_bytes)
        async with ctx.uow() as uow:
            name = await uow.communities.name(community_id)
        slips = [
            InviteSlip(i.unit_id, i.code, f"https://t.me/{ctx.bot_username}?start={i.code.replace('-', '')}")
            for i in issued
        ]
        lines = (
            _("Scan the QR code with your phone camera, or open Telegram, find @{bot} and type this code.").format(
                bot=ctx.bot_username
            ),
            _("One home, one code; it works once. Questions: ask your community worker."),
        )
        pdf = await asyncio.to_thread(invite_sheet_pdf, slips, heading=name, lines=lines, code_label=_("Invite code"))
        csv_bytes = invite_csv(slips, headers=(_("Unit"), _("Code"), _("Link")))
        stamp = ctx.now().astimezone(ctx.tz).strftime("%Y%m%d-%H%M")
        await bot.send_document(
            chat_id,
            BufferedInputFile(pdf, f"invites-{community_id}-{stamp}.pdf"),
            caption=_("{n} invite slips, ready to print.").format(n=len(slips)),
        )
        await bot.send_document(chat_id, BufferedInputFile(csv_bytes, f"invites-{community_id}-{stamp}.csv"))

    @router.message(Command("reissue"))
    async def reissue(message: Message, command: CommandObject, bot: Bot, ctx: BotContext, _: Translator) -> None:
        community_id, _name, _held = await residents.acting_community(ctx.uow(), user_of(message))
        unit = (command.args or "").strip()
        if not unit:
            await message.answer(_("Write the unit after the command: /reissue 3-2-401"))
            return
        await _send_sheet(ctx, bot, _, message.chat.id, community_id, [unit])
        await message.answer(_("New code for {unit}; its earlier unused code no longer works.").format(unit=unit))

    @router.message(F.document)
    async def document(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:  # noqa: PLR0911
        assert message.document is not None
        name = (message.document.file_name or "").lower()
        try:
            community_id, _cname, _held = await residents.acting_community(ctx.uow(), user_of(message))
        except PermissionDeniedError:
            raise SkipHandler() from None  # a resident's file: the fallback answers
        if (message.document.file_size or 0) > MAX_FILE:
            await message.answer(_("The file is larger than 10 MB. Split it, or remove pictures from it."))
            return
        data = await _download(bot, message.document)
        open_draft = await drafts.open_draft(ctx.uow(), user_of(message))
        if name.endswith(".toml"):
            if open_draft is not None and open_draft.kind == "vote-wizard" and open_draft.data["step"] == "rule":
                try:
                    rule = parse_rule_toml(data.decode("utf-8-sig"), source=message.document.file_name or "rule")
                except (RuleError, UnicodeDecodeError) as exc:
                    await message.answer(
                        describe_rule_error(_, exc) if isinstance(exc, RuleError) else _("The file is not UTF-8 text.")
                    )
                    return
                await _advance(ctx, bot, _, message.chat.id, open_draft, rule=rule.as_dict())
                return
            try:
                vote = parse_vote_toml(
                    data, community_id, ctx.tz, ctx.now(), created_by=lifecycle.worker_actor(user_of(message))
                )
            except RuleError as exc:
                await message.answer(
                    _("The vote file cannot be used: {error}").format(error=describe_rule_error(_, exc))
                )
                return
            await _buildings(ctx, community_id)
            draft = await drafts.start_draft(
                ctx.uow(),
                user_of(message),
                community_id,
                "vote-wizard",
                {**_vote_data(vote), "step": "review"},
                ctx.now(),
            )
            await _ask(ctx, bot, _, message.chat.id, draft)
            return
        if not name.endswith(ROSTER_FILES):
            await message.answer(_("Send a roster or paper-ballot sheet as CSV or XLSX, or a vote definition as TOML."))
            return
        if open_draft is not None and open_draft.kind == "paper":
            await _paper_sheet(message, bot, ctx, _, open_draft, data, name)
            return
        try:
            roster = read_roster(data, message.document.file_name or name)
        except InputFileError as exc:
            await message.answer(describe_input_error(_, exc, limit=20))
            return
        draft = await drafts.start_draft(
            ctx.uow(),
            user_of(message),
            community_id,
            "roster",
            {"file": message.document.file_name or name},
            ctx.now(),
            payload=data,
        )
        preview = _roster_preview(_, roster)
        changes = await _changes_from_current(ctx, _, community_id, roster)
        await message.answer(preview + changes, reply_markup=_confirm(_, draft, _("✔ Import")))

    async def _paper_sheet(
        message: Message, bot: Bot, ctx: BotContext, _: Translator, draft: Draft, data: bytes, name: str
    ) -> None:
        vote_id = draft.data["vote_id"]
        async with ctx.uow() as uow:
            frozen = await uow.votes.frozen(vote_id)
        try:
            ballots = read_ballots(data, name, _labelled(frozen))
        except InputFileError as exc:
            await message.answer(describe_input_error(_, exc, limit=20))
            return
        digest = hashlib.sha256(data).hexdigest()[:16]
        sheet = await drafts.start_draft(
            ctx.uow(),
            user_of(message),
            draft.community_id,
            "paper-sheet",
            {"vote_id": vote_id, "sha": digest, "file": name},
            ctx.now(),
            payload=data,
        )
        counts = {c: sum(1 for _u, ch in ballots if ch is c) for c in Choice}
        text = _(
            "{n} paper ballots in {file}: {agree} agree, {disagree} disagree, {abstain} abstain. Record them all?"
        ).format(
            n=len(ballots),
            file=name,
            agree=counts[Choice.AGREE],
            disagree=counts[Choice.DISAGREE],
            abstain=counts[Choice.ABSTAIN],
        )
        await message.answer(text, reply_markup=_confirm(_, sheet, _("✔ Record all")))

    @router.message(F.photo)
    async def photo(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        draft = await drafts.open_draft(ctx.uow(), user_of(message))
        if draft is None or draft.kind != "paper" or draft.data.get("step") != "photo":
            raise SkipHandler()
        assert message.photo
        buffer = io.BytesIO()
        await bot.download(message.photo[-1], destination=buffer)
        draft = await drafts.save_draft(
            ctx.uow(), replace(draft, data={**draft.data, "step": "review"}, payload=buffer.getvalue()), ctx.now()
        )
        await _paper_review(ctx, bot, _, message.chat.id, draft)

    @router.message(F.text, ~F.text.startswith("/"))
    async def typed(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        text = (message.text or "").strip()
        if is_menu_label(text):
            raise SkipHandler()
        draft = await drafts.open_draft(ctx.uow(), user_of(message))
        if draft is None:
            raise SkipHandler()
        chat_id, user = message.chat.id, user_of(message)
        if draft.kind == "vote-wizard":
            await _wizard_value(ctx, bot, _, chat_id, draft, text)
        elif draft.kind == "paper":
            await _paper_step(ctx, bot, _, chat_id, user, draft, text)
        elif draft.kind == "extend":
            await _extend(ctx, bot, _, chat_id, user, draft, text)
        elif draft.kind == "remind":
            await _remind_time(ctx, bot, _, chat_id, user, draft, text)
        elif draft.kind == "objection":
            await _file_objection(ctx, bot, _, chat_id, user, draft, text)
        elif draft.kind == "resolve":
            await _resolve(ctx, bot, _, chat_id, user, draft, text)
        else:
            raise SkipHandler()

    @router.callback_query(DraftCb.filter())
    async def draft_button(
        query: CallbackQuery, callback_data: DraftCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user = user_of(query)
        chat_id = chat_of(query)
        if callback_data.action == "again":  # "next paper ballot": a fresh paper draft for the same vote
            async with ctx.uow() as uow:
                old = await uow.drafts.get(callback_data.draft_id)
            if old is None:
                raise NotFoundError("draft", callback_data.draft_id)
            vote = await vote_for_staff(ctx, user, old.data["vote_id"], (Role.WORKER,))
            await query.answer()
            await start_paper(ctx, bot, _, user, chat_id, vote)
            return
        try:
            draft = await drafts.load_draft(ctx.uow(), user, callback_data.draft_id)
        except NotFoundError:
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        await query.answer()
        if callback_data.action == "cancel":
            await drafts.finish_draft(ctx.uow(), draft, ctx.now())
            await edit(query, _("Cancelled. Nothing was saved."), None)
        elif callback_data.action == "set" and callback_data.step != str(draft.data.get("step", "")):
            if isinstance(query.message, Message):  # an earlier question's button: not for this step
                await query.message.answer(_("This step is finished or was replaced by a newer one."))
        elif callback_data.action == "set":
            await _settle(query, _tapped_label(query) or callback_data.value)
            if draft.kind == "vote-wizard":
                await _wizard_value(ctx, bot, _, chat_id, draft, callback_data.value)
            elif draft.kind == "paper":
                await _paper_step(ctx, bot, _, chat_id, user, draft, callback_data.value)
        elif callback_data.action == "ok":
            await _settle(query, _tapped_label(query) or "✔")
            await _confirmed(ctx, bot, _, chat_id, user, draft)

    async def _confirmed(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft) -> None:
        if draft.kind == "vote-wizard" and draft.data.get("step") == "review":
            await _launch(ctx, bot, _, chat_id, user, draft)
        elif draft.kind == "roster":
            await residents.require_role(ctx.uow(), user, draft.community_id, Role.WORKER)
            assert draft.payload is not None
            roster = read_roster(draft.payload, draft.data["file"])
            await drafts.finish_draft(ctx.uow(), draft, ctx.now())  # first: a second ✔ imports nothing
            imported = await services.import_roster(
                ctx.uow(),
                draft.community_id,
                roster,
                draft.data["file"],
                draft.payload,
                lifecycle.worker_actor(user),
                ctx.now(),
            )
            await bot.send_message(
                chat_id,
                _(
                    "Roster version {version} imported: {units} homes, {owners} owners, {area} m². "
                    "Open votes keep the roster they froze. Next: /invites prints the invite sheet."
                ).format(
                    version=imported.version,
                    units=imported.units,
                    owners=imported.owners,
                    area=format_area(imported.total_area),
                ),
            )
        elif draft.kind == "invites":
            await residents.require_role(ctx.uow(), user, draft.community_id, Role.WORKER)
            await drafts.finish_draft(ctx.uow(), draft, ctx.now())
            await _send_sheet(ctx, bot, _, chat_id, draft.community_id, None)
        elif draft.kind == "paper" and draft.data.get("step") == "review":
            await _record_paper(ctx, bot, _, chat_id, user, draft)
        elif draft.kind == "paper-sheet":
            assert draft.payload is not None
            vote_id = draft.data["vote_id"]
            async with ctx.uow() as uow:
                frozen = await uow.votes.frozen(vote_id)
            ballots = read_ballots(draft.payload, draft.data["file"], _labelled(frozen))
            sheet = [
                WorkerBallot(
                    unit,
                    choice,
                    EntryKind.PAPER,
                    attachment=draft.payload,  # the sheet it was entered from: its SHA-256 in each entry
                    idempotency_key=f"sheet:{draft.data['sha']}:{row}",
                )
                for row, (unit, choice) in enumerate(ballots, start=1)
            ]
            receipts = await lifecycle.record_worker_ballots(ctx.uow(), user, vote_id, sheet, ctx.now())
            await drafts.finish_draft(ctx.uow(), draft, ctx.now())
            await bot.send_message(
                chat_id,
                _("{n} paper ballots recorded from {file}.").format(n=len(receipts), file=draft.data["file"]),
                reply_markup=_next_paper(_, draft),
            )

    async def _extend(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, text: str
    ) -> None:
        """First the new deadline, then the reason owners and the group will read with it."""
        if draft.data.get("step") == "reason":
            await _extend_with_reason(ctx, bot, _, chat_id, user, draft, text)
            return
        try:
            moment = parse_local_datetime(text, ctx.tz, ctx.now())
        except ValueError:
            await bot.send_message(
                chat_id, _("Write a local date and time such as {example}.").format(example=ctx.example_time())
            )
            return
        vote = await vote_for_staff(ctx, user, draft.data["vote_id"], (Role.WORKER,))
        if moment <= vote.closes_at:
            await bot.send_message(
                chat_id,
                _(
                    "The new deadline must be later than the current one, {deadline}. Write a later date and time."
                ).format(deadline=ctx.local(vote.closes_at)),
            )
            return
        data = {**draft.data, "step": "reason", "closes_at": moment.isoformat()}
        await drafts.save_draft(ctx.uow(), replace(draft, data=data), ctx.now())
        await bot.send_message(
            chat_id,
            _(
                "Why is the deadline moved to {after}? Owners and the owners' group will read it with the new "
                "deadline, e.g. 还有 12 户未表决，留出上门收票的时间."
            ).format(after=ctx.local(moment)),
        )

    async def _extend_with_reason(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, text: str
    ) -> None:
        reason = text.strip()
        if len(reason) < 2:
            await bot.send_message(chat_id, _("Please write the reason in a few words."))
            return
        moment = datetime.fromisoformat(draft.data["closes_at"])
        before = await vote_for_staff(ctx, user, draft.data["vote_id"], (Role.WORKER,))
        vote = await lifecycle.extend_vote(ctx.uow(), user, before.id, moment, ctx.now(), reason=reason[:500])
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        ctx.poke()
        from bot.notices import extended_text

        people = await lifecycle.recipients(ctx.uow(), vote.id) if vote.roster_hash else []
        notices = [
            Notice(
                p.telegram_id, extended_text(ctx, translator(p.language or ctx.default_locale), vote, before, reason)
            )
            for p in people
        ]
        async with ctx.uow() as uow:
            group = await uow.communities.group_chat(vote.community_id)
        if group is not None:
            notices.append(Notice(group, extended_text(ctx, translator(ctx.default_locale), vote, before, reason)))
        told = _("{n} residents in scope are told.").format(n=len(people))
        if group is not None:
            told += " " + _("The owners' group is told too.")
        await bot.send_message(chat_id, extended_text(ctx, _, vote, before, reason) + "\n" + told)
        await deliver(bot, notices)

    async def _remind_time(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, text: str
    ) -> None:
        try:
            hhmm = None if text.lower() in ("off", _("off"), "关", "关闭") else parse_hhmm(text)
        except ValueError:
            await bot.send_message(chat_id, _("Write a time of day such as 19:00, or “off”."))
            return
        vote = await lifecycle.set_reminder(ctx.uow(), user, draft.data["vote_id"], hhmm, ctx.now())
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        ctx.poke()
        await bot.send_message(
            chat_id,
            _("Daily reminder for “{title}”: {time}. Owners who voted are never reminded.").format(
                title=vote.title, time=hhmm or _("off")
            ),
        )

    async def _file_objection(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, text: str
    ) -> None:
        objection = await lifecycle.file_objection(ctx.uow(), user, draft.data["vote_id"], text, ctx.now())
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        await bot.send_message(
            chat_id,
            _("Objection #{id} received. The community worker will check it and answer you here.").format(
                id=objection.id
            ),
        )
        async with ctx.uow() as uow:
            vote = await uow.votes.get(objection.vote_id)
            workers = await uow.roles.holders(vote.community_id, Role.WORKER)
        from bot.handlers.staff import objection_buttons

        notices = []
        for worker in workers:
            w_ = translator(worker.language or ctx.default_locale)
            line = w_(N_("New objection #{id} to “{title}”, home {unit}: {text}")).format(
                id=objection.id, title=vote.title, unit=objection.unit_id, text=objection.text
            )
            notices.append(Notice(worker.telegram_id, line, objection_buttons(w_, objection.id)))
        await deliver(bot, notices)

    @router.callback_query(ObjectionCb.filter())
    async def objection_button(
        query: CallbackQuery, callback_data: ObjectionCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user = user_of(query)
        chat_id = chat_of(query)
        if callback_data.action == "file":
            seen = await residents.owner_vote(ctx.uow(), user, callback_data.ref)
            await query.answer()
            await drafts.start_draft(
                ctx.uow(), user, seen.vote.community_id, "objection", {"vote_id": seen.vote.id}, ctx.now()
            )
            await bot.send_message(
                chat_id,
                _(
                    "Describe what is wrong with how your ballot was recorded "
                    "(e.g. “I signed agree on paper, the bot shows disagree”). /cancel to stop."
                ),
            )
            return
        if callback_data.action not in ("keep", "agree", "disagree", "abstain"):
            await query.answer(_("This button is no longer valid. Please open the menu again."), show_alert=True)
            return
        async with ctx.uow() as uow:
            objection = await uow.objections.get(callback_data.ref)
        if objection is None:
            raise NotFoundError("objection", callback_data.ref)
        vote = await vote_for_staff(ctx, user, objection.vote_id, (Role.WORKER,))
        await query.answer()
        await drafts.start_draft(
            ctx.uow(),
            user,
            vote.community_id,
            "resolve",
            {"objection_id": objection.id, "action": callback_data.action},
            ctx.now(),
        )
        await bot.send_message(
            chat_id,
            _(
                "Write the reason for your decision on objection #{id}; it is sent to the resident and, "
                "for a correction, written into the ledger."
            ).format(id=objection.id),
        )

    async def _resolve(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, text: str
    ) -> None:
        action = draft.data["action"]
        correct_to = Choice(action) if action in ("agree", "disagree", "abstain") else None
        objection, receipt = await lifecycle.resolve_objection(
            ctx.uow(),
            user,
            draft.data["objection_id"],
            text,
            ctx.now(),
            correct_to=correct_to,
        )
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        ctx.poke()  # the final tally may now be due
        done = _("Objection #{id} resolved.").format(id=objection.id)
        if receipt is not None:
            done += " " + _("Correction recorded: ledger entry #{seq}, receipt {receipt}.").format(
                seq=receipt.seq, receipt=receipt.receipt
            )
        await bot.send_message(chat_id, done)
        async with ctx.uow() as uow:
            account_lang = (await uow.accounts.get(objection.telegram_id)).language
        r_ = translator(account_lang or ctx.default_locale)
        answer = r_(N_("Your objection #{id} was answered: {resolution}")).format(
            id=objection.id, resolution=objection.resolution
        )
        if receipt is not None:
            answer += "\n" + r_(
                N_("Your ballot was corrected in the ledger (entry #{seq}, receipt {receipt}).")
            ).format(seq=receipt.seq, receipt=receipt.receipt)
        await deliver(bot, [Notice(objection.telegram_id, answer)])

    return router


def _labelled(frozen: FrozenRoster) -> Roster:
    """A vote's frozen roster by unit labels, to check a sheet of paper ballots against (owners as pseudonyms)."""
    return Roster(tuple(Unit(u.unit_id, u.area, u.owner_ref, u.status) for u in frozen.units))


CHANGE_LINES = 30  # homes listed per kind of change; the counts are always whole


async def _changes_from_current(ctx: BotContext, _: Translator, community_id: int, roster: Roster) -> str:
    """The difference from the community's current roster, to read before ✔ (empty for a first roster)."""
    try:
        current = await _roster(ctx, community_id)
    except NotFoundError:
        return ""
    changes = roster_changes(current, roster)
    if not changes.any and changes.area_before == changes.area_after:
        return "\n\n" + _("Compared with the current roster: no home added, removed or changed.")
    lines = [
        "",
        "",
        _(
            "⚠ Compared with the current roster: {added} homes added, {removed} removed, {changed} changed; total "
            "area {before} → {after} m²."
        ).format(
            added=len(changes.added),
            removed=len(changes.removed),
            changed=len(changes.changed),
            before=format_area(changes.area_before),
            after=format_area(changes.area_after),
        ),
    ]
    for label, units in ((_("Added:"), changes.added), (_("Removed:"), changes.removed)):
        if units:
            shown = ", ".join(f"{u.unit_id} ({format_area(u.area)} m²)" for u in units[:CHANGE_LINES])
            more = _(" and {n} more").format(n=len(units) - CHANGE_LINES) if len(units) > CHANGE_LINES else ""
            lines.append(f"{label} {shown}{more}")
    if changes.changed:
        lines.append(_("Changed:"))
        for before, after in changes.changed[:CHANGE_LINES]:
            lines.append(_("  {unit}: {what}").format(unit=after.unit_id, what=_change_words(_, before, after)))
        if len(changes.changed) > CHANGE_LINES:
            lines.append(_("… and {n} more.").format(n=len(changes.changed) - CHANGE_LINES))
    lines.append(_("Check these changes. Open votes keep the roster they froze. Import anyway?"))
    return "\n".join(lines)


def _change_words(_: Translator, before: Unit, after: Unit) -> str:
    """What changed in one home, only what did: its area, its owner, whether the developer still holds it."""
    parts = []
    if before.area != after.area:
        parts.append(
            _("area {before} → {after} m²").format(before=format_area(before.area), after=format_area(after.area))
        )
    if before.owner != after.owner:
        parts.append(_("owner {before} → {after}").format(before=before.owner or "—", after=after.owner or "—"))
    if before.status != after.status:
        parts.append(_("sold or held by the developer changed"))
    return _("; ").join(parts)


def _roster_preview(_: Translator, roster: Roster) -> str:
    total = roster.total
    nameless = sum(1 for u in roster if not u.owner and u.status is UnitStatus.SOLD)
    developer = sum(1 for u in roster if u.status is not UnitStatus.SOLD)
    buildings = sorted({u.building for u in roster if u.building})
    lines = [
        _("Roster preview:"),
        _("{units} homes in {buildings} buildings, total floor area {area} m²").format(
            units=len(roster), buildings=len(buildings), area=format_area(total.area)
        ),
        _(
            "Owners counted by headcount: {owners} (several homes of one owner count once; "
            "the developer's unsold homes count as one, SPC interpretation art. 9)"
        ).format(owners=total.headcount),
    ]
    if nameless:
        lines.append(
            _(
                "⚠ {n} sold homes have no owner name: each counts as its own owner. "
                "Add names if one person owns several."
            ).format(n=nameless)
        )
    if developer:
        lines.append(_("ℹ {n} homes are held by the developer (unsold or undelivered).").format(n=developer))
    lines.append(_("Import it as the community's new roster version?"))
    return "\n".join(lines)
