"""Document 001's protocol, run fast: every (activation, depth, seed) of its CNN trained with Adam, best test
accuracy over epochs, and the document's gradient statistic, on CIFAR-10 or on any images given as DeviceData.

The dataset goes to the device once as uint8 and is normalised there (ToTensor then Normalize(0.5, 0.5),
as the document's transforms compute it). Minibatches are index gathers from a per-seed permutation drawn
each epoch; the seeds of one (activation, depth) train side by side as one GroupedCNN, each on its own
data order, and since Adam acts elementwise one optimizer over the grouped parameters is each member's own.
Statistics accumulate on the device; the host reads them once per epoch. Results are cached per
(activation, depth, seeds) as JSON, keyed by the settings, versions, device type and data.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from harness.experiments.cifar import Cifar10
from harness.experiments.data import Dataset
from harness.experiments.seeding import derive_seed
from harness.outputs.files import write_atomically
from models.cnn import GroupedCNN, seeded_cnn


@dataclass(frozen=True)
class Settings:
    """How each model trains (Adam at `lr`, the best test accuracy over `epochs`); the claim module states the values."""

    epochs: int
    batch_size: int
    lr: float
    width: int
    eval_batch: int = 1000       # test images per evaluation step, each seen by every member (size changes no result)
    bf16: bool = False           # bf16 autocast for forward and backward
    channels_last: bool = False


@dataclass(frozen=True)
class ModelResult:
    """One trained model, per epoch: accuracies as fractions, losses as means over batches, the document's
    gradient statistic (per batch, the mean over parameter tensors of the mean |gradient|, averaged over batches),
    and the log of the first conv's gradient norm over the head's (averaged over batches; also on the very first
    batch, before any step), which shows how much gradient reaches the input end of the stack."""

    activation: str
    blocks: int
    seed: int
    train_loss: list[float]
    train_accuracy: list[float]   # on each epoch's minibatches, in training mode, as the document counts it
    test_loss: list[float]
    test_accuracy: list[float]
    grad_abs_mean: list[float]
    log_gradient_ratio: list[float]
    initial_log_gradient_ratio: float

    @property
    def best_test_accuracy(self) -> float:
        return max(self.test_accuracy)

    @property
    def diverged(self) -> bool:
        return not all(math.isfinite(v) for v in self.train_loss)


CACHE_FORMAT = 2    # 2: ModelResult records the log gradient ratio; files of another format are simply not found

# The rows of a group's per-epoch history: _train_epoch fills the first four, _evaluate the last two.
HISTORY = ("train_loss", "train_accuracy", "grad_abs_mean", "log_gradient_ratio", "test_loss", "test_accuracy")


@dataclass(frozen=True)
class Progress:
    activation: str
    blocks: int
    seed: int
    seed_number: int           # 1-based position of the seed among the sweep's seeds
    seeds: int
    epoch: int                 # epochs done, 1-based
    epochs: int
    best_test_accuracy: float  # over the epochs done
    seconds_left: float        # for the whole sweep, extrapolated from the time so far

    @property
    def model(self) -> str:
        return f"{self.activation}, {self.blocks} blocks, seed {self.seed_number} of {self.seeds}"


@dataclass(frozen=True)
class SweepResult:
    models: list[ModelResult]

    def table(self, activation: str, metric: Callable[[ModelResult], float]) -> dict[int, list[float]]:
        """depth -> the metric of each seed's model, e.g. table("relu", lambda m: m.best_test_accuracy)."""
        rows: dict[int, list[float]] = {}
        for model in self.models:
            if model.activation == activation:
                rows.setdefault(model.blocks, []).append(metric(model))
        return rows


