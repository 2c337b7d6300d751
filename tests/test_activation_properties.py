"""Property-based checks of the activations registry, in the style of PyTorch's OpInfo tests.

The generic tests run once per registry entry and hold each stated fact against torch's implementation
over hypothesis-generated inputs: the hand-written derivative, gradcheck, the one-sided derivatives at
kinks, the output range and finiteness in low precision, monotonicity, zero-centring, the init. The
identities of particular entries (sigmoid, tanh, ReLU, leaky ReLU, ELU, SELU) follow.

bfloat16 has only 65,280 finite values, so its range and monotonicity checks run on every one of them.
"""
from __future__ import annotations

import functools
import math
import typing
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings, strategies as st
from scipy import integrate, optimize
from torch import Tensor

from models.activations import ACTIVATIONS, FAMILY_INIT, SELU_ALPHA, SELU_LAMBDA, ActivationInfo, Init, elu, leaky_relu

F64 = torch.float64
EPS64 = torch.finfo(F64).eps
# float64: autograd forms some derivatives from a rounded output (1 - tanh^2, s * (1 - s)), which loses
# precision absolutely, a few ulps of 1, where the derivative is tiny; 2^-46 is 64 ulps of 1, and the
# relative part stays 1e-9. The worst seen is 1.6e-16 absolute beyond rtol (sigmoid near x = 15).
F64_TOL = {"rtol": 1e-9, "atol": 2.0 ** -46}
# bfloat16 keeps 8 significant bits (relative spacing 2^-8 to 2^-7): autograd rounds the saved output and
# the result to it, so about two bfloat16 ulps of derivatives that are at most ~1.8 in size.
BF16_TOL = {"rtol": 1e-2, "atol": 1e-2}
DERIVATIVE_INPUTS = 1e4         # magnitudes up to which derivatives are compared
GRADCHECK_MARGIN = 1e-3         # gradcheck's central differences (eps 1e-6) must not straddle a kink
# Within 2e-4 of every registry kink the derivative moves by at most 2 per unit length: |f''| <= lambda*alpha
# = 1.76 on SELU's left, <= 1/4 for softplus, 0 for the piecewise-linear ones.
KINK_CURVATURE = 2.0
LOW_PRECISION = (torch.float32, torch.bfloat16)

