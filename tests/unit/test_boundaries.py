"""Thresholds at exactly 2/3, 3/4, 1/2 and 4/5: one hundredth of a m² and one owner either side."""

from __future__ import annotations

from fractions import Fraction

import pytest

from voting.model import Choice, Roster, Unit
from voting.rules import Condition, ConditionKind, Dimension, preset
from voting.tally import tally


def _owners(areas: list[int]) -> Roster:
    return Roster.of(Unit(f"u{i}", a, f"o{i}") for i, a in enumerate(areas))


def test_exactly_two_thirds_of_area_passes_and_one_hundredth_less_fails() -> None:
    """200.00 of 300.00 m² is exactly 2/3 and passes; 199.99 fails (DOMAIN.md)."""
    rule = preset("double-two-thirds")
    exact = _owners([10000, 10000, 10000])
    assert tally(exact, rule, {"owner:o0": Choice.AGREE, "owner:o1": Choice.AGREE}).passed
    short = _owners([10000, 9999, 10001])
    result = tally(short, rule, {"owner:o0": Choice.AGREE, "owner:o1": Choice.AGREE})
    assert not result.passed
    area = result.conditions[0].dimensions[0]
    assert (area.count, area.base, area.shortfall) == (19999, 30000, 1)


@pytest.mark.parametrize(
    ("rule_name", "threshold", "strict"),
    [
        ("double-two-thirds", Fraction(2, 3), False),
        ("eighty-percent", Fraction(4, 5), False),
    ],
)
@pytest.mark.parametrize("base_area", [30000, 99999, 123457])
def test_approval_of_total_area_flips_exactly_at_the_threshold(
    rule_name: str, threshold: Fraction, strict: bool, base_area: int
) -> None:
    condition = preset(rule_name).conditions[0]
    boundary = -(-threshold.numerator * base_area // threshold.denominator)  # least area that holds
    assert condition.holds(boundary, base_area)
    assert not condition.holds(boundary - 1, base_area)
    assert condition.holds(boundary + 1, base_area)


@pytest.mark.parametrize(("total", "needed"), [(3, 2), (6, 4), (151, 101), (10, 7)])
def test_double_two_thirds_headcount_needs_the_ceiling_of_two_thirds(total: int, needed: int) -> None:
    roster = _owners([100] * total)
    rule = preset("double-two-thirds")
    at = {f"owner:o{i}": Choice.AGREE for i in range(needed)}
    below = {f"owner:o{i}": Choice.AGREE for i in range(needed - 1)}
    heads_at = tally(roster, rule, at).conditions[0].dimensions[1]
    heads_below = tally(roster, rule, below).conditions[0].dimensions[1]
    assert heads_at.holds
    assert not heads_below.holds and heads_below.shortfall == 1


@pytest.mark.parametrize(("total", "needed"), [(5, 4), (10, 8), (11, 9)])
def test_eighty_percent_needs_four_fifths_of_owners_inclusive(total: int, needed: int) -> None:
    roster = _owners([100] * total)
    rule = preset("eighty-percent")
    assert tally(roster, rule, {f"owner:o{i}": Choice.AGREE for i in range(needed)}).passed
    assert not tally(roster, rule, {f"owner:o{i}": Choice.AGREE for i in range(needed - 1)}).passed


def test_civil_code_major_three_quarters_of_participants_is_inclusive() -> None:
    """4 take part (all of them): 3 agreeing is exactly 3/4 and passes; area 75.00 of 100.00 likewise."""
    roster = _owners([2500, 2500, 2500, 2500])
    rule = preset("civil-code-major")
    votes = {"owner:o0": Choice.AGREE, "owner:o1": Choice.AGREE, "owner:o2": Choice.AGREE, "owner:o3": Choice.DISAGREE}
    assert tally(roster, rule, votes).passed
    uneven = _owners([2500, 2500, 2499, 2501])
    assert not tally(uneven, rule, votes).passed  # 74.99 of 100.00 m²


def test_civil_code_major_participation_of_exactly_two_thirds_is_enough() -> None:
    roster = _owners([100] * 6)
    votes = {f"owner:o{i}": Choice.AGREE for i in range(4)}
    participation = tally(roster, preset("civil-code-major"), votes).conditions[0]
    assert participation.holds
    fewer = {f"owner:o{i}": Choice.AGREE for i in range(3)}
    short = tally(roster, preset("civil-code-major"), fewer).conditions[0]
    assert not short.holds
    assert [d.shortfall for d in short.dimensions] == [100, 1]


def test_civil_code_ordinary_exactly_half_of_participants_is_not_a_majority() -> None:
    """ "过半数" is strictly more than half: 2 of 4 fails, 3 of 4 passes."""
    roster = _owners([100] * 4)
    rule = preset("civil-code-ordinary")
    half = {"owner:o0": Choice.AGREE, "owner:o1": Choice.AGREE, "owner:o2": Choice.DISAGREE, "owner:o3": Choice.ABSTAIN}
    result = tally(roster, rule, half)
    assert not result.passed
    assert [d.holds for d in result.conditions[1].dimensions] == [False, False]
    more = {**half, "owner:o2": Choice.AGREE}
    assert tally(roster, rule, more).passed


def test_civil_code_ordinary_half_of_area_plus_one_hundredth_is_a_majority() -> None:
    roster = _owners([5001, 4999, 100])
    rule = preset("civil-code-ordinary")
    votes = {"owner:o0": Choice.AGREE, "owner:o1": Choice.DISAGREE, "owner:o2": Choice.AGREE}
    approval = tally(roster, rule, votes).conditions[1]
    assert approval.dimensions[0].holds  # 51.01 of 101.00
    roster_tie = _owners([5000, 5000, 100])
    votes_tie = {"owner:o0": Choice.AGREE, "owner:o1": Choice.DISAGREE, "owner:o2": Choice.ABSTAIN}
    approval_tie = tally(roster_tie, rule, votes_tie).conditions[1]
    assert not approval_tie.dimensions[0].holds  # 50.00 of 101.00


def test_abstention_counts_as_taking_part_but_not_as_agreeing() -> None:
    roster = _owners([100] * 3)
    votes = {"owner:o0": Choice.ABSTAIN, "owner:o1": Choice.ABSTAIN}
    result = tally(roster, preset("civil-code-major"), votes)
    assert result.participating.headcount == 2
    assert result.conditions[0].holds
    assert not result.conditions[1].holds


def test_no_ballot_at_all_never_passes_a_rule_on_participants() -> None:
    roster = _owners([100] * 3)
    condition = Condition(ConditionKind.APPROVAL, Fraction(1, 2), base=preset("civil-code-major").conditions[1].base)
    assert not condition.holds(0, 0)
    result = tally(roster, preset("civil-code-ordinary"), {})
    assert not result.passed


def test_non_voters_follow_majority_is_off_by_default_and_shown_beside_when_on() -> None:
    roster = _owners([100] * 10)
    votes = {"owner:o0": Choice.AGREE, "owner:o1": Choice.AGREE, "owner:o2": Choice.DISAGREE}
    plain = tally(roster, preset("double-two-thirds"), votes)
    assert plain.alternative is None and not plain.passed
    both = tally(roster, preset("double-two-thirds"), votes, non_voters_follow_majority=True)
    assert not both.passed  # the legal result is unchanged
    assert both.alternative is not None
    assert both.alternative.non_voters_counted_as is Choice.AGREE
    assert both.alternative.agree.headcount == 9 and both.alternative.passed
    assert "non_voters_follow_majority" in both.as_dict()


def test_non_voters_are_not_moved_when_no_side_leads_in_both_dimensions() -> None:
    roster = _owners([500, 100, 100, 100])
    votes = {"owner:o0": Choice.AGREE, "owner:o1": Choice.DISAGREE, "owner:o2": Choice.DISAGREE}
    alt = tally(roster, preset("double-two-thirds"), votes, non_voters_follow_majority=True).alternative
    assert alt is not None and alt.non_voters_counted_as is None
    assert alt.participating.headcount == 3


def test_a_condition_on_area_only_ignores_headcount() -> None:
    condition = Condition(ConditionKind.APPROVAL, Fraction(2, 3), dimensions=(Dimension.AREA,))
    roster = _owners([9000, 100, 100, 100])
    from voting.rules import Rule

    result = tally(roster, Rule("area-only", (condition,)), {"owner:o0": Choice.AGREE})
    assert result.passed and len(result.conditions[0].dimensions) == 1
