"""ReLU nets are affine on each activation pattern, and symmetric/antisymmetric targets cost ReLUs twice the units.

Once the pattern of active units is fixed, every ReLU is a fixed 0/1 mask, so the net is a product of affine maps.

The analytic bound for one unit g(x) = a relu(w x + b) + c on a grid of [-L, L]: g is monotone. |x| runs against
g's direction on one half of the interval, where the best monotone fit is a constant costing that half's variance,
at least L^2/12, over half the points or more: MSE >= L^2/24. Without a bias (b = 0), g is constant on one half, so
the identity costs the same L^2/24.
"""
import math

import torch
from hypothesis import given, strategies as st
from torch import Tensor

from harness.claim import Claim
from harness.experiments.seeding import derive_seeds
from harness.stats import all_of, exact_test
from harness.verdicts import Decision
from models.activations import ACTIVATIONS, ActivationInfo
from models.mlp import Params, init_mlp, mlp_forward

PIECEWISE = Claim(
    id="relu-piecewise-linear",
    source="002_f53af5c4161cb5ad.txt",
    quote="The function computed ... is thus linear by parts",
    statement="A ReLU net is exactly affine on each activation-pattern region (same pattern => f(x) = J x + c with "
              "the region's Jacobian); bias-free ReLU nets are positively homogeneous, f(alpha x) = alpha f(x) for "
              "alpha > 0.",
)
TWICE = Claim(
    id="relu-needs-twice-the-units",
    source="002_f53af5c4161cb5ad.txt",
    quote="a rectifier network would need twice as many hidden units",
    statement="x = relu(x) - relu(-x), |x| = relu(x) + relu(-x) exactly; one ReLU unit cannot fit the identity on a "
              "symmetric interval (error bounded below), two can exactly; tanh fits an antisymmetric target with half "
              "the units.",
)

NETS, POINTS, WIDTHS = 8, 256, (4, 32, 32, 32, 1)
LOG10_STEPS = (-4.0, -1.0)   # x' - x has length 10^U(-4, -1) times |x|: near pairs and far ones
LOG10_SCALES = (-3.0, 3.0)   # homogeneity factors alpha = 10^U(-3, 3)
FLOAT64_TOL = 1e-10          # rounding in these float64 nets is ~1e-15; curvature errors are far above 1e-10
MIN_SHARED = 100             # pairs that must share a pattern, so the affinity check is not vacuous


PROTOCOL = {"fast": {"task": f"{POINTS} random inputs per net, and 1-D targets on a grid of [-1, 1]",
                     "model": f"{NETS} random ReLU MLPs {WIDTHS}; one- and two-unit ReLU fits",
                     "optimizer": "none: fits are exact least squares over a dense grid of kinks", "seeds": NETS,
                     "evaluation": "worst error of the affine model on shared activation patterns; a fit's mean "
                                   "squared error against the analytic bound"}}


def relu_nets(rng: torch.Generator, seed: int, biased: bool) -> Params:
    """NETS He-initialised float64 nets, [NETS, out, in] weights; biases N(0, 0.1^2) when `biased`, else zero."""
    generators = [torch.Generator(rng.device).manual_seed(s) for s in derive_seeds(seed, NETS, "nets")]
    params = init_mlp(WIDTHS, "he", generators, device=rng.device, dtype=torch.float64)
    if not biased:
        return params
    return [(w, 0.1 * torch.randn(b.shape, generator=rng, device=rng.device, dtype=torch.float64)) for w, b in params]


def log_uniform(bounds: tuple[float, float], shape: tuple[int, ...], rng: torch.Generator) -> Tensor:
    lo, hi = bounds
    return 10 ** (lo + (hi - lo) * torch.rand(shape, generator=rng, device=rng.device, dtype=torch.float64))


def activation_pattern(params: Params, x: Tensor) -> Tensor:
    _, hidden = mlp_forward(params, x, ACTIVATIONS["relu"], keep=True)
    return torch.cat([pre > 0 for pre, _ in hidden], dim=-1)


