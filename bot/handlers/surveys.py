"""Where questionnaires, menu rounds and projects start: a resident's list of what is open for their
home, and a worker's list of the community's surveys and projects with the buttons to begin new ones.

What each button does lives with its feature: questionnaires (QuestionCb, and SurveyCb for workers),
the renovation menu (MenuCb, SurveyCb), projects (ProjectCb).
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import MenuCb, ProjectCb, QuestionCb, SurveyCb
from bot.context import BotContext
from bot.handlers.staff import user_of
from bot.i18n import LOCALES, Translator, translator
from bot.keyboards import MenuButton, button
from bot.outbox import Notice, deliver
from voting import renovation, residents, surveys
from voting.residents import Role
from voting.surveys import SurveyKind

__all__ = ["announce_survey", "build_surveys_router", "resident_survey_buttons", "staff_survey_list"]


def _announcement(ctx: BotContext, _: Translator, survey: surveys.Survey, *, group: bool) -> str:
    if survey.kind is SurveyKind.QUESTIONNAIRE:
        head = _("📝 New questionnaire: {title}").format(title=survey.title)
        how = (
            _("Owners answer in a private chat with this bot: 📝 Questionnaires & menu.")
            if group
            else _("Tap below to answer, step by step; you can stop and come back later.")
        )
    else:
        head = _("🛒 Renovation menu: {title}").format(title=survey.title)
        how = (
            _("Owners tick the items they want in a private chat with this bot: 📝 Questionnaires & menu.")
            if group
            else _("Tap below to tick the items you want; you see your estimated share as you go.")
        )
    until = _("Open until {time} (Beijing time).").format(time=ctx.local(survey.closes_at))
    return "\n".join((head, until, how))


async def announce_survey(ctx: BotContext, bot: Bot, survey: surveys.Survey) -> int:
    """Tell the bound owners in the survey's roster (in their language) and the owners' group that a
    questionnaire or menu round has opened; the number of residents told."""
    people = await surveys.survey_recipients(ctx.uow(), survey.id)
    notices = []
    for person in people:
        locale = person.language if person.language in LOCALES else ctx.default_locale
        _ = translator(locale)
        if survey.kind is SurveyKind.QUESTIONNAIRE:
            data, label = QuestionCb(action="open", survey_id=survey.id).pack(), _("📝 Answer")
        else:
            data, label = MenuCb(action="open", survey_id=survey.id).pack(), _("🛒 Choose items")
        markup = InlineKeyboardMarkup(inline_keyboard=[[button(label, data)]])
        notices.append(Notice(person.telegram_id, _announcement(ctx, _, survey, group=False), markup))
    async with ctx.uow() as uow:
        group = await uow.communities.group_chat(survey.community_id)
    if group is not None:
        notices.append(Notice(group, _announcement(ctx, translator(ctx.default_locale), survey, group=True)))
    await deliver(bot, notices)
    return len(people)


def resident_survey_buttons(_: Translator, seen: list[surveys.ResidentSurvey]) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for item in seen:
        survey = item.survey
        if survey.kind is SurveyKind.QUESTIONNAIRE:
            mark = _("✅ answered") if item.answered else (_("⏸ in progress") if item.progress else _("new"))
            text = _("📝 {title} ({mark})").format(title=survey.title, mark=mark)
            data = QuestionCb(action="open", survey_id=survey.id).pack()
        else:
            mark = _("✅ chosen") if item.answered else _("new")
            text = _("🛒 {title} ({mark})").format(title=survey.title, mark=mark)
            data = MenuCb(action="open", survey_id=survey.id).pack()
        rows.append([button(text[:64], data)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def staff_survey_list(ctx: BotContext, _: Translator, telegram_id: int) -> tuple[str, InlineKeyboardMarkup]:
    """The acting community's surveys (newest first) and projects, and buttons to start new ones."""
    community_id, name, _held = await residents.acting_community(ctx.uow(), telegram_id, (Role.WORKER, Role.AUDITOR))
    listed = await surveys.community_surveys(ctx.uow(), telegram_id, community_id)
    projects = await renovation.community_projects(ctx.uow(), telegram_id, community_id)
    now = ctx.now()
    lines = [_("Questionnaires, menu rounds and projects of {community}:").format(community=name)]
    rows: list[list[InlineKeyboardButton]] = []
    for project_id, project_name in projects[:10]:
        rows.append(
            [
                button(
                    _("🏗 {name}").format(name=project_name)[:64], ProjectCb(action="card", project_id=project_id).pack()
                )
            ]
        )
    for survey, answered in listed[:15]:
        icon = "📝" if survey.kind is SurveyKind.QUESTIONNAIRE else "🛒"
        state = _("open until {time}").format(time=ctx.local(survey.closes_at)) if survey.is_open(now) else _("closed")
        label = _("{icon} {title} · {n} answered · {state}").format(
            icon=icon, title=survey.title, n=answered, state=state
        )
        rows.append([button(label[:64], SurveyCb(action="results", survey_id=survey.id).pack())])
    if not projects and not listed:
        lines.append(_("Nothing yet."))
    rows.append(
        [
            button(_("➕ Questionnaire"), SurveyCb(action="new_questionnaire", survey_id=0).pack()),
            button(_("➕ Menu round"), SurveyCb(action="new_menu", survey_id=0).pack()),
        ]
    )
    rows.append(
        [
            button(_("📚 Menu catalogue"), SurveyCb(action="catalogue", survey_id=0).pack()),
            button(_("➕ Project"), ProjectCb(action="new", project_id=0).pack()),
        ]
    )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def build_surveys_router() -> Router:
    router = Router(name="surveys")

    @router.message(Command("surveys"))
    @router.message(MenuButton("surveys"))
    async def resident_list(message: Message, ctx: BotContext, _: Translator) -> None:
        seen = await surveys.resident_surveys(ctx.uow(), user_of(message), ctx.now())
        if not seen:
            await message.answer(_("No questionnaire or menu round is open for your home right now."))
            return
        await message.answer(
            _("Open for your home — tap one to answer:"), reply_markup=resident_survey_buttons(_, seen)
        )

    @router.message(Command("projects"))
    @router.message(MenuButton("staff_surveys"))
    async def staff_list(message: Message, ctx: BotContext, _: Translator) -> None:
        text, markup = await staff_survey_list(ctx, _, user_of(message))
        await message.answer(text, reply_markup=markup)

    return router
