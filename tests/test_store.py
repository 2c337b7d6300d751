"""The full-scale store: measured full-scale verdicts kept with their provenance, shown when a run does not
execute them, and a later run that disagrees fails as drift."""
import json
import subprocess
import sys

import pytest

from harness.outputs.ledger import ledger_lines
from harness.outputs.report import report_markdown
from harness.outputs.store import empty, read_store, StoreError, updated
from test_plugin import CLAIM_MODULE, run

STORE = "results/full_scale.json"


def full_record(verdict: str = "supported") -> dict:
    decision = {"effect_name": "gap", "effect": 2.0, "interval": [1.5, 2.5], "threshold": 0.0, "n": 3}
    return {"claim": "toy-claim", "check": "test_gap_is_positive", "test": "test_gap_is_positive[full]",
            "scale": "full", "verdict": verdict, "expected": "supported", "decision": decision,
            "protocol": {"task": "toy task", "data": "toy data, checksum abc"}}


def a_store(verdict: str = "supported") -> dict:
    return updated(empty(), [full_record(verdict)], "cuda (NVIDIA H200)", {"torch": "2.11.0"}, 0)


def test_an_entry_keeps_the_verdict_its_effect_and_where_it_came_from():
    (entry,) = a_store()["checks"]
    assert entry["verdict"] == "supported" and entry["effect"]["interval"] == [1.5, 2.5]
    where = entry["provenance"]
    assert where["device"] == "cuda (NVIDIA H200)" and where["versions"] == {"torch": "2.11.0"}
    assert where["base_seed"] == 0 and where["data"] == "toy data, checksum abc" and len(where["date"]) == 10


def test_the_ledger_shows_a_stored_verdict_where_the_full_scale_did_not_run_and_a_prediction_where_none_is_kept():
    skipped = {**full_record(), "verdict": "skipped", "passed": None, "skip_reason": "no GPU"}
    fast = {**full_record(), "scale": "fast", "test": "test_gap_is_positive[fast]", "passed": True, "measured": {},
            "document": {}}
    (stored,) = [line for line in ledger_lines([fast, skipped], a_store()) if line.startswith("toy-claim")]
    assert "measured supported (cuda " in stored and "predicted" not in stored
    (predicted,) = [line for line in ledger_lines([fast, skipped], empty()) if line.startswith("toy-claim")]
    assert "predicted supported" in predicted


def test_the_report_names_the_stored_measurement_and_the_basis_of_a_prediction():
    skipped = {**full_record(), "verdict": "skipped", "passed": None, "skip_reason": "no GPU",
               "expected_reason": "the document's table"}
    stored = report_markdown([skipped], [], store=a_store())
    assert "Full scale, measured earlier" in stored and "measured on cuda (NVIDIA H200)" in stored
    fast = {**full_record(), "scale": "fast", "test": "test_gap_is_positive[fast]", "passed": True, "measured": {},
            "document": {}, "controls": [], "duration_s": 0.1, "device": "cpu", "seeds": [0], "decision": None}
    fast_only = report_markdown([fast], [], store=a_store())                # -m fast: no full-scale record at all
    assert "| `test_gap_is_positive` | supported (pass) | supported (measured earlier) |" in fast_only
    predicted = report_markdown([skipped], [])
    assert "Predicted supported (no run here measured it). Basis: the document's table" in predicted


def test_a_file_that_is_not_a_store_or_an_entry_without_its_provenance_is_one_sentence(tmp_path):
    (tmp_path / "store.json").write_text("[1, 2]")
    with pytest.raises(StoreError, match="is not a full-scale store"):
        read_store(tmp_path / "store.json")
    broken = a_store()
    del broken["checks"][0]["provenance"]["date"]
    (tmp_path / "store.json").write_text(json.dumps(broken))
    with pytest.raises(StoreError, match=r"test_gap_is_positive\[full\] lacks its provenance's date"):
        read_store(tmp_path / "store.json")


def test_a_full_scale_run_keeps_its_verdicts_and_a_later_run_that_disagrees_fails(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    kept = run(project, "-m", "slow", "--device", "cpu", "--claims-store-update")
    assert kept.ret == pytest.ExitCode.OK
    store = json.loads((project.path / STORE).read_text())
    (entry,) = store["checks"]
    assert entry["verdict"] == "supported" and entry["provenance"]["device"].startswith("cpu")

    fast_only = run(project, "-m", "fast")
    fast_only.stdout.fnmatch_lines(["toy-claim*supported ok*measured supported (cpu *"])

    entry["verdict"] = "refuted"
    (project.path / STORE).write_text(json.dumps(store))
    differs = run(project, "-m", "slow", "--device", "cpu")
    assert differs.ret == pytest.ExitCode.TESTS_FAILED
    differs.stdout.fnmatch_lines(["full-scale verdicts that differ from *full_scale.json*",
                                  "toy-claim test_gap_is_positive?full?: stored refuted (cpu *), now supported"])
    assert run(project, "-m", "slow", "--device", "cpu", "--claims-seed", "1").ret == pytest.ExitCode.OK

    (project.path / STORE).write_text("not json")
    assert run(project, "-m", "fast").ret == pytest.ExitCode.USAGE_ERROR
    assert run(project, "-m", "slow", "--device", "cpu", "--claims-store-update").ret == pytest.ExitCode.OK


def test_a_gpu_windows_store_is_merged_into_the_repositorys_in_place_of_the_same_checks(tmp_path):
    into, newer = tmp_path / "full_scale.json", tmp_path / "window.json"
    into.write_text(json.dumps(a_store("refuted")))
    other = {**full_record(), "check": "test_other", "test": "test_other[full]"}
    newer.write_text(json.dumps(updated(empty(), [full_record("supported"), other], "cuda (NVIDIA H200)", {}, 0)))
    done = subprocess.run([sys.executable, "-m", "harness.outputs.store", str(newer), str(into)], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "kept 2 entries" in done.stdout
    assert [(e["test"], e["verdict"]) for e in read_store(into)["checks"]] == [
        ("test_gap_is_positive[full]", "supported"), ("test_other[full]", "supported")]
