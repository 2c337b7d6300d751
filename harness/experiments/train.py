"""Batched multi-seed training, with probes recorded on the device.

S seeds of one configuration train as one model: every parameter is stacked [S, ...], each seed has its
own initialisation and its own data order, and the loss is the sum over seeds of each seed's mean loss, so
each seed's gradient is exactly the gradient its own single-seed run would get. The optimizers used here
act elementwise, so one optimizer over the stacked parameters updates each seed as its own would.

Probes accumulate into tensors preallocated on the device and reach the host once, after the last step:
no .item() or other host sync runs inside the loop. "At step t" always means with the parameters after
t updates (t = 0 is the initialisation, t = steps the trained net).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.experiments.data import Dataset
from harness.experiments.seeding import derive_seed
from models.activations import ACTIVATIONS, ActivationInfo, Init
from models.mlp import Norms, Params, init_batchnorm, init_mlp, mlp_forward

Loss = Literal["bce", "ce"]


@dataclass(frozen=True)
class TrainConfig:
    widths: tuple[int, ...]
    activation: str
    init: Init | None = None           # None: the activation's recommended scheme
    bias_init: float = 0.0
    batchnorm: bool = False            # hidden blocks FC -> BatchNorm -> activation
    loss: Loss = "ce"                  # bce: one logit per example; ce: one logit per class
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.0              # sgd only
    weight_decay: float = 0.0          # coupled (L2 added to the gradient), on every parameter
    activation_l1: float = 0.0         # weight of an L1 penalty on the hidden activations (see activation_penalty)
    steps: int = 1000
    batch_size: int | None = None      # None: full batch, every step sees the whole training set
    probe_every: int = 0               # layer probes every k steps (0: none); the loss is recorded every step
    dead_at: tuple[int, ...] = ()      # steps at which to take the per-unit dead mask
    snapshot_at: tuple[int, ...] = ()  # steps at which to keep a copy of the parameters
    dtype: torch.dtype = torch.float32
    init_gains: tuple[float, ...] = ()  # per seed, a multiplier of its initial weights (empty: 1 for every seed)


@dataclass
class Net:
    """A stack of S nets: weights [S, out, in], and BatchNorm gains and shifts [S, features] if any."""

    params: Params
    norms: Norms | None
    act: ActivationInfo

    def __call__(self, x: Tensor, keep: bool = False):
        return mlp_forward(self.params, x, self.act, keep, self.norms)

    def tensors(self) -> list[Tensor]:
        pairs = self.params + (self.norms or [])
        return [t for pair in pairs for t in pair]

    def detached(self) -> Net:
        def copy(pairs):
            return [(a.detach().clone(), b.detach().clone()) for a, b in pairs]
        return Net(copy(self.params), copy(self.norms) if self.norms is not None else None, self.act)


@dataclass
class History:
    """What one batched run recorded, on the host; the trained net stays on the device.

    Shapes: S seeds, P probe steps, L layers, H hidden layers, D dead-mask steps.
    """

    config: TrainConfig
    seeds: list[int]
    net: Net
    loss: Tensor                 # [steps, S] each step's training-batch loss
    probe_steps: Tensor          # [P]
    accuracy: Tensor             # [P, S] training-batch accuracy at the probe steps
    grad_norm: Tensor            # [P, L, S] norm of each layer's (weight, bias) gradient
    grad_abs_mean: Tensor        # [P, S] mean over parameter tensors of each tensor's mean |gradient| (document 001)
    act_mean: Tensor             # [P, H, S] over the batch and the layer's units
    act_std: Tensor              # [P, H, S] population std, over the batch and the layer's units
    pre_min: Tensor              # [P, H, S]
    pre_max: Tensor              # [P, H, S]
    dead: list[Tensor]           # per hidden layer [D, S, width]: output zero on every training input
    snapshots: dict[int, Net]
    diverged: Tensor             # [S] a non-finite loss at some step, or after training
    train_loss: Tensor           # [S] the trained net on the whole training set
    train_accuracy: Tensor
    test_loss: Tensor            # [S] the trained net on the test set
    test_accuracy: Tensor


def seed_generators(seeds: Sequence[int], stream: str, device: torch.device) -> list[torch.Generator]:
    """One generator per seed for one purpose ("init", "order"), so a seed's draws do not depend on the others."""
    return [torch.Generator(device=device).manual_seed(derive_seed(s, stream)) for s in seeds]


def init_net(config: TrainConfig, seeds: Sequence[int], device: torch.device) -> Net:
    act = ACTIVATIONS[config.activation]
    generators = seed_generators(seeds, "init", device)
    params = init_mlp(config.widths, config.init or act.init, generators, device, config.dtype, config.bias_init)
    if config.init_gains:
        params = scaled_weights(params, config.init_gains, len(seeds))
    norms = init_batchnorm(config.widths, len(seeds), device, config.dtype) if config.batchnorm else None
    return Net(params, norms, act)


