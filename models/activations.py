"""The activations registry, in the spirit of PyTorch's OpInfo: one entry of data per activation.

Each entry pairs the library's implementation (what is under test) with a derivative
written out by hand, independent of autograd, and the facts the claims lean on: output
range, zero-centring, kinks with their one-sided derivatives, monotonicity and the
initialisation the literature recommends. Generic property tests iterate over ACTIVATIONS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Init = Literal["he", "xavier", "lecun", "uniform"]  # uniform: U[-1/sqrt(fan_in), 1/sqrt(fan_in)], see init_std

# Klambauer et al. 2017: the constants that make (mean 0, variance 1) a fixed point of a SELU layer.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
SOFTPLUS_THRESHOLD = 20.0  # torch's default: softplus returns x itself above this


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    output_range: tuple[float, float]  # closed hull of the outputs; floats round onto open ends
    zero_centered: bool
    init: Init
    # x <= y implies f(x) <= f(y) as torch computes f, up to one rounding step: f(x) may be the float just above
    # f(y), as torch's vectorised loop and its scalar tail round the same input differently (selu, by an ulp).
    monotone: bool = True
    kinks: dict[float, tuple[float, float]] = field(default_factory=dict)  # point -> (left, right) derivative
    # Inputs up to this fraction of the dtype's largest finite value give finite outputs wherever the exact
    # output is finite; below 1 where a torch kernel overflows an intermediate first.
    finite_input_fraction: float = 1.0

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)


def logistic(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), written out: the derivatives below must not lean on the functions they check."""
    return 1.0 / (1.0 + torch.exp(-x))


def _one_where_positive(x: Tensor, otherwise: Tensor | float) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), otherwise * torch.ones_like(x))


def leaky_relu(slope: float = 0.01) -> Activation:
    return Activation(
        name="leaky_relu" if slope == 0.01 else f"leaky_relu({slope:g})",
        fn=lambda x: F.leaky_relu(x, slope),
        derivative=lambda x: _one_where_positive(x, slope),
        output_range=(-math.inf, math.inf), zero_centered=False, init="he",
        kinks={0.0: (slope, 1.0)})


def elu(alpha: float = 1.0) -> Activation:
    return Activation(
        name="elu" if alpha == 1.0 else f"elu({alpha:g})",
        fn=lambda x: F.elu(x, alpha),
        derivative=lambda x: _one_where_positive(x, alpha * torch.exp(torch.clamp(x, max=0))),
        output_range=(-alpha, math.inf), zero_centered=False, init="he",
        kinks={} if alpha == 1.0 else {0.0: (alpha, 1.0)})


def _gelu_derivative(x: Tensor) -> Tensor:
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


def _silu_derivative(x: Tensor) -> Tensor:
    s = logistic(x)
    return s * (1 + x * (1 - s))


def _tanh_derivative(x: Tensor) -> Tensor:
    e = torch.exp(-2 * x.abs())  # 1 - tanh^2 = 4 e^{-2|x|} / (1 + e^{-2|x|})^2, exact far into the tails
    return 4 * e / (1 + e) ** 2


def _sigmoid_derivative(x: Tensor) -> Tensor:
    e = torch.exp(-x.abs())
    return e / (1 + e) ** 2


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in [
    Activation("relu", F.relu, lambda x: _one_where_positive(x, 0.0), (0.0, math.inf),
               zero_centered=False, init="he", kinks={0.0: (0.0, 1.0)}),
    leaky_relu(),
    leaky_relu(0.1),   # document 003: "alpha is often set to 0.1"
    elu(),
    Activation("selu", F.selu,
               lambda x: SELU_LAMBDA * _one_where_positive(x, SELU_ALPHA * torch.exp(torch.clamp(x, max=0))),
               (-SELU_LAMBDA * SELU_ALPHA, math.inf), zero_centered=True, init="lecun",
               kinks={0.0: (SELU_LAMBDA * SELU_ALPHA, SELU_LAMBDA)}),
    # torch's vectorised CPU kernel forms x * (1 + erf(x / sqrt 2)) before halving it, so in float32 and
    # bfloat16 gelu(x) is inf for x above half the largest float (tensors of 2 or more elements, torch 2.13).
    Activation("gelu", F.gelu, _gelu_derivative, (-0.1700, math.inf),
               zero_centered=False, init="he", monotone=False, finite_input_fraction=0.5),
    Activation("silu", F.silu, _silu_derivative, (-0.2785, math.inf),
               zero_centered=False, init="he", monotone=False),
    # torch's softplus switches to the identity above its threshold: the derivative (and the value)
    # jump there by about e^-20 = 2e-9, which a float64 comparison sees, so the entry says so. The value
    # jumps down, by some 6e5 ulps: softplus(20) = 20 + 2e-9 > softplus(20 + 4e-15), not monotone as computed.
    Activation("softplus", F.softplus,
               lambda x: torch.where(x > SOFTPLUS_THRESHOLD, torch.ones_like(x), logistic(x)),
               (0.0, math.inf), zero_centered=False, init="he", monotone=False,
               kinks={SOFTPLUS_THRESHOLD: (1 / (1 + math.exp(-SOFTPLUS_THRESHOLD)), 1.0)}),
    Activation("sigmoid", torch.sigmoid, _sigmoid_derivative, (0.0, 1.0), zero_centered=False, init="xavier"),
    Activation("tanh", torch.tanh, _tanh_derivative, (-1.0, 1.0), zero_centered=True, init="xavier"),
    # Increasing in exact arithmetic, but torch rounds 1 + |x| before dividing, so outputs can drop by two
    # steps: softsign(2^53) = 1 > softsign(2^53 + 2) = 1 - 2^-52; in bfloat16 softsign(-338) > softsign(-336) = -1.
    Activation("softsign", F.softsign, lambda x: 1 / (1 + x.abs()) ** 2, (-1.0, 1.0),
               zero_centered=True, init="xavier", monotone=False),
]}


def init_std(scheme: Init, fan_in: int, fan_out: int) -> float:
    """Standard deviation of an initialisation: He 2015, Glorot & Bengio 2010, LeCun 1998 (normal draws), and
    "uniform", the "commonly used heuristic" U[-1/sqrt(fan_in), 1/sqrt(fan_in)] that Glorot & Bengio 2010 (eq. 1)
    start from, whose variance is 1 / (3 fan_in)."""
    if scheme == "he":
        return math.sqrt(2.0 / fan_in)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "uniform":
        return math.sqrt(1.0 / (3 * fan_in))
    return math.sqrt(1.0 / fan_in)
