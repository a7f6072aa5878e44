"""Typed callback data: ids only (the server re-checks everything a button claims); 64 bytes at most."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

__all__ = [
    "BindingCb",
    "CommunityCb",
    "DraftCb",
    "LangCb",
    "MenuCb",
    "ObjectionCb",
    "ProjectCb",
    "QuestionCb",
    "SurveyCb",
    "VoteCb",
    "WorkCb",
]


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


class WorkCb(CallbackData, prefix="w"):
    """A worker's action on a vote of their community: turnout, extend, remind, close, paper, objections,
    export. The role is checked again on every press."""

    action: str
    vote_id: int


class DraftCb(CallbackData, prefix="d"):
    """A choice in a worker's conversation kept as a draft (wizard step, confirm or cancel a file)."""

    draft_id: int
    action: str  # set, ok, cancel, again
    value: str = ""
    step: str = ""  # the step the button answers (set only)


class ObjectionCb(CallbackData, prefix="o"):
    """`file` (a resident objects to how their ballot of vote `ref` was recorded) or a worker's answer to
    objection `ref`: keep, agree, disagree, abstain, withdraw."""

    action: str
    ref: int


class CommunityCb(CallbackData, prefix="c"):
    community_id: int


class SurveyCb(CallbackData, prefix="s"):
    """A worker's action on a questionnaire or menu round of their community (`action`: results, close,
    ...); the role is checked again on every press."""

    action: str
    survey_id: int
    value: str = ""


class QuestionCb(CallbackData, prefix="q"):
    """A resident answering questionnaire `survey_id`: `action` open, answer, back, review, submit, ...;
    `question` is the question's place in the questionnaire, `value` an option's place (never texts)."""

    action: str
    survey_id: int
    question: int = -1
    value: str = ""


class MenuCb(CallbackData, prefix="m"):
    """A resident ticking items of menu round `survey_id`: `action` open, page, toggle, submit, ...;
    `item` is the item's place in the round's catalogue (never its text), `page` the page shown."""

    action: str
    survey_id: int
    item: int = -1
    page: int = 0


class ProjectCb(CallbackData, prefix="p"):
    """A worker's action on a renovation project (card, start a stage, notice, refreeze, abandon)."""

    action: str
    project_id: int
    value: str = ""
