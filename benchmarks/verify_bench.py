"""Verify a 1,000,000-entry audit bundle offline, against a bare SHA-256 chain over the same bytes.

The bundle is generated first (not timed): a roster of ~300,000 units, one signed tally, and
ledger entries cast in random order with revotes. Then `verify_bundle` runs in a child process
(so its peak RSS is its own), and the floor runs in this one: read the same ledger.jsonl member
of the same zip and chain SHA-256 over every line with the previous digest — the least work any
verifier of this chain must do. Run at two sizes to show that memory does not grow with entries.

The verifier forks a helper process for large ledgers: its peak RSS is shown apart ("helper
process"); it counts again the pages it shares with the verifier from the fork (copy-on-write).

Usage: .venv/bin/python benchmarks/verify_bench.py [--entries N] [--units U]
Targets: <= 10 s for 1,000,000 entries; peak memory not growing with the number of entries.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from voting.audit import BundleWriter, generate_private_key, sign_tally, tally_payload
from voting.ledger import EntryKind, FrozenRoster, next_entry
from voting.model import Choice, Roster, Scope, Unit
from voting.rules import preset
from voting.votes import GENESIS, Vote

CHILD = """
import resource, sys, time
from voting.audit import verify_bundle
start = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    report = verify_bundle(fh)
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{elapsed:.3f} {rss:.0f} {int(report.ok)} {report.entries} {helper:.0f}")
"""


def build(path: Path, entries: int, units: int) -> None:
    rng = random.Random(11)
    roster = Roster.of(Unit(f"U{i}", rng.randint(3000, 15000), f"o{i // 2 if i % 5 == 0 else i}") for i in range(units))
    frozen = FrozenRoster.build(roster, os.urandom(32))
    refs = [(u.unit_ref, u.owner_ref) for u in frozen.units]
    choices = [Choice.AGREE, Choice.AGREE, Choice.DISAGREE, Choice.ABSTAIN]
    key = generate_private_key()
    latest: dict[str, Choice] = {}
    seq, head = 0, GENESIS
    with path.open("wb") as fh:
        writer = BundleWriter(fh, vote_id="1", frozen=frozen, pseudonym_key=None)
        for n in range(entries):
            unit_ref, owner_ref = refs[rng.randrange(len(refs))]
            choice = choices[n % 4]
            entry = next_entry(
                seq,
                head,
                vote_id="1",
                kind=EntryKind.CAST,
                unit_ref=unit_ref,
                owner_ref=owner_ref,
                choice=choice,
                actor=f"account:{n % 9973}",
                at="2026-11-23T01:00:00.000000Z",
            )
            writer.add_entry(entry)
            latest[owner_ref] = choice
            seq, head = entry.seq, entry.entry_hash
        vote = Vote(1, "bench", "", preset("double-two-thirds"), Scope(), _t(0), _t(1), id=1)
        result = frozen.count(vote.rule, latest)
        payload = tally_payload(
            vote,
            result,
            stage="preliminary",
            roster_hash=frozen.roster_hash,
            head_seq=seq,
            head_hash=head,
            opened_at="a",
            closes_at="b",
            closed_at="c",
            signed_at="d",
        )
        writer.finish([sign_tally(key, payload)], key.public_key(), "bench")


def _t(day: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 11, 23, tzinfo=UTC) + timedelta(days=day)


def floor(path: Path) -> float:
    """Read ledger.jsonl of the same zip as the verifier does (1 MiB chunks split into lines: zipfile's
    own readline is much slower) and chain SHA-256 over every line with the previous digest."""
    start = time.perf_counter()
    digest = b"\0" * 32
    sha256 = hashlib.sha256
    with zipfile.ZipFile(path) as zf, zf.open("ledger.jsonl") as fh:
        rest = b""
        while chunk := fh.read(1 << 20):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                digest = sha256(digest + line).digest()
        if rest:
            digest = sha256(digest + rest).digest()
    return time.perf_counter() - start


def run(entries: int, units: int) -> tuple[float, float, float, bool, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.zip"
        build(path, entries, units)
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
        seconds, rss, ok, counted, helper = out.stdout.split()
        assert int(counted) == entries
        return float(seconds), float(rss), floor(path), ok == "1", float(helper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=300_000)
    args = parser.parse_args()
    peaks = []
    for entries in (args.entries // 4, args.entries):
        seconds, rss, floor_s, ok, helper = run(entries, args.units)
        peaks.append(rss)
        print(
            f"{entries:>9,} entries: verify {seconds:6.2f} s ({'PASS' if ok else 'FAIL'})   floor {floor_s:5.2f} s   "
            f"ratio {seconds / floor_s:5.1f}x   peak RSS {rss:5.0f} MB   helper process {helper:4.0f} MB",
            flush=True,
        )
    print(f"time target <= 10 s at {args.entries:,}: {'PASS' if seconds <= 10 else 'MISS'}")
    growth = peaks[1] / peaks[0]
    print(
        f"memory: {peaks[0]:.0f} MB -> {peaks[1]:.0f} MB for 4x the entries (x{growth:.2f}); "
        f"{'PASS' if growth < 1.25 else 'MISS'} (must not grow with entries; the roster of {args.units:,} "
        f"units and the latest choice per owner are what it keeps)"
    )


if __name__ == "__main__":
    main()