@dataclass(frozen=True)
class DeviceData(Dataset):
    """Normalised images (float32 [N, 3, H, W]; models train in their dtype) and labels [N], on the device; or one
    draw per seed, images [S, N, 3, H, W] and labels [S, N], seed i of the sweep's seeds training on draw i. The
    fingerprint names the data in cache keys."""

    fingerprint: str

    @property
    def per_seed(self) -> bool:
        return self.x_train.dim() == 5

    def of_seeds(self, start: int, stop: int) -> DeviceData:
        """The data of the seeds at positions start..stop-1 of the sweep's seeds."""
        if not self.per_seed:
            return self
        return DeviceData(*(t[start:stop] for t in self.tensors()), f"{self.fingerprint}[{start}:{stop}]")

    def train_batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """index [B, M] of training images, member m's in column m -> images [B, M, 3, H, W], labels [B, M]."""
        if self.per_seed:
            member = torch.arange(index.shape[1], device=index.device)
            return self.x_train[member, index], self.y_train[member, index]
        return self.x_train[index], self.y_train[index]

    def test_batch(self, start: int, stop: int, members: int) -> tuple[Tensor, Tensor]:
        """Test images start..stop-1 for every member -> images [b, M, 3, H, W], labels [b, M]."""
        if self.per_seed:
            return self.x_test[:, start:stop].transpose(0, 1), self.y_test[:, start:stop].T
        images, labels = self.x_test[start:stop], self.y_test[start:stop]
        return images.unsqueeze(1).expand(-1, members, -1, -1, -1), labels.unsqueeze(1).expand(-1, members)


def to_device(data: Cifar10, device: torch.device) -> DeviceData:
    def normalised(images: Tensor) -> Tensor:
        return images.to(device).float().div(255).sub(0.5).div(0.5)
    return DeviceData(normalised(data.x_train), data.y_train.to(device), normalised(data.x_test),
                      data.y_test.to(device), data.fingerprint)


def grid(activations: Sequence[str], blocks: Sequence[int]) -> list[tuple[str, int]]:
    """Every (activation, depth) pair, activation by activation."""
    return [(a, b) for a in activations for b in blocks]


def sweep(data: Cifar10 | DeviceData, runs: Sequence[tuple[str, int]], seeds: Sequence[int], settings: Settings,
          device: torch.device, cache_dir: Path | None = None, group_size: int | None = None,
          progress: Callable[[Progress], None] | None = None) -> SweepResult:
    """Train every (activation, depth) in `runs` once per seed, `group_size` seeds at a time. The default is all seeds
    of a depth at once on a GPU and one at a time on the CPU, where a grouped convolution's backward pass runs 2 to
    3 times slower than the same work as separate convolutions (benchmarks/bench_cifar_sweep.py --group-size).

    Seed s draws its initialisation from derive_seed(s, "init") and its data order from derive_seed(s, "order"),
    so a model is the same in any group. Groups found in cache_dir are read back, not trained again.
    """
    on_device = data if isinstance(data, DeviceData) else to_device(data, device)
    size = group_size or (len(seeds) if device.type == "cuda" else 1)
    if on_device.per_seed and len(on_device.x_train) != len(seeds):
        raise ValueError(f"the data holds {len(on_device.x_train)} draws, one per seed, for {len(seeds)} seeds")
    groups = [(a, b, i, list(seeds[i:i + size])) for a, b in runs for i in range(0, len(seeds), size)]
    clock = _Clock(sum(_work(b, members) for _, b, _, members in groups) * settings.epochs, list(seeds), progress)
    models = []
    for activation, depth, first, members in groups:
        data = on_device.of_seeds(first, first + len(members))
        key = cache_key(settings, activation, depth, members, data.fingerprint, on_device.x_train.device)
        results = read_cache(cache_dir, key) if cache_dir is not None else None
        if results is None:
            results = train_group(data, depth, activation, members, settings, clock.tick)
            if cache_dir is not None:
                write_cache(cache_dir, key, results)
        else:
            clock.total -= _work(depth, members) * settings.epochs
        models += results
    return SweepResult(models)


def _work(blocks: int, members: Sequence[int]) -> int:
    """What one epoch of a group costs, in units of one conv layer of one model."""
    return len(members) * (blocks + 1)


