"""The batched training engine: S seeds trained as one model are S independent runs, and the probes say true."""
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from harness.experiments.data import Dataset, two_moons
from harness.experiments.train import TrainConfig, batch_orders, evaluate, seed_generators, train
from models.activations import ACTIVATIONS
from models.mlp import batch_norm, init_mlp, layer, mlp_forward

SEEDS = [11, 22, 33]
BASE = TrainConfig(widths=(2, 6, 5, 2), activation="tanh", loss="ce", steps=25, batch_size=16,
                   dtype=torch.float64)
OPTIMIZERS = {
    "sgd-momentum-decay": dict(optimizer="sgd", lr=0.2, momentum=0.9, weight_decay=1e-3),
    "adam": dict(optimizer="adam", lr=0.02, weight_decay=1e-3),
    "full-batch-batchnorm": dict(optimizer="sgd", lr=0.5, batch_size=None, batchnorm=True, activation="relu"),
}


def moons(seeds: int | None = len(SEEDS), n: int = 40, seed: int = 0) -> Dataset:
    """Tiny two-moons sets in float64: one draw per seed, or one shared draw when seeds is None."""
    generator = torch.Generator().manual_seed(seed)
    batch = () if seeds is None else (seeds,)
    x_train, y_train = two_moons(n, 0.1, generator, batch, dtype=torch.float64)
    x_test, y_test = two_moons(n, 0.1, generator, batch, dtype=torch.float64)
    return Dataset(x_train, y_train, x_test, y_test)


def final_tensors(history) -> list[torch.Tensor]:
    return history.net.tensors()


