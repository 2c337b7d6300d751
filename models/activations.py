"""The activations registry, in the spirit of PyTorch's OpInfo: one entry of data per activation.

Each entry pairs the library's implementation (what is under test) with a derivative written out by hand,
independent of autograd, and every fact the claims, tests and plots lean on: output range, zero-centring, kinks
with their one-sided derivatives, monotonicity (or a witness against it), the initialisation the literature
recommends, its family, how it saturates, whether it has a hard zero, the bound on its derivative, and how the
report draws it. Generic property tests and checks iterate over ACTIVATIONS; nothing else keeps its own list.

A user's activation (models.user_activations) is an entry too. Facts it does not state are measured where they can
be and named in `measured`; a fact left None is unknown, and the checks that need it skip, saying which.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

Init = Literal["he", "xavier", "lecun", "uniform"]  # uniform: U[-1/sqrt(fan_in), 1/sqrt(fan_in)], see init_std
INITS: tuple[Init, ...] = get_args(Init)
# rectifier: unbounded above and linear far out on the right (ReLU and its smooth or leaky kin);
# saturating: bounded on both sides (sigmoid, tanh, softsign); other: neither.
Family = Literal["rectifier", "saturating", "other"]
# The init each family is paired with in the literature: He et al. 2015 for the rectifiers, Glorot & Bengio 2010
# for the saturating ones, LeCun's variance 1 / fan_in for anything else. SELU's entry states its own exception.
FAMILY_INIT: dict[Family, Init] = {"rectifier": "he", "saturating": "xavier", "other": "lecun"}
# Where the derivative goes to 0 far from the origin: on both sides, on one side only, or nowhere.
Saturation = Literal["both sides", "negative side", "positive side", "none"]

# Klambauer et al. 2017: the constants that make (mean 0, variance 1) a fixed point of a SELU layer.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
SOFTPLUS_THRESHOLD = 20.0  # torch's default: softplus returns x itself above this


@dataclass(frozen=True)
class ActivationInfo:
    name: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    output_range: tuple[float, float] | None  # closed hull of the outputs; floats round onto open ends
    zero_centered: bool | None
    init: Init | None
    family: Family
    display: str                              # the name as reports and plots print it
    colour: str                               # its colour in every plot (matplotlib colour)
    derivative_bound: float | None            # sup |f'|, nearly attained
    saturation: Saturation | None
    hard_zero: bool | None                    # exactly 0 on the whole negative half-line, so units can be silent
    # x < y where f(x) lies above f(y) by more than a rounding step, in float64, as torch computes f; None for an
    # entry that never decreases by more than one rounding step (torch's vectorised loop and its scalar tail may
    # round the same input differently: selu, by an ulp).
    non_monotone_witness: tuple[float, float] | None = None
    kinks: dict[float, tuple[float, float]] | None = field(default_factory=dict)  # point -> (left, right); None: unknown
    # Inputs up to this fraction of the dtype's largest finite value give finite outputs wherever the exact
    # output is finite; below 1 where a torch kernel overflows an intermediate first.
    finite_input_fraction: float = 1.0
    measured: frozenset[str] = frozenset()    # facts the harness measured rather than the entry stated
    origin: str = "built-in"                  # where a user's entry came from: MODULE:ATTR or an entry point

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)

    @property
    def monotone(self) -> bool:
        return self.non_monotone_witness is None

    @property
    def user_given(self) -> bool:
        return self.origin != "built-in"


def logistic(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), written out: the derivatives below must not lean on the functions they check."""
    return 1.0 / (1.0 + torch.exp(-x))


def _one_where_positive(x: Tensor, otherwise: Tensor | float) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), otherwise * torch.ones_like(x))


def leaky_relu(slope: float = 0.01) -> ActivationInfo:
    default = slope == 0.01
    return ActivationInfo(
        name="leaky_relu" if default else f"leaky_relu({slope:g})",
        fn=lambda x: F.leaky_relu(x, slope),
        derivative=lambda x: _one_where_positive(x, slope),
        output_range=(-math.inf, math.inf), zero_centered=False, init="he", family="rectifier",
        display="leaky ReLU" if default else f"leaky ReLU ({slope:g})", colour="C4" if default else "navy",
        derivative_bound=1.0, saturation="none", hard_zero=False, kinks={0.0: (slope, 1.0)})


def elu(alpha: float = 1.0) -> ActivationInfo:
    default = alpha == 1.0
    return ActivationInfo(
        name="elu" if default else f"elu({alpha:g})",
        fn=lambda x: F.elu(x, alpha),
        derivative=lambda x: _one_where_positive(x, alpha * torch.exp(torch.clamp(x, max=0))),
        output_range=(-alpha, math.inf), zero_centered=False, init="he", family="rectifier",
        display="ELU" if default else f"ELU ({alpha:g})", colour="C5" if default else "sienna",
        derivative_bound=max(1.0, alpha), saturation="negative side", hard_zero=False,
        kinks={} if default else {0.0: (alpha, 1.0)})


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


