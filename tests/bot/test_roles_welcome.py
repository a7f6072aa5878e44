"""Each role gets its own welcome and keyboard: a worker's tools, an auditor's export and signing-key
fingerprint, a resident's votes; a resident who is unbound is told and loses the resident's buttons."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.i18n import translator
from bot.keyboards import menu_label
from bot.sandbox.seed import AUDITOR_ID, WORKER_ID
from tests.bot.conftest import Harness
from voting.audit import fingerprint

ZH = translator("zh_CN")
EN = translator("en")
RESIDENT = 100001


def _keyboard(h: Harness, user: int) -> list[str]:
    """The keyboard under the user's chat as it is now (the sandbox keeps the last one sent)."""
    markup = h.api.keyboard(user) or {}
    return [b["text"] for row in markup.get("keyboard", []) for b in row]


def _inline(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_a_worker_is_welcomed_with_what_a_worker_does_and_the_worker_keyboard(h: Harness) -> None:
    from bot.texts import worker_welcome

    welcome = await h.say(WORKER_ID, "/start")
    assert welcome["text"] == worker_welcome(ZH)
    keys = _keyboard(h, WORKER_ID)
    assert menu_label(ZH, "manage") in keys and menu_label(ZH, "new_vote") in keys
    assert menu_label(ZH, "votes") not in keys  # not bound to a home: no resident's buttons


async def test_an_auditor_is_welcomed_with_the_signing_keys_fingerprint_and_export_and_key_buttons(
    h: Harness,
) -> None:
    from bot.texts import auditor_welcome

    key = Ed25519PrivateKey.generate()
    h.ctx.signing_key = lambda: key
    expected = fingerprint(key.public_key())
    welcome = await h.say(AUDITOR_ID, "/start")  # the demo auditor's Telegram app is in English
    assert welcome["text"] == auditor_welcome(EN, expected) and expected in welcome["text"]
    keys = _keyboard(h, AUDITOR_ID)
    assert keys[:2] == [menu_label(EN, "export"), menu_label(EN, "fingerprint")]
    assert menu_label(EN, "manage") not in keys
    key = await h.say(AUDITOR_ID, menu_label(EN, "fingerprint"))
    assert expected in key["text"]
    export = await h.say(AUDITOR_ID, menu_label(ZH, "export"))  # a button works in either language
    assert export["text"].endswith(EN("{name} has no closed vote to export yet.").split("}")[1])


async def test_a_resident_cannot_ask_for_the_signing_key(h: Harness) -> None:
    await h.say(RESIDENT, f"/start {h.demo.codes['1-1-101']}")
    refused = await h.say(RESIDENT, "/fingerprint")
    assert refused["text"] == ZH("This is only for community workers of this community.")


async def test_an_unbound_resident_is_told_and_loses_the_residents_keyboard(h: Harness) -> None:
    bound = await h.say(RESIDENT, f"/start {h.demo.codes['1-1-101']}")
    assert bound and menu_label(ZH, "votes") in _keyboard(h, RESIDENT)
    listing = await h.say(WORKER_ID, "/bindings")
    await h.press(WORKER_ID, listing["message_id"], _inline(listing)[0])
    confirm = h.last(WORKER_ID)
    yes = _inline(confirm)[0]
    await h.press(WORKER_ID, confirm["message_id"], yes)
    told = h.last(RESIDENT)
    assert told["text"] == ZH(
        "Your account is no longer linked to home {unit}: the community worker unbound it. If this is a mistake, ask "
        "them for a new invite code."
    ).format(unit="1-1-101")
    assert menu_label(ZH, "votes") not in _keyboard(h, RESIDENT)
    # A second tap on the old confirmation does not tell them twice.
    await h.press(WORKER_ID, confirm["message_id"], yes)
    assert h.last(RESIDENT)["message_id"] == told["message_id"]
