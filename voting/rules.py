"""Counting rules as data: exact fractions, a base (total or participating), ≥ or >.

Civil Code art. 1259: "以上/以下/以内" include the number itself (≥); "超过/不满" exclude it (>);
"过半数" means strictly more than half. Every comparison is cross-multiplied integers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

from voting.errors import N_, RuleError

__all__ = [
    "PRESETS",
    "Base",
    "Comparison",
    "Condition",
    "ConditionKind",
    "Dimension",
    "Rule",
    "parse_rule_toml",
    "preset",
    "rule_from_dict",
]


class ConditionKind(StrEnum):
    PARTICIPATION = "participation"  # owners who cast any ballot (abstention included)
    APPROVAL = "approval"  # owners who agree


class Base(StrEnum):
    TOTAL = "total"
    PARTICIPATING = "participating"


class Comparison(StrEnum):
    AT_LEAST = ">="  # 以上: the threshold itself passes
    MORE_THAN = ">"  # 超过 / 过半数: strictly more


class Dimension(StrEnum):
    AREA = "area"
    HEADCOUNT = "headcount"


BOTH = (Dimension.AREA, Dimension.HEADCOUNT)


@dataclass(frozen=True, slots=True)
class Condition:
    """`kind` count of each dimension compared to `threshold` of `base`; all dimensions must hold."""

    kind: ConditionKind
    threshold: Fraction
    base: Base = Base.TOTAL
    comparison: Comparison = Comparison.AT_LEAST
    dimensions: tuple[Dimension, ...] = BOTH

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise RuleError(
                N_("threshold {threshold} must be more than 0 and at most 1"), threshold=str(self.threshold)
            )
        if self.kind is ConditionKind.PARTICIPATION and self.base is Base.PARTICIPATING:
            raise RuleError(N_("a participation condition must be measured against the total"))
        if not self.dimensions or len(set(self.dimensions)) != len(self.dimensions):
            raise RuleError(N_("a condition needs one or both of the dimensions area, headcount"))
        if self.comparison is Comparison.MORE_THAN and self.threshold == 1:
            raise RuleError(N_("more than 100 percent can never hold"))

    def holds(self, count: int, base: int) -> bool:
        """Exact test of count against threshold × base; an empty base never holds."""
        if base <= 0:
            return False
        lhs, rhs = count * self.threshold.denominator, self.threshold.numerator * base
        return lhs >= rhs if self.comparison is Comparison.AT_LEAST else lhs > rhs

    def needed(self, count: int, base: int) -> int:
        """The least count that would hold against this base (the base itself held fixed)."""
        num, den = self.threshold.numerator, self.threshold.denominator
        if self.comparison is Comparison.AT_LEAST:
            return max(-(-num * base // den), 1)
        return num * base // den + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "threshold": f"{self.threshold.numerator}/{self.threshold.denominator}",
            "base": str(self.base),
            "comparison": str(self.comparison),
            "dimensions": [str(d) for d in self.dimensions],
        }


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: the motion passes only if every condition holds."""

    name: str
    conditions: tuple[Condition, ...]
    #: For presets an English gettext msgid the bot translates; for custom rules free text.
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "conditions": [c.as_dict() for c in self.conditions]}


def _approval(threshold: Fraction, **kw: Any) -> Condition:
    return Condition(ConditionKind.APPROVAL, threshold, **kw)


_PARTICIPATION_2_3 = Condition(ConditionKind.PARTICIPATION, Fraction(2, 3))

PRESETS: Mapping[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "double-two-thirds",
            (_approval(Fraction(2, 3)),),
            N_("Double two-thirds (Property Law 2007 art. 76)"),
        ),
        Rule(
            "civil-code-major",
            (_PARTICIPATION_2_3, _approval(Fraction(3, 4), base=Base.PARTICIPATING)),
            N_("Civil Code art. 278, major matter"),
        ),
        Rule(
            "civil-code-ordinary",
            (
                _PARTICIPATION_2_3,
                _approval(Fraction(1, 2), base=Base.PARTICIPATING, comparison=Comparison.MORE_THAN),
            ),
            N_("Civil Code art. 278, other matter"),
        ),
        Rule(
            "eighty-percent",
            (_approval(Fraction(4, 5)),),
            N_("Baoding three 80% (one stage)"),
        ),
    )
}


