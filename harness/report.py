"""Files a run leaves behind: written atomically, so an interrupted run keeps the last complete state."""
from __future__ import annotations

import json
import os
from pathlib import Path

from harness.files import write_atomically


def report_dir_problem(directory: Path) -> str | None:
    """One sentence saying why `directory` cannot take the report, or None if it can."""
    if directory.exists() and not directory.is_dir():
        return f"--claims-report {directory}: that path is a file; give a folder (it is created if missing)."
    existing = next((p for p in [directory, *directory.parents] if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        return f"--claims-report {directory}: {existing} is not writable; choose a folder you can write to."
    return None


def write_claims_json(directory: Path, records: list[dict]) -> Path:
    path = directory / "claims.json"
    write_atomically(path, json.dumps(records, indent=2, allow_nan=False) + "\n")
    return path


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return str(value)


def _decision_line(label: str, d: dict) -> str:
    lo, hi = d["interval"]
    p = f", p = {d['p_value']:.3g}" if isinstance(d.get("p_value"), float) else ""
    return (f"- {label}: **{d['verdict']}**: {d['effect_name']} = {_number(d['effect'])} "
            f"[{_number(lo)}, {_number(hi)}] vs {_number(d['threshold'])} ({d['rule']}; n = {d['n']}{p})")


def _check_section(r: dict) -> list[str]:
    head = f"### `{r['check']}` ({r['scale']})"
    if r["verdict"] == "skipped":
        return [head, "", f"Skipped: {r.get('skip_reason', '')}", ""]
    mark = "as expected" if r["passed"] else "**differs from the expected verdict**"
    lines = [head, "", f"Verdict **{r['verdict']}**, expected {r['expected']}: {mark}."]
    if r.get("expected_reason"):
        lines.append(f"Why: {r['expected_reason']}")
    lines.append("")
    if r.get("decision"):
        lines.append(_decision_line("Rule", r["decision"]))
    if r.get("control"):
        lines.append(_decision_line("Negative control", r["control"]))
    beside = [f"| {k} | {_number(r['measured'][k])} | {_number(v)} |" for k, v in r["document"].items()
              if k in r["measured"]]
    if beside:
        lines += ["", "| quantity | measured | document |", "|---|---|---|", *beside]
    others = [f"{k} = {_number(v)}" for k, v in r["measured"].items() if k not in r["document"]]
    if others:
        lines += ["", "Measured: " + "; ".join(others)]
    return lines + ["", f"Took {r['duration_s']} s on {r['device']}; check seed {r['seeds'][0]}.", ""]


def report_markdown(records: list[dict], ledger: list[str]) -> str:
    """report.md: the ledger, then one section per claim with its quote, statement and every check's evidence."""
    lines = ["# Claims report", "", "```", *ledger, "```", ""]
    for claim in sorted({r["claim"] for r in records}):
        checks = [r for r in records if r["claim"] == claim]
        first = next((r for r in checks if "quote" in r), None)
        lines += [f"## {claim}", ""]
        if first:
            lines += [f"> {first['quote']}", f"> ({first['source']})", "", f"Statement: {first['statement']}", ""]
        for r in sorted(checks, key=lambda r: (r["check"], r["scale"])):
            lines += _check_section(r)
    return "\n".join(lines)


def write_report(directory: Path, records: list[dict], ledger: list[str]) -> Path:
    """claims.json and report.md, each written atomically; returns the folder."""
    write_claims_json(directory, records)
    write_atomically(directory / "report.md", report_markdown(records, ledger))
    return directory
