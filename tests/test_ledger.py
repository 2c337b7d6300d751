"""The terminal ledger: its multiplicity header, skip reasons beside skipped checks, columns that fit."""
from harness.outputs.ledger import ledger_lines, multiplicity


def record(claim: str, verdict: str = "supported", alpha: float | None = 0.01, **extra) -> dict:
    decision = {"verdict": verdict, "effect_name": "gap", "effect": 1.0, "threshold": 0.0, "alpha": alpha}
    return {"claim": claim, "check": "test_gap", "scale": "fast", "verdict": verdict, "expected": verdict,
            "passed": True, "measured": {}, "document": {}, "decision": decision, "controls": [{"kind": "null", **decision}], **extra}


def test_the_header_counts_decisions_and_bounds_the_false_supports_chance_could_give():
    records = [record("a"), record("b"), record("c", alpha=None)]
    assert multiplicity(records) == ("6 decisions (checks and their controls), 4 of them statistical at alpha 0.01 "
                                     "per side, not adjusted for multiplicity: at most 0.04 false supports expected "
                                     "by chance")
    assert ledger_lines(records)[0] == multiplicity(records)


def test_a_skipped_check_shows_its_reason_shortened():
    skipped = {"claim": "d", "check": "test_x", "scale": "full", "verdict": "skipped", "passed": None,
               "expected": "supported", "skip_reason": "needs a CUDA GPU and none was found; " + "x" * 200}
    line = next(line for line in ledger_lines([record("a"), skipped]) if line.startswith("d "))
    assert "skipped: needs a CUDA GPU and none was found; xxx" in line and line.endswith("...")
    assert len(line.split("skipped: ")[1]) == 90


def test_a_scale_that_did_not_run_shows_its_expectation_as_a_prediction():
    skipped = [{"claim": "d", "check": f"test_{i}", "scale": "full", "verdict": "skipped", "passed": None,
                "expected": expected, "skip_reason": "no GPU"} for i, expected in enumerate(["supported", "refuted"])]
    line = next(line for line in ledger_lines(skipped) if line.startswith("d "))
    assert "predicted supported/refuted" in line


def test_each_prediction_is_listed_with_its_basis_unless_a_measurement_is_kept():
    skipped = [{"claim": "d", "check": "test_x", "test": "test_x[full]", "scale": "full", "verdict": "skipped",
                "passed": None, "expected": "inconclusive", "skip_reason": "no GPU",
                "expected_reason": "the document's gap sits 0.4 points from the margin"}]
    lines = ledger_lines(skipped)
    assert lines[-2:] == ["predictions (no run here measured them), with their basis:",
                          "  d test_x[full]: inconclusive; the document's gap sits 0.4 points from the margin"]
    kept = {"checks": [{"claim": "d", "test": "test_x[full]", "verdict": "refuted",
                        "provenance": {"device": "cpu (x86_64)", "date": "2026-11-29"}}]}
    assert not any("predictions" in line for line in ledger_lines(skipped, kept))
