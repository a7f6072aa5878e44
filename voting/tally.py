"""The exact two-dimensional tally: area in 0.01 m² and headcount by owner, under a rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from voting.errors import VotingError
from voting.model import Choice, Roster, Weight, format_area
from voting.rules import Base, Comparison, Condition, ConditionKind, Dimension, Rule

__all__ = [
    "ConditionResult",
    "DimensionResult",
    "Electorate",
    "TallyResult",
    "UnknownVoterError",
    "latest_choices",
    "tally",
    "tally_weights",
]


class UnknownVoterError(VotingError):
    """A ballot names a unit or owner that is not in the (scoped) roster."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"{key!r} is not in the roster of this vote")


def latest_choices(roster: Roster, ballots: Iterable[tuple[str, Choice]]) -> dict[str, Choice]:
    """Resolve ballots `(unit_id, choice)` in the order cast to each owner's latest choice.

    A ballot through any of an owner's units is that owner's ballot (one owner, one choice).
    """
    owner_of = roster.owner_of
    latest: dict[str, Choice] = {}
    for unit_id, choice in ballots:
        try:
            latest[owner_of(unit_id)] = choice
        except KeyError:
            raise UnknownVoterError(unit_id) from None
    return latest


@dataclass(frozen=True, slots=True)
class DimensionResult:
    """One dimension of one condition: `count` against `base`, and how much more would make it hold.

    `shortfall` is the least amount of additional agreeing (approval) or participating
    (participation) weight that would make it hold; for an approval of participants it counts
    new agreeing ballots, which raise the base too. None when new ballots can never make it hold.
    """

    dimension: Dimension
    count: int
    base: int
    holds: bool
    shortfall: int | None

    def as_dict(self) -> dict[str, Any]:
        fmt = format_area if self.dimension is Dimension.AREA else (lambda n: n)
        return {
            "dimension": str(self.dimension),
            "count": fmt(self.count),
            "base": fmt(self.base),
            "holds": self.holds,
            "shortfall": None if self.shortfall is None else fmt(self.shortfall),
        }


@dataclass(frozen=True, slots=True)
class ConditionResult:
    condition: Condition
    dimensions: tuple[DimensionResult, ...]

    @property
    def holds(self) -> bool:
        return all(d.holds for d in self.dimensions)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.condition.as_dict(),
            "holds": self.holds,
            "details": [d.as_dict() for d in self.dimensions],
        }


def _pick(weight: Weight, dimension: Dimension) -> int:
    return weight.area if dimension is Dimension.AREA else weight.headcount


