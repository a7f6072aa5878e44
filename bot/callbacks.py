"""Typed callback data: ids only (the server re-checks everything a button claims); 64 bytes at most."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

__all__ = ["BindingCb", "LangCb", "VoteCb"]


class VoteCb(CallbackData, prefix="v"):
    """`action`: card (show), pick (choice made, ask to confirm), ok (confirmed), back (to the card).

    `nonce` is drawn when the confirmation step is shown: a double tap or a redelivered update of the
    same confirmation carries the same nonce, so it is recorded once (the ballot's idempotency key).
    """

    action: str
    vote_id: int
    choice: str = ""
    nonce: str = ""


class LangCb(CallbackData, prefix="lang"):
    locale: str


class BindingCb(CallbackData, prefix="b"):
    """A worker's action on one binding: `ask` (confirm revoke?) or `revoke`."""

    action: str
    binding_id: int
