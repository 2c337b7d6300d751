"""Document 003 on the ReLU family: ReLU, leaky ReLU, ELU, SELU, GELU and SiLU land close together, far above
sigmoid, in document 001's CNN at FAMILY_DEPTH blocks.

Full scale reads the CIFAR-10 sweep of claims.test_depth, which trains the family beside its depth grid (cached,
so whichever module runs second reads it back). Fast scale trains its own nets on the depth stand-in's task
(shifted colour templates, each seed on its own draw), more of them than the depth sweep, at two blocks only.

The statement is about the activations, so the rule compares their mean accuracies, not each seed's extremes:
a seed's best-minus-worst over six nets is about 2.5 of their per-net spreads wide even for six identical
activations, so a per-seed range measures initialisation noise (and was biased against the claim by it).
"The worst mean minus sigmoid's exceeds the best mean minus the worst" holds exactly when, for every pair of
members a and b, 2 mean(a) - mean(b) - mean(sigmoid) > 0; each pair is a paired t-rule over seeds, and all of
them must hold (an intersection-union test, which errs at most alpha without adjustment).
"""
from __future__ import annotations

import pytest
import torch

from claims import test_depth as depth
from claims.test_depth import FAMILY_DEPTH, RELU_FAMILY, Sweep
from harness.claim import Claim
from harness.experiments.seeding import derive_seeds
from harness.experiments.sweep import grid
from harness.stats import REPRODUCIBLE_POWER, all_of, paired_test, seeds_for_power
from harness.verdicts import Decision

FAMILY = Claim(
    id="relu-family-close", source="003_18664cc3255f4d6e.txt",
    quote="Try Leaky ReLU / ELU / SELU / GELU if we need squeeze last 0.1%",
    statement=f"In document 001's CNN at {FAMILY_DEPTH} blocks, the ReLU family (ReLU, leaky ReLU, ELU, SELU, GELU, "
              "SiLU) land close to each other, far above sigmoid: the family's worst mean accuracy minus sigmoid's "
              "exceeds the spread of the family's mean accuracies (its best minus its worst).",
)

# Seeds sized by power (stats.seeds_for_power) at REPRODUCIBLE_POWER for the pair nearest its threshold. The pilot
# (the depth sweep's 39 nets on each of base seeds 0..5, 234 nets, each on its own task draw) measured means of
# 41.2% (SELU, the worst), 52.9% (SiLU, the best) and 25.8% (sigmoid): 2 x 41.2 - 52.9 - 25.8 = 3.7 points, at a
# per-seed spread of 10.0; the next pair (SELU, GELU) 4.3 at 10.2, every other 7.8 or more.
PILOT_DISTANCE, PILOT_SD = 3.7, 10.0
SEEDS = seeds_for_power(PILOT_SD, PILOT_DISTANCE, power=REPRODUCIBLE_POWER)     # 218
OUTSIDER = "sigmoid"

PROTOCOL = {"fast": {**depth.PROTOCOL["fast"], "seeds": SEEDS,
                     "model": f"document 001's CNN at width {depth.FAST.width}, {FAMILY_DEPTH} blocks"},
            "full": depth.PROTOCOL["full"]}


@pytest.fixture(scope="module")
def family(scale: str, request: pytest.FixtureRequest, device: torch.device, base_seed: int) -> Sweep:
    if scale == "fast":
        runs = grid((*RELU_FAMILY, OUTSIDER), [FAMILY_DEPTH])
        return depth.fast_sweep(runs, derive_seeds(base_seed, SEEDS, FAMILY.id, "nets"), device, base_seed)
    return depth.full_sweep(request, device, base_seed)


def apart_from(sweep: Sweep, members: tuple[str, ...], outsider: str) -> Decision:
    """Every pair (a, b) of members: 2 mean(a) - mean(b) above mean(outsider), paired over seeds."""
    accuracy = {act: sweep.accuracy(act, FAMILY_DEPTH) for act in (*members, outsider)}
    return all_of([paired_test(2 * accuracy[a] - accuracy[b], accuracy[outsider], 0.0,
                               name=f"2 x {a} - {b} - {outsider} (accuracy points)")
                   for a in members for b in members],
                  name=f"the {len(members)} land closer to each other than their worst to {outsider}")


@FAMILY.check(expected={"fast": "supported", "full": "inconclusive"}, scales=("fast", "full"),
              reason={"fast": "the pilot's worst member (SELU, 41%) sits above sigmoid (26%) by 3.7 points more than "
                              "the family's means span (41% to 53%); at the seeds sized for it a miss is predicted "
                              "in 1 run of 1000",
                      "full": f"no document measures the family; the fast margin, 3.7 points at a per-seed spread "
                              f"of 10, would take {seeds_for_power(PILOT_SD, PILOT_DISTANCE)} seeds to decide with "
                              f"power 0.8, so at {depth.FULL_SEEDS} it stays open"})
def test_relu_family_lands_close_together_far_above_sigmoid(scale, evidence, family):
    decision = apart_from(family, RELU_FAMILY, OUTSIDER)
    # the control: a member as the outsider, which the others do not sit far above
    control = apart_from(family, tuple(a for a in RELU_FAMILY if a != "gelu"), "gelu")
    accuracy = {act: family.accuracy(act, FAMILY_DEPTH) for act in (*RELU_FAMILY, OUTSIDER)}
    evidence.measure(**{f"test_accuracy_{act}": values.mean() for act, values in accuracy.items()},
                     blocks=FAMILY_DEPTH, seeds=len(accuracy[OUTSIDER]), setting=family.setting)
    evidence.conclude(decision, null=control)
