"""Questionnaires end to end: a worker launches the example file, a resident answers over a restart, goes
back, reviews, submits and changes an answer; the worker reads the results and gets the CSV, XLSX and PNG."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl

from bot.handlers.questionnaires import EXAMPLE_FILE
from bot.i18n import translator
from bot.sandbox.run import Sandbox
from bot.sandbox.seed import WORKER_ID
from tests.botkit import wait_for
from tests.e2e import test_worker_e2e
from tests.e2e.test_worker_e2e import EXAMPLE as EXAMPLE_ROSTER
from tests.e2e.test_worker_e2e import RESIDENT, _bind, _bot_messages, _buttons, _file, _said, _say, _send_file, _tap
from voting.surveys import SurveyKind

ZH = translator("zh_CN")


box = test_worker_e2e.box  # the fixture: a sandbox with the demo community and its clock


async def _press_new(box: Sandbox, user: int, message: dict[str, Any], label_part: str, expect: str) -> dict[str, Any]:
    """Press a button and wait for a new message containing `expect` (documents' captions too)."""
    data = next(d for text, d in _buttons(message) if label_part in text)
    before = len(box.api.messages(user))
    update = box.api.user_presses(user, message["message_id"], data)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers, what="the button's answer")
    return await _said(box, user, before, expect)


async def _press_data(box: Sandbox, user: int, message: dict[str, Any], data: str) -> None:
    update = box.api.user_presses(user, message["message_id"], data)
    await wait_for(lambda: update["callback_query"]["id"] in box.api.callback_answers, what="the button's answer")


