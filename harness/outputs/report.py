"""Files a run leaves behind: claims.json, report.md with its plots as PNG files, and report.html, which opens
offline (inline style, plots as data URIs). Each is written atomically, so an interrupted run keeps the last
complete state."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Callable, Sequence

from harness.claim import SCALES
from harness.outputs import cards
from harness.outputs.files import write_atomically, write_bytes_atomically
from harness.outputs.plots import DOCUMENT_SETTING, SETTING, Drawn, Plot, draw_plots, where_from
from harness.outputs.store import FULL, described, empty, stored_for
from harness.verdicts import control_supported

PLOTS = "plots"          # the PNGs' folder, inside the report's
LONG_LIST = 8            # lists longer than this are abbreviated in the report (claims.json has every value)
ACTIVATIONS_SECTION = "Activations"


def write_claims_json(directory: Path, records: list[dict]) -> Path:
    path = directory / "claims.json"
    write_atomically(path, json.dumps(records, indent=2, allow_nan=False) + "\n")
    return path


# ---- what both reports say, as text

def _shape(value: list) -> list[int]:
    return [len(value), *(_shape(value[0]) if value and isinstance(value[0], list) else [])]


def _flat(value: object) -> list:
    return [x for v in value for x in _flat(v)] if isinstance(value, list) else [value]


def _number(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_number(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and any(isinstance(v, list) for v in value):
        numbers = [v for v in _flat(value) if isinstance(v, (int, float))]
        span = f", from {_number(min(numbers))} to {_number(max(numbers))}" if numbers else ""
        return f"array {'x'.join(map(str, _shape(value)))}{span}"
    if isinstance(value, list) and len(value) > LONG_LIST:
        shown = [*value[:5], "...", *value[-2:]]
        return "[" + ", ".join(_number(v) for v in shown) + f"] ({len(value)} values)"
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return str(value)


def _interval(d: dict) -> str:
    """The interval, with its level where the rule has one: two-sided at 1 - 2 alpha, so each side errs at alpha."""
    lo, hi = d["interval"]
    # a disjunction's alpha is its parts' summed error rate, not the level of the part's interval it shows
    disjunction = d["rule"].startswith("any of")
    level = f" ({100 * (1 - 2 * d['alpha']):g}%)" if isinstance(d.get("alpha"), float) and not disjunction else ""
    return f"[{_number(lo)}, {_number(hi)}]{level}"


def _p_value(d: dict) -> str:
    return f"{d['p_value']:.3g}" if isinstance(d.get("p_value"), float) else ""


def _beside(r: dict) -> list[tuple[str, str, str]]:
    """(quantity, measured, document's) for every measured number the document also states."""
    return [(k, _number(r["measured"][k]), _number(v)) for k, v in r["document"].items() if k in r["measured"]]


def _others(r: dict) -> list[tuple[str, str]]:
    """The measured numbers the document does not state; the setting's words go in their own line."""
    return [(k, _number(v)) for k, v in r["measured"].items()
            if k not in r["document"] and k not in (SETTING, DOCUMENT_SETTING)]


def _at_scale(records: list[dict], scale: str, stored: Sequence[dict] = ()) -> tuple[str, str]:
    """(the verdicts at this scale, "pass", "FAIL", "measured earlier" (from the full-scale store), "skipped" with
    the expectation as a prediction, or "-" when the scale did not run)."""
    here = [r for r in records if r["scale"] == scale]
    ran = [r for r in here if r["verdict"] != "skipped"]
    if not ran and stored and scale == FULL:
        return "/".join(dict.fromkeys(e["verdict"] for e in stored)), "measured earlier"
    if not ran:
        expected = "/".join(dict.fromkeys(r["expected"] for r in here if r.get("expected")))
        return (f"predicted {expected}", "skipped") if here else ("-", "-")
    verdicts = "/".join(dict.fromkeys(r["verdict"] for r in ran))
    return verdicts, "pass" if all(r["passed"] for r in ran) else "FAIL"


def _summary(claims: list[tuple[str, list[dict]]], store: dict) -> list[tuple[str, list[tuple[str, str]], str]]:
    """Per claim: its (verdicts, status) at each scale, and "FAIL" if any check missed its expected verdict,
    else "pass" if any ran, else "skipped"."""
    rows = []
    for claim, checks in claims:
        cells = [_at_scale(checks, s, _stored(store, claim, checks)) for s in SCALES]
        statuses = {status for _, status in cells}
        rows.append((claim, cells, "FAIL" if "FAIL" in statuses else "pass" if "pass" in statuses else "skipped"))
    return rows


def _claims(records: list[dict]) -> list[tuple[str, list[dict]]]:
    return [(c, sorted((r for r in records if r["claim"] == c), key=lambda r: (r["check"], SCALES.index(r["scale"]))))
            for c in sorted({r["claim"] for r in records})]


def _stored(store: dict, claim: str, checks: list[dict]) -> list[dict]:
    """The store's measured full-scale entries of this claim's checks that did not run at full scale here."""
    ran = {r.get("test", r["check"]) for r in checks if r["scale"] == FULL and r["verdict"] != "skipped"}
    return [e for e in stored_for(store, claim) if e["test"] not in ran]


def _stored_line(entry: dict) -> str:
    e = entry["effect"]
    lo, hi = e["interval"]
    return (f"{entry['test']}: {entry['verdict']}, {e['effect_name']} = {_number(e['effect'])} "
            f"[{_number(lo)}, {_number(hi)}] vs {_number(e['threshold'])} (n = {e['n']}); measured on "
            f"{described(entry)}; data: {entry['provenance']['data']}")


def _about(checks: list[dict]) -> dict | None:
    """The record that carries the claim's quote, source and statement (skipped records do not)."""
    return next((r for r in checks if "quote" in r), None)


# ---- findings: does each claim hold? (Read from the verdicts; pass/FAIL, the expectations, play no part.)

FINDINGS = {"holds": ("holds", "hold"), "holds in part": ("holds in part", "hold in part"),   # each finding, as
            "does not hold": ("does not hold", "do not hold"),                               # said of one claim
            "undecided": ("is undecided", "are undecided")}                                  # and of several
LEGEND = (
    ("Finding", "whether the claim holds, read from its checks' verdicts, never from their expectations. Each check "
                "is named for one prediction of the claim (for one activation, setting or scale): supported means "
                "the prediction held, refuted that it failed, inconclusive that the evidence did not decide. "
                "holds: every check that ran is supported; holds in part: some are supported and some refuted (the "
                "sentence names which, with their parameters and scales); does not hold: some are refuted and none "
                "supported; undecided: none refuted and some inconclusive, or none ran. A refuted check counts "
                "against the claim even where the harness expected it to be refuted (its Why says why). A check "
                "whose negative control came out supported, or that ended in an error, decides nothing: it counts "
                "as left open."),
    ("pass / FAIL", "whether a check behaved as the harness expects: pass when its verdict equals the expectation "
                    "committed in the claim module, FAIL when it does not (a regression, or a finding that changed: "
                    "read that check). It says nothing about whether the claim holds: refuted (pass) means the "
                    "harness predicted that the claim fails there, and it did."),
    ("Scales", "fast checks run in seconds on a CPU on generated data, for most claims a stand-in for the "
               "document's setting; full checks follow the document's protocol and data. A measured number comes "
               "from its check's scale, whatever the document's number beside it."),
)


def _params(record: dict) -> list[str]:
    test = record.get("test", record["check"])
    return [p for p in test.removeprefix(record["check"]).strip("[]").split("-") if p and p != record["scale"]]


def check_label(record: dict) -> str:
    """The check's name with its parameters other than the scale (test_x[tanh-fast] -> test_x[tanh]), so that the
    records of one parametrized check can be told apart."""
    params = _params(record)
    return f"{record['check']}[{'-'.join(params)}]" if params else record["check"]


@dataclass(frozen=True)
class Finding:
    kind: str                                         # a key of FINDINGS
    scales: list[str]                                 # the scales at which some check ran
    parts: list[tuple[str, list[tuple[str, str]]]]    # (verb, the checks it applies to as (prediction, where))


def _cases(records: list[dict], with_scale: bool) -> list[tuple[str, str]]:
    """Each check once, as (its prediction in words, the parameters and scales of these records)."""
    wheres: dict[str, list[str]] = {}
    for r in records:
        wheres.setdefault(r["check"], []).append("-".join([*_params(r), *([r["scale"]] if with_scale else [])]))
    return [(check.removeprefix("test_").replace("_", " "), ", ".join(filter(None, where)))
            for check, where in wheres.items()]


def finding(checks: list[dict]) -> Finding:
    """Whether the claim of these records holds, and which checks say so; see LEGEND for the rule."""
    ran = [r for r in checks if r["verdict"] != "skipped"]
    # a check whose negative control came out supported cannot tell the effect from its absence: no evidence
    trusted = [r for r in ran if not control_supported(r)]
    supported = [r for r in trusted if r["verdict"] == "supported"]
    refuted = [r for r in trusted if r["verdict"] == "refuted"]
    unsettled = [r for r in ran if r not in supported and r not in refuted]   # inconclusive, an error, no control
    kind = ("holds in part" if supported and refuted else "does not hold" if refuted
            else "undecided" if unsettled or not ran else "holds")
    with_scale = len({r["scale"] for r in checks}) > 1
    if kind == "holds":
        parts = [(f"supported by {_every(len(ran))} check{'s' if len(ran) > 1 else ''} that ran", [])]
    else:
        parts = [(verb, _cases(rs, with_scale)) for verb, rs in
                 (("supported by", supported), ("refuted by", refuted), ("left open by", unsettled)) if rs]
    if skipped := [r for r in checks if r["verdict"] == "skipped"]:
        parts.append(("not run:", _cases(skipped, with_scale)))
    return Finding(kind, [s for s in SCALES if any(r["scale"] == s for r in ran)], parts)


def _every(n: int) -> str:
    return {1: "the one", 2: "both"}.get(n, f"all {n}")


def _and(items: list[str]) -> str:
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def _sentence(f: Finding, emph: Callable[[str], str], text: Callable[[str], str]) -> str:
    """The finding's sentence: where the claim holds and where not; `emph` marks up a prediction, `text` the rest."""
    def case(prediction: str, where: str) -> str:
        return emph(prediction) + text(f" ({where})" if where else "")
    parts = [text(verb) + (" " + _and([case(*c) for c in cases]) if cases else "") for verb, cases in f.parts]
    at = text(f"{' and '.join(f.scales).capitalize()} scale: ") if f.scales else ""
    return at + "; ".join(parts) + "."


def _findings(claims: list[tuple[str, list[dict]]]) -> list[tuple[str, Finding]]:
    return [(claim, finding(checks)) for claim, checks in claims]


def _tally(found: list[tuple[str, Finding]]) -> str:
    counts = [(sum(f.kind == kind for _, f in found), said) for kind, said in FINDINGS.items()]
    claims = f"{len(found)} claim{'s' * (len(found) > 1)}"
    return f"Of {claims}, " + _and([f"{n} {said[n > 1]}" for n, said in counts if n]) + "."


def _overview(records: list[dict]) -> str:
    """One sentence: how many claims and checks, how many went as expected, and where they ran."""
    ran = [r for r in records if r["verdict"] != "skipped"]
    passed = sum(bool(r["passed"]) for r in ran)
    devices = ", ".join(sorted({r["device"] for r in ran})) or "-"
    versions = next((r["versions"] for r in ran if "versions" in r), {})
    stack = "".join(f", {k} {v}" for k, v in versions.items())
    return (f"{len({r['claim'] for r in records})} claims, {len(records)} checks: {passed} gave the expected verdict "
            f"(pass), {len(ran) - passed} did not (FAIL), {len(records) - len(ran)} skipped. Device {devices}{stack}.")


def _caption(plot: Plot) -> str:
    source = (f"{plot.scale} scale, from {', '.join(plot.checks)}" if plot.scale
              else "from the profile tests" if plot.claim else "from the registry in models/activations.py")
    return f"{plot.title} ({source})" + (f". {plot.about}" if plot.about else "")


def _beside_note(r: dict) -> str:
    """Where the measured numbers came from (their task, model and scale) and where the document's came from,
    when the check sets them beside each other or names its setting; else empty."""
    beside = bool(_beside(r))
    return where_from(r["scale"], r["measured"], beside) if beside or SETTING in r["measured"] else ""


def _protocol(r: dict) -> str:
    """What was run, from the record's protocol: "task: ...; model: ...; ..." (empty when the check gave none)."""
    return "; ".join(f"{k.replace('_', ' ')}: {_number(v)}" for k, v in (r.get("protocol") or {}).items())


def _map_rows(conditions: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The conditions map as a table of verdicts: column headers, then (row header, cells); the document's own
    setting is starred."""
    rows, columns = conditions["rows"], conditions["columns"]
    cells = {(c["row"], c["column"]): c["decision"]["verdict"] for c in conditions["cells"]}
    def star(axis: dict, value: object) -> str:
        return f"{_number(value)}*" if value == axis["document"] else _number(value)
    header = [f"{rows['name']} \u2193 {columns['name']} \u2192", *(star(columns, c) for c in columns["values"])]
    return header, [(star(rows, r), [cells[r, c] for c in columns["values"]]) for r in rows["values"]]


# ---- report.md

def _detectable(d: dict) -> str:
    """", detects 1.2 from the threshold" where the decision records its minimum detectable effect."""
    value = d.get("minimum_detectable_effect")
    return f", detects {_number(value)} from the threshold" if isinstance(value, (int, float)) else ""


def _kind(control: dict) -> str:
    return control["kind"].replace("_", " ")


def _decision_line(label: str, d: dict) -> str:
    p = f", p = {_p_value(d)}" if _p_value(d) else ""
    return (f"- {label}: **{d['verdict']}**: {d['effect_name']} = {_number(d['effect'])} "
            f"{_interval(d)} vs {_number(d['threshold'])} ({d['rule']}; n = {d['n']}{p}{_detectable(d)})")


def _prediction(r: dict) -> list[str]:
    """A skipped check's expectation, said as what it is: a prediction no run here has measured, with its basis."""
    basis = f" Basis: {r['expected_reason']}" if r.get("expected_reason") else ""
    return [f"Predicted {r['expected']} (no run here measured it).{basis}"] if r.get("expected") else []


def _check_section(r: dict) -> list[str]:
    head = f"### `{check_label(r)}` ({r['scale']})"
    if r["verdict"] == "skipped":
        return [head, "", f"Skipped: {r.get('skip_reason', '')}", "", *_prediction(r), ""]
    mark = "as expected" if r["passed"] else "**differs from the expected verdict**"
    lines = [head, "", f"Verdict **{r['verdict']}**, expected {r['expected']}: {mark}."]
    if r.get("expected_reason"):
        lines.append(f"Why: {r['expected_reason']}")
    if protocol := _protocol(r):
        lines.append(f"Protocol: {protocol}.")
    lines.append("")
    if conditions := r.get("conditions"):
        header, rows = _map_rows(conditions)
        lines += [f"Conditions map: {conditions['summary']} (* the document's setting).", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                  *("| " + " | ".join([row, *cells]) + " |" for row, cells in rows), ""]
    if r.get("decision"):
        lines.append(_decision_line("Rule", r["decision"]))
    lines += [_decision_line(f"Negative control ({_kind(c)})", c) for c in r.get("controls", [])]
    beside = [f"| {k} | {measured} | {document} |" for k, measured, document in _beside(r)]
    if beside:
        lines += ["", "| quantity | measured | document |", "|---|---|---|", *beside]
    if note := _beside_note(r):
        lines += ["", f"*{note}*"]
    if others := _others(r):
        lines += ["", "Measured: " + "; ".join(f"{k} = {v}" for k, v in others)]
    return lines + ["", f"Took {r['duration_s']} s on {r['device']}; check seed {r['seeds'][0]}.", ""]


def _md_plots(plots: list[Plot]) -> list[str]:
    return [line for p in plots for line in (f"![{_caption(p)}]({PLOTS}/{p.filename})", f"*{_caption(p)}*", "")]


def _md_findings(claims: list[tuple[str, list[dict]]]) -> list[str]:
    found = _findings(claims)
    rows = [f"- [{claim}](#{claim}) **{f.kind}**. {_sentence(f, lambda p: f'*{p}*', str)}" for claim, f in found]
    return ["## Findings", "", _tally(found), "", *rows, ""]


def _md_legend() -> list[str]:
    return ["**Legend.**", "", *[f"- **{term}**: {text}" for term, text in LEGEND], ""]


def _md_summary(claims: list[tuple[str, list[dict]]], store: dict) -> list[str]:
    rows = [f"| [{claim}](#{claim}) | " + " | ".join(_md_cell(v, st) for v, st in cells) + f" | {result} |"
            for claim, cells, result in _summary(claims, store)]
    return ["## Verdicts by scale", "", f"| claim | {' | '.join(SCALES)} | checks as expected |",
            "|---|" + "---|" * (len(SCALES) + 1), *rows, ""]


def _md_cell(verdicts: str, status: str) -> str:
    return f"{verdicts} ({status})" if status in ("pass", "FAIL", "measured earlier") else verdicts


def _by_label(checks: list[dict]) -> dict[str, list[dict]]:
    """The records of each check, its parameters told apart, in the order the checks come."""
    labelled: dict[str, list[dict]] = {}
    for r in checks:
        labelled.setdefault(check_label(r), []).append(r)
    return labelled


def _md_verdicts(checks: list[dict], stored: list[dict]) -> list[str]:
    rows = [f"| `{label}` | " + " | ".join(_md_cell(*_at_scale(records, s, _of(stored, records)))
                                          for s in SCALES) + " |"
            for label, records in _by_label(checks).items()]
    lines = [f"| check | {' | '.join(SCALES)} |", "|---|" + "---|" * len(SCALES), *rows, ""]
    if stored:
        lines += ["Full scale, measured earlier (kept in the full-scale store):", "",
                  *(f"- {_stored_line(e)}" for e in stored), ""]
    return lines


def _of(stored: list[dict], records: list[dict]) -> list[dict]:
    """The stored entries of one check's records (at any scale: a fast-only run has no full-scale record)."""
    labels = {check_label(r) for r in records}
    return [e for e in stored if check_label({**e, "scale": FULL}) in labels]


def report_markdown(records: list[dict], ledger: list[str], drawn: Drawn | None = None,
                    store: dict | None = None, profiles: Sequence[dict] = ()) -> str:
    """report.md: the findings (does each claim hold?) and their legend, a table of verdicts by scale and the
    ledger, then one section per claim with its quote, statement, verdicts, plots (PNG files under plots/) and every
    check's evidence."""
    drawn, store = drawn or Drawn([], []), store or empty()
    claims = _claims(records)
    lines = ["# Claims report", "", *_md_findings(claims), *_md_legend(), _overview(records), "",
             *[f"*{note}*\n" for note in drawn.notes], *_md_summary(claims, store), "```", *ledger, "```", ""]
    for claim, checks in claims:
        lines += [f"## {claim}", ""]
        if about := _about(checks):
            lines += [f"> {about['quote']}", f"> ({about['source']})", "", f"Statement: {about['statement']}", ""]
        lines += _md_verdicts(checks, _stored(store, claim, checks)) + _md_plots(drawn.of(claim))
        for r in checks:
            lines += _check_section(r)
    for name in cards.card_names(list(profiles)):
        lines += cards.markdown(list(profiles), name, drawn.of(f"card:{name}"), PLOTS)
    if plots := drawn.of(None):
        lines += [f"## {ACTIVATIONS_SECTION}", "", *_md_plots(plots)]
    return "\n".join(lines)


# ---- report.html

STYLE = """
body{margin:0;background:#f3f4f6;color:#1f2328;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 36px 60px;background:#fff;box-shadow:0 0 12px #0001}
h1{margin:.4em 0 .2em}h2{margin-top:2.2em;padding-bottom:.2em;border-bottom:2px solid #d0d7de}
h3{margin:1.4em 0 .3em;font-size:1em}h3 code{font-size:1em}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;padding:10px;overflow-x:auto;font-size:12px;line-height:1.35}
table{border-collapse:collapse;margin:.6em 0}
th,td{border:1px solid #d0d7de;padding:3px 9px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n{font-variant-numeric:tabular-nums;white-space:nowrap}
blockquote{margin:.6em 0;padding:.3em 1em;border-left:4px solid #8c959f;background:#f6f8fa;font-style:italic}
blockquote cite{display:block;font-style:normal;color:#57606a;font-size:.9em}
.v{display:inline-block;padding:0 .6em;border-radius:1em;font-size:.85em;font-weight:600;color:#fff;background:#6e7781}
.v-supported{background:#1a7f37}.v-refuted{background:#bc4c00}.v-inconclusive{background:#9a6700}
.v-skipped,.v-none{background:#eaeef2;color:#57606a}.v-error{background:#82071e}
.pass{color:#57606a;font-weight:600}.FAIL{color:#cf222e;font-weight:700}.skipped,.none{color:#8c959f}
.f{display:inline-block;padding:0 .6em;border-radius:4px;font-weight:700;white-space:nowrap;color:#fff}
.f-holds{background:#1a7f37}.f-holds-in-part{background:#9a6700}.f-does-not-hold{background:#cf222e}
.f-undecided{background:#eaeef2;color:#57606a}table.findings td{vertical-align:middle}
.legend{padding:.2em 1em;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;font-size:.92em}
.legend dt{font-weight:700;margin-top:.4em}.legend dd{margin:0 0 .3em 1.2em}.setting{color:#57606a;font-style:italic}
.check{margin:1em 0;padding:.2em 0 .2em 1em;border-left:4px solid #d0d7de}
.check.failed{border-left-color:#cf222e}.why{color:#57606a}.meta,.took{color:#57606a;font-size:.9em}
.note{padding:.5em 1em;background:#fff8c5;border:1px solid #d4a72c;border-radius:6px}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:.9em}
"""


def _badge(verdicts: str) -> str:
    """One coloured label per verdict in "supported/refuted"; "-" (the scale did not run) in grey."""
    return " ".join(f'<span class="v v-{"none" if v == "-" else escape(v)}">{escape(v)}</span>'
                    for v in verdicts.split("/"))


def _status(status: str) -> str:
    return f'<span class="{"none" if status == "-" else escape(status)}">{escape(status)}</span>'


def _html_findings(claims: list[tuple[str, list[dict]]]) -> list[str]:
    found = _findings(claims)
    rows = [f'<tr><td><a href="#{escape(claim)}">{escape(claim)}</a></td>'
            f'<td><span class="f f-{f.kind.replace(" ", "-")}">{f.kind}</span></td>'
            f"<td>{_sentence(f, lambda p: f'<em>{escape(p)}</em>', escape)}</td></tr>" for claim, f in found]
    return ['<h2 id="findings">Findings</h2>', f"<p>{escape(_tally(found))}</p>",
            '<table class="findings"><tr><th>claim</th><th>finding</th><th>from the verdicts of its checks</th></tr>',
            *rows, "</table>"]


def _html_legend() -> list[str]:
    terms = [f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in LEGEND]
    return ['<dl class="legend">', *terms, "</dl>"]


def _html_summary(claims: list[tuple[str, list[dict]]], store: dict) -> list[str]:
    rows = [f'<tr><td><a href="#{escape(claim)}">{escape(claim)}</a></td>'
            + "".join(f"<td>{_badge(v)}{_earlier(st)}</td>" for v, st in cells) + f"<td>{_status(result)}</td></tr>"
            for claim, cells, result in _summary(claims, store)]
    head = "".join(f"<th>{s}</th>" for s in SCALES)
    return ['<h2 id="verdicts-by-scale">Verdicts by scale</h2>',
            f'<table class="summary"><tr><th>claim</th>{head}<th>checks as expected</th></tr>', *rows, "</table>"]


def _earlier(status: str) -> str:
    return ' <span class="skipped">measured earlier</span>' if status == "measured earlier" else ""


def _html_verdicts(checks: list[dict], stored: list[dict]) -> list[str]:
    rows = []
    for label, records in _by_label(checks).items():
        cells = [_at_scale(records, s, _of(stored, records)) for s in SCALES]
        rows.append(f"<tr><td><code>{escape(label)}</code></td>"
                    + "".join(f"<td>{_badge(v)} {_status(st) if st not in ('-', 'skipped') else ''}</td>"
                              for v, st in cells) + "</tr>")
    head = "".join(f"<th>{s}</th>" for s in SCALES)
    lines = [f'<table class="verdicts"><tr><th>check</th>{head}</tr>', *rows, "</table>"]
    if stored:
        lines += ["<p>Full scale, measured earlier (kept in the full-scale store):</p><ul>",
                  *(f"<li>{escape(_stored_line(e))}</li>" for e in stored), "</ul>"]
    return lines


def _html_decisions(r: dict) -> list[str]:
    rows = [f"<tr><th>{label}</th><td>{_badge(d['verdict'])}</td><td>{escape(d['effect_name'])}</td>"
            f"<td class=n>{escape(_number(d['effect']))}</td><td class=n>{escape(_interval(d))}</td>"
            f"<td class=n>{escape(_number(d['threshold']))}</td><td>{escape(d['rule'])}</td><td class=n>{d['n']}</td>"
            f"<td class=n>{_p_value(d)}</td><td class=n>{escape(_number(d.get('minimum_detectable_effect')))}</td></tr>"
            for label, d in (("rule", r.get("decision")), *((f"{_kind(c)} control", c) for c in r.get("controls", [])))
            if d]
    if not rows:
        return []
    return ["<table><tr><th></th><th>verdict</th><th>effect</th><th>value</th><th>interval</th>"
            "<th>threshold</th><th>decision rule</th><th>n</th><th>p</th>"
            '<th title="how far from the threshold a true effect must lie to be decided with power 0.8">'
            "detectable</th></tr>", *rows, "</table>"]


def _html_numbers(r: dict) -> list[str]:
    lines = []
    if beside := _beside(r):
        rows = [f"<tr><td><code>{escape(k)}</code></td><td class=n>{escape(m)}</td><td class=n>{escape(d)}</td></tr>"
                for k, m, d in beside]
        lines += ["<table><tr><th>quantity</th><th>measured</th><th>document</th></tr>", *rows, "</table>"]
    if note := _beside_note(r):
        lines.append(f'<p class="setting">{escape(note)}</p>')
    if others := _others(r):
        lines.append("<p>Measured: " + "; ".join(f"<code>{escape(k)}</code> = {escape(v)}" for k, v in others) + "</p>")
    return lines


def _html_map(conditions: dict) -> list[str]:
    header, rows = _map_rows(conditions)
    body = [f"<tr><th>{escape(row)}</th>" + "".join(f"<td>{_badge(v)}</td>" for v in cells) + "</tr>"
            for row, cells in rows]
    return [f"<p>Conditions map: {escape(conditions['summary'])} (* the document's setting).</p>",
            "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>", *body, "</table>"]


def _html_check(r: dict) -> list[str]:
    failed = r["verdict"] != "skipped" and not r["passed"]
    head = [f'<div class="check{" failed" if failed else ""}">',
            f"<h3><code>{escape(check_label(r))}</code> ({escape(r['scale'])})</h3>"]
    if r["verdict"] == "skipped":
        return head + [f"<p>{_badge('skipped')} {escape(r.get('skip_reason', ''))}</p>",
                       *(f'<p class="why">{escape(line)}</p>' for line in _prediction(r)), "</div>"]
    mark = ('<span class="pass">as expected</span>' if r["passed"]
            else '<span class="FAIL">differs from the expected verdict</span>')
    lines = head + [f"<p>Verdict {_badge(r['verdict'])}, expected {escape(r['expected'])}: {mark}.</p>"]
    if r.get("expected_reason"):
        lines.append(f'<p class="why">Why: {escape(str(r["expected_reason"]))}</p>')
    if protocol := _protocol(r):
        lines.append(f'<p class="setting">Protocol: {escape(protocol)}.</p>')
    if conditions := r.get("conditions"):
        lines += _html_map(conditions)
    lines += _html_decisions(r) + _html_numbers(r)
    return lines + [f'<p class="took">Took {r["duration_s"]} s on {escape(r["device"])}; '
                    f"check seed {r['seeds'][0]}.</p>", "</div>"]


def _html_plots(plots: list[Plot]) -> list[str]:
    return [f'<figure class="plot" data-kind="{escape(p.kind)}"><img alt="{escape(_caption(p))}" '
            f'src="data:image/png;base64,{base64.b64encode(p.png).decode("ascii")}">'
            f"<figcaption>{escape(_caption(p))}</figcaption></figure>" for p in plots]


def _html_claim(claim: str, checks: list[dict], plots: list[Plot], stored: list[dict]) -> list[str]:
    lines = [f'<section class="claim" id="{escape(claim)}">', f"<h2>{escape(claim)}</h2>"]
    if about := _about(checks):
        lines += [f"<blockquote>{escape(about['quote'])}<cite>{escape(about['source'])}</cite></blockquote>",
                  f"<p><strong>Statement.</strong> {escape(about['statement'])}</p>"]
    lines += _html_verdicts(checks, stored) + _html_plots(plots)
    for r in checks:
        lines += _html_check(r)
    return lines + ["</section>"]


def report_html(records: list[dict], ledger: list[str], drawn: Drawn | None = None,
                store: dict | None = None, profiles: Sequence[dict] = ()) -> str:
    """report.html: report.md's content, self-contained (inline style, plots as data URIs), verdicts in colour."""
    drawn, store = drawn or Drawn([], []), store or empty()
    claims = _claims(records)
    body = ["<h1>Claims report</h1>", *_html_findings(claims), *_html_legend(),
            f'<p class="meta">{escape(_overview(records))}</p>',
            *[f'<p class="note">{escape(note)}</p>' for note in drawn.notes], *_html_summary(claims, store),
            "<details><summary>The ledger</summary><pre>", *map(escape, ledger), "</pre></details>"]
    for claim, checks in claims:
        body += _html_claim(claim, checks, drawn.of(claim), _stored(store, claim, checks))
    for name in cards.card_names(list(profiles)):
        body += cards.html(list(profiles), name, drawn.of(f"card:{name}"), _html_plots)
    if plots := drawn.of(None):
        body += [f'<section id="activations"><h2>{ACTIVATIONS_SECTION}</h2>', *_html_plots(plots), "</section>"]
    return "\n".join(['<!doctype html>', '<html lang="en"><head><meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>Claims report</title><style>{STYLE}</style></head>", "<body><main>", *body,
                      "</main></body></html>", ""])


# ---- writing

def write_plots(directory: Path, drawn: Drawn) -> None:
    """The PNGs under directory/plots; PNGs there from an earlier run that this one did not draw are removed."""
    folder = directory / PLOTS
    for plot in drawn.plots:
        write_bytes_atomically(folder / plot.filename, plot.png)
    current = {p.filename for p in drawn.plots}
    for stale in folder.glob("*.png") if folder.is_dir() else []:
        if stale.name not in current:
            stale.unlink()


def write_report(directory: Path, records: list[dict], ledger: list[str], store: dict | None = None,
                 profiles: Sequence[dict] = ()) -> Path:
    """claims.json, the plots, report.md and report.html, each written atomically; returns the folder. `store`: the
    measured full-scale verdicts shown for checks that did not run at full scale; `profiles`: the profile rows the
    report cards show (also written as profiles.json)."""
    write_claims_json(directory, records)
    drawn = draw_plots(records)
    profiles = list(profiles)
    if profiles:
        write_atomically(directory / cards.PROFILES_JSON, json.dumps(profiles, indent=1, allow_nan=False) + "\n")
        drawn = cards.with_card_plots(drawn, profiles)
    elif (directory / cards.PROFILES_JSON).exists():
        (directory / cards.PROFILES_JSON).unlink()  # an earlier run's cards are not this run's
    write_plots(directory, drawn)
    write_atomically(directory / "report.md", report_markdown(records, ledger, drawn, store, profiles))
    write_atomically(directory / "report.html", report_html(records, ledger, drawn, store, profiles))
    return directory
