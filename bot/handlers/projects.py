"""A renovation project in the chat: create one for a programme preset, its card (every stage with
its result and what comes next), and the buttons that start each stage with the vote, questionnaire
or menu round that runs it — on the project's roster, under the stage's rule — post a public notice,
re-freeze the roster, or abandon the project.

The card is computed afresh on every view: a stage whose instrument has finished (a vote's final
tally, a closed questionnaire or menu round) is recorded then, so nothing waits on a scheduler.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import ProjectCb, SurveyCb, WorkCb
from bot.context import BotContext
from bot.handlers.staff import chat_of, user_of
from bot.handlers.surveys import announce_survey
from bot.i18n import Translator, translator
from bot.keyboards import button, is_menu_label, rows_of
from bot.render import money, percent, rule_title
from bot.texts import stage_params
from voting import drafts, lifecycle, renovation, residents, surveys
from voting.errors import N_
from voting.model import Scope
from voting.project import (
    PROJECT_PRESETS,
    STAGE_TITLES,
    Action,
    Instrument,
    Project,
    StageKind,
    StageStatus,
    project_preset,
    stage_rule,
)
from voting.residents import Role
from voting.rules import preset
from voting.votes import Vote

__all__ = ["build_projects_router", "project_card"]

PROJECT_DAYS = (7, 14)
_STATUS = {
    StageStatus.PENDING: N_("⬜ not started"),
    StageStatus.RUNNING: N_("⏳ running"),
    StageStatus.PASSED: N_("✅ passed"),
    StageStatus.FAILED: N_("❌ not passed"),
}
_INSTRUMENT = {
    Instrument.VOTE: N_("🗳 by vote"),
    Instrument.QUESTIONNAIRE: N_("📝 by questionnaire"),
    Instrument.MENU: N_("🛒 menu round"),
}


def _share(part: str | int, whole: str | int) -> str:
    """A stored count ("340.00" m² or 4 owners) of a stored whole, as a percentage."""
    return percent(Fraction(str(part)) / Fraction(str(whole))) if Fraction(str(whole)) else "0%"


def _outcome_line(_: Translator, summary: dict[str, Any]) -> str:
    """What a finished stage counted: agreeing or satisfied owners by area and by headcount, or the plan."""
    if summary.get("instrument") == "menu":
        return _("{n} items in the draft plan; estimated cost {cost}, residents' share {share}").format(
            n=len(summary.get("items", [])),
            cost=money(int(summary.get("total_cost_fen", 0))),
            share=money(int(summary.get("residents_total_fen", 0))),
        )
    agree = summary.get("agree")
    if not agree:
        return ""
    return _("agreeing: {area} of {total_area} m² ({area_pct}), {heads} of {total_heads} owners ({heads_pct})").format(
        area=agree["area_m2"],
        total_area=agree["total_area_m2"],
        area_pct=_share(agree["area_m2"], agree["total_area_m2"]),
        heads=agree["headcount"],
        total_heads=agree["total_headcount"],
        heads_pct=_share(agree["headcount"], agree["total_headcount"]),
    )


def _stage_title(_: Translator, kind: StageKind) -> str:
    return _(STAGE_TITLES[kind])


def project_card(ctx: BotContext, _: Translator, view: renovation.ProjectView) -> str:
    project = view.project
    spec = project_preset(project.preset)
    lines = [
        _("🏗 Project “{name}”").format(name=project.name),
        _("Programme: {preset}").format(preset=_(spec.title)),
        _("Roster: version {n} (frozen for every stage)").format(n=view.roster_number),
        "",
    ]
    for number, stage in enumerate(project.stages, start=1):
        rule = stage_rule(project, stage.kind)
        if rule is not None:
            ruled = _("rule: {rule}").format(rule=rule_title(_, rule))
        elif stage.kind is StageKind.MENU:
            ruled = _("no count required")
        else:
            ruled = _("the questionnaire's own satisfaction threshold")
        lines.append(f"{number}. {_stage_title(_, stage.kind)} — {_(_STATUS[stage.status])} ({ruled})")
        attempt = stage.current
        if attempt is not None:
            tries = _(" · attempt {n}").format(n=len(stage.attempts)) if len(stage.attempts) > 1 else ""
            lines.append(f"   {_(_INSTRUMENT[attempt.instrument])} #{attempt.ref_id}{tries}")
            outcome = _outcome_line(_, attempt.summary) if attempt.passed is not None else ""
            if outcome:
                lines.append(f"   {outcome}")
        if stage.notice_until is not None:
            lines.append("   " + _("public notice until {time}").format(time=ctx.local(stage.notice_until)))
    for move in project.refreezes:
        lines.append(_("Roster re-frozen: {reason}").format(reason=move.reason))
    step = view.next
    params = dict(step.params)
    if "until" in params:
        params["until"] = ctx.local(datetime.fromisoformat(str(params["until"])))
    lines += ["", _("Next: {what}").format(what=_(step.template).format(**stage_params(_, params)))]
    return "\n".join(lines)


def _card_buttons(_: Translator, view: renovation.ProjectView) -> InlineKeyboardMarkup:
    project, step = view.project, view.next
    pid = project.id
    rows: list[list[InlineKeyboardButton]] = []
    if step.action in (Action.START, Action.RETRY) and step.stage is not None:
        stage = step.stage
        if stage is StageKind.PLAN_APPROVAL:
            for days in PROJECT_DAYS:
                label = _("🗳 Put the draft plan to the vote ({n} days)").format(n=days)
                rows.append([button(label, ProjectCb(action="plan", project_id=pid, value=str(days)).pack())])
        else:
            ruled = stage_rule(project, stage) is not None
            for instrument in step.instruments:
                if instrument is Instrument.VOTE and not ruled:
                    continue  # the programme sets no count: the questionnaire's own measure decides
                for days in PROJECT_DAYS:
                    label = _("{how}, {n} days").format(how=_(_INSTRUMENT[instrument]), n=days)
                    value = f"{stage}.{instrument}.{days}"
                    rows.append([button(label, ProjectCb(action="start", project_id=pid, value=value).pack())])
    elif step.action is Action.POST_NOTICE and step.stage is not None:
        label = _("📢 The public notice is posted from today")
        rows.append([button(label, ProjectCb(action="notice", project_id=pid, value=str(step.stage)).pack())])
    elif step.action is Action.WAIT_RESULT and step.stage is not None:
        attempt = project.stage(step.stage).current
        if attempt is not None and attempt.instrument is Instrument.VOTE:
            rows.append([button(_("📊 Turnout"), WorkCb(action="turnout", vote_id=attempt.ref_id).pack())])
        elif attempt is not None:
            rows.append([button(_("📊 Results so far"), SurveyCb(action="results", survey_id=attempt.ref_id).pack())])
    if step.action not in (Action.DONE, Action.ENDED):
        rows.append(
            [
                button(_("🔄 Refresh"), ProjectCb(action="card", project_id=pid).pack()),
                button(_("🔁 Re-freeze roster"), ProjectCb(action="refreeze", project_id=pid).pack()),
                button(_("✖ Abandon"), ProjectCb(action="abandon", project_id=pid).pack()),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _show(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, project_id: int) -> None:
    view = await renovation.project_view(ctx.uow(), user, project_id, ctx.now())
    await bot.send_message(chat_id, project_card(ctx, _, view), reply_markup=_card_buttons(_, view))


def _stage_vote(ctx: BotContext, project: Project, stage: StageKind, days: int, created_by: str) -> Vote:
    """The motion of a stage run by vote, in the community's language (the default locale)."""
    zh = translator(ctx.default_locale)
    if stage is StageKind.ACCEPTANCE:
        title = zh(N_("{project}: acceptance of the renovation works")).format(project=project.name)
        text = zh(N_("Are you satisfied with the renovation works of “{project}” and do you accept them?")).format(
            project=project.name
        )
    else:
        title = zh(N_("{project}: willingness to renovate")).format(project=project.name)
        text = zh(
            N_("Do you agree that our community is renovated under the old-community programme (“{project}”)?")
        ).format(project=project.name)
    now = ctx.now()
    # The stage's rule replaces this placeholder (renovation.start_vote_stage).
    return Vote(
        project.community_id,
        title[:200],
        text,
        preset("double-two-thirds"),
        Scope(),
        now,
        ctx.evening_in(days),
        created_by=created_by,
    )


