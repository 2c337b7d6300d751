"""Glorot & Bengio's "standard" uniform init, per-seed init gains, and the smooth random-teacher task."""
import math

import pytest
import torch

from harness.experiments.data import smooth_teacher_classes
from harness.experiments.train import TrainConfig, init_net
from models.mlp import init_mlp


def test_the_uniform_scheme_draws_from_plus_minus_one_over_root_fan_in():
    generators = [torch.Generator().manual_seed(s) for s in (1, 2)]
    (w, b), = init_mlp((400, 300), "uniform", generators, dtype=torch.float64)
    bound = 1 / math.sqrt(400)
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert abs(float(w.var()) * 3 * 400 - 1) < 0.02           # variance 1 / (3 fan_in), from 240,000 draws
    assert abs(float(w.mean())) < 0.01 * bound
    assert not torch.equal(w[0], w[1]), "each generator should draw its own weights"
    assert torch.equal(b, torch.zeros_like(b))


def test_init_gains_scale_each_seeds_weights_and_not_its_biases():
    config = TrainConfig(widths=(3, 4, 2), activation="tanh", init="uniform", bias_init=0.5, dtype=torch.float64)
    plain = init_net(config, [7, 7], torch.device("cpu"))
    scaled = init_net(TrainConfig(**{**config.__dict__, "init_gains": (0.5, 4.0)}), [7, 7], torch.device("cpu"))
    for (w, b), (ws, bs) in zip(plain.params, scaled.params):
        torch.testing.assert_close(ws, w * torch.tensor([0.5, 4.0], dtype=torch.float64).view(2, 1, 1))
        torch.testing.assert_close(bs, b)
    with pytest.raises(ValueError, match="one gain per seed"):
        init_net(TrainConfig(**{**config.__dict__, "init_gains": (1.0,)}), [7, 7], torch.device("cpu"))


def test_the_teacher_task_has_its_shapes_and_one_teacher_per_batch_entry():
    data = smooth_teacher_classes(300, 200, 5, 4, 2.0, torch.Generator().manual_seed(0), batch=(3,))
    assert data.x_train.shape == (3, 300, 5) and data.x_test.shape == (3, 200, 5)
    assert data.y_train.shape == (3, 300) and data.y_test.dtype == torch.int64
    assert set(data.y_train.unique().tolist()) == {0, 1, 2, 3}
    assert not torch.equal(data.x_train[0], data.x_train[1])
    shared = smooth_teacher_classes(300, 200, 5, 4, 2.0, torch.Generator().manual_seed(0))
    assert shared.x_train.shape == (300, 5) and shared.y_test.shape == (200,)


def test_the_teacher_labels_a_smooth_function_that_nearby_points_share():
    """Train and test come from one teacher: a test point's nearest training point usually has its label, far more
    often than chance, and more often the longer the teacher's length scale."""
    def nearest_neighbour_agreement(length_scale: float) -> float:
        data = smooth_teacher_classes(4000, 500, 3, 4, length_scale, torch.Generator().manual_seed(1))
        nearest = torch.cdist(data.x_test, data.x_train).argmin(-1)
        return float((data.y_train[nearest] == data.y_test).double().mean())
    rough, smooth = nearest_neighbour_agreement(0.5), nearest_neighbour_agreement(3.0)
    assert rough > 0.4 and smooth - rough > 0.05 and smooth > 0.85
