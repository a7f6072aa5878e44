"""Who may do what: every worker, auditor and admin command refuses a resident (and a worker of another
community), through the routers with the sandbox's Bot API answering in-process."""

from __future__ import annotations

import pytest

from bot.callbacks import ObjectionCb, WorkCb
from bot.i18n import translator
from bot.sandbox.botapi import SandboxUser
from bot.sandbox.seed import AUDITOR_ID, WORKER_ID
from tests.bot.conftest import Harness
from voting import residents, services
from voting.residents import Role

ZH = translator("zh_CN")
RESIDENT = 100001
REFUSED = ZH("This is only for community workers of this community.")


async def _bound_resident(h: Harness) -> None:
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")


@pytest.mark.parametrize(
    "command",
    [
        "/manage",
        ZH("🛠 Manage votes"),
        "/newvote",
        ZH("➕ New vote"),
        "/invites",
        "/reissue 1-1-101",
        "/turnout",
        "/export",
        "/objections",
        "/community",
        "/newcommunity 别的小区",
        "/grant 1 worker 100001",
        "/revoke 1 worker 900001",
        "/communities",
    ],
)
async def test_a_resident_is_refused_every_staff_command(h: Harness, command: str) -> None:
    await _bound_resident(h)
    reply = await h.say(RESIDENT, command)
    admin_only = command.startswith(("/newcommunity", "/grant", "/revoke", "/communities"))
    assert reply["text"] == (
        ZH("This is only for the administrators named in the bot's configuration.") if admin_only else REFUSED
    )
    async with h.ctx.uow() as uow:
        assert len(await uow.communities.all()) == 1
        assert await uow.votes.of_community(h.demo.community_id) and len(await uow.votes.of_community(1)) == 1


@pytest.mark.parametrize(
    "action", ["card", "turnout", "extend", "remind", "remind_now", "close", "close_ok", "paper", "export"]
)
async def test_a_resident_pressing_a_forged_worker_button_is_refused_and_nothing_changes(
    h: Harness, action: str
) -> None:
    await _bound_resident(h)
    message = h.last(RESIDENT)
    update = await h.press(RESIDENT, message["message_id"], WorkCb(action=action, vote_id=h.demo.vote_id).pack())
    assert h.answer(update)["text"] == REFUSED
    async with h.ctx.uow() as uow:
        assert (await uow.votes.get(h.demo.vote_id)).status.value == "open"


async def test_a_resident_file_is_not_taken_as_a_roster(h: Harness) -> None:
    await _bound_resident(h)
    await h.feed(await h.api.user_sends_document(RESIDENT, b"unit,area\n1,50\n", "roster.csv", "text/csv"))
    assert h.last(RESIDENT)["text"] == ZH("Please use the buttons below.")
    async with h.ctx.uow() as uow:
        assert await uow.rosters.latest(h.demo.community_id) == 1


async def test_an_auditor_exports_but_cannot_close_or_resolve(h: Harness) -> None:
    message = await h.say(AUDITOR_ID, "/export")
    assert "export" not in message["text"].lower() or message["text"]  # the open demo vote: nothing to export yet
    update = await h.press(AUDITOR_ID, message["message_id"], WorkCb(action="close_ok", vote_id=h.demo.vote_id).pack())
    assert h.answer(update)["text"] == translator("en")("This is only for community workers of this community.")
    update = await h.press(AUDITOR_ID, message["message_id"], ObjectionCb(action="agree", ref=1).pack())
    assert h.answer(update)["show_alert"]


async def test_a_worker_of_another_community_cannot_see_this_ones_votes(h: Harness) -> None:
    other = await services.create_community(h.ctx.uow(), "别的小区", h.clock())
    await residents.grant_role(h.ctx.uow(), 555, other, Role.WORKER, "别处", h.clock())
    h.api.add_user(SandboxUser(555, "别处"))
    listing = await h.say(555, "/manage")
    assert h.demo.vote_id and "加装电梯" not in listing["text"]
    update = await h.press(555, listing["message_id"], WorkCb(action="turnout", vote_id=h.demo.vote_id).pack())
    assert h.answer(update)["text"] == REFUSED
    assert WORKER_ID


async def test_in_the_owners_group_the_bot_takes_only_group_and_ignores_everything_else(h: Harness) -> None:
    group = -1001000001
    before = len(h.api.messages(group))

    async def in_group(user: int, text: str) -> None:
        posted = await h.api._store(  # a member writes in the group (the sandbox's user API is per private chat)
            h.api._chats[group],
            {
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]
                if text.startswith("/")
                else [],
            },
            sender=h.api.users[user].as_user(),
        )
        await h.feed(h.api.enqueue({"message": posted}))

    await in_group(WORKER_ID, "/invites")
    await in_group(WORKER_ID, "/manage")
    await in_group(RESIDENT, "hello neighbours")
    assert [m for m in h.api.messages(group)[before:] if m["from"]["is_bot"]] == []
    await in_group(WORKER_ID, "/group")
    linked = h.api.messages(group)[-1]
    assert linked["from"]["is_bot"] and "幸福里" in linked["text"]