def value_and_jacobian(params: Params, x: Tensor, act: ActivationInfo) -> tuple[Tensor, Tensor]:
    """f(x) [NETS, POINTS] and its Jacobian [NETS, POINTS, in]: each output depends on its own input only."""
    x = x.detach().requires_grad_()
    out = mlp_forward(params, x, act).squeeze(-1)
    (jacobian,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), jacobian


def worst_affine_error(params: Params, act: ActivationInfo, x: Tensor, x2: Tensor, shared: Tensor) -> float:
    """max over pairs sharing a ReLU pattern of |f(x') - f(x) - J(x)(x' - x)| / (1 + |f(x')|)."""
    f, jacobian = value_and_jacobian(params, x, act)
    f2 = mlp_forward(params, x2, act).squeeze(-1).detach()
    error = (f2 - f - (jacobian * (x2 - x)).sum(-1)).abs() / (1 + f2.abs())
    return float(error[shared].max())


def affine_on_regions_rule(error: float, shared: int, name: str) -> Decision:
    return all_of([exact_test(error, FLOAT64_TOL, name=f"{name}: worst |f(x') - f(x) - J(x)(x' - x)|"),
                   exact_test(shared, MIN_SHARED, side="above", name="pairs sharing a ReLU pattern")],
                  name=f"{name} affine on ReLU regions")


@PIECEWISE.check(expected="supported")
def test_a_relu_net_is_exactly_affine_where_the_activation_pattern_is_fixed(scale, evidence, rng, check_seed):
    params = relu_nets(rng, check_seed, biased=True)
    kw = dict(generator=rng, device=rng.device, dtype=torch.float64)
    x = torch.randn(NETS, POINTS, WIDTHS[0], **kw)
    direction = torch.nn.functional.normalize(torch.randn(x.shape, **kw), dim=-1)
    x2 = x + log_uniform(LOG10_STEPS, (NETS, POINTS, 1), rng) * x.norm(dim=-1, keepdim=True) * direction
    shared = (activation_pattern(params, x) == activation_pattern(params, x2)).all(-1)
    relu = worst_affine_error(params, ACTIVATIONS["relu"], x, x2, shared)
    tanh = worst_affine_error(params, ACTIVATIONS["tanh"], x, x2, shared)  # same weights, same pairs
    evidence.measure(relu_worst_error=relu, tanh_worst_error=tanh, pairs_sharing_pattern=int(shared.sum()),
                     pairs=shared.numel())
    evidence.conclude(affine_on_regions_rule(relu, int(shared.sum()), "relu"),
                      mechanism_removed=affine_on_regions_rule(tanh, int(shared.sum()), "tanh"))


def worst_homogeneity_error(params: Params, rng: torch.Generator) -> float:
    """max |f(alpha x) - alpha f(x)| / (alpha (1 + |f(x)|)) over points and alpha = 10^U(-3, 3)."""
    x = torch.randn(NETS, POINTS, WIDTHS[0], generator=rng, device=rng.device, dtype=torch.float64)
    alpha = log_uniform(LOG10_SCALES, (NETS, POINTS, 1), rng)
    relu = ACTIVATIONS["relu"]
    f, f_scaled = mlp_forward(params, x, relu), mlp_forward(params, alpha * x, relu)
    return float(((f_scaled - alpha * f).abs() / (alpha * (1 + f.abs()))).max())


@PIECEWISE.check(expected="supported")
def test_a_bias_free_relu_net_is_positively_homogeneous(scale, evidence, rng, check_seed):
    bias_free = worst_homogeneity_error(relu_nets(rng, check_seed, biased=False), rng)
    biased = worst_homogeneity_error(relu_nets(rng, check_seed, biased=True), rng)  # the same weights plus biases
    evidence.measure(bias_free_worst_error=bias_free, biased_worst_error=biased)
    evidence.conclude(exact_test(bias_free, FLOAT64_TOL, name="bias-free: worst |f(ax) - a f(x)| / a(1 + |f|)"),
                      mechanism_removed=exact_test(biased, FLOAT64_TOL,
                                                   name="biased: worst |f(ax) - a f(x)| / a(1 + |f|)"))


