"""The batched engine against textbook PyTorch: one seed trained by harness.experiments.train and the same net as a plain
nn.Sequential with its own torch.optim optimizer, on the same data in the same order, end with the same
parameters. The batched-against-alone tests compare the engine with itself; these compare it with code it does not
share (nn.Linear, nn.BatchNorm1d, torch.optim built with its own arguments, F.cross_entropy on plain tensors), so a
wrong learning rate, a dropped momentum or weight decay, or a loss summed where it should be averaged shows here."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.experiments.data import Dataset, two_moons
from harness.experiments.train import TrainConfig, batch_orders, seed_generators, train
from models.activations import ACTIVATIONS

SEED = 7
STEPS = 12
BASE = TrainConfig(widths=(2, 6, 5, 3), activation="tanh", loss="ce", steps=STEPS, batch_size=8,
                   dtype=torch.float64)
REFERENCES = {
    "sgd, momentum and weight decay": (dict(optimizer="sgd", lr=0.3, momentum=0.9, weight_decay=1e-2),
                                       lambda params: torch.optim.SGD(params, lr=0.3, momentum=0.9, weight_decay=1e-2)),
    "adam with weight decay": (dict(optimizer="adam", lr=0.05, weight_decay=1e-2),
                               lambda params: torch.optim.Adam(params, lr=0.05, weight_decay=1e-2, foreach=False)),
    "sgd through batchnorm": (dict(optimizer="sgd", lr=0.3, batchnorm=True, activation="relu"),
                              lambda params: torch.optim.SGD(params, lr=0.3)),
}


def three_class_moons(n: int = 48) -> Dataset:
    """Two moons with a third class (points far from the origin), so the cross-entropy has three logits;
    training and test sets drawn apart."""
    generator = torch.Generator().manual_seed(0)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        x, y = two_moons(n, 0.2, generator, dtype=torch.float64)
        return x, torch.where(x.norm(dim=-1) > 1.3, 2, y)
    return Dataset(*draw(), *draw())


class Elementwise(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.fn = ACTIVATIONS[name].fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def sequential_copy(config: TrainConfig, initial) -> nn.Sequential:
    """nn.Sequential with the engine's initial parameters: Linear (-> BatchNorm1d) -> activation per hidden layer."""
    modules: list[nn.Module] = []
    for i, (w, b) in enumerate(initial.params):
        linear = nn.Linear(w.shape[-1], w.shape[-2], dtype=config.dtype)
        with torch.no_grad():
            linear.weight.copy_(w[0])
            linear.bias.copy_(b[0])
        modules.append(linear)
        if i < len(initial.params) - 1:
            if config.batchnorm:
                modules.append(nn.BatchNorm1d(w.shape[-2], dtype=config.dtype))
            modules.append(Elementwise(config.activation))
    return nn.Sequential(*modules)


def trained_by_hand(config: TrainConfig, net: nn.Sequential, optimizer: torch.optim.Optimizer, data: Dataset) -> None:
    order = batch_orders(len(data.y_train), config.batch_size, config.steps,
                         seed_generators([SEED], "order", torch.device("cpu")))[0]
    net.train()
    for index in order:
        optimizer.zero_grad()
        F.cross_entropy(net(data.x_train[index]), data.y_train[index]).backward()
        optimizer.step()


@pytest.mark.parametrize("settings, make_optimizer", REFERENCES.values(), ids=REFERENCES.keys())
def test_one_seed_trains_exactly_as_a_plain_sequential_with_torch_optim(settings, make_optimizer):
    config = replace(BASE, **settings)
    data = three_class_moons()
    initial = train(replace(config, steps=0), data, [SEED]).net
    engine = train(config, data, [SEED]).net
    reference = sequential_copy(config, initial)
    trained_by_hand(config, reference, make_optimizer(list(reference.parameters())), data)
    linears = [m for m in reference if isinstance(m, nn.Linear)]
    for (w, b), linear in zip(engine.params, linears):
        torch.testing.assert_close(w[0], linear.weight.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(b[0], linear.bias.detach(), rtol=0, atol=1e-12)
    norms = [m for m in reference if isinstance(m, nn.BatchNorm1d)]
    for (gain, shift), norm in zip(engine.norms or [], norms):
        torch.testing.assert_close(gain[0], norm.weight.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(shift[0], norm.bias.detach(), rtol=0, atol=1e-12)
    moved = (engine.params[0][0] - initial.params[0][0]).abs().max()
    assert moved > 1e-3, "training did not move the weights, so the comparison shows nothing"


def test_test_metrics_are_computed_on_the_test_split():
    data = three_class_moons()
    history = train(BASE, data, [SEED])
    for split, (x, y) in {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}.items():
        logits = history.net(x.unsqueeze(0))[0]
        accuracy = getattr(history, f"{split}_accuracy")[0]
        torch.testing.assert_close(accuracy, (logits.argmax(-1) == y).double().mean(), rtol=0, atol=0)
        torch.testing.assert_close(getattr(history, f"{split}_loss")[0], F.cross_entropy(logits, y))
    mixed = history.net(data.x_train.unsqueeze(0))[0].argmax(-1) == data.y_test
    assert mixed.double().mean() != history.test_accuracy[0], "the splits are too alike to tell them apart"
