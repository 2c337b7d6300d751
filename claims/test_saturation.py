"""Saturated sigmoid units pass almost no gradient back.

sigma'(x) = sigma(x)(1 - sigma(x)) = e^-|x| / (1 + e^-|x|)^2: at most 1/4, reached at 0, and below e^-|x| < eps
once |x| > ln(1/eps). tanh'(x) = 4 e^-2|x| / (1 + e^-2|x|)^2: at most 1, below 4 eps^2 < eps there (eps < 1/4).
Backprop through a sigmoid layer multiplies by W^T diag(sigma'), so k layers shrink a gradient by at least 4^k over
the product of the weights' spectral norms. Every derivative below comes from autograd, in float64.
"""
import math

import torch
from hypothesis import given, strategies as st
from torch import Tensor

from harness.claim import Claim
from harness.stats import all_of, exact_test
from harness.verdicts import Decision
from models.activations import ACTIVATIONS

SATURATION = Claim(
    id="saturation-kills-gradients",
    source="003_18664cc3255f4d6e.txt",
    quote='Saturated neurons "kill" the gradients',
    statement="sigma'(x) = sigma(x)(1 - sigma(x)) <= 1/4, peaks at 0, and falls below eps once |x| > ln(1/eps); "
              "tanh' <= 1, same saturation; so a stack of k sigmoid layers shrinks gradients by at least 4^k times "
              "the weight norms.",
)

EPSILONS = (1e-2, 1e-4, 1e-8)
ROUNDING = 1e-12              # float64 allowance where a bound is attained exactly, as sigma'(0) = 1/4
GRID = torch.linspace(-50.0, 50.0, 20001, dtype=torch.float64)
DEPTHS, STACKS, WIDTH = (1, 2, 3, 4, 6, 8), 64, 16
LOG10_WEIGHT_SCALES = (-1.0, 1.0)   # each stack's weight scale is log-uniform over 0.1..10 (/sqrt(width))
SATURATING_SCALE = 20.0       # pre-activation std of the saturated layer: most units beyond ln(1/eps)


PROTOCOL = {"fast": {"task": "a float64 grid of pre-activations, and standard-normal inputs to random stacks",
                     "model": f"the registry's activations; {STACKS} random sigmoid stacks of width {WIDTH} at "
                              f"depths {DEPTHS}", "optimizer": "none", "seeds": STACKS,
                     "evaluation": "autograd derivatives against their bounds; gradient norms through the stacks "
                                   "against 4^-k times the weights' spectral norms"}}


def autograd_derivative(act_name: str, x: Tensor) -> Tensor:
    x = x.detach().requires_grad_()
    (derivative,) = torch.autograd.grad(ACTIVATIONS[act_name](x).sum(), x)
    return derivative


def probe_points(rng: torch.Generator) -> Tensor:
    """The grid, wide random draws, and points just past each ln(1/eps), where a saturated derivative is largest."""
    kw = dict(generator=rng, device=rng.device, dtype=torch.float64)
    thresholds = torch.tensor([math.log(1 / e) for e in EPSILONS], device=rng.device, dtype=torch.float64)
    past = (thresholds[:, None] * (1 + 1e-3 * torch.rand(len(EPSILONS), 256, **kw))).flatten()
    return torch.cat([GRID.to(rng.device), 20 * torch.randn(4096, **kw), past, -past])


def worst_saturated_ratio(derivative: Tensor, x: Tensor) -> float:
    """max over eps of max_{|x| > ln(1/eps)} |derivative| / eps: below 1 means saturated inputs pass less than eps."""
    return max(float((derivative.abs()[x.abs() > math.log(1 / e)] / e).max()) for e in EPSILONS)


def derivative_facts(act_name: str, x: Tensor) -> dict[str, float]:
    derivative = autograd_derivative(act_name, x)
    at_zero = autograd_derivative(act_name, torch.zeros(1, dtype=x.dtype, device=x.device))
    return {"max": float(derivative.max()), "at_zero": float(at_zero),
            "saturated_over_eps": worst_saturated_ratio(derivative, x)}


def bounded_peaking_at_zero_and_saturating(act_name: str, bound: float, facts: dict[str, float]) -> Decision:
    return all_of([
        exact_test(facts["max"] - bound, ROUNDING, name=f"max {act_name}' - {bound:g}"),
        exact_test(abs(facts["at_zero"] - bound), ROUNDING, name=f"|{act_name}'(0) - {bound:g}|"),
        exact_test(facts["saturated_over_eps"], 1.0, name=f"max {act_name}'/eps beyond ln(1/eps)"),
    ], name=f"{act_name}' <= {bound:g}, peaks at 0, saturates")


def check_derivative_bound(evidence, rng: torch.Generator, act_name: str, control_name: str) -> None:
    bound = ACTIVATIONS[act_name].derivative_bound   # the registry's: 1/4 for sigmoid, 1 for tanh
    x = probe_points(rng)
    facts, control = derivative_facts(act_name, x), derivative_facts(control_name, x)
    evidence.measure(**{f"{act_name}_derivative": facts, f"{control_name}_derivative": control}, points=x.numel())
    evidence.conclude(bounded_peaking_at_zero_and_saturating(act_name, bound, facts),
                      mechanism_removed=bounded_peaking_at_zero_and_saturating(control_name, bound, control))


@SATURATION.check(expected="supported")
def test_sigmoid_derivative_is_at_most_a_quarter_and_vanishes_beyond_log_one_over_eps(scale, evidence, rng):
    check_derivative_bound(evidence, rng, "sigmoid", "relu")  # relu' = 1 for x > 0


