"""Properties of the exact two-dimensional tally, checked on random rosters and ballots.

Every expected value here is recomputed independently of `voting/`: owner keys by SPC art. 9
(sold unit with an owner -> that owner; sold unit with a blank owner -> the unit itself; every
unsold or undelivered unit -> the developer, one person), each owner's latest ballot, and the
thresholds with `fractions.Fraction`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from voting.model import DEVELOPER, Choice, Roster, Unit, UnitStatus, Weight
from voting.rules import PRESETS, Base, Comparison, Condition, ConditionKind, Dimension, Rule, preset
from voting.tally import TallyResult, latest_choices, tally

SETTINGS = settings(max_examples=100, deadline=None)

# Unit ids and owner names share one namespace on purpose: a blank-owner unit "p1" and an owner
# "p1" are two different persons, and the tally must not confuse them.
NAMES = [f"p{i}" for i in range(8)]
# A few round areas make exact thresholds (2/3, 3/4, 4/5, 1/2) reachable; the rest are arbitrary.
AREAS = st.one_of(st.sampled_from([3000, 4500, 6000, 9000, 12000, 1]), st.integers(1, 30000))
STATUSES = st.sampled_from([UnitStatus.SOLD] * 6 + [UnitStatus.UNSOLD, UnitStatus.UNDELIVERED])
OWNERS = st.sampled_from(["", *NAMES[:5]])
CHOICES = st.sampled_from(list(Choice))
#: Mostly agree, so that many drawn cases pass before the change a monotonicity test makes.
MOSTLY_AGREE = st.sampled_from([Choice.AGREE] * 4 + [Choice.DISAGREE, Choice.ABSTAIN])


@st.composite
def rosters(draw: st.DrawFn, min_size: int = 1, max_size: int = 10) -> list[Unit]:
    ids = draw(
        st.lists(
            st.sampled_from(NAMES + [f"u{i}" for i in range(12)]), min_size=min_size, max_size=max_size, unique=True
        )
    )
    return [Unit(uid, draw(AREAS), draw(OWNERS), draw(STATUSES)) for uid in ids]


@st.composite
def rosters_and_ballots(
    draw: st.DrawFn, max_ballots: int = 16, choices: st.SearchStrategy[Choice] = CHOICES
) -> tuple[list[Unit], list[tuple[str, Choice]]]:
    units = draw(rosters())
    ids = [u.unit_id for u in units]
    ballots = draw(st.lists(st.tuples(st.sampled_from(ids), choices), max_size=max_ballots))
    return units, ballots


def person(unit: Unit) -> tuple[str, str]:
    """The person a unit counts for, as SPC art. 9 says (independent of voting.model)."""
    if unit.status is not UnitStatus.SOLD:
        return ("developer", "")
    if unit.owner:
        return ("owner", unit.owner)
    return ("unit", unit.unit_id)


def owner_areas(units: list[Unit]) -> dict[tuple[str, str], int]:
    areas: dict[tuple[str, str], int] = {}
    for unit in units:
        areas[person(unit)] = areas.get(person(unit), 0) + unit.area
    return areas


def latest(units: list[Unit], ballots: list[tuple[str, Choice]]) -> dict[tuple[str, str], Choice]:
    by_id = {u.unit_id: u for u in units}
    out: dict[tuple[str, str], Choice] = {}
    for unit_id, choice in ballots:
        out[person(by_id[unit_id])] = choice
    return out


def count(units: list[Unit], ballots: list[tuple[str, Choice]], rule: Rule, **kw: Any) -> TallyResult:
    roster = Roster.of(units)
    return tally(roster, rule, latest_choices(roster, ballots), **kw)


def approval_only_rules() -> st.SearchStrategy[Rule]:
    """double-two-thirds, eighty-percent, or a random approval-only rule on the total base."""

    @st.composite
    def custom(draw: st.DrawFn) -> Rule:
        den = draw(st.integers(1, 12))
        num = draw(st.integers(1, den))
        comparison = Comparison.AT_LEAST if num == den else draw(st.sampled_from(list(Comparison)))
        dims = draw(st.sampled_from([(Dimension.AREA,), (Dimension.HEADCOUNT,), (Dimension.AREA, Dimension.HEADCOUNT)]))
        cond = Condition(ConditionKind.APPROVAL, Fraction(num, den), Base.TOTAL, comparison, dims)
        return Rule("custom-approval", (cond,))

    return st.one_of(st.sampled_from([preset("double-two-thirds"), preset("eighty-percent")]), custom())


@st.composite
def any_rules(draw: st.DrawFn) -> Rule:
    """A preset, or a random chain of one to three conditions of any kind, base and comparison."""
    if draw(st.booleans()):
        return draw(st.sampled_from(list(PRESETS.values())))
    conditions = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(list(ConditionKind)))
        base = Base.TOTAL if kind is ConditionKind.PARTICIPATION else draw(st.sampled_from(list(Base)))
        den = draw(st.integers(1, 12))
        num = draw(st.integers(1, den))
        comparison = Comparison.AT_LEAST if num == den else draw(st.sampled_from(list(Comparison)))
        dims = draw(st.sampled_from([(Dimension.AREA,), (Dimension.HEADCOUNT,), (Dimension.AREA, Dimension.HEADCOUNT)]))
        conditions.append(Condition(kind, Fraction(num, den), base, comparison, dims))
    return Rule("custom", tuple(conditions))


# --- order independence -------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), case=rosters_and_ballots(), rule=st.sampled_from(list(PRESETS.values())))
def test_tally_does_not_depend_on_the_order_of_roster_rows(
    data: st.DataObject, case: tuple[list[Unit], list[tuple[str, Choice]]], rule: Rule
) -> None:
    units, ballots = case
    shuffled = data.draw(st.permutations(units))
    assert count(shuffled, ballots, rule) == count(units, ballots, rule)
    assert count(shuffled, ballots, rule).as_dict() == count(units, ballots, rule).as_dict()
    assert dict(Roster.of(shuffled).owner_area) == dict(Roster.of(units).owner_area)


@SETTINGS
@given(data=st.data(), case=rosters_and_ballots(), rule=st.sampled_from(list(PRESETS.values())))
def test_tally_does_not_depend_on_the_order_of_ballots_from_different_owners(
    data: st.DataObject, case: tuple[list[Unit], list[tuple[str, Choice]]], rule: Rule
) -> None:
    """Any interleaving that keeps each owner's own ballots (through any of their units) in order counts the same."""
    units, ballots = case
    by_id = {u.unit_id: u for u in units}
    queues: dict[tuple[str, str], list[tuple[str, Choice]]] = {}
    for ballot in ballots:
        queues.setdefault(person(by_id[ballot[0]]), []).append(ballot)
    interleaved: list[tuple[str, Choice]] = []
    while queues:
        key = data.draw(st.sampled_from(sorted(queues)))
        interleaved.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    assert sorted(interleaved) == sorted(ballots)
    for follow in (False, True):
        assert count(units, interleaved, rule, non_voters_follow_majority=follow) == count(
            units, ballots, rule, non_voters_follow_majority=follow
        )


