"""Where activations sit at initialisation: tanh layers average 0, sigmoid layers 1/2.

With weights drawn symmetric about 0 and zero biases, flipping a unit's weights flips the sign of its
pre-activation without changing its distribution. tanh is odd, so its outputs are as likely to be -a as
+a: layer means are 0. Sigmoid is odd about (0, 1/2), so by the same symmetry its layer means are 1/2
whatever the weight scale; small weights add that each unit itself stays near 1/2.
"""
import math

import torch
from torch import Tensor

from harness.claim import Claim
from harness.experiments.seeding import derive_seeds
from harness.stats import all_of, clustered_rate_test, exact_test, within_test
from harness.verdicts import Decision
from models.activations import ACTIVATIONS, Init
from models.mlp import init_mlp, mlp_forward

TANH_ZERO_CENTERED = Claim(
    id="tanh-zero-centered",
    source="003_18664cc3255f4d6e.txt",
    quote="Output can be negative, zero, and positive (zero-centered)",
    statement="tanh is odd and its layer outputs have mean ≈ 0 at init; sigmoid's are ≈ 0.5; tanh still saturates "
              "like sigmoid (tanh(x) = 2σ(2x) − 1).",
)
SIGMOID_HALF = Claim(
    id="sigmoid-half-steady-state",
    source="002_f53af5c4161cb5ad.txt",
    quote="all neurons fire at half their saturation regime",
    statement="With small random weights, every sigmoid layer's mean activation is ≈ 0.5 at init.",
    document={"sigmoid_layer_mean": 0.5},
)

NETS, EXAMPLES, WIDTHS = 16, 128, (32, 64, 64, 64, 64, 64, 1)
NEAR = 0.05                       # "≈": within a tenth of the distance between tanh's 0 and sigmoid's 1/2
SMALL_WEIGHTS = 1 / math.sqrt(3)  # x LeCun std = the std of U[-1/√n, 1/√n], Glorot & Bengio 2010's standard init
LARGE_WEIGHTS = 4.0               # x LeCun std: pre-activations of std 2.4 to 4 in every layer
MIDDLE = (0.25, 0.75)             # the middle half of sigmoid's range, where σ' is at least 3/4 of its peak
MOSTLY = 0.9                      # "all neurons fire near 1/2": over 90% of activations in the middle band
EXACT = 1e-12                     # float64 rounding, for identities
POINTS, REACH = 100_000, 30.0     # generated inputs, uniform on [-REACH, REACH]
SATURATED_BEYOND, FLAT = 10.0, 1e-4  # saturated: derivative below 1e-4 for |x| >= 10 (sigmoid's is 4.5e-5 there)


PROTOCOL = {"fast": {"task": f"{EXAMPLES} standard-normal inputs per net", "model": f"{NETS} MLPs {WIDTHS} at "
                     "initialisation, zero biases, weights at the activation's init scale times a stated factor",
                     "optimizer": "none", "seeds": NETS,
                     "evaluation": "per layer, the mean activation (and the share in the middle band)"}}


def layer_activations(act_name: str, rng: torch.Generator, seed: int, init: Init | None = None,
                      weight_scale: float = 1.0) -> Tensor:
    """Hidden activations of NETS independent nets at init, [nets, layers, examples, units].

    Weights are the init scheme's std (the activation's own by default) times `weight_scale`; biases are
    zero; inputs are standard normal.
    """
    act, device = ACTIVATIONS[act_name], rng.device
    generators = [torch.Generator(device=device).manual_seed(s)
                  for s in derive_seeds(seed, NETS, act_name, weight_scale)]
    params = [(w * weight_scale, b) for w, b in init_mlp(WIDTHS, init or act.init, generators, device=device)]
    x = torch.randn(NETS, EXAMPLES, WIDTHS[0], generator=rng, device=device)
    with torch.no_grad():
        _, hidden = mlp_forward(params, x, act, keep=True)
    return torch.stack([a for _, a in hidden], 1)


def layer_means(activations: Tensor) -> Tensor:
    """[nets, layers]: each net's mean activation in each layer."""
    return activations.mean(dim=(-2, -1)).cpu()


def every_layer_mean_near(activations: Tensor, value: float, name: str) -> Decision:
    means = layer_means(activations)
    return all_of([within_test(means[:, i], value - NEAR, value + NEAR, name=f"{name} layer {i + 1} mean")
                   for i in range(means.shape[1])], f"every {name} layer's mean near {value:g}")


def generated_points(rng: torch.Generator) -> Tensor:
    """Uniform on [-REACH, REACH] in float64, with both saturation edges, where derivatives are largest."""
    x = (2 * torch.rand(POINTS, generator=rng, device=rng.device, dtype=torch.float64) - 1) * REACH
    return torch.cat([x, torch.tensor([-SATURATED_BEYOND, SATURATED_BEYOND], device=x.device, dtype=x.dtype)])


def worst_oddness_error(act_name: str, x: Tensor) -> float:
    f = ACTIVATIONS[act_name]
    return (f(-x) + f(x)).abs().max().item()


def zero_centered_rule(act_name: str, x: Tensor, activations: Tensor) -> Decision:
    """The function is odd (exactly), and every layer of its nets at init averages 0."""
    odd = exact_test(worst_oddness_error(act_name, x), EXACT, name=f"max |{act_name}(-x) + {act_name}(x)|")
    return all_of([odd, every_layer_mean_near(activations, 0.0, act_name)], f"{act_name} zero-centred")


