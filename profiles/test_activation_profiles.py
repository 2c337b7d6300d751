"""Report cards: a user's activation measured the same way as ReLU, tanh and sigmoid, side by side.

Runs only when the registry holds a user's activation (--activation NAME=MODULE:ATTR, or a package's entry point),
and then profiles each of them and the three COMPANIONS. Every number is a measurement with its interval over SEEDS
nets, not a verdict; where the registry states a fact the measurement bears on, the test holds the two together.

- At initialisation: a stack of DEPTH layers of WIDTH units with the entry's recommended init, on standard normal
  inputs: the share of exact zeros among hidden outputs, their mean, and per layer the variance of the
  pre-activations and the norm of the weight gradient of a random projection of the output (no BatchNorm).
- After a high learning rate: document 000's two-moons net trained by full-batch gradient descent at
  HIGH_LEARNING_RATE, where ReLU units die; the share of first-layer units that pass no gradient on any input.
- Two moons: the same net at the claims' learning rate, test accuracy.
- Depth: document 001's CNN at width 8 on the shifted-template images of the depth claims, at 1 and DEEP blocks.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.experiments.data import Dataset, moons_dataset, shifted_templates
from harness.experiments.seeding import derive_seeds, seeded_generator
from harness.experiments.sweep import DeviceData, Settings, sweep
from harness.experiments.train import TrainConfig, init_net, train
from models.activations import ACTIVATIONS

COMPANIONS = ("relu", "tanh", "sigmoid")
USERS = [name for name, act in ACTIVATIONS.items() if act.user_given]
PROFILED = [*USERS, *COMPANIONS] if USERS else []
SEEDS = 8                        # nets per activation and measurement, each from its own seed
DEPTH, WIDTH, EXAMPLES = 10, 64, 256
LARGE_SHARE, RARE_SHARE = 0.25, 0.01     # exact zeros: a hard zero silences about half; otherwise almost none
CENTRED = 0.05                   # a zero-centred entry's hidden outputs average within this of 0 at init
MOONS_WIDTHS = (2, 8, 8, 1)      # document 000's net
MOONS_POINTS, MOONS_NOISE = 256, 0.2
LEARNING_RATE, STEPS = 1.0, 1000          # full-batch gradient descent, as document 000's loop
HIGH_LEARNING_RATE, HIGH_STEPS = 2.0, 200  # the positive-bias claim's rate for killing ReLU units on two moons
SILENT = 1e-6                    # |f'| below this on every training input: the unit passes no gradient
DEEP = 4
IMAGES = 512
CNN = Settings(epochs=5, batch_size=32, lr=3e-3, width=8, eval_batch=IMAGES, channels_last=True)

pytestmark = pytest.mark.skipif(not USERS, reason="no user activation to profile: pass --activation "
                                                  "NAME=MODULE:ATTR and this module profiles it beside ReLU, tanh "
                                                  "and sigmoid")
each_profiled = pytest.mark.parametrize("act_name", PROFILED)


def seeds_for(base_seed: int, *purpose: str) -> list[int]:
    return derive_seeds(base_seed, SEEDS, "profile", *purpose)


def assert_finite(values: np.ndarray, act_name: str, what: str) -> None:
    assert np.isfinite(values).all(), f"{act_name}: {what} is not finite on some seed: {values.tolist()}"


@each_profiled
def test_at_initialisation(act_name, profile, device, base_seed):
    act = ACTIVATIONS[act_name]
    config = TrainConfig(widths=(WIDTH,) * (DEPTH + 1) + (1,), activation=act_name)
    net = init_net(config, seeds_for(base_seed, "init"), device)
    weights = [w.requires_grad_() for w, _ in net.params]
    generator = seeded_generator(device, base_seed, "profile", "inputs")
    x = torch.randn(SEEDS, EXAMPLES, WIDTH, generator=generator, device=device)
    output, hidden = net(x, keep=True)
    projection = torch.randn(output.shape, generator=generator, device=device)
    gradients = torch.autograd.grad((output * projection).sum(), weights)
    outputs = torch.stack([a for _, a in hidden], 1).detach()                      # [seeds, layers, examples, units]
    variance = torch.stack([p.detach().var(dim=(-2, -1)) for p, _ in hidden])    # [layers, seeds]
    gradient = torch.stack([g.norm(dim=(-2, -1)) for g in gradients])             # [layers + 1, seeds]
    zeros = (outputs == 0).double().mean((1, 2, 3)).numpy()
    mean = outputs.double().mean((1, 2, 3)).numpy()
    variance_factor = (variance[-1] / variance[0]).double().pow(1 / (DEPTH - 1)).numpy()
    gradient_factor = (gradient[0] / gradient[-1]).double().pow(1 / DEPTH).numpy()
    setting = f"{DEPTH} layers of {WIDTH} at initialisation with each entry's init, standard normal inputs, {SEEDS} nets"
    profile.measure(act_name, "exact zeros among hidden outputs", zeros, unit="share", setting=setting)
    profile.measure(act_name, "mean hidden output", mean, setting=setting)
    profile.measure(act_name, "pre-activation variance, factor per layer", variance_factor, setting=setting,
                    per_layer=variance.tolist())
    profile.measure(act_name, "weight gradient norm, first layer over last, factor per layer", gradient_factor,
                    setting=setting, per_layer=gradient.tolist())
    for values, what in ((variance_factor, "the variance factor"), (gradient_factor, "the gradient factor")):
        assert_finite(values, act_name, what)
    if act.hard_zero is not None:
        assert (zeros.mean() > LARGE_SHARE) == act.hard_zero and (zeros.mean() < RARE_SHARE) != act.hard_zero, (
            f"{act_name}: {zeros.mean():.3f} of hidden outputs are exactly 0, which its hard_zero={act.hard_zero} "
            "does not predict")
    if act.zero_centered:
        assert abs(mean.mean()) < CENTRED, f"{act_name} is zero-centred, but its hidden outputs average {mean.mean()}"


def moons(device: torch.device, base_seed: int) -> Dataset:
    generator = seeded_generator(device, base_seed, "profile", "moons")
    return moons_dataset(MOONS_POINTS, MOONS_POINTS, MOONS_NOISE, SEEDS, generator)


def moons_config(act_name: str, lr: float, steps: int) -> TrainConfig:
    return TrainConfig(widths=MOONS_WIDTHS, activation=act_name, loss="bce", optimizer="sgd", lr=lr, steps=steps)


@each_profiled
def test_after_a_high_learning_rate(act_name, profile, device, base_seed):
    data = moons(device, base_seed)
    history = train(moons_config(act_name, HIGH_LEARNING_RATE, HIGH_STEPS), data, seeds_for(base_seed, "high"))
    _, hidden = history.net(data.x_train, keep=True)
    slopes = ACTIVATIONS[act_name].derivative(hidden[0][0].detach()).abs()       # [seeds, examples, units]
    silent = (slopes < SILENT).all(1).double().mean(-1).numpy()
    profile.measure(act_name, "first-layer units passing no gradient after a high learning rate", silent,
                    unit="share", setting=f"two moons, {MOONS_WIDTHS}, gradient descent at {HIGH_LEARNING_RATE:g} "
                                          f"for {HIGH_STEPS} steps, {SEEDS} nets")
    if ACTIVATIONS[act_name].saturation == "none":
        assert silent.max() == 0, f"{act_name}'s derivative vanishes nowhere, yet some of its units pass no gradient"


@each_profiled
def test_two_moons(act_name, profile, device, base_seed):
    history = train(moons_config(act_name, LEARNING_RATE, STEPS), moons(device, base_seed), seeds_for(base_seed, "moons"))
    accuracy = 100 * history.test_accuracy.double().numpy()
    profile.measure(act_name, "two-moons test accuracy", accuracy, unit="%",
                    setting=f"two moons, {MOONS_WIDTHS}, gradient descent at {LEARNING_RATE:g} for {STEPS} steps, "
                            f"{SEEDS} nets")
    assert_finite(history.test_loss.double().numpy(), act_name, "the two-moons test loss")


@each_profiled
def test_depth(act_name, profile, device, base_seed):
    generator = seeded_generator(device, base_seed, "profile", "images")
    train_images, train_labels, templates = shifted_templates(IMAGES, 10, 8, generator)
    test_images, test_labels, _ = shifted_templates(IMAGES, 10, 8, generator, templates)
    images = DeviceData(train_images, train_labels, test_images, test_labels, f"profile-templates-{base_seed}")
    result = sweep(images, [(act_name, 1), (act_name, DEEP)], seeds_for(base_seed, "cnn"), CNN, device,
                   group_size=SEEDS)
    accuracy = {blocks: 100 * np.array(values) for blocks, values in
                result.table(act_name, lambda m: m.best_test_accuracy).items()}
    for blocks in (1, DEEP):
        profile.measure(act_name, f"CNN test accuracy, {blocks} block{'s' * (blocks > 1)}", accuracy[blocks],
                        unit="%", setting=f"document 001's CNN at width {CNN.width} on 8x8 shifted colour "
                                          f"templates, {CNN.epochs} epochs of Adam, {SEEDS} nets")
    assert all(math.isfinite(m.train_loss[-1]) for m in result.models), f"{act_name}'s CNN diverged"
