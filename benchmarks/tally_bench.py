"""Tally a generated 1,000,000-unit roster with 700,000 ballots, against the floor measured in the same run.

What is measured (generation of the files is not):

* parse: `voting.files.read_roster` and `voting.files.read_ballots` on the files' bytes (read beforehand);
* tally: `voting.tally.latest_choices` (each owner's latest ballot) then `voting.tally.tally` under the
  "double-two-thirds" preset — best of 3;
* the floor, best of 3 (below), and the ratio tally / floor;
* the whole `renovote tally --json` command in a child process: wall time and peak RSS;
* memory: the peak RSS of this process across parse + tally, and, in a separate pass so the
  timings stay clean, the Python allocations tracemalloc attributes to each step.

Why the floor is the floor: whatever the abstractions, a count must, for each ballot, find the
unit's owner and remember that owner's latest choice, then, for each owner who voted, add their
area and 1 to their choice's totals. The floor does exactly that with nothing else: one plain
dict lookup and one dict store per ballot, two plain-dict additions per owner, on plain `str`
keys and `int` areas prepared outside the timed region. No interpreted Python code can do that
integer work with fewer operations, so tally / floor is the price of the abstraction.

Usage: .venv/bin/python benchmarks/tally_bench.py [--units N] [--ballots M] [--keep DIR]
Targets (2-core machine): tally <= 3x floor; whole command < 15 s; peak memory < 1 GB.
A benchmark, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from voting.files import read_ballots, read_roster
from voting.model import Choice, Roster
from voting.rules import preset
from voting.tally import TallyResult, latest_choices, tally

ROOT = Path(__file__).resolve().parent.parent
RULE = "double-two-thirds"
RUNS = 3
SEED = 7

MAX_RATIO = 3.0
MAX_COMMAND_S = 15.0
MAX_MEMORY_MB = 1024.0

MULTI_SHARE = 0.30  # share of units held by owners of 2-4 units
DEVELOPER_SHARE = 0.003  # unsold units, all held by the developer (one owner)
REVOTE_SHARE = 0.10  # share of ballots that repeat a unit already voted through
CHOICE_WEIGHTS = ((Choice.AGREE, 6), (Choice.DISAGREE, 3), (Choice.ABSTAIN, 1))
CHUNK = 10_000  # lines written at once

T = TypeVar("T")


def unit_id(index: int) -> str:
    """Unit ids look like a registry's: building, then a three-digit room."""
    return f"B{index // 1000:04d}-{index % 1000:03d}"


