"""Our CIFAR-10 sweep runner against document 001's own loop, on the same device, in one run.

The document's loop, rebuilt with torch.utils.data only (torchvision is not needed): a DataLoader with 2
workers over a TensorDataset of the normalised images (cheaper than the document's per-image PIL transforms,
so the ratios understate our gain), one model after another, and per batch the document's .item() calls
(one per parameter tensor for its gradient statistic, the loss, the correct count). Ours: the sweep runner
(data on the device, index-gathered batches, the seeds of one depth trained as one grouped model).

Both start every model from the same initialisation. The reference runs --reference-seeds seeds of each
(activation, depth); its whole-sweep time is extrapolated from its per-model-epoch times when that is fewer
than the sweep's seeds. Times include each model's set-up, first-epoch warm-up and test passes.

    python -m benchmarks.bench_cifar_sweep --data-dir DIR                       # the document's sweep
    python -m benchmarks.bench_cifar_sweep --data-dir DIR --device cpu --train 2048 --test 512 \\
        --epochs 1 --blocks 1 2 --seeds 2 --width 16                            # a quick look on a CPU
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from statistics import mean

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from claims.test_depth import FULL as DOCUMENT
from harness.experiments import cifar
from harness.experiments.devices import resolve_device
from harness.experiments.seeding import derive_seed, derive_seeds
from harness.experiments.sweep import Progress, grid, sweep, to_device
from models.cnn import seeded_cnn


def documents_epoch(model, loader, optimizer, device) -> None:
    """One training epoch as the document's train_model runs it, host syncs included."""
    model.train()
    running_loss, correct, grad_list = 0.0, 0, []
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = F.cross_entropy(outputs, labels)
        loss.backward()
        grads = [p.grad.abs().mean().item() for p in model.parameters() if p.grad is not None]
        grad_list.append(sum(grads) / len(grads))
        optimizer.step()
        running_loss += loss.item()
        correct += outputs.max(1)[1].eq(labels).sum().item()


def documents_test(model, loader, device) -> float:
    """The document's evaluate_model: test accuracy in percent."""
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = model(inputs)
            F.cross_entropy(outputs, labels).item()
            correct += (outputs.max(1)[1] == labels).sum().item()
            total += labels.size(0)
    return 100.0 * correct / total


def documents_loaders(data: cifar.Cifar10, args) -> tuple[DataLoader, DataLoader]:
    def loader(x, y, shuffle):
        images = TensorDataset(x.float().div(255).sub(0.5).div(0.5), y)
        return DataLoader(images, batch_size=args.batch_size, shuffle=shuffle, num_workers=args.workers)
    return loader(data.x_train, data.y_train, True), loader(data.x_test, data.y_test, False)


