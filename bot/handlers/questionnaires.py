"""Questionnaires in the chat: a resident answers one question per message (edited in place), can go
back, leave and resume (progress kept in the database), reviews and submits; a worker launches one from
a TOML or XLSX file or a small chat wizard; workers and auditors read the results and export them.

Progress is stored per account as {"answers": {...}, "at": question id or None (the review),
"review": the resident came from the review (after an answer, go back there), "picks": ticks of a
multiple-choice question not yet done, "t": when it was last saved}. Typed text is taken as an answer
only when the account's latest progress stands at a number or text question.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.callbacks import DraftCb, QuestionCb, SurveyCb
from bot.context import BotContext
from bot.handlers.resident import CODE_PATTERN
from bot.handlers.staff import chat_of, user_of
from bot.handlers.surveys import announce_survey
from bot.handlers.votes import edit
from bot.i18n import Translator
from bot.keyboards import button, is_menu_label, rows_of
from bot.render import percent
from bot.texts import describe_definition_problems, describe_error
from voting import drafts, residents, surveys
from voting.drafts import Draft
from voting.errors import N_, AlreadyAnsweredError, AnswerError, PermissionDeniedError, QuestionnaireError, VotingError
from voting.model import Weight, format_area
from voting.questionnaire import (
    MAX_OPTIONS,
    YES,
    Answer,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireResult,
    Share,
    next_question,
    parse_questionnaire_toml,
    position,
    previous_question,
    questionnaire_from_dict,
    read_questionnaire_xlsx,
    record_answer,
    results_rows,
    resume_at,
    split_options,
    visible_questions,
    write_results_xlsx,
)
from voting.residents import Role
from voting.surveys import ResidentSurvey, Survey, SurveyKind

__all__ = ["EXAMPLE_FILE", "build_questionnaires_router", "questionnaire_chart_png", "results_text"]

EXAMPLE_FILE = Path(__file__).resolve().parents[1] / "examples" / "questionnaire.toml"
FILE_DRAFT, PREVIEW_DRAFT, WIZARD_DRAFT = "questionnaire-file", "questionnaire", "questionnaire-wizard"
MY_DRAFTS = (FILE_DRAFT, PREVIEW_DRAFT, WIZARD_DRAFT)
MAX_FILE = 2 * 1024 * 1024
CLOSE_DAYS = (3, 7, 14)
TYPED_KINDS = (QuestionKind.NUMBER, QuestionKind.TEXT)
WIZARD_KINDS = (
    (QuestionKind.SINGLE, N_("Single choice")),
    (QuestionKind.MULTIPLE, N_("Multiple choice")),
    (QuestionKind.YES_NO, N_("Yes / no")),
    (QuestionKind.RATING, N_("Rating 1-5")),
    (QuestionKind.NUMBER, N_("Number")),
    (QuestionKind.TEXT, N_("Free text")),
)
MAX_MESSAGE = 4000


# --------------------------------------------------------------------------------------- answering


def _answer_text(_: Translator, question: Question, value: Answer) -> str:
    if value is None:
        return _("(skipped)")
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return "、".join(value)
    if isinstance(value, int):
        return f"{'★' * value} ({value}/5)"
    return str(value)


def _progress(seen: ResidentSurvey) -> dict[str, Any]:
    stored = seen.progress or {}
    answers = stored.get("answers")
    return {
        "answers": dict(answers) if isinstance(answers, dict) else {},
        "at": stored.get("at"),
        "review": bool(stored.get("review", False)),
        "picks": list(stored.get("picks", [])),
    }


async def _save(ctx: BotContext, seen: ResidentSurvey, progress: dict[str, Any]) -> None:
    await surveys.save_progress(ctx.uow(), seen, {**progress, "t": ctx.now().isoformat()}, ctx.now())


def _place(questionnaire: Questionnaire, question: Question) -> int:
    return questionnaire.questions.index(question)


def _intro_view(
    ctx: BotContext, _: Translator, survey: Survey, questionnaire: Questionnaire
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [f"📝 {questionnaire.title}"]
    if questionnaire.intro:
        lines.append(questionnaire.intro)
    lines.append(
        _("{n} questions at most; some appear only after certain answers.").format(n=len(questionnaire.questions))
    )
    if questionnaire.anonymous:
        lines.append(_("Anonymous: your answers are not linked to you, and cannot be changed after submitting."))
    else:
        lines.append(_("You can change your answers until the questionnaire closes."))
    lines.append(_("Open until {time} (Beijing time).").format(time=ctx.local(survey.closes_at)))
    start = button(_("▶ Start"), QuestionCb(action="start", survey_id=survey.id).pack())
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[[start]])


def _question_view(
    _: Translator, survey: Survey, questionnaire: Questionnaire, progress: dict[str, Any], question: Question
) -> tuple[str, InlineKeyboardMarkup]:
    answers = progress["answers"]
    n, total = position(questionnaire, answers, question.id)
    place = _place(questionnaire, question)

    def cb(action: str, value: str = "") -> str:
        return QuestionCb(action=action, survey_id=survey.id, question=place, value=value).pack()

    lines = [f"📝 {questionnaire.title}", f"{n} / {total}", "", question.text]
    rows: list[list[InlineKeyboardButton]] = []
    current = answers.get(question.id)
    kind = question.kind
    if kind is QuestionKind.SINGLE:
        rows += [
            [button(("● " if o == current else "") + o[:60], cb("answer", str(i)))]
            for i, o in enumerate(question.options)
        ]
    elif kind is QuestionKind.YES_NO:
        rows.append(
            [
                button(("● " if current is True else "") + _("Yes"), cb("answer", "0")),
                button(("● " if current is False else "") + _("No"), cb("answer", "1")),
            ]
        )
    elif kind is QuestionKind.RATING:
        lines.append(_("1 = very unsatisfied … 5 = very satisfied"))
        rows.append([button(("● " if current == i + 1 else "") + str(i + 1), cb("answer", str(i))) for i in range(5)])
    elif kind is QuestionKind.MULTIPLE:
        low, high = question.min_picks or 1, question.max_picks or len(question.options)
        if low == high:
            lines.append(_("Pick {n}, then tap “Done”.").format(n=low))
        else:
            lines.append(_("Pick {low} to {high}, then tap “Done”.").format(low=low, high=high))
        picks = progress["picks"]
        rows += [
            [button(("✅ " if o in picks else "▫ ") + o[:60], cb("toggle", str(i)))]
            for i, o in enumerate(question.options)
        ]
        rows.append([button(_("Done"), cb("done"))])
    elif kind is QuestionKind.NUMBER:
        lines.append(_("Type the number as a message."))
    else:
        lines.append(_("Type your answer as a message (at most {n} characters).").format(n=question.max_length))
    if question.id in answers and kind in TYPED_KINDS:
        lines.append(_("Your answer so far: {answer}").format(answer=_answer_text(_, question, current)))
    last: list[InlineKeyboardButton] = []
    if previous_question(questionnaire, answers, question.id) is not None:
        last.append(button(_("◀ Back"), cb("back")))
    if not question.required:
        last.append(button(_("Skip"), cb("skip")))
    if last:
        rows.append(last)
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _review_view(
    _: Translator, survey: Survey, questionnaire: Questionnaire, answers: dict[str, Any]
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [f"📝 {questionnaire.title}", _("Check your answers:"), ""]
    changes: list[InlineKeyboardButton] = []
    for n, question in enumerate(visible_questions(questionnaire, answers), start=1):
        shown = _answer_text(_, question, answers[question.id]) if question.id in answers else "—"
        lines.append(f"{n}. {question.text}")
        lines.append(f"   → {shown}")
        place = _place(questionnaire, question)
        changes.append(
            button(
                _("✏ Change {n}").format(n=n),
                QuestionCb(action="change", survey_id=survey.id, question=place).pack(),
            )
        )
    text = "\n".join(lines)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "…"
    rows = [[button(_("✔ Submit"), QuestionCb(action="submit", survey_id=survey.id).pack())]]
    rows += [changes[i : i + 4] for i in range(0, len(changes), 4)]
    rows.append([button(_("◀ Back"), QuestionCb(action="back", survey_id=survey.id).pack())])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _current_view(
    _: Translator, survey: Survey, questionnaire: Questionnaire, progress: dict[str, Any]
) -> tuple[str, InlineKeyboardMarkup]:
    """Where the progress stands: its question if still shown, else where a resumer comes back."""
    answers = progress["answers"]
    at = progress.get("at")
    shown = {q.id for q in visible_questions(questionnaire, answers)}
    if at is not None and at in shown:
        return _question_view(_, survey, questionnaire, progress, questionnaire.question(at))
    if at is None and answers:
        return _review_view(_, survey, questionnaire, answers)
    question = resume_at(questionnaire, answers)
    if question is None:
        progress["at"] = None
        return _review_view(_, survey, questionnaire, answers)
    progress["at"] = question.id
    return _question_view(_, survey, questionnaire, progress, question)


def _after_answer(
    questionnaire: Questionnaire, progress: dict[str, Any], answers: dict[str, Any], current: str
) -> None:
    """Move on: the next shown question, or (coming from the review) the first unseen one or the review."""
    nxt = resume_at(questionnaire, answers) if progress["review"] else next_question(questionnaire, answers, current)
    progress.update(answers=answers, at=None if nxt is None else nxt.id, picks=[])
    if nxt is not None and nxt.kind is QuestionKind.MULTIPLE:
        previous = answers.get(nxt.id)
        progress["picks"] = list(previous) if isinstance(previous, list) else []


def _raw_answer(question: Question, value: str) -> str | bool | None:
    """What a tapped option index means for the question (AnswerError for a forged index)."""
    try:
        index = int(value)
    except ValueError:
        index = -1
    if question.kind is QuestionKind.YES_NO and index in (0, 1):
        return index == 0
    if question.kind is QuestionKind.RATING and 0 <= index < 5:
        return str(index + 1)
    if question.kind is QuestionKind.SINGLE and 0 <= index < len(question.options):
        return question.options[index]
    raise AnswerError(N_("please answer with one of the buttons"), question=question.id)


def _submitted_text(ctx: BotContext, _: Translator, survey: Survey) -> str:
    if survey.anonymous:
        return _("Thank you. Your answers to “{title}” were recorded anonymously; they cannot be changed.").format(
            title=survey.title
        )
    return _("Thank you. Your answers to “{title}” were recorded; you can change your answers until {time}.").format(
        title=survey.title, time=ctx.local(survey.closes_at)
    )


def _closed_text(_: Translator, survey: Survey) -> str:
    return _("“{title}” has closed; answers are no longer taken.").format(title=survey.title)


async def _step(
    ctx: BotContext, _: Translator, seen: ResidentSurvey, data: QuestionCb
) -> tuple[str, InlineKeyboardMarkup | None, str]:
    """What a resident's button does: the message's new text and buttons, and a short notice for the press."""
    survey = seen.survey
    questionnaire = survey.questionnaire()
    progress = _progress(seen)
    answers: dict[str, Any] = progress["answers"]
    action, notice = data.action, ""
    if action == "open":
        if seen.progress is None:
            if survey.anonymous and seen.answered:
                raise AlreadyAnsweredError(seen.owner_key)
            if seen.latest is None:
                text, markup = _intro_view(ctx, _, survey, questionnaire)
                return text, markup, ""
            progress.update(answers=dict(seen.latest.answers), at=None, review=True)  # change a named response
        view = _current_view(_, survey, questionnaire, progress)
        await _save(ctx, seen, progress)
        return view[0], view[1], ""
    if action == "submit":
        if seen.progress is None:  # already submitted (a double tap, an old review): never submit nothing
            if seen.answered:
                return _submitted_text(ctx, _, survey), None, ""
            text, markup = _intro_view(ctx, _, survey, questionnaire)
            return text, markup, ""
        await surveys.submit_questionnaire(ctx.uow(), seen, answers, ctx.now(), random_id=lambda: secrets.token_hex(16))
        return _submitted_text(ctx, _, survey), None, ""
    if action == "start":
        first = next_question(questionnaire, answers, None)
        progress.update(at=None if first is None else first.id, review=False, picks=[])
    elif action == "back":
        at = progress["at"]
        prev = previous_question(questionnaire, answers, at)
        if prev is not None:
            progress.update(at=prev.id, review=False)
            previous = answers.get(prev.id)
            progress["picks"] = list(previous) if isinstance(previous, list) else []
    elif action == "change":
        question = _question_at(questionnaire, data.question)
        if question is not None and question.id in {q.id for q in visible_questions(questionnaire, answers)}:
            previous = answers.get(question.id)
            progress.update(at=question.id, review=True, picks=list(previous) if isinstance(previous, list) else [])
    elif action in ("answer", "skip", "done", "toggle"):
        question = _question_at(questionnaire, data.question)
        if question is None or question.id != progress["at"]:
            notice = _("That button is from an earlier step; here is where you are.")
        elif action == "toggle":
            option = _option_at(question, data.value)
            picks = progress["picks"]
            progress["picks"] = [o for o in question.options if (o in picks) != (o == option)]
        else:
            raw: str | bool | list[str] | None
            raw = (
                None
                if action == "skip"
                else progress["picks"]
                if action == "done"
                else _raw_answer(question, data.value)
            )
            try:
                new = record_answer(questionnaire, answers, question.id, raw)
            except AnswerError as exc:
                notice = describe_error(ctx, _, exc)
            else:
                _after_answer(questionnaire, progress, new, question.id)
    view = _current_view(_, survey, questionnaire, progress)
    await _save(ctx, seen, progress)
    return view[0], view[1], notice


def _option_at(question: Question, value: str) -> str:
    """The option a toggle button names by its index (AnswerError for a forged one)."""
    if value.isdigit() and int(value) < len(question.options):
        return question.options[int(value)]
    raise AnswerError(N_("please answer with one of the buttons"), question=question.id)


def _question_at(questionnaire: Questionnaire, place: int) -> Question | None:
    return questionnaire.questions[place] if 0 <= place < len(questionnaire.questions) else None


async def _typed_survey(ctx: BotContext, user: int) -> tuple[ResidentSurvey, Question] | None:
    """The questionnaire the account last stopped at a number or text question, if any."""
    try:
        seen_all = await surveys.resident_surveys(ctx.uow(), user, ctx.now())
    except VotingError:
        return None
    found: list[tuple[str, ResidentSurvey, Question]] = []
    for seen in seen_all:
        progress = seen.progress or {}
        at = progress.get("at")
        if seen.survey.kind is not SurveyKind.QUESTIONNAIRE or not isinstance(at, str):
            continue
        questionnaire = seen.survey.questionnaire()
        if at in questionnaire and questionnaire.question(at).kind in TYPED_KINDS:
            found.append((str(progress.get("t", "")), seen, questionnaire.question(at)))
    if not found:
        return None
    _t, seen, question = max(found, key=lambda f: f[0])
    return seen, question


# --------------------------------------------------------------------------------------- launching


def _parse_definition(name: str, data: bytes) -> Questionnaire:
    if name == "wizard":
        return questionnaire_from_dict(json.loads(data.decode("utf-8")))
    if name.endswith((".xlsx", ".csv")) or data.startswith(b"PK"):
        return read_questionnaire_xlsx(data)
    return parse_questionnaire_toml(data)


def _not_a_questionnaire(exc: QuestionnaireError) -> bool:
    """A spreadsheet without the id, type and text columns: someone else's file (a roster)."""
    return all(p.template == "missing column {column} (or {alias})" for p in exc.problems)


