"""What a new roster changes against the current one, for the worker to check before importing:
homes added, removed, and changed (area, owner or status), and the total area before and after."""

from __future__ import annotations

from dataclasses import dataclass

from voting.model import Roster, Unit

__all__ = ["RosterChanges", "roster_changes"]


@dataclass(frozen=True, slots=True)
class RosterChanges:
    added: tuple[Unit, ...]
    removed: tuple[Unit, ...]
    changed: tuple[tuple[Unit, Unit], ...]  # (before, after), same unit id
    area_before: int  # 0.01 m²
    area_after: int

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def roster_changes(before: Roster, after: Roster) -> RosterChanges:
    """The homes added, removed and changed from `before` to `after`, in `after`'s (then `before`'s) order."""
    old = {unit.unit_id: unit for unit in before}
    new = {unit.unit_id: unit for unit in after}
    changed = tuple(
        (old[unit.unit_id], unit) for unit in after if unit.unit_id in old and _key(old[unit.unit_id]) != _key(unit)
    )
    return RosterChanges(
        added=tuple(unit for unit in after if unit.unit_id not in old),
        removed=tuple(unit for unit in before if unit.unit_id not in new),
        changed=changed,
        area_before=before.total.area,
        area_after=after.total.area,
    )


def _key(unit: Unit) -> tuple[int, str, str]:
    return unit.area, unit.owner, str(unit.status)
