"""The report: report.md with its PNGs, and report.html, which opens offline; written from hand-made records."""
from __future__ import annotations

import base64
import importlib
import math
import pkgutil
import re
import sys
from html import escape
from pathlib import Path

import numpy as np
import pytest
import torch

import claims
from harness.claim import Claim
from harness.experiments.train import init_net
from harness.outputs import files
from harness.outputs.files import write_bytes_atomically
from harness.outputs.plots import DOCUMENT_SETTING, MISSING_MATPLOTLIB, SETTING, draw_plots
from harness.outputs.report import check_label, finding, report_html, report_markdown, write_report
from harness.stats import paired_test

DECISION = {"verdict": "supported", "rule": "t-interval, above 0", "effect_name": "gap", "effect": 2.0,
            "interval": [1.5, 2.5], "threshold": 0.0, "n": 8, "alpha": 0.01, "p_value": 1e-4}
CONTROL = {**DECISION, "verdict": "refuted", "effect": -2.0, "interval": [-2.5, -1.5], "p_value": 1.0}
STEPS = [0, 10, 20]
GRID_X, GRID_Y = [-1.0, 0.0, 1.0, 2.0], [-0.5, 0.5, 1.5]
# One record's measured values per plot kind: enough to draw it, nothing more.
SAMPLES = {
    "accuracy-vs-depth": {"depths": [1, 2, 4], "test_accuracy_relu": [60.0, 70.0, 80.0],
                          "test_accuracy_sigmoid": [50.0, 45.0, 40.0], "test_accuracy_sd_relu": [1.0, 2.0, 1.0],
                          "test_accuracy_sd_sigmoid": [2.0, 1.0, 3.0]},
    "gradient-vs-depth": {"gradient_average_relu": [0.01, 0.008, 0.006],
                          "gradient_average_sigmoid": [0.009, 0.005, 0.002]},
    "loss-and-boundaries": {"loss_curve_steps": STEPS, "loss_curve_relu": [0.7, 0.3, 0.1],
                            "loss_curve_sigmoid": [0.7, 0.4, 0.35], "boundary_x": GRID_X, "boundary_y": GRID_Y,
                            "boundary_probability_relu": [[0.1, 0.2, 0.8, 0.9]] * 3,
                            "boundary_probability_sigmoid": [[0.3, 0.4, 0.6, 0.7]] * 3,
                            "moons_points": [[0.0, 1.0, 0], [1.0, -0.4, 1], [2.0, 0.5, 1]]},
    "layer-means": {"probe_steps": STEPS, "sigmoid_layer_means": [[0.5, 0.5, 0.5], [0.5, 0.3, 0.1]],
                    "tanh_layer_means": [[0.0, 0.01, 0.0], [0.0, -0.02, 0.01]]},
    "dead-share": {"dead_share_steps": STEPS, "dead_share_relu": [[0.25, 0.25, 0.25], [0.3, 0.25, 0.2]],
                   "dead_share_leaky_relu": [[0.25, 0.25, 0.25], [0.3, 0.26, 0.22]]},
}
def claim_modules() -> list:
    return [importlib.import_module(f"claims.{m.name}") for m in pkgutil.iter_modules(claims.__path__)]


# Every plot the claims declare: its name -> (the claim's id, the declaration).
KINDS = {kind.name: (claim.id, kind) for module in claim_modules() for claim in vars(module).values()
         if isinstance(claim, Claim) for kind in claim.plots}


def plots_of_kind(drawn, kind: str) -> list:
    return [p for p in drawn.plots if p.kind == kind]


DOCUMENTS = {"accuracy-vs-depth": {"test_accuracy_relu": [55.0, 66.0, 73.0]},
             "loss-and-boundaries": {"final_loss_relu": 0.03, "final_loss_sigmoid": 0.28}}
STAND_IN = "a sawtooth, width-16 blocks: a stand-in"
DOCUMENT_RUN = "document 001's run: CIFAR-10, its CNN"


def record(claim: str, measured: dict, check: str = "test_it", scale: str = "fast", document: dict | None = None,
           ) -> dict:
    return {"claim": claim, "check": check, "scale": scale, "verdict": "supported", "expected": "supported",
            "passed": True, "measured": measured, "document": document or {}, "seeds": [7], "device": "cpu",
            "duration_s": 0.1, "versions": {"python": "3"}, "decision": DECISION, "controls": [{"kind": "null", **CONTROL}],
            "expected_reason": "", "source": "000.txt", "quote": "a <quoted> claim", "statement": "it holds"}


def sample_record(kind: str, **overrides) -> dict:
    claim, declared = KINDS[kind]
    return record(claim, dict(SAMPLES[kind]), document=DOCUMENTS.get(kind), **overrides) | {
        "plots": [declared.to_json()]}