ENTRIES = list(ACTIVATIONS.values())
# A generic test runs once per entry (and dtype): half the profile's examples each, every example a
# vector of up to 64 points, keeps the file under 10 s on one core.
per_entry = settings(max_examples=max(10, settings.default.max_examples // 2))


def over(entries: list[ActivationInfo]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("act", entries, ids=[a.name for a in entries])


each_activation = over(ENTRIES)
each_kinked_activation = over([a for a in ENTRIES if a.kinks])
each_monotone_activation = over([a for a in ENTRIES if a.monotone])
each_non_monotone_activation = over([a for a in ENTRIES if not a.monotone])


def require_stated(act: ActivationInfo, *facts: str) -> None:
    """Skip where a fact the test holds against torch was measured (it would be compared with itself) or is
    unknown (a user's entry that did not state it and from which it cannot be measured)."""
    for fact in facts:
        if fact in act.measured:
            pytest.skip(f"{act.name}: its {fact} was measured, not stated, so there is nothing to hold it against; "
                        "state it in a UserActivation to have it checked")
        if getattr(act, fact) is None:
            pytest.skip(f"{act.name}: its {fact} is unknown; state it in a UserActivation to have it checked")


# --- inputs -------------------------------------------------------------------------------------------

def floats_of(dtype: torch.dtype, bound: float | None = None) -> st.SearchStrategy[float]:
    """Finite floats of `dtype` (bfloat16: float32 values, rounded to bfloat16 by `as_tensor`)."""
    bound = torch.finfo(dtype).max if bound is None else bound
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64 if dtype == F64 else 32)


def extremes(dtype: torch.dtype) -> list[float]:
    """Zeros, the largest and smallest normal values, the smallest subnormal, +-1e4 and +-3e38 where they fit."""
    info = torch.finfo(dtype)
    magnitudes = [1e4, 3e38, info.max, info.tiny, info.tiny * info.eps]
    return [0.0, -0.0] + [s * m for m in magnitudes if m <= info.max for s in (1.0, -1.0)]


def vectors(elements: st.SearchStrategy[float], max_size: int = 64) -> st.SearchStrategy[list[float]]:
    return st.lists(elements, min_size=1, max_size=max_size)


def as_tensor(values: list[float], dtype: torch.dtype = F64) -> Tensor:
    return torch.tensor(values, dtype=F64).to(dtype)


@functools.cache
def all_finite_bfloat16() -> Tensor:
    every_pattern = torch.arange(-2 ** 15, 2 ** 15, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    return every_pattern[every_pattern.isfinite()].sort().values


def off_kinks(x: Tensor, act: ActivationInfo, margin: float = 0.0) -> Tensor:
    """x without the points within `margin` of a kink (margin 0: without the kinks themselves)."""
    keep = torch.ones_like(x, dtype=torch.bool)
    for point in act.kinks:
        keep &= (x.double() - point).abs() > margin
    return x[keep]


def autograd_derivative(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x).sum(), x)
    return grad


def next_up(x: Tensor) -> Tensor:
    return torch.nextafter(x, torch.full_like(x, math.inf))


# --- 1, 2: the derivative ---------------------------------------------------------------------------

@each_activation
@per_entry
@given(values=vectors(floats_of(F64, DERIVATIVE_INPUTS)))
def test_autograd_matches_the_hand_written_derivative_in_float64(act, values):
    require_stated(act, "derivative", "kinks")
    x = off_kinks(as_tensor(values), act)
    torch.testing.assert_close(autograd_derivative(act.fn, x), act.derivative(x), **F64_TOL)


@each_activation
@per_entry
@given(values=vectors(floats_of(torch.bfloat16, DERIVATIVE_INPUTS)))
def test_autograd_in_bfloat16_matches_the_hand_written_derivative_to_about_1e_2(act, values):
    require_stated(act, "derivative", "kinks")
    x = off_kinks(as_tensor(values, torch.bfloat16), act)
    torch.testing.assert_close(autograd_derivative(act.fn, x).double(), act.derivative(x.double()), **BF16_TOL)


@each_activation
@per_entry
@given(values=vectors(floats_of(F64, DERIVATIVE_INPUTS), max_size=8))
def test_gradcheck_passes_away_from_kinks(act, values):
    require_stated(act, "kinks")
    x = off_kinks(as_tensor(values), act, GRADCHECK_MARGIN)
    assert torch.autograd.gradcheck(act.fn, (x.requires_grad_(),))


# --- 3: kinks -------------------------------------------------------------------------------------------

@each_kinked_activation
@per_entry
@given(offset=st.floats(1e-10, 1e-7))
def test_autograd_just_beside_a_kink_gives_its_one_sided_derivatives(act, offset):
    for point, sides in act.kinks.items():
        beside = autograd_derivative(act.fn, torch.tensor([point - offset, point + offset], dtype=F64))
        torch.testing.assert_close(beside, torch.tensor(sides, dtype=F64), rtol=0,
                                   atol=KINK_CURVATURE * offset + F64_TOL["atol"])


@each_kinked_activation
@per_entry
@given(step=st.floats(1e-6, 1e-4))
def test_difference_quotients_on_one_side_of_a_kink_give_its_one_sided_derivatives(act, step):
    """Each quotient uses two points on the same side and never the kink itself: softplus's value jumps
    there by 2e-9, which a quotient from the kink point across it would read as slope."""
    for point, sides in act.kinks.items():
        x = torch.tensor([point - 2 * step, point - step, point + step, point + 2 * step], dtype=F64)
        y = act.fn(x)
        quotients = (y[[1, 3]] - y[[0, 2]]) / (x[[1, 3]] - x[[0, 2]])  # the x differences are exact (Sterbenz)
        truncation = KINK_CURVATURE * 2 * step
        rounding = 8 * EPS64 * y.abs().max().item() / step  # a few ulps on each value, over the step
        torch.testing.assert_close(quotients, torch.tensor(sides, dtype=F64), rtol=0, atol=truncation + rounding)


@each_kinked_activation
def test_autograd_at_a_kink_returns_one_of_its_one_sided_derivatives(act):
    for point, sides in act.kinks.items():
        at_kink = autograd_derivative(act.fn, torch.tensor([point], dtype=F64)).item()
        assert any(math.isclose(at_kink, side, rel_tol=4 * EPS64) for side in sides)


# --- 4: range and finiteness in low precision ------------------------------------------------------------

def assert_finite_and_in_range(act: ActivationInfo, x: Tensor) -> None:
    """Outputs are never NaN; finite wherever the exact value fits the dtype (a few ulps below its largest
    value) and the input is within the entry's finite_input_fraction; inside the output range with its ends
    rounded to the dtype. Rounding is monotone, so a value inside the exact range rounds inside the rounded
    one, but no further: silu's minimum -0.27846 rounds to bfloat16's -0.2793, below the registry's -0.2785."""
    y = act(x)
    info = torch.finfo(x.dtype)
    fits = act(x.double()).abs() <= info.max * (1 - 4 * info.eps)
    within_fraction = x.double().abs() <= info.max * act.finite_input_fraction
    lo, hi = (torch.tensor(end, dtype=x.dtype) for end in act.output_range)
    assert not y.isnan().any()
    assert y[fits & within_fraction].isfinite().all()
    assert ((lo <= y) & (y <= hi)).all()


@each_activation
@per_entry
@given(values=vectors(st.one_of(st.sampled_from(extremes(torch.float32)), floats_of(torch.float32))))
def test_float32_outputs_are_finite_and_in_range(act, values):
    assert_finite_and_in_range(act, as_tensor(values, torch.float32))


@each_activation
def test_every_bfloat16_output_is_finite_and_in_range(act):
    assert_finite_and_in_range(act, all_finite_bfloat16())


@over([a for a in ENTRIES if a.finite_input_fraction < 1])
@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_outputs_overflow_just_beyond_the_stated_finite_input_fraction(act, dtype):
    """The other half of the fraction's meaning; several elements, since a lone scalar takes another path."""
    edge = torch.full((8,), torch.finfo(dtype).max * act.finite_input_fraction, dtype=dtype)
    assert act(edge).isfinite().all()
    assert act(next_up(edge)).isinf().all()


# --- 5: monotonicity ---------------------------------------------------------------------------------------

# "Monotone" allows one rounding step (see the registry): x <= y implies f(x) <= next_up(f(y)).

def never_decreases_beyond_a_step(y: Tensor) -> bool:
    return bool((y[:-1] <= next_up(y[1:])).all())


@each_monotone_activation
@pytest.mark.parametrize("dtype", [F64, torch.float32])
@per_entry
@given(data=st.data())
def test_monotone_entries_never_decrease_by_more_than_a_rounding_step(act, dtype, data):
    """Each point comes with its next float up: rounding breaks monotonicity between neighbours, if anywhere.
    A vector's points pass through torch's vectorised loop and its scalar tail, which round differently."""
    x = as_tensor(data.draw(vectors(floats_of(dtype))), dtype)
    x = torch.cat([x, next_up(x)])
    assert never_decreases_beyond_a_step(act(x[x.isfinite()].sort().values))


@each_monotone_activation
def test_monotone_entries_never_decrease_by_more_than_a_step_over_every_bfloat16(act):
    assert never_decreases_beyond_a_step(act(all_finite_bfloat16()))


@each_non_monotone_activation
def test_a_non_monotone_entry_decreases_by_more_than_a_step_at_its_witness(act):
    require_stated(act, "monotone")
    x, y = act.non_monotone_witness
    assert x < y and not never_decreases_beyond_a_step(act(torch.tensor([x, y], dtype=F64)))


# --- 6: identities -------------------------------------------------------------------------------------------

SIGMOID, TANH = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"]
derivative_inputs = vectors(floats_of(F64, DERIVATIVE_INPUTS))


@given(values=derivative_inputs)
def test_the_sigmoid_derivative_is_sigma_times_one_minus_sigma_and_at_most_a_quarter(values):
    """Autograd's s * (1 - s) is at most 1/4 exactly; the registry's closed form e/(1 + e)^2 rounds one ulp
    above it near 0 (at x = 1.3e-11, say). Away from 0 both are strictly below: sigma'(x) = 1/4 - x^2/16 + ...,
    6e-14 below at |x| = 1e-6, far beyond rounding."""
    x = as_tensor(values)
    s = torch.sigmoid(x)
    torch.testing.assert_close(SIGMOID.derivative(x), s * (1 - s), **F64_TOL)
    autograd, closed_form = autograd_derivative(torch.sigmoid, x), SIGMOID.derivative(x)
    assert (autograd <= 0.25).all()
    assert (closed_form <= 0.25 * (1 + EPS64)).all()
    for derivative in (autograd, closed_form):
        assert (derivative[x.abs() >= 1e-6] < 0.25).all()


def test_the_sigmoid_derivative_peaks_at_zero_with_a_quarter():
    zero = torch.zeros(1, dtype=F64)
    assert SIGMOID.derivative(zero).item() == autograd_derivative(torch.sigmoid, zero).item() == 0.25


@given(values=derivative_inputs)
def test_the_sigmoid_derivative_is_below_e_to_the_minus_abs_x(values):
    """Exactly so for the closed form e/(1 + e)^2 (a division by a rounded number >= 1). Autograd forms
    s * (1 - s) from the rounded s: where s is near 1, 1 - s is quantised to ulps of 1 (up to 2^-53 off),
    and elsewhere s is off by an ulp, hence the relative and absolute slack, one ulp each."""
    x = as_tensor(values)
    bound = torch.exp(-x.abs())
    assert (SIGMOID.derivative(x) <= bound).all()
    assert (autograd_derivative(torch.sigmoid, x) <= bound * (1 + EPS64) + EPS64).all()


def test_autograd_sigmoid_derivative_breaks_the_exponential_bound_where_sigma_rounds_near_one():
    """The slack above is needed: at x = 36.5, 1 - s is one ulp of 1, 2.2e-16, against e^-36.5 = 1.4e-16."""
    x = torch.tensor([36.5], dtype=F64)
    assert autograd_derivative(torch.sigmoid, x).item() > math.exp(-36.5)


@given(values=derivative_inputs)
def test_tanh_is_a_rescaled_sigmoid_with_slope_at_most_one(values):
    """2 sigma(2x) - 1 carries about two ulps of 1 absolutely (the subtraction cancels near 0), so 4 ulps.
    Autograd's 1 - tanh^2 is at most 1 exactly; the registry's closed form 4e/(1 + e)^2 rounds one ulp
    above 1 near 0 (at x = 8.6e-15, say)."""
    x = as_tensor(values)
    torch.testing.assert_close(torch.tanh(x), 2 * torch.sigmoid(2 * x) - 1, rtol=0, atol=4 * EPS64)
    assert (autograd_derivative(torch.tanh, x) <= 1).all()
    assert (TANH.derivative(x) <= 1 + EPS64).all()


def test_the_tanh_derivative_is_one_at_zero():
    zero = torch.zeros(1, dtype=F64)
    assert TANH.derivative(zero).item() == autograd_derivative(torch.tanh, zero).item() == 1.0


def ones_where_positive_else(x: Tensor, value: float) -> Tensor:
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, value))


