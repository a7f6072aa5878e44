"""Accounts, invite codes, bindings and roles: who may vote for which owner, and who runs a community.

An invite code is printed for one unit; using it binds a chat account to that unit's owner (as
the roster counts owners, so a multi-unit owner's code binds all their units). A code works once;
reissuing a unit's code revokes the old one if unused. Several accounts may be bound to one owner
(co-owners, family), each through its own code. Randomness comes in as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from voting.errors import InviteError, NotBoundError, NotFoundError, OutOfScopeError, PermissionDeniedError
from voting.ledger import LedgerEntry
from voting.model import Choice
from voting.ports import UnitOfWork
from voting.votes import Vote, VoteStatus

__all__ = [
    "CODE_ALPHABET",
    "Account",
    "Binding",
    "Invite",
    "OwnerVote",
    "Role",
    "acting_community",
    "bind",
    "binding_for_worker",
    "bindings_of_community",
    "check_any_role",
    "check_role",
    "choose_community",
    "ensure_account",
    "issue_invites",
    "my_bindings",
    "new_code",
    "normalize_code",
    "owner_vote",
    "owner_votes",
    "require_role",
    "revoke_binding",
    "revoke_role",
    "roles_of",
    "set_account_active",
    "set_language",
]

#: No 0/O, 1/I/L: codes are read off paper by elderly residents and typed on a phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class Role(StrEnum):
    WORKER = "worker"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    telegram_id: int
    language: str | None
    active: bool
    name: str
    current_community_id: int | None = None


@dataclass(frozen=True, slots=True)
class Invite:
    id: int
    community_id: int
    unit_id: str
    owner_key: str
    code: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Binding:
    id: int
    account_id: int
    telegram_id: int
    account_name: str
    community_id: int
    community_name: str
    owner_key: str
    unit_id: str  # the unit of the invite code used
    units: tuple[tuple[str, int], ...]  # the owner's units in the latest roster: (unit id, area)
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def area(self) -> int:
        return sum(area for _unit, area in self.units)


@dataclass(frozen=True, slots=True)
class OwnerVote:
    """A vote as one bound owner sees it: their units in its scope, their current ballot, their receipts."""

    vote: Vote
    owner_key: str
    units: tuple[tuple[str, int], ...]  # (unit id, area) in the vote's frozen roster
    choice: Choice | None
    entries: tuple[LedgerEntry, ...]  # this owner's ledger entries, oldest first

    @property
    def area(self) -> int:
        return sum(area for _unit, area in self.units)


def new_code(random_bytes: Callable[[int], bytes]) -> str:
    """An 8-character code from CODE_ALPHABET (about 40 bits), shown as XXXX-XXXX."""
    raw = random_bytes(CODE_LENGTH * 2)
    chars: list[str] = []
    for i in range(CODE_LENGTH):
        value = int.from_bytes(raw[2 * i : 2 * i + 2], "big")
        chars.append(CODE_ALPHABET[value % len(CODE_ALPHABET)])  # bias < 0.05%: 65536 = 2114 * 31 + 2
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


def normalize_code(text: str) -> str:
    """What a person typed or a deep link carried -> the stored form (upper case, XXXX-XXXX)."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(cleaned) != CODE_LENGTH:
        return cleaned
    return cleaned[:4] + "-" + cleaned[4:]


async def ensure_account(
    uow: UnitOfWork, telegram_id: int, name: str, now: datetime, app_locale: str | None = None
) -> Account:
    """The account of a Telegram user, created on first contact; an account that writes again is active.

    `app_locale` is the language of the user's Telegram app as the bot maps it: what messages the
    bot sends on its own (announcements, reminders) are written in, unless the user picked one."""
    async with uow:
        account = await uow.accounts.get_or_add(telegram_id, name, now, app_locale)
        await uow.commit()
    return account


async def set_language(uow: UnitOfWork, telegram_id: int, locale: str) -> None:
    async with uow:
        await uow.accounts.set_language(telegram_id, locale)
        await uow.commit()


async def set_account_active(uow: UnitOfWork, telegram_id: int, active: bool) -> None:
    """Mark an account that blocked the bot (Telegram answered 403) inactive, or active again."""
    async with uow:
        await uow.accounts.set_active(telegram_id, active)
        await uow.commit()


