"""Regression baselines: one run's verdicts and numbers, each number with a tolerance, compared with a later run's.

A baseline file is JSON that people may edit: every number carries its own tolerance, {"absolute": a,
"relative": r}, and a later value v drifts from the stored b when |v - b| > a + r * |b| (element by element
for lists). The defaults:

- a decision's effect (the rule's, and each negative control's): absolute = the half-width of its confidence
  interval, relative = 0. The interval is the run's own measure of how far its seeds alone could move the
  effect, so a move beyond it is more than the seeds' noise. An exact decision has no interval; there the
  scale is half its distance from the threshold, so drift is flagged before the verdict could flip.
- every measured number: relative 5% plus a tiny absolute part (for values at 0). A run repeated with the
  same seed, device and versions reproduces them, so anything beyond rounding is a change; 5% leaves room
  for other thread counts and BLAS paths, which reorder floating-point sums.
- a check that timed something (evidence.measure_timings) keeps no numbers: timings move with the machine's load
  from run to run, so such a check is compared by its verdict alone.

Refreshing a baseline keeps the tolerances already in it (so edits survive) and gives new numbers the defaults.
Checks that did not run keep their entries, unless the file came from another device, versions or base seed:
then only this run's checks are kept.
"""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from harness.outputs.files import folder_problem, write_atomically
from harness.outputs.report import check_label

FORMAT = 2          # 2: each negative control's effect is named for its kind ("null control effect")
RELATIVE = 0.05
ABSOLUTE = 1e-12
ABOUT = ("Claims baseline: each check's verdict and numbers. A number drifts when |now - value| > "
         "absolute + relative * |value| (element-wise for lists); edit tolerances freely, refreshing keeps them.")


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one sentence."""


@dataclass(frozen=True)
class Drift:
    claim: str
    check: str
    scale: str
    number: str
    baseline: str
    now: str
    tolerance: str


@dataclass
class Comparison:
    drifts: list[Drift] = field(default_factory=list)
    compared: int = 0
    not_run: int = 0
    new: list[str] = field(default_factory=list)
    provenance_differs: str = ""   # empty when the baseline came from this run's device, versions and seed


def provenance(versions: dict[str, str], device: str, base_seed: int) -> dict[str, Any]:
    return {"versions": dict(versions), "device": device, "base_seed": base_seed}


def device_name(device: torch.device) -> str:
    """The device's kind and model, which is what decides its floating-point results (not its index)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.machine()})"


def _key(record: dict) -> tuple[str, str, str]:
    return record["claim"], record.get("test", record["check"]), record["scale"]


def _ran(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r.get("verdict") not in (None, "skipped")]


def _dotted(prefix: str, value: Any) -> dict[str, Any]:
    """Numbers and (nested) lists of numbers under dotted names; dicts are opened, other values dropped."""
    if isinstance(value, dict):
        return {k: v for name, inner in value.items() for k, v in _dotted(f"{prefix}.{name}", inner).items()}
    return {prefix: value} if _is_number(value) else {}


def _is_plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_number(v) for v in value)
    return _is_plain_number(value) or value in ("nan", "inf", "-inf")


def _decision_tolerance(decision: dict) -> dict[str, float]:
    lo, hi = (float(v) for v in decision["interval"])
    effect, threshold = float(decision["effect"]), float(decision["threshold"])
    half_width = (hi - lo) / 2
    if math.isfinite(half_width) and half_width > 0:
        return {"absolute": half_width, "relative": 0.0}
    if math.isfinite(effect) and math.isfinite(threshold) and effect != threshold:
        return {"absolute": abs(effect - threshold) / 2, "relative": 0.0}
    return {"absolute": ABSOLUTE, "relative": RELATIVE}


def numbers_of(record: dict) -> dict[str, dict[str, Any]]:
    """A check's numbers, each {"value": ..., "tolerance": {...}} with the default tolerance; none for a check that
    timed something (its verdict is compared, its numbers would drift with the machine's load)."""
    numbers: dict[str, dict[str, Any]] = {}
    if record.get("timed"):
        return numbers
    # a map's overall effect is its weakest cell's, which may be another cell next run: compare cell by cell
    cells = [(f"cell {c['row']}, {c['column']} ", c) for c in (record.get("conditions") or {}).get("cells", [])]
    for prefix, parts in cells or [("", record)]:
        decided = [("effect", parts.get("decision"))]
        decided += [(f"{c['kind']} control effect", c) for c in parts.get("controls", [])]
        decided += [(f"{parts['control']['kind']} control effect", parts["control"])] if parts.get("control") else []
        for label, decision in decided:
            if decision:
                numbers[prefix + label] = {"value": decision["effect"], "tolerance": _decision_tolerance(decision)}
    for name, value in _dotted("measured", record.get("measured", {})).items():
        numbers[name] = {"value": value, "tolerance": {"absolute": ABSOLUTE, "relative": RELATIVE}}
    return numbers


