"""How often each fast check's verdict depends on the base seed.

    python -m harness.flake                     # the held-out base seeds 1000-1019
    python -m harness.flake --seeds 0-19        # the tuning seeds

runs `pytest -m fast claims -n 2` under each base seed of the range, `parallel` runs at a time, each with its own
--claims-report folder, then prints per check how many runs gave a verdict other than the expected one
(or failed it otherwise: the negative control supported, an error) and under which seeds, and a total.
Exits 1 if any did, or if a run left no claims.json. Extra arguments after `--` go to every pytest run.
The runs' reports and logs go to a temporary folder that is removed at the end, unless --keep names a folder
or a run left no claims.json (its log then says why, and the folder is kept and named).

The defaults come from timing two seeds on a busy 2-core machine: one run at a time with -n 2 (one torch
thread per worker) took 97 s; two at a time with -n 2, 106 s; two at a time without xdist, 629 s, since each
run then takes both cores' worth of torch threads and four threads spinning on two cores waste most of it.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.verdicts import control_supported, meets

ROOT = Path(__file__).resolve().parents[1]


def pytest_command(seed: int, report: Path, workers: int, extra: list[str]) -> list[str]:
    xdist = ["-n", str(workers)] if workers > 1 else []
    return [sys.executable, "-m", "pytest", "-m", "fast", "claims", "-p", "no:cacheprovider", "-q", *xdist,
            "--claims-seed", str(seed), "--claims-report", str(report), *extra]


def run_seed(seed: int, folder: Path, workers: int, extra: list[str]) -> list[dict] | None:
    """The seed's claims.json records; None when the run left none or stopped short of the end (exit status
    other than 0, all passed, or 1, some failed). Its output is in seed<N>.log."""
    report = folder / f"seed{seed}"
    with open(folder / f"seed{seed}.log", "w") as log:
        done = subprocess.run(pytest_command(seed, report, workers, extra), cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    path = report / "claims.json"
    return json.loads(path.read_text()) if path.exists() and done.returncode in (0, 1) else None


def failure(record: dict) -> str | None:
    """Why a record's check failed, in a word or two; None when it gave its expected verdict and passed."""
    if record["verdict"] == "skipped" or record["passed"]:
        return None
    if not meets(record["verdict"], record["expected"]):
        return record["verdict"]
    return "control supported" if control_supported(record) else "failed"


def check_name(record: dict) -> str:
    return f"{record['claim']} {record.get('test', record['check'])}"


def tally(runs: dict[int, list[dict]]) -> dict[str, list[tuple[int, str]]]:
    """check -> [(seed, why)] for every run where it failed or is missing; every check that ran is a key."""
    failures: dict[str, list[tuple[int, str]]] = defaultdict(list)
    names = {check_name(r) for records in runs.values() for r in records}
    for seed, records in sorted(runs.items()):
        by_name = {check_name(r): r for r in records}
        for name in sorted(names):
            why = failure(by_name[name]) if name in by_name else "missing"
            failures[name] += [(seed, why)] if why else []
    return failures


def ran(runs: dict[int, list[dict]]) -> dict[str, int]:
    """check -> in how many runs it ran (was not skipped)."""
    counts: dict[str, int] = defaultdict(int)
    for records in runs.values():
        for record in records:
            counts[check_name(record)] += record["verdict"] != "skipped"
    return counts


def table(failures: dict[str, list[tuple[int, str]]], ran: dict[str, int]) -> list[str]:
    """One line per check: how many of the runs where it ran differed, and under which seeds (skipped: never ran)."""
    width = max(len(name) for name in failures)
    lines = [f"{'check':<{width}}  differed  seeds (verdict)"]
    for name in sorted(failures):
        count = f"{len(failures[name])}/{ran[name]}" if ran[name] else "skipped"
        seeds = ", ".join(f"{seed} ({why})" for seed, why in failures[name])
        lines.append(f"{name:<{width}}  {count:<8}  {seeds}".rstrip())
    return lines


def seed_range(text: str) -> range:
    """"A-B" (both included) or "A", non-negative integers."""
    match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text)
    if match is None or int(match.group(2) or match.group(1)) < int(match.group(1)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a range of base seeds; write it as A-B with 0 <= A <= B, "
                                         "e.g. 1000-1019")
    return range(int(match.group(1)), int(match.group(2) or match.group(1)) + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.flake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=seed_range, default=range(1000, 1020),
                        help="base seeds A-B, both included (default 1000-1019, held out from tuning, which reads "
                             "0-19 only)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers per run (default 2; 1: no xdist)")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's report and log in this folder")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to every pytest run")
    args = parser.parse_args(argv)
    # absolute: the runs start in the repository root, wherever this command was typed
    folder = (args.keep or Path(tempfile.mkdtemp(prefix="claims-flake-"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    kept = args.keep is not None
    try:
        differed, lost = measure(args, folder)
        kept = kept or bool(lost)
    finally:
        if not kept:  # also when interrupted: nothing of a temporary folder is worth keeping then
            shutil.rmtree(folder, ignore_errors=True)
    if kept:
        print(f"reports and logs in {folder}")
    return 1 if differed or lost else 0


def measure(args: argparse.Namespace, folder: Path) -> tuple[int, list[int]]:
    """Run every seed, print the table and the total; (verdicts that differed, seeds that left no claims.json)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        results = dict(zip(args.seeds, pool.map(lambda s: run_seed(s, folder, args.workers, args.pytest_args),
                                                args.seeds)))
    lost = sorted(seed for seed, records in results.items() if records is None)
    finished = {seed: records for seed, records in results.items() if records is not None}
    failures, counts = tally(finished), ran(finished)
    print("\n".join(table(failures, counts)) if failures else "no check ran")
    differed = sum(len(f) for f in failures.values())
    seeds = f"{args.seeds.start}-{args.seeds.stop - 1}" if len(args.seeds) > 1 else f"{args.seeds.start}"
    print(f"total: {differed} verdicts differed from expected, in {sum(1 for f in failures.values() if f)} of "
          f"{sum(1 for c in counts.values() if c)} checks that ran ({sum(1 for c in counts.values() if not c)} "
          f"skipped in every run), over {len(finished)} of the {len(args.seeds)} base seeds {seeds} "
          f"({time.perf_counter() - start:.0f} s)")
    if lost:
        print(f"no claims.json from base seeds {', '.join(map(str, lost))}: see seed<N>.log in {folder}")
    return differed, lost


if __name__ == "__main__":
    sys.exit(main())
