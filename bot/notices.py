"""Texts the bot sends on its own: a vote opened, a reminder, a deadline moved, a checkpoint, a result.

Each takes the reader's translator; the caller picks it from the reader's language.
"""

from __future__ import annotations

import html

from bot.context import BotContext
from bot.i18n import Translator
from bot.render import render_tally, rule_title, shortfall_text
from voting.lifecycle import BuildingCount
from voting.model import format_area
from voting.tally import TallyResult
from voting.votes import Vote

__all__ = [
    "announce_text",
    "checkpoint_text",
    "extended_text",
    "reminder_text",
    "result_html",
    "turnout_text",
]


def announce_text(ctx: BotContext, _: Translator, vote: Vote, *, group: bool = False) -> str:
    if group:  # the owners' group: no button there; each owner votes in their private chat with the bot
        return _(
            "🗳 A vote has opened: {title}\n{text}\n\nRule: {rule}\nDeadline: {deadline} (Beijing time)\n"
            "Owners vote in their private chat with the bot (🗳 Votes), or on paper with the community worker."
        ).format(title=vote.title, text=vote.text, rule=rule_title(_, vote.rule), deadline=ctx.local(vote.closes_at))
    return _(
        "🗳 A vote has opened for your home: {title}\n{text}\n\nRule: {rule}\nDeadline: {deadline} (Beijing time)\n"
        "Tap the button below, or 🗳 Votes in the menu."
    ).format(title=vote.title, text=vote.text, rule=rule_title(_, vote.rule), deadline=ctx.local(vote.closes_at))


def reminder_text(ctx: BotContext, _: Translator, vote: Vote) -> str:
    return _(
        "⏰ Reminder: you have not voted yet on “{title}”. The vote closes on {deadline} (Beijing time). "
        "Every owner's ballot counts, in homes and in floor area."
    ).format(title=vote.title, deadline=ctx.local(vote.closes_at))


def extended_text(ctx: BotContext, _: Translator, vote: Vote, before: Vote, reason: str = "") -> str:
    text = _("📅 The deadline of “{title}” has been extended from {before} to {after} (Beijing time).").format(
        title=vote.title, before=ctx.local(before.closes_at), after=ctx.local(vote.closes_at)
    )
    return text + ("\n" + _("Reason: {reason}").format(reason=reason) if reason else "")


def checkpoint_text(ctx: BotContext, _: Translator, vote: Vote, moment: str) -> str:
    """The ledger head, posted where everyone sees it: anyone can later check that the exported
    ledger passes through this entry, so no ballot before it can be changed unnoticed."""
    return _(
        "🔗 Checkpoint ({moment}) of “{title}”, {when}: ballot ledger entry #{seq}, hash {hash}. "
        "Keep this message: the audit bundle must contain this entry."
    ).format(moment=moment, title=vote.title, when=ctx.local(ctx.now()), seq=vote.head_seq, hash=vote.head_hash)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def turnout_text(_: Translator, vote: Vote, result: TallyResult, buildings: list[BuildingCount]) -> str:
    """Live counts in both dimensions and what is missing for each condition ("还差 7 户、312.40 m²")."""
    total, voted = result.total, result.participating
    lines = [
        _("📊 Turnout of “{title}”").format(title=vote.title),
        _("Voted: {owners} of {total_owners} owners ({owner_share}), {area} of {total_area} m² ({area_share})").format(
            owners=voted.headcount,
            total_owners=total.headcount,
            owner_share=_share(voted.headcount, total.headcount),
            area=format_area(voted.area),
            total_area=format_area(total.area),
            area_share=_share(voted.area, total.area),
        ),
        _("Agree {agree} owners / {agree_area} m²; disagree {disagree} / {disagree_area} m²; abstain {abstain}").format(
            agree=result.agree.headcount,
            agree_area=format_area(result.agree.area),
            disagree=result.disagree.headcount,
            disagree_area=format_area(result.disagree.area),
            abstain=result.abstain.headcount,
        ),
    ]
    for number, condition in enumerate(result.conditions, start=1):
        state = _("met") if condition.holds else shortfall_text(_, condition)
        lines.append(_("Condition {n}: {state}").format(n=number, state=state))
    if buildings:
        lines.append(_("By building (homes voted / homes):"))
        lines.append(
            "  ".join(f"{b.building or '—'}: {b.voted_units}/{b.units}" for b in buildings[:60])
            + (" …" if len(buildings) > 60 else "")
        )
    return "\n".join(lines)


def result_html(ctx: BotContext, _: Translator, vote: Vote, result: TallyResult, stage: str) -> str:
    """The signed result as HTML (the table needs a fixed-width font), with what makes it checkable."""
    heading = (
        _("📢 Preliminary result of “{title}” (objections until {until}, Beijing time)").format(
            title=vote.title, until=ctx.local(vote.objection_until) if vote.objection_until else "—"
        )
        if stage == "preliminary"
        else _("📢 Final result of “{title}”").format(title=vote.title)
    )
    footer = _(
        "Signed with the community's Ed25519 key; ledger entry #{seq}, hash {hash}. "
        "Auditors can export the bundle and verify it offline."
    ).format(seq=vote.head_seq, hash=vote.head_hash[:16] + "…")
    objection = _("If your own ballot was recorded wrongly, tap the button below.") if stage == "preliminary" else ""
    parts = [html.escape(heading), "<pre>" + html.escape(render_tally(_, result)) + "</pre>", html.escape(footer)]
    if objection:
        parts.append(html.escape(objection))
    return "\n".join(parts)
