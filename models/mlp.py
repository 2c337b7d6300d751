"""Fully connected nets as plain tensors, stacked over seeds: weights [S, out, in], inputs [S, N, in].

One function serves one net and S nets alike, since matmul broadcasts over leading dimensions;
this is how all seeds of an experiment train as one batched model.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from models.activations import ActivationInfo, Init, init_std

Params = list[tuple[Tensor, Tensor]]  # (weight [..., out, in], bias [..., out]) per layer
Norms = list[tuple[Tensor, Tensor]]   # (gain [..., features], shift [..., features]) per hidden layer
BATCHNORM_EPS = 1e-5                  # torch.nn.BatchNorm1d's default


def unit_variance_draw(init: Init, shape: tuple[int, ...], generator: torch.Generator,
                       device: torch.device | str, dtype: torch.dtype) -> Tensor:
    """Mean 0, variance 1: uniform on [-sqrt 3, sqrt 3] for the "uniform" scheme, standard normal for the others."""
    if init == "uniform":
        return (2 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1) * math.sqrt(3.0)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


def init_mlp(widths: Sequence[int], init: Init, generators: Sequence[torch.Generator],
             device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             bias: float = 0.0) -> Params:
    """Weights with the scheme's std and distribution, one independent draw per generator (seed), stacked."""
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        std = init_std(init, fan_in, fan_out)
        w = torch.stack([unit_variance_draw(init, (fan_out, fan_in), g, device, dtype) for g in generators])
        params.append((w * std, torch.full((len(generators), fan_out), bias, device=device, dtype=dtype)))
    return params


def init_batchnorm(widths: Sequence[int], seeds: int, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> Norms:
    """Gain 1 and shift 0 for every hidden layer of every seed, as torch.nn.BatchNorm1d starts."""
    return [(torch.ones(seeds, w, device=device, dtype=dtype), torch.zeros(seeds, w, device=device, dtype=dtype))
            for w in widths[1:-1]]


def batch_norm(x: Tensor, gain: Tensor, shift: Tensor, examples_dim: int = -2) -> Tensor:
    """Normalise each feature over the examples of its own seed, with the batch's statistics.

    There are no running averages: evaluation normalises with the evaluated set's own statistics,
    which for the large evaluation batches of the fast tier is close to what running averages give.
    """
    centered = x - x.mean(examples_dim, keepdim=True)
    var = centered.square().mean(examples_dim, keepdim=True)  # an order of magnitude faster than Tensor.var on CPU
    scale = torch.rsqrt(var + BATCHNORM_EPS) * gain.unsqueeze(examples_dim)
    return centered * scale + shift.unsqueeze(examples_dim)


def _columns_layer(params: tuple[Tensor, Tensor], h: Tensor) -> Tensor:
    """h [..., in, N] -> [..., out, N]: examples as columns, the long contiguous dimension.

    For narrow layers over many examples the batched matmul and the elementwise ops are several times
    faster in this layout than with examples as rows, and the backward pass stays in it too.
    """
    w, b = params
    return w @ h + b.unsqueeze(-1)


def layer(params: tuple[Tensor, Tensor], x: Tensor) -> Tensor:
    """x [..., N, in] -> [..., N, out]."""
    return _columns_layer(params, x.mT).mT


def mlp_forward(params: Params, x: Tensor, act: ActivationInfo, keep: bool = False, norms: Norms | None = None):
    """Hidden layers apply `act`; the last layer is linear. With keep=True also return each hidden layer's
    (pre-activation, activation). With `norms`, each hidden block is FC -> BatchNorm -> activation, and the
    pre-activation is the normalised value the activation receives. Inputs and outputs are [..., N, features];
    inside, examples are columns (see _columns_layer), and the outputs are transposed views of that."""
    h = x.mT
    hidden = []
    for i, p in enumerate(params[:-1]):
        pre = _columns_layer(p, h)
        if norms is not None:
            pre = batch_norm(pre, *norms[i], examples_dim=-1)
        h = act(pre)
        hidden.append((pre.mT, h.mT))
    out = _columns_layer(params[-1], h).mT
    return (out, hidden) if keep else out