ACTIVATIONS: dict[str, ActivationInfo] = {a.name: a for a in [
    ActivationInfo("relu", F.relu, lambda x: _one_where_positive(x, 0.0), (0.0, math.inf), zero_centered=False,
                   init="he", family="rectifier", display="ReLU", colour="C0", derivative_bound=1.0,
                   saturation="negative side", hard_zero=True, kinks={0.0: (0.0, 1.0)}),
    leaky_relu(),
    leaky_relu(0.1),   # document 003: "alpha is often set to 0.1"
    elu(),
    ActivationInfo("selu", F.selu,
                   lambda x: SELU_LAMBDA * _one_where_positive(x, SELU_ALPHA * torch.exp(torch.clamp(x, max=0))),
                   (-SELU_LAMBDA * SELU_ALPHA, math.inf), zero_centered=True, init="lecun", family="rectifier",
                   display="SELU", colour="C6", derivative_bound=SELU_LAMBDA * SELU_ALPHA,  # just left of 0
                   saturation="negative side", hard_zero=False,
                   kinks={0.0: (SELU_LAMBDA * SELU_ALPHA, SELU_LAMBDA)}),
    # torch's vectorised CPU kernel forms x * (1 + erf(x / sqrt 2)) before halving it, so in float32 and
    # bfloat16 gelu(x) is inf for x above half the largest float (tensors of 2 or more elements, torch 2.13).
    # Its derivative peaks at x = sqrt 2: Phi(sqrt 2) + e^-1 / sqrt(pi) = 1.1289. It dips below 0 before x = -1.
    ActivationInfo("gelu", F.gelu, _gelu_derivative, (-0.1700, math.inf), zero_centered=False, init="he",
                   family="rectifier", display="GELU", colour="C8",
                   derivative_bound=0.5 * (1 + math.erf(1.0)) + math.exp(-1.0) / math.sqrt(math.pi),
                   saturation="negative side", hard_zero=False, non_monotone_witness=(-3.0, -1.0),
                   finite_input_fraction=0.5),
    # x sigmoid(x): the derivative peaks at 1.09984 near x = 2.40 (no closed form; found on a fine grid).
    ActivationInfo("silu", F.silu, _silu_derivative, (-0.2785, math.inf), zero_centered=False, init="he",
                   family="rectifier", display="SiLU", colour="C9", derivative_bound=1.0999,  # rounded up
                   saturation="negative side", hard_zero=False, non_monotone_witness=(-5.0, -1.0)),
    # torch's softplus switches to the identity above its threshold: the derivative (and the value)
    # jump there by about e^-20 = 2e-9, which a float64 comparison sees, so the entry says so. The value
    # jumps down, by some 6e5 ulps: softplus(20) = 20 + 2e-9 > softplus(20 + 4e-15), not monotone as computed.
    ActivationInfo("softplus", F.softplus,
                   lambda x: torch.where(x > SOFTPLUS_THRESHOLD, torch.ones_like(x), logistic(x)),
                   (0.0, math.inf), zero_centered=False, init="he", family="rectifier", display="softplus",
                   colour="olive", derivative_bound=1.0, saturation="negative side", hard_zero=False,
                   non_monotone_witness=(SOFTPLUS_THRESHOLD, math.nextafter(SOFTPLUS_THRESHOLD, math.inf)),
                   kinks={SOFTPLUS_THRESHOLD: (1 / (1 + math.exp(-SOFTPLUS_THRESHOLD)), 1.0)}),
    ActivationInfo("sigmoid", torch.sigmoid, _sigmoid_derivative, (0.0, 1.0), zero_centered=False, init="xavier",
                   family="saturating", display="sigmoid", colour="C1", derivative_bound=0.25,  # at 0
                   saturation="both sides", hard_zero=False),
    ActivationInfo("tanh", torch.tanh, _tanh_derivative, (-1.0, 1.0), zero_centered=True, init="xavier",
                   family="saturating", display="tanh", colour="C2", derivative_bound=1.0,  # at 0
                   saturation="both sides", hard_zero=False),
    # Increasing in exact arithmetic, but torch rounds 1 + |x| before dividing, so outputs can drop by two
    # steps: softsign(2^53) = 1 > softsign(2^53 + 2) = 1 - 2^-52; in bfloat16 softsign(-338) > softsign(-336) = -1.
    ActivationInfo("softsign", F.softsign, lambda x: 1 / (1 + x.abs()) ** 2, (-1.0, 1.0), zero_centered=True,
                   init="xavier", family="saturating", display="softsign", colour="C3", derivative_bound=1.0,
                   saturation="both sides", hard_zero=False, non_monotone_witness=(2.0 ** 53, 2.0 ** 53 + 2)),
]}


def of_family(family: Family, *, users: bool = False) -> tuple[str, ...]:
    """The registry's entries of one family, by name; users' entries only when asked for (a document's claim names
    the built-ins it is about, and a user's activation must not change its verdict)."""
    return tuple(name for name, act in ACTIVATIONS.items() if act.family == family and (users or not act.user_given))


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