async def _start(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, pid: int, value: str) -> None:
    stage_text, instrument_text, days_text = value.split(".")
    stage, instrument, days = StageKind(stage_text), Instrument(instrument_text), int(days_text)
    actor = lifecycle.worker_actor(user)
    view = await renovation.project_view(ctx.uow(), user, pid, ctx.now())
    project = view.project
    closes = ctx.evening_in(days)
    if instrument is Instrument.VOTE:
        vote = _stage_vote(ctx, project, stage, days, actor)
        _p, vote_id = await renovation.start_vote_stage(ctx.uow(), user, pid, stage, vote, ctx.now())
        ctx.poke()
        await bot.send_message(
            chat_id,
            _("Vote #{id} for the {stage} stage is launched; the owners are told when it opens.").format(
                id=vote_id, stage=_stage_title(_, stage)
            ),
        )
    else:
        if instrument is Instrument.MENU:
            catalogue, _own = await surveys.current_catalogue(ctx.uow(), user, project.community_id)
            title = translator(ctx.default_locale)(N_("{project}: renovation menu")).format(project=project.name)
            survey = surveys.menu_survey(project.community_id, title, catalogue, closes, actor)
        else:
            questionnaire = renovation.stage_questionnaire(stage)
            survey = surveys.questionnaire_survey(project.community_id, questionnaire, closes, actor)
        _p, started = await renovation.start_survey_stage(ctx.uow(), user, pid, stage, survey, ctx.now())
        told = await announce_survey(ctx, bot, started)
        await bot.send_message(
            chat_id,
            _("“{title}” (#{id}) for the {stage} stage is open until {time}; {n} residents were told.").format(
                title=started.title, id=started.id, stage=_stage_title(_, stage), time=ctx.local(closes), n=told
            ),
        )
    await _show(ctx, bot, _, chat_id, user, pid)


