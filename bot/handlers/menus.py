"""The renovation menu (菜单式改造) in the chat: the community's catalogue (show, download, edit an
item, upload a new one), launching a menu round, a resident ticking items with their estimated share,
and a worker's results with the draft plan, its cost sheets and the plan put to a vote in one step.

Conversations (an item's new value, a round's title, an uploaded file awaiting ✔) are kept as drafts
in the database, as in bot.handlers.conversation; buttons carry ids and indices only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import MenuCb, ProjectCb, SurveyCb
from bot.context import BotContext
from bot.handlers.staff import chat_of, user_of
from bot.handlers.surveys import announce_survey
from bot.handlers.votes import edit
from bot.i18n import Translator, translator
from bot.keyboards import button, is_menu_label, rows_of
from bot.render import describe_input_error, money, percent, rule_title
from bot.texts import describe_catalogue_problems
from voting import drafts, lifecycle, renovation, residents, services, surveys
from voting.drafts import Draft
from voting.errors import N_, CatalogueError, InputFileError, NotFoundError, PermissionDeniedError
from voting.menu import (
    CLASS_TITLES,
    MENU_RULES,
    Catalogue,
    Inclusion,
    ItemClass,
    MenuItem,
    ShareKind,
    default_catalogue,
    estimate_share,
    format_money,
    item_share_estimate,
    parse_catalogue_sheet,
    parse_catalogue_toml,
    parse_money,
    plan_rows,
    write_plan_xlsx,
)
from voting.model import format_area
from voting.residents import Role
from voting.rules import preset
from voting.surveys import SurveyKind

__all__ = ["build_menus_router", "catalogue_toml", "catalogue_xlsx"]

MESSAGE_LIMIT = 4000
MAX_CATALOGUE_FILE = 2 * 1024 * 1024
SHEET_FILES = (".csv", ".xlsx")
EDIT_KINDS = ("catalogue-edit", "menu-round")

#: Rules a plan may be put to, the default first (renovating buildings is a major matter, art. 278).
PLAN_RULES = ("civil-code-major", "double-two-thirds", "eighty-percent")
PLAN_DAYS = (7, 14)
ROUND_DAYS = (3, 7, 14)

_INCLUSION_MARKS = {
    Inclusion.REQUIRED: N_("required"),
    Inclusion.SELECTED: N_("selected"),
    Inclusion.NOT_ENOUGH_SUPPORT: N_("not enough support"),
}


# --- texts ---------------------------------------------------------------------------------------


def item_name(_: Translator, item: MenuItem) -> str:
    """Item names are catalogue data (Chinese); an English reader sees name_en when there is one."""
    return item.name_en if _.locale == "en" and item.name_en else item.name


def _yuan(fen: int) -> str:
    return money(fen)


def _share_words(_: Translator, item: MenuItem) -> str:
    if item.share_kind is ShareKind.PER_M2:
        return _("residents {amount} per m²").format(amount=_yuan(item.share_amount))
    return _("residents {amount} in all, split by floor area").format(amount=_yuan(item.share_amount))


def catalogue_text(_: Translator, catalogue: Catalogue, own: bool | None) -> str:
    lines = [_("📚 Catalogue: {name}").format(name=catalogue.name)]
    if own is True:
        lines.append(_("This is the community's own catalogue."))
    elif own is False:
        lines.append(_("This is the shipped default catalogue: its costs are illustrative only; replace them."))
    for item_class in ItemClass:
        items = [(i, item) for i, item in enumerate(catalogue.items, start=1) if item.item_class is item_class]
        if not items:
            continue
        lines.append("")
        lines.append(_(CLASS_TITLES[item_class]))
        for number, item in items:
            line = _("{n}. {name}: cost {cost}; {share}").format(
                n=number, name=item_name(_, item), cost=_yuan(item.cost), share=_share_words(_, item)
            )
            if item.required:
                line += " · " + _("required")
            lines.append(line)
    return "\n".join(lines)


def _catalogue_buttons(_: Translator) -> InlineKeyboardMarkup:
    def cb(action: str) -> str:
        return SurveyCb(action=action, survey_id=0).pack()

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(_("⬇ XLSX"), cb("cat_xlsx")), button(_("⬇ TOML"), cb("cat_toml"))],
            [button(_("✏ Edit an item"), cb("cat_edit")), button(_("⬆ Upload a catalogue"), cb("cat_upload"))],
        ]
    )


def catalogue_toml(catalogue: Catalogue) -> str:
    """The catalogue in the TOML format parse_catalogue_toml reads (money as text in yuan)."""

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string

    lines = [f"name = {q(catalogue.name)}"]
    for item in catalogue.items:
        lines += ["", "[[items]]", f"id = {q(item.id)}", f"class = {q(str(item.item_class))}", f"name = {q(item.name)}"]
        if item.name_en:
            lines.append(f"name_en = {q(item.name_en)}")
        if item.description:
            lines.append(f"description = {q(item.description)}")
        lines.append(f"cost = {q(format_money(item.cost))}")
        key = "share_per_m2" if item.share_kind is ShareKind.PER_M2 else "share_total"
        lines.append(f"{key} = {q(format_money(item.share_amount))}")
        lines.append(f"required = {'true' if item.required else 'false'}")
    return "\n".join(lines) + "\n"


SHEET_HEADER = ("id", "class", "name", "name_en", "description", "cost", "share_per_m2", "share_total", "required")


def catalogue_xlsx(catalogue: Catalogue) -> bytes:
    """The catalogue as a sheet parse_catalogue_sheet reads: one row per item, amounts as text."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "catalogue"
    sheet.append(list(SHEET_HEADER))
    for item in catalogue.items:
        per_m2 = item.share_kind is ShareKind.PER_M2
        sheet.append(
            [
                item.id,
                str(item.item_class),
                item.name,
                item.name_en,
                item.description,
                format_money(item.cost),
                format_money(item.share_amount) if per_m2 else "",
                "" if per_m2 else format_money(item.share_amount),
                "yes" if item.required else "no",
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def send_long(bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Send a text longer than one message (4096 characters) in pieces cut at line ends; the buttons
    go with the last piece."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        if current and len(current) + 1 + len(line) > MESSAGE_LIMIT:
            pieces.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:MESSAGE_LIMIT]
    pieces.append(current)
    for piece in pieces[:-1]:
        await bot.send_message(chat_id, piece)
    await bot.send_message(chat_id, pieces[-1], reply_markup=markup)


# --- the resident's card -------------------------------------------------------------------------


def _chosen(seen: surveys.ResidentSurvey) -> list[str]:
    """Where a resident starts: their ticks in progress, else their latest submitted selection."""
    if seen.progress is not None:
        return [str(i) for i in seen.progress.get("items", [])]
    if seen.latest is not None:
        return [str(i) for i in seen.latest.answers.get("items", [])]
    return []


def _share_lines(_: Translator, catalogue: Catalogue, ids: list[str], seen: surveys.ResidentSurvey) -> list[str]:
    estimate = estimate_share(catalogue, ids, seen.owner_area, seen.total_area)
    lines = [_("Your estimated share: {amount}").format(amount=money(estimate.total))]
    for item_id, fen in estimate.lines:
        lines.append(f"  · {item_name(_, catalogue.item(item_id))}: {_yuan(fen)}")
    return lines


PER_PAGE = 5  # items a screen: with ◀ ▶ and submit, at most 8 buttons for an elderly reader


def menu_pages(catalogue: Catalogue) -> list[tuple[ItemClass, list[tuple[int, MenuItem]]]]:
    """The resident's pages: one class (基础 / 完善 / 提升) a page, a long class over several, each
    item with its place in the catalogue (what a button carries)."""
    pages: list[tuple[ItemClass, list[tuple[int, MenuItem]]]] = []
    for item_class in ItemClass:
        places = [(i, item) for i, item in enumerate(catalogue.items) if item.item_class is item_class]
        pages += [(item_class, places[start : start + PER_PAGE]) for start in range(0, len(places), PER_PAGE)]
    return pages


def _home_cost(_: Translator, item: MenuItem, seen: surveys.ResidentSurvey) -> str:
    """What the item costs this home (its own area's share), or that residents pay nothing for it."""
    fen = item_share_estimate(item, seen.owner_area, seen.total_area)
    return _("{cost} for your home").format(cost=_yuan(fen)) if fen else _("no cost to residents")


def _page_of(pages: list[tuple[ItemClass, list[tuple[int, MenuItem]]]], page: int) -> int:
    return min(max(page, 0), max(len(pages) - 1, 0))


def menu_card(ctx: BotContext, _: Translator, seen: surveys.ResidentSurvey, ids: list[str], page: int = 0) -> str:
    """One page of the menu for this home: each item's cost to it, required ones shown as included,
    the running total, and a word that the costs are estimates when the catalogue is the example."""
    survey = seen.survey
    catalogue = survey.catalogue()
    pages = menu_pages(catalogue)
    page = _page_of(pages, page)
    homes = ", ".join(f"{unit} ({format_area(area)} m²)" for unit, area in seen.units)
    estimate = estimate_share(catalogue, ids, seen.owner_area, seen.total_area)
    lines = [
        _("🛒 {title}").format(title=survey.title),
        _("Your homes: {homes}; {area} m² in all.").format(homes=homes, area=format_area(seen.owner_area)),
        _("Open until {time} (Beijing time).").format(time=ctx.local(survey.closes_at)),
        "",
    ]
    if pages:
        item_class, places = pages[page]
        lines.append(
            _("Page {page} of {pages}: {title}").format(
                page=page + 1, pages=len(pages), title=_(CLASS_TITLES[item_class])
            )
        )
        chosen = set(ids)
        for _place, item in places:
            cost = _home_cost(_, item, seen)
            if item.required:
                lines.append(_("🔒 {name}: {cost} (required, included)").format(name=item_name(_, item), cost=cost))
            else:
                mark = "☑" if item.id in chosen else "⬜"
                lines.append(_("{mark} {name}: {cost}").format(mark=mark, name=item_name(_, item), cost=cost))
        lines.append("")
    lines.append(_("Tap an item to tick or untick it; 🔒 items are required and always in. Then ✔ Submit."))
    lines.append(_("Your estimated share in all: {amount}").format(amount=money(estimate.total)))
    if catalogue == default_catalogue():
        lines.append(
            _("These costs are estimates from the example catalogue; the community's plan sets the real ones.")
        )
    if seen.answered:
        lines.append(_("You have submitted a choice; submitting again replaces it."))
    return "\n".join(lines)


def menu_buttons(
    _: Translator, survey: surveys.Survey, ids: list[str], page: int = 0, seen: surveys.ResidentSurvey | None = None
) -> InlineKeyboardMarkup:
    """At most eight buttons: this page's items (with this home's cost), ◀ ▶ between pages, ✔ submit."""
    catalogue = survey.catalogue()
    pages = menu_pages(catalogue)
    page = _page_of(pages, page)
    chosen = set(ids)
    rows: list[list[InlineKeyboardButton]] = []
    for place, item in pages[page][1] if pages else []:
        mark = "🔒" if item.required else ("☑" if item.id in chosen else "⬜")
        fen = 0 if seen is None else item_share_estimate(item, seen.owner_area, seen.total_area)
        cost = "" if seen is None else " " + (_yuan(fen) if fen else _("no cost to residents"))
        data = MenuCb(action="toggle", survey_id=survey.id, item=place, page=page).pack()
        rows.append([button(f"{mark} {item_name(_, item)}{cost}", data)])
    nav = []
    if page > 0:
        nav.append(
            button(_("◀ Page {n}").format(n=page), MenuCb(action="page", survey_id=survey.id, page=page - 1).pack())
        )
    if page + 1 < len(pages):
        nav.append(
            button(_("Page {n} ▶").format(n=page + 2), MenuCb(action="page", survey_id=survey.id, page=page + 1).pack())
        )
    if nav:
        rows.append(nav)
    rows.append([button(_("✔ Submit my choice"), MenuCb(action="submit", survey_id=survey.id).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


# --- the worker's results ------------------------------------------------------------------------


def results_text(ctx: BotContext, _: Translator, outcome: surveys.MenuOutcome) -> str:
    survey, result, plan = outcome.survey, outcome.result, outcome.plan
    now = ctx.now()
    state = (
        _("open until {time}").format(time=ctx.local(survey.closes_at))
        if survey.is_open(now)
        else _("closed {time}").format(time=ctx.local(survey.ended_at))
    )
    total, resp = result.total, result.respondents
    lines = [
        _("🛒 Menu round “{title}” ({state})").format(title=survey.title, state=state),
        _("Responded: {heads} of {total_heads} owners, {area} of {total_area} m².").format(
            heads=resp.headcount,
            total_heads=total.headcount,
            area=format_area(resp.area),
            total_area=format_area(total.area),
        ),
        "",
        _("Support for each item (owners · area; of all owners / of respondents):"),
    ]
    for line in plan.lines:
        s = line.support
        lines.append(
            _("· {name} [{mark}]: {heads} owners · {area} m²; {ha} / {hr} by headcount, {aa} / {ar} by area").format(
                name=item_name(_, line.item),
                mark=_(_INCLUSION_MARKS[line.inclusion]),
                heads=s.support.headcount,
                area=format_area(s.support.area),
                ha=percent(s.headcount_of_total),
                hr=percent(s.headcount_of_respondents),
                aa=percent(s.area_of_total),
                ar=percent(s.area_of_respondents),
            )
        )
    lines += ["", _("Draft plan:")]
    if plan.items:
        lines += [f"  · {item_name(_, item)}" for item in plan.items]
    else:
        lines.append(_("  (no item)"))
    lines.append(
        _("Estimated total cost {cost}; residents' share {share} in all.").format(
            cost=_yuan(plan.total_cost), share=_yuan(plan.residents_total)
        )
    )
    return "\n".join(lines)


def results_buttons(
    ctx: BotContext, _: Translator, survey: surveys.Survey, project_id: int | None = None
) -> InlineKeyboardMarkup:
    """`project_id`: the round ran a project's menu stage, whose plan is voted from the project card
    (under the programme's rule, as the project's plan-approval stage)."""

    def cb(action: str) -> str:
        return SurveyCb(action=action, survey_id=survey.id).pack()

    rows = [[button(_("⬇ Plan CSV"), cb("m_csv")), button(_("⬇ Plan XLSX"), cb("m_xlsx"))]]
    if survey.is_closed(ctx.now()) and project_id is not None:
        rows.append([button(_("🏗 Open the project"), ProjectCb(action="card", project_id=project_id).pack())])
    elif survey.is_closed(ctx.now()):
        rows.append([button(_("🗳 Put the plan to a vote"), cb("m_vote"))])
    else:
        rows.append([button(_("⛔ Close now"), cb("m_close"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _menu_for_staff(ctx: BotContext, user: int, survey_id: int) -> surveys.Survey:
    """A worker's or auditor's menu round; SkipHandler for a questionnaire (its own router answers)."""
    survey = await surveys.staff_survey(ctx.uow(), user, survey_id, (Role.WORKER, Role.AUDITOR))
    if survey.kind is not SurveyKind.MENU:
        raise SkipHandler()
    return survey


# --- the router ----------------------------------------------------------------------------------


def build_menus_router() -> Router:
    router = Router(name="menus")

    # -- catalogue --

    async def _show_catalogue(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int) -> None:
        community_id, _name, _held = await residents.acting_community(ctx.uow(), user, (Role.WORKER, Role.AUDITOR))
        catalogue, own = await surveys.current_catalogue(ctx.uow(), user, community_id)
        await send_long(bot, chat_id, catalogue_text(_, catalogue, own), _catalogue_buttons(_))

    async def _current(ctx: BotContext, user: int) -> tuple[int, Catalogue]:
        community_id, _name, _held = await residents.acting_community(ctx.uow(), user, (Role.WORKER, Role.AUDITOR))
        catalogue, _own = await surveys.current_catalogue(ctx.uow(), user, community_id)
        return community_id, catalogue

    @router.message(Command("catalogue"))
    async def catalogue_command(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        await _show_catalogue(ctx, bot, _, user_of(message), message.chat.id)

    async def _save(
        ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, community_id: int, catalogue: Catalogue
    ) -> None:
        await surveys.save_catalogue(ctx.uow(), user, community_id, catalogue, ctx.now())
        await send_long(
            bot,
            chat_id,
            _("Saved as the community's catalogue. New menu rounds use it; running rounds keep theirs.")
            + "\n\n"
            + catalogue_text(_, catalogue, True),
            _catalogue_buttons(_),
        )

    def _item_at(catalogue: Catalogue, value: str) -> tuple[int, MenuItem]:
        index = int(value) if value.isdigit() else -1
        if not 0 <= index < len(catalogue.items):
            raise NotFoundError("catalogue item", value)
        return index, catalogue.items[index]

    @router.callback_query(
        SurveyCb.filter(
            F.action.in_({"catalogue", "cat_xlsx", "cat_toml", "cat_edit", "cat_item", "cat_field", "cat_upload"})
        )
    )
    async def catalogue_button(
        query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user, chat_id, action = user_of(query), chat_of(query), callback_data.action
        if action == "catalogue":
            await _show_catalogue(ctx, bot, _, user, chat_id)
            await query.answer()
            return
        community_id, catalogue = await _current(ctx, user)
        if action == "cat_xlsx":
            data = await asyncio.to_thread(catalogue_xlsx, catalogue)
            await query.answer()
            await bot.send_document(chat_id, BufferedInputFile(data, f"catalogue-{community_id}.xlsx"))
        elif action == "cat_toml":
            await query.answer()
            text = catalogue_toml(catalogue).encode("utf-8")
            await bot.send_document(chat_id, BufferedInputFile(text, f"catalogue-{community_id}.toml"))
        elif action == "cat_edit":
            await residents.require_role(ctx.uow(), user, community_id, Role.WORKER)
            await query.answer()
            picks = [
                button(str(i), SurveyCb(action="cat_item", survey_id=0, value=str(i - 1)).pack())
                for i in range(1, len(catalogue.items) + 1)
            ]
            await bot.send_message(
                chat_id, _("Which item? (the numbers of the list above)"), reply_markup=rows_of(picks, 6)
            )
        elif action == "cat_item":
            index, item = _item_at(catalogue, callback_data.value)
            await query.answer()

            def field(label: str, name: str) -> InlineKeyboardButton:
                # The item's id, not its place: a second tap, or an old message after the list changed,
                # acts on this item or on nothing ("~": item ids have no such character).
                return button(label, SurveyCb(action="cat_field", survey_id=0, value=f"{name}~{item.id}").pack())

            required = (
                field(_("🔓 Make it optional"), "req0") if item.required else field(_("🔒 Make it required"), "req1")
            )
            markup = rows_of(
                [
                    field(_("💰 Cost"), "cost"),
                    field(_("👪 Residents' share"), "share"),
                    required,
                    field(_("🗑 Remove"), "del"),
                ],
                2,
            )
            await bot.send_message(
                chat_id,
                _("{n}. {name}: cost {cost}; {share}").format(
                    n=index + 1, name=item_name(_, item), cost=_yuan(item.cost), share=_share_words(_, item)
                )
                + "\n"
                + _("What do you change?"),
                reply_markup=markup,
            )
        elif action == "cat_field":
            name, _tilde, item_id = callback_data.value.partition("~")
            item = catalogue.item(item_id)  # MenuError (told) once it was removed
            index = catalogue.items.index(item)
            await residents.require_role(ctx.uow(), user, community_id, Role.WORKER)
            await query.answer()
            if name in ("req0", "req1"):
                items = list(catalogue.items)
                items[index] = replace(item, required=name == "req1")
                await _save(ctx, bot, _, user, chat_id, community_id, replace(catalogue, items=tuple(items)))
            elif name == "del":
                items = [i for i in catalogue.items if i.id != item.id]
                await _save(ctx, bot, _, user, chat_id, community_id, replace(catalogue, items=tuple(items)))
            elif name in ("cost", "share"):
                await drafts.start_draft(
                    ctx.uow(), user, community_id, "catalogue-edit", {"item": item.id, "field": name}, ctx.now()
                )
                if name == "cost":
                    ask = _("New estimated cost of {name} in yuan, e.g. 120000 or 12.5:")
                elif item.share_kind is ShareKind.PER_M2:
                    ask = _("New residents' share of {name} in yuan per m², e.g. 10 or 12.5:")
                else:
                    ask = _("New residents' share of {name} in yuan in all (split by floor area), e.g. 120000:")
                await bot.send_message(chat_id, ask.format(name=item_name(_, item)) + " " + _("/cancel to stop."))
        elif action == "cat_upload":
            await residents.require_role(ctx.uow(), user, community_id, Role.WORKER)
            await drafts.start_draft(ctx.uow(), user, community_id, "catalogue-file", {}, ctx.now())
            await query.answer()
            await bot.send_message(
                chat_id,
                _(
                    "Send the catalogue as XLSX or CSV (one row per item: id, class, name, cost, share_per_m2 or "
                    "share_total, required — as in the ⬇ XLSX file), or as TOML. /cancel to stop."
                ),
            )

    async def _edit_value(
        ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, text: str
    ) -> None:
        try:
            fen = parse_money(text)
        except ValueError:
            await bot.send_message(
                chat_id, _("Write an amount in yuan with at most two decimals, e.g. 120000 or 12.5.")
            )
            return
        catalogue, _own = await surveys.current_catalogue(ctx.uow(), user, draft.community_id)
        try:
            item = catalogue.item(draft.data["item"])
            changed = replace(item, cost=fen) if draft.data["field"] == "cost" else replace(item, share_amount=fen)
        except ValueError:
            await bot.send_message(
                chat_id,
                _("That does not fit: the cost must be more than 0 and a split share not more than the cost."),
            )
            return
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        items = tuple(changed if i.id == item.id else i for i in catalogue.items)
        await _save(ctx, bot, _, user, chat_id, draft.community_id, replace(catalogue, items=items))

    @router.message(F.document)
    async def document(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        assert message.document is not None
        filename = message.document.file_name or ""
        name = filename.lower()
        if not name.endswith((".toml", *SHEET_FILES)) or (message.document.file_size or 0) > MAX_CATALOGUE_FILE:
            raise SkipHandler()
        user = user_of(message)
        open_draft = await drafts.open_draft(ctx.uow(), user)
        waiting = open_draft is not None and open_draft.kind == "catalogue-file"
        if name.endswith(SHEET_FILES) and not waiting:
            raise SkipHandler()  # a roster or a paper-ballot sheet
        try:
            community_id, _cname, _held = await residents.acting_community(ctx.uow(), user)
        except PermissionDeniedError:  # not a worker: not a catalogue of ours
            raise SkipHandler() from None
        buffer = io.BytesIO()
        await bot.download(message.document, destination=buffer)
        data = buffer.getvalue()
        try:
            if name.endswith(".toml"):
                try:
                    text = data.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise SkipHandler() from None
                if "[[items]]" not in text:
                    raise SkipHandler()  # a vote or rule definition
                catalogue = parse_catalogue_toml(text, source=filename)
            else:
                catalogue = parse_catalogue_sheet(data, filename)
        except CatalogueError as exc:
            await message.answer(describe_catalogue_problems(_, exc) + "\n" + _("Nothing was saved."))
            return
        except InputFileError as exc:
            await message.answer(describe_input_error(_, exc, limit=20) + "\n" + _("Nothing was saved."))
            return
        draft = await drafts.start_draft(
            ctx.uow(), user, community_id, "catalogue-review", {"file": filename}, ctx.now(), payload=data
        )
        markup = rows_of(
            [
                button(
                    _("✔ Save as the catalogue"), SurveyCb(action="cat_save", survey_id=0, value=str(draft.id)).pack()
                ),
                button(_("✖ Cancel"), SurveyCb(action="cat_drop", survey_id=0, value=str(draft.id)).pack()),
            ],
            2,
        )
        await send_long(
            bot,
            message.chat.id,
            _("Catalogue preview ({n} items). Nothing is saved until you tap ✔.").format(n=len(catalogue.items))
            + "\n\n"
            + catalogue_text(_, catalogue, None),
            markup,
        )

    @router.callback_query(SurveyCb.filter(F.action.in_({"cat_save", "cat_drop"})))
    async def review_button(
        query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user = user_of(query)
        try:
            draft = await drafts.load_draft(ctx.uow(), user, int(callback_data.value or 0))
        except NotFoundError:
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        await query.answer()
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())  # first: a second ✔ saves nothing
        if callback_data.action == "cat_drop":
            await edit(query, _("Cancelled. Nothing was saved."), None)
            return
        assert draft.payload is not None
        filename = draft.data["file"]
        if filename.lower().endswith(".toml"):
            catalogue = parse_catalogue_toml(draft.payload.decode("utf-8-sig"), source=filename)
        else:
            catalogue = parse_catalogue_sheet(draft.payload, filename)
        await edit(query, _("Saving the catalogue from {file}…").format(file=filename), None)
        await _save(ctx, bot, _, user, chat_of(query), draft.community_id, catalogue)

    # -- launching a round --

    async def _start_round(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int) -> None:
        community_id, name, _held = await residents.acting_community(ctx.uow(), user)
        catalogue, _own = await surveys.current_catalogue(ctx.uow(), user, community_id)
        draft = await drafts.start_draft(ctx.uow(), user, community_id, "menu-round", {"step": "title"}, ctx.now())
        use = SurveyCb(action="menu_title", survey_id=0, value=str(draft.id)).pack()
        await bot.send_message(
            chat_id,
            _(
                "New menu round in {name} with the catalogue “{catalogue}”. "
                "Type its title, or use the catalogue's name. /cancel to stop."
            ).format(name=name, catalogue=catalogue.name),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button(_("Use the catalogue's name"), use)]]),
        )

    async def _ask_rule(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, draft: Draft, title: str) -> None:
        """Which optional items go into the draft plan: the round's threshold (both dimensions)."""
        draft = await drafts.save_draft(ctx.uow(), replace(draft, data={"step": "rule", "title": title}), ctx.now())
        rows = [
            [button(_(rule.title)[:64], SurveyCb(action="menu_rule", survey_id=0, value=f"{draft.id}.{n}").pack())]
            for n, rule in enumerate(MENU_RULES.values())
        ]
        shown = title or _("(the catalogue's name)")
        lines = [_("Title: {title}. Which optional items go into the draft plan?").format(title=shown)]
        lines += [f"· {_(rule.title)}" for rule in MENU_RULES.values()]
        lines.append(_("Required items are always in. The plan is then put to the owners' formal vote."))
        await bot.send_message(chat_id, "\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    async def _ask_closing(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, draft: Draft, rule: int) -> None:
        data = {**draft.data, "step": "closes", "rule": rule}
        draft = await drafts.save_draft(ctx.uow(), replace(draft, data=data), ctx.now())
        options = [
            button(
                _("In {n} days, 20:00").format(n=days),
                SurveyCb(action="menu_days", survey_id=0, value=f"{draft.id}.{days}").pack(),
            )
            for days in ROUND_DAYS
        ]
        chosen = list(MENU_RULES.values())[rule]
        await bot.send_message(
            chat_id,
            _("Rule: {rule}. When does the round close?").format(rule=_(chosen.title)),
            reply_markup=rows_of(options, 3),
        )

    @router.message(Command("newmenu"))
    async def new_menu_command(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        await _start_round(ctx, bot, _, user_of(message), message.chat.id)

    @router.callback_query(SurveyCb.filter(F.action.in_({"new_menu", "menu_title", "menu_rule", "menu_days"})))
    async def round_button(
        query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user, chat_id = user_of(query), chat_of(query)
        if callback_data.action == "new_menu":
            await _start_round(ctx, bot, _, user, chat_id)
            await query.answer()
            return
        draft_id, _dot, days = callback_data.value.partition(".")
        try:
            draft = await drafts.load_draft(ctx.uow(), user, int(draft_id or 0))
        except NotFoundError:
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        if callback_data.action == "menu_title":
            await query.answer()
            await _ask_rule(ctx, bot, _, chat_id, draft, "")
            return
        if callback_data.action == "menu_rule":
            if draft.data.get("step") != "rule" or not days.isdigit() or int(days) >= len(MENU_RULES):
                await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
                return
            await query.answer()
            await _ask_closing(ctx, bot, _, chat_id, draft, int(days))
            return
        if draft.data.get("step") != "closes" or not days.isdigit():
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        await query.answer()
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        rule = list(MENU_RULES.values())[int(draft.data.get("rule", 0))]
        survey = await surveys.create_menu_round(
            ctx.uow(),
            user,
            draft.community_id,
            draft.data.get("title", ""),
            ctx.evening_in(int(days)),
            ctx.now(),
            rule=rule,
        )
        told = await announce_survey(ctx, bot, survey)
        await bot.send_message(
            chat_id,
            _("Menu round #{id} “{title}” is open until {time}; {n} residents were told.").format(
                id=survey.id, title=survey.title, time=ctx.local(survey.closes_at), n=told
            ),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[button(_("📊 Results"), SurveyCb(action="results", survey_id=survey.id).pack())]]
            ),
        )

    # -- typed text for our drafts --

    @router.message(F.text, ~F.text.startswith("/"))
    async def typed(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        text = (message.text or "").strip()
        if is_menu_label(text):
            raise SkipHandler()
        draft = await drafts.open_draft(ctx.uow(), user_of(message))
        if draft is None or draft.kind not in EDIT_KINDS:
            raise SkipHandler()
        if draft.kind == "catalogue-edit":
            await _edit_value(ctx, bot, _, message.chat.id, user_of(message), draft, text)
        elif draft.data.get("step") == "title":
            if not 2 <= len(text) <= 200:
                await message.answer(_("A title of 2 to 200 characters, please."))
                return
            await _ask_rule(ctx, bot, _, message.chat.id, draft, text)
        elif draft.data.get("step") == "rule":
            await message.answer(_("Tap one of the thresholds above, or /cancel."))
        else:
            await message.answer(_("Tap one of the closing times above, or /cancel."))

    # -- a resident ticking items --

    @router.callback_query(MenuCb.filter())
    async def menu_button(  # noqa: PLR0911 - one early return per action
        query: CallbackQuery, callback_data: MenuCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        if callback_data.action == "noop":
            await query.answer()
            return
        seen = await surveys.resident_survey(ctx.uow(), query.from_user.id, callback_data.survey_id)
        survey = seen.survey
        now = ctx.now()
        if survey.is_closed(now):
            closed = (
                _("🛒 {title}").format(title=survey.title)
                + "\n"
                + _("This menu round has closed; choices are no longer taken.")
            )
            if callback_data.action == "open":  # keep the announcement; say it in a new message
                await bot.send_message(chat_of(query), closed)
            else:  # the ticking card itself: no more buttons
                await edit(query, closed, None)
            await query.answer()
            return
        catalogue = survey.catalogue()
        ids = [i for i in _chosen(seen) if i in {item.id for item in catalogue.items}]
        if callback_data.action == "open":
            await query.answer()
            await bot.send_message(
                chat_of(query), menu_card(ctx, _, seen, ids), reply_markup=menu_buttons(_, survey, ids, 0, seen)
            )
            return
        if callback_data.action == "page":
            page = callback_data.page
            await edit(query, menu_card(ctx, _, seen, ids, page), menu_buttons(_, survey, ids, page, seen))
            await query.answer()
            return
        if callback_data.action == "toggle":
            if not 0 <= callback_data.item < len(catalogue.items):
                raise NotFoundError("menu item", callback_data.item)
            item = catalogue.items[callback_data.item]
            if item.required:
                await query.answer(_("This item is required: it is always in."), show_alert=True)
                return
            shown = ids  # what the tapped message showed: the first tap starts from it

            def toggle(stored: dict[str, Any] | None) -> dict[str, Any]:
                current = [str(i) for i in stored.get("items", [])] if stored is not None else shown
                picked = [i for i in current if i != item.id] if item.id in current else [*current, item.id]
                return {"items": [i.id for i in catalogue.items if i.id in set(picked)]}

            ids = (await surveys.update_progress(ctx.uow(), seen, toggle, now))["items"]
            seen = replace(seen, progress={"items": ids})
            page = callback_data.page
            await edit(query, menu_card(ctx, _, seen, ids, page), menu_buttons(_, survey, ids, page, seen))
            await query.answer()  # after the edit: the tap is done when its answer comes
            return
        if callback_data.action == "submit":
            stored = await surveys.submit_menu(ctx.uow(), seen, ids, now)
            chosen = [str(i) for i in stored.answers.get("items", [])]
            lines = [
                _("✅ Your choice for “{title}” is recorded:").format(title=survey.title),
                *(f"  ☑ {item_name(_, catalogue.item(i))}" for i in chosen),
                "",
                *_share_lines(_, catalogue, chosen, seen),
                "",
                _("You may change it until {time} (Beijing time): open the round again.").format(
                    time=ctx.local(survey.closes_at)
                ),
            ]
            again = MenuCb(action="open", survey_id=survey.id).pack()
            await edit(
                query,
                "\n".join(lines),
                InlineKeyboardMarkup(inline_keyboard=[[button(_("✏ Change my choice"), again)]]),
            )
            await query.answer()
            return
        await query.answer()

    # -- a worker's results --

    async def _results(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int, survey_id: int) -> None:
        outcome = await surveys.menu_outcome(ctx.uow(), user, survey_id)
        project = await renovation.project_of_survey(ctx.uow(), outcome.survey)
        markup = results_buttons(ctx, _, outcome.survey, None if project is None else project.id)
        await send_long(bot, chat_id, results_text(ctx, _, outcome), markup)

    @router.callback_query(
        SurveyCb.filter(F.action.in_({"results", "m_csv", "m_xlsx", "m_close", "m_close_ok", "m_vote"}))
    )
    async def results_button(
        query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user, chat_id, action = user_of(query), chat_of(query), callback_data.action
        survey = await _menu_for_staff(ctx, user, callback_data.survey_id)
        if action == "results":
            await _results(ctx, bot, _, user, chat_id, survey.id)
            await query.answer()
        elif action in ("m_csv", "m_xlsx"):
            outcome = await surveys.menu_outcome(ctx.uow(), user, survey.id)
            await query.answer()
            stamp = ctx.now().astimezone(ctx.tz).strftime("%Y%m%d-%H%M")
            if action == "m_csv":
                out = io.StringIO()
                csv.writer(out).writerows(plan_rows(outcome.plan, outcome.roster, _))
                data, ext = out.getvalue().encode("utf-8-sig"), "csv"
            else:
                data = await asyncio.to_thread(write_plan_xlsx, outcome.plan, outcome.roster, _)
                ext = "xlsx"
            await bot.send_document(
                chat_id,
                BufferedInputFile(data, f"plan-{survey.id}-{stamp}.{ext}"),
                caption=_("Draft plan of “{title}”: each home's share.").format(title=survey.title),
            )
        elif action == "m_close":
            await residents.require_role(ctx.uow(), user, survey.community_id, Role.WORKER)
            await query.answer()
            yes = SurveyCb(action="m_close_ok", survey_id=survey.id).pack()
            await bot.send_message(
                chat_id,
                _("Close “{title}” now? Residents can no longer change their choice.").format(title=survey.title),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button(_("⛔ Yes, close now"), yes)]]),
            )
        elif action == "m_close_ok":
            await surveys.close_survey(ctx.uow(), user, survey.id, ctx.now())
            await query.answer()
            await edit(query, _("“{title}” is closed.").format(title=survey.title), None)
            await _results(ctx, bot, _, user, chat_id, survey.id)
        elif action == "m_vote":
            await residents.require_role(ctx.uow(), user, survey.community_id, Role.WORKER)
            if await renovation.project_of_survey(ctx.uow(), survey) is not None:
                await query.answer(
                    _("This round is a stage of a project: put its plan to the vote from the project card."),
                    show_alert=True,
                )
                return
            if not survey.is_closed(ctx.now()):
                await query.answer(_("Close the menu round first."), show_alert=True)
                return
            draft = await drafts.start_draft(
                ctx.uow(), user, survey.community_id, "plan-vote", {"survey_id": survey.id}, ctx.now()
            )
            await query.answer()
            options = []
            for index, name in enumerate(PLAN_RULES):
                label = rule_title(_, preset(name))
                if index == 0:
                    label = _("{rule} (default for renovation works, art. 278)").format(rule=label)
                rule_cb = SurveyCb(action="m_rule", survey_id=survey.id, value=f"{draft.id}.{index}").pack()
                options.append(button(label, rule_cb))
            await bot.send_message(
                chat_id, _("Put the draft plan to a vote: which rule?"), reply_markup=rows_of(options, 1)
            )

    @router.callback_query(SurveyCb.filter(F.action.in_({"m_rule", "m_go"})))
    async def plan_vote_button(
        query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user, chat_id = user_of(query), chat_of(query)
        parts = callback_data.value.split(".")
        try:
            draft = await drafts.load_draft(ctx.uow(), user, int(parts[0]) if parts[0].isdigit() else 0)
            rule_name = PLAN_RULES[int(parts[1])]
        except (NotFoundError, IndexError, ValueError):
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        if draft.data.get("survey_id") != callback_data.survey_id:
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        if callback_data.action == "m_rule":
            await query.answer()
            options = [
                button(
                    _("In {n} days, 20:00").format(n=days),
                    SurveyCb(
                        action="m_go", survey_id=callback_data.survey_id, value=f"{draft.id}.{parts[1]}.{days}"
                    ).pack(),
                )
                for days in PLAN_DAYS
            ]
            await bot.send_message(
                chat_id,
                _("Rule: {rule}. When does the vote close?").format(rule=rule_title(_, preset(rule_name))),
                reply_markup=rows_of(options, 2),
            )
            return
        days = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else PLAN_DAYS[0]
        outcome = await surveys.menu_outcome(ctx.uow(), user, callback_data.survey_id)
        await residents.require_role(ctx.uow(), user, outcome.survey.community_id, Role.WORKER)
        vote = surveys.plan_vote(
            outcome,
            preset(rule_name),
            ctx.evening_in(days),
            ctx.now(),
            lifecycle.worker_actor(user),
            translator(ctx.default_locale),
        )
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())  # first: a second tap creates nothing
        await query.answer()
        vote_id = await services.create_vote(ctx.uow(), vote, ctx.now())
        await bot.send_message(
            chat_id,
            _(
                "Vote #{id} “{title}” is launched on the round's roster: it opens now and closes {time}; "
                "residents are told when it opens. 🛠 Manage votes shows it."
            ).format(id=vote_id, title=vote.title, time=ctx.local(vote.closes_at)),
        )
        ctx.poke()

    return router