async def issue_invites(
    uow: UnitOfWork,
    community_id: int,
    unit_ids: Sequence[str] | None,
    now: datetime,
    random_bytes: Callable[[int], bytes],
    *,
    expires_at: datetime | None = None,
) -> list[Invite]:
    """A fresh code for each unit (all units of the latest roster when `unit_ids` is None).

    A unit's earlier codes that were never used stop working; bindings made with used ones stay.
    """
    async with uow:
        version_id = await uow.rosters.latest(community_id)
        if version_id is None:
            raise NotFoundError("roster of community", community_id)
        roster = await uow.rosters.load(version_id)
        wanted = [u.unit_id for u in roster] if unit_ids is None else list(unit_ids)
        for unit_id in wanted:
            if unit_id not in roster:
                raise NotFoundError("unit", unit_id)
        await uow.invites.revoke_unused(community_id, wanted, now)
        invites = [
            Invite(0, community_id, unit_id, roster.owner_of(unit_id), new_code(random_bytes), expires_at)
            for unit_id in wanted
        ]
        stored = await uow.invites.add_many(invites, now)
        await uow.commit()
    return stored


async def bind(uow: UnitOfWork, telegram_id: int, code_text: str, now: datetime) -> Binding:
    """Bind the account to the owner of the code's unit. Using one's own code again returns the binding."""
    code = normalize_code(code_text)
    async with uow:
        account = await uow.accounts.get(telegram_id)
        invite = await uow.invites.find(code)
        if invite is None:
            raise InviteError("unknown", code)
        if invite.used_at is not None:
            existing = await uow.bindings.by_invite(invite.id)
            if existing is not None and existing.account_id == account.id and existing.revoked_at is None:
                return existing  # the same update delivered twice, or the resident tapped the link again
            raise InviteError("used", code)
        if invite.revoked_at is not None:
            raise InviteError("revoked", code)
        if invite.expires_at is not None and now >= invite.expires_at:
            raise InviteError("expired", code)
        await uow.invites.mark_used(invite.id, account.id, now)
        binding_id = await uow.bindings.add(account.id, invite, now)
        binding = await uow.bindings.get(binding_id)
        await uow.commit()
    return binding


async def my_bindings(uow: UnitOfWork, telegram_id: int) -> list[Binding]:
    async with uow:
        account = await uow.accounts.find(telegram_id)
        return [] if account is None else await uow.bindings.of_account(account.id)


async def bindings_of_community(uow: UnitOfWork, telegram_id: int, community_id: int) -> list[Binding]:
    """Every active binding of a community, for its workers."""
    async with uow:
        await check_role(uow, telegram_id, community_id, Role.WORKER)
        return await uow.bindings.of_community(community_id)


async def binding_for_worker(uow: UnitOfWork, telegram_id: int, binding_id: int) -> Binding:
    """One binding, for a worker of its community (PermissionDeniedError for anyone else)."""
    async with uow:
        binding = await uow.bindings.get(binding_id)
        await check_role(uow, telegram_id, binding.community_id, Role.WORKER)
        return binding


async def revoke_binding(uow: UnitOfWork, telegram_id: int, binding_id: int, now: datetime) -> Binding:
    """A worker unbinds an account (a lost phone, a sold flat). Idempotent."""
    async with uow:
        binding = await uow.bindings.get(binding_id)
        await check_role(uow, telegram_id, binding.community_id, Role.WORKER)
        if binding.revoked_at is None:
            await uow.bindings.revoke(binding_id, now)
            binding = await uow.bindings.get(binding_id)
            await uow.commit()
    return binding


async def grant_role(
    uow: UnitOfWork, telegram_id: int, community_id: int, role: Role, name: str, now: datetime
) -> None:
    """Give an account a role in a community (the admin does this; the sandbox seeds it). Idempotent."""
    async with uow:
        await uow.communities.name(community_id)
        account = await uow.accounts.get_or_add(telegram_id, name, now)
        await uow.roles.grant(account.id, community_id, role, now)
        await uow.commit()


async def roles_of(uow: UnitOfWork, telegram_id: int) -> list[tuple[int, Role]]:
    async with uow:
        account = await uow.accounts.find(telegram_id)
        return [] if account is None else await uow.roles.of_account(account.id)