# --- headcount as SPC art. 9 says -----------------------------------------------------------------------


@SETTINGS
@given(units=rosters())
def test_totals_are_the_sum_of_areas_and_the_number_of_distinct_persons(units: list[Unit]) -> None:
    roster = Roster.of(units)
    expected = owner_areas(units)
    assert roster.total == Weight(sum(u.area for u in units), len(expected))
    assert sorted(roster.owner_area.values()) == sorted(expected.values())


@SETTINGS
@given(data=st.data(), units=rosters(min_size=2))
def test_moving_a_unit_to_another_owner_changes_headcount_as_spc_article_9_says(
    data: st.DataObject, units: list[Unit]
) -> None:
    """The old owner disappears only with their last unit; a new owner key adds one; areas are unchanged."""
    index = data.draw(st.integers(0, len(units) - 1))
    moved = units[index]
    new_owner = data.draw(st.sampled_from(["", *NAMES[:5], "newcomer"]))
    after_unit = moved._replace(owner=new_owner, status=UnitStatus.SOLD)
    assume(person(after_unit) != person(moved))
    after = [*units[:index], after_unit, *units[index + 1 :]]

    before_roster, after_roster = Roster.of(units), Roster.of(after)
    before_persons = owner_areas(units)
    old, new = person(moved), person(after_unit)
    loses_last_unit = sum(1 for u in units if person(u) == old) == 1
    new_person = new not in before_persons
    assert after_roster.total.headcount == before_roster.total.headcount - loses_last_unit + new_person
    assert after_roster.total.area == before_roster.total.area

    old_key, new_key = before_roster.owner_of(moved.unit_id), after_roster.owner_of(moved.unit_id)
    assert old_key != new_key
    assert (old_key in after_roster.owner_area) is not loses_last_unit
    if not loses_last_unit:
        assert after_roster.owner_area[old_key] == before_roster.owner_area[old_key] - moved.area
    assert after_roster.owner_area[new_key] == before_roster.owner_area.get(new_key, 0) + moved.area