async def _preview_stage(
    ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, pid: int, action: str, value: str
) -> None:
    """Before a stage messages every owner: the stage, how and until when, and what the owners will read."""
    view = await renovation.project_view(ctx.uow(), user, pid, ctx.now())
    project = view.project
    if action == "plan":
        days, what = int(value), _("the draft plan from the menu round, put to the owners' vote")
        stage, how = StageKind.PLAN_APPROVAL, _(_INSTRUMENT[Instrument.VOTE])
    else:
        stage_text, instrument_text, days_text = value.split(".")
        stage, instrument, days = StageKind(stage_text), Instrument(instrument_text), int(days_text)
        how = _(_INSTRUMENT[instrument])
        if instrument is Instrument.VOTE:
            vote = _stage_vote(ctx, project, stage, days, "")
            what = f"{vote.title}\n{vote.text}"
        elif instrument is Instrument.MENU:
            what = translator(ctx.default_locale)(N_("{project}: renovation menu")).format(project=project.name)
        else:
            what = renovation.stage_questionnaire(stage).title
    text = "\n".join(
        [
            _("Start the {stage} stage of “{project}” ({how}), open until {time}?").format(
                stage=_stage_title(_, stage), project=project.name, how=how, time=ctx.local(ctx.evening_in(days))
            ),
            _("Every owner in the project's roster who uses the chat will be told at once. They will read:"),
            "",
            what,
        ]
    )
    ok = ProjectCb(action=f"{action}_ok", project_id=pid, value=value).pack()
    await bot.send_message(chat_id, text, reply_markup=rows_of([button(_("✔ Yes, start and tell the owners"), ok)], 1))


