"""The sandbox's demo community: the bundled example roster, invite codes, a worker, an auditor, one open vote,
and simulated users a newcomer can act as (residents of different homes, unbound, holding their codes)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.sandbox.botapi import BotApiServer, SandboxUser
from voting import residents, services
from voting.files import read_roster
from voting.model import Scope, UnitStatus
from voting.ports import UnitOfWork
from voting.residents import Role
from voting.rules import preset
from voting.votes import Vote

__all__ = ["ADMIN_ID", "AUDITOR_ID", "GROUP_ID", "WORKER_ID", "DemoCommunity", "seed_demo"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

WORKER_ID = 900001
AUDITOR_ID = 900002
ADMIN_ID = 900003
GROUP_ID = -1001000001  # the community's owners' group: launches, checkpoints, results


@dataclass(frozen=True)
class DemoCommunity:
    community_id: int
    vote_id: int
    codes: dict[str, str]  # unit id -> invite code
    residents: list[SandboxUser]


async def seed_demo(
    factory: Callable[[], UnitOfWork], api: BotApiServer, now: datetime, *, vote_days: int = 7
) -> DemoCommunity:
    data = (EXAMPLES / "community.csv").read_bytes()
    roster = read_roster(data, "community.csv")
    community = await services.create_community(factory(), "幸福里小区（演示）", now)
    await services.import_roster(factory(), community, roster, "community.csv", data, "sandbox", now)
    invites = await residents.issue_invites(factory(), community, None, now, os.urandom)
    codes = {i.unit_id: i.code for i in invites}
    vote = Vote(
        community,
        "加装电梯 / Install lifts",
        "是否同意为 1–4 号楼加装电梯，费用按《幸福里小区加装电梯方案》分摊？\n"
        "Do you agree to install lifts in buildings 1–4, with costs shared as in the lift plan?",
        preset("double-two-thirds"),
        Scope(),
        now - timedelta(minutes=1),
        now + timedelta(days=vote_days),
        show_turnout=True,
    )
    vote_id = await services.create_vote(factory(), vote, now)
    await services.open_vote(factory(), vote_id, now, os.urandom(32))

    units = list(roster)
    multi = {}
    for unit in units:
        multi.setdefault(roster.owner_of(unit.unit_id), []).append(unit)
    two_homes = next(us for key, us in multi.items() if len(us) == 2 and key.startswith("owner:"))
    developer = next(u for u in units if u.status is not UnitStatus.SOLD)
    picks = [
        (100001, "莫珍", "zh-hans", units[0]),
        (100002, two_homes[0].owner, "zh-hans", two_homes[0]),
        (100003, "Li Wei", "en", next(u for u in units if u.building == "3")),
        (100004, "开发商代表", "zh-hans", developer),
    ]
    people = []
    for user_id, name, language, unit in picks:
        label = f"{name} · {unit.unit_id}"
        hint = f"{codes[unit.unit_id]}"
        people.append(api.add_user(SandboxUser(user_id, name, language, label=label, hint=hint)))
    api.add_user(SandboxUser(WORKER_ID, "社区小李", "zh-hans", label="社区工作人员 / community worker"))
    api.add_user(SandboxUser(AUDITOR_ID, "Auditor Zhang", "en", label="审计员 / auditor"))
    await residents.grant_role(factory(), WORKER_ID, community, Role.WORKER, "社区小李", now)
    await residents.grant_role(factory(), AUDITOR_ID, community, Role.AUDITOR, "Auditor Zhang", now)
    api.add_user(SandboxUser(ADMIN_ID, "管理员", "zh-hans", label="管理员 / administrator (config [admin])"))
    api.add_group(GROUP_ID, "幸福里业主群 / owners' group")
    async with factory() as uow:
        await uow.communities.set_group_chat(community, GROUP_ID)
        await uow.commit()
    return DemoCommunity(community, vote_id, codes, people)