@given(values=vectors(st.one_of(st.just(0.0), floats_of(F64))))
def test_the_relu_derivative_is_zero_or_one(values):
    x = as_tensor(values)
    derivative = autograd_derivative(ACTIVATIONS["relu"].fn, x)
    assert set(derivative.tolist()) <= {0.0, 1.0}
    assert torch.equal(derivative, ones_where_positive_else(x, 0.0))


@given(slope=st.floats(0.0, 1.0), values=vectors(st.one_of(st.just(0.0), floats_of(F64, DERIVATIVE_INPUTS))))
def test_the_leaky_relu_derivative_is_its_slope_or_one(slope, values):
    act, x = leaky_relu(slope), as_tensor(values)
    derivative = autograd_derivative(act.fn, x)
    assert set(derivative.tolist()) <= {slope, 1.0}
    assert torch.equal(derivative, ones_where_positive_else(x, slope))
    assert act.kinks == {0.0: (slope, 1.0)}


@given(alpha=st.one_of(st.just(1.0), st.floats(0.1, 3.0)))
@example(alpha=1.0)
def test_elu_is_continuously_differentiable_at_zero_exactly_when_alpha_is_one(alpha):
    """The limits of the derivative at 0, read by autograd at the smallest subnormals on either side:
    alpha * e^(-5e-324) is alpha exactly, so left and right agree iff alpha == 1."""
    act = elu(alpha)
    tiny = torch.finfo(F64).tiny * EPS64
    left, right = autograd_derivative(act.fn, torch.tensor([-tiny, tiny], dtype=F64)).tolist()
    assert (left, right) == (alpha, 1.0)
    assert (left == right) == (alpha == 1.0)
    assert act.kinks == ({} if alpha == 1.0 else {0.0: (alpha, 1.0)})


def normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def selu_moment(power: int, lam: float, alpha: float) -> float:
    """E[selu(z)^power], z ~ N(0, 1), for SELU with constants (lam, alpha), split at the kink."""
    def expectation(selu_piece: Callable[[float], float], lo: float, hi: float) -> float:
        def weighted(z: float) -> float:
            return selu_piece(z) ** power * normal_pdf(z)
        return integrate.quad(weighted, lo, hi, epsabs=1e-14, epsrel=1e-13)[0]
    return (expectation(lambda z: lam * alpha * math.expm1(z), -math.inf, 0)
            + expectation(lambda z: lam * z, 0, math.inf))


@functools.cache
def selu_fixed_point() -> tuple[float, float]:
    """(lambda, alpha) for which N(0, 1) inputs give outputs of mean 0 and variance 1 (Klambauer et al. 2017),
    solved from (1, 1), knowing nothing of the published constants."""
    def residuals(p):
        return [selu_moment(1, *p), selu_moment(2, *p) - 1]
    solution, _, status, message = optimize.fsolve(residuals, [1.0, 1.0], xtol=1e-13, full_output=True)
    assert status == 1, message
    return float(solution[0]), float(solution[1])


def test_selu_constants_solve_the_self_normalising_fixed_point():
    """quad is asked for 1e-13 and fsolve for 1e-13 relative steps; 1e-12 leaves a margin of ten."""
    lam, alpha = selu_fixed_point()
    assert math.isclose(lam, SELU_LAMBDA, rel_tol=1e-12)
    assert math.isclose(alpha, SELU_ALPHA, rel_tol=1e-12)