class _Clock:
    """Reports progress, with the time left extrapolated from the work done so far."""

    def __init__(self, total: int, seeds: list[int], report: Callable[[Progress], None] | None) -> None:
        self.total, self.seeds, self.report = total, seeds, report
        self.done, self.start = 0, time.perf_counter()

    def tick(self, results: list[ModelResult], epoch: int, epochs: int) -> None:
        self.done += _work(results[0].blocks, results)
        seconds_left = (time.perf_counter() - self.start) / self.done * (self.total - self.done)
        for model in results if self.report else []:
            self.report(Progress(model.activation, model.blocks, model.seed, self.seeds.index(model.seed) + 1,
                                 len(self.seeds), epoch, epochs, model.best_test_accuracy,
                                 seconds_left))


def train_group(data: DeviceData, blocks: int, activation: str, seeds: Sequence[int], settings: Settings,
                on_epoch: Callable[[list[ModelResult], int, int], None] | None = None) -> list[ModelResult]:
    """Train one model per seed, side by side, for settings.epochs; evaluate after every epoch."""
    device = data.x_train.device
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    nets = [seeded_cnn(blocks, activation, derive_seed(s, "init"), settings.width) for s in seeds]
    model = GroupedCNN.stack(nets).to(device, data.x_train.dtype, memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    orders = [torch.Generator(device=device).manual_seed(derive_seed(s, "order")) for s in seeds]
    history = torch.zeros(settings.epochs, len(HISTORY), len(seeds), device=device, dtype=data.x_train.dtype)
    results: list[ModelResult] = []
    initial = torch.zeros(len(seeds), device=device, dtype=data.x_train.dtype)
    for epoch in range(settings.epochs):
        history[epoch, :4] = _train_epoch(model, optimizer, data, orders, settings.batch_size, settings.bf16,
                                          memory_format, first_ratio=initial if epoch == 0 else None)
        history[epoch, 4:] = _evaluate(model, data, settings.eval_batch, settings.bf16, memory_format)
        results = _results(history[:epoch + 1].cpu(), initial.tolist(), activation, blocks, seeds)
        if on_epoch is not None:
            on_epoch(results, epoch + 1, settings.epochs)
    return results


def _train_epoch(model: GroupedCNN, optimizer: torch.optim.Optimizer, data: DeviceData, orders: list[torch.Generator],
                 batch_size: int, bf16: bool, memory_format: torch.memory_format,
                 first_ratio: Tensor | None = None) -> Tensor:
    """[4, M]: mean training loss, training accuracy, gradient statistic and log gradient ratio over the epoch's
    batches. `first_ratio`, if given, receives the first batch's log gradient ratio."""
    model.train()
    n, members = data.y_train.shape[-1], model.members
    order = torch.stack([torch.randperm(n, generator=g, device=g.device) for g in orders], 1)  # [N, M]
    totals = torch.zeros(4, members, device=order.device, dtype=data.x_train.dtype)
    for start in range(0, n, batch_size):
        images, labels = data.train_batch(order[start:start + batch_size])  # the last batch may be short, as the
        logits = _forward(model, images, bf16, memory_format)                 # document's is
        losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view_as(labels)
        optimizer.zero_grad(set_to_none=True)
        losses.mean(0).sum().backward()  # each member's gradient is that of its own mean loss
        totals[0] += losses.detach().mean(0)
        totals[1] += (logits.detach().argmax(-1) == labels).sum(0)
        totals[2] += grad_abs_mean(model)
        ratio = log_gradient_ratio(model)
        if first_ratio is not None and start == 0:
            first_ratio.copy_(ratio)
        totals[3] += ratio
        optimizer.step()
    batches = -(-n // batch_size)
    return totals / torch.tensor([[batches], [n], [batches], [batches]], device=totals.device, dtype=totals.dtype)


def _forward(model: GroupedCNN, images: Tensor, bf16: bool, memory_format: torch.memory_format) -> Tensor:
    """images [B, M, 3, H, W], member m's at [:, m] -> logits [B, M, classes] in the images' dtype."""
    x = images.flatten(1, 2).contiguous(memory_format=memory_format)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        return model(x).to(images.dtype)


def grad_abs_mean(model: GroupedCNN) -> Tensor:
    """[M]: each member's mean over its parameter tensors of the tensor's mean |gradient| (document 001's statistic)."""
    per_tensor = [p.grad.reshape(model.members, -1).abs().mean(1) for p in model.parameters()]
    return torch.stack(per_tensor).mean(0)


def log_gradient_ratio(model: GroupedCNN) -> Tensor:
    """[M]: each member's log of its first conv's gradient norm over its head's."""
    def norm(weight: Tensor) -> Tensor:
        return weight.grad.reshape(model.members, -1).norm(dim=1)
    return (norm(model.stem[0].weight) / norm(model.fc.weight)).log()


@torch.inference_mode()
def _evaluate(model: GroupedCNN, data: DeviceData, eval_batch: int, bf16: bool,
              memory_format: torch.memory_format) -> Tensor:
    """[2, M]: mean test loss over images and test accuracy, every member on the whole test set."""
    model.eval()
    members, n = model.members, data.y_test.shape[-1]
    totals = torch.zeros(2, members, device=data.y_test.device, dtype=data.x_test.dtype)
    for start in range(0, n, eval_batch):
        images, labels = data.test_batch(start, start + eval_batch, members)
        logits = _forward(model, images, bf16, memory_format)
        totals[0] += F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view_as(labels).sum(0)
        totals[1] += (logits.argmax(-1) == labels).sum(0)
    return totals / n


def _results(history: Tensor, initial_ratio: list[float], activation: str, blocks: int,
             seeds: Sequence[int]) -> list[ModelResult]:
    """history [epochs, 6, M] on the host, rows as in HISTORY -> one ModelResult per member."""
    columns = history.permute(2, 1, 0).tolist()  # [M][6][epochs]
    return [ModelResult(activation, blocks, seed, **dict(zip(HISTORY, columns[m])),
                        initial_log_gradient_ratio=initial_ratio[m]) for m, seed in enumerate(seeds)]


def cache_key(settings: Settings, activation: str, blocks: int, seeds: Sequence[int], data: str,
              device: torch.device) -> dict:
    return {"format": CACHE_FORMAT, "settings": asdict(settings), "activation": activation, "blocks": blocks,
            "seeds": list(seeds), "versions": {"torch": torch.__version__, "numpy": np.__version__}, "device": device.type, "data": data}


def cache_path(cache_dir: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{key['activation']}-{key['blocks']}blocks-{digest}.json"


def read_cache(cache_dir: Path, key: dict) -> list[ModelResult] | None:
    """The results stored under `key`, or None when there are none; a file that does not parse, or that holds
    another key, gets a warning and None, so its results are computed again."""
    path = cache_path(cache_dir, key)
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
        models = [ModelResult(**{f.name: m[f.name] for f in fields(ModelResult)}) for m in stored["models"]]
        same_key = json.dumps(stored["key"], sort_keys=True) == json.dumps(key, sort_keys=True)
    except (ValueError, KeyError, TypeError) as error:  # ValueError covers bad JSON and bad UTF-8
        warnings.warn(f"{path} is not a readable cache file ({type(error).__name__}: {error}); recomputing it.",
                      stacklevel=2)
        return None
    if not same_key:
        warnings.warn(f"{path} holds results for another configuration; recomputing them.", stacklevel=2)
        return None
    return models


def write_cache(cache_dir: Path, key: dict, models: list[ModelResult]) -> Path:
    path = cache_path(cache_dir, key)
    write_atomically(path, json.dumps({"key": key, "models": [asdict(m) for m in models]}, indent=1))
    return path
