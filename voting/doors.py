"""Door-to-door work on a vote: the homes whose owner has not voted, building by building, and the
short code a printed ballot form carries so the worker's paper-ballot entry finds its home.

A home's form code is the first 8 hex digits of its pseudonym in the vote (``unit_ref``, an HMAC
under the vote's own key): it names one home of one vote, says nothing about the home to anyone
without the key, and is printed as ``XXXX-XXXX``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from voting.ports import UnitOfWork
from voting.residents import Role, check_any_role
from voting.votes import Vote

__all__ = [
    "FORM_CODE",
    "HomeToVisit",
    "by_building",
    "form_code",
    "home_for_form_code",
    "not_voted",
    "parse_form_code",
    "unreached",
]

FORM_CODE = re.compile(r"^\s*(?:PB[-_ ]?\d+[-_ ])?([0-9A-Fa-f]{4})[-\s]?([0-9A-Fa-f]{4})\s*$")


@dataclass(frozen=True, slots=True)
class HomeToVisit:
    """A home whose owner has no ballot counting now, with what the visit needs."""

    unit_id: str
    building: str
    entrance: str
    room: str
    owner: str
    phone: str  # "" when the roster has none
    telegram_ids: tuple[int, ...]  # active accounts bound to the owner (empty: nobody uses the chat)
    unit_ref: str = ""  # the home's pseudonym in this vote (its form code is the first 8 digits)

    @property
    def bound(self) -> bool:
        return bool(self.telegram_ids)


async def not_voted(uow: UnitOfWork, telegram_id: int, vote_id: int) -> tuple[Vote, list[HomeToVisit]]:
    """The homes of the vote's frozen roster whose owner has not voted (an owner's ballot through any of
    their homes counts for all of them), for a worker or auditor of its community."""
    async with uow:
        vote = await uow.votes.get(vote_id)
        await check_any_role(uow, telegram_id, vote.community_id, (Role.WORKER, Role.AUDITOR))
        homes = await uow.doors.not_voted(vote_id)
    return vote, sorted(homes, key=_home_order)


def by_building(homes: Iterable[HomeToVisit]) -> list[tuple[str, list[HomeToVisit]]]:
    """The homes grouped by building, buildings as people count them (2 before 10)."""
    groups: dict[str, list[HomeToVisit]] = {}
    for home in homes:
        groups.setdefault(home.building, []).append(home)
    return sorted(groups.items(), key=lambda item: _natural(item[0]))


def unreached(homes: Sequence[HomeToVisit], failed_chats: Iterable[int]) -> list[HomeToVisit]:
    """The homes a reminder did not reach: nobody bound, or every bound account blocked the bot or failed."""
    failed = set(failed_chats)
    return [home for home in homes if not set(home.telegram_ids) - failed]


def form_code(unit_ref: str) -> str:
    """The code printed on a home's ballot form: the first 8 hex digits of its pseudonym, as XXXX-XXXX."""
    return f"{unit_ref[:4]}-{unit_ref[4:8]}".upper()


def parse_form_code(text: str) -> str | None:
    """The 8 hex digits (lower case) of a form code as typed or scanned, or None if text is not one."""
    match = FORM_CODE.match(text)
    return None if match is None else (match[1] + match[2]).lower()


async def home_for_form_code(uow: UnitOfWork, vote_id: int, code: str) -> str | None:
    """The unit id the form code names in this vote, or None (unknown, or, improbably, two homes)."""
    async with uow:
        found = await uow.doors.units_by_ref_prefix(vote_id, code)
    return found[0] if len(found) == 1 else None


def _natural(label: str) -> tuple[int, int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (0, int(digits[:18]), label) if digits else (1, 0, label)


def _home_order(home: HomeToVisit) -> tuple[tuple[int, int, str], tuple[int, int, str], tuple[int, int, str], str]:
    return _natural(home.building), _natural(home.entrance), _natural(home.room), home.unit_id
