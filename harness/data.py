"""Datasets generated on the experiment device, one independent draw per seed where asked."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Dataset:
    """Inputs [N, in] shared by all seeds, or [S, N, in] one draw per seed; integer labels [N] or [S, N]."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    def seed(self, index: int) -> Dataset:
        """The data one seed of a batched run sees, shaped for a single-seed run."""
        tensors = (self.x_train, self.y_train, self.x_test, self.y_test)
        per_seed = self.x_train.dim() == 3
        return Dataset(*(t[index:index + 1] if per_seed else t for t in tensors))


def two_moons(n: int, noise: float, generator: torch.Generator, batch: tuple[int, ...] = (),
              dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Two interleaved half circles, as scikit-learn's make_moons draws them but with random angles.

    Class 0 (the first n // 2 points): (cos t, sin t), t ~ U[0, pi], the upper half of the unit circle.
    Class 1 (the rest): (1 - cos t, 1/2 - sin t), the lower half circle shifted right by 1 and down by 1/2,
    so each moon's tip reaches into the other's hollow. Gaussian noise of standard deviation `noise` is
    added to both coordinates. Returns inputs [*batch, n, 2] and labels [*batch, n] (int64), on the
    generator's device; each batch entry is an independent draw.
    """
    device = generator.device
    t = torch.rand(*batch, n, generator=generator, device=device, dtype=dtype) * math.pi
    labels = (torch.arange(n, device=device) >= n // 2).expand(*batch, n)
    lower = labels.to(dtype)
    x = torch.stack([torch.cos(t) * (1 - 2 * lower) + lower, torch.sin(t) * (1 - 2 * lower) + 0.5 * lower], -1)
    x = x + noise * torch.randn(x.shape, generator=generator, device=device, dtype=dtype)
    return x, labels.to(torch.int64).contiguous()
