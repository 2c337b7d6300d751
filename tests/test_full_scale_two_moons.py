"""Document 000's two-moons checks at both scales, shrunk to a few nets for a few steps: every check records its
numbers and a verdict, and the plateau check carries the data of the report's plots (loss curves, decision
boundaries, the training points) in the shapes the plot reads. The verdicts of so small a run mean nothing."""
from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path

import pytest

from harness.verdicts import Verdict
from test_full_scale_glorot import evidence_records

ROOT = Path(__file__).resolve().parent.parent
CHECKS = 7
TINY_LONGER, TINY_TRAIN_POINTS = 40, 24


@pytest.fixture
def tiny_protocols(monkeypatch: pytest.MonkeyPatch):
    moons = importlib.import_module("claims.test_two_moons")
    tiny = dict(seeds=4, train_points=TINY_TRAIN_POINTS, test_points=50, steps=10, longer=TINY_LONGER, between=(20,))
    monkeypatch.setattr(moons, "FAST", replace(moons.FAST, **tiny))
    monkeypatch.setattr(moons, "FULL", replace(moons.FULL, **tiny))
    return moons


def test_both_scales_record_verdicts_and_the_plot_data(pytester, tiny_protocols):
    run = pytester.inline_run(str(ROOT / "claims" / "test_two_moons.py"), "-m", "fast or slow", "--device", "cpu",
                              "-p", "no:cacheprovider", "-p", "no:randomly")
    records = evidence_records(run)
    assert sorted(r["scale"] for r in records) == ["fast"] * CHECKS + ["full"] * CHECKS
    assert all(r["verdict"] in {v.value for v in Verdict} for r in records)
    for plateau in (r["measured"] for r in records if r["check"] == "test_sigmoid_loss_plateaus_far_above_relu"):
        assert plateau["loss_curve_steps"] == list(range(TINY_LONGER))
        assert len(plateau["loss_curve_relu"]) == len(plateau["loss_curve_sigmoid"]) == TINY_LONGER
        x, y = plateau["boundary_x"], plateau["boundary_y"]
        assert len(x) == len(y) == tiny_protocols.GRID_POINTS and x == sorted(x) and y == sorted(y)
        for act in ("relu", "sigmoid"):
            grid = plateau[f"boundary_probability_{act}"]
            assert [len(row) for row in grid] == [len(x)] * len(y)
            assert all(0 <= p <= 1 for row in grid for p in row)
        points = plateau["moons_points"]
        assert len(points) == TINY_TRAIN_POINTS and {label for _, _, label in points} == {0, 1}
        assert all(x[0] <= px <= x[-1] and y[0] <= py <= y[-1] for px, py, _ in points)