def _entry(record: dict, old: dict | None) -> dict:
    numbers = numbers_of(record)
    for name, number in numbers.items():
        if old and name in old["numbers"]:
            number["tolerance"] = old["numbers"][name]["tolerance"]
    return {"claim": record["claim"], "check": record["check"], "test": record.get("test", record["check"]),
            "scale": record["scale"], "verdict": record["verdict"], "numbers": numbers}


def refreshed(old: dict | None, records: Iterable[dict], written: dict) -> dict:
    """The baseline after this run: its checks updated, other checks kept when `old` came from the same setup."""
    kept = {_key(e): e for e in old["checks"]} if old and old["written"] == written else {}
    tolerances = {_key(e): e for e in old["checks"]} if old else {}
    for record in _ran(records):
        kept[_key(record)] = _entry(record, tolerances.get(_key(record)))
    checks = sorted(kept.values(), key=lambda e: _key(e))
    return {"format": FORMAT, "about": ABOUT, "written": written, "checks": checks}


def check_writable(path: Path) -> None:
    """Raises BaselineError (one sentence) when a baseline cannot be written at `path`."""
    if problem := folder_problem(path.parent):
        raise BaselineError(f"--claims-baseline {path}: cannot write it there, since {problem}; "
                            "choose a folder you can write to.")
    if path.is_dir():  # safe to ask once the folder above is known to be reachable
        raise BaselineError(f"--claims-baseline {path}: that path is a folder; give a file name.")


def update(path: Path, records: list[dict], now: dict) -> str:
    """Write the refreshed baseline; returns what to tell the user, or raises BaselineError (one sentence)."""
    try:
        old = read_baseline(path) if path.exists() else None
    except BaselineError:
        old = None  # an unreadable file is replaced
    baseline = refreshed(old, records, now)
    try:
        write_atomically(path, json.dumps(baseline, indent=1, allow_nan=False) + "\n")
    except OSError as error:
        raise BaselineError(f"could not write the baseline {path}: {error.strerror or error}.") from None
    return f"wrote {path}: {len(baseline['checks'])} checks, {len(_ran(records))} of them from this run."


def read_baseline(path: Path) -> dict:
    """The baseline stored at `path`; BaselineError (one sentence) when it is missing or not a baseline file."""
    try:
        baseline = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"--claims-baseline {path}: no such file; write one first with "
                            "--claims-baseline-update.") from None
    except OSError as error:
        raise BaselineError(f"--claims-baseline {path}: cannot be read ({error.strerror or error}).") from None
    except ValueError as error:  # JSON and UTF-8 decoding errors
        raise BaselineError(f"--claims-baseline {path}: not JSON ({error}); rewrite it with "
                            "--claims-baseline-update.") from None
    if problem := shape_problem(baseline):
        raise BaselineError(f"--claims-baseline {path}: not a baseline file, since {problem}; rewrite it with "
                            "--claims-baseline-update.")
    return baseline


def shape_problem(baseline: Any) -> str | None:
    """What keeps `baseline` from being one that compare() can read, in words; None when nothing does."""
    if not isinstance(baseline, dict):
        return f"it holds a JSON {type(baseline).__name__}, not an object"
    if baseline.get("format") != FORMAT:
        return f"its format is {baseline.get('format')!r}, not {FORMAT}"
    written, checks = baseline.get("written"), baseline.get("checks")
    if not isinstance(written, dict) or not {"versions", "device", "base_seed"} <= written.keys():
        return "its 'written' entry lacks the versions, device or base seed"
    if not isinstance(written["versions"], dict):
        return "its 'written' versions are not an object of names and versions"
    if not isinstance(checks, list):
        return "it has no list of 'checks'"
    return next(filter(None, map(_entry_problem, checks)), None)


