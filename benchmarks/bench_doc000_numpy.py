"""The document-000 protocol in our engine against a plain numpy version of the document's own loop.

The document (seeds/000_117cae05039cffeb.txt) trains a numpy TwoLayerNet, 2-8-8-1, one net per
activation, by full-batch gradient descent. The reference below is written from that description: one
net at a time, forward and backward by hand in float64, as the document's class would run it. Ours is
claims/test_two_moons.py's protocol: all seeds of an activation as one batched model, float32. Both sides
train the same seeds from the same initial weights on the same data, on one CPU thread (numpy's BLAS
does not thread products this small); the agreement of their final losses is printed beside the timing,
and a float64 run of ours is compared with the reference step by step.

    python -m benchmarks.bench_doc000_numpy [--seeds 32] [--steps 1200] [--threads 1]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from claims.test_two_moons import NOISE, PLATEAU, TRAIN_POINTS, config
from harness.experiments.data import Dataset, two_moons
from harness.experiments.seeding import derive_seed, derive_seeds
from harness.experiments.train import TrainConfig, init_net, train

NUMPY_ACTIVATIONS = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
}


def numpy_run(x: np.ndarray, y: np.ndarray, weights: list[np.ndarray], act: str, lr: float, steps: int) -> np.ndarray:
    """The document's loop for one net: weights [W1, b1, W2, b2, W3, b3] with W [in, out]; returns the loss per step."""
    f, df = NUMPY_ACTIVATIONS[act]
    w1, b1, w2, b2, w3, b3 = (w.copy() for w in weights)
    y = y.reshape(-1, 1)
    losses = np.empty(steps)
    for step in range(steps):
        z1 = x @ w1 + b1
        a1 = f(z1)
        z2 = a1 @ w2 + b2
        a2 = f(z2)
        z3 = a2 @ w3 + b3
        out = 1 / (1 + np.exp(-z3))
        losses[step] = np.mean(np.logaddexp(0, z3) - y * z3)  # -mean(y log out + (1 - y) log(1 - out)), kept finite
        dz3 = (out - y) / len(x)
        dz2 = (dz3 @ w3.T) * df(z2, a2)
        dz1 = (dz2 @ w2.T) * df(z1, a1)
        w3 -= lr * a2.T @ dz3
        b3 -= lr * dz3.sum(0, keepdims=True)
        w2 -= lr * a1.T @ dz2
        b2 -= lr * dz2.sum(0, keepdims=True)
        w1 -= lr * x.T @ dz1
        b1 -= lr * dz1.sum(0, keepdims=True)
    return losses


def numpy_weights(config: TrainConfig, seeds: list[int]) -> list[list[np.ndarray]]:
    """Our initial weights for each seed, in the document's layout (W [in, out], b [1, out]), float64."""
    net = init_net(config, seeds, torch.device("cpu"))
    return [[t[i].double().numpy().T.copy() if t.dim() == 3 else t[i].double().numpy().reshape(1, -1)
             for w, b in net.params for t in (w, b)] for i in range(len(seeds))]


def numpy_protocol(config: TrainConfig, data: Dataset, seeds: list[int]) -> np.ndarray:
    """Final training loss of every seed, trained one after another; [S]."""
    x, y = data.x_train.double().numpy(), data.y_train.double().numpy()
    weights = numpy_weights(config, seeds)
    return np.array([numpy_run(x[i], y[i], weights[i], config.activation, config.lr, config.steps)[-1]
                     for i in range(len(seeds))])


def timed(run):
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--steps", type=int, default=config("sigmoid").steps)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(derive_seed(0, PLATEAU.id, "data"))
    data = Dataset(*two_moons(TRAIN_POINTS, NOISE, generator, (args.seeds,)),
                   *two_moons(TRAIN_POINTS, NOISE, generator, (args.seeds,)))
    seeds = derive_seeds(0, args.seeds, PLATEAU.id, "nets")
    configs = {act: replace(config(act), steps=args.steps, snapshot_at=(), dead_at=()) for act in NUMPY_ACTIVATIONS}
    train(configs["relu"], data.seed(0), seeds[:1])
    print(f"document-000 protocol: {args.seeds} seeds x 2 activations x {args.steps} full-batch steps, "
          f"{TRAIN_POINTS} points, {args.threads} thread(s), torch {torch.__version__}, numpy {np.__version__}")
    total_ours = total_numpy = 0.0
    for act, cfg in configs.items():
        ours, ours_s = timed(lambda: train(cfg, data, seeds).loss[-1].double().numpy())
        reference, numpy_s = timed(lambda: numpy_protocol(cfg, data, seeds))
        total_ours, total_numpy = total_ours + ours_s, total_numpy + numpy_s
        print(f"{act:8s} ours {ours_s:7.3f} s   numpy {numpy_s:7.3f} s   ratio {numpy_s / ours_s:6.1f} x   "
              f"mean final loss ours {ours.mean():.4f} numpy {reference.mean():.4f} "
              f"(largest per-seed gap {np.abs(ours - reference).max():.1e}, float32 vs float64)")
    print(f"total    ours {total_ours:7.3f} s   numpy {total_numpy:7.3f} s   ratio {total_numpy / total_ours:6.1f} x")
    exact = replace(configs["sigmoid"], steps=50, dtype=torch.float64)
    first_two = Dataset(*(t[:2] for t in (data.x_train, data.y_train, data.x_test, data.y_test)))
    ours64 = train(exact, first_two, seeds[:2]).loss.numpy()
    x, y = data.x_train.double().numpy(), data.y_train.double().numpy()
    reference64 = [numpy_run(x[i], y[i], w, "sigmoid", exact.lr, exact.steps)
                   for i, w in enumerate(numpy_weights(exact, seeds[:2]))]
    gap = max(np.abs(ours64[:, i] - reference64[i]).max() for i in range(2))
    print(f"float64 check, 2 seeds x 50 steps: largest loss difference ours vs numpy {gap:.1e}")


if __name__ == "__main__":
    main()