def preset(name: str) -> Rule:
    try:
        return PRESETS[name]
    except KeyError:
        raise RuleError(
            N_('unknown rule "{name}"; use one of {known} or the path of a rule TOML file'),
            name=name,
            known=", ".join(PRESETS),
        ) from None


def _fraction(value: Any, where: str) -> Fraction:
    """Thresholds are written as exact fractions "2/3" or percentages "80%"; never as floats."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RuleError(N_('{where}: write the threshold as a string such as "2/3" or "80%"'), where=where)
    text = str(value).strip()
    try:
        if text.endswith("%"):
            return Fraction(text[:-1].strip()) / 100
        if "/" in text:
            return Fraction(text)
        if text.isdigit():
            return Fraction(int(text))
    except (ValueError, ZeroDivisionError):
        pass
    raise RuleError(
        N_('{where}: "{value}" is not a fraction such as "2/3" or a percentage such as "80%"'),
        where=where,
        value=value,
    )


def _enum(cls: type[StrEnum], value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m) for m in cls)
        raise RuleError(
            N_('{where}: "{value}" is not one of {allowed}'), where=where, value=value, allowed=allowed
        ) from None


def _condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, dict):
        raise RuleError(N_("{where}: expected a table"), where=where)
    unknown = set(raw) - {"kind", "threshold", "base", "comparison", "dimensions"}
    if unknown:
        raise RuleError(N_("{where}: unknown key(s) {keys}"), where=where, keys=", ".join(sorted(unknown)))
    if "kind" not in raw or "threshold" not in raw:
        raise RuleError(N_('{where}: needs kind ("approval" or "participation") and threshold'), where=where)
    dims = raw.get("dimensions", [str(d) for d in BOTH])
    if not isinstance(dims, list):
        raise RuleError(N_('{where}.dimensions: expected a list such as ["area", "headcount"]'), where=where)
    return Condition(
        kind=_enum(ConditionKind, raw["kind"], f"{where}.kind"),
        threshold=_fraction(raw["threshold"], f"{where}.threshold"),
        base=_enum(Base, raw.get("base", "total"), f"{where}.base"),
        comparison=_enum(Comparison, raw.get("comparison", ">="), f"{where}.comparison"),
        dimensions=tuple(_enum(Dimension, d, f"{where}.dimensions") for d in dims),
    )


def parse_rule_toml(text: str, *, source: str = "rule") -> Rule:
    """Read a custom rule. `extends = "<preset>"` starts from a preset's conditions (chaining)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(N_("not valid TOML: {error}"), source=source, error=str(exc)) from None
    try:
        unknown = set(data) - {"name", "title", "extends", "conditions"}
        if unknown:
            raise RuleError(N_("unknown key(s) {keys}"), keys=", ".join(sorted(unknown)))
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RuleError(N_('the rule needs a name: name = "..."'))
        base_conditions: tuple[Condition, ...] = ()
        if "extends" in data:
            base_conditions = preset(str(data["extends"])).conditions
        raw = data.get("conditions", [])
        if not isinstance(raw, list):
            raise RuleError(N_("conditions must be an array of tables: [[conditions]]"))
        conditions = base_conditions + tuple(_condition(c, f"conditions[{i}]") for i, c in enumerate(raw, start=1))
        if not conditions:
            raise RuleError(N_('a rule needs at least one [[conditions]] table or extends = "<preset>"'))
        return Rule(name.strip(), conditions, str(data.get("title", "")))
    except RuleError as exc:
        raise RuleError(exc.template, source=source, **exc.params) from None


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """Rebuild a rule from `Rule.as_dict()` (as stored with a vote and signed in a tally)."""
    try:
        name = data["name"]
        raw_conditions = data["conditions"]
    except (KeyError, TypeError):
        raise RuleError(N_("a rule definition needs name and conditions")) from None
    if not isinstance(name, str) or not isinstance(raw_conditions, list):
        raise RuleError(N_("a rule definition needs name and conditions"))
    conditions = tuple(_condition(c, f"conditions[{i}]") for i, c in enumerate(raw_conditions, start=1))
    title = data.get("title", "")
    return Rule(name, conditions, title if isinstance(title, str) else "")
