"""Conditions maps: a rule decided in every cell of a grid, its summary, its verdict and its control."""
from __future__ import annotations

import json

import pytest

from harness.claim import Claim
from harness.conditions import Axis, ConditionsMap
from harness.evidence import ClaimCheckFailed, Evidence
from harness.outputs.plots import draw_plots
from harness.outputs.report import report_html, report_markdown
from harness.stats import any_of, mean_test
from harness.verdicts import Verdict

CLEAR, NONE = [2.0, 2.1, 1.9, 2.05], [-2.0, -2.1, -1.9, -2.05]
ROWS, COLUMNS = Axis("learning rate", (0.1, 1.0)), Axis("slope", (0.01, 0.1), document=0.1)


def grid(holds: set[tuple[float, float]], control_holds: set[tuple[float, float]] = frozenset()) -> ConditionsMap:
    def decide(lr: float, slope: float, control_alpha: float):
        rule = mean_test(CLEAR if (lr, slope) in holds else NONE, 0.0, name="effect")
        control = mean_test(CLEAR if (lr, slope) in control_holds else NONE, 0.0, alpha=control_alpha,
                            name="null effect")
        return rule, control
    return ConditionsMap.over(ROWS, COLUMNS, decide, control_kind="null")


def test_a_rule_that_holds_in_every_cell_is_supported_and_says_so():
    every = grid({(r, c) for r in ROWS.values for c in COLUMNS.values})
    assert every.decision().verdict is Verdict.SUPPORTED and every.summary() == "holds in all 4 cells"


def test_a_rule_that_holds_in_some_cells_is_refuted_and_names_where_it_holds():
    some = grid({(1.0, 0.1)})
    assert some.decision().verdict is Verdict.REFUTED
    assert some.summary() == "holds in 1 of 4 cells (learning rate 1, slope 0.1), refuted in 3"


def test_one_supported_control_cell_fails_the_control():
    assert grid(set(), control_holds={(0.1, 0.01)}).control().verdict is Verdict.SUPPORTED
    assert grid(set()).control().verdict is Verdict.REFUTED


def test_each_cells_control_gets_a_share_of_alpha_so_that_the_maps_control_errs_at_most_alpha():
    control = grid(set()).control()
    assert control.alpha == pytest.approx(0.01) and "falsely supported at most 0.01 of the time" in control.rule


def test_a_map_whose_controls_ignore_their_share_of_alpha_or_that_gives_only_a_mirror_is_refused():
    def decide(lr: float, slope: float, control_alpha: float):
        return mean_test(CLEAR, 0.0), mean_test(NONE, 0.0)          # the control at the full alpha, not its share
    with pytest.raises(ValueError, match="pass decide's third argument on"):
        ConditionsMap.over(ROWS, COLUMNS, decide, control_kind="null")
    with pytest.raises(ValueError, match="control_kind='mirror'"):
        ConditionsMap.over(ROWS, COLUMNS, decide, control_kind="mirror")


def test_any_of_is_supported_by_one_part_refuted_only_by_all_and_states_the_summed_error_rate():
    yes, no = mean_test(CLEAR, 0.0), mean_test(NONE, 0.0)
    undecided = mean_test([1.0, -1.0, 0.5, -0.4], 0.0)
    assert any_of([no, yes], "x").verdict is Verdict.SUPPORTED
    assert any_of([no, no], "x").verdict is Verdict.REFUTED
    assert any_of([no, undecided], "x").verdict is Verdict.INCONCLUSIVE
    either = any_of([no, yes], "x")
    assert either.alpha == 0.02 and "falsely supported at most 0.02 of the time" in either.rule


def evidence(expected: str = "refuted") -> Evidence:
    return Evidence(Claim("toy", "s", "q", "t"), "test_toy", "fast", expected, "", "cpu", [0])


def test_a_map_is_concluded_from_its_cells_and_recorded_for_the_report():
    record_of = evidence()
    record_of.describe(task="toy", learning_rate=[0.1, 1.0])
    record_of.conclude_map(grid({(1.0, 0.1)}))
    record = json.loads(json.dumps(record_of.record(True, 0.1)))
    assert record["verdict"] == "refuted" and record["protocol"] == {"task": "toy", "learning_rate": [0.1, 1.0]}
    assert len(record["conditions"]["cells"]) == 4 and record["conditions"]["columns"]["document"] == 0.1
    markdown = report_markdown([record], [])
    assert "| learning rate ↓ slope → | 0.01 | 0.1* |" in markdown and "| 1 | refuted | supported |" in markdown
    assert "Protocol: task: toy; learning rate: [0.1, 1]." in markdown
    assert "Conditions map: holds in 1 of 4 cells" in report_html([record], [])
    (plot,) = [p for p in draw_plots([record]).plots if p.kind == "conditions"]
    assert plot.png.startswith(b"\x89PNG") and plot.claim == "toy"


def test_a_map_whose_control_holds_somewhere_fails_its_check():
    with pytest.raises(ClaimCheckFailed, match="negative control came out supported"):
        evidence().conclude_map(grid(set(), control_holds={(1.0, 0.01)}))


def test_a_cell_whose_runs_diverged_is_undecided_and_the_other_cells_still_decide():
    def decide(lr: float, slope: float, control_alpha: float):
        values = [1.0, float("nan"), 2.0] if lr == 1.0 else NONE
        return mean_test(values, 0.0, name="effect"), mean_test(values, 0.0, alpha=control_alpha, name="null effect")
    diverged = ConditionsMap.over(ROWS, COLUMNS, decide, control_kind="null")
    assert diverged.summary() == "holds in 0 of 4 cells, refuted in 2, undecided in 2"
    record_of = evidence("refuted")
    record_of.conclude_map(diverged)          # no failure for the NaN: the map says where the runs diverged
    cell = next(c for c in record_of.conditions["cells"] if c["row"] == 1.0)
    assert cell["decision"]["verdict"] == "inconclusive" and "diverged" in cell["decision"]["rule"]