def _how_to(_: Translator) -> str:
    return _(
        "New questionnaire. Send its definition as a TOML file (like the example questionnaire.toml: "
        "with one [[questions]] table per question, conditions as show_if and a [satisfaction] table) or as an "
        "XLSX with the columns id, type, text, options, required, min, max, show_if. "
        "Or tap “🧙 Build it here” to make a simple one step by step. /cancel to stop."
    )


def _preview_text(_: Translator, questionnaire: Questionnaire) -> str:
    kind_words = {kind: _(label) for kind, label in WIZARD_KINDS}
    numbers = {q.id: n for n, q in enumerate(questionnaire.questions, 1)}
    lines = [
        _("Questionnaire preview:"),
        f"📝 {questionnaire.title}",
        _("{n} questions; {c} shown only after certain answers.").format(
            n=len(questionnaire.questions),
            c=sum(1 for q in questionnaire.questions if q.show_if is not None),
        ),
    ]
    for q in questionnaire.questions[:30]:
        options = f"：{' / '.join(q.options)}" if q.options else ""
        lines.append(f"{numbers[q.id]}. {q.text[:80]}（{kind_words[q.kind]}{options}）"[:300])
    lines.append(
        _("Anonymous: yes (answers cannot be changed after submitting)")
        if questionnaire.anonymous
        else _("Anonymous: no (owners can change their answers until it closes)")
    )
    spec = questionnaire.satisfaction
    if spec is None:
        lines.append(_("Satisfaction measure: none"))
    else:
        lines.append(
            _(
                "Satisfaction measure: question {question} answered {answers}; threshold {threshold} of owners "
                "and of area"
            ).format(
                question=numbers.get(spec.question, spec.question),
                answers=" | ".join(spec.satisfied),
                threshold=percent(spec.threshold),
            )
        )
    lines.append(_("It runs on the latest roster. When should it close? Tapping one launches it now."))
    return "\n".join(lines)