@SATURATION.check(expected="supported")
def test_tanh_derivative_is_at_most_one_and_vanishes_beyond_log_one_over_eps(scale, evidence, rng):
    # softsign' = 1/(1+|x|)^2 shares the bound and the peak, but decays polynomially: no exponential saturation
    check_derivative_bound(evidence, rng, "tanh", "softsign")


def random_stack(depth: int, stacks: int, width: int, rng: torch.Generator) -> dict[str, Tensor]:
    """Weights [stacks, depth, width, width], log-uniform scale per stack; biases, an input, an upstream gradient."""
    kw = dict(generator=rng, device=rng.device, dtype=torch.float64)
    lo, hi = LOG10_WEIGHT_SCALES
    weight_scale = 10 ** (lo + (hi - lo) * torch.rand(stacks, 1, 1, 1, **kw)) / math.sqrt(width)
    return {"weights": weight_scale * torch.randn(stacks, depth, width, width, **kw),
            "biases": torch.randn(stacks, depth, width, **kw),
            "x": torch.randn(stacks, width, **kw), "upstream": torch.randn(stacks, width, **kw)}


def gradient_bound_ratio(act_name: str, stack: dict[str, Tensor]) -> Tensor:
    """Per stack: ||dL/dx|| / ((1/4)^k prod_l ||W_l||_2 ||dL/dy||) for y = act(W_k ... act(W_1 x)), L = <dL/dy, y>."""
    weights, biases = stack["weights"], stack["biases"]
    x = stack["x"].clone().requires_grad_()
    y = x
    for layer in range(weights.shape[1]):
        y = ACTIVATIONS[act_name]((weights[:, layer] @ y.unsqueeze(-1)).squeeze(-1) + biases[:, layer])
    (grad_x,) = torch.autograd.grad((stack["upstream"] * y).sum(), x)
    spectral = torch.linalg.matrix_norm(weights, ord=2).prod(-1)
    bound = ACTIVATIONS["sigmoid"].derivative_bound ** weights.shape[1] * spectral * stack["upstream"].norm(dim=-1)
    return grad_x.norm(dim=-1) / bound


def worst_bound_ratio_rule(ratios: dict[int, Tensor], act_name: str) -> Decision:
    worst = max(float(r.max()) for r in ratios.values())
    return exact_test(worst, 1.0, name=f"max {act_name} ||dL/dx|| / ((1/4)^k prod ||W_l|| ||dL/dy||)")


@SATURATION.check(expected="supported")
def test_k_sigmoid_layers_shrink_gradients_by_four_to_the_k_times_the_weight_norms(scale, evidence, rng):
    stacks = {k: random_stack(k, STACKS, WIDTH, rng) for k in DEPTHS}
    sigmoid = {k: gradient_bound_ratio("sigmoid", s) for k, s in stacks.items()}
    relu = {k: gradient_bound_ratio("relu", s) for k, s in stacks.items()}  # same stacks, no 1/4 per layer
    evidence.measure(depths=list(DEPTHS), sigmoid_median_ratio=[float(r.median()) for r in sigmoid.values()],
                     relu_max_ratio=[float(r.max()) for r in relu.values()], stacks_per_depth=STACKS)
    evidence.conclude(worst_bound_ratio_rule(sigmoid, "sigmoid"),
                      mechanism_removed=worst_bound_ratio_rule(relu, "relu"))


def saturating_layer(rng: torch.Generator) -> dict[str, Tensor]:
    """STACKS layers whose pre-activations have std SATURATING_SCALE: most units sit beyond ln(1/eps)."""
    kw = dict(generator=rng, device=rng.device, dtype=torch.float64)
    return {"weights": SATURATING_SCALE / math.sqrt(WIDTH) * torch.randn(STACKS, WIDTH, WIDTH, **kw),
            "x": torch.randn(STACKS, WIDTH, 1, **kw), "upstream": torch.randn(STACKS, WIDTH, 1, **kw)}


def saturated_units_rule(act_name: str, layer: dict[str, Tensor]) -> Decision:
    """Per unit i, ||dL/dW_i|| / (|dL/dy_i| ||x||) from autograd, worst over units beyond ln(1/eps), over eps."""
    weights = layer["weights"].clone().requires_grad_()
    pre = weights @ layer["x"]
    (grad_w,) = torch.autograd.grad((layer["upstream"] * ACTIVATIONS[act_name](pre)).sum(), weights)
    relative = grad_w.norm(dim=-1, keepdim=True) / (layer["upstream"].abs() * layer["x"].norm(dim=-2, keepdim=True))
    return exact_test(worst_saturated_ratio(relative.flatten(), pre.detach().flatten()), 1.0,
                      name=f"max relative weight gradient / eps of {act_name} units beyond ln(1/eps)")


@SATURATION.check(expected="supported")
def test_weights_into_a_saturated_sigmoid_unit_get_less_than_eps_of_the_gradient(scale, evidence, rng):
    layer = saturating_layer(rng)
    decision, control = saturated_units_rule("sigmoid", layer), saturated_units_rule("relu", layer)
    pre = layer["weights"] @ layer["x"]
    evidence.measure(sigmoid_worst_over_eps=decision.effect, relu_worst_over_eps=control.effect,
                     share_beyond_ln_1e8=float((pre.abs() > math.log(1e8)).double().mean()))
    evidence.conclude(decision, mechanism_removed=control)


@given(depth=st.integers(1, 10), width=st.integers(1, 24), seed=st.integers(0, 2**32 - 1))
def test_the_four_to_the_k_bound_holds_for_any_sigmoid_stack(depth, width, seed):
    stack = random_stack(depth, 4, width, torch.Generator().manual_seed(seed))
    assert float(gradient_bound_ratio("sigmoid", stack).max()) <= 1.0