def build_projects_router() -> Router:
    router = Router(name="projects")

    @router.callback_query(ProjectCb.filter())
    async def project_button(
        query: CallbackQuery, callback_data: ProjectCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        await query.answer()
        user, chat_id, pid, action = user_of(query), chat_of(query), callback_data.project_id, callback_data.action
        if action == "new":
            community_id, name, _held = await residents.acting_community(ctx.uow(), user)
            await drafts.start_draft(ctx.uow(), user, community_id, "project-new", {}, ctx.now())
            await bot.send_message(
                chat_id,
                _("New renovation project for {community}. Name it, e.g. 幸福里 2027 年改造. /cancel to stop.").format(
                    community=name
                ),
            )
        elif action == "preset":
            draft = await drafts.load_draft(ctx.uow(), user, int(callback_data.value.split(".")[0]))
            chosen = callback_data.value.split(".", 1)[1]
            await drafts.finish_draft(ctx.uow(), draft, ctx.now())
            project = await renovation.create_project(
                ctx.uow(), user, draft.community_id, str(draft.data["name"]), chosen, ctx.now()
            )
            await _show(ctx, bot, _, chat_id, user, project.id)
        elif action == "card":
            await _show(ctx, bot, _, chat_id, user, pid)
        elif action in ("start", "plan"):  # first what the owners will be told, and a button to go ahead
            await _preview_stage(ctx, bot, _, chat_id, user, pid, action, callback_data.value)
        elif action == "start_ok":
            await _start(ctx, bot, _, chat_id, user, pid, callback_data.value)
        elif action == "plan_ok":
            closes = ctx.evening_in(int(callback_data.value))
            zh = translator(ctx.default_locale)
            _p, vote_id = await renovation.plan_to_vote(ctx.uow(), user, pid, closes, ctx.now(), zh)
            ctx.poke()
            await bot.send_message(
                chat_id, _("The draft plan is put to vote #{id}; the owners are told when it opens.").format(id=vote_id)
            )
            await _show(ctx, bot, _, chat_id, user, pid)
        elif action == "notice":
            await renovation.notice_project(ctx.uow(), user, pid, StageKind(callback_data.value), ctx.now(), ctx.tz)
            await _show(ctx, bot, _, chat_id, user, pid)
        elif action in ("refreeze", "abandon"):
            view = await renovation.project_view(ctx.uow(), user, pid, ctx.now())
            await residents.require_role(ctx.uow(), user, view.project.community_id, Role.WORKER)
            await drafts.start_draft(
                ctx.uow(), user, view.project.community_id, f"project-{action}", {"project_id": pid}, ctx.now()
            )
            ask = (
                _(
                    "Why is the project moved to the latest roster (a sale, a corrected area)? "
                    "Write the reason. /cancel to stop."
                )
                if action == "refreeze"
                else _("Why is the project abandoned? Write the reason; it stays on the record. /cancel to stop.")
            )
            await bot.send_message(chat_id, ask)

    @router.message(F.text, ~F.text.startswith("/"))
    async def typed(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        text = (message.text or "").strip()
        if is_menu_label(text):
            raise SkipHandler()
        user = user_of(message)
        draft = await drafts.open_draft(ctx.uow(), user)
        if draft is None or not draft.kind.startswith("project-"):
            raise SkipHandler()
        if draft.kind == "project-new":
            draft = await drafts.save_draft(ctx.uow(), replace(draft, data={"name": text[:200]}), ctx.now())
            rows = [
                [
                    button(
                        _(spec.title)[:64], ProjectCb(action="preset", project_id=0, value=f"{draft.id}.{name}").pack()
                    )
                ]
                for name, spec in PROJECT_PRESETS.items()
            ]
            lines = [_("Which programme's rules does “{name}” follow?").format(name=text[:200])]
            lines += [f"· {_(spec.title)}" for spec in PROJECT_PRESETS.values()]
            await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
            return
        pid = int(draft.data["project_id"])
        await drafts.finish_draft(ctx.uow(), draft, ctx.now())
        if draft.kind == "project-refreeze":
            await renovation.refreeze_project(ctx.uow(), user, pid, text, ctx.now())
        else:
            await renovation.abandon_project(ctx.uow(), user, pid, text, ctx.now())
        await _show(ctx, bot, _, message.chat.id, user, pid)

    return router
