"""What one check measured and concluded, as a JSON-ready record."""
from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy
import torch

from harness.claim import Claim
from harness.conditions import ConditionsMap
from harness.verdicts import CONTROLS_THAT_CAN_FAIL, Decision, Verdict, meets


class ClaimCheckFailed(AssertionError):
    """The verdict differs from the expected one, or a negative control was not rejected."""


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__}


def json_ready(value: Any) -> Any:
    """Numbers and nested lists only, so the record survives JSON; non-finite floats become strings."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return json_ready(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    return value


@dataclass
class Evidence:
    """Handed to a check by the `evidence` fixture: record numbers with `measure`, finish with `conclude`."""

    claim: Claim
    check: str
    scale: str
    expected: str
    reason: str
    device: str
    seeds: list[int]
    measured: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None
    controls: dict[str, Decision] = field(default_factory=dict)     # kind -> the control's decision
    timed: bool = False
    protocol: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] | None = None

    @property
    def document(self) -> dict:
        return dict(self.claim.document)

    def measure(self, **values: Any) -> None:
        self.measured.update({name: json_ready(v) for name, v in values.items()})

    def describe(self, **protocol: Any) -> None:
        """Record what was run, as data (task, model, optimizer, learning_rate, budget, seeds, evaluation), so a
        reader never takes a stand-in for the document's setting."""
        self.protocol.update({name: json_ready(v) for name, v in protocol.items()})

    def measure_timings(self, **values: Any) -> None:
        """Record wall-clock times (and numbers made from them), which change from run to run on one machine;
        a baseline then compares this check by its verdict alone."""
        self.timed = True
        self.measure(**values)

    def conclude(self, decision: Decision, *, null: Decision | None = None, shuffled: Decision | None = None,
                 mechanism_removed: Decision | None = None, mirror: Decision | None = None) -> None:
        """Record the verdict and its negative controls (see verdicts.CONTROL_KINDS), then hold the check to them:
        the verdict must be the expected one, and no control may come out supported. At least one control must be
        of a kind that can fail (null, shuffled, mechanism_removed); a mirror may only come beside one."""
        given = {"null": null, "shuffled": shuffled, "mechanism_removed": mechanism_removed, "mirror": mirror}
        controls = {kind: d for kind, d in given.items() if d is not None}
        if not set(controls) & set(CONTROLS_THAT_CAN_FAIL):   # before recording: such a check decided nothing
            raise ClaimCheckFailed(f"{self.claim.id}: the check gives no negative control that can fail; pass one as "
                                   f"null=, shuffled= or mechanism_removed= (a mirror= alone proves nothing).")
        self.decision, self.controls = decision, controls
        parts = [("rule", decision), *((f"{kind} control", d) for kind, d in self.controls.items())]
        for label, part in parts:
            if part.nonfinite:
                raise ClaimCheckFailed(f"{self.claim.id}: the {label} was given {part.nonfinite} NaN or infinite "
                                       f"values (did a training run diverge?), so it decided nothing. {part.summary()}")
        if not meets(decision.verdict.value, self.expected):
            raise ClaimCheckFailed(f"{self.claim.id}: verdict {decision.verdict}, expected {self.expected}. "
                                   f"{decision.summary()}")
        for kind, control in self.controls.items():
            if control.verdict == Verdict.SUPPORTED:
                raise ClaimCheckFailed(f"{self.claim.id}: the {kind} negative control came out supported, so this "
                                       f"rule cannot tell the effect from its absence. {control.summary()}")

    def conclude_map(self, conditions: ConditionsMap) -> None:
        """Conclude from every cell of a conditions map: supported only if the rule holds in all of them, and the
        control fails if any cell's control is supported. The record keeps each cell for the report's map."""
        self.conditions = json_ready(conditions.to_json())
        self.conclude(conditions.decision(), **{conditions.control_kind: conditions.control()})

    def record(self, passed: bool, duration_s: float) -> dict[str, Any]:
        return {
            "claim": self.claim.id,
            "check": self.check,
            "scale": self.scale,
            "verdict": self.decision.verdict.value if self.decision else "error",
            "expected": self.expected,
            "passed": passed,
            "measured": self.measured,
            "timed": self.timed,
            "document": json_ready(self.document),
            "seeds": self.seeds,
            "device": self.device,
            "duration_s": round(duration_s, 3),
            "versions": versions(),
            "protocol": self.protocol,
            "conditions": self.conditions,
            "decision": json_ready(self.decision.to_json()) if self.decision else None,
            "controls": [{"kind": kind, **json_ready(d.to_json())} for kind, d in self.controls.items()],
            "expected_reason": self.reason,
            "source": self.claim.source,
            "quote": self.claim.quote,
            "statement": self.claim.statement,
        }


def junit_properties(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The record's headline as flat name/value pairs, for --junitxml: identity, verdict, scalar measurements."""
    head = [(key, str(record[key])) for key in ("claim", "scale", "verdict", "expected")]
    numbers = [(f"measured.{name}", str(value)) for name, value in record["measured"].items()
               if isinstance(value, (int, float))]
    return head + numbers