async def check_role(uow: UnitOfWork, telegram_id: int, community_id: int, role: Role) -> Account:
    """Inside a transaction the caller holds: the account, if it has `role` in the community."""
    account = await uow.accounts.find(telegram_id)
    if account is None or (community_id, role) not in await uow.roles.of_account(account.id):
        raise PermissionDeniedError(telegram_id, str(role), community_id)
    return account


async def check_any_role(uow: UnitOfWork, telegram_id: int, community_id: int, roles: Sequence[Role]) -> Account:
    """Inside a transaction the caller holds: the account, if it has one of `roles` in the community."""
    account = await uow.accounts.find(telegram_id)
    held = set() if account is None else set(await uow.roles.of_account(account.id))
    if account is None or not any((community_id, role) in held for role in roles):
        raise PermissionDeniedError(telegram_id, "/".join(map(str, roles)), community_id)
    return account


async def acting_community(
    uow: UnitOfWork, telegram_id: int, roles: Sequence[Role] = (Role.WORKER,)
) -> tuple[int, str, list[tuple[int, str]]]:
    """The community a worker (or auditor) acts on — the one chosen with /community, else the
    first — its name, and all the communities where they hold one of `roles`."""
    async with uow:
        account = await uow.accounts.find(telegram_id)
        held = [] if account is None else await uow.roles.of_account(account.id)
        ids = list(dict.fromkeys(c for c, role in held if role in roles))
        if account is None or not ids:
            raise PermissionDeniedError(telegram_id, "/".join(str(r) for r in roles), None)
        chosen = account.current_community_id if account.current_community_id in ids else ids[0]
        named = [(c, await uow.communities.name(c)) for c in ids]
    return chosen, dict(named)[chosen], named


async def choose_community(uow: UnitOfWork, telegram_id: int, community_id: int) -> str:
    """A worker or auditor of several communities picks the one their commands act on."""
    async with uow:
        account = await uow.accounts.find(telegram_id)
        held = [] if account is None else await uow.roles.of_account(account.id)
        if account is None or community_id not in {c for c, _role in held}:
            raise PermissionDeniedError(telegram_id, "worker/auditor", community_id)
        await uow.accounts.set_current_community(telegram_id, community_id)
        name = await uow.communities.name(community_id)
        await uow.commit()
    return name


async def revoke_role(uow: UnitOfWork, telegram_id: int, community_id: int, role: Role) -> bool:
    """Take a role back (the admin does this); False when the account did not hold it."""
    async with uow:
        account = await uow.accounts.find(telegram_id)
        if account is None:
            return False
        revoked = await uow.roles.revoke(account.id, community_id, role)
        await uow.commit()
    return revoked


async def require_role(uow: UnitOfWork, telegram_id: int, community_id: int, role: Role) -> None:
    async with uow:
        await check_role(uow, telegram_id, community_id, role)


async def owner_votes(
    uow: UnitOfWork, telegram_id: int, statuses: Sequence[VoteStatus] = (VoteStatus.OPEN,)
) -> list[OwnerVote]:
    """The votes of the account's owners, in given statuses, newest first; NotBoundError when unbound."""
    async with uow:
        account = await uow.accounts.find(telegram_id)
        bindings = [] if account is None else await uow.bindings.of_account(account.id)
        if not bindings:
            raise NotBoundError(telegram_id)
        seen: set[tuple[int, str]] = set()
        found: list[OwnerVote] = []
        for binding in bindings:
            for vote, units, owner_ref in await uow.votes.of_owner(binding.community_id, binding.owner_key, statuses):
                if (vote.id, binding.owner_key) in seen:
                    continue
                seen.add((vote.id, binding.owner_key))
                entries = tuple(await uow.ledger.of_owner(vote.id, owner_ref))
                choice = entries[-1].choice if entries else None
                found.append(OwnerVote(vote, binding.owner_key, tuple(units), choice, entries))
    found.sort(key=lambda ov: (ov.vote.closes_at, ov.vote.id), reverse=True)
    return found


async def owner_vote(uow: UnitOfWork, telegram_id: int, vote_id: int) -> OwnerVote:
    """One vote as the account's owner sees it, whatever its status; OutOfScopeError when it is not theirs
    (a forged or stale button), NotBoundError when the account is bound to nobody."""
    for seen in await owner_votes(uow, telegram_id, tuple(VoteStatus)):
        if seen.vote.id == vote_id:
            return seen
    raise OutOfScopeError(vote_id, "")