def _preview_buttons(_: Translator, draft: Draft) -> InlineKeyboardMarkup:
    options = [
        button(
            _("In {n} days, 20:00").format(n=n),
            DraftCb(draft_id=draft.id, action="set", value=str(n), step="closes").pack(),
        )
        for n in CLOSE_DAYS
    ]
    cancel = button(_("✖ Cancel"), DraftCb(draft_id=draft.id, action="cancel").pack())
    return InlineKeyboardMarkup(inline_keyboard=[options, [cancel]])


async def _preview(
    message_chat: int, bot: Bot, ctx: BotContext, _: Translator, user: int, community_id: int, name: str, data: bytes
) -> None:
    try:
        questionnaire = _parse_definition(name, data)
    except QuestionnaireError as exc:
        await bot.send_message(message_chat, describe_definition_problems(_, exc))
        return
    draft = await drafts.start_draft(
        ctx.uow(), user, community_id, PREVIEW_DRAFT, {"file": name}, ctx.now(), payload=data
    )
    await bot.send_message(message_chat, _preview_text(_, questionnaire), reply_markup=_preview_buttons(_, draft))


async def _launch(ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, days: int) -> None:
    assert draft.payload is not None
    questionnaire = _parse_definition(draft.data["file"], draft.payload)
    await residents.require_role(ctx.uow(), user, draft.community_id, Role.WORKER)
    await drafts.finish_draft(ctx.uow(), draft, ctx.now())  # first: a second tap launches nothing
    survey = await surveys.create_questionnaire(
        ctx.uow(), user, draft.community_id, questionnaire, ctx.evening_in(days), ctx.now()
    )
    told = await announce_survey(ctx, bot, survey)
    await bot.send_message(
        chat_id,
        _(
            "Questionnaire “{title}” is open until {time} (Beijing time); {n} residents were told. "
            "📝 Surveys & projects shows its results."
        ).format(title=survey.title, time=ctx.local(survey.closes_at), n=told),
    )


