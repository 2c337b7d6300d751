"""How fast training gets somewhere: whitened against correlated, offset inputs; leaky ReLU against sigmoid and tanh.

Speed is counted in steps: full-batch gradient descent on two moons, the number of updates until the training
loss first falls to TARGET_LOSS. A seed that never reaches it within BUDGET steps counts as BUDGET, which
understates how much slower it is, so the comparisons err against the claims. Every configuration trains once
per module (per xdist worker); seed i of each configuration draws the same initial weights and the same data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from claims.shared_claims import DOCUMENT_LEAKY_SLOPE, LEAKY_SLOPES
from harness.claim import Claim
from harness.conditions import Axis, Cell, ConditionsMap
from harness.experiments.data import Dataset, affine, moons_dataset, whitened
from harness.experiments.seeding import derive_seeds, seeded_generator
from harness.experiments.train import History, TrainConfig, train
from harness.stats import ALPHA, REPRODUCIBLE_POWER, paired_test, seeds_for_power
from harness.verdicts import Decision

FASTER = 1.25                       # "fewer" and "clearly fewer": by more than a quarter, geometric mean over seeds

WHITENING = Claim(
    id="whitening-speeds-training",
    source="002_f53af5c4161cb5ad.txt",
    quote="training converges faster if its inputs are whitened",
    statement=f"The same model reaches a target loss in fewer steps (by more than a factor {FASTER:g}) on whitened "
              "inputs (zero mean, unit variance, decorrelated) than on correlated, offset inputs: the same examples, "
              "linearly transformed.",
)
LEAKY_FASTER = Claim(
    id="leaky-relu-converges-faster",
    source="003_18664cc3255f4d6e.txt",
    quote="Converge much faster than sigmoid/tanh",
    statement=f"Steps to a target training loss: leaky ReLU clearly fewer (by more than a factor {FASTER:g}) than "
              "sigmoid and than tanh, on the same net and data, each activation with its recommended init, at every "
              "learning rate of a grid around the one chosen and for both common leaky slopes.",
)

# Chosen here and kept fixed: the documents name no net, data, optimizer, target or budget.
# Seeds sized by power (stats.seeds_for_power) at REPRODUCIBLE_POWER for the weakest cell of either map. The pilot
# (32 seeds on each of base seeds 0..19, 640 nets per cell) found tanh at learning rate 0.1 the weakest: log steps
# 0.47 against log(FASTER) = 0.22, so 0.244 beyond it, at a per-seed spread of 0.489; every other cell lies at least
# 0.57 beyond (sigmoid 0.57 at lr 0.1, the rest 0.68 or more). At the 32 seeds before, that cell was missed (the
# check inconclusive) on 5 of base seeds 0..19; resampling the pilot's nets, it misses in 1 of 10^4 draws at 128.
PILOT_SD, PILOT_DISTANCE = 0.489, 0.244
SEEDS = seeds_for_power(PILOT_SD, PILOT_DISTANCE, power=REPRODUCIBLE_POWER)      # 121
TRAIN_POINTS, TEST_POINTS, NOISE = 128, 128, 0.2
WIDTHS = (2, 16, 16, 1)
LEARNING_RATE = 0.3                 # full-batch gradient descent, the same for every configuration
TARGET_LOSS = 0.25                  # binary cross-entropy; a linear classifier gets about 0.3 on these moons
BUDGET = 300                        # steps; a seed that never reaches the target counts as BUDGET
# The correlated, offset inputs: x -> x @ CORRELATING + OFFSET turns the moons (mean about (0.5, 0.25)) into
# inputs whose two coordinates correlate at about 0.95 and average about 2.5.
CORRELATING = ((1.0, 1.0), (0.0, 0.5))
OFFSET = (2.0, 2.0)
WHITENING_NET = "tanh"              # LeCun et al. 1998's setting, with its recommended (Xavier) init
ROTATION = 1.0                      # radians: the control's rotation of whitened inputs, which leaves them white
PAIRS = ("sigmoid", "tanh")         # what leaky ReLU is compared against
SAME_SIDE = "relu"                  # the control: leaky ReLU's own non-saturating family
# The conditions the document leaves open, mapped: the learning rate (a factor of about 3 either side of the one
# chosen), and the leaky slope (shared_claims.LEAKY_SLOPES).
LEARNING_RATES = (0.1, LEARNING_RATE, 1.0)


PROTOCOL = {"fast": {"task": f"two moons, noise {NOISE:g}, {TRAIN_POINTS} points per seed; for whitening, the same "
                             "points made correlated and offset, then whitened",
                     "model": f"MLP {WIDTHS}, each activation with its recommended init ({WHITENING_NET} for "
                              "whitening)", "optimizer": "full-batch gradient descent", "learning_rate": LEARNING_RATE,
                     "budget": f"{BUDGET} steps", "seeds": SEEDS,
                     "evaluation": f"steps until the training loss first reaches {TARGET_LOSS:g} (a seed that never "
                                   f"does counts as {BUDGET})"}}


@dataclass(frozen=True)
class Speeds:
    steps: dict[str, Tensor]        # per configuration, each seed's steps to the target [S]
    histories: dict[str, History]

    def reached(self, name: str) -> float:
        return float((self.steps[name] < BUDGET).double().mean())

    def geometric_mean(self, name: str) -> float:
        return float(self.steps[name].log().mean().exp())


def steps_to_target(history: History) -> Tensor:
    """Per seed, the first step whose training loss is at or below TARGET_LOSS; BUDGET if there is none."""
    reached = history.loss <= TARGET_LOSS                 # [steps, S]; a non-finite loss never reaches it
    first = reached.to(torch.int64).argmax(0)
    return torch.where(reached.any(0), first, BUDGET).double()


def rotation(angle: float) -> Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]])


def input_variants(data: Dataset) -> dict[str, Dataset]:
    """The same moons as drawn, as correlated offset inputs, whitened, and whitened then rotated."""
    device = data.x_train.device
    correlated = affine(data, torch.tensor(CORRELATING, device=device), torch.tensor(OFFSET, device=device))
    white = whitened(correlated)
    return {"moons": data, "correlated": correlated, "white": white,
            "rotated": affine(white, rotation(ROTATION).to(device), torch.zeros(2, device=device))}


def config(activation: str, lr: float = LEARNING_RATE) -> TrainConfig:
    return TrainConfig(widths=WIDTHS, activation=activation, loss="bce", optimizer="sgd", lr=lr, steps=BUDGET)


def run_name(act: str, lr: float) -> str:
    return act if lr == LEARNING_RATE else f"{act} at lr {lr:g}"


@pytest.fixture(scope="module")
def speeds(device: torch.device, base_seed: int) -> Speeds:
    generator = seeded_generator(device, base_seed, WHITENING.id, "data")
    data = moons_dataset(TRAIN_POINTS, TEST_POINTS, NOISE, SEEDS, generator)
    inputs = input_variants(data)
    seeds = derive_seeds(base_seed, SEEDS, WHITENING.id, "nets")
    runs = {inputs_name: config(WHITENING_NET) for inputs_name in ("correlated", "white", "rotated")}
    histories = {name: train(c, inputs[name], seeds) for name, c in runs.items()}
    histories |= {run_name(act, lr): train(config(act, lr), inputs["moons"], seeds)
                  for act in (*LEAKY_SLOPES.values(), *PAIRS, SAME_SIDE) for lr in LEARNING_RATES}
    return Speeds({name: steps_to_target(h) for name, h in histories.items()}, histories)


def fewer_steps(speeds: Speeds, fast: str, slow: str, alpha: float = ALPHA) -> Decision:
    """Paired over seeds: log(steps of `slow` / steps of `fast`) above log(FASTER)."""
    return paired_test(speeds.steps[slow].log(), speeds.steps[fast].log(), math.log(FASTER), alpha=alpha,
                       name=f"log(steps {slow} / steps {fast})")


def measure_speeds(evidence, speeds: Speeds, *names: str) -> None:
    evidence.measure(**{f"steps_{name}": speeds.geometric_mean(name) for name in names},
                     **{f"reached_{name}": speeds.reached(name) for name in names},
                     **{f"diverged_{name}": int(speeds.histories[name].diverged.sum()) for name in names},
                     target_loss=TARGET_LOSS, budget=BUDGET, learning_rate=LEARNING_RATE)


@WHITENING.check(expected="supported")
def test_whitened_inputs_reach_the_target_loss_in_fewer_steps(scale, evidence, speeds):
    decision = fewer_steps(speeds, "white", "correlated")
    control = fewer_steps(speeds, "white", "rotated")   # rotated white inputs are still white: nothing to gain
    measure_speeds(evidence, speeds, "correlated", "white", "rotated")
    evidence.measure(speedup=math.exp(decision.effect), speedup_interval=[math.exp(v) for v in decision.interval])
    evidence.conclude(decision, mechanism_removed=control)


def leaky_against(speeds: Speeds, other: str, lr: float, slope: float, control_alpha: float) -> Cell:
    leaky = run_name(LEAKY_SLOPES[slope], lr)
    # the control: ReLU does not saturate either, so leaky ReLU has no clear gap to close on it
    return (fewer_steps(speeds, leaky, run_name(other, lr)),
            fewer_steps(speeds, leaky, run_name(SAME_SIDE, lr), control_alpha))


def check_leaky_against(evidence, speeds: Speeds, other: str) -> None:
    conditions = ConditionsMap.over(Axis("learning rate", LEARNING_RATES),
                                    Axis("leaky slope", tuple(LEAKY_SLOPES), document=DOCUMENT_LEAKY_SLOPE),
                                    lambda lr, slope, alpha: leaky_against(speeds, other, lr, slope, alpha),
                                    control_kind="mechanism_removed")
    measure_speeds(evidence, speeds, "leaky_relu", other, SAME_SIDE)
    keys = {**{f"leaky_slope_{slope:g}": act for slope, act in LEAKY_SLOPES.items()}, other: other,
            SAME_SIDE: SAME_SIDE}
    evidence.measure(**{f"steps_by_learning_rate_{key}": [speeds.geometric_mean(run_name(act, lr))
                                                          for lr in LEARNING_RATES] for key, act in keys.items()},
                     learning_rates=list(LEARNING_RATES))
    evidence.describe(learning_rate=list(LEARNING_RATES))
    evidence.conclude_map(conditions)


@LEAKY_FASTER.check(expected="supported")
def test_leaky_relu_reaches_the_target_loss_in_clearly_fewer_steps_than_sigmoid(scale, evidence, speeds):
    check_leaky_against(evidence, speeds, "sigmoid")


@LEAKY_FASTER.check(expected="supported")
def test_leaky_relu_reaches_the_target_loss_in_clearly_fewer_steps_than_tanh(scale, evidence, speeds):
    check_leaky_against(evidence, speeds, "tanh")
