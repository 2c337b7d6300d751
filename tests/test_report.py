"""The report: report.md with its PNGs, and report.html, which opens offline; written from hand-made records."""
from __future__ import annotations

import base64
import re
import sys
from html import escape
from pathlib import Path

import pytest

from harness import files
from harness.files import write_bytes_atomically
from harness.plots import MISSING_MATPLOTLIB, PLOT_KINDS, draw_plots
from harness.report import report_html, write_report

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
KINDS = {kind.name: kind for kind in PLOT_KINDS}
DOCUMENTS = {"accuracy-vs-depth": {"test_accuracy_relu": [55.0, 66.0, 73.0]},
             "loss-and-boundaries": {"final_loss_relu": 0.03, "final_loss_sigmoid": 0.28}}


def record(claim: str, measured: dict, check: str = "test_it", scale: str = "fast", document: dict | None = None,
           ) -> dict:
    return {"claim": claim, "check": check, "scale": scale, "verdict": "supported", "expected": "supported",
            "passed": True, "measured": measured, "document": document or {}, "seeds": [7], "device": "cpu",
            "duration_s": 0.1, "versions": {"python": "3"}, "decision": DECISION, "control": CONTROL,
            "expected_reason": "", "source": "000.txt", "quote": "a <quoted> claim", "statement": "it holds"}


def sample_record(kind: str, **overrides) -> dict:
    return record(KINDS[kind].claim, dict(SAMPLES[kind]), document=DOCUMENTS.get(kind), **overrides)


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


def test_every_kind_with_a_claim_has_a_sample_here():
    assert set(SAMPLES) == {kind.name for kind in PLOT_KINDS if kind.claim}


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
    assert {kind.name for kind in PLOT_KINDS} <= set(re.findall(r'data-kind="([^"]+)"', html))


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
    needed = next(k for k in KINDS[kind].figure.needs if k in SAMPLES[kind])
    incomplete = sample_record(kind)
    del incomplete["measured"][needed]
    drawn = draw_plots([incomplete], kinds=(KINDS[kind],))
    assert drawn.plots == [] and drawn.notes == []
    assert f'id="{KINDS[kind].claim}"' in report_html([incomplete], [], drawn)


def test_the_gradient_plot_borrows_depths_only_from_the_same_scale():
    gradient, depth = KINDS["gradient-vs-depth"], KINDS["accuracy-vs-depth"]
    depths = record(depth.claim, {"depths": [1, 2, 4]}, scale="full")
    assert draw_plots([sample_record("gradient-vs-depth"), depths], kinds=(gradient,)).plots == []
    depths["scale"] = "fast"
    (plot,) = draw_plots([sample_record("gradient-vs-depth"), depths], kinds=(gradient,)).plots
    assert plot.png.startswith(b"\x89PNG") and plot.scale == "fast"


def test_values_that_cannot_be_drawn_become_a_note():
    ragged = sample_record("layer-means")
    ragged["measured"]["sigmoid_layer_means"] = [[0.5, 0.4, 0.3], [0.5]]
    drawn = draw_plots([ragged], kinds=(KINDS["layer-means"],))
    assert drawn.plots == [] and len(drawn.notes) == 1 and drawn.notes[0].startswith("layer-means (fast, test_it)")


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