@given(values=derivative_inputs)
def test_torch_selu_is_lambda_times_elu_with_alpha(values):
    """The two sides multiply the same numbers in different orders: a few ulps apart."""
    x = as_tensor(values)
    torch.testing.assert_close(F.selu(x), SELU_LAMBDA * F.elu(x, SELU_ALPHA), rtol=4 * EPS64, atol=0)


# Dense near the origin, where the minima of gelu and silu lie (step 5e-5), logarithmic out to +-1e6.
RANGE_GRID = torch.cat([-torch.logspace(6, 1, 501, dtype=F64), torch.linspace(-10, 10, 400_001, dtype=F64),
                        torch.logspace(1, 6, 501, dtype=F64)])
NEARLY_TIGHT = 1e-3
UNBOUNDED = 1e3  # an infinite end must be passed on the grid by this much (the grid reaches 1e6)


def bounds_tightly(end: float, reached: float, direction: float) -> bool:
    """A finite end is passed by no value and lies within NEARLY_TIGHT of the farthest one; an infinite end
    must be approached beyond UNBOUNDED. direction: +1 for the upper end, -1 for the lower."""
    if math.isinf(end):
        return direction * reached > UNBOUNDED
    return 0 <= direction * (end - reached) <= NEARLY_TIGHT


@each_activation
def test_the_output_range_ends_are_bounds_and_nearly_tight(act):
    require_stated(act, "output_range")
    y = act(RANGE_GRID)
    lo, hi = act.output_range
    assert bounds_tightly(lo, y.min().item(), -1.0)
    assert bounds_tightly(hi, y.max().item(), +1.0)


