"""Start, binding with an invite code, help, language, and the fallback for anything else."""

from __future__ import annotations

import logging
import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.callbacks import LangCb
from bot.context import BotContext
from bot.i18n import LOCALES, Translator, translator
from bot.keyboards import MenuButton, language_buttons, main_menu
from bot.texts import bound_text, help_text, welcome_unbound
from voting import residents
from voting.residents import Role

__all__ = ["build_resident_router"]

log = logging.getLogger(__name__)

CODE_PATTERN = re.compile(r"^\s*[A-Za-z0-9]{4}[\s-]?[A-Za-z0-9]{4}\s*$")


async def menu_for(ctx: BotContext, _: Translator, telegram_id: int) -> tuple[bool, bool]:
    """(bound, worker) for the menu keyboard."""
    bound = bool(await residents.my_bindings(ctx.uow(), telegram_id))
    worker = any(role is Role.WORKER for _c, role in await residents.roles_of(ctx.uow(), telegram_id))
    return bound, worker


async def _bind(message: Message, ctx: BotContext, _: Translator, code: str) -> None:
    assert message.from_user is not None
    binding = await residents.bind(ctx.uow(), message.from_user.id, code, ctx.now())
    bound, worker = await menu_for(ctx, _, message.from_user.id)
    await message.answer(
        bound_text(_, binding) + "\n\n" + _("Tap 🗳 Votes below to see the open votes."),
        reply_markup=main_menu(_, bound=bound, worker=worker),
    )


def build_resident_router() -> Router:
    router = Router(name="resident")

    @router.message(CommandStart(deep_link=True))
    async def start_with_code(message: Message, command: CommandObject, ctx: BotContext, _: Translator) -> None:
        await _bind(message, ctx, _, command.args or "")

    @router.message(CommandStart())
    async def start(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        bound, worker = await menu_for(ctx, _, message.from_user.id)
        if bound:
            text = _("Welcome back. Tap 🗳 Votes to see the open votes, or 📋 My ballots for your receipts.")
        else:
            text = welcome_unbound(_)
        await message.answer(text, reply_markup=main_menu(_, bound=bound, worker=worker))

    @router.message(F.text.regexp(CODE_PATTERN))
    async def code_typed(message: Message, ctx: BotContext, _: Translator) -> None:
        await _bind(message, ctx, _, message.text or "")

    @router.message(Command("help"))
    @router.message(MenuButton("help"))
    async def show_help(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        bound, worker = await menu_for(ctx, _, message.from_user.id)
        auditor = any(role is Role.AUDITOR for _c, role in await residents.roles_of(ctx.uow(), message.from_user.id))
        await message.answer(
            help_text(_, bound=bound, worker=worker, auditor=auditor),
            reply_markup=main_menu(_, bound=bound, worker=worker),
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
        bound, worker = await menu_for(ctx, _, query.from_user.id)
        if query.message is not None:
            await query.message.answer(
                _("Language set: English."), reply_markup=main_menu(_, bound=bound, worker=worker)
            )

    return router


def build_fallback_router() -> Router:
    """Last in line: any other text, and buttons whose data does not parse (stale or forged)."""
    router = Router(name="fallback")

    @router.message()
    async def anything_else(message: Message, ctx: BotContext, _: Translator) -> None:
        if message.from_user is None:
            return
        bound, worker = await menu_for(ctx, _, message.from_user.id)
        text = _("Please use the buttons below.") if bound else welcome_unbound(_)
        await message.answer(text, reply_markup=main_menu(_, bound=bound, worker=worker))

    @router.callback_query()
    async def unknown_button(query: CallbackQuery, _: Translator) -> None:
        log.warning("refused a callback that does not parse: %r from user %s", query.data, query.from_user.id)
        await query.answer(_("This button is no longer valid. Please open the menu again."), show_alert=True)

    return router
