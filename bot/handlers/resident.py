"""Start, binding with an invite code, help, language, and the fallback for anything else."""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, ReplyKeyboardMarkup

from bot.callbacks import LangCb
from bot.context import BotContext
from bot.i18n import LOCALES, Translator, translator
from bot.keyboards import MenuButton, language_buttons, main_menu
from bot.texts import auditor_welcome, bound_text, help_text, welcome_unbound, worker_welcome
from voting import residents
from voting.audit import fingerprint
from voting.residents import Role

__all__ = ["build_resident_router"]

log = logging.getLogger(__name__)

FORM_LINK = re.compile(r"^pb(\d{1,12})(?:_([0-9A-Fa-f]{8}))?$")  # bot.handlers.doors.form_link
CODE_PATTERN = re.compile(r"^\s*[A-Za-z0-9]{4}[\s-]?[A-Za-z0-9]{4}\s*$")


class Roles(NamedTuple):
    """What the menu keyboard offers a person: a resident's buttons when bound, a worker's, an auditor's."""

    bound: bool
    worker: bool
    auditor: bool

    def menu(self, _: Translator) -> ReplyKeyboardMarkup:
        return main_menu(_, bound=self.bound, worker=self.worker, auditor=self.auditor)


async def menu_for(ctx: BotContext, _: Translator, telegram_id: int) -> Roles:
    """The person's roles, for the menu keyboard and the welcome."""
    bound = bool(await residents.my_bindings(ctx.uow(), telegram_id))
    held = {role for _c, role in await residents.roles_of(ctx.uow(), telegram_id)}
    return Roles(bound, Role.WORKER in held, Role.AUDITOR in held)


def welcome_text(ctx: BotContext, _: Translator, roles: Roles) -> str:
    """/start: what this person can do here, by role (a worker, an auditor, a resident, or nobody yet)."""
    parts = []
    if roles.worker:
        parts.append(worker_welcome(_))
    if roles.auditor:
        parts.append(auditor_welcome(_, key_fingerprint(ctx)))
    if roles.bound:
        parts.append(_("Welcome back. Tap 🗳 Votes to see the open votes, or 📋 My ballots for your receipts."))
    return "\n\n".join(parts) or welcome_unbound(_)


def key_fingerprint(ctx: BotContext) -> str:
    """The fingerprint of the key that signs tallies, for an auditor to compare with the published one
    ("—" while this server has none: `renovote run` makes one at its first start)."""
    try:
        key = ctx.signing_key()
    except RuntimeError:  # no key configured (a test context): nothing has been signed either
        return "—"
    return fingerprint(key.public_key())


async def _bind(message: Message, ctx: BotContext, _: Translator, code: str) -> None:
    assert message.from_user is not None
    binding = await residents.bind(ctx.uow(), message.from_user.id, code, ctx.now())
    roles = await menu_for(ctx, _, message.from_user.id)
    await message.answer(
        bound_text(_, binding) + "\n\n" + _("Tap 🗳 Votes below to see the open votes."), reply_markup=roles.menu(_)
    )


def build_resident_router() -> Router:
    router = Router(name="resident")

    @router.message(CommandStart(deep_link=True))
    async def start_with_code(
        message: Message, command: CommandObject, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        form = FORM_LINK.match(command.args or "")
        if form is not None:  # a worker scanned a paper ballot form's QR code
            from bot.handlers.conversation import start_paper_from_form

            assert message.from_user is not None
            await start_paper_from_form(ctx, bot, _, message.from_user.id, message.chat.id, int(form[1]), form[2] or "")
            return
        await _bind(message, ctx, _, command.args or "")

    @router.message(CommandStart())
    async def start(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        roles = await menu_for(ctx, _, message.from_user.id)
        await message.answer(welcome_text(ctx, _, roles), reply_markup=roles.menu(_))

    @router.message(F.text.regexp(CODE_PATTERN))
    async def code_typed(message: Message, ctx: BotContext, _: Translator) -> None:
        await _bind(message, ctx, _, message.text or "")

    @router.message(Command("help"))
    @router.message(MenuButton("help"))
    async def show_help(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        roles = await menu_for(ctx, _, message.from_user.id)
        await message.answer(
            help_text(_, bound=roles.bound, worker=roles.worker, auditor=roles.auditor), reply_markup=roles.menu(_)
        )

    @router.message(Command("language"))
    @router.message(MenuButton("language"))
    async def choose_language(message: Message, _: Translator) -> None:
        await message.answer(_("Choose your language / 请选择语言"), reply_markup=language_buttons())

    @router.callback_query(LangCb.filter())
    async def set_language(query: CallbackQuery, callback_data: LangCb, ctx: BotContext) -> None:
        locale = callback_data.locale if callback_data.locale in LOCALES else ctx.default_locale
        await residents.set_language(ctx.uow(), query.from_user.id, locale)
        _ = translator(locale)
        await query.answer()
        roles = await menu_for(ctx, _, query.from_user.id)
        if query.message is not None:
            await query.message.answer(_("Language set: English."), reply_markup=roles.menu(_))

    return router


def build_fallback_router() -> Router:
    """Last in line: any other text, and buttons whose data does not parse (stale or forged)."""
    router = Router(name="fallback")

    @router.message()
    async def anything_else(message: Message, ctx: BotContext, _: Translator) -> None:
        if message.from_user is None:
            return
        roles = await menu_for(ctx, _, message.from_user.id)
        text = _("Please use the buttons below.") if any(roles) else welcome_unbound(_)
        await message.answer(text, reply_markup=roles.menu(_))

    @router.callback_query()
    async def unknown_button(query: CallbackQuery, _: Translator) -> None:
        log.warning("refused a callback that does not parse: %r from user %s", query.data, query.from_user.id)
        await query.answer(_("This button is no longer valid. Please open the menu again."), show_alert=True)

    return router
