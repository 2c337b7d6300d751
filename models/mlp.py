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


def layer(params: tuple[Tensor, Tensor], x: Tensor) -> Tensor:
    w, b = params
    return x @ w.transpose(-1, -2) + b.unsqueeze(-2)


def mlp_forward(params: Params, x: Tensor, act: Activation, keep: bool = False):
    """Hidden layers apply `act`; the last layer is linear. With keep=True also return each hidden layer's
    (pre-activation, activation)."""
    hidden = []
    for p in params[:-1]:
        pre = layer(p, x)
        x = act(pre)
        hidden.append((pre, x))
    out = layer(params[-1], x)
    return (out, hidden) if keep else out
