"""The bot's charts: a vote's result and its turnout by building, as PNG (drawn by bot/documents.py).

Run these in a worker thread (asyncio.to_thread): drawing takes tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.documents import BuildingTurnout, ResultBar, result_chart_png, turnout_chart_png
from bot.i18n import Translator
from voting.lifecycle import BuildingCount
from voting.rules import Base, ConditionKind, Dimension
from voting.tally import TallyResult
from voting.votes import Vote

__all__ = ["result_png", "turnout_png"]


def _threshold(result: TallyResult, dimension: Dimension) -> float | None:
    """The share of the whole electorate that must agree, where the rule says so (a line on the bar)."""
    for condition in result.rule.conditions:
        if (
            condition.kind is ConditionKind.APPROVAL
            and condition.base is Base.TOTAL
            and dimension in condition.dimensions
        ):
            return float(condition.threshold)
    return None


def result_png(_: Translator, vote: Vote, result: TallyResult) -> bytes:
    not_voted = result.not_voted
    bars = [
        ResultBar(
            _("Owners"),
            result.agree.headcount,
            result.disagree.headcount,
            result.abstain.headcount,
            not_voted.headcount,
            _threshold(result, Dimension.HEADCOUNT),
        ),
        ResultBar(
            _("Area"),
            result.agree.area,
            result.disagree.area,
            result.abstain.area,
            not_voted.area,
            _threshold(result, Dimension.AREA),
        ),
    ]
    legend = (_("Agree"), _("Disagree"), _("Abstain"), _("Not voted"))
    return result_chart_png(bars, title=vote.title, legend=legend)


def turnout_png(_: Translator, vote: Vote, buildings: Sequence[BuildingCount]) -> bytes:
    rows = [
        BuildingTurnout(
            _("Building {b}").format(b=b.building) if b.building else "—", b.units, b.voted_units, b.area, b.voted_area
        )
        for b in buildings
    ]
    return turnout_chart_png(
        rows,
        title=_("Turnout of “{title}” by building").format(title=vote.title),
        homes_label=_("Homes voted"),
        area_label=_("Area voted"),
    )