def write_roster(path: Path, units: int, rng: random.Random) -> None:
    """`units` rows; ~30% of units in blocks of 2-4 per owner, ~0.3% unsold (the developer's)."""
    # An owner holds several units with probability p, 3 on average: 3p / (3p + 1 - p) = MULTI_SHARE.
    p_multi = MULTI_SHARE / (3 - 2 * MULTI_SHARE)
    owner = 0
    index = 0
    lines: list[str] = ["unit_id,area_m2,owner,status\n"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        while index < units:
            owner += 1
            holding = rng.randint(2, 4) if rng.random() < p_multi else 1
            for _ in range(min(holding, units - index)):
                area = rng.randint(3000, 20000)  # 30.00 to 200.00 m²
                if rng.random() < DEVELOPER_SHARE:
                    lines.append(f"{unit_id(index)},{area // 100}.{area % 100:02d},,unsold\n")
                else:
                    lines.append(f"{unit_id(index)},{area // 100}.{area % 100:02d},o{owner},sold\n")
                index += 1
            if len(lines) >= CHUNK:
                fh.writelines(lines)
                lines.clear()
        fh.writelines(lines)


def write_ballots(path: Path, units: int, ballots: int, rng: random.Random) -> None:
    """`ballots` rows in cast order: ~90% through distinct units, the rest revotes through units already used."""
    first = rng.sample(range(units), k=min(units, round(ballots * (1 - REVOTE_SHARE))))
    order = first + rng.choices(first, k=ballots - len(first))
    rng.shuffle(order)
    choices = [str(c) for c, _ in CHOICE_WEIGHTS]
    picked = rng.choices(choices, weights=[w for _, w in CHOICE_WEIGHTS], k=len(order))
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("unit_id,choice\n")
        for start in range(0, len(order), CHUNK):
            fh.writelines(
                f"{unit_id(i)},{c}\n"
                for i, c in zip(order[start : start + CHUNK], picked[start : start + CHUNK], strict=True)
            )


def rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times: list[float] = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class GcClock:
    """Wall time spent in cyclic garbage collection, summed from `gc.callbacks` (a few thousand calls a parse)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """Run once: the value, the seconds it took, and how many of them went to cyclic GC."""
    gc.collect()
    clock = GcClock()
    gc.callbacks.append(clock)
    try:
        start = time.perf_counter()
        value = fn()
        elapsed = time.perf_counter() - start
    finally:
        gc.callbacks.remove(clock)
    return value, elapsed, clock.seconds


def floor_inputs(
    roster: Roster, ballots: list[tuple[str, Choice]]
) -> tuple[dict[str, str], dict[str, int], list[tuple[str, str]]]:
    """Plain dicts and plain strings: unit -> owner key, owner key -> area, ballots as (unit, choice text).

    The floor gets the roster's own strings (one owner-key object per owner, the ballots' unit ids),
    so its dict lookups are as cheap as the core's and it is never slower for want of sharing.
    """
    owner_of = {u.unit_id: roster.owner_of(u.unit_id) for u in roster}
    owner_area = dict(roster.owner_area)
    raw = [(uid, choice.value) for uid, choice in ballots]
    return owner_of, owner_area, raw


def floor(owner_of: dict[str, str], owner_area: dict[str, int], ballots: list[tuple[str, str]]) -> None:
    """The same integer work as latest_choices + tally, with no abstraction at all."""
    latest: dict[str, str] = {}
    for uid, choice in ballots:
        latest[owner_of[uid]] = choice
    area = {"agree": 0, "disagree": 0, "abstain": 0}
    heads = {"agree": 0, "disagree": 0, "abstain": 0}
    for owner, choice in latest.items():
        area[choice] += owner_area[owner]
        heads[choice] += 1


@dataclass(frozen=True, slots=True)
class Command:
    seconds: float
    cpu_seconds: float
    peak_mb: float
    exit_code: int
    agrees: bool  # the command's JSON equals the in-process result's


def command_line(roster: Path, ballots: Path) -> list[str] | None:
    """`renovote tally ...` from the virtualenv, or the same through `bot.cli`, or None if neither exists yet."""
    args = ["tally", "--roster", str(roster), "--ballots", str(ballots), "--rule", RULE, "--json"]
    for script in (Path(sys.executable).with_name("renovote"), ROOT / ".venv" / "bin" / "renovote"):
        if script.is_file():
            return [str(script), *args]
    if (ROOT / "bot" / "cli.py").is_file():
        return [sys.executable, "-c", "from bot.cli import main; main()", *args]
    return None


def run_command(argv: list[str], expected: TallyResult) -> Command:
    """Run the whole command once as the only child, so RUSAGE_CHILDREN's peak is its own."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    try:
        agrees = json.loads(proc.stdout) == json.loads(json.dumps(expected.as_dict(), ensure_ascii=False))
    except ValueError:
        agrees = False
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
    return Command(seconds, cpu, peak, proc.returncode, agrees)


@dataclass(frozen=True, slots=True)
class Traced:
    roster_kept_mb: float
    ballots_kept_mb: float
    peak_mb: float


def traced_pass(roster_bytes: bytes, ballots_bytes: bytes) -> Traced:
    """Parse and tally again under tracemalloc (slow; its timings are not reported)."""
    mb = 1024 * 1024
    gc.collect()
    tracemalloc.start()
    try:
        roster = read_roster(roster_bytes, "roster.csv")
        roster_kept = tracemalloc.get_traced_memory()[0]
        ballots = read_ballots(ballots_bytes, "ballots.csv", roster)
        ballots_kept = tracemalloc.get_traced_memory()[0] - roster_kept
        tally(roster, preset(RULE), latest_choices(roster, ballots))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return Traced(roster_kept / mb, ballots_kept / mb, peak / mb)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True, slots=True)
class InProcess:
    units: int
    owners: int
    ballots: int
    voters: int
    parse_roster_s: float
    parse_roster_gc_s: float
    parse_ballots_s: float
    parse_ballots_gc_s: float
    tally_s: float
    floor_s: float
    peak_rss_mb: float  # high-water mark after parse + tally, before the floor's inputs exist
    result: TallyResult