async def test_a_questionnaire_from_file_to_results_over_a_restart(box: Sandbox) -> None:
    w = WORKER_ID
    await _bind(box, RESIDENT, box.demo.residents[0].hint)

    # A bad definition is refused with its problem named; nothing is stored.
    bad = EXAMPLE_FILE.read_bytes().replace(b'type = "\xe8\xaf\x84\xe5\x88\x86"', b'type = "stars"')
    refused = await _send_file(
        box, w, bad, "bad.toml", ZH("The questionnaire cannot be used. Fix these and send it again:")
    )
    assert "stars" in refused["text"] and "q4" in refused["text"]

    # The worker asks for a new questionnaire from the survey list and sends the example file.
    listing = await _say(box, w, "/projects", "")
    how = await _press_new(box, w, listing, ZH("➕ Questionnaire"), "TOML")
    example = await _press_new(
        box, w, how, ZH("📄 Example file"), ZH("An example: send it back as it is, or edit it first.")
    )
    assert example["document"]["file_name"] == "questionnaire.toml"
    assert _file(box, example) == EXAMPLE_FILE.read_bytes()
    preview = await _send_file(box, w, EXAMPLE_FILE.read_bytes(), "questionnaire.toml", ZH("Questionnaire preview:"))
    assert "幸福里小区改造意愿及满意度调查" in preview["text"] and "q4" not in preview["text"]
    async with box.ctx.uow() as uow:
        assert await uow.surveys.of_community(box.demo.community_id) == []
    before = len(box.api.messages(RESIDENT))
    launched = await _press_new(box, w, preview, ZH("In {n} days, 20:00").format(n=7), "幸福里小区改造意愿及满意度调查")
    announcement = await _said(box, RESIDENT, before, "幸福里小区改造意愿及满意度调查")
    async with box.ctx.uow() as uow:
        (survey,) = await uow.surveys.of_community(box.demo.community_id)
    assert survey.kind is SurveyKind.QUESTIONNAIRE
    told = ZH(
        "Questionnaire “{title}” is open until {time} (Beijing time); {n} residents were told. "
        "📝 Surveys & projects shows its results."
    ).format(title=survey.title, time=box.ctx.local(survey.closes_at), n=1)
    assert launched["text"] == told

    # The resident opens it, answers "愿意" so that the conditional question appears, and answers it.
    r = RESIDENT
    intro = await _press_new(box, r, announcement, ZH("📝 Answer"), "幸福里")
    q1 = await _tap(box, r, intro, ZH("▶ Start"))
    assert "1 / 4" in q1["text"]
    q2 = await _tap(box, r, q1, "愿意")
    assert "2 / 5" in q2["text"] and "加装电梯" in q2["text"] + str(_buttons(q2))
    q2 = await _tap(box, r, q2, "加装电梯")
    q2 = await _tap(box, r, q2, "屋面防水")
    assert sum("✅" in text for text, _d in _buttons(q2)) == 2
    q3 = await _tap(box, r, q2, ZH("Done"))
    assert "3 / 5" in q3["text"]

    # The bot restarts; the resident resumes where they stopped.
    await box.stop_bot()
    await box.start_bot()
    listed = await _say(box, r, ZH("📝 Questionnaires & menu"), "")
    resumed = await _press_new(box, r, listed, "幸福里", "3 / 5")
    assert "常住人口" in resumed["text"]

    # A wrong number is refused and the same question asked again; then going back once and on.
    before = len(box.api.messages(r))
    asked = await _say(box, r, "abc", ZH("please type a number, such as 12 or 12.5"))
    assert asked
    again = await _said(box, r, before, "3 / 5")
    assert "常住人口" in again["text"]
    q4 = await _say(box, r, "3", "4 / 5")
    back = await _tap(box, r, q4, ZH("◀ Back"))
    assert "3 / 5" in back["text"] and "3" in back["text"]
    q4 = await _say(box, r, "4", "4 / 5")
    q5 = await _tap(box, r, q4, "4")
    assert "5 / 5" in q5["text"]
    review = await _tap(box, r, q5, ZH("Skip"))
    assert ZH("Check your answers:") in review["text"] and "加装电梯、屋面防水" in review["text"]
    done = await _tap(box, r, review, ZH("✔ Submit"))
    assert (
        ZH("Thank you. Your answers to “{title}” were recorded; you can change your answers until {time}.").split("“")[
            0
        ]
        in done["text"]
    )

    # Changing an answer afterwards: the review with the latest answers, change question 4 to 5 stars.
    listed = await _say(box, r, ZH("📝 Questionnaires & menu"), "")
    review = await _press_new(box, r, listed, "幸福里", ZH("Check your answers:"))
    q4 = await _tap(box, r, review, ZH("✏ Change {n}").format(n=4))
    assert "4 / 5" in q4["text"]
    review = await _tap(box, r, q4, "5")
    assert ZH("Check your answers:") in review["text"] and "(5/5)" in review["text"]
    await _tap(box, r, review, ZH("✔ Submit"))
    async with box.ctx.uow() as uow:
        responses = await uow.surveys.responses(survey.id)
    assert [s.answers["q4"] for s in responses] == [4, 5]

    # The worker's results: both dimensions, the satisfaction share; then the CSV, XLSX and PNG.
    listing = await _say(box, w, "/projects", "")
    results = await _press_new(
        box,
        w,
        listing,
        "幸福里小区改造意愿",
        ZH("Respondents: {weight} of {owners} owners and {area} m²").split("{")[0],
    )
    text = results["text"]
    assert "m²" in text and "q4" in text and ZH("not reached") in text
    for label, suffix in (("CSV", ".csv"), ("XLSX", ".xlsx"), (ZH("📊 Chart"), ".png")):
        before = len(box.api.messages(w))
        await _press_data(box, w, results, next(d for t, d in _buttons(results) if label in t))
        sent = await wait_for(
            lambda before=before, suffix=suffix: next(
                (
                    m
                    for m in _bot_messages(box, w, before)
                    if m.get("document", {}).get("file_name", "").endswith(suffix)
                ),
                None,
            ),
            what=f"the {suffix} file",
        )
        data = _file(box, sent)
        if suffix == ".csv":
            assert data.startswith(b"\xef\xbb\xbf")
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            assert rows[0][0] == survey.title and any(row[:3] == ["q1", "", "愿意"] and row[3] == "1" for row in rows)
        elif suffix == ".xlsx":
            sheet = openpyxl.load_workbook(io.BytesIO(data)).active
            assert sheet is not None and sheet["A1"].value == survey.title
        else:
            assert data.startswith(b"\x89PNG\r\n\x1a\n")

    # Closing early needs a confirmation; the resident can then no longer answer.
    ask = await _press_new(box, w, results, ZH("⛔ Close now"), survey.title)
    closed = await _tap(box, w, ask, ZH("⛔ Yes, close now"))
    assert ZH("Closed. Final results:") in closed["text"]
    forged = await _say(box, r, ZH("📝 Questionnaires & menu"), "")
    assert forged
    async with box.ctx.uow() as uow:
        assert (await uow.surveys.get(survey.id)).closed_at is not None


async def test_a_questionnaire_spreadsheet_is_previewed_and_a_roster_spreadsheet_goes_to_the_roster_import(
    box: Sandbox,
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "题型", "题目", "选项"])
    sheet.append(["q1", "单选", "是否同意？", "同意|不同意"])
    sheet.append(["q2", "数字", "几口人？", ""])
    settings = book.create_sheet("设置")
    settings.append(["标题", "表格问卷"])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = await _send_file(box, WORKER_ID, buffer.getvalue(), "问卷.xlsx", ZH("Questionnaire preview:"))
    assert "表格问卷" in preview["text"]

    roster = openpyxl.Workbook()
    rows = roster.active
    assert rows is not None
    for line in EXAMPLE_ROSTER.read_text(encoding="utf-8-sig").splitlines():
        rows.append(line.split(","))
    buffer = io.BytesIO()
    roster.save(buffer)
    await _send_file(box, WORKER_ID, buffer.getvalue(), "roster.xlsx", ZH("Roster preview:"))


async def test_a_roster_sent_while_a_questionnaire_file_is_awaited_goes_to_the_roster_import(box: Sandbox) -> None:
    await _say(box, WORKER_ID, "/newquestionnaire", "TOML")
    roster = "楼栋,单元,房号,专有部分面积,业主,状态,面积来源\n1,1,101,60.00,甲,已售,测绘\n".encode()
    preview = await _send_file(box, WORKER_ID, roster, "roster.csv", ZH("Roster preview:"))
    assert "60.00" in preview["text"]
