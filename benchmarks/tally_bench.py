"""Tally a generated 1,000,000-unit roster with 700,000 ballots, against the floor measured in the same run.

Figures: roster parse, ballot parse, tally (latest choice per owner + the two-dimensional count),
and peak memory; the whole `renovote tally` command in a child process (wall time, peak RSS).

The floor is the same integer work with no abstraction at all: for each ballot look its unit's
owner up in a plain dict and keep the latest choice; then for each owner add its area and 1 into
two plain dicts keyed by choice. Its inputs are prepared outside the timed region.

Usage: .venv/bin/python benchmarks/tally_bench.py [--units N] [--ballots M] [--keep DIR]
Targets (2-core machine): tally <= 3x floor; whole command < 15 s; peak memory < 1 GB.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from voting.files import read_ballots, read_roster
from voting.rules import preset
from voting.tally import latest_choices, tally


def generate(folder: Path, units: int, ballots: int, seed: int = 7) -> tuple[Path, Path]:
    """A roster with ~30% of units held by multi-unit owners (2-4 units each), some developer-held units."""
    rng = random.Random(seed)
    roster, votes = folder / "roster.csv", folder / "ballots.csv"
    ids: list[str] = []
    with roster.open("w", encoding="utf-8") as fh:
        fh.write("unit_id,area_m2,owner,status\n")
        owner = 0
        i = 0
        while i < units:
            # owners of 2-4 units (3 on average) hold ~30% of the units
            holding = rng.randint(2, 4) if rng.random() < 0.125 else 1
            owner += 1
            for _ in range(min(holding, units - i)):
                uid = f"B{i // 1000}-{i % 1000:03d}"
                status = "unsold" if rng.random() < 0.004 else "sold"
                area = rng.randint(3000, 20000)
                fh.write(f"{uid},{area // 100}.{area % 100:02d},{'' if status != 'sold' else f'o{owner}'},{status}\n")
                ids.append(uid)
                i += 1
    choices = ["agree"] * 6 + ["disagree"] * 3 + ["abstain"]
    with votes.open("w", encoding="utf-8") as fh:
        fh.write("unit_id,choice\n")
        first = rng.sample(ids, k=min(len(ids), int(ballots * 0.9)))
        for uid in first:
            fh.write(f"{uid},{rng.choice(choices)}\n")
        for uid in rng.sample(first, k=ballots - len(first)):  # revotes
            fh.write(f"{uid},{rng.choice(choices)}\n")
    return roster, votes


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--ballots", type=int, default=700_000)
    parser.add_argument("--keep", help="write the generated files here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        roster_path, ballots_path = generate(folder, args.units, args.ballots)
        rss_before = rss_mb()

        start = time.perf_counter()
        roster = read_roster(roster_path.read_bytes(), roster_path.name)
        parse_roster = time.perf_counter() - start
        start = time.perf_counter()
        ballots = read_ballots(ballots_path.read_bytes(), ballots_path.name, roster)
        parse_ballots = time.perf_counter() - start
        rule = preset("double-two-thirds")

        def run_tally() -> None:
            tally(roster, rule, latest_choices(roster, ballots))

        tally_s = best_of(3, run_tally)
        rss_after = rss_mb()

        owner_of = {u.unit_id: u.owner_key for u in roster}
        owner_area = dict(roster.owner_area)
        raw = [(uid, str(choice)) for uid, choice in ballots]

        def floor() -> None:
            latest: dict[str, str] = {}
            for uid, choice in raw:
                latest[owner_of[uid]] = choice
            area = {"agree": 0, "disagree": 0, "abstain": 0}
            heads = {"agree": 0, "disagree": 0, "abstain": 0}
            for owner, choice in latest.items():
                area[choice] += owner_area[owner]
                heads[choice] += 1

        floor_s = best_of(3, floor)

        renovote = Path(sys.executable).with_name("renovote")
        command = [
            str(renovote),
            "tally",
            "--roster",
            str(roster_path),
            "--ballots",
            str(ballots_path),
            "--rule",
            "double-two-thirds",
            "--json",
        ]
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, check=False)
        whole = time.perf_counter() - start
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        ratio = tally_s / floor_s
        print(f"units {len(roster):,}   owners {roster.total.headcount:,}   ballots {len(ballots):,}")
        print(f"parse roster   {parse_roster:6.2f} s")
        print(f"parse ballots  {parse_ballots:6.2f} s")
        print(f"tally          {tally_s:6.3f} s   (best of 3)")
        print(f"floor          {floor_s:6.3f} s   (bare dict loop over the same integers, best of 3)")
        print(f"ratio          {ratio:6.2f} x   {'PASS' if ratio <= 3 else 'MISS'} (target <= 3x)")
        print(f"in-process peak RSS {rss_after:7.0f} MB (before parsing {rss_before:.0f} MB)")
        print(
            f"whole command  {whole:6.2f} s   exit {proc.returncode}   "
            f"{'PASS' if whole < 15 and proc.returncode == 0 else 'MISS'} (target < 15 s)"
        )
        print(f"command peak RSS {child_rss:7.0f} MB   {'PASS' if child_rss < 1024 else 'MISS'} (target < 1 GB)")


if __name__ == "__main__":
    main()
