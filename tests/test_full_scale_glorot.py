"""Glorot & Bengio's full-scale checks end to end on the CPU: a tiny CIFAR-format folder, nets of width 4, a few
dozen steps.

The verdicts of so small a run mean nothing, so these tests hold the path, not the outcome: the images are read
and flattened, every activation's nets train, and each full-scale check records its numbers, beside the
document's CIFAR-10 errors, and a verdict.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.plugin import EVIDENCE_KEY
from harness.verdicts import Verdict
from test_cifar import write_tiny_cifar

ROOT = Path(__file__).resolve().parent.parent
FULL_CHECKS = 4
TINY_STEPS, TINY_SATURATION_STEPS, TINY_PROBE_EVERY = 40, 20, 5


@pytest.fixture
def tiny_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim module's full-scale protocol shrunk to two nets per activation, of width 4, for a few steps."""
    glorot = importlib.import_module("claims.test_glorot_bengio")
    tiny = replace(glorot.FULL, width=4, steps=TINY_STEPS, ranking_seeds={act: 2 for act in glorot.RANKED},
                   loss_window=10, saturation_steps=TINY_SATURATION_STEPS, saturation_seeds=2,
                   probe_every=TINY_PROBE_EVERY)
    monkeypatch.setattr(glorot, "FULL", tiny)


def run_full_checks(pytester: pytest.Pytester, *args: str) -> pytest.HookRecorder:
    return pytester.inline_run(str(ROOT / "claims" / "test_glorot_bengio.py"), "-m", "slow", "--device", "cpu",
                               "-p", "no:cacheprovider", "-p", "no:randomly", *args)


def evidence_records(run: pytest.HookRecorder) -> list[dict]:
    """The checks' evidence records, as the plugin attaches them to each check's teardown report."""
    return [json.loads(dict(report.user_properties)[EVIDENCE_KEY])
            for report in run.getreports("pytest_runtest_logreport")
            if report.when == "teardown" and EVIDENCE_KEY in dict(report.user_properties)]


def test_full_scale_glorot_checks_run_end_to_end_on_tiny_cifar(pytester, tiny_protocol):
    write_tiny_cifar(pytester.path / "data")
    run = run_full_checks(pytester, "--data-dir", str(pytester.path / "data"))
    records = evidence_records(run)
    assert {r["scale"] for r in records} == {"full"} and len(records) == FULL_CHECKS
    for record in records:
        assert record["verdict"] in {v.value for v in Verdict}, record
        assert record["device"] == "cpu"
        assert record["measured"]["cifar10_official_checksums"] is False  # the fixture's files are not the official
    ranking = [r for r in records if r["claim"] == "activation-ranking"]
    for record in ranking:
        assert {f"cifar10_test_error_{act}" for act in ("relu", "softsign", "tanh", "sigmoid")} <= record["measured"].keys()
        assert record["document"]["cifar10_test_error_tanh"] == 55.9
        assert record["measured"]["steps"] == TINY_STEPS
    (saturation,) = [r for r in records if r["claim"] == "sigmoid-top-layer-saturation"]
    probes = TINY_SATURATION_STEPS // TINY_PROBE_EVERY
    assert len(saturation["measured"]["probe_steps"]) == probes
    for act in ("sigmoid", "tanh"):
        assert [len(layer) for layer in saturation["measured"][f"{act}_layer_means"]] == [probes] * 4
    passed, skipped, failed = run.listoutcomes()
    assert len(passed) + len(failed) == FULL_CHECKS and not skipped


def test_full_scale_glorot_checks_skip_without_cifar_and_say_where_to_put_it(pytester, tiny_protocol):
    run = run_full_checks(pytester, "--data-dir", str(pytester.path / "nowhere"))
    passed, skipped, failed = run.listoutcomes()
    assert len(skipped) == FULL_CHECKS and not passed and not failed
    for report in skipped:
        assert "CIFAR-10 is not in" in report.longrepr[2] and "nowhere" in report.longrepr[2], report.longrepr