@SETTINGS
@given(units=rosters(), owners=st.lists(OWNERS, min_size=1, max_size=5), areas=st.lists(AREAS, min_size=1, max_size=5))
def test_all_unsold_and_undelivered_units_together_count_as_one_person(
    units: list[Unit], owners: list[str], areas: list[int]
) -> None:
    """Whatever owner text an unsold or undelivered unit carries, they all count for DEVELOPER, once."""
    sold = [u._replace(status=UnitStatus.SOLD) for u in units]
    held = [
        Unit(f"dev{i}", area, owners[i % len(owners)], UnitStatus.UNSOLD if i % 2 else UnitStatus.UNDELIVERED)
        for i, area in enumerate(areas)
    ]
    roster = Roster.of(sold + held)
    assert roster.total.headcount == Roster.of(sold).total.headcount + 1
    assert roster.owner_area[DEVELOPER] == sum(areas)
    assert {roster.owner_of(u.unit_id) for u in held} == {DEVELOPER}
    assert roster.weight_of(DEVELOPER) == Weight(sum(areas), 1)


@SETTINGS
@given(units=rosters(), extra=st.integers(1, 4))
def test_a_blank_owner_makes_the_unit_its_own_owner(units: list[Unit], extra: int) -> None:
    """Each sold unit with a blank owner is one more person, even if its id equals another owner's name."""
    base = Roster.of(units)
    used = {u.unit_id for u in units}
    blanks = [Unit(name, 5000) for name in [*NAMES, "x0", "x1", "x2", "x3"] if name not in used][:extra]
    assume(len(blanks) == extra)
    roster = Roster.of(units + blanks)
    assert roster.total == base.total + Weight(5000 * extra, extra)
    keys = {roster.owner_of(u.unit_id) for u in blanks}
    assert len(keys) == extra
    assert keys.isdisjoint(base.owner_area)
    assert all(roster.units_of(roster.owner_of(u.unit_id)) == (u.unit_id,) for u in blanks)


# --- monotonicity under approval-only rules ----------------------------------------------------------


@settings(max_examples=200, deadline=None)  # about one case in ten passes before the change
@given(data=st.data(), case=rosters_and_ballots(choices=MOSTLY_AGREE), rule=approval_only_rules())
def test_an_agree_ballot_from_an_owner_who_had_not_voted_never_turns_a_pass_into_a_fail(
    data: st.DataObject, case: tuple[list[Unit], list[tuple[str, Choice]]], rule: Rule
) -> None:
    units, all_ballots = case
    fresh = Unit("fresh", data.draw(st.integers(1, 3000)), data.draw(st.sampled_from(["", "p0", "newcomer"])))
    newcomer = data.draw(st.sampled_from([*units, fresh]))
    if newcomer is fresh:
        units = [*units, fresh]
    by_id = {u.unit_id: u for u in units}
    ballots = [b for b in all_ballots if person(by_id[b[0]]) != person(newcomer)]  # the newcomer had not voted
    before = count(units, ballots, rule)
    after = count(units, [*ballots, (newcomer.unit_id, Choice.AGREE)], rule)
    assert after.agree.area > before.agree.area
    assert after.agree.headcount == before.agree.headcount + 1
    if before.passed:
        assert after.passed
    for b, a in zip(before.conditions, after.conditions, strict=True):
        assert a.holds or not b.holds


@settings(max_examples=200, deadline=None)  # about one case in ten passes before the change
@given(data=st.data(), case=rosters_and_ballots(choices=MOSTLY_AGREE), rule=approval_only_rules())
def test_changing_one_owners_latest_ballot_to_agree_never_turns_a_pass_into_a_fail(
    data: st.DataObject, case: tuple[list[Unit], list[tuple[str, Choice]]], rule: Rule
) -> None:
    units, ballots = case
    voted = set(latest(units, ballots))
    voters = [u.unit_id for u in units if person(u) in voted]  # any unit of a voter is that voter's ballot box
    assume(voters)
    changer = data.draw(st.sampled_from(voters))
    before = count(units, ballots, rule)
    after = count(units, [*ballots, (changer, Choice.AGREE)], rule)
    assert after.agree.area >= before.agree.area
    assert after.agree.headcount >= before.agree.headcount
    assert after.participating == before.participating
    if before.passed:
        assert after.passed


# --- no float anywhere ---------------------------------------------------------------------------------


def _walk(value: Any, path: str = "result") -> Iterator[tuple[str, Any]]:
    yield path, value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(k, f"{path}[key {k!r}]")
            yield from _walk(v, f"{path}[{k!r}]")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    elif isinstance(value, Fraction):
        yield from _walk(value.numerator, f"{path}.numerator")
        yield from _walk(value.denominator, f"{path}.denominator")


