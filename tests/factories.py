"""Shared test helpers: small rosters built in code, written to real files where a test needs files."""

from __future__ import annotations

from voting.model import Roster, Unit, UnitStatus


def roster_a() -> Roster:
    """DOMAIN.md roster A: 101 (60.00, p1), 102 (60.00, p2), 201 and 202 (90.00 each, p3)."""
    return Roster.of(
        [
            Unit("101", 6000, "p1"),
            Unit("102", 6000, "p2"),
            Unit("201", 9000, "p3"),
            Unit("202", 9000, "p3"),
        ]
    )


def roster_b() -> Roster:
    """DOMAIN.md roster B: 150 sold units of 60.00 m², one owner each, and 30 unsold units of 90.00 m²."""
    sold = [Unit(f"S{i:03d}", 6000, f"o{i}") for i in range(150)]
    unsold = [Unit(f"U{i:02d}", 9000, status=UnitStatus.UNSOLD) for i in range(30)]
    return Roster.of(sold + unsold)