# --- relu-needs-twice-the-units: least-squares fits on a dense grid of [-L, L] ---------------------------------

HALF_WIDTH, GRID_POINTS = 1.0, 1001
ANALYTIC_BOUND = HALF_WIDTH ** 2 / 24  # see the module docstring
FIT_TOL = 1e-8                         # a fit "succeeds" when its mean squared error is below this
TANH_WIDTHS = (1.0, 0.1, 0.01, 0.001)  # a tanh(w x) / w -> x as w -> 0


def interval(half_width: float, points: int) -> Tensor:
    return torch.linspace(-half_width, half_width, points, dtype=torch.float64)


def kinks_anywhere(half_width: float) -> Tensor:
    """Kink positions over [-2L, 2L]: inside the interval, on its ends (exactly) and beyond them."""
    return torch.linspace(-2 * half_width, 2 * half_width, 401, dtype=torch.float64)


def residual_mse(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared residual of the least-squares fit target ~ a feature + c, one per row of features [K, N]."""
    centered = features - features.mean(-1, keepdim=True)
    centered_target = target - target.mean()
    power = (centered ** 2).sum(-1, keepdim=True)
    slope = torch.where(power > 0, (centered * centered_target).sum(-1, keepdim=True) / power, 0.0)  # 0: constant
    return ((centered_target - slope * centered) ** 2).mean(-1)


def best_one_relu_unit_mse(x: Tensor, target: Tensor, kinks: Tensor) -> float:
    """min over a relu(w x + b) + c: w's sign picks the active side, |w| folds into a, b = -w t places the kink at t."""
    kinks = kinks[:, None]
    features = torch.cat([torch.relu(x - kinks), torch.relu(kinks - x)])
    return float(residual_mse(features, target).min())


def relu_pair_mse(x: Tensor, target: Tensor) -> float:
    """Two bias-free units and an output bias: target ~ a relu(x) + b relu(-x) + c."""
    basis = torch.stack([torch.ones_like(x), torch.relu(x), torch.relu(-x)], dim=-1)
    coefficients = torch.linalg.lstsq(basis, target[:, None]).solution
    return float(((basis @ coefficients).squeeze(-1) - target).pow(2).mean())


def bias_free_tanh_unit_mse(x: Tensor, target: Tensor) -> list[float]:
    """Per w in TANH_WIDTHS, the best a tanh(w x) for the target."""
    features = torch.tanh(torch.tensor(TANH_WIDTHS, dtype=x.dtype)[:, None] * x)
    a = (features * target).sum(-1, keepdim=True) / (features ** 2).sum(-1, keepdim=True)
    return ((a * features - target) ** 2).mean(-1).tolist()


def relu_fits(x: Tensor, target: Tensor, kinks: Tensor) -> dict[str, float]:
    return {"one_unit_mse": best_one_relu_unit_mse(x, target, kinks), "pair_mse": relu_pair_mse(x, target)}


def needs_two_relu_units(fits: dict[str, float], name: str) -> Decision:
    """One unit's best error stays above the analytic bound L^2/24 (so above FIT_TOL); a bias-free pair fits exactly."""
    one = fits["one_unit_mse"]
    return all_of([exact_test(one, FIT_TOL, side="above", name=f"best one-ReLU-unit MSE on {name}"),
                   exact_test(one / ANALYTIC_BOUND, 1.0, side="above", name=f"one-unit MSE on {name} / bound L^2/24"),
                   exact_test(fits["pair_mse"], FIT_TOL, name=f"ReLU-pair MSE on {name}")],
                  name=f"{name} needs two ReLU units")


@TWICE.check(expected="supported")
def test_relu_pairs_give_the_identity_and_the_absolute_value_exactly(scale, evidence, rng):
    kw = dict(generator=rng, device=rng.device, dtype=torch.float64)
    extremes = torch.tensor([0.0, -0.0, 5e-324, -5e-324, math.inf, -math.inf], device=rng.device, dtype=torch.float64)
    x64 = torch.cat([10 ** (60 * torch.rand(4096, **kw) - 30) * torch.randn(4096, **kw), extremes])
    mismatches = {str(x.dtype): int(((torch.relu(x) - torch.relu(-x) != x)
                                     | (torch.relu(x) + torch.relu(-x) != x.abs())).sum()) for x in (x64, x64.float())}
    one_unit = sum(int((torch.relu(x) != x).sum()) for x in (x64, x64.float()))  # no pair: relu(x) alone
    evidence.measure(pair_mismatches=mismatches, one_unit_mismatches=one_unit)
    evidence.conclude(exact_test(sum(mismatches.values()), 1, name="values where a ReLU pair is inexact"),
                      mechanism_removed=exact_test(one_unit, 1, name="values where relu(x) != x"))


@TWICE.check(expected="supported")
def test_one_relu_unit_cannot_fit_the_absolute_value_and_two_fit_it_exactly(scale, evidence):
    x, kinks = interval(HALF_WIDTH, GRID_POINTS), kinks_anywhere(HALF_WIDTH)
    absolute, relu = relu_fits(x, x.abs(), kinks), relu_fits(x, torch.relu(x), kinks)
    evidence.measure(**absolute, analytic_bound=ANALYTIC_BOUND, control_one_unit_mse=relu["one_unit_mse"])
    # the control target is one ReLU unit already: it needs no second one
    evidence.conclude(needs_two_relu_units(absolute, "|x|"), mechanism_removed=needs_two_relu_units(relu, "relu(x)"))


@TWICE.check(expected="supported")
def test_one_bias_free_relu_unit_cannot_fit_the_identity_where_one_tanh_unit_can(scale, evidence):
    x, at_origin = interval(HALF_WIDTH, GRID_POINTS), torch.zeros(1, dtype=torch.float64)
    identity, relu = relu_fits(x, x, at_origin), relu_fits(x, torch.relu(x), at_origin)
    tanh = bias_free_tanh_unit_mse(x, x)
    decision = all_of([needs_two_relu_units(identity, "x"),
                       exact_test(tanh[-1], FIT_TOL, name=f"tanh-unit MSE on x at w = {TANH_WIDTHS[-1]:g}")],
                      name="bias-free: relu needs two units for x, tanh one")
    evidence.measure(**identity, analytic_bound=ANALYTIC_BOUND, tanh_widths=list(TANH_WIDTHS), tanh_unit_mse=tanh)
    evidence.conclude(decision, mechanism_removed=needs_two_relu_units(relu, "relu(x)"))


@TWICE.check(expected="refuted", reason="on a bounded interval one ReLU unit with a bias fits the identity exactly: "
             "put the kink outside, relu(x + L) - L = x on [-L, L]. Two units are needed only without the bias, "
             "on an unbounded domain, or for a symmetric target such as |x|")
def test_one_relu_unit_with_a_bias_cannot_fit_the_identity_on_a_bounded_interval(scale, evidence):
    x, kinks = interval(HALF_WIDTH, GRID_POINTS), kinks_anywhere(HALF_WIDTH)
    identity, relu = relu_fits(x, x, kinks), relu_fits(x, torch.relu(x), kinks)
    evidence.measure(**identity)
    evidence.conclude(needs_two_relu_units(identity, "x"), mechanism_removed=needs_two_relu_units(relu, "relu(x)"))


@given(half_width=st.floats(0.1, 10.0), points=st.integers(3, 400))
def test_one_relu_unit_stays_above_the_bound_for_the_absolute_value_on_any_grid(half_width, points):
    x = interval(half_width, points)
    assert best_one_relu_unit_mse(x, x.abs(), kinks_anywhere(half_width)) >= half_width ** 2 / 24