# --- 7: zero-centring ------------------------------------------------------------------------------------

STANDARD_ERRORS = 5  # a zero-centred mean falls outside 5 standard errors of 0 with probability 6e-7


@functools.cache
def standard_normal_sample() -> Tensor:
    """A fixed sample of 2^18 draws: standard error about 2e-3 for functions of unit scale."""
    return torch.randn(2 ** 18, generator=torch.Generator().manual_seed(0), dtype=F64)


@each_activation
def test_zero_centred_entries_average_zero_over_normal_inputs_and_the_others_are_clearly_positive(act):
    require_stated(act, "zero_centered")
    y = act(standard_normal_sample())
    mean, standard_error = y.mean().item(), (y.std() / math.sqrt(y.numel())).item()
    if act.zero_centered:
        assert abs(mean) <= STANDARD_ERRORS * standard_error
        assert act(torch.zeros(1, dtype=F64)).item() == 0.0
    else:
        assert mean > STANDARD_ERRORS * standard_error


# --- 8: initialisation --------------------------------------------------------------------------------------

# The registry's pairing of family and init, and its one exception: Klambauer et al. 2017's SELU, whose fixed point
# needs LeCun's.
FAMILY_INIT_EXCEPTIONS = {"selu": "lecun"}


@over([a for a in ENTRIES if not a.user_given])
def test_every_built_in_entry_recommends_the_init_of_its_family(act):
    assert act.init == FAMILY_INIT_EXCEPTIONS.get(act.name, FAMILY_INIT[act.family])
    assert act.init in typing.get_args(Init)


# --- 9: family, derivative bound, saturation, hard zero -------------------------------------------------------

SLOPE_GRID = torch.cat([torch.linspace(-20, 20, 400_001, dtype=F64), RANGE_GRID])
BOUND_TIGHTNESS = 1e-3     # the stated bound is within this of the largest |f'| on the grid
SATURATED = 1e-3           # |f'| at |x| = 1e3 below this: saturated on that side
FAR_OUT = torch.tensor([-1e3, 1e3], dtype=F64)


@each_activation
def test_the_derivative_bound_holds_and_is_nearly_attained(act):
    require_stated(act, "derivative_bound")
    steepest = autograd_derivative(act.fn, SLOPE_GRID).abs().max().item()
    assert act.derivative_bound - BOUND_TIGHTNESS <= steepest <= act.derivative_bound * (1 + 4 * EPS64)


@each_activation
def test_the_saturation_kind_says_where_the_derivative_vanishes(act):
    require_stated(act, "saturation")
    left, right = (autograd_derivative(act.fn, FAR_OUT).abs() < SATURATED).tolist()
    assert act.saturation == {(True, True): "both sides", (True, False): "negative side",
                              (False, True): "positive side", (False, False): "none"}[(left, right)]


@each_activation
def test_a_hard_zero_means_exactly_zero_on_the_whole_negative_side(act):
    require_stated(act, "hard_zero")
    negative = RANGE_GRID[RANGE_GRID < 0]
    assert bool((act(negative) == 0).all()) == act.hard_zero


@each_activation
def test_the_family_follows_from_the_range_and_the_far_right(act):
    """Saturating: bounded on both sides; rectifier: unbounded above and linear far out on the right."""
    require_stated(act, "family")
    bounded = all(math.isfinite(end) for end in act.output_range)
    far, farther = act(torch.tensor([1e3, 2e3], dtype=F64)).tolist()
    linear_far_right = far > 0 and math.isclose(farther / far, 2.0, rel_tol=1e-2)
    assert act.family == ("saturating" if bounded else "rectifier" if linear_far_right else "other")


def test_every_entry_has_its_own_colour_and_name_for_the_plots():
    assert len({act.colour for act in ENTRIES}) == len({act.display for act in ENTRIES}) == len(ENTRIES)
