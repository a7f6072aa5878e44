"""Shared test helpers: small rosters built in code, written to real files where a test needs files."""

from __future__ import annotations

import hashlib
import re

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


HASH_MEMBER = re.compile(rb',"hash":"([^"]{64})"')
PREV_MEMBER = re.compile(rb'"prev_hash":"[^"]{64}"')


def rechain(block: bytes) -> bytes:
    """Give each line of a block of ledger lines the hash of its content, and the hash of the line
    before as its prev_hash, as a forger would after changing something."""
    lines = block.split(b"\n")
    prev: bytes | None = None
    for number, original in enumerate(lines):
        line = original if prev is None else PREV_MEMBER.sub(b'"prev_hash":"' + prev + b'"', original, count=1)
        member = HASH_MEMBER.search(line)
        prev = None
        if member is not None:
            prev = hashlib.sha256(line[: member.start()] + line[member.end() :]).hexdigest().encode()
            line = line[: member.start(1)] + prev + line[member.end(1) :]
        lines[number] = line
    return b"\n".join(lines)
