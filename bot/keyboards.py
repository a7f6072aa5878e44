"""Keyboards: a persistent reply-keyboard menu (no slash command ever needed) and large inline buttons."""

from __future__ import annotations

from functools import cache

from aiogram.filters import Filter
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from bot.callbacks import BindingCb, LangCb, ObjectionCb, VoteCb
from bot.i18n import LOCALES, Translator, translator
from voting.errors import N_
from voting.model import Choice

__all__ = [
    "MenuButton",
    "button",
    "choice_label",
    "is_menu_label",
    "main_menu",
    "menu_label",
    "object_button",
    "open_vote_markup",
    "rows_of",
]


MENU = {
    "votes": N_("🗳 Votes"),
    "my": N_("📋 My ballots"),
    "help": N_("❓ Help"),
    "language": N_("🌐 Language"),
    "bindings": N_("👥 Bindings"),
    "manage": N_("🛠 Manage votes"),
    "new_vote": N_("➕ New vote"),
    "surveys": N_("📝 Questionnaires & menu"),
    "staff_surveys": N_("📝 Surveys & projects"),
    "export": N_("📦 Export audit bundle"),
    "fingerprint": N_("🔑 Signing key"),
}

CHOICES = {
    Choice.AGREE: N_("✅ Agree"),
    Choice.DISAGREE: N_("❌ Disagree"),
    Choice.ABSTAIN: N_("⚪ Abstain"),
}


def menu_label(_: Translator, action: str) -> str:
    return _(MENU[action])


def choice_label(_: Translator, choice: Choice) -> str:
    return _(CHOICES[choice])


@cache
def _labels(action: str) -> frozenset[str]:
    return frozenset(translator(locale)(MENU[action]) for locale in LOCALES)


class MenuButton(Filter):
    """Matches a menu button's text in any language (the user may have switched language since)."""

    def __init__(self, action: str) -> None:
        self.action = action

    def matches(self, text: str) -> bool:
        return text.strip() in _labels(self.action)

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and self.matches(message.text)


def is_menu_label(text: str) -> bool:
    """Whether `text` is one of the menu keyboard's buttons, in any language: a conversation waiting
    for typed text lets these through to their own handlers."""
    return any(MenuButton(action).matches(text) for action in MENU)


def main_menu(_: Translator, *, bound: bool, worker: bool = False, auditor: bool = False) -> ReplyKeyboardMarkup:
    """The keyboard under the chat: a resident's buttons only once bound, then a worker's and an auditor's."""
    rows = []
    if bound:
        rows.append([KeyboardButton(text=menu_label(_, "votes")), KeyboardButton(text=menu_label(_, "my"))])
        rows.append([KeyboardButton(text=menu_label(_, "surveys"))])
    if worker:
        rows.append([KeyboardButton(text=menu_label(_, "manage")), KeyboardButton(text=menu_label(_, "new_vote"))])
        rows.append(
            [KeyboardButton(text=menu_label(_, "staff_surveys")), KeyboardButton(text=menu_label(_, "bindings"))]
        )
    if auditor:
        rows.append([KeyboardButton(text=menu_label(_, "export")), KeyboardButton(text=menu_label(_, "fingerprint"))])
    rows.append([KeyboardButton(text=menu_label(_, "help")), KeyboardButton(text=menu_label(_, "language"))])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def vote_buttons(_: Translator, vote_id: int) -> InlineKeyboardMarkup:
    """One large button per row: easier to hit for elderly residents."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=choice_label(_, c), callback_data=VoteCb(action="pick", vote_id=vote_id, choice=str(c)).pack()
                )
            ]
            for c in (Choice.AGREE, Choice.DISAGREE, Choice.ABSTAIN)
        ]
    )


def confirm_buttons(_: Translator, vote_id: int, choice: Choice, nonce: str) -> InlineKeyboardMarkup:
    ok = VoteCb(action="ok", vote_id=vote_id, choice=str(choice), nonce=nonce).pack()
    back = VoteCb(action="card", vote_id=vote_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✔ Yes, submit"), callback_data=ok)],
            [InlineKeyboardButton(text=_("↩ Back"), callback_data=back)],
        ]
    )


def change_button(_: Translator, vote_id: int) -> InlineKeyboardMarkup:
    card = VoteCb(action="card", vote_id=vote_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("🔁 Change my vote"), callback_data=card)]]
    )


def open_vote_button(_: Translator, vote_id: int, title: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=title[:60], callback_data=VoteCb(action="card", vote_id=vote_id).pack())]


def language_buttons() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="简体中文", callback_data=LangCb(locale="zh_CN").pack())],
            [InlineKeyboardButton(text="English", callback_data=LangCb(locale="en").pack())],
        ]
    )


def revoke_ask_button(_: Translator, binding_id: int, label: str) -> list[InlineKeyboardButton]:
    data = BindingCb(action="ask", binding_id=binding_id).pack()
    return [InlineKeyboardButton(text=_("Unbind {label}").format(label=label), callback_data=data)]


def revoke_confirm_buttons(_: Translator, binding_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✔ Yes, unbind"), callback_data=BindingCb(action="revoke", binding_id=binding_id).pack()
                )
            ],
        ]
    )


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def rows_of(buttons: list[InlineKeyboardButton], per_row: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


def open_vote_markup(_: Translator, vote_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[button(_("🗳 Open the vote"), VoteCb(action="card", vote_id=vote_id).pack())]]
    )


def object_button(_: Translator, vote_id: int) -> InlineKeyboardMarkup:
    """Under a preliminary result: dispute how one's own ballot was recorded."""
    label = _("✋ My ballot was recorded wrongly")
    return InlineKeyboardMarkup(inline_keyboard=[[button(label, ObjectionCb(action="file", ref=vote_id).pack())]])
