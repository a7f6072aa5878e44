"""Rules as data: presets, custom TOML rules, chaining, and the errors a rule author sees."""

from __future__ import annotations

from fractions import Fraction

import pytest

from voting.errors import RuleError
from voting.rules import Base, Comparison, ConditionKind, Dimension, parse_rule_toml, preset

HANGZHOU = """
name = "hangzhou-xiacheng"
title = "杭州下城：双三分之二 + 方案认可率三分之二"
extends = "double-two-thirds"

[[conditions]]
kind = "approval"
threshold = "2/3"
base = "participating"
"""


def test_presets_encode_the_legal_thresholds_exactly() -> None:
    assert [c.threshold for c in preset("double-two-thirds").conditions] == [Fraction(2, 3)]
    major = preset("civil-code-major").conditions
    assert (major[0].kind, major[0].threshold) == (ConditionKind.PARTICIPATION, Fraction(2, 3))
    assert (major[1].base, major[1].threshold, major[1].comparison) == (
        Base.PARTICIPATING,
        Fraction(3, 4),
        Comparison.AT_LEAST,
    )
    ordinary = preset("civil-code-ordinary").conditions[1]
    assert (ordinary.threshold, ordinary.comparison) == (Fraction(1, 2), Comparison.MORE_THAN)
    assert preset("eighty-percent").conditions[0].threshold == Fraction(4, 5)


def test_a_custom_rule_can_chain_conditions_onto_a_preset() -> None:
    rule = parse_rule_toml(HANGZHOU)
    assert rule.name == "hangzhou-xiacheng"
    assert len(rule.conditions) == 2
    assert rule.conditions[0] == preset("double-two-thirds").conditions[0]
    assert rule.conditions[1].base is Base.PARTICIPATING


def test_percent_thresholds_are_exact_fractions() -> None:
    rule = parse_rule_toml(
        'name = "x"\n[[conditions]]\nkind = "approval"\nthreshold = "80%"\n'
        'dimensions = ["headcount"]\ncomparison = ">"\n'
    )
    (cond,) = rule.conditions
    assert cond.threshold == Fraction(4, 5)
    assert cond.dimensions == (Dimension.HEADCOUNT,)
    assert cond.comparison is Comparison.MORE_THAN


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('name = "x"\n[[conditions]]\nkind = "approval"\nthreshold = 0.6667\n', "threshold"),
        ('name = "x"\n[[conditions]]\nkind = "approve"\nthreshold = "2/3"\n', "kind"),
        ('name = "x"\n[[conditions]]\nkind = "approval"\nthreshold = "3/2"\n', "at most 1"),
        ('name = "x"\n[[conditions]]\nkind = "approval"\nthreshold = "2/3"\nbase = "all"\n', "base"),
        (
            'name = "x"\n[[conditions]]\nkind = "participation"\nthreshold = "2/3"\nbase = "participating"\n',
            "participation",
        ),
        ('name = "x"\n[[conditions]]\nkind = "approval"\nthreshold = "1"\ncomparison = ">"\n', "100"),
        ('name = "x"\n', "at least one"),
        ('[[conditions]]\nkind = "approval"\nthreshold = "2/3"\n', "name"),
        ('name = "x"\nextends = "majority"\n', "unknown rule"),
        ('name = "x"\nthreshhold = "2/3"\n', "unknown key"),
        ('name = "x"\n[[conditions]]\nkind = "approval"\nthreshold = "2/3"\ndimensions = ["rooms"]\n', "dimensions"),
        ("name = ", "TOML"),
    ],
)
def test_a_malformed_rule_file_is_refused_with_what_to_fix(toml: str, fragment: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule_toml(toml, source="rule.toml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("rule.toml: ")


def test_an_unknown_preset_name_lists_the_known_ones() -> None:
    with pytest.raises(RuleError, match="double-two-thirds"):
        preset("two-thirds")