@pytest.mark.parametrize("shared_data", [False, True], ids=["per-seed-data", "shared-data"])
@pytest.mark.parametrize("settings", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_batched_seeds_train_exactly_as_separate_single_seed_runs(settings, shared_data):
    config = replace(BASE, **settings)
    data = moons(None if shared_data else len(SEEDS))
    batched = train(config, data, SEEDS)
    for i, seed in enumerate(SEEDS):
        alone = train(config, data if shared_data else data.seed(i), [seed])
        for stacked, single in zip(final_tensors(batched), final_tensors(alone)):
            torch.testing.assert_close(stacked[i:i + 1], single, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(batched.loss[:, i:i + 1], alone.loss, rtol=1e-12, atol=1e-12)
    first_layer = batched.net.params[0][0]
    assert not torch.allclose(first_layer[0], first_layer[1]), "the seeds trained to the same weights"


def test_each_seed_draws_its_own_data_order_and_repeats_it():
    generators = seed_generators([1, 2], "order", torch.device("cpu"))
    orders = batch_orders(10, 5, 6, generators)
    again = batch_orders(10, 5, 6, seed_generators([1, 2], "order", torch.device("cpu")))
    assert orders.shape == (2, 6, 5) and torch.equal(orders, again)
    epochs = orders.reshape(2, 3, 10)
    assert torch.equal(epochs.sort(-1).values, torch.arange(10).expand(2, 3, 10))
    assert not torch.equal(orders[0], orders[1])
    assert not torch.equal(epochs[0, 0], epochs[0, 1]), "each epoch should reshuffle"


def test_a_batch_larger_than_the_training_set_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        batch_orders(10, 11, 3, seed_generators([1], "order", torch.device("cpu")))


def test_divergence_is_recorded_per_seed_and_the_other_seeds_train_on():
    data = moons()
    exploding = Dataset(data.x_train * torch.tensor([1.0, 1e200, 1.0], dtype=torch.float64).view(3, 1, 1),
                        data.y_train, data.x_test, data.y_test)
    config = replace(BASE, activation="relu", lr=0.5)   # tanh would saturate, and stop the gradient instead
    history = train(config, exploding, SEEDS)
    assert history.diverged.tolist() == [False, True, False]
    assert not torch.isfinite(history.loss[:, 1]).all()
    alone = train(config, data.seed(2), [SEEDS[2]])
    torch.testing.assert_close(history.net.params[0][0][2:], alone.net.params[0][0], rtol=1e-12, atol=1e-12)


def test_no_host_sync_runs_inside_the_training_loop(monkeypatch):
    def sync(*args, **kwargs):
        raise AssertionError("a host sync (.item() or bool(tensor)) ran inside training")
    data = moons()
    config = replace(BASE, probe_every=5, dead_at=(0, 10), snapshot_at=(10,))
    monkeypatch.setattr(torch.Tensor, "item", sync)
    monkeypatch.setattr(torch.Tensor, "__bool__", sync)
    train(config, data, SEEDS)


def test_probes_match_the_quantities_recomputed_from_snapshots():
    data = moons()
    config = replace(BASE, batch_size=None, probe_every=4, snapshot_at=(0, 8), steps=12)
    history = train(config, data, SEEDS)
    assert history.probe_steps.tolist() == [0, 4, 8]
    for step, probe in ((0, 0), (8, 2)):
        net = history.snapshots[step]
        loss, accuracy = evaluate(config, net, data.x_train, data.y_train)
        torch.testing.assert_close(history.loss[step], loss)
        torch.testing.assert_close(history.accuracy[probe], accuracy)
        _, hidden = net(data.x_train, keep=True)
        for h, (pre, act) in enumerate(hidden):
            torch.testing.assert_close(history.act_mean[probe, h], act.mean((-1, -2)))
            torch.testing.assert_close(history.act_std[probe, h], act.std((-1, -2), correction=0))
            torch.testing.assert_close(history.pre_min[probe, h], pre.amin((-1, -2)))
            torch.testing.assert_close(history.pre_max[probe, h], pre.amax((-1, -2)))
        torch.testing.assert_close(history.grad_norm[probe], gradient_norms(config, net, data))


def gradient_norms(config, net, data) -> torch.Tensor:
    """Per layer and seed, the norm of d(seed's mean loss)/d(layer's weight and bias), one seed at a time."""
    norms = torch.empty(len(net.params), len(SEEDS), dtype=torch.float64)
    for i in range(len(SEEDS)):
        params = [(w[i:i + 1].clone().requires_grad_(), b[i:i + 1].clone().requires_grad_()) for w, b in net.params]
        logits = mlp_forward(params, data.x_train[i:i + 1], ACTIVATIONS[config.activation])
        loss = F.cross_entropy(logits[0], data.y_train[i])
        grads = torch.autograd.grad(loss, [t for pair in params for t in pair])
        for j in range(len(params)):
            norms[j, i] = math.hypot(grads[2 * j].norm(), grads[2 * j + 1].norm())
    return norms


def test_dead_masks_flag_units_that_are_zero_on_every_training_input():
    data = moons()
    dead = train(replace(BASE, activation="relu", bias_init=-50.0, dead_at=(0, 5)), data, SEEDS).dead
    alive = train(replace(BASE, activation="relu", dead_at=(0,)), data, SEEDS).dead
    assert [d.shape for d in dead] == [(2, 3, 6), (2, 3, 5)]
    assert all(d.all() for d in dead)
    assert not alive[0].all()
    assert not train(replace(BASE, activation="sigmoid", dead_at=(0,)), data, SEEDS).dead[0].any()


def test_the_batched_layer_is_the_textbook_affine_map():
    generator = torch.Generator().manual_seed(0)
    (w, b), = init_mlp((4, 3), "he", [generator, generator], dtype=torch.float64, bias=0.5)
    x = torch.randn(2, 7, 4, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(layer((w, b), x), torch.einsum("soi,sni->sno", w, x) + b[:, None, :])


def test_batch_norm_normalises_each_seed_with_its_own_statistics():
    x = torch.randn(3, 50, 4, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.1], dtype=torch.float64).view(3, 1, 1)
    gain, shift = torch.rand(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    out = batch_norm(x, gain, shift)
    for i in range(3):
        expected = F.batch_norm(x[i], None, None, gain[i], shift[i], training=True, eps=1e-5)
        torch.testing.assert_close(out[i], expected)


def test_two_moons_draws_two_balanced_half_circles():
    x, y = two_moons(200, 0.0, torch.Generator().manual_seed(0), (2,), dtype=torch.float64)
    assert x.shape == (2, 200, 2) and y.shape == (2, 200) and y.dtype == torch.int64
    assert (y == 1).sum(-1).tolist() == [100, 100]
    upper, lower = x[y == 0], x[y == 1]
    torch.testing.assert_close(upper.norm(dim=-1), torch.ones(200, dtype=torch.float64))
    assert (upper[:, 1] >= 0).all()
    torch.testing.assert_close((lower - torch.tensor([1.0, 0.5], dtype=torch.float64)).norm(dim=-1),
                               torch.ones(200, dtype=torch.float64))
    assert (lower[:, 1] <= 0.5).all()
    assert not torch.equal(x[0], x[1]), "each batch entry should be its own draw"


def test_two_moons_noise_has_the_stated_standard_deviation():
    generator = torch.Generator().manual_seed(1)
    clean, _ = two_moons(20000, 0.0, torch.Generator().manual_seed(1))
    noisy, _ = two_moons(20000, 0.3, generator)
    assert abs(float((noisy - clean).std()) - 0.3) < 0.01


def test_per_seed_data_must_match_the_number_of_seeds():
    with pytest.raises(ValueError, match="3 per-seed draws for 2 seeds"):
        train(BASE, moons(), SEEDS[:2])
