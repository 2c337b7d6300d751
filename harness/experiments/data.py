"""Datasets generated on the experiment device, one independent draw per seed where asked."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor



@dataclass(frozen=True)
class Dataset:
    """Inputs [N, in] shared by all seeds, or [S, N, in] one draw per seed; integer labels [N] or [S, N]."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.x_train, self.y_train, self.x_test, self.y_test

    def map(self, f: Callable[[Tensor], Tensor]) -> Dataset:
        """The same split with f applied to each of its four tensors (a subset, a device, a dtype)."""
        return Dataset(*(f(t) for t in self.tensors()))

    def seed(self, index: int) -> Dataset:
        """The data one seed of a batched run sees, shaped for a single-seed run."""
        return self.map(lambda t: t[index:index + 1]) if self.x_train.dim() == 3 else self


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


def moons_dataset(train_points: int, test_points: int, noise: float, seeds: int,
                  generator: torch.Generator) -> Dataset:
    """One two-moons draw per seed, the training sets drawn first, then the test sets, from one generator."""
    return Dataset(*two_moons(train_points, noise, generator, (seeds,)), *two_moons(test_points, noise, generator, (seeds,)))


def affine(data: Dataset, matrix: Tensor, offset: Tensor) -> Dataset:
    """The same examples with every input x mapped to x @ matrix + offset; labels unchanged.

    matrix is [in, out] (or [S, in, out], one per per-seed draw) and offset [out] (or [S, 1, out]).
    """
    return Dataset(data.x_train @ matrix + offset, data.y_train, data.x_test @ matrix + offset, data.y_test)


def whitened(data: Dataset) -> Dataset:
    """ZCA whitening fitted on the training inputs, each per-seed draw its own: the training inputs get mean 0
    and identity covariance (over examples, population), and the test inputs go through the same affine map.
    Fitted in float64, applied in the data's dtype."""
    x = data.x_train.double()
    mean = x.mean(-2, keepdim=True)
    centered = x - mean
    eigenvalues, vectors = torch.linalg.eigh(centered.mT @ centered / x.shape[-2])
    matrix = vectors @ torch.diag_embed(eigenvalues.rsqrt()) @ vectors.mT
    dtype = data.x_train.dtype
    return affine(data, matrix.to(dtype), (-mean @ matrix).to(dtype))


def standardized(data: Dataset) -> Dataset:
    """Every input feature shifted and scaled to mean 0 and std 1 over the training inputs (population std), each
    per-seed draw its own; the test inputs go through the same map. A constant feature is only centred."""
    mean = data.x_train.mean(-2, keepdim=True)
    std = data.x_train.std(-2, keepdim=True, correction=0)
    scale = torch.where(std > 0, std, torch.ones_like(std))
    return Dataset((data.x_train - mean) / scale, data.y_train, (data.x_test - mean) / scale, data.y_test)


def stripes(n: int, count: int, generator: torch.Generator, batch: tuple[int, ...] = (),
            dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """One input, uniform on [-sqrt 3, sqrt 3] (mean 0, variance 1), cut into `count` equal intervals with
    alternating labels 0, 1, 0, ...: Telgarsky's (2016) sawtooth, a function whose 2^k pieces a deep ReLU net
    builds from k folds but a shallow one needs about 2^k units for. Returns inputs [*batch, n, 1] and labels
    [*batch, n] (int64), on the generator's device; each batch entry is an independent draw.
    """
    u = torch.rand(*batch, n, generator=generator, device=generator.device, dtype=dtype)
    labels = torch.floor(u * count).to(torch.int64) % 2
    return ((2 * u - 1) * math.sqrt(3.0)).unsqueeze(-1), labels


def smooth_teacher_classes(n_train: int, n_test: int, dim: int, classes: int, length_scale: float,
                           generator: torch.Generator, features: int = 256,
                           dtype: torch.dtype = torch.float32, batch: tuple[int, ...] = ()) -> Dataset:
    """Inputs x ~ N(0, I_dim) labelled by a random teacher: the argmax over `classes` smooth random functions.

    The teacher is one hidden layer of `features` cosine units, cos(x . w / length_scale + phase) with w standard
    normal and phase uniform on [0, 2 pi), and a standard normal readout per class: random Fourier features, so
    each class score is (nearly) a draw of a Gaussian process with an RBF kernel of that length scale. Cosine
    units, so the teacher favours none of the activations under comparison; a shorter length scale or a larger
    `dim` makes the task harder. Scores are centred on the drawn inputs so that no class dominates. Inputs
    [*batch, n, dim], labels [*batch, n] (int64), on the generator's device; each batch entry is an independent
    draw of teacher and inputs (batch=(): one draw, shared by all seeds).
    """
    device = generator.device
    w = torch.randn(*batch, dim, features, generator=generator, device=device, dtype=dtype) / length_scale
    phase = 2 * math.pi * torch.rand(*batch, 1, features, generator=generator, device=device, dtype=dtype)
    readout = torch.randn(*batch, features, classes, generator=generator, device=device, dtype=dtype)
    x = torch.randn(*batch, n_train + n_test, dim, generator=generator, device=device, dtype=dtype)
    scores = torch.cos(x @ w + phase) @ readout
    labels = (scores - scores.mean(-2, keepdim=True)).argmax(-1)
    return Dataset(x[..., :n_train, :], labels[..., :n_train], x[..., n_train:, :], labels[..., n_train:])


def shifted_templates(n: int, classes: int, size: int, generator: torch.Generator, templates: Tensor | None = None,
                      frequencies: int = 2, noise: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """Images [n, 3, size, size] whose class is a colour pattern that may sit anywhere: each class has one template,
    a smooth random 3-channel image (white noise keeping only spatial frequencies up to `frequencies` cycles per
    image, scaled to unit pixel variance), and each image is its class's template circularly shifted by a uniform
    random offset, plus Gaussian pixel noise of standard deviation `noise`. Pass the `templates` a first call
    returned to draw more images of the same classes. Returns (images, labels [n] int64, templates [classes, 3,
    size, size]) on the generator's device; classes are balanced up to rounding.
    """
    device = generator.device
    if templates is None:
        spectrum = torch.randn(classes, 3, size, size, 2, generator=generator, device=device)
        k = torch.fft.fftfreq(size, 1 / size, device=device).abs()
        keep = (k[:, None] <= frequencies) & (k[None, :] <= frequencies)
        templates = torch.fft.ifft2(torch.view_as_complex(spectrum) * keep).real
        templates = (templates - templates.mean((1, 2, 3), keepdim=True)) / templates.std((1, 2, 3), keepdim=True)
    labels = torch.arange(n, device=device) % classes
    labels = labels[torch.randperm(n, generator=generator, device=device)]
    shift = torch.randint(size, (2, n, 1), generator=generator, device=device)
    rows = ((torch.arange(size, device=device) + shift[0]) % size)[:, None, :, None]  # [n, 1, size, 1]
    cols = ((torch.arange(size, device=device) + shift[1]) % size)[:, None, None, :]  # [n, 1, 1, size]
    images = templates[labels[:, None, None, None], torch.arange(3, device=device)[None, :, None, None], rows, cols]
    images = images + noise * torch.randn(images.shape, generator=generator, device=device)
    return images, labels, templates