# --- the chat wizard ---------------------------------------------------------------------------


def _wizard_choices(draft: Draft, options: list[tuple[str, str]], per_row: int) -> InlineKeyboardMarkup:
    step = str(draft.data.get("step", ""))
    return rows_of(
        [button(label, DraftCb(draft_id=draft.id, action="set", value=v, step=step).pack()) for label, v in options],
        per_row,
    )


async def _wizard_ask(bot: Bot, _: Translator, chat_id: int, draft: Draft) -> None:
    step = draft.data["step"]
    n = len(draft.data.get("questions", [])) + 1
    if step == "title":
        await bot.send_message(
            chat_id,
            _(
                "Questionnaire wizard. Title of the questionnaire, e.g. 加装电梯意愿调查. Conditional questions and a "
                "satisfaction measure need a file (see the example). /cancel to stop."
            ),
        )
    elif step == "kind":
        options = [(_(label), str(kind)) for kind, label in WIZARD_KINDS]
        await bot.send_message(
            chat_id, _("Question {n}: what type?").format(n=n), reply_markup=_wizard_choices(draft, options, 2)
        )
    elif step == "text":
        await bot.send_message(chat_id, _("Question {n}: its text, as residents will read it.").format(n=n))
    elif step == "options":
        await bot.send_message(
            chat_id,
            _(
                "Question {n}: “{text}”. Its options (2 to 20): one per line, or on one line separated by 、 ， ; or |."
            ).format(n=n, text=draft.data.get("current", {}).get("text", "")),
        )
    elif step == "required":
        options = [(_("Required"), "yes"), (_("Optional"), "no")]
        await bot.send_message(
            chat_id,
            _("Question {n}: must it be answered?").format(n=n),
            reply_markup=_wizard_choices(draft, options, 2),
        )
    elif step == "more":
        options = [(_("➕ Add another question"), "add"), (_("✔ Finish"), "finish")]
        await bot.send_message(
            chat_id,
            _("{n} questions so far. Add another, or finish?").format(n=n - 1),
            reply_markup=_wizard_choices(draft, options, 2),
        )


