"""The terminal ledger: one line per claim, its verdict at each scale, the key number beside the document's."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from harness.claim import SCALES
from harness.outputs.store import FULL, stored_for

SKIP_REASON_WIDTH = 90   # characters of a skip reason the ledger shows
BASIS_WIDTH = 140        # characters of a prediction's basis the ledger shows (the report has it whole)


def _scale_cell(records: list[dict], stored: list[dict]) -> str:
    ran = [r for r in records if r["verdict"] != "skipped"]
    if not ran and stored:   # measured by an earlier run, kept in the full-scale store
        verdicts, where = "/".join(dict.fromkeys(e["verdict"] for e in stored)), stored[0]["provenance"]
        return f"measured {verdicts} ({where['device'].split()[0]} {where['date']})"
    if not records:
        return "-"
    if not ran:
        # what the claim module commits to there is a prediction until a run measures it
        return f"predicted {'/'.join(dict.fromkeys(r['expected'] for r in records if r.get('expected')))}"
    verdicts = "/".join(dict.fromkeys(r["verdict"] for r in ran))
    mark = "ok" if all(r["passed"] for r in ran) else "FAIL"
    return f"{verdicts} {mark}"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value[:6]) + (", ..." if len(value) > 6 else "") + "]"
    return str(value)


def key_numbers(records: list[dict]) -> str:
    """Measured numbers that the document also states, side by side; else the deciding effect size."""
    ran = [r for r in records if r["verdict"] != "skipped"]
    for r in ran:
        shared = [k for k in r["document"] if k in r["measured"]]
        if shared:
            return "; ".join(f"{k} {_fmt(r['measured'][k])} (doc {_fmt(r['document'][k])})" for k in shared[:2])
    for r in ran:
        if r.get("decision"):
            d = r["decision"]
            return f"{d['effect_name']} = {_fmt(d['effect'])} vs {_fmt(d['threshold'])}"
    return ""


def shortened(text: str, width: int = SKIP_REASON_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def skip_reasons(records: list[dict]) -> str:
    """Why checks were skipped, each distinct reason once, shortened (claims.json keeps them whole)."""
    reasons = list(dict.fromkeys(r.get("skip_reason", "") for r in records if r["verdict"] == "skipped"))
    return "; ".join(f"skipped: {shortened(reason)}" for reason in reasons)


def multiplicity(records: list[dict]) -> str:
    """How many decisions the run made, and how many false supports chance alone could give: each statistical
    decision supports a claim that sits exactly at its threshold with probability at most its alpha (a conjunction,
    at most its parts' smallest), so their sum bounds the expected number; exact rules add none."""
    parts = [d for r in records for d in ([r["decision"]] if r.get("decision") else []) + r.get("controls", [])]
    alphas = [part["alpha"] for part in parts if part.get("alpha")]
    rates = "/".join(f"{a:g}" for a in sorted(set(alphas))) or "-"
    return (f"{len(parts)} decisions (checks and their controls), {len(alphas)} of them statistical at alpha {rates} "
            f"per side, not adjusted for multiplicity: at most {sum(alphas):.2g} false supports expected by chance")


def _stored(store: dict | None, claim: str, scale: str) -> list[dict]:
    return stored_for(store, claim) if store and scale == FULL else []


def ledger_lines(records: Iterable[dict], store: dict | None = None) -> list[str]:
    """The ledger; a scale that did not run shows the verdicts `store` (the full-scale store) keeps for it."""
    records = list(records)
    by_claim: dict[str, list[dict]] = defaultdict(list)
    # headline checks (those expected to be supported) first, so the order does not follow completion order
    for r in sorted(records, key=lambda r: (r.get("expected") != "supported", r["check"])):
        by_claim[r["claim"]].append(r)
    cells = {claim: [_scale_cell([r for r in rs if r["scale"] == s], _stored(store, claim, s)) for s in SCALES]
             for claim, rs in by_claim.items()}
    width = max([len(c) for c in by_claim] + [len("claim")])
    cell_width = max([len(cell) for row in cells.values() for cell in row] + [24])
    header = "  ".join(f"{scale:<{cell_width}}" for scale in SCALES)
    lines = [multiplicity(records), f"{'claim':<{width}}  {header}  key number (document's)"]
    for claim in sorted(by_claim):
        row = "  ".join(f"{cell:<{cell_width}}" for cell in cells[claim])
        notes = "; ".join(filter(None, [key_numbers(by_claim[claim]), skip_reasons(by_claim[claim])]))
        lines.append(f"{claim:<{width}}  {row}  {notes}".rstrip())
    return lines + prediction_lines(records, store)


def prediction_lines(records: list[dict], store: dict | None) -> list[str]:
    """The expectations of checks that did not run and have no stored measurement, each with its basis."""
    kept = {(e["claim"], e["test"]) for e in (store or {}).get("checks", [])}
    predicted = [r for r in records if r["verdict"] == "skipped" and r.get("expected")
                 and (r["claim"], r.get("test", r["check"])) not in kept]
    if not predicted:
        return []
    return ["predictions (no run here measured them), with their basis:",
            *(f"  {r['claim']} {r.get('test', r['check'])}: {r['expected']}; "
              f"{shortened(r.get('expected_reason') or 'no basis given', BASIS_WIDTH)}" for r in predicted)]