def all_records() -> list[dict]:
    """Every kind's record; the depths the gradient plot borrows; one plot's values in two checks (drawn once);
    the layer means at full scale too (drawn again); a skipped check and a claim with no plot."""
    return [*(sample_record(kind) for kind in SAMPLES),
            sample_record("accuracy-vs-depth", check="test_other"),
            sample_record("layer-means", scale="full"),
            {"claim": "some-claim", "check": "test_big", "scale": "full", "expected": "supported",
             "verdict": "skipped", "passed": None, "skip_reason": "needs a CUDA GPU"},
            record("some-claim", {"gap": [1.9, 2.1]}, document={"gap": 2.0})]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    write_report(folder, all_records(), ["claim  fast  full"])
    return folder


def test_every_kind_a_claim_declares_has_a_sample_here():
    assert set(SAMPLES) == set(KINDS)


def test_html_is_self_contained(report):
    html = (report / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html
    images = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert all(base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG") for src in images)


def test_html_has_a_section_and_a_summary_row_for_every_claim(report):
    html = (report / "report.html").read_text()
    for claim in {r["claim"] for r in all_records()}:
        assert f'<section class="claim" id="{claim}">' in html and f'<a href="#{claim}">' in html
    assert "a &lt;quoted&gt; claim" in html and "needs a CUDA GPU" in html


def test_every_kind_is_drawn_when_its_keys_are_present(report):
    html = (report / "report.html").read_text()
    assert {*KINDS, "activations"} <= set(re.findall(r'data-kind="([^"]+)"', html))


def test_the_same_values_in_two_checks_draw_one_plot_and_each_scale_its_own(report):
    html = (report / "report.html").read_text()
    assert html.count('data-kind="accuracy-vs-depth"') == 1 and "from test_it, test_other" in html
    assert html.count('data-kind="layer-means"') == 2
    assert {"sigmoid-top-layer-saturation-layer-means-fast.png", "sigmoid-top-layer-saturation-layer-means-full.png"} \
        <= {p.name for p in (report / "plots").iterdir()}


def test_markdown_references_every_png_and_only_pngs_that_exist(report):
    markdown = (report / "report.md").read_text()
    referenced = re.findall(r"!\[[^\]]*\]\((plots/[^)]+\.png)\)", markdown)
    assert sorted(referenced) == sorted(str(p.relative_to(report)) for p in (report / "plots").glob("*.png"))
    assert "| gap | [1.9, 2.1] | 2 |" in markdown


def test_writing_leaves_no_temporary_files(report):
    assert not [p for p in report.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


@pytest.mark.parametrize("kind", SAMPLES)
def test_a_kind_is_skipped_cleanly_when_a_key_it_needs_is_missing(kind):
    claim, declared = KINDS[kind]
    needed = next(k for k in declared.figure.needs if k in SAMPLES[kind])
    incomplete = sample_record(kind)
    del incomplete["measured"][needed]
    drawn = draw_plots([incomplete])
    assert [p.kind for p in drawn.plots] == ["activations"] and drawn.notes == []
    assert f'id="{claim}"' in report_html([incomplete], [], drawn)


def test_the_gradient_plot_borrows_depths_only_from_the_same_scale():
    depths = record(KINDS["accuracy-vs-depth"][0], {"depths": [1, 2, 4]}, scale="full")
    assert plots_of_kind(draw_plots([sample_record("gradient-vs-depth"), depths]), "gradient-vs-depth") == []
    depths["scale"] = "fast"
    (plot,) = plots_of_kind(draw_plots([sample_record("gradient-vs-depth"), depths]), "gradient-vs-depth")
    assert plot.png.startswith(b"\x89PNG") and plot.scale == "fast"


def test_values_that_cannot_be_drawn_become_a_note():
    ragged = sample_record("layer-means")
    ragged["measured"]["sigmoid_layer_means"] = [[0.5, 0.4, 0.3], [0.5]]
    drawn = draw_plots([ragged])
    assert plots_of_kind(drawn, "layer-means") == [] and len(drawn.notes) == 1 and drawn.notes[0].startswith("layer-means (fast, test_it)")


def test_without_matplotlib_the_report_says_so_in_one_line_and_drops_old_plots(tmp_path, monkeypatch):
    write_bytes_atomically(tmp_path / "plots" / "old.png", b"\x89PNG")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    write_report(tmp_path, all_records(), [])
    markdown, html = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert markdown.count(MISSING_MATPLOTLIB) == 1 and html.count(escape(MISSING_MATPLOTLIB)) == 1
    assert "<img" not in html and "](plots/" not in markdown and not list((tmp_path / "plots").glob("*.png"))


def test_an_interrupted_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    write_bytes_atomically(target, b"old")

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes_atomically(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def verdict(claim: str, check: str, outcome: str, expected: str | None = None, params: str = "",
            scale: str = "fast") -> dict:
    """A record of `check` with this verdict (and expectation, by default the verdict), its parameters in its
    test id."""
    expected = expected or outcome
    return {**record(claim, {}, check=check, scale=scale), "verdict": outcome, "expected": expected,
            "passed": outcome == expected, "test": f"{check}[{'-'.join(filter(None, [params, scale]))}]"}


def test_a_claim_holds_when_every_check_is_supported_whatever_was_expected():
    assert finding([verdict("c", "test_a", "supported"), verdict("c", "test_b", "supported")]).kind == "holds"
    expected_refuted = [verdict("c", "test_a", "refuted", expected="refuted")]     # passes, yet the claim fails
    assert finding(expected_refuted).kind == "does not hold"
    assert finding([verdict("c", "test_a", "supported"), *expected_refuted]).kind == "holds in part"
    assert finding([verdict("c", "test_a", "supported"), verdict("c", "test_b", "inconclusive")]).kind == "undecided"
    skipped = {"claim": "c", "check": "test_a", "scale": "full", "verdict": "skipped", "passed": None}
    assert finding([skipped]).kind == "undecided"


def test_a_check_whose_control_came_out_supported_decides_nothing():
    blind = {**verdict("c", "test_a", "supported"), "controls": [{"kind": "null", "verdict": "supported"}]}
    assert finding([blind]).kind == "undecided"
    assert finding([blind, verdict("c", "test_b", "supported")]).parts[-1][0] == "left open by"


def test_a_finding_names_where_the_claim_holds_by_parameter_and_scale():
    records = [verdict("cost", "test_costs_more", "refuted", expected="supported", params="tanh"),
               verdict("cost", "test_costs_more", "supported", params="elu"),
               verdict("cost", "test_costs_more", "supported", params="gelu"),
               verdict("cost", "test_on_a_gpu", "supported", scale="full"),
               verdict("cost", "test_on_a_gpu", "refuted", expected="refuted")]
    markdown = report_markdown(records, [])
    assert ("- [cost](#cost) **holds in part**. Fast and full scale: supported by *costs more* (elu-fast, gelu-fast) "
            "and *on a gpu* (full); refuted by *costs more* (tanh-fast) and *on a gpu* (fast).") in markdown
    assert "<td><span class=\"f f-holds-in-part\">holds in part</span></td>" in report_html(records, [])


def test_both_reports_open_with_the_findings_then_a_legend_then_the_overview():
    records = [verdict("c", "test_a", "refuted", expected="refuted")]
    markdown, html = report_markdown(records, []), report_html(records, [])
    assert "Of 1 claim, 1 does not hold." in markdown
    for text, overview in ((markdown, "1 claims, 1 checks"), (html, "1 claims, 1 checks")):
        findings, legend = text.index("Findings"), text.index("pass / FAIL")
        assert text.index("Claims report") < findings < text.index("does not hold") < legend < text.index(overview)
        assert "says nothing about whether the claim holds" in text
        assert "A refuted check counts against the claim even where the harness expected it" in text


def test_a_parametrized_check_is_named_with_its_parameters_but_not_its_scale():
    records = [verdict("cost", "test_costs_more", "refuted", params="tanh"),
               verdict("cost", "test_costs_more", "supported", params="elu")]
    assert [check_label(r) for r in records] == ["test_costs_more[tanh]", "test_costs_more[elu]"]
    assert check_label(record("cost", {})) == "test_it"       # records without a test id, and unparametrized checks
    markdown, html = report_markdown(records, []), report_html(records, [])
    assert "### `test_costs_more[tanh]` (fast)" in markdown
    assert "| `test_costs_more[elu]` | supported (pass) |" in markdown
    assert html.count("<code>test_costs_more[tanh]</code>") == 2    # its row in the verdict table, and its section




@pytest.mark.parametrize("module", claim_modules(), ids=lambda m: m.__name__)
def test_no_statement_or_reason_names_a_constant_instead_of_its_value(module):
    constants = {name for name in vars(module) if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}
    texts = [c.statement for c in vars(module).values() if isinstance(c, Claim)]
    texts += [reason for f in vars(module).values() for mark in getattr(f, "pytestmark", []) if mark.name == "claim"
              for reason in mark.kwargs["reason"].values()]
    assert not [(word, text) for text in texts for word in re.findall(r"\b[A-Z][A-Z0-9_]+\b", text)
                if word in constants]


class Percent:
    """Accuracies in percent, as both depth sweeps give them."""

    def accuracy(self, act: str, depth: int) -> np.ndarray:
        return np.array([50.0, 52.0, 49.0, 51.0]) + (30.0 + np.array([1.0, -2.0, 0.5, 0.0])) * (depth > 1)


def test_depth_accuracy_rules_compare_percentage_points_with_a_threshold_in_points():
    depth = next(m for m in claim_modules() if m.__name__ == "claims.test_depth")
    decision = depth.gain(Percent(), "relu", 1, 8, "above")
    assert decision.effect_name.endswith("(points)") and decision.threshold == depth.CLEARLY == 10.0
    assert 25 < decision.effect < 35
    as_fractions = paired_test(Percent().accuracy("relu", 8) / 100, Percent().accuracy("relu", 1) / 100, 0.1)
    assert decision.verdict == as_fractions.verdict     # the paired rule does not depend on the unit


def test_the_dead_unit_rule_counts_changed_parameters_against_a_threshold_that_reads_as_none():
    dead = next(m for m in claim_modules() if m.__name__ == "claims.test_dead_units")
    start = init_net(dead.BASE, [0, 1], torch.device("cpu"))
    assert dead.changed_count(dead.Run(start, start, {}), dead.SET_DEAD) == 0 and dead.ZERO_COUNT == 0.5
    moved = dead.Net([(w + 1, b) for w, b in start.params], start.norms, start.act)
    assert dead.changed_count(dead.Run(start, moved, {}), dead.SET_DEAD) == 2 * dead.DEAD_UNITS * 2   # weights only
    diverged = dead.Net([(w * math.nan, b) for w, b in start.params], start.norms, start.act)
    assert math.isnan(dead.changed_count(dead.Run(start, diverged, {}), dead.SET_DEAD))   # decides nothing


def depth_record(scale: str) -> dict:
    measured = {**SAMPLES["accuracy-vs-depth"], SETTING: STAND_IN, DOCUMENT_SETTING: DOCUMENT_RUN}
    return sample_record("accuracy-vs-depth", scale=scale) | {"measured": measured}


def test_a_plot_draws_the_document_in_its_own_panel_and_says_where_each_series_came_from():
    from matplotlib.figure import Figure
    _, kind = KINDS["accuracy-vs-depth"]
    for document, panels in ((DOCUMENTS["accuracy-vs-depth"], 2), ({}, 1)):
        fig = Figure()
        kind.figure.draw(fig, depth_record("fast")["measured"], document)
        assert panels == 1 or fig.axes[1].get_title() == DOCUMENT_RUN
        assert len(fig.axes) == panels and fig.axes[0].get_title() == f"measured: {STAND_IN}"
    (plot,) = plots_of_kind(draw_plots([depth_record("fast")]), kind.name)
    assert plot.about == f"Measured at fast scale on {STAND_IN}; beside them, {DOCUMENT_RUN}."
    assert escape(plot.about) in report_html([depth_record("fast")], [], draw_plots([depth_record("fast")]))


def test_a_table_of_measured_and_document_numbers_says_which_setting_the_measured_ones_came_from():
    fast, full = (report_markdown([depth_record(scale)], []) for scale in ("fast", "full"))
    table = "| test_accuracy_relu | [60, 70, 80] | [55, 66, 73] |\n\n"
    assert table + f"*Measured at fast scale on {STAND_IN}; beside them, {DOCUMENT_RUN}.*" in fast
    assert table + f"*Measured at full scale on {STAND_IN}; beside them, {DOCUMENT_RUN}.*" in full
    assert "Measured: depths" in fast and STAND_IN not in fast.split("Measured: depths")[1].split("\n")[0]
    bare = report_markdown([record("c", {"gap": 1.0}, document={"gap": 2.0})], [])
    assert "*Measured at fast scale; beside them, the document's numbers, from its own setting.*" in bare


PROTOCOL_KEYS = {"task", "model", "optimizer", "seeds", "evaluation"}   # and learning_rate, budget where nets train


@pytest.mark.parametrize("module", [m for m in claim_modules() if m.__name__.startswith("claims.test_")],
                         ids=lambda m: m.__name__)
def test_every_claim_module_says_what_it_runs_at_every_scale_it_checks(module):
    scales = {scale for f in vars(module).values() for mark in getattr(f, "pytestmark", []) if mark.name == "claim"
              for scale in mark.kwargs["expected"]}
    for scale in scales:
        described = module.PROTOCOL[scale]
        assert PROTOCOL_KEYS <= set(described), f"{module.__name__} {scale}: lacks {PROTOCOL_KEYS - set(described)}"
        if not described["optimizer"].startswith("none"):   # nets train: say how fast and for how long
            assert {"learning_rate", "budget"} <= set(described), f"{module.__name__} {scale}"