async def _wizard_value(  # noqa: PLR0911 - each step asks again on a value it cannot use
    ctx: BotContext, bot: Bot, _: Translator, chat_id: int, user: int, draft: Draft, value: str
) -> None:
    d = dict(draft.data)
    step = d["step"]
    current = dict(d.get("current", {}))
    questions = list(d.get("questions", []))
    if step == "title":
        if not 2 <= len(value) <= 200:
            await bot.send_message(chat_id, _("A title of 2 to 200 characters, please."))
            return
        d.update(title=value, step="kind")
    elif step == "kind":
        if value not in {str(k) for k, _label in WIZARD_KINDS}:
            await bot.send_message(chat_id, _("Tap one of the types above."))
            return
        d.update(current={"type": value}, step="text")
    elif step == "text":
        if not value:
            return
        current["text"] = value[:1000]
        choice = current["type"] in (str(QuestionKind.SINGLE), str(QuestionKind.MULTIPLE))
        d.update(current=current, step="options" if choice else "required")
    elif step == "options":
        options = split_options(value)
        problem = _options_problem(_, options)
        if problem:  # the question stays: only the options are asked again
            await bot.send_message(chat_id, problem)
            await _wizard_ask(bot, _, chat_id, draft)
            return
        current["options"] = options
        d.update(current=current, step="required")
    elif step == "required":
        if value not in ("yes", "no"):
            await bot.send_message(chat_id, _("Tap “Required” or “Optional”."))
            return
        current.update(required=value == "yes", id=f"q{len(questions) + 1}")
        try:  # check this question on its own before going on
            questionnaire_from_dict({"title": d["title"], "questions": [*questions, current]})
        except QuestionnaireError as exc:  # the typed question is kept: its text (or options) is asked again
            await bot.send_message(chat_id, describe_definition_problems(_, exc, where=False))
            choice = current["type"] in (str(QuestionKind.SINGLE), str(QuestionKind.MULTIPLE))
            d.update(current=current, step="options" if choice and len(str(current.get("text", ""))) >= 1 else "text")
            draft = await drafts.save_draft(ctx.uow(), _with_data(draft, d), ctx.now())
            await _wizard_ask(bot, _, chat_id, draft)
            return
        d.update(questions=[*questions, current], current={}, step="more")
    elif step == "more":
        if value == "add":
            d.update(step="kind")
        elif value == "finish" and questions:
            payload = json.dumps({"title": d["title"], "questions": questions}, ensure_ascii=False).encode()
            await drafts.finish_draft(ctx.uow(), draft, ctx.now())
            await _preview(chat_id, bot, ctx, _, user, draft.community_id, "wizard", payload)
            return
        else:
            return
    draft = await drafts.save_draft(ctx.uow(), _with_data(draft, d), ctx.now())
    await _wizard_ask(bot, _, chat_id, draft)


def _options_problem(_: Translator, options: list[str]) -> str | None:
    """Why a wizard question's options cannot be used (in words), or None."""
    if not 2 <= len(options) <= MAX_OPTIONS:
        return _("Give 2 to {limit} options; you gave {n}.").format(limit=MAX_OPTIONS, n=len(options))
    twice = sorted({o for o in options if options.count(o) > 1})
    if twice:
        return _("Each option once, please: “{option}” is there twice.").format(option=twice[0])
    return None


def _with_data(draft: Draft, data: dict[str, Any]) -> Draft:
    return replace(draft, data=data)


# ----------------------------------------------------------------------------------------- results


def _weight_text(_: Translator, part: Weight, base: Weight) -> str:
    share = Share.of(part, base)
    return _("{owners} owners ({owners_pct}) · {area} m² ({area_pct})").format(
        owners=part.headcount,
        owners_pct=percent(share.headcount),
        area=format_area(part.area),
        area_pct=percent(share.area),
    )