def documents_model(loaders: tuple[DataLoader, DataLoader], blocks: int, activation: str, seed: int, args,
                    device: torch.device) -> tuple[float, float]:
    """(seconds per model-epoch, best test accuracy in percent) of one model trained the document's way."""
    start = time.perf_counter()
    model = seeded_cnn(blocks, activation, derive_seed(seed, "init"), args.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = 0.0
    for _ in range(args.reference_epochs):
        documents_epoch(model, loaders[0], optimizer, device)
        best = max(best, documents_test(model, loaders[1], device))
    return (time.perf_counter() - start) / args.reference_epochs, best


class GroupClock:
    """Per (activation, depth): the seconds its group(s) took, from the sweep's progress reports."""

    def __init__(self) -> None:
        self.last, self.seconds, self.best = time.perf_counter(), {}, {}

    def __call__(self, report: Progress) -> None:
        key, now = (report.activation, report.blocks), time.perf_counter()
        self.seconds[key] = self.seconds.get(key, 0.0) + now - self.last
        self.last = now
        if report.epoch == report.epochs:
            self.best.setdefault(key, []).append(100 * report.best_test_accuracy)


BF16_DENSE_PEAK = 989e12  # FLOP/s, the H100/H200 SXM datasheet's dense bf16 rate


def sweep_flops(args) -> float:
    """Multiply-adds x 2 of the sweep's convolutions: per image, 3 passes' worth when training (forward, and the
    backward's two products), one when testing; the pooling, head and elementwise work is left out."""
    def per_image(blocks: int) -> float:
        return 2 * 9 * 32 * 32 * args.width * (3 + blocks * args.width)
    passes = 3 * args.train + args.test
    return sum(per_image(b) for b in args.blocks) * len(args.activations) * args.seeds * args.epochs * passes


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the folder holding cifar-10-batches-py")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train", type=int, default=50000, help="training images used (the first ones)")
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    parser.add_argument("--activations", nargs="+", default=["relu", "sigmoid"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--group-size", type=int, default=None, help="seeds per grouped model (default: all)")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--reference-seeds", type=int, default=1, help="reference models per (activation, depth); 0 times ours only")
    parser.add_argument("--reference-epochs", type=int, default=None, help="epochs per reference model")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference, 2 as the document")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    args.reference_epochs = args.reference_epochs or args.epochs
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = cifar.load(args.data_dir).subset(args.train, args.test)
    seeds = derive_seeds(0, args.seeds, "bench-cifar")
    settings = replace(DOCUMENT, epochs=args.epochs, batch_size=args.batch_size, width=args.width, bf16=args.bf16,
                       channels_last=args.channels_last)

    start = time.perf_counter()
    on_device = to_device(data, device)
    synchronize(device)
    prepare_s = time.perf_counter() - start
    clock = GroupClock()
    sweep(on_device, grid(args.activations, args.blocks), seeds, settings, device, group_size=args.group_size,
          progress=clock)
    ours_s = time.perf_counter() - start

    runs = grid(args.activations, args.blocks)
    loaders = documents_loaders(data, args) if args.reference_seeds else None
    reference = {run: [documents_model(loaders, run[1], run[0], s, args, device) for s in seeds[:args.reference_seeds]]
                 for run in runs} if loaders else {}

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, {args.train} train / {args.test} test images, "
          f"width {args.width}, batch {args.batch_size}, bf16 {args.bf16}, channels_last {args.channels_last}, "
          f"group size {args.group_size or args.seeds}, reference DataLoader workers {args.workers}")
    print(f"{'activation':<10} {'blocks':>6} {'doc s/model-epoch':>18} {'ours':>8} {'ratio':>7}   "
          f"best test acc % doc / ours")
    for run in runs:
        ours = clock.seconds[run] / (args.seeds * args.epochs)
        theirs = mean(t for t, _ in reference[run]) if reference else math.nan
        theirs_acc = mean(acc for _, acc in reference[run]) if reference else math.nan
        print(f"{run[0]:<10} {run[1]:>6} {theirs:>18.3f} {ours:>8.3f} {theirs / ours:>6.1f}x   "
              f"{theirs_acc:.2f} / {mean(clock.best[run]):.2f}")
    flops = sweep_flops(args)
    print(f"convolution work {flops / 1e15:.2f} PFLOP: ours {flops / ours_s / 1e12:.0f} TFLOP/s, "
          f"{100 * flops / ours_s / BF16_DENSE_PEAK:.1f}% of the bf16 dense peak ({BF16_DENSE_PEAK / 1e12:.0f} TFLOP/s; "
          f"floor {flops / BF16_DENSE_PEAK:.1f} s)")
    models = f"{len(runs) * args.seeds} models x {args.epochs} epochs"
    print(f"whole sweep ({models}): ours {ours_s:.1f} s (data to device {prepare_s:.2f} s of it)")
    if reference:
        reference_s = sum(mean(t for t, _ in times) for times in reference.values()) * args.seeds * args.epochs
        measured_all = args.reference_seeds >= args.seeds and args.reference_epochs == args.epochs
        how = "measured" if measured_all else (f"extrapolated from {args.reference_seeds} seed(s) x "
                                               f"{args.reference_epochs} epoch(s) per depth")
        print(f"document's loop {reference_s:.1f} s ({how}), ratio {reference_s / ours_s:.1f}x")

if __name__ == "__main__":
    main()
