"""Rosters of units and owners, with weights counted as the SPC interpretation (arts. 8-9) says.

Areas are integers in 0.01 m² (one hundredth of a square metre, the registry's precision);
no float is ever used for a weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from voting.errors import ScopeError

__all__ = [
    "DEVELOPER",
    "AreaSource",
    "Choice",
    "Roster",
    "Scope",
    "Unit",
    "UnitStatus",
    "Weight",
    "format_area",
    "parse_area",
]

#: The owner key of every unsold or undelivered unit: together they are one person (SPC art. 9).
DEVELOPER = "developer"


class UnitStatus(StrEnum):
    SOLD = "sold"
    UNSOLD = "unsold"
    UNDELIVERED = "undelivered"


class AreaSource(StrEnum):
    """Where a unit's area comes from, in the SPC interpretation's order of precedence (art. 8)."""

    REGISTRY = "registry"
    SURVEY = "survey"
    CONTRACT = "contract"


class Choice(StrEnum):
    AGREE = "agree"
    DISAGREE = "disagree"
    ABSTAIN = "abstain"


def parse_area(text: str) -> int:
    """Parse a decimal area in m² with at most two decimals into 0.01 m²; raise ValueError otherwise."""
    if len(text) > 3 and text[-3] == "." and text.isascii():  # the common "123.45"
        whole, frac = text[:-3], text[-2:]
        if whole.isdigit() and frac.isdigit():
            return int(whole) * 100 + int(frac)
    whole, dot, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (
        dot and not (0 < len(frac) <= 2 and frac.isascii() and frac.isdigit())
    ):
        raise ValueError(text)
    return int(whole) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if dot else 0)


def format_area(area: int) -> str:
    """Format 0.01 m² as a decimal string with exactly two decimals: 30000 -> '300.00'."""
    sign = "-" if area < 0 else ""
    whole, cents = divmod(abs(area), 100)
    return f"{sign}{whole}.{cents:02d}"


class Unit(NamedTuple):
    """One exclusive unit (专有部分). `owner` is the owner key as given; blank means the unit is its own owner.

    A NamedTuple rather than a dataclass: immutable all the same, and a million of them build in a
    fraction of the time and memory.
    """

    unit_id: str
    area: int
    owner: str = ""
    status: UnitStatus = UnitStatus.SOLD
    building: str = ""
    entrance: str = ""
    room: str = ""
    area_source: AreaSource = AreaSource.REGISTRY
    phone: str = ""  # the owner's phone when the roster gives one (for the door-to-door list)

    @property
    def owner_key(self) -> str:
        """The person this unit counts for (SPC art. 9)."""
        if self.status is not UnitStatus.SOLD:
            return DEVELOPER
        if self.owner:
            return "owner:" + self.owner
        return "unit:" + self.unit_id


@dataclass(frozen=True, slots=True)
class Weight:
    """A weight in both dimensions: area in 0.01 m² and headcount in persons."""

    area: int = 0
    headcount: int = 0

    def __add__(self, other: Weight) -> Weight:
        return Weight(self.area + other.area, self.headcount + other.headcount)

    def __sub__(self, other: Weight) -> Weight:
        return Weight(self.area - other.area, self.headcount - other.headcount)


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of a community a vote concerns: everything, one building, or one entrance of a building."""

    building: str = ""
    entrance: str = ""

    @property
    def is_whole(self) -> bool:
        return not self.building and not self.entrance

    def contains(self, unit: Unit) -> bool:
        if self.building and unit.building != self.building:
            return False
        return not (self.entrance and unit.entrance != self.entrance)


@dataclass(frozen=True, slots=True, eq=False)
class Roster:
    """A set of units, each unit id once, with owner weights derived as the law counts them."""

    units: tuple[Unit, ...]
    _owner_of: dict[str, str] = field(init=False, repr=False)
    _owner_area: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        owner_of: dict[str, str] = {}
        owner_area: dict[str, int] = {}
        keys: dict[str, str] = {}  # one owner-key string per owner, shared by all their units
        sold = UnitStatus.SOLD
        for unit in self.units:
            unit_id, area, owner, status = unit[0], unit[1], unit[2], unit[3]
            if unit_id in owner_of:
                raise ValueError(f"duplicate unit {unit_id!r}")
            if area <= 0:
                raise ValueError(f"unit {unit_id!r} has no positive area")
            if status is not sold:
                key = DEVELOPER
            elif owner:
                key = keys.get(owner) or keys.setdefault(owner, "owner:" + owner)
            else:
                key = "unit:" + unit_id
            owner_of[unit_id] = key
            owner_area[key] = owner_area.get(key, 0) + area
        object.__setattr__(self, "_owner_of", owner_of)
        object.__setattr__(self, "_owner_area", owner_area)

    @classmethod
    def of(cls, units: Iterable[Unit]) -> Roster:
        return cls(tuple(units))

    def __len__(self) -> int:
        return len(self.units)

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units)

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._owner_of

    @property
    def total(self) -> Weight:
        """Total area (sum over all exclusive units) and total headcount (sum of persons)."""
        return Weight(sum(self._owner_area.values()), len(self._owner_area))

    @property
    def owner_area(self) -> Mapping[str, int]:
        """Each owner's weight by area: the sum of their units' areas."""
        return self._owner_area

    def owner_of(self, unit_id: str) -> str:
        """The owner key a unit counts for; KeyError if the unit is not in the roster."""
        return self._owner_of[unit_id]

    def units_of(self, owner_key: str) -> tuple[str, ...]:
        """The unit ids an owner counts for (a scan: for one owner's card, not for loops)."""
        return tuple(unit_id for unit_id, key in self._owner_of.items() if key == owner_key)

    def weight_of(self, owner_key: str) -> Weight:
        return Weight(self._owner_area[owner_key], 1)

    def restrict(self, scope: Scope) -> Roster:
        """The roster of the units in scope; totals then come from the scope alone."""
        if scope.is_whole:
            return self
        units = tuple(u for u in self.units if scope.contains(u))
        if not units:
            raise ScopeError(f"no unit in building {scope.building!r} entrance {scope.entrance!r}")
        return Roster(units)
