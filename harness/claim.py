"""A claim's declaration, and the decorator that turns a test function into one of its checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import pytest

from harness.outputs.plots import PlotKind
from harness.verdicts import EXPECTATIONS, Verdict

SCALES = ("fast", "full")
SCALE_MARKS = {
    "fast": [pytest.mark.fast],
    "full": [pytest.mark.slow, pytest.mark.gpu],
}


@dataclass(frozen=True)
class Claim:
    """One row of CLAIMS.md: what a document says, the statement the checks test, and the plots of their records."""

    id: str
    source: str
    quote: str
    statement: str
    document: Mapping[str, float | list[float]] = field(default_factory=dict)
    plots: tuple[PlotKind, ...] = ()

    def check(self, expected: str | Mapping[str, str], scales: tuple[str, ...] = ("fast",),
              reason: str | Mapping[str, str] = "") -> Callable:
        """Mark a test function as a check of this claim, parametrized over `scales`.

        `expected` is the verdict the harness commits to, one for all scales or one
        per scale, or "machine-dependent" where runs on two machines disagreed; `reason`
        (likewise) says why, and is required whenever anything but supported is expected,
        and at full scale always: there it is the basis of a prediction until a run measures it.
        """
        per_scale = {s: expected for s in scales} if isinstance(expected, str) else dict(expected)
        reasons = {s: reason for s in scales} if isinstance(reason, str) else dict(reason)
        for scale, verdict in per_scale.items():
            if verdict not in EXPECTATIONS:
                raise ValueError(f"{self.id}: expected={verdict!r}; give one of {', '.join(EXPECTATIONS)}")
            if scale not in scales:
                raise ValueError(f"{self.id}: expected verdict given for scale {scale!r}, which the check does not run")
            if verdict != Verdict.SUPPORTED and not reasons.get(scale):
                raise ValueError(f"{self.id}: expecting {verdict!r} needs a reason= saying why")
            if scale == "full" and not reasons.get(scale):
                raise ValueError(f"{self.id}: a full-scale expectation is a prediction until a run measures it; "
                                 "give reason={'full': ...} with its basis (the document's numbers, the literature, "
                                 "the fast-scale result, what the seeds can decide)")
        params = [pytest.param(s, marks=SCALE_MARKS[s], id=s) for s in scales]

        def decorate(fn: Callable) -> Callable:
            fn = pytest.mark.parametrize("scale", params, scope="module")(fn)
            return pytest.mark.claim(claim=self, expected=per_scale, reason=reasons)(fn)

        return decorate
