"""Three-valued verdicts and the decision record a rule returns."""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass


class Verdict(str, enum.Enum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


# An expectation, not a verdict: the check's verdict is a fact about the machine it runs on (runs on two machines
# disagreed), so any verdict is accepted and recorded; its negative control is still held to its rejection.
MACHINE_DEPENDENT = "machine-dependent"
EXPECTATIONS = (*(v.value for v in Verdict), MACHINE_DEPENDENT)


def meets(verdict: str, expected: str) -> bool:
    """Whether a verdict is the one a check expects."""
    return expected in (verdict, MACHINE_DEPENDENT)


def control_supported(record: dict) -> bool:
    """Whether any negative control of a check's record came out supported: then the check decides nothing."""
    return any(control["verdict"] == Verdict.SUPPORTED.value for control in record.get("controls", []))


# The kinds of negative control, each the rule run where the claimed effect is truly absent, so that a rule
# broken into saying "supported" too easily would say it there too:
# - null: one configuration against itself (two seed groups, or a sign-flip permutation of paired differences);
# - shuffled: labels or targets permuted, so that whatever needs learning vanishes;
# - mechanism_removed: the cause the claim names taken out (no BatchNorm, a zero-centred input, a function for
#   which the identity fails).
# A mirror (the decision with the roles swapped) cannot come out supported beside a supported decision whatever
# the rule does, so it proves nothing about the rule's false supports: it may accompany a control, never replace it.
CONTROLS_THAT_CAN_FAIL = ("null", "shuffled", "mechanism_removed")
CONTROL_KINDS = (*CONTROLS_THAT_CAN_FAIL, "mirror")


@dataclass(frozen=True)
class Decision:
    """What a decision rule concluded, and the numbers it concluded it from.

    `effect` is the point estimate of the quantity the rule tests, `interval`
    its confidence interval (or the exact range, for deterministic checks), and
    `threshold` the value the interval is compared with. `nonfinite` counts the NaN or
    infinite values the rule was given (a diverged run, say): a rule decides nothing from
    those, so such a decision is inconclusive and its check fails.
    `minimum_detectable_effect` is how far from the threshold a true effect must lie for the
    rule to decide it with power about 0.8, at this n, alpha and observed spread (0 for an
    exact comparison; infinite for a t-rule given equal values; None where it is not defined).
    """

    verdict: Verdict
    rule: str
    effect_name: str
    effect: float
    interval: tuple[float, float]
    threshold: float
    n: int
    alpha: float | None = None
    p_value: float | None = None
    nonfinite: int = 0
    minimum_detectable_effect: float | None = None

    def to_json(self) -> dict:
        record = asdict(self)
        record["verdict"] = self.verdict.value
        record["interval"] = list(self.interval)
        return record

    def summary(self) -> str:
        lo, hi = self.interval
        return (f"{self.verdict}: {self.effect_name} = {self.effect:.4g} "
                f"[{lo:.4g}, {hi:.4g}] vs {self.threshold:.4g} ({self.rule}, n={self.n})")