def _entry_problem(entry: Any) -> str | None:
    names = ("claim", "check", "scale", "verdict")
    if not isinstance(entry, dict) or not all(isinstance(entry.get(name), str) for name in names):
        return f"a check entry lacks its claim, check, scale or verdict: {entry}"
    if not isinstance(entry.get("test", ""), str):
        return f"the entry of {entry['check']} has a 'test' that is not a name"
    numbers = entry.get("numbers")
    if not isinstance(numbers, dict):
        return f"the entry of {entry['check']} has no 'numbers' object"
    for name, number in numbers.items():
        if not isinstance(number, dict) or not _is_number(number.get("value")):
            return f"{name} of {entry['check']} has no numeric value"
        tolerance = number.get("tolerance")
        if not isinstance(tolerance, dict) or not all(_is_plain_number(tolerance.get(part))
                                                      for part in ("absolute", "relative")):
            return f"{name} of {entry['check']} needs a tolerance with numeric absolute and relative parts"
    return None


def _within(now: Any, then: Any, tolerance: dict[str, float]) -> bool:
    if isinstance(then, list) or isinstance(now, list):
        return (isinstance(then, list) and isinstance(now, list) and len(then) == len(now)
                and all(_within(n, t, tolerance) for n, t in zip(now, then)))
    if isinstance(then, str) or isinstance(now, str):  # non-finite values are stored as "nan", "inf", "-inf"
        return now == then
    return abs(now - then) <= tolerance["absolute"] + tolerance["relative"] * abs(then)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _tolerance_text(tolerance: dict[str, float]) -> str:
    parts = [f"{float(tolerance['absolute']):.3g}" if tolerance["absolute"] else "",
             f"{float(tolerance['relative']):.3g} x |baseline|" if tolerance["relative"] else ""]
    return "± " + (" + ".join(p for p in parts if p) or "0")


def _provenance_note(written: dict, now: dict) -> str:
    differences = [f"{name} {written['versions'].get(name, '?')} (now {version})"
                   for name, version in now["versions"].items() if written["versions"].get(name) != version]
    for name in ("device", "base_seed"):
        if written[name] != now[name]:
            differences.append(f"{name.replace('_', ' ')} {written[name]} (now {now[name]})")
    return "; ".join(differences)


def compare(baseline: dict, records: Iterable[dict], now: dict) -> Comparison:
    """This run's records against the baseline: verdict changes and numbers beyond their tolerance are drift."""
    stored = {_key(e): e for e in baseline["checks"]}
    ran = {_key(r): r for r in _ran(records)}
    comparison = Comparison(not_run=len(stored.keys() - ran.keys()),
                            provenance_differs=_provenance_note(baseline["written"], now))
    for key, record in ran.items():
        entry = stored.get(key)
        if entry is None:
            comparison.new.append(f"{record['claim']} {check_label(record)} ({record['scale']})")
            continue
        comparison.compared += 1
        comparison.drifts += _drifts(entry, record)
    return comparison


def _drifts(entry: dict, record: dict) -> list[Drift]:
    row = (record["claim"], check_label(record), record["scale"])
    drifts = []
    if entry["verdict"] != record["verdict"]:
        drifts.append(Drift(*row, "verdict", entry["verdict"], record["verdict"], "must match"))
    numbers = numbers_of(record)
    for name, number in entry["numbers"].items():
        now = numbers.get(name, {}).get("value", "missing")
        if now == "missing" or not _within(now, number["value"], number["tolerance"]):
            drifts.append(Drift(*row, name, _text(number["value"]), _text(now), _tolerance_text(number["tolerance"])))
    return drifts


def comparison_lines(comparison: Comparison, path: Path) -> list[str]:
    """The section printed at the end of a run: a header, the drift table if any, and the counts."""
    lines = []
    if comparison.provenance_differs:
        lines.append(f"note: {path} was written with another setup: {comparison.provenance_differs}")
    if comparison.drifts:
        lines += _table(comparison.drifts)
    fails = " (so this run fails)" if comparison.drifts else ""
    counts = (f"{comparison.compared} checks compared, {len(comparison.drifts)} drifts{fails}; "
              f"{comparison.not_run} in the baseline did not run (not compared); {len(comparison.new)} new")
    lines.append(counts + (":" if comparison.new else "."))
    lines += [f"  new: {name}" for name in comparison.new]
    return lines


def _table(drifts: list[Drift]) -> list[str]:
    head = Drift("claim", "check", "scale", "number", "baseline", "now", "tolerance")
    rows = [[d.claim, d.check, d.scale, d.number, _clip(d.baseline), _clip(d.now), d.tolerance]
            for d in (head, *drifts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
