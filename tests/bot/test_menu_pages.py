"""The renovation menu as an elderly resident sees it: a class a page, each item's cost to this home,
at most eight buttons on a screen, the running total, and a word that example costs are estimates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.callbacks import MenuCb
from bot.i18n import translator
from bot.sandbox.seed import WORKER_ID
from tests.bot.conftest import Harness
from voting import surveys
from voting.menu import CLASS_TITLES, ItemClass, default_catalogue

ZH = translator("zh_CN")
EN = translator("en")
RESIDENT = 100001


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def _open(h: Harness) -> dict[str, Any]:
    now = h.clock()
    survey = await surveys.create_menu_round(
        h.ctx.uow(), WORKER_ID, h.demo.community_id, "幸福里改造点单", now + timedelta(days=7), now
    )
    await h.say(RESIDENT, f"/start {h.demo.residents[0].hint}")
    listing = await h.say(RESIDENT, ZH("📝 Questionnaires & menu"))
    await h.press(RESIDENT, listing["message_id"], MenuCb(action="open", survey_id=survey.id).pack())
    return h.last(RESIDENT)


async def test_the_shipped_catalogue_shows_a_class_a_page_with_costs_to_this_home_and_says_they_are_estimates(
    h: Harness,
) -> None:
    card = await _open(h)
    catalogue = default_catalogue()
    basic = [item for item in catalogue.items if item.item_class is ItemClass.BASIC]
    assert ZH("Page {page} of {pages}: {title}").split("{")[0] in card["text"]
    assert ZH(CLASS_TITLES[ItemClass.BASIC]) in card["text"]
    assert (
        ZH("These costs are estimates from the example catalogue; the community's plan sets the real ones.")
        in (card["text"])
    )
    assert ZH("Your estimated share in all: {amount}").split("{")[0] in card["text"]
    buttons = _buttons(card)
    assert len(buttons) <= 8
    item_buttons = [text for text, _data in buttons if text[0] in "🔒☑⬜"]
    free = ZH("no cost to residents")
    assert item_buttons and all("¥" in text or free in text for text in item_buttons)  # each item's cost to this home
    required = [item for item in basic if item.required]
    if required:
        assert ZH("🔒 {name}: {cost} (required, included)").split("{")[0] in card["text"]
    # Every page keeps to eight buttons, and the pages together show every item once.
    seen: list[str] = []
    for _page in range(20):
        seen += [text for text, _data in _buttons(card) if text[0] in "🔒☑⬜"]
        following = [data for text, data in _buttons(card) if text.endswith("▶")]
        assert len(_buttons(card)) <= 8
        if not following:
            break
        await h.press(RESIDENT, card["message_id"], following[0])
        card = next(m for m in h.api.messages(RESIDENT) if m["message_id"] == card["message_id"])
    assert len(seen) == len(catalogue.items)
    assert any("¥" in text for text in seen)


async def test_money_is_written_with_thousands_separators() -> None:
    from bot.render import money

    assert money(855_000_000) == "¥8,550,000.00"
    assert money(104_434) == "¥1,044.34"
    assert money(-5) == "-¥0.05"
