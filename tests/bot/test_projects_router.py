"""Project buttons are checked again on every press: a resident or a worker of another community who
forges one is refused, and the project does not move."""

from __future__ import annotations

import pytest

from bot.callbacks import ProjectCb
from bot.i18n import translator
from bot.sandbox.botapi import SandboxUser
from bot.sandbox.seed import WORKER_ID
from tests.bot.conftest import Harness
from voting import renovation, residents, services
from voting.project import Project, StageKind, StageStatus
from voting.residents import Role

ZH = translator("zh_CN")
RESIDENT, STRANGER = 100001, 555
REFUSED = ZH("This is only for community workers of this community.")


async def _project(h: Harness) -> Project:
    return await renovation.create_project(
        h.ctx.uow(), WORKER_ID, h.demo.community_id, "幸福里改造", "baoding", h.clock()
    )


@pytest.mark.parametrize(
    "data",
    [
        ProjectCb(action="card", project_id=0),
        ProjectCb(action="start", project_id=0, value="willingness.vote.7"),
        ProjectCb(action="start", project_id=0, value="willingness.questionnaire.7"),
        ProjectCb(action="plan", project_id=0, value="7"),
        ProjectCb(action="start_ok", project_id=0, value="willingness.vote.7"),
        ProjectCb(action="plan_ok", project_id=0, value="7"),
        ProjectCb(action="notice", project_id=0, value="willingness"),
        ProjectCb(action="abandon", project_id=0),
    ],
    ids=lambda d: f"{d.action}-{d.value}",
)
async def test_a_worker_of_another_community_cannot_touch_this_ones_project(h: Harness, data: ProjectCb) -> None:
    project = await _project(h)
    other = await services.create_community(h.ctx.uow(), "别的小区", h.clock())
    await residents.grant_role(h.ctx.uow(), STRANGER, other, Role.WORKER, "别处", h.clock())
    h.api.add_user(SandboxUser(STRANGER, "别处"))
    message = await h.say(STRANGER, "/projects")
    assert "幸福里改造" not in message["text"] and not any(
        "幸福里改造" in b["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row
    )
    forged = data.model_copy(update={"project_id": project.id}).pack()
    await h.press(STRANGER, message["message_id"], forged)
    assert h.last(STRANGER)["text"] == REFUSED
    async with h.ctx.uow() as uow:
        stored = Project.from_dict(await uow.projects.get(project.id))
        assert not await uow.surveys.of_community(h.demo.community_id)
    assert stored == project and stored.stage(StageKind.WILLINGNESS).status is StageStatus.PENDING


async def test_a_resident_cannot_open_the_project_list_or_start_a_stage(h: Harness) -> None:
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")
    reply = await h.say(RESIDENT, "/projects")
    assert reply["text"] == REFUSED
    project = await _project(h)
    await h.press(
        RESIDENT,
        reply["message_id"],
        ProjectCb(action="start", project_id=project.id, value="willingness.vote.7").pack(),
    )
    assert h.last(RESIDENT)["text"] == REFUSED
    async with h.ctx.uow() as uow:
        assert Project.from_dict(await uow.projects.get(project.id)) == project
