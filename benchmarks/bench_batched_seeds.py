"""16 seeds trained as one batched model against a Python loop over 16 single-seed runs.

Same configuration, same steps, same seeds: the document-000 net (2-8-8-1, sigmoid hidden layers,
full-batch gradient descent) on two moons, one data draw per seed. Both sides run on one CPU thread;
each is timed as the best of --repeats runs, after a warm-up run that pays the one-off imports.

    python -m benchmarks.bench_batched_seeds [--seeds 16] [--steps 300] [--threads 1]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from harness.experiments.data import Dataset, two_moons
from harness.experiments.train import History, TrainConfig, train


def best_time(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def moons(seeds: int, points: int) -> Dataset:
    generator = torch.Generator().manual_seed(0)
    return Dataset(*two_moons(points, 0.2, generator, (seeds,)), *two_moons(points, 0.2, generator, (seeds,)))


def one_by_one(config: TrainConfig, data: Dataset, seeds: list[int]) -> list[History]:
    return [train(config, data.seed(i), [seed]) for i, seed in enumerate(seeds)]


def largest_difference(batched: History, singles: list[History]) -> float:
    """Largest absolute difference between a batched seed's final weights and its single run's."""
    return max(float((stacked[i] - single[0]).abs().max())
               for i, history in enumerate(singles)
               for stacked, single in zip(batched.net.tensors(), history.net.tensors()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--points", type=int, default=256, help="training points per seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig(widths=(2, 8, 8, 1), activation="sigmoid", init="lecun", loss="bce", lr=1.0,
                         steps=args.steps)
    data, seeds = moons(args.seeds, args.points), list(range(args.seeds))
    train(config, data, seeds)
    batched_s = best_time(lambda: train(config, data, seeds), args.repeats)
    looped_s = best_time(lambda: one_by_one(config, data, seeds), args.repeats)
    difference = largest_difference(train(config, data, seeds), one_by_one(config, data, seeds))
    print(f"{args.seeds} seeds x {args.steps} steps, {args.points} points each, {args.threads} thread(s), "
          f"torch {torch.__version__}")
    print(f"batched:          {batched_s:8.3f} s")
    print(f"loop over seeds:  {looped_s:8.3f} s")
    print(f"speed-up:         {looped_s / batched_s:8.1f} x")
    print(f"largest final-weight difference, batched vs single runs: {difference:.2e}")


if __name__ == "__main__":
    main()