def worst_rescaled_sigmoid_error(act_name: str, x: Tensor) -> float:
    return (ACTIVATIONS[act_name](x) - (2 * ACTIVATIONS["sigmoid"](2 * x) - 1)).abs().max().item()


def largest_saturated_derivative(act_name: str, x: Tensor) -> float:
    return ACTIVATIONS[act_name].derivative(x[x.abs() >= SATURATED_BEYOND]).max().item()


def saturates_like_sigmoid_rule(act_name: str, x: Tensor) -> Decision:
    """f(x) = 2σ(2x) − 1 exactly, and f′ < FLAT wherever |x| >= SATURATED_BEYOND."""
    return all_of([
        exact_test(worst_rescaled_sigmoid_error(act_name, x), EXACT, name=f"max |{act_name}(x) - (2σ(2x) - 1)|"),
        exact_test(largest_saturated_derivative(act_name, x), FLAT,
                   name=f"max {act_name}' for |x| >= {SATURATED_BEYOND:g}"),
    ], f"{act_name} saturates like sigmoid")


def middle_band_shares(activations: Tensor) -> Tensor:
    """[nets, layers]: the share of each layer's activations inside MIDDLE."""
    low, high = MIDDLE
    return ((activations > low) & (activations < high)).double().mean(dim=(-2, -1)).cpu()


def mostly_in_middle_band(activations: Tensor, name: str) -> Decision:
    """Per layer, a proportion interval on its activations in MIDDLE, each net's examples and units a cluster."""
    low, high = MIDDLE
    inside = ((activations > low) & (activations < high)).flatten(2).cpu()     # [nets, layers, examples x units]
    return all_of([clustered_rate_test(inside[:, i].sum(-1), [inside.shape[-1]] * len(inside), MOSTLY,
                                       name=f"{name} layer {i + 1} share in {MIDDLE}") for i in range(inside.shape[1])],
                  f"every {name} layer mostly near 1/2")


@TANH_ZERO_CENTERED.check(expected="supported")
def test_tanh_is_odd_and_its_layers_average_zero_at_init(scale, evidence, rng, check_seed):
    x = generated_points(rng)
    tanh, sigmoid = (layer_activations(name, rng, check_seed) for name in ("tanh", "sigmoid"))
    decision = zero_centered_rule("tanh", x, tanh)
    control = zero_centered_rule("sigmoid", x, sigmoid)
    evidence.measure(tanh_layer_means=layer_means(tanh).mean(0), sigmoid_layer_means=layer_means(sigmoid).mean(0),
                     tanh_oddness_error=worst_oddness_error("tanh", x), near=NEAR, nets=NETS)
    evidence.conclude(decision, mechanism_removed=control)


@TANH_ZERO_CENTERED.check(expected="supported")
def test_tanh_saturates_like_sigmoid(scale, evidence, rng):
    x = generated_points(rng)
    decision = saturates_like_sigmoid_rule("tanh", x)
    control = saturates_like_sigmoid_rule("softsign", x)  # odd and bounded too, but saturates only polynomially
    evidence.measure(rescaled_sigmoid_error=worst_rescaled_sigmoid_error("tanh", x),
                     **{f"{name}_derivative_beyond_{SATURATED_BEYOND:g}": largest_saturated_derivative(name, x)
                        for name in ("tanh", "sigmoid", "softsign")})
    evidence.conclude(decision, mechanism_removed=control)


@SIGMOID_HALF.check(expected="supported")
def test_every_sigmoid_layer_averages_one_half_with_small_weights(scale, evidence, rng, check_seed):
    sigmoid = layer_activations("sigmoid", rng, check_seed, init="lecun", weight_scale=SMALL_WEIGHTS)
    relu = layer_activations("relu", rng, check_seed, init="lecun", weight_scale=SMALL_WEIGHTS)
    decision = every_layer_mean_near(sigmoid, 0.5, "sigmoid")
    control = every_layer_mean_near(relu, 0.5, "relu")  # no steady state at 1/2 without saturation
    evidence.measure(sigmoid_layer_mean=layer_means(sigmoid).mean(), sigmoid_layer_means=layer_means(sigmoid).mean(0),
                     relu_layer_means=layer_means(relu).mean(0), near=NEAR)
    evidence.conclude(decision, mechanism_removed=control)


@SIGMOID_HALF.check(expected="supported")
def test_every_sigmoid_unit_fires_near_one_half_only_with_small_weights(scale, evidence, rng, check_seed):
    small = layer_activations("sigmoid", rng, check_seed, init="lecun", weight_scale=SMALL_WEIGHTS)
    large = layer_activations("sigmoid", rng, check_seed, init="lecun", weight_scale=LARGE_WEIGHTS)
    decision = mostly_in_middle_band(small, "small-weight sigmoid")
    control = mostly_in_middle_band(large, "large-weight sigmoid")
    # by symmetry the layer means stay at 1/2 with large weights too: the mean alone says nothing of saturation
    evidence.measure(small_weight_middle_shares=middle_band_shares(small).mean(0),
                     large_weight_middle_shares=middle_band_shares(large).mean(0),
                     large_weight_layer_means=layer_means(large).mean(0))
    evidence.conclude(decision, mechanism_removed=control)
