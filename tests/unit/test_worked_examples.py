"""Every worked example of DOMAIN.md, as a test named after what it shows."""

from __future__ import annotations

from tests.factories import roster_a, roster_b
from voting.model import DEVELOPER, Choice, Weight
from voting.rules import preset
from voting.tally import latest_choices, tally

AGREE, DISAGREE, ABSTAIN = Choice.AGREE, Choice.DISAGREE, Choice.ABSTAIN


def test_roster_a_counts_an_owner_of_two_units_once_in_headcount() -> None:
    assert roster_a().total == Weight(30000, 3)


def test_roster_a_p1_and_p3_agree_passes_double_two_thirds() -> None:
    roster = roster_a()
    choices = latest_choices(roster, [("101", AGREE), ("102", DISAGREE), ("201", AGREE)])
    result = tally(roster, preset("double-two-thirds"), choices)
    assert result.agree == Weight(24000, 2)
    assert result.passed


def test_roster_a_p3_alone_fails_double_two_thirds_despite_sixty_percent_of_area() -> None:
    roster = roster_a()
    result = tally(roster, preset("double-two-thirds"), latest_choices(roster, [("202", AGREE)]))
    assert result.agree == Weight(18000, 1)
    assert not result.passed
    area, heads = result.conditions[0].dimensions
    assert not area.holds and area.shortfall == 2000  # 20.00 m² more
    assert not heads.holds and heads.shortfall == 1


def test_roster_a_p1_p2_agree_p3_abstains_fails_civil_code_major() -> None:
    roster = roster_a()
    choices = latest_choices(roster, [("101", AGREE), ("102", AGREE), ("201", ABSTAIN)])
    result = tally(roster, preset("civil-code-major"), choices)
    participation, approval = result.conditions
    assert result.participating == Weight(30000, 3)
    assert participation.holds
    assert result.agree.area == 12000
    assert not approval.dimensions[0].holds
    assert not result.passed


def test_roster_b_counts_all_developer_units_as_one_person() -> None:
    roster = roster_b()
    assert roster.total == Weight(1_170_000, 151)
    assert roster.owner_of("U00") == roster.owner_of("U29") == DEVELOPER
    assert roster.weight_of(DEVELOPER) == Weight(270_000, 1)


def test_roster_b_101_sold_owners_agreeing_fails_on_area() -> None:
    roster = roster_b()
    ballots = [(f"S{i:03d}", AGREE) for i in range(101)]
    result = tally(roster, preset("double-two-thirds"), latest_choices(roster, ballots))
    area, heads = result.conditions[0].dimensions
    assert result.agree == Weight(606_000, 101)
    assert heads.holds  # 101 of 151 is at least 2/3 (100.67)
    assert not area.holds  # 6,060.00 < 7,800.00
    assert area.shortfall == 780_000 - 606_000
    assert not result.passed


def test_roster_b_the_same_owners_and_the_developer_agreeing_passes() -> None:
    roster = roster_b()
    ballots = [(f"S{i:03d}", AGREE) for i in range(101)] + [("U07", AGREE)]
    result = tally(roster, preset("double-two-thirds"), latest_choices(roster, ballots))
    assert result.agree == Weight(876_000, 102)
    assert result.passed


def test_a_ballot_through_any_unit_of_an_owner_is_that_owners_and_the_latest_counts() -> None:
    roster = roster_a()
    choices = latest_choices(roster, [("201", AGREE), ("202", DISAGREE)])
    assert choices == {"owner:p3": DISAGREE}
    result = tally(roster, preset("double-two-thirds"), choices)
    assert result.disagree == Weight(18000, 1)
    assert result.participating.headcount == 1
