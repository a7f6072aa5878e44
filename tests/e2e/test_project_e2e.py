"""A Baoding renovation project end to end: the unmodified aiogram client over real HTTP against the
sandbox, the clock injected. A small community of five homes (one roster version, frozen for the
project); willingness by vote fails at 3 of 5 owners and passes when asked again; the menu round
drafts a plan; the plan is put to the vote in one step and passes; the satisfaction questionnaire at
acceptance passes. Each stage's result is read off its vote or survey on the project card.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from bot.callbacks import VoteCb
from bot.sandbox.botapi import SandboxUser
from bot.sandbox.run import Sandbox
from bot.sandbox.seed import WORKER_ID
from tests.botkit import SettableClock, wait_for
from tests.e2e.test_menu_e2e import CATALOGUE
from tests.e2e.test_questionnaire_e2e import _press_new
from tests.e2e.test_worker_e2e import (
    ZH,
    _bind,
    _bot_messages,
    _buttons,
    _file,
    _press,
    _said,
    _say,
    _send_file,
    _tap,
    box,
)
from voting.project import PROJECT_PRESETS, Project, StageKind, StageStatus
from voting.votes import VoteStatus

__all__ = ["box"]

#: Five homes, one owner each: 80% of owners is 4 of 5; by area the 60 m² homes weigh less.
ROSTER = """楼栋,单元,房号,专有部分面积,业主,状态,面积来源
1,1,101,60.00,甲,已售,测绘
1,1,102,60.00,乙,已售,测绘
1,1,201,80.00,丙,已售,测绘
1,1,202,80.00,丁,已售,测绘
1,1,301,120.00,戊,已售,测绘
"""
OWNERS = {"1-1-101": 200001, "1-1-102": 200002, "1-1-201": 200003, "1-1-202": 200004, "1-1-301": 200005}


async def _small_community(box: Sandbox) -> dict[str, int]:
    """The worker imports the five-home roster and prints its invite codes; each owner binds."""
    w = WORKER_ID
    preview = await _send_file(box, w, ROSTER.encode(), "five.csv", ZH("Roster preview:"))
    await _press(box, w, preview, ZH("✔ Import"), "2")
    ask = await _say(box, w, "/invites", "")
    before = len(box.api.messages(w))
    await _press(box, w, ask, ZH("🖨 Make the sheet"), "")
    sheet = await wait_for(
        lambda: next(
            (m for m in _bot_messages(box, w, before) if m.get("document", {}).get("file_name", "").endswith(".csv")),
            None,
        ),
        what="the invite CSV",
    )
    rows = list(csv.reader(io.StringIO(_file(box, sheet).decode("utf-8-sig"))))
    codes = {row[0]: row[1] for row in rows[1:]}
    for unit, telegram_id in OWNERS.items():
        box.api.add_user(SandboxUser(telegram_id, f"业主 {unit}"))
        await _bind(box, telegram_id, codes[unit])
    return OWNERS


async def _start_stage(box: Sandbox, w: int, card: dict[str, Any], label: str, expect: str) -> dict[str, Any]:
    """A stage's button shows first what the owners will read; nothing is sent to them before ✔."""
    counts = {user: len(box.api.messages(user)) for user in box.api.users if user != w}
    preview = await _press(box, w, card, label, ZH("✔ Yes, start and tell the owners")[:0])
    assert (
        ZH("Every owner in the project's roster who uses the chat will be told at once. They will read:")
        in (preview["text"])
    )
    assert counts == {user: len(box.api.messages(user)) for user in box.api.users if user != w}
    return await _press(box, w, preview, ZH("✔ Yes, start and tell the owners"), expect)


async def _card(box: Sandbox, project_id: int) -> dict[str, Any]:
    before = len(box.api.messages(WORKER_ID))
    await box.api.user_sends_text(WORKER_ID, "/projects")
    listing = await wait_for(
        lambda: next(
            (m for m in _bot_messages(box, WORKER_ID, before) if any("🏗" in t for t, _d in _buttons(m))), None
        ),
        what="the list of projects",
    )
    return await _press(box, WORKER_ID, listing, "🏗", ZH("🏗 Project “{name}”")[:4])


async def _vote_all(box: Sandbox, vote_id: int, voters: list[int]) -> None:
    """Each voter opens the vote from its announcement and agrees."""

    def for_vote(message: dict[str, Any]) -> bool:
        return any(d.startswith("v:") and VoteCb.unpack(d).vote_id == vote_id for _t, d in _buttons(message))

    for telegram_id in voters:
        announce = await wait_for(
            lambda t=telegram_id: next((m for m in _bot_messages(box, t) if for_vote(m)), None),
            what=f"the announcement of vote {vote_id}",
        )
        card = await _tap(box, telegram_id, announce, "")
        pick = await _tap(box, telegram_id, card, ZH("✅ Agree"))
        await _tap(box, telegram_id, pick, "✔")


