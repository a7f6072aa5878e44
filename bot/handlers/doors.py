"""Door-to-door work on an open vote: who has not voted (in the chat, XLSX and PDF, building by
building) and paper ballot forms whose code the paper-ballot entry accepts.

Called from the vote card's buttons (``bot/handlers/staff.py``); each use case checks the role.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.types import BufferedInputFile

from bot.context import BotContext
from bot.handlers.menus import send_long
from bot.i18n import Translator
from bot.keyboards import button, rows_of
from bot.render import rule_title
from bot.sheets import BallotForm, FormTexts, VisitRow, ballot_forms_pdf, visit_list_pdf, visit_list_xlsx
from voting import doors
from voting.doors import HomeToVisit
from voting.votes import Vote

__all__ = ["form_link", "send_ballot_forms", "send_not_voted"]

CHAT_LINES = 300  # more homes than this: the chat says how many and the files have them all


def _building(_: Translator, building: str) -> str:
    return _("Building {b}").format(b=building) if building else "—"


def _row(_: Translator, home: HomeToVisit) -> VisitRow:
    return VisitRow(
        home.building,
        home.entrance,
        home.room,
        home.unit_id,
        home.owner or _("(no name in the roster)"),
        home.phone,
        _("in the chat") if home.bound else _("not in the chat"),
    )


def not_voted_text(ctx: BotContext, _: Translator, vote: Vote, homes: list[HomeToVisit]) -> str:
    if not homes:
        return _("Every owner of “{title}” has voted.").format(title=vote.title)
    unbound = sum(1 for home in homes if not home.bound)
    lines = [
        _(
            "🚪 Homes of “{title}” whose owner has not voted: {n}, as of {time}. {unbound} of them use no chat: "
            "visit them or phone them; the others can be reminded in the chat."
        ).format(title=vote.title, n=len(homes), time=ctx.local(ctx.now()), unbound=unbound)
    ]
    shown = 0
    for building, group in doors.by_building(homes):
        lines += ["", _("{building}: {n} homes").format(building=_building(_, building), n=len(group))]
        for home in group:
            if shown == CHAT_LINES:
                break
            row = _row(_, home)
            phone = f" · {row.phone}" if row.phone else ""
            lines.append(f"  {row.unit} · {row.owner}{phone} · {row.bound}")
            shown += 1
    if shown < len(homes):
        lines += ["", _("… and {n} more: see the XLSX or PDF file.").format(n=len(homes) - shown)]
    return "\n".join(lines)


def _headers(_: Translator) -> list[str]:
    return [_("Building"), _("Entrance"), _("Room"), _("Home"), _("Owner"), _("Phone"), _("Chat")]


async def send_not_voted(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, vote_id: int) -> None:
    vote, homes = await doors.not_voted(ctx.uow(), user, vote_id)
    await send_long(bot, chat_id, not_voted_text(ctx, _, vote, homes))
    if not homes:
        return
    rows = [_row(_, home) for home in homes]
    groups = [
        (_("{building}: {n} homes").format(building=_building(_, b), n=len(g)), [_row(_, h) for h in g])
        for b, g in doors.by_building(homes)
    ]
    stamp = ctx.now().astimezone(ctx.tz).strftime("%Y%m%d-%H%M")
    headers = _headers(_)
    xlsx = await asyncio.to_thread(visit_list_xlsx, rows, headers=headers, sheet=_("Not voted"))
    pdf = await asyncio.to_thread(
        visit_list_pdf,
        groups,
        heading=_("Not voted yet: {title}").format(title=vote.title),
        subheading=_("{n} homes, as of {time}. Tick the box once visited.").format(
            n=len(homes), time=ctx.local(ctx.now())
        ),
        headers=[_("Home"), _("Owner"), _("Phone"), _("Chat"), _("Visited")],
    )
    await bot.send_document(chat_id, BufferedInputFile(xlsx, f"not-voted-{vote.id}-{stamp}.xlsx"))
    await bot.send_document(chat_id, BufferedInputFile(pdf, f"not-voted-{vote.id}-{stamp}.pdf"))


def form_link(ctx: BotContext, vote_id: int, code: str = "") -> str:
    """The QR code's deep link: the worker's camera opens the bot's paper-ballot entry on this home."""
    payload = f"pb{vote_id}_{code.replace('-', '')}" if code else f"pb{vote_id}"
    return f"https://t.me/{ctx.bot_username}?start={payload}"


def form_texts(ctx: BotContext, _: Translator, vote: Vote) -> FormTexts:
    return FormTexts(
        heading=_("Paper ballot"),
        title=vote.title,
        text=vote.text,
        rule=_("Rule: {rule}").format(rule=rule_title(_, vote.rule)),
        deadline=_("Deadline: {when} ({tz})").format(when=ctx.local(vote.closes_at), tz=_("Beijing time")),
        home_label=_("Home:"),
        owner_label=_("Owner:"),
        choices=(_("Agree"), _("Disagree"), _("Abstain")),
        instruction=_(
            "Tick one box. A form with no box or with several boxes ticked does not count. Sign it and hand it to "
            "your community worker before the deadline."
        ),
        signature=_("Owner's signature:"),
        date=_("Date:"),
        code_label=_("Form code"),
    )


async def send_ballot_forms(
    ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, vote: Vote, action: str
) -> None:
    """ "forms": ask which; "forms_all": a form for each home not voted, its home and owner printed;
    "forms_blank": one form to fill in by hand."""
    from bot.callbacks import WorkCb

    vote, homes = await doors.not_voted(ctx.uow(), user, vote.id)
    if action == "forms":
        choices = [button(_("📄 One blank form"), WorkCb(action="forms_blank", vote_id=vote.id).pack())]
        if homes:
            label = _("🖨 A form for each of the {n} homes not voted").format(n=len(homes))
            choices.insert(0, button(label, WorkCb(action="forms_all", vote_id=vote.id).pack()))
        await bot.send_message(
            chat_id,
            _(
                "Paper ballot forms for “{title}”. Each carries a code and a QR code: type the code, or scan the QR "
                "code with your phone, in 📝 Paper ballot to select its home."
            ).format(title=vote.title),
            reply_markup=rows_of(choices, 1),
        )
        return
    if action == "forms_all" and homes:
        forms = [
            BallotForm(home.unit_id, home.owner, doors.form_code(home.unit_ref), "") for home in homes if home.unit_ref
        ]
        forms = [BallotForm(f.unit, f.owner, f.code, form_link(ctx, vote.id, f.code)) for f in forms]
        name = f"ballot-forms-{vote.id}.pdf"
    else:
        forms = [BallotForm("", "", "", form_link(ctx, vote.id))]
        name = f"ballot-form-{vote.id}-blank.pdf"
    pdf = await asyncio.to_thread(ballot_forms_pdf, forms, form_texts(ctx, _, vote))
    await bot.send_document(
        chat_id,
        BufferedInputFile(pdf, name),
        caption=_("{n} paper ballot forms, ready to print.").format(n=len(forms)),
    )
