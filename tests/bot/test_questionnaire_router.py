"""The questionnaire router through the real dispatcher: the chat wizard, an anonymous questionnaire,
a spreadsheet definition, and texts and files that belong to other flows passing through untouched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.callbacks import QuestionCb
from bot.i18n import translator
from bot.sandbox.seed import WORKER_ID
from tests.bot.conftest import Harness
from voting import surveys
from voting.questionnaire import Question, QuestionKind, Questionnaire

ZH = translator("zh_CN")
RESIDENT = 100001


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def _press(h: Harness, user: int, message: dict[str, Any], label_part: str) -> dict[str, Any]:
    data = next(d for text, d in _buttons(message) if label_part in text)
    update = await h.press(user, message["message_id"], data)
    assert update["callback_query"]["id"] in h.api.callback_answers  # answered exactly once (else an error)
    return next(m for m in h.api.messages(user) if m["message_id"] == message["message_id"])


async def _send(h: Harness, user: int, data: bytes, name: str) -> dict[str, Any]:
    await h.feed(await h.api.user_sends_document(user, data, name, "application/octet-stream"))
    return h.last(user)


async def test_a_worker_builds_a_questionnaire_in_the_chat_wizard_and_launches_it(h: Harness) -> None:
    w = WORKER_ID
    how = await h.say(w, "/newquestionnaire")
    assert "TOML" in how["text"]
    await _press(h, w, how, ZH("🧙 Build it here"))
    wizard = ZH(
        "Questionnaire wizard. Title of the questionnaire, e.g. 加装电梯意愿调查. Conditional questions and a "
        "satisfaction measure need a file (see the example). /cancel to stop."
    )
    assert h.last(w)["text"] == wizard
    kind = await h.say(w, "加装电梯意愿调查")
    await _press(h, w, kind, ZH("Single choice"))
    await h.say(w, "您是否同意加装电梯？")
    required = await h.say(w, "同意\n不同意\n无所谓")
    await _press(h, w, required, ZH("Required"))
    more = h.last(w)
    await _press(h, w, more, ZH("➕ Add another question"))
    await _press(h, w, h.last(w), ZH("Free text"))
    await h.say(w, "其他意见")
    await _press(h, w, h.last(w), ZH("Optional"))
    await _press(h, w, h.last(w), ZH("✔ Finish"))
    preview = h.last(w)
    assert ZH("Questionnaire preview:") in preview["text"] and "加装电梯意愿调查" in preview["text"]
    await _press(h, w, preview, ZH("In {n} days, 20:00").format(n=3))
    async with h.ctx.uow() as uow:
        (survey,) = await uow.surveys.of_community(h.demo.community_id)
    questionnaire = survey.questionnaire()
    assert [q.kind for q in questionnaire.questions] == [QuestionKind.SINGLE, QuestionKind.TEXT]
    assert (
        questionnaire.questions[0].options == ("同意", "不同意", "无所谓") and not questionnaire.questions[1].required
    )


async def test_a_wizard_refuses_one_option_keeps_the_question_and_takes_options_typed_on_one_line(h: Harness) -> None:
    w = WORKER_ID
    how = await h.say(w, "/newquestionnaire")
    await _press(h, w, how, ZH("🧙 Build it here"))
    kind = await h.say(w, "满意度")
    await _press(h, w, kind, ZH("Multiple choice"))
    await h.say(w, "哪些需要改造？")
    await h.say(w, "只有一个")
    refused, again = (m.get("text", "") for m in h.api.messages(w)[-2:])
    assert refused == ZH("Give 2 to {limit} options; you gave {n}.").format(limit=20, n=1)
    assert "哪些需要改造？" in again  # the typed question is still there: only the options are asked again
    await h.say(w, "道路、照明，绿化; 停车 | 加装电梯")
    await _press(h, w, h.last(w), ZH("Required"))
    await _press(h, w, h.last(w), ZH("✔ Finish"))
    assert ZH("Questionnaire preview:") in h.last(w)["text"]
    (draft_questions,) = [d for d in [h.last(w)["text"]]]
    for option in ("道路", "照明", "绿化", "停车", "加装电梯"):
        assert option in draft_questions
    assert "q1" not in draft_questions and "questions[" not in draft_questions


async def test_a_wizard_refuses_an_option_given_twice_in_words(h: Harness) -> None:
    w = WORKER_ID
    how = await h.say(w, "/newquestionnaire")
    await _press(h, w, how, ZH("🧙 Build it here"))
    await _press(h, w, await h.say(w, "意见"), ZH("Single choice"))
    await h.say(w, "是否同意？")
    await h.say(w, "同意,同意")
    refused = h.api.messages(w)[-2]["text"]
    assert refused == ZH("Each option once, please: “{option}” is there twice.").format(option="同意")


async def _launch(h: Harness, questionnaire: Questionnaire) -> surveys.Survey:
    now = h.clock()
    return await surveys.create_questionnaire(
        h.ctx.uow(), WORKER_ID, h.demo.community_id, questionnaire, now + timedelta(days=3), now
    )


async def test_an_anonymous_questionnaire_is_answered_once_and_cannot_be_changed(h: Harness) -> None:
    questions = (
        Question("q1", QuestionKind.YES_NO, "您是否满意？"),
        Question("q2", QuestionKind.MULTIPLE, "哪些不满意？", ("绿化", "照明", "道路"), max_picks=2),
    )
    survey = await _launch(h, Questionnaire("匿名满意度", questions, anonymous=True))
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")
    opened = await h.say(RESIDENT, ZH("📝 Questionnaires & menu"))
    data = QuestionCb(action="open", survey_id=survey.id).pack()
    await h.press(RESIDENT, opened["message_id"], data)
    intro = h.last(RESIDENT)
    assert ZH("Anonymous: your answers are not linked to you, and cannot be changed after submitting.") in intro["text"]
    q1 = await _press(h, RESIDENT, intro, ZH("▶ Start"))
    q2 = await _press(h, RESIDENT, q1, ZH("No"))
    assert "2 / 2" in q2["text"]
    for option in ("绿化", "照明", "道路"):
        q2 = await _press(h, RESIDENT, q2, option)
    too_many = await _press(h, RESIDENT, q2, ZH("Done"))  # three ticked, two allowed: the core says so
    assert "2 / 2" in too_many["text"]
    answers = list(h.api.callback_answers.values())
    assert answers[-1]["text"] == ZH("please pick at most {high}").format(high=2)
    q2 = await _press(h, RESIDENT, too_many, "道路")
    review = await _press(h, RESIDENT, q2, ZH("Done"))
    assert "绿化、照明" in review["text"]
    done = await _press(h, RESIDENT, review, ZH("✔ Submit"))
    assert (
        ZH("Thank you. Your answers to “{title}” were recorded anonymously; they cannot be changed.").format(
            title="匿名满意度"
        )
        == done["text"]
    )
    async with h.ctx.uow() as uow:
        (stored,) = await uow.surveys.responses(survey.id)
    assert stored.anonymous and stored.respondent != h.demo.residents[0].hint and stored.account_id is None
    update = await h.press(RESIDENT, opened["message_id"], data)
    assert "cannot be changed" in (h.answer(update)["text"] or "") or ZH(
        "You have already answered this anonymous questionnaire. Anonymous answers are not linked to "
        "you, so they cannot be changed."
    ) in (h.answer(update)["text"] or "")


async def test_typed_text_without_a_questionnaire_in_progress_goes_to_the_other_flows(h: Harness) -> None:
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")
    survey = await _launch(h, Questionnaire("问卷", (Question("q1", QuestionKind.NUMBER, "几口人？"),)))
    reply = await h.say(RESIDENT, "你好")
    assert "几口人" not in reply["text"]
    async with h.ctx.uow() as uow:
        assert await uow.surveys.responses(survey.id) == []


async def test_a_second_tap_on_submit_never_replaces_the_answers_with_nothing(h: Harness) -> None:
    questions = (
        Question("q1", QuestionKind.SINGLE, "最需要改造的是？", ("屋面", "道路"), required=False),
        Question("q2", QuestionKind.TEXT, "其他意见", required=False),
    )
    survey = await _launch(h, Questionnaire("意见征集", questions))
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")
    opened = await h.say(RESIDENT, ZH("📝 Questionnaires & menu"))
    await h.press(RESIDENT, opened["message_id"], QuestionCb(action="open", survey_id=survey.id).pack())
    q1 = await _press(h, RESIDENT, h.last(RESIDENT), ZH("▶ Start"))
    q2 = await _press(h, RESIDENT, q1, "屋面")
    review = await _press(h, RESIDENT, q2, ZH("Skip"))
    submit = next(d for text, d in _buttons(review) if ZH("✔ Submit") in text)
    await h.press(RESIDENT, review["message_id"], submit)
    await h.press(RESIDENT, review["message_id"], submit)  # a double tap, or the old review's button later
    async with h.ctx.uow() as uow:
        stored = await uow.surveys.responses(survey.id)
    assert [s.answers for s in stored] == [{"q1": "屋面", "q2": None}]
    assert h.last(RESIDENT)["text"].startswith(
        ZH("Thank you. Your answers to “{title}” were recorded; you can change your answers until {time}.").split("“")[
            0
        ]
    )


async def test_an_invite_code_typed_at_a_text_question_binds_the_home_and_is_not_taken_as_the_answer(
    h: Harness,
) -> None:
    survey = await _launch(h, Questionnaire("意见征集", (Question("q1", QuestionKind.TEXT, "其他意见"),)))
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")
    opened = await h.say(RESIDENT, ZH("📝 Questionnaires & menu"))
    await h.press(RESIDENT, opened["message_id"], QuestionCb(action="open", survey_id=survey.id).pack())
    await _press(h, RESIDENT, h.last(RESIDENT), ZH("▶ Start"))  # now at the text question
    second_home = h.demo.residents[1].hint
    reply = await h.say(RESIDENT, second_home)
    assert "m²" in reply["text"]  # the binding's answer: the homes with their area
    async with h.ctx.uow() as uow:
        account = await uow.accounts.find(RESIDENT)
        assert account is not None
        assert len(await uow.bindings.of_account(account.id)) == 2
        progress = await uow.surveys.progress(survey.id, account.id)
    assert progress is not None and not progress["answers"]