async def _to_final(box: Sandbox, clock: SettableClock, vote_id: int) -> None:
    """Past the deadline (closed, preliminary result) and past the objection period (final)."""
    jobs = box.running.jobs  # type: ignore[union-attr]
    async with box.ctx.uow() as uow:
        vote = await uow.votes.get(vote_id)
    clock.now = vote.closes_at + timedelta(minutes=1)
    await jobs.run_due()
    async with box.ctx.uow() as uow:
        vote = await uow.votes.get(vote_id)
    assert vote.status is VoteStatus.CLOSED and vote.objection_until is not None
    clock.now = vote.objection_until + timedelta(minutes=1)
    await jobs.run_due()
    async with box.ctx.uow() as uow:
        assert (await uow.votes.get(vote_id)).status is VoteStatus.FINAL


async def _project(box: Sandbox) -> Any:
    async with box.ctx.uow() as uow:
        (project_id, _name), *_rest = await uow.projects.of_community(box.demo.community_id)
        return Project.from_dict(await uow.projects.get(project_id))


async def test_a_baoding_project_goes_through_its_stages_with_a_failed_willingness_vote_asked_again(
    box: Sandbox, clock: SettableClock
) -> None:
    w = WORKER_ID
    owners = await _small_community(box)
    jobs = box.running.jobs  # type: ignore[union-attr]

    listing = await _say(box, w, ZH("📝 Surveys & projects"), "")
    await _press(box, w, listing, ZH("➕ Project"), "")
    name = "幸福里 2027 年改造"
    presets = await _say(box, w, name, ZH("Which programme's rules does “{name}” follow?").format(name=name))
    card = await _press(box, w, presets, ZH(PROJECT_PRESETS["baoding"].title)[:6], "🏗")
    assert ZH("Willingness to renovate") in card["text"] and "2" in card["text"]  # frozen on roster version 2
    project = await _project(box)
    assert project.preset == "baoding" and project.stage(StageKind.WILLINGNESS).status is StageStatus.PENDING

    # A later stage cannot start first: the card offers only the willingness stage.
    assert all("willingness" in d for _t, d in _buttons(card) if d.startswith("p:start"))

    # Willingness by vote, 7 days: three owners agree (200.00 of 400.00 m², 3 of 5): under 80%, failed.
    await _start_stage(box, w, card, ZH("🗳 by vote")[:3], "#")
    project = await _project(box)
    vote_id = project.stage(StageKind.WILLINGNESS).ref_id
    await jobs.run_due()  # opens it and announces it
    await _vote_all(box, vote_id, [owners["1-1-101"], owners["1-1-102"], owners["1-1-201"]])
    before = len(box.api.messages(w))
    await _to_final(box, clock, vote_id)
    told = ZH("🏗 “{project}”: the {stage} stage has not passed. The project card shows the result and the options.")
    stage = ZH("Willingness to renovate")
    await _said(box, w, before, told.format(project=name, stage=stage))  # the final result decided the stage
    card = await _card(box, project.id)
    assert ZH("❌ not passed") in card["text"] and "60.0%" in card["text"]  # 3 of 5 owners
    assert "200.00" in card["text"] and "50.0%" in card["text"]
    project = await _project(box)
    assert project.stage(StageKind.WILLINGNESS).status is StageStatus.FAILED

    # Asked again after more consultation: four owners incl. the largest home agree: 340/400 m², 4/5.
    await _start_stage(box, w, card, ZH("🗳 by vote")[:3], "#")
    project = await _project(box)
    second = project.stage(StageKind.WILLINGNESS).ref_id
    assert second != vote_id
    await jobs.run_due()
    await _vote_all(box, second, [owners["1-1-101"], owners["1-1-201"], owners["1-1-202"], owners["1-1-301"]])
    await _to_final(box, clock, second)
    card = await _card(box, project.id)
    project = await _project(box)
    assert project.stage(StageKind.WILLINGNESS).status is StageStatus.PASSED
    assert ZH("✅ passed") in card["text"] and ZH(" · attempt {n}").format(n=2) in card["text"]

    # The menu stage: the worker's catalogue, a round on the project's roster; four owners choose.
    preview = await _send_file(box, w, CATALOGUE.encode(), "menu.toml", "幸福里改造菜单")
    await _press(box, w, preview, ZH("✔ Save as the catalogue"), ZH("This is the community's own catalogue."))
    menu_label = ZH("{how}, {n} days").format(how=ZH("🛒 menu round"), n=7)
    await _start_stage(box, w, card, menu_label, "#")
    project = await _project(box)
    round_id = project.stage(StageKind.MENU).ref_id
    async with box.ctx.uow() as uow:
        round_ = await uow.surveys.get(round_id)
    assert round_.roster_version_id == project.roster_version
    for unit in ("1-1-101", "1-1-201", "1-1-202", "1-1-301"):
        told = await _said(box, owners[unit], 0, round_.title)
        menu = await _press(box, owners[unit], told, ZH("🛒 Choose items"), "¥")
        menu = await _tap(box, owners[unit], menu, ZH("Page {n} ▶").format(n=2))  # page 1: the basic items
        menu = await _tap(box, owners[unit], menu, "⬜ 加装电梯")
        await _tap(box, owners[unit], menu, ZH("✔ Submit my choice"))
    card = await _card(box, project.id)
    results = await _press(box, w, card, ZH("📊 Results so far"), ZH("Draft plan:"))
    confirm = await _press(box, w, results, ZH("⛔ Close now"), "")
    before = len(box.api.messages(w))
    await _tap(box, w, confirm, ZH("⛔ Yes, close now"))
    await jobs.run_due()  # the closed round is announced to the workers and decides the menu stage
    await _said(box, w, before, ZH("Menu selection"))
    closed = await _said(
        box, w, before, ZH("📝 “{title}” has closed: {n} owners answered.").format(title=round_.title, n=4)
    )
    # Its results lead to the project card, not to a plan vote outside the project.
    results = await _press(box, w, closed, ZH("📊 Results"), ZH("Draft plan:"))
    labels = [t for t, _d in _buttons(results)]
    assert ZH("🏗 Open the project") in labels and ZH("🗳 Put the plan to a vote") not in labels
    project = await _project(box)
    assert project.stage(StageKind.MENU).status is StageStatus.PASSED
    assert project.stage(StageKind.MENU).summary["items"] == ["B01", "I02"]  # the required item and the lift

    # The plan, put to the vote in one step (Baoding 80%): four owners incl. the largest home agree.
    card = await _card(box, project.id)
    await _start_stage(box, w, card, ZH("🗳 Put the draft plan to the vote ({n} days)").format(n=7), "#")
    project = await _project(box)
    plan_vote = project.stage(StageKind.PLAN_APPROVAL).ref_id
    async with box.ctx.uow() as uow:
        vote = await uow.votes.get(plan_vote)
    assert vote.rule.name == "eighty-percent" and "加装电梯" in vote.text and "楼道整治" in vote.text
    await jobs.run_due()
    await _vote_all(box, plan_vote, [owners["1-1-101"], owners["1-1-201"], owners["1-1-202"], owners["1-1-301"]])
    await _to_final(box, clock, plan_vote)
    card = await _card(box, project.id)
    assert (await _project(box)).stage(StageKind.PLAN_APPROVAL).status is StageStatus.PASSED

    # Acceptance by the satisfaction questionnaire: four owners rate the works 5 (340/400 m², 4/5).
    label = ZH("{how}, {n} days").format(how=ZH("📝 by questionnaire"), n=7)
    await _start_stage(box, w, card, label, "#")
    project = await _project(box)
    check_id = project.stage(StageKind.ACCEPTANCE).ref_id
    for unit in ("1-1-101", "1-1-201", "1-1-202", "1-1-301"):
        r = owners[unit]
        told = await _said(box, r, 0, "竣工满意度调查")
        intro = await _press_new(box, r, told, ZH("📝 Answer"), "满意度")
        rating = await _tap(box, r, intro, ZH("▶ Start"))
        assert "1 / 3" in rating["text"]
        left = await _tap(box, r, rating, "5")  # the "what is wrong" question stays hidden after a 5
        assert "2 / 3" in left["text"]
        note = await _tap(box, r, left, ZH("No"))
        review = await _tap(box, r, note, ZH("Skip"))
        done = await _tap(box, r, review, ZH("✔ Submit"))
        assert "✔" not in str(_buttons(done))
    async with box.ctx.uow() as uow:
        survey = await uow.surveys.get(check_id)
    clock.now = survey.closes_at + timedelta(minutes=1)  # the deadline passes
    await jobs.run_due()
    project = await _project(box)
    acceptance = project.stage(StageKind.ACCEPTANCE)
    assert acceptance.status is StageStatus.PASSED and acceptance.summary["agree"]["headcount"] == 4
    card = await _card(box, project.id)
    assert ZH("Every stage has passed: the renovation is accepted.") in card["text"]