def results_text(ctx: BotContext, _: Translator, survey: Survey, result: QuestionnaireResult) -> str:
    """The summary a worker or auditor reads: both dimensions everywhere, free text listed."""
    state = (
        _("open until {time}").format(time=ctx.local(survey.closes_at))
        if survey.is_open(ctx.now())
        else _("closed {time}").format(time=ctx.local(survey.ended_at))
    )
    lines = [
        f"📝 {survey.title} ({state})",
        _("Respondents: {weight} of {owners} owners and {area} m²").format(
            weight=_weight_text(_, result.respondents, result.total),
            owners=result.total.headcount,
            area=format_area(result.total.area),
        ),
    ]
    for qr in result.questions:
        q = qr.question
        lines.append("")
        lines.append(f"{q.id}. {q.text}")
        lines.append("  " + _("Answered: {weight}").format(weight=_weight_text(_, qr.answered, result.total)))
        for option in qr.options:
            label = (_("Yes") if option.label == YES else _("No")) if q.kind is QuestionKind.YES_NO else option.label
            lines.append(f"  • {label}: {_weight_text(_, option.weight, qr.answered)}")
        if qr.stats is not None:
            lines.append(
                "  "
                + _("Mean: {owners} per owner, {area} weighted by area").format(
                    owners=f"{float(qr.stats.mean_headcount):.2f}", area=f"{float(qr.stats.mean_area):.2f}"
                )
            )
        for answer in qr.texts[:30]:
            who = "" if answer.respondent is None else f" ({answer.respondent})"
            lines.append(f"  – {answer.text}{who}")
        if len(qr.texts) > 30:
            lines.append("  " + _("… and {n} more (see the CSV or XLSX).").format(n=len(qr.texts) - 30))
    sat = result.satisfaction
    if sat is not None:
        lines.append("")
        lines.append(
            _(
                "Satisfaction ({question} = {answers}): {of_total} of all owners / area; "
                "{of_answered} of those answering"
            ).format(
                question=sat.spec.question,
                answers=" | ".join(sat.spec.satisfied),
                of_total=f"{percent(sat.of_total.headcount)} / {percent(sat.of_total.area)}",
                of_answered=f"{percent(sat.of_answered.headcount)} / {percent(sat.of_answered.area)}",
            )
        )
        verdict = _("reached") if sat.holds() else _("not reached")
        lines.append(
            _("Threshold {threshold} in both dimensions: {verdict}").format(
                threshold=percent(sat.spec.threshold), verdict=verdict
            )
        )
    text = "\n".join(lines)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def _results_buttons(_: Translator, survey: Survey, worker: bool, now: datetime) -> InlineKeyboardMarkup:
    def cb(action: str) -> str:
        return SurveyCb(action=action, survey_id=survey.id).pack()

    rows = [[button("CSV", cb("qcsv")), button("XLSX", cb("qxlsx")), button(_("📊 Chart"), cb("qpng"))]]
    if worker and survey.is_open(now):
        rows.append([button(_("⛔ Close now"), cb("qclose"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def questionnaire_chart_png(_: Translator, result: QuestionnaireResult) -> bytes:
    """One figure: for each choice, rating or yes/no question, each answer's share of the owners and of
    the area that answered it, as paired horizontal bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bot.documents import _chart_font, _png
    from bot.fonts import drawable

    font = _chart_font()
    numbers = {id(qr): n for n, qr in enumerate(result.questions, 1)}
    charted = [qr for qr in result.questions if qr.options]
    heights = [1.2 + 0.55 * len(qr.options) for qr in charted] or [2.0]
    figure = Figure(figsize=(10, 1.0 + sum(heights)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(drawable(result.questionnaire.title), fontproperties=font.props(16))
    axes_list = figure.subplots(len(heights), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    if not charted:
        axes_list[0].text(
            0.5, 0.5, _("No choice or rating question to chart."), ha="center", fontproperties=font.props(13)
        )
        axes_list[0].set_axis_off()
    for axes, qr in zip(axes_list, charted, strict=True):
        q = qr.question
        labels = [
            drawable((_("Yes") if o.label == YES else _("No")) if q.kind is QuestionKind.YES_NO else o.label)[:24]
            for o in qr.options
        ]
        owners = [float(Share.of(o.weight, qr.answered).headcount * 100) for o in qr.options]
        area = [float(Share.of(o.weight, qr.answered).area * 100) for o in qr.options]
        ys = range(len(labels))
        axes.barh([y - 0.2 for y in ys], owners, 0.38, color="#1971c2", label=_("Owners"))
        axes.barh([y + 0.2 for y in ys], area, 0.38, color="#f08c00", label=_("Area"))
        axes.set_yticks(list(ys), labels, fontproperties=font.props(11))
        axes.set_ylim(len(labels) - 0.5, -0.5)
        axes.set_xlim(0, 100)
        axes.set_title(drawable(f"{numbers[id(qr)]}. {q.text}")[:60], loc="left", fontproperties=font.props(12))
        axes.spines[["top", "right"]].set_visible(False)
        axes.legend(prop=font.props(10), loc="lower right", frameon=False)
    return _png(figure)


async def _is_worker(ctx: BotContext, user: int, community_id: int) -> bool:
    try:
        await residents.require_role(ctx.uow(), user, community_id, Role.WORKER)
    except PermissionDeniedError:
        return False
    return True


async def _questionnaire_for_staff(ctx: BotContext, user: int, survey_id: int) -> Survey:
    survey = await surveys.staff_survey(ctx.uow(), user, survey_id, (Role.WORKER, Role.AUDITOR))
    if survey.kind is not SurveyKind.QUESTIONNAIRE:
        raise SkipHandler()  # a menu round: the menu's router answers
    return survey


async def _download(bot: Bot, document: Document) -> bytes:
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ router


def build_questionnaires_router() -> Router:
    router = Router(name="questionnaires")

    @router.callback_query(QuestionCb.filter())
    async def question_button(query: CallbackQuery, callback_data: QuestionCb, ctx: BotContext, _: Translator) -> None:
        seen = await surveys.resident_survey(ctx.uow(), user_of(query), callback_data.survey_id)
        if seen.survey.is_closed(ctx.now()):
            if callback_data.action != "open":
                await edit(query, _closed_text(_, seen.survey), None)
            await query.answer(_closed_text(_, seen.survey), show_alert=True)
            return
        text, markup, notice = await _step(ctx, _, seen, callback_data)
        if callback_data.action == "open" and isinstance(query.message, Message):
            await query.message.answer(text, reply_markup=markup)  # the announcement or the list stays
        else:
            await edit(query, text, markup)
        await query.answer(notice or None, show_alert=bool(notice))

    @router.message(F.chat.type == "private", F.text, ~F.text.startswith("/"))
    async def typed(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        text = (message.text or "").strip()
        if is_menu_label(text):
            raise SkipHandler()
        user = user_of(message)
        draft = await drafts.open_draft(ctx.uow(), user)
        if draft is not None:
            if draft.kind != WIZARD_DRAFT:
                raise SkipHandler()  # another conversation is open: it takes the text
            await _wizard_value(ctx, bot, _, message.chat.id, user, draft, text)
            return
        if CODE_PATTERN.match(text):
            raise SkipHandler()  # an invite code for another home, not an answer
        found = await _typed_survey(ctx, user)
        if found is None:
            raise SkipHandler()
        seen, question = found
        questionnaire = seen.survey.questionnaire()
        progress = _progress(seen)
        try:
            answers = record_answer(questionnaire, progress["answers"], question.id, text)
        except AnswerError as exc:
            await message.answer(describe_error(ctx, _, exc))
        else:
            _after_answer(questionnaire, progress, answers, question.id)
        view = _current_view(_, seen.survey, questionnaire, progress)
        await _save(ctx, seen, progress)
        await message.answer(view[0], reply_markup=view[1])

    async def _start_file(ctx: BotContext, bot: Bot, _: Translator, user: int, chat_id: int) -> None:
        community_id, _name, _held = await residents.acting_community(ctx.uow(), user)
        draft = await drafts.start_draft(ctx.uow(), user, community_id, FILE_DRAFT, {}, ctx.now())

        def cb(value: str) -> str:
            return DraftCb(draft_id=draft.id, action="set", value=value, step="file").pack()

        markup = InlineKeyboardMarkup(
            inline_keyboard=[[button(_("🧙 Build it here"), cb("wizard")), button(_("📄 Example file"), cb("example"))]]
        )
        await bot.send_message(chat_id, _how_to(_), reply_markup=markup)

    @router.message(Command("newquestionnaire"))
    async def new_questionnaire_command(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        await _start_file(ctx, bot, _, user_of(message), message.chat.id)

    @router.callback_query(SurveyCb.filter(F.action == "new_questionnaire"))
    async def new_questionnaire_button(query: CallbackQuery, bot: Bot, ctx: BotContext, _: Translator) -> None:
        await _start_file(ctx, bot, _, user_of(query), chat_of(query))
        await query.answer()

    @router.message(F.document)
    async def document(message: Message, bot: Bot, ctx: BotContext, _: Translator) -> None:
        assert message.document is not None
        name = (message.document.file_name or "").lower()
        user = user_of(message)
        draft = await drafts.open_draft(ctx.uow(), user)
        waiting = draft is not None and draft.kind == FILE_DRAFT
        if not waiting and not name.endswith((".toml", ".xlsx")):
            raise SkipHandler()
        try:
            community_id, _name, _held = await residents.acting_community(ctx.uow(), user)
        except PermissionDeniedError:
            raise SkipHandler() from None
        if (message.document.file_size or 0) > MAX_FILE:
            if not waiting:
                raise SkipHandler()
            await message.answer(_("A questionnaire file is at most 2 MB."))
            return
        data = await _download(bot, message.document)
        # Someone else's file passes on, even while a questionnaire file is awaited: a vote or rule TOML,
        # a roster or ballot sheet (the conversation router takes it and closes this draft).
        if name.endswith(".toml") and b"[[questions]]" not in data:
            raise SkipHandler()
        if name.endswith(".csv"):
            raise SkipHandler()
        if name.endswith(".xlsx"):
            try:
                read_questionnaire_xlsx(data)
            except QuestionnaireError as exc:
                if _not_a_questionnaire(exc):
                    raise SkipHandler() from None
        await _preview(message.chat.id, bot, ctx, _, user, community_id, name, data)

    @router.callback_query(DraftCb.filter(F.action != "cancel"))
    async def draft_button(
        query: CallbackQuery, callback_data: DraftCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user, chat_id = user_of(query), chat_of(query)
        async with ctx.uow() as uow:
            stored = await uow.drafts.get(callback_data.draft_id)
        if stored is None or stored.kind not in MY_DRAFTS:
            raise SkipHandler()  # the conversation router's draft
        try:
            draft = await drafts.load_draft(ctx.uow(), user, callback_data.draft_id)
        except VotingError:
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)
            return
        if draft.kind == FILE_DRAFT and callback_data.value == "example":
            await query.answer()
            example = BufferedInputFile(EXAMPLE_FILE.read_bytes(), filename="questionnaire.toml")
            await bot.send_document(chat_id, example, caption=_("An example: send it back as it is, or edit it first."))
        elif draft.kind == FILE_DRAFT and callback_data.value == "wizard":
            await query.answer()
            wizard = await drafts.start_draft(
                ctx.uow(), user, draft.community_id, WIZARD_DRAFT, {"step": "title", "questions": []}, ctx.now()
            )
            await _wizard_ask(bot, _, chat_id, wizard)
        elif draft.kind == PREVIEW_DRAFT and callback_data.step == "closes" and callback_data.value.isdigit():
            await query.answer()
            await edit(query, _("Launching…"), None)
            await _launch(ctx, bot, _, chat_id, user, draft, int(callback_data.value))
        elif draft.kind == WIZARD_DRAFT and callback_data.step == str(draft.data.get("step", "")):
            await query.answer()
            await _wizard_value(ctx, bot, _, chat_id, user, draft, callback_data.value)
        else:
            await query.answer(_("This step is finished or was replaced by a newer one."), show_alert=True)

    @router.callback_query(SurveyCb.filter(F.action == "results"))
    async def results(query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator) -> None:
        user = user_of(query)
        survey = await _questionnaire_for_staff(ctx, user, callback_data.survey_id)
        survey, result = await surveys.questionnaire_result(ctx.uow(), user, survey.id)
        worker = await _is_worker(ctx, user, survey.community_id)
        await bot.send_message(
            chat_of(query),
            results_text(ctx, _, survey, result),
            reply_markup=_results_buttons(_, survey, worker, ctx.now()),
        )
        await query.answer()

    @router.callback_query(SurveyCb.filter(F.action.in_({"qcsv", "qxlsx", "qpng"})))
    async def export(query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator) -> None:
        user = user_of(query)
        survey, result = await surveys.questionnaire_result(ctx.uow(), user, callback_data.survey_id)
        stem = f"questionnaire-{survey.id}"
        if callback_data.action == "qcsv":
            buffer = io.StringIO()
            csv.writer(buffer).writerows(results_rows(result, _))
            data, name = buffer.getvalue().encode("utf-8-sig"), f"{stem}.csv"
        elif callback_data.action == "qxlsx":
            data, name = await asyncio.to_thread(write_results_xlsx, result, _), f"{stem}.xlsx"
        else:
            data, name = await asyncio.to_thread(questionnaire_chart_png, _, result), f"{stem}.png"
        await query.answer()
        await bot.send_document(chat_of(query), BufferedInputFile(data, filename=name), caption=survey.title[:200])

    @router.callback_query(SurveyCb.filter(F.action == "qclose"))
    async def close_ask(
        query: CallbackQuery, callback_data: SurveyCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        user = user_of(query)
        survey = await _questionnaire_for_staff(ctx, user, callback_data.survey_id)
        await residents.require_role(ctx.uow(), user, survey.community_id, Role.WORKER)
        ok = button(_("⛔ Yes, close now"), SurveyCb(action="qclose_ok", survey_id=survey.id).pack())
        await query.answer()
        await bot.send_message(
            chat_of(query),
            _("Close “{title}” now? Owners can then no longer answer or change their answers.").format(
                title=survey.title
            ),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[ok]]),
        )

    @router.callback_query(SurveyCb.filter(F.action == "qclose_ok"))
    async def close_ok(query: CallbackQuery, callback_data: SurveyCb, ctx: BotContext, _: Translator) -> None:
        user = user_of(query)
        await _questionnaire_for_staff(ctx, user, callback_data.survey_id)
        await surveys.close_survey(ctx.uow(), user, callback_data.survey_id, ctx.now())
        survey, result = await surveys.questionnaire_result(ctx.uow(), user, callback_data.survey_id)
        await edit(
            query,
            _("Closed. Final results:") + "\n\n" + results_text(ctx, _, survey, result),
            _results_buttons(_, survey, True, ctx.now()),
        )
        await query.answer()

    return router
