"""Document 001's full-scale depth checks end to end on the CPU: a tiny CIFAR-format folder, one epoch, width 4.

The verdicts of so small a run mean nothing, so these tests hold the path, not the outcome: the data is read,
every (activation, depth, seed) trains, each full-scale check records its numbers and a verdict, progress
reaches the terminal, and a second run reads the sweep from pytest's cache instead of training again.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.verdicts import Verdict
from test_cifar import write_tiny_cifar

ROOT = Path(__file__).resolve().parent.parent
FULL_CHECKS = 7
# document 001's sweep feeds both: the depth checks, and the ReLU family's at two blocks
SWEEP_MODULES = [str(ROOT / "claims" / module) for module in ("test_depth.py", "test_relu_family.py")]


TINY = ("-p", "benchmarks.tiny_full_scale")   # the full-scale protocol shrunk to one epoch of width-4 nets, 2 seeds


def run_full_depth_checks(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict]]:
    report = pytester.path / "report"
    result = pytester.runpytest(*SWEEP_MODULES, "-m", "slow", "--device", "cpu",
                                "-o", f"cache_dir={pytester.path / 'cache'}", "--claims-report", str(report),
                                *TINY, *args)
    return result, json.loads((report / "claims.json").read_text())


def test_full_scale_depth_checks_run_end_to_end_and_a_second_run_reads_the_cache(pytester):
    write_tiny_cifar(pytester.path / "data")
    data = ("--data-dir", str(pytester.path / "data"))
    result, records = run_full_depth_checks(pytester, *data)
    assert {r["scale"] for r in records} == {"full"} and len(records) == FULL_CHECKS
    for record in records:
        assert record["verdict"] in {v.value for v in Verdict}, record
        assert record["device"] == "cpu" and len(record["seeds"]) == 1
    accuracy = next(r for r in records if r["check"] == "test_relu_accuracy_rises_from_one_to_eight_blocks")
    assert len(accuracy["measured"]["test_accuracy_relu"]) == 5
    assert accuracy["measured"]["cifar10_official_checksums"] is False
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == FULL_CHECKS and "error" not in outcomes
    assert "CIFAR-10 depth sweep: relu, 1 blocks, seed 1 of 2, epoch 1/1" in result.stdout.str() + result.stderr.str()

    again, records_again = run_full_depth_checks(pytester, *data)
    assert "CIFAR-10 depth sweep: " not in again.stdout.str() + again.stderr.str(), "the cached sweep trained again"
    assert [r["measured"] for r in records_again] == [r["measured"] for r in records]


def test_full_scale_checks_skip_without_cifar_and_say_where_to_put_it(pytester):
    result = pytester.runpytest(*SWEEP_MODULES, "-m", "slow", "--device", "cpu",
                                "--data-dir", str(pytester.path / "nowhere"), "-p", "no:cacheprovider", "-rs",
                                *TINY)
    result.assert_outcomes(skipped=FULL_CHECKS)
    result.stdout.fnmatch_lines(["*CIFAR-10 is not in *nowhere*cifar-10-batches-py*--download*"])
