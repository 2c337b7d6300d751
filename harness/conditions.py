"""A rule decided over a grid of settings a document leaves open, one verdict per cell, so that a verdict is a
fact about the claim where it holds rather than about one value picked for it.

A check builds a ConditionsMap from two axes, a function giving each cell's decision and negative control, and
that control's kind (verdicts.CONTROLS_THAT_CAN_FAIL), then hands it to Evidence.conclude_map. The check's verdict is
"holds in every cell" (all of the cells); its control fails if any cell's control comes out supported, so each
cell's control is decided at alpha / cells (Bonferroni) and the map's control errs at most alpha, as a single
check's does. The record keeps every cell for the report's map.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from harness.stats import ALPHA, all_of, any_of
from harness.verdicts import CONTROLS_THAT_CAN_FAIL, Decision, Verdict


@dataclass(frozen=True)
class Axis:
    name: str                        # the setting, in words: "learning rate", "initial bias"
    values: tuple[Any, ...]
    document: Any = None             # the document's own value, where it names one

    def label(self, value: Any) -> str:
        return f"{self.name} {value:g}" if isinstance(value, float) else f"{self.name} {value}"


Cell = tuple[Decision, Decision]     # (decision, negative control)


def _undecided_if_diverged(decision: Decision) -> Decision:
    """A cell whose runs diverged (NaN or infinite values) is a finding about that setting, not a broken check: the
    cell is undecided and says why, and the other cells still decide."""
    if not decision.nonfinite:
        return decision
    note = f"; {decision.nonfinite} values NaN or infinite (runs diverged at this setting)"
    return replace(decision, verdict=Verdict.INCONCLUSIVE, rule=decision.rule + note, nonfinite=0)


@dataclass(frozen=True)
class ConditionsMap:
    rows: Axis
    columns: Axis
    cells: dict[tuple[Any, Any], Cell]
    control_kind: str

    @staticmethod
    def over(rows: Axis, columns: Axis, decide: Callable[[Any, Any, float], Cell], *,
             control_kind: str) -> ConditionsMap:
        """`decide(row, column, control_alpha)` gives a cell's decision, and its control decided at control_alpha."""
        if control_kind not in CONTROLS_THAT_CAN_FAIL:
            raise ValueError(f"control_kind={control_kind!r}; give one of {', '.join(CONTROLS_THAT_CAN_FAIL)}")
        control_alpha = ALPHA / (len(rows.values) * len(columns.values))
        cells = {(r, c): decide(r, c, control_alpha) for r in rows.values for c in columns.values}
        if any(k.alpha is not None and k.alpha > control_alpha * (1 + 1e-9) for _, k in cells.values()):
            raise ValueError(f"a cell's control was decided at more than control_alpha = {control_alpha:g}: pass "
                             "decide's third argument on to the control's rule as alpha=")
        return ConditionsMap(rows, columns, cells, control_kind)

    def where(self, verdict: Verdict) -> list[str]:
        return [f"{self.rows.label(r)}, {self.columns.label(c)}"
                for (r, c), (decision, _) in self.cells.items() if _undecided_if_diverged(decision).verdict is verdict]

    def summary(self) -> str:
        """Where the rule holds, in one sentence: in how many cells it is supported, refuted and undecided, and
        which cells hold when some but not all do."""
        counts = {v: len(self.where(v)) for v in Verdict}
        total = len(self.cells)
        if counts[Verdict.SUPPORTED] == total:
            return f"holds in all {total} cells"
        tally = ", ".join(f"{what} in {counts[v]}" for v, what in
                          ((Verdict.REFUTED, "refuted"), (Verdict.INCONCLUSIVE, "undecided")) if counts[v])
        held = self.where(Verdict.SUPPORTED)
        return (f"holds in {len(held)} of {total} cells" + (f" ({'; '.join(held)})" if held else "")
                + f", {tally}")

    def decision(self) -> Decision:
        return all_of([_undecided_if_diverged(d) for d, _ in self.cells.values()], name="in every cell")

    def control(self) -> Decision:
        return any_of([_undecided_if_diverged(c) for _, c in self.cells.values()], name="in any cell")

    def to_json(self) -> dict:
        def axis(a: Axis) -> dict:
            return {"name": a.name, "values": list(a.values), "document": a.document}
        cells = [{"row": r, "column": c, "decision": _undecided_if_diverged(d).to_json(),
                  "control": {"kind": self.control_kind, **_undecided_if_diverged(k).to_json()}}
                 for (r, c), (d, k) in self.cells.items()]
        return {"rows": axis(self.rows), "columns": axis(self.columns), "summary": self.summary(), "cells": cells}