def scaled_weights(params: Params, gains: Sequence[float], seeds: int) -> Params:
    """Each seed's weights times its own gain, so one batched run can sweep the initial scale."""
    if len(gains) != seeds:
        raise ValueError(f"{len(gains)} init gains for {seeds} seeds: give one gain per seed")
    gain = torch.tensor(gains, device=params[0][0].device, dtype=params[0][0].dtype).view(-1, 1, 1)
    return [(w * gain, b) for w, b in params]


def per_seed_loss(kind: Loss, logits: Tensor, labels: Tensor) -> Tensor:
    """Each seed's mean loss over its examples: [S, N, out] logits, [S, N] integer labels -> [S]."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), labels.to(logits.dtype),
                                                  reduction="none").mean(-1)
    return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="none").view(labels.shape).mean(-1)


def predictions(kind: Loss, logits: Tensor) -> Tensor:
    return (logits.squeeze(-1) > 0).long() if kind == "bce" else logits.argmax(-1)


def activation_penalty(hidden: list[tuple[Tensor, Tensor]]) -> Tensor:
    """[S]: each seed's mean over examples of the summed |activation| of every hidden unit, the L1 penalty on
    activation values of Glorot, Bordes & Bengio 2011. Training adds it, times activation_l1, to the objective;
    the recorded loss is the task's loss alone."""
    return sum(act.abs().sum(-1).mean(-1) for _, act in hidden)


def per_seed_accuracy(kind: Loss, logits: Tensor, labels: Tensor) -> Tensor:
    return (predictions(kind, logits) == labels).to(logits.dtype).mean(-1)


@torch.no_grad()
def evaluate(config: TrainConfig, net: Net, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Each seed's (loss, accuracy) on a whole set, [S] each."""
    x, labels = per_seed(x.to(config.dtype), y, net.params[0][0].shape[0])
    logits = net(x)
    return per_seed_loss(config.loss, logits, labels), per_seed_accuracy(config.loss, logits, labels)


@torch.no_grad()
def dead_units(net: Net, x: Tensor) -> list[Tensor]:
    """Per hidden layer, [S, width]: the units whose output is exactly zero on every input in x [S, N, in]."""
    _, hidden = net(x, keep=True)
    return [(act == 0).all(-2) for _, act in hidden]


def per_seed(x: Tensor, y: Tensor, seeds: int) -> tuple[Tensor, Tensor]:
    """Data shared by all seeds (inputs [N, in], labels [N]) viewed as one copy per seed, without copying."""
    if x.dim() == 3:
        if x.shape[0] != seeds:
            raise ValueError(f"the data holds {x.shape[0]} per-seed draws for {seeds} seeds")
        return x, y
    return x.expand(seeds, *x.shape), y.expand(seeds, *y.shape)


def batch_orders(n: int, batch_size: int, steps: int, generators: Sequence[torch.Generator]) -> Tensor:
    """Every step's minibatch indices per seed, [S, steps, B]: a fresh permutation of the training set each
    epoch from the seed's own generator; an epoch's last incomplete batch is dropped."""
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size {batch_size} must be between 1 and the training set's size {n}")
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    orders = torch.stack([torch.rand(epochs, n, generator=g, device=g.device).argsort(-1) for g in generators])
    return orders[..., :per_epoch * batch_size].reshape(len(generators), -1, batch_size)[:, :steps]


def minibatch(x: Tensor, y: Tensor, orders: Tensor | None, step: int) -> tuple[Tensor, Tensor]:
    """Each seed's examples for `step`, gathered by its own indices (the whole set when training full-batch)."""
    if orders is None:
        return x, y
    index = orders[:, step]
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1])), y.gather(1, index)


