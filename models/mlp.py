"""Fully connected nets as plain tensors, stacked over seeds: weights [S, out, in], inputs [S, N, in].

One function serves one net and S nets alike, since matmul broadcasts over leading dimensions;
this is how all seeds of an experiment train as one batched model.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from models.activations import Activation, Init, init_std

Params = list[tuple[Tensor, Tensor]]  # (weight [..., out, in], bias [..., out]) per layer
Norms = list[tuple[Tensor, Tensor]]   # (gain [..., features], shift [..., features]) per hidden layer
BATCHNORM_EPS = 1e-5                  # torch.nn.BatchNorm1d's default


def init_mlp(widths: Sequence[int], init: Init, generators: Sequence[torch.Generator],
             device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             bias: float = 0.0) -> Params:
    """Normal weights with the scheme's std, one independent draw per generator (seed), stacked."""
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        std = init_std(init, fan_in, fan_out)
        w = torch.stack([torch.randn(fan_out, fan_in, generator=g, device=device, dtype=dtype) for g in generators])
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
    mean = x.mean(examples_dim, keepdim=True)
    var = x.var(examples_dim, unbiased=False, keepdim=True)
    scale = torch.rsqrt(var + BATCHNORM_EPS) * gain.unsqueeze(examples_dim)
    return (x - mean) * scale + shift.unsqueeze(examples_dim)


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


def mlp_forward(params: Params, x: Tensor, act: Activation, keep: bool = False, norms: Norms | None = None):
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
