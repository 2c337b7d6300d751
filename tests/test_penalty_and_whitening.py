"""The engine's L1 penalty on activations, and the affine and whitening transforms of a dataset."""
from dataclasses import replace

import torch
import torch.nn.functional as F

from harness.experiments.data import Dataset, affine, two_moons, whitened
from harness.experiments.train import TrainConfig, train
from models.activations import ACTIVATIONS
from models.mlp import mlp_forward

SEEDS = [5, 6]
CONFIG = TrainConfig(widths=(2, 6, 5, 2), activation="relu", loss="ce", lr=0.5, steps=1, activation_l1=0.3,
                     snapshot_at=(0,), dtype=torch.float64)


def moons(n: int = 40) -> Dataset:
    generator = torch.Generator().manual_seed(3)
    x_train, y_train = two_moons(n, 0.1, generator, (len(SEEDS),), dtype=torch.float64)
    x_test, y_test = two_moons(n, 0.1, generator, (len(SEEDS),), dtype=torch.float64)
    return Dataset(x_train, y_train, x_test, y_test)


def test_the_activation_penalty_adds_its_gradient_and_stays_out_of_the_recorded_loss():
    data = moons()
    history = train(CONFIG, data, SEEDS)
    for i in range(len(SEEDS)):
        params = [(w[i:i + 1].clone().requires_grad_(), b[i:i + 1].clone().requires_grad_())
                  for w, b in history.snapshots[0].params]
        logits, hidden = mlp_forward(params, data.x_train[i:i + 1], ACTIVATIONS["relu"], keep=True)
        loss = F.cross_entropy(logits[0], data.y_train[i])
        penalty = sum(out.abs().sum(-1).mean() for _, out in hidden)
        flat = [t for pair in params for t in pair]
        grads = torch.autograd.grad(loss + CONFIG.activation_l1 * penalty, flat)
        for trained, start, grad in zip(history.net.tensors(), flat, grads):
            torch.testing.assert_close(trained[i:i + 1], start.detach() - CONFIG.lr * grad, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(history.loss[0, i], loss.detach(), rtol=1e-12, atol=1e-12)
    unpenalised = train(replace(CONFIG, activation_l1=0.0), data, SEEDS)
    assert not torch.equal(unpenalised.net.params[0][0], history.net.params[0][0])


def test_affine_maps_both_splits_and_keeps_the_labels():
    data = moons()
    matrix = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float64)
    offset = torch.tensor([3.0, -4.0], dtype=torch.float64)
    mapped = affine(data, matrix, offset)
    torch.testing.assert_close(mapped.x_train[1, 7], data.x_train[1, 7] @ matrix + offset)
    torch.testing.assert_close(mapped.x_test[0, 3], data.x_test[0, 3] @ matrix + offset)
    assert mapped.y_train is data.y_train and mapped.y_test is data.y_test


def test_whitening_gives_each_draw_zero_mean_and_identity_covariance_and_maps_test_inputs_alike():
    data = moons(200)
    correlated = affine(data, torch.tensor([[1.0, 1.0], [0.0, 0.5]], dtype=torch.float64),
                        torch.tensor([2.0, 2.0], dtype=torch.float64))
    white = whitened(Dataset(correlated.x_train, data.y_train, correlated.x_train, data.y_train))
    centered = white.x_train - white.x_train.mean(-2, keepdim=True)
    torch.testing.assert_close(white.x_train.mean(-2), torch.zeros(2, 2, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(centered.mT @ centered / 200, torch.eye(2, dtype=torch.float64).expand(2, 2, 2))
    torch.testing.assert_close(white.x_test, white.x_train)
    shared = whitened(Dataset(correlated.x_train[0], data.y_train[0], correlated.x_test[0], data.y_test[0]))
    torch.testing.assert_close(shared.x_train, white.x_train[0])
