"""Community workers: the accounts bound to homes of their community, and unbinding one."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.callbacks import BindingCb
from bot.context import BotContext
from bot.handlers.votes import edit
from bot.i18n import Translator, translator
from bot.keyboards import MenuButton, revoke_ask_button, revoke_confirm_buttons
from voting import residents
from voting.errors import NotFoundError, PermissionDeniedError
from voting.residents import Binding, Role

__all__ = ["build_worker_router"]

log = logging.getLogger(__name__)

PAGE = 40  # bindings a message: well under Telegram's 4096 characters and 100 buttons


def _line(ctx: BotContext, binding: Binding) -> str:
    name = binding.account_name or str(binding.telegram_id)
    return f"{binding.unit_id} · {name} · {ctx.local(binding.created_at)}"


async def _tell_unbound(ctx: BotContext, bot: Bot, binding: Binding) -> None:
    """The resident learns their account no longer votes for the home, and their keyboard loses the
    resident's buttons (unless another home is still bound)."""
    from bot.handlers.resident import menu_for

    async with ctx.uow() as uow:
        account = await uow.accounts.find(binding.telegram_id)
    _ = translator(account.language if account is not None and account.language else ctx.default_locale)
    roles = await menu_for(ctx, _, binding.telegram_id)
    text = _(
        "Your account is no longer linked to home {unit}: the community worker unbound it. If this is a mistake, ask "
        "them for a new invite code."
    ).format(unit=binding.unit_id)
    try:
        await bot.send_message(binding.telegram_id, text, reply_markup=roles.menu(_))
    except TelegramAPIError as exc:  # blocked or gone: the unbinding stands regardless
        log.info("could not tell %s of the unbinding: %s", binding.telegram_id, exc)


def build_worker_router() -> Router:
    router = Router(name="worker")

    @router.message(Command("bindings"))
    @router.message(MenuButton("bindings"))
    async def list_bindings(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        communities = [
            c for c, role in await residents.roles_of(ctx.uow(), message.from_user.id) if role is Role.WORKER
        ]
        if not communities:
            raise PermissionDeniedError(message.from_user.id, str(Role.WORKER), None)
        for community_id in communities:
            bindings = await residents.bindings_of_community(ctx.uow(), message.from_user.id, community_id)
            if not bindings:
                await message.answer(_("No account is bound to a home of this community yet."))
                continue
            for start in range(0, len(bindings), PAGE):
                page = bindings[start : start + PAGE]
                header = _("Bound accounts ({community}), {first}–{last} of {count}:").format(
                    community=page[0].community_name, first=start + 1, last=start + len(page), count=len(bindings)
                )
                text = "\n".join([header, *(_line(ctx, b) for b in page)])
                rows = [revoke_ask_button(_, b.id, f"{b.unit_id} · {b.account_name or b.telegram_id}") for b in page]
                await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    @router.callback_query(BindingCb.filter())
    async def binding_button(
        query: CallbackQuery, callback_data: BindingCb, bot: Bot, ctx: BotContext, _: Translator
    ) -> None:
        if callback_data.action == "ask":
            try:  # the role is checked before anything about the binding is shown
                binding = await residents.binding_for_worker(ctx.uow(), query.from_user.id, callback_data.binding_id)
            except (NotFoundError, PermissionDeniedError):
                binding = None
            if binding is None or binding.revoked_at is not None:
                await query.answer(_("This binding no longer exists or is not in your community."), show_alert=True)
                return
            await query.answer()
            if query.message is not None:
                await query.message.answer(
                    _("Unbind {line}? That account can no longer vote for this home until it uses a new code.").format(
                        line=_line(ctx, binding)
                    ),
                    reply_markup=revoke_confirm_buttons(_, binding.id),
                )
            return
        if callback_data.action == "revoke":
            before = await residents.binding_for_worker(ctx.uow(), query.from_user.id, callback_data.binding_id)
            binding = await residents.revoke_binding(ctx.uow(), query.from_user.id, callback_data.binding_id, ctx.now())
            await query.answer(_("Unbound"))
            await edit(query, _("Unbound: {line}").format(line=_line(ctx, binding)), None)
            if before is not None and before.revoked_at is None:  # this tap unbound it: tell the resident once
                await _tell_unbound(ctx, bot, binding)
            return
        await query.answer(_("This button is no longer valid. Please open the menu again."), show_alert=True)

    return router