def _shortfall(cond: Condition, count: int, base: int, rises_with_count: bool) -> int | None:
    if cond.holds(count, base):
        return 0
    if not rises_with_count:
        return cond.needed(count, base) - count
    # count/base -> (count+x)/(base+x): solve x * (den - num) >= num * base - count * den.
    num, den = cond.threshold.numerator, cond.threshold.denominator
    if den == num:  # all of those taking part: only reachable while nobody has taken part yet
        return 1 if base == 0 else None
    gap = num * base - count * den
    step = den - num
    x = -(-gap // step) if cond.comparison is Comparison.AT_LEAST else gap // step + 1
    x = max(x, 0)
    while not cond.holds(count + x, base + x):  # at most one step: guards the empty base
        x += 1
    return x


def _evaluate(cond: Condition, total: Weight, participating: Weight, agree: Weight) -> ConditionResult:
    results = []
    for dim in cond.dimensions:
        if cond.kind is ConditionKind.PARTICIPATION:
            count, base, rises = _pick(participating, dim), _pick(total, dim), False
        elif cond.base is Base.TOTAL:
            count, base, rises = _pick(agree, dim), _pick(total, dim), False
        else:
            count, base, rises = _pick(agree, dim), _pick(participating, dim), True
        holds = cond.holds(count, base)
        results.append(DimensionResult(dim, count, base, holds, _shortfall(cond, count, base, rises)))
    return ConditionResult(cond, tuple(results))


@dataclass(frozen=True, slots=True)
class TallyResult:
    """Everything a worker, a resident and an auditor need to know about one count."""

    rule: Rule
    total: Weight
    participating: Weight
    agree: Weight
    disagree: Weight
    abstain: Weight
    conditions: tuple[ConditionResult, ...]
    #: Set on the alternative count in which non-voters were counted with this choice.
    non_voters_counted_as: Choice | None = None
    #: The alternative count with non-voters following the majority, when that option is on.
    alternative: TallyResult | None = None

    @property
    def passed(self) -> bool:
        return all(c.holds for c in self.conditions)

    @property
    def not_voted(self) -> Weight:
        return self.total - self.participating

    def as_dict(self) -> dict[str, Any]:
        def weight(w: Weight) -> dict[str, Any]:
            return {"area_m2": format_area(w.area), "headcount": w.headcount}

        out: dict[str, Any] = {
            "rule": self.rule.name,
            "rule_definition": self.rule.as_dict(),
            "passed": self.passed,
            "total": weight(self.total),
            "participating": weight(self.participating),
            "agree": weight(self.agree),
            "disagree": weight(self.disagree),
            "abstain": weight(self.abstain),
            "not_voted": weight(self.not_voted),
            "conditions": [c.as_dict() for c in self.conditions],
        }
        if self.non_voters_counted_as is not None:
            out["non_voters_counted_as"] = str(self.non_voters_counted_as)
        if self.alternative is not None:
            out["non_voters_follow_majority"] = self.alternative.as_dict()
        return out


def _result(rule: Rule, total: Weight, by_choice: dict[Choice, Weight], counted_as: Choice | None) -> TallyResult:
    agree, disagree, abstain = by_choice[Choice.AGREE], by_choice[Choice.DISAGREE], by_choice[Choice.ABSTAIN]
    participating = agree + disagree + abstain
    conditions = tuple(_evaluate(c, total, participating, agree) for c in rule.conditions)
    return TallyResult(rule, total, participating, agree, disagree, abstain, conditions, counted_as)


def _majority(agree: Weight, disagree: Weight) -> Choice | None:
    if agree.area > disagree.area and agree.headcount > disagree.headcount:
        return Choice.AGREE
    if disagree.area > agree.area and disagree.headcount > agree.headcount:
        return Choice.DISAGREE
    return None


def tally_weights(
    rule: Rule, total: Weight, agree: Weight, disagree: Weight, abstain: Weight | None = None
) -> TallyResult:
    """Count under `rule` from weights already summed: for counts that are not ballots on a motion,
    such as the owners who ticked one item of the renovation menu (agree) against the other
    respondents (disagree)."""
    by_choice = {Choice.AGREE: agree, Choice.DISAGREE: disagree, Choice.ABSTAIN: abstain or Weight()}
    return _result(rule, total, by_choice, None)


class Electorate(Protocol):
    """What a count needs: each owner's area (owner key -> 0.01 m²) and the totals."""

    @property
    def owner_area(self) -> Mapping[str, int]: ...

    @property
    def total(self) -> Weight: ...


def tally(
    roster: Electorate,
    rule: Rule,
    choices: Mapping[str, Choice],
    *,
    non_voters_follow_majority: bool = False,
) -> TallyResult:
    """Count each owner's choice (owner key -> choice) of `roster` under `rule`.

    With `non_voters_follow_majority` (a local rule the Civil Code does not have; off by default)
    the result carries, as `alternative`, the count where every owner who cast no ballot is taken
    to follow the majority of those who did — the majority being agree or disagree ahead in both
    area and headcount; with no such majority nobody is moved and the alternative says so.
    """
    owner_area = roster.owner_area
    area = dict.fromkeys(Choice, 0)
    heads = dict.fromkeys(Choice, 0)
    try:
        for owner, choice in choices.items():
            area[choice] += owner_area[owner]
            heads[choice] += 1
    except KeyError as exc:
        raise UnknownVoterError(str(exc.args[0])) from None
    total = roster.total
    by_choice = {c: Weight(area[c], heads[c]) for c in Choice}
    result = _result(rule, total, by_choice, None)
    if not non_voters_follow_majority:
        return result
    follow = _majority(by_choice[Choice.AGREE], by_choice[Choice.DISAGREE])
    moved = dict(by_choice)
    if follow is not None:
        moved[follow] = moved[follow] + result.not_voted
    alternative = _result(rule, total, moved, follow)
    return TallyResult(
        rule,
        total,
        result.participating,
        result.agree,
        result.disagree,
        result.abstain,
        result.conditions,
        None,
        alternative,
    )
