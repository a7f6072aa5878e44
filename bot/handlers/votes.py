"""Voting: the list of open votes, a vote card, choose → confirm → recorded with a receipt; /my."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.callbacks import VoteCb
from bot.context import BotContext
from bot.i18n import Translator
from bot.keyboards import MenuButton, change_button, confirm_buttons, open_vote_button, vote_buttons
from bot.texts import confirm_text, describe_error, my_text, receipt_text, vote_card
from voting import residents, services
from voting.errors import DuplicateSubmissionError, VoteStateError
from voting.model import Choice
from voting.residents import OwnerVote
from voting.services import BallotRequest
from voting.votes import VoteStatus

__all__ = ["build_votes_router"]

log = logging.getLogger(__name__)


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit the message the button was on; a double tap that changes nothing is not an error."""
    if query.message is None or not hasattr(query.message, "edit_text"):
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            raise


async def _card(ctx: BotContext, _: Translator, seen: OwnerVote) -> tuple[str, InlineKeyboardMarkup | None]:
    turnout = None
    if seen.vote.show_turnout and seen.vote.status is not VoteStatus.SCHEDULED:
        _vote, turnout = await services.current_tally(ctx.uow(), seen.vote.id)
    text = vote_card(ctx, _, seen, turnout)
    try:
        services.check_accepts_ballots(seen.vote, ctx.now())
    except VoteStateError as refusal:  # closed, or not open yet: the card without buttons, and why
        return text + "\n\n" + describe_error(ctx, _, refusal), None
    return text, vote_buttons(_, seen.vote.id)


def build_votes_router() -> Router:
    router = Router(name="votes")

    @router.message(Command("votes"))
    @router.message(MenuButton("votes"))
    async def list_votes(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        found = [
            seen
            for seen in await residents.owner_votes(ctx.uow(), message.from_user.id)
            if ctx.now() < seen.vote.closes_at
        ]
        if not found:
            await message.answer(_("There is no open vote for your home right now. We will tell you when one opens."))
            return
        if len(found) == 1:
            text, markup = await _card(ctx, _, found[0])
            await message.answer(text, reply_markup=markup)
            return
        rows = [open_vote_button(_, seen.vote.id, seen.vote.title) for seen in found]
        await message.answer(
            _("Open votes for your home — tap one:"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
        )

    @router.callback_query(VoteCb.filter())
    async def vote_button(query: CallbackQuery, callback_data: VoteCb, ctx: BotContext, _: Translator) -> None:
        seen = await residents.owner_vote(ctx.uow(), query.from_user.id, callback_data.vote_id)
        if callback_data.action == "card":
            text, markup = await _card(ctx, _, seen)
            await edit(query, text, markup)
            await query.answer()
            return
        try:
            choice = Choice(callback_data.choice)
        except ValueError:
            log.warning("refused a vote button with choice %r from user %s", callback_data.choice, query.from_user.id)
            await query.answer(_("This button is no longer valid. Please open the menu again."), show_alert=True)
            return
        services.check_accepts_ballots(seen.vote, ctx.now())
        if callback_data.action == "pick":
            nonce = ctx.random_bytes(5).hex()
            await edit(
                query, confirm_text(_, seen.vote, choice, seen.choice), confirm_buttons(_, seen.vote.id, choice, nonce)
            )
            await query.answer()
            return
        if callback_data.action != "ok" or not callback_data.nonce:
            await query.answer(_("This button is no longer valid. Please open the menu again."), show_alert=True)
            return
        key = f"tg:{query.from_user.id}:{callback_data.nonce}"
        request = BallotRequest(
            unit_id=seen.units[0][0],
            choice=choice,
            actor=f"account:{query.from_user.id}",
            now=ctx.now(),
            idempotency_key=key,
        )
        try:
            receipt = await ctx.appender.cast(seen.vote.id, request)
        except DuplicateSubmissionError as exc:
            # A double tap or a redelivered update: the first one stands; say so, once more.
            await query.answer(_("Already recorded. Receipt code: {receipt}").format(receipt=exc.receipt or "—"))
            return
        await edit(query, receipt_text(ctx, _, seen.vote, receipt), change_button(_, seen.vote.id))
        await query.answer(_("Recorded"))

    @router.message(Command("my"))
    @router.message(MenuButton("my"))
    async def my_ballots(message: Message, ctx: BotContext, _: Translator) -> None:
        assert message.from_user is not None
        votes = await residents.owner_votes(ctx.uow(), message.from_user.id, tuple(VoteStatus))
        bindings = await residents.my_bindings(ctx.uow(), message.from_user.id)
        text = my_text(ctx, _, bindings, votes)
        for start in range(0, len(text), 4000):  # Telegram's limit is 4096 characters a message
            await message.answer(text[start : start + 4000])

    return router
