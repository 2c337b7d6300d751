"""Measured full-scale verdicts, kept in the repository with where they came from.

A full-scale check follows a document's protocol and takes minutes on a GPU box, so most runs (CI, a laptop)
do not execute it. A run that did can keep its verdicts in a store file (`results/full_scale.json` by default)
with --claims-store-update: per check, the verdict, the deciding effect and its provenance (device, date,
versions, base seed, data). A later run that does not execute a stored check shows its stored verdict with that
provenance; one that executes it and reaches another verdict fails, as drift, until the store is refreshed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from harness.outputs.files import write_atomically
from harness.verdicts import control_supported

FORMAT = 1
DEFAULT_PATH = Path("results") / "full_scale.json"
FULL = "full"
ABOUT = ("Measured full-scale verdicts: each check's verdict, deciding effect and provenance, written by "
         "pytest -m slow --claims-store-update. Runs that do not execute a check show its entry here.")
ENTRY_KEYS = {"claim": str, "check": str, "test": str, "verdict": str, "effect": dict, "provenance": dict}
PROVENANCE_KEYS = ("device", "date", "versions", "base_seed", "data")


def empty() -> dict:
    """A store that keeps nothing yet."""
    return {"format": FORMAT, "about": ABOUT, "checks": []}


class StoreError(ValueError):
    """A store file that cannot be used; the message is one sentence."""


def _key(entry: dict) -> tuple[str, str]:
    return entry["claim"], entry.get("test", entry["check"])


def read_store(path: Path) -> dict:
    """The store at `path`, empty when there is no such file; StoreError (one sentence) when it is not a store."""
    if not path.exists():
        return empty()
    try:
        store = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StoreError(f"the full-scale store {path} cannot be read ({error}); restore it from git, or rewrite "
                         "it with pytest -m slow --claims-store-update.") from None
    if not isinstance(store, dict) or store.get("format") != FORMAT or not isinstance(store.get("checks"), list):
        raise StoreError(f"{path} is not a full-scale store of format {FORMAT}; restore it from git, or rewrite it "
                         "with pytest -m slow --claims-store-update.")
    if problem := next(filter(None, map(_entry_problem, store["checks"])), None):
        raise StoreError(f"{path}: {problem}; restore it from git, or rewrite it with pytest -m slow "
                         "--claims-store-update.")
    return store


def _entry_problem(entry: object) -> str | None:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), kind) for k, kind in ENTRY_KEYS.items()):
        return f"an entry lacks one of {', '.join(ENTRY_KEYS)}: {str(entry)[:80]}"
    if missing := [k for k in PROVENANCE_KEYS if k not in entry["provenance"]]:
        return f"the entry of {entry['test']} lacks its provenance's {', '.join(missing)}"
    return None


def provenance(device: str, versions: dict[str, str], base_seed: int, record: dict) -> dict[str, Any]:
    """Where a record's result came from: the device, today's date, the versions, the base seed and its data."""
    data = record.get("protocol", {})
    return {"device": device, "date": datetime.date.today().isoformat(), "versions": dict(versions),
            "base_seed": base_seed, "data": data.get("data", data.get("task", ""))}


def measured_full(records: Iterable[dict]) -> list[dict]:
    """The records of full-scale checks that ran and decided: a verdict whose control came out supported, or that
    was given NaN or infinite values, is no measurement."""
    return [r for r in records if r["scale"] == FULL and r.get("decision") and not r["decision"].get("nonfinite")
            and not control_supported(r)]


def entry(record: dict, where: dict[str, Any]) -> dict:
    """What the store keeps of a record: the verdict, the deciding effect, the controls' verdicts, the provenance."""
    decision = record["decision"]
    return {"claim": record["claim"], "check": record["check"], "test": record.get("test", record["check"]),
            "verdict": record["verdict"], "expected": record["expected"],
            "effect": {key: decision[key] for key in ("effect_name", "effect", "interval", "threshold", "n")},
            "controls": {c["kind"]: c["verdict"] for c in record.get("controls", [])}, "provenance": where}


def merged(store: dict, newer: dict) -> dict:
    """The store with `newer`'s entries in place of the entries of the same checks."""
    checks = {_key(e): e for e in store["checks"]} | {_key(e): e for e in newer["checks"]}
    return {"format": FORMAT, "about": ABOUT, "checks": sorted(checks.values(), key=_key)}


def updated(store: dict, records: Iterable[dict], device: str, versions: dict[str, str], base_seed: int) -> dict:
    """The store with this run's measured full-scale checks in place of their old entries."""
    return merged(store, {"checks": [entry(r, provenance(device, versions, base_seed, r))
                                     for r in measured_full(records)]})


def write_store(path: Path, store: dict) -> None:
    try:
        write_atomically(path, json.dumps(store, indent=1, allow_nan=False) + "\n")
    except OSError as error:
        raise StoreError(f"could not write the full-scale store {path}: {error.strerror or error}.") from None


def described(entry: dict) -> str:
    """Where a stored verdict came from, in a few words: 'cpu (x86_64), 2026-11-29, torch 2.13.0, base seed 0'."""
    where = entry["provenance"]
    return (f"{where['device']}, {where['date']}, torch {where['versions'].get('torch', '?')}, "
            f"base seed {where['base_seed']}")


def disagreements(store: dict, records: Iterable[dict], base_seed: int) -> list[str]:
    """One line per check this run measured at full scale, under the base seed its stored verdict came from, whose
    verdict differs from that one (under another base seed a different verdict is the seeds' doing, not drift)."""
    stored = {_key(e): e for e in store["checks"]}
    lines = []
    for record in measured_full(records):
        old = stored.get(_key(record))
        if old and old["provenance"]["base_seed"] == base_seed and old["verdict"] != record["verdict"]:
            lines.append(f"{record['claim']} {record.get('test', record['check'])}: stored {old['verdict']} "
                         f"({described(old)}), now {record['verdict']}")
    return lines


def stored_for(store: dict, claim: str) -> list[dict]:
    """The store's entries of one claim."""
    return [e for e in store["checks"] if e["claim"] == claim]


def main() -> None:
    """python -m harness.outputs.store FILE [INTO]: keep the entries of FILE (a GPU window's full_scale.json, say) in the
    store INTO (default results/full_scale.json), in place of the entries of the same checks."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a store written by --claims-store-update")
    parser.add_argument("into", type=Path, nargs="?", default=DEFAULT_PATH, help=f"default {DEFAULT_PATH}")
    args = parser.parse_args()
    try:
        newer = read_store(args.file)
        write_store(args.into, merged(read_store(args.into), newer))
    except StoreError as error:
        sys.exit(str(error))
    print(f"kept {len(newer['checks'])} entries of {args.file} in {args.into}")


if __name__ == "__main__":
    main()