def in_process(roster_bytes: bytes, ballots_bytes: bytes) -> InProcess:
    """Parse, tally (best of 3) and floor (best of 3); everything they built is freed on return."""
    roster, parse_roster_s, parse_roster_gc_s = timed(lambda: read_roster(roster_bytes, "roster.csv"))
    ballots, parse_ballots_s, parse_ballots_gc_s = timed(lambda: read_ballots(ballots_bytes, "ballots.csv", roster))
    rule = preset(RULE)
    result = tally(roster, rule, latest_choices(roster, ballots))
    tally_s = best_of(RUNS, lambda: tally(roster, rule, latest_choices(roster, ballots)))
    peak_rss = rss_mb()
    owner_of, owner_area, raw = floor_inputs(roster, ballots)
    floor_s = best_of(RUNS, lambda: floor(owner_of, owner_area, raw))
    voters = len(latest_choices(roster, ballots))
    return InProcess(
        len(roster),
        roster.total.headcount,
        len(ballots),
        voters,
        parse_roster_s,
        parse_roster_gc_s,
        parse_ballots_s,
        parse_ballots_gc_s,
        tally_s,
        floor_s,
        peak_rss,
        result,
    )


def bench(folder: Path, units: int, ballots_wanted: int) -> None:
    roster_path, ballots_path = folder / "roster.csv", folder / "ballots.csv"
    rng = random.Random(SEED)
    write_roster(roster_path, units, rng)
    write_ballots(ballots_path, units, ballots_wanted, rng)
    gc.collect()

    load = os.getloadavg()[0]
    rss_base = rss_mb()
    roster_bytes, ballots_bytes = roster_path.read_bytes(), ballots_path.read_bytes()
    run = in_process(roster_bytes, ballots_bytes)
    gc.collect()
    argv = command_line(roster_path, ballots_path)
    command = run_command(argv, run.result) if argv is not None else None
    traced = traced_pass(roster_bytes, ballots_bytes)

    ratio = run.tally_s / run.floor_s if run.floor_s > 0 else float("inf")
    rss_peak = run.peak_rss_mb
    print(f"tally benchmark, seed {SEED}, rule {RULE}; {os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"units            {run.units:>12,}")
    print(f"owners           {run.owners:>12,}   (the developer counted once)")
    print(f"ballots          {run.ballots:>12,}   ({run.voters:,} owners voted; the rest are revotes)")
    print(f"parse roster     {run.parse_roster_s:10.3f} s   (of which cyclic GC {run.parse_roster_gc_s:.3f} s)")
    print(f"parse ballots    {run.parse_ballots_s:10.3f} s   (of which cyclic GC {run.parse_ballots_gc_s:.3f} s)")
    print(f"tally            {run.tally_s:10.3f} s   (latest_choices + tally, best of {RUNS})")
    print(f"floor            {run.floor_s:10.3f} s   (bare dict loop over the same ints, best of {RUNS})")
    print(f"ratio            {ratio:10.2f} x")
    if command is None:
        print("whole command: not available yet")
    else:
        print(
            f"whole command    {command.seconds:10.3f} s   (CPU {command.cpu_seconds:.2f} s; exit {command.exit_code}; "
            f"JSON {'equals' if command.agrees else 'DIFFERS from'} the in-process result)"
        )
        print(f"command peak RSS {command.peak_mb:10.0f} MB")
    print(f"in-process peak RSS {rss_peak:7.0f} MB   (parse + tally; {rss_base:.0f} MB before reading the files)")
    print(
        f"tracemalloc      roster kept {traced.roster_kept_mb:.0f} MB, ballots kept {traced.ballots_kept_mb:.0f} MB, "
        f"peak {traced.peak_mb:.0f} MB   (separate pass)"
    )
    print("targets")
    print(f"  tally <= {MAX_RATIO:g}x floor          {ratio:8.2f} x    {verdict(ratio <= MAX_RATIO)}")
    if command is None:
        print(f"  whole command < {MAX_COMMAND_S:g} s        not available yet")
        print("  peak memory < 1 GB (command)  not available yet")
    else:
        ok = command.exit_code == 0 and command.seconds < MAX_COMMAND_S
        print(f"  whole command < {MAX_COMMAND_S:g} s      {command.seconds:8.2f} s    {verdict(ok)}")
        print(f"  peak memory < 1 GB (command) {command.peak_mb:8.0f} MB   {verdict(command.peak_mb < MAX_MEMORY_MB)}")
    print(f"  peak memory < 1 GB (in-proc) {rss_peak:8.0f} MB   {verdict(rss_peak < MAX_MEMORY_MB)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000, help="units in the roster (default 1,000,000)")
    parser.add_argument("--ballots", type=int, default=700_000, help="ballot rows (default 700,000)")
    parser.add_argument("--keep", metavar="DIR", help="write the generated files here and keep them")
    args = parser.parse_args()
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
        bench(folder, args.units, args.ballots)
    else:
        with tempfile.TemporaryDirectory(prefix="tally-bench-") as tmp:
            bench(Path(tmp), args.units, args.ballots)


if __name__ == "__main__":
    main()