AREA_TEXT = re.compile(r"^\d+\.\d\d$")


def _area_texts(out: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every area value in a TallyResult.as_dict(): weight area_m2 and the area dimension's details."""
    for path, value in _walk(out, "as_dict"):
        if isinstance(value, dict):
            if "area_m2" in value:
                yield path, value["area_m2"]
            if value.get("dimension") == "area":
                for key in ("count", "base", "shortfall"):
                    if value.get(key) is not None or key != "shortfall":
                        yield f"{path}.{key}", value[key]


@SETTINGS
@given(case=rosters_and_ballots(), rule=any_rules(), follow=st.booleans())
def test_no_float_appears_anywhere_in_a_tally_or_its_json_dict(
    case: tuple[list[Unit], list[tuple[str, Choice]]], rule: Rule, follow: bool
) -> None:
    units, ballots = case
    result = count(units, ballots, rule, non_voters_follow_majority=follow)
    floats = [p for p, v in _walk(result) if isinstance(v, float)]
    assert floats == []
    out = result.as_dict()
    floats = [p for p, v in _walk(out, "as_dict") if isinstance(v, float)]
    assert floats == []
    json.dumps(out, allow_nan=False)  # JSON-ready as it stands
    areas = list(_area_texts(out))
    assert areas  # the walk found the totals at least
    bad = [(p, v) for p, v in areas if not (isinstance(v, str) and AREA_TEXT.match(v))]
    assert bad == []


# --- exact cross-check with Fractions --------------------------------------------------------------


def _ratio_holds(count_: int, base: int, threshold: Fraction, strictly: bool = False) -> bool:
    if base == 0:
        return False
    ratio = Fraction(count_, base)
    return ratio > threshold if strictly else ratio >= threshold


def expected_conditions(units: list[Unit], ballots: list[tuple[str, Choice]], rule_name: str) -> list[bool]:
    """Each preset's conditions, recomputed from the law's words with Fractions."""
    areas = owner_areas(units)
    choices = latest(units, ballots)
    total_area, total_heads = sum(areas.values()), len(areas)
    agree = [k for k, c in choices.items() if c is Choice.AGREE]
    agree_area, agree_heads = sum(areas[k] for k in agree), len(agree)
    part_area, part_heads = sum(areas[k] for k in choices), len(choices)

    def both(c_area: int, b_area: int, c_heads: int, b_heads: int, t: Fraction, strictly: bool = False) -> bool:
        return _ratio_holds(c_area, b_area, t, strictly) and _ratio_holds(c_heads, b_heads, t, strictly)

    participation = both(part_area, total_area, part_heads, total_heads, Fraction(2, 3))
    if rule_name == "double-two-thirds":
        return [both(agree_area, total_area, agree_heads, total_heads, Fraction(2, 3))]
    if rule_name == "eighty-percent":
        return [both(agree_area, total_area, agree_heads, total_heads, Fraction(80, 100))]
    if rule_name == "civil-code-major":
        return [participation, both(agree_area, part_area, agree_heads, part_heads, Fraction(3, 4))]
    if rule_name == "civil-code-ordinary":
        return [participation, both(agree_area, part_area, agree_heads, part_heads, Fraction(1, 2), strictly=True)]
    raise AssertionError(rule_name)


@settings(max_examples=200, deadline=None)
@given(case=rosters_and_ballots(max_ballots=24))
def test_every_preset_agrees_with_an_independent_fraction_computation(
    case: tuple[list[Unit], list[tuple[str, Choice]]],
) -> None:
    units, ballots = case
    areas = owner_areas(units)
    choices = latest(units, ballots)
    for name in ("double-two-thirds", "civil-code-major", "civil-code-ordinary", "eighty-percent"):
        result = count(units, ballots, preset(name))
        expected = expected_conditions(units, ballots, name)
        assert [c.holds for c in result.conditions] == expected, name
        assert result.passed is all(expected), name
        assert result.total == Weight(sum(areas.values()), len(areas))
        for choice, weight in (
            (Choice.AGREE, result.agree),
            (Choice.DISAGREE, result.disagree),
            (Choice.ABSTAIN, result.abstain),
        ):
            owners = [k for k, c in choices.items() if c is choice]
            assert weight == Weight(sum(areas[k] for k in owners), len(owners)), (name, choice)


# --- the shortfall is exact ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(case=rosters_and_ballots(), rule=any_rules())
def test_the_reported_shortfall_is_exactly_what_a_failing_dimension_lacks(
    case: tuple[list[Unit], list[tuple[str, Choice]]], rule: Rule
) -> None:
    """`shortfall` more makes the condition hold and `shortfall - 1` more does not.

    For approval of participants the shortfall counts new agreeing ballots, which raise count and base together.
    """
    units, ballots = case
    result = count(units, ballots, rule)
    for cres in result.conditions:
        cond = cres.condition
        rises = cond.kind is ConditionKind.APPROVAL and cond.base is Base.PARTICIPATING
        for d in cres.dimensions:
            assert d.holds is cond.holds(d.count, d.base)
            if d.holds:
                assert d.shortfall == 0
                continue
            if d.shortfall is None:
                # Only a 100 % approval of participants can be out of reach of any number of new ballots.
                assert rises
                assert cond.threshold == 1
                assert d.count < d.base  # someone took part without agreeing: no new ballot can undo that
                assert not any(cond.holds(d.count + x, d.base + x) for x in [*range(50), d.base, 10**9])
                continue
            s = d.shortfall
            assert s >= 1
            if rises:
                assert cond.holds(d.count + s, d.base + s), (cond, d)
                assert not cond.holds(d.count + s - 1, d.base + s - 1), (cond, d)
            else:
                assert cond.holds(d.count + s, d.base), (cond, d)
                assert not cond.holds(d.count + s - 1, d.base), (cond, d)
                assert d.count + s <= d.base  # reachable: never more than the whole


@dataclasses.dataclass(frozen=True)
class BigElectorate:
    """An electorate (the protocol `tally` counts against) of three owners with arbitrary, large areas."""

    owner_area: dict[str, int]
    total: Weight


@settings(max_examples=200, deadline=None)
@given(
    count_=st.integers(0, 10**9),
    extra=st.integers(0, 10**9),
    den=st.integers(1, 20),
    data=st.data(),
)
def test_shortfall_is_exact_for_large_areas_under_every_condition_shape(
    count_: int, extra: int, den: int, data: st.DataObject
) -> None:
    """Owner a holds `count_` (agrees, or abstains for participation), b holds `extra` (disagrees), c never votes."""
    num = data.draw(st.integers(1, den))
    comparison = Comparison.AT_LEAST if num == den else data.draw(st.sampled_from(list(Comparison)))
    kind = data.draw(st.sampled_from(list(ConditionKind)))
    base_kind = Base.TOTAL if kind is ConditionKind.PARTICIPATION else data.draw(st.sampled_from(list(Base)))
    cond = Condition(kind, Fraction(num, den), base_kind, comparison, (Dimension.AREA,))
    electorate = BigElectorate({"a": count_, "b": extra, "c": 1}, Weight(count_ + extra + 1, 3))
    if kind is ConditionKind.PARTICIPATION:
        choices = {"a": Choice.ABSTAIN}
    else:
        choices = {"a": Choice.AGREE, "b": Choice.DISAGREE}

    (cres,) = tally(electorate, Rule("one", (cond,)), choices).conditions
    (d,) = cres.dimensions
    rises = kind is ConditionKind.APPROVAL and base_kind is Base.PARTICIPATING
    assert (d.count, d.base) == (count_, count_ + extra if rises else count_ + extra + 1)
    if d.holds:
        assert d.shortfall == 0
    elif d.shortfall is None:
        assert rises
        assert cond.threshold == 1
    elif rises:
        assert cond.holds(d.count + d.shortfall, d.base + d.shortfall)
        assert not cond.holds(d.count + d.shortfall - 1, d.base + d.shortfall - 1)
    else:
        assert cond.holds(d.count + d.shortfall, d.base)
        assert not cond.holds(d.count + d.shortfall - 1, d.base)


def test_unanimity_of_participants_with_no_ballot_yet_is_one_agreeing_ballot_short() -> None:
    """A 100 % approval of participants with nobody voted holds after one agreeing ballot: shortfall 1, not None.

    (Found by the property above: None, "never", is right only once someone has taken part without agreeing.)
    """
    roster = Roster.of([Unit("101", 3000)])
    cond = Condition(ConditionKind.APPROVAL, Fraction(1), Base.PARTICIPATING)
    result = tally(roster, Rule("unanimous-participants", (cond,)), {})
    assert not result.passed
    assert cond.holds(1, 1)  # one agreeing ballot would be enough ...
    assert [(d.dimension, d.shortfall) for d in result.conditions[0].dimensions] == [
        (Dimension.AREA, 1),
        (Dimension.HEADCOUNT, 1),
    ]  # ... so the shortfall is 1 (0.01 m², one person), not None ("never")
    agreed = tally(roster, Rule("unanimous-participants", (cond,)), {roster.owner_of("101"): Choice.AGREE})
    assert agreed.passed