def make_optimizer(config: TrainConfig, tensors: list[Tensor]) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(tensors, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    # fused: one kernel for the whole update, several times faster for the many small tensors here
    return torch.optim.Adam(tensors, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def activity_stats(pre: Tensor, act: Tensor) -> Tensor:
    """[4, S]: the activations' mean and population std, the pre-activations' min and max, over examples and units."""
    dims = (-1, -2)
    return torch.stack([act.mean(dims), act.std(dims, correction=0), pre.amin(dims), pre.amax(dims)])


@dataclass
class _Buffers:
    """The device-side probe tensors, filled in place during training."""

    loss: Tensor
    accuracy: Tensor
    grad_norm: Tensor
    grad_abs_mean: Tensor
    layer_stats: Tensor          # [4, P, H, S]: activation mean, std, pre-activation min, max
    dead: list[list[Tensor]] = field(default_factory=list)
    snapshots: dict[int, Net] = field(default_factory=dict)

    @staticmethod
    def allocate(config: TrainConfig, seeds: int, device: torch.device) -> _Buffers:
        probes = -(-config.steps // config.probe_every) if config.probe_every else 0
        layers = len(config.widths) - 1

        def empty(*shape):
            return torch.full(shape, float("nan"), device=device, dtype=config.dtype)
        return _Buffers(empty(config.steps, seeds), empty(probes, seeds), empty(probes, layers, seeds),
                        empty(probes, seeds), empty(4, probes, layers - 1, seeds))

    def record_layers(self, i: int, net: Net, hidden: list[tuple[Tensor, Tensor]]) -> None:
        with torch.no_grad():
            self.grad_norm[i] = torch.stack([(w.grad.square().sum((-1, -2)) + b.grad.square().sum(-1)).sqrt()
                                             for w, b in net.params])
            self.grad_abs_mean[i] = torch.stack([t.grad.abs().flatten(1).mean(1) for t in net.tensors()]).mean(0)
            self.layer_stats[:, i] = torch.stack([activity_stats(pre, act) for pre, act in hidden], 1)

    def observe(self, config: TrainConfig, step: int, net: Net, x: Tensor) -> None:
        """Dead masks and snapshots at `step`, when the configuration asks for them."""
        if step in config.dead_at:
            self.dead.append(dead_units(net, x))
        if step in config.snapshot_at:
            self.snapshots[step] = net.detached()


def train(config: TrainConfig, data: Dataset, seeds: Sequence[int], start: Net | None = None,
          progress: Callable[[int, int], None] | None = None) -> History:
    """Train len(seeds) independent nets of one configuration as one batched model, on the data's device.

    Seed s draws its initialisation from derive_seed(s, "init") and its data order from
    derive_seed(s, "order"), so the same seed trains identically alone or in any batch. With `start`, training
    begins from a copy of that net (e.g. one with units set dead) instead of a fresh initialisation. `progress`,
    if given, is told (step, steps) before every step.
    """
    device = data.x_train.device
    count = len(seeds)
    net = init_net(config, seeds, device) if start is None else start.detached()
    x, y = per_seed(data.x_train.to(config.dtype), data.y_train, count)
    orders = (batch_orders(x.shape[1], config.batch_size, config.steps, seed_generators(seeds, "order", device))
              if config.batch_size else None)
    optimizer = make_optimizer(config, [t.requires_grad_() for t in net.tensors()])
    buffers = _Buffers.allocate(config, count, device)
    for step in range(config.steps):
        if progress is not None:
            progress(step, config.steps)
        buffers.observe(config, step, net, x)
        xb, yb = minibatch(x, y, orders, step)
        logits, hidden = net(xb, keep=True)
        losses = per_seed_loss(config.loss, logits, yb)
        objective = losses + config.activation_l1 * activation_penalty(hidden) if config.activation_l1 else losses
        optimizer.zero_grad(set_to_none=True)
        objective.sum().backward()
        buffers.loss[step] = losses.detach()
        if config.probe_every and step % config.probe_every == 0:
            buffers.accuracy[step // config.probe_every] = per_seed_accuracy(config.loss, logits.detach(), yb)
            buffers.record_layers(step // config.probe_every, net, hidden)
        optimizer.step()
    buffers.observe(config, config.steps, net, x)
    return _history(config, list(seeds), net.detached(), buffers, data)


def _history(config: TrainConfig, seeds: list[int], net: Net, buffers: _Buffers, data: Dataset) -> History:
    train_loss, train_accuracy = evaluate(config, net, data.x_train, data.y_train)
    test_loss, test_accuracy = evaluate(config, net, data.x_test, data.y_test)
    diverged = ~torch.isfinite(buffers.loss).all(0) | ~torch.isfinite(train_loss)
    mean, std, pre_min, pre_max = buffers.layer_stats.cpu()
    dead = [torch.stack(layer).cpu() for layer in zip(*buffers.dead)] if buffers.dead else []
    return History(
        config=config, seeds=seeds, net=net, loss=buffers.loss.cpu(),
        probe_steps=torch.arange(0, config.steps, config.probe_every) if config.probe_every else torch.arange(0),
        accuracy=buffers.accuracy.cpu(), grad_norm=buffers.grad_norm.cpu(),
        grad_abs_mean=buffers.grad_abs_mean.cpu(), act_mean=mean, act_std=std,
        pre_min=pre_min, pre_max=pre_max, dead=dead, snapshots=buffers.snapshots, diverged=diverged.cpu(),
        train_loss=train_loss.cpu(), train_accuracy=train_accuracy.cpu(),
        test_loss=test_loss.cpu(), test_accuracy=test_accuracy.cpu())
