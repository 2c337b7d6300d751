"""Signal propagation at initialisation, over many independently drawn deep stacks run as one batched model.

Each experiment draws NETS nets of DEPTH hidden layers of WIDTH units (weights [NETS, out, in], zero
biases). A stack's input is its own activation applied to standard-normal pre-activations, so the first
layer sees what every later layer sees.

Variance statistics are per net. In a finite-width net the layer variance is a random walk, so the layers
of one net are not independent samples, while nets are: each net gives the mean of its per-layer
variance ratios v[l+1] / v[l], and the rules are t-intervals over nets. The ratio rather than the slope
of log v, because for ReLU at He init v is a martingale: the ratio's expectation is exactly 1 at any
width, while log v drifts down by about 1/WIDTH per layer (Jensen). log(ratio) is the log-variance slope.
"""
import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from claims.shared_claims import RELU_SPARSITY
from harness.claim import Claim
from harness.experiments.seeding import derive_seeds
from harness.stats import all_of, clustered_rate_test, mean_test, seed_halves, within_test
from harness.verdicts import Decision
from models.activations import ACTIVATIONS, Init, of_family
from models.mlp import Params, init_mlp, layer, mlp_forward

INIT_MATCHES = Claim(
    id="init-matches-activation",
    source="000_117cae05039cffeb.txt",
    quote="Xavier initialization is required for Sigmoid ... ReLU relies on He initialization",
    statement="At init, forward activation variance across a deep stack stays within a constant band for ReLU+He "
              "and sigmoid/tanh+Xavier; ReLU+Xavier halves it per layer (He 2015: std shrinks by 1/√2 per layer).",
    document={"relu_xavier_std_ratio_per_layer": 1 / math.sqrt(2)},
)
BACKPROP_VARIANCE = Claim(
    id="backprop-variance-vanishes",
    source="002_f53af5c4161cb5ad.txt",
    quote="the variance of the back-propagated gradient might still vanish or explode",
    statement="With weight scale below/above the critical value, back-propagated gradient variance shrinks/grows "
              "geometrically with depth; at the critical scale it stays flat.",
)
SELU_SELF_NORMALIZES = Claim(
    id="selu-self-normalizes",
    source="003_18664cc3255f4d6e.txt",
    quote="—",
    statement="A deep SELU stack with LeCun-normal init keeps activations near mean 0, variance 1 (Klambauer et al. "
              "2017 fixed point, λ ≈ 1.0507, α ≈ 1.6733).",
    document={"selu_last_layer_mean": 0.0, "selu_last_layer_variance": 1.0},
)

DEPTH, WIDTH, NETS, EXAMPLES = 20, 128, 64, 32
BAND = 2 ** (1 / DEPTH)          # a constant band: per-layer ratio within 2^(±1/DEPTH), under 2x over the stack
COLLAPSE = 0.5                   # ReLU+Xavier's per-layer ratio, the pairing He et al. show failing
BELOW, CRITICAL, ABOVE = 0.8, 1.0, 1.25  # weight scale in units of the critical (He) std
SELU_MEAN_WITHIN = 0.1           # "near mean 0": every layer's mean within a tenth of the target std
SELU_VARIANCE_WITHIN = 1.25      # "near variance 1": every layer's variance within a factor 1.25 of 1
SPARSITY_DEPTH = 4
HALF, NEAR_HALF = 0.5, 0.05      # "about half": a zero share within 0.05 of 1/2
RARELY = 0.01                    # "almost never": exact zeros in under 1% of activations
SATURATING = of_family("saturating")  # the registry's built-ins: sigmoid, tanh, softsign


PROTOCOL = {"fast": {"task": f"{EXAMPLES} inputs per net, the activation applied to standard-normal pre-activations",
                     "model": f"{NETS} MLPs of {DEPTH} hidden layers of {WIDTH} at initialisation, zero biases",
                     "optimizer": "none", "seeds": NETS,
                     "evaluation": "per net, the mean per-layer ratio of forward (or backward) variance; layer "
                                   "means, variances and exact-zero shares"}}


def stack(act_name: str, init: Init, rng: torch.Generator, seed: int, *, gain: float = 1.0, depth: int = DEPTH,
          dtype: torch.dtype = torch.float32) -> tuple[Params, Tensor]:
    """NETS independent nets (weights: gain x the scheme's std, drawn in float32) and their input, in `dtype`."""
    device = rng.device
    generators = [torch.Generator(device=device).manual_seed(s) for s in derive_seeds(seed, NETS, act_name, init, gain)]
    params = init_mlp([WIDTH] * (depth + 1) + [1], init, generators, device=device)
    x = ACTIVATIONS[act_name](torch.randn(NETS, EXAMPLES, WIDTH, generator=rng, device=device))
    return [(w.to(dtype) * gain, b.to(dtype)) for w, b in params], x.to(dtype)


def hidden_layers(act_name: str, init: Init, rng: torch.Generator, seed: int, after_activation: bool = False,
                  **kwargs) -> Tensor:
    """[nets, layers, examples, units]: each hidden layer's pre-activations, or its activations."""
    params, x = stack(act_name, init, rng, seed, **kwargs)
    with torch.no_grad():
        _, hidden = mlp_forward(params, x, ACTIVATIONS[act_name], keep=True)
    return torch.stack([activation if after_activation else pre for pre, activation in hidden], 1)


def pooled_variance(h: Tensor) -> Tensor:
    """[nets, layers]: variance over units and examples together, He et al.'s Var[y_l]."""
    return h.var(dim=(-2, -1))


def input_dependent_variance(h: Tensor) -> Tensor:
    """[nets, layers]: each unit's variance across examples, averaged over units: the part that carries the input."""
    return h.var(dim=-2).mean(-1)


def variance_ratios(variances: Tensor) -> np.ndarray:
    """Each net's mean over layers of v[l+1] / v[l]; variances are [nets, layers]."""
    return (variances[:, 1:] / variances[:, :-1]).mean(1).double().cpu().numpy()


def forward_ratios(act_name: str, init: Init, rng: torch.Generator, seed: int,
                   variance: Callable[[Tensor], Tensor] = pooled_variance, **kwargs) -> np.ndarray:
    return variance_ratios(variance(hidden_layers(act_name, init, rng, seed, **kwargs)))


def ratio_near(ratios: np.ndarray, target: float, name: str, outside: bool = False) -> Decision:
    """The per-layer variance ratio is within a factor BAND of `target` (or, with outside=True, is not)."""
    return within_test(ratios, target / BAND, target * BAND, outside=outside, name=name)


def needs_he(he: np.ndarray, xavier: np.ndarray, name: str) -> Decision:
    return all_of([ratio_near(he, 1.0, f"{name}+He variance ratio"),
                   ratio_near(xavier, 0.5, f"{name}+Xavier variance ratio")], f"{name} needs He")


@INIT_MATCHES.check(expected="supported")
def test_relu_keeps_forward_variance_with_he_init_and_halves_it_with_xavier(scale, evidence, rng, check_seed):
    he, xavier = (forward_ratios("relu", init, rng, check_seed) for init in ("he", "xavier"))
    decision = needs_he(he, xavier, "ReLU")
    # the mechanism removed: tanh zeroes nothing, so no init halves its variance
    control = needs_he(*(forward_ratios("tanh", init, rng, check_seed) for init in ("he", "xavier")), "tanh")
    evidence.measure(relu_xavier_std_ratio_per_layer=math.sqrt(xavier.mean()),
                     relu_he_std_ratio_per_layer=math.sqrt(he.mean()), band=BAND, depth=DEPTH, nets=NETS)
    evidence.conclude(decision, mechanism_removed=control)


def check_xavier_keeps_variance_in_band(act_name: str, evidence, rng: torch.Generator, seed: int) -> None:
    """The per-layer variance ratio of `act_name`+Xavier near 1; ReLU+Xavier, which halves it, is the control."""
    ratios = forward_ratios(act_name, "xavier", rng, seed)
    relu = forward_ratios("relu", "xavier", rng, seed)
    evidence.measure(**{f"{act_name}_xavier_variance_ratio": ratios.mean()}, relu_xavier_variance_ratio=relu.mean(),
                     band=BAND)
    evidence.conclude(ratio_near(ratios, 1.0, f"{act_name}+Xavier variance ratio"),
                      mechanism_removed=ratio_near(relu, 1.0, "ReLU+Xavier variance ratio"))


@INIT_MATCHES.check(expected="refuted",
                    reason="tanh' < 1 away from 0, so at Xavier's gain the variance map "
                           "q -> E[tanh(√q z)²] ≈ q − 2q² has 0 as its only fixed point: the variance decays like "
                           "1/(2l), out of any constant band (about 16x over 20 layers), though far slower than "
                           "ReLU+Xavier's halving")
def test_tanh_with_xavier_init_keeps_forward_variance_in_a_constant_band(scale, evidence, rng, check_seed):
    check_xavier_keeps_variance_in_band("tanh", evidence, rng, check_seed)


@INIT_MATCHES.check(expected="supported")
def test_sigmoid_with_xavier_init_keeps_forward_variance_in_a_constant_band(scale, evidence, rng, check_seed):
    check_xavier_keeps_variance_in_band("sigmoid", evidence, rng, check_seed)


@INIT_MATCHES.check(expected="refuted",
                    reason="sigmoid is bounded, so its pooled variance settles at a fixed point for any weight scale: "
                           "with He init it stays as flat as with Xavier, so Xavier is not what keeps it in a band")
def test_sigmoid_forward_variance_leaves_the_band_without_xavier_init(scale, evidence, rng, check_seed):
    sigmoid = forward_ratios("sigmoid", "he", rng, check_seed)
    relu = forward_ratios("relu", "he", rng, check_seed)
    decision = ratio_near(sigmoid, 1.0, "sigmoid+He variance ratio", outside=True)
    control = ratio_near(relu, 1.0, "ReLU+He variance ratio", outside=True)
    evidence.measure(sigmoid_he_variance_ratio=sigmoid.mean(), relu_he_variance_ratio=relu.mean(), band=BAND)
    evidence.conclude(decision, mechanism_removed=control)


@INIT_MATCHES.check(expected="refuted",
                    reason="sigmoid is not zero-centred: its 1/2 offset, through random weights, gives each unit a "
                           "fixed offset that holds the pooled variance up, while the part that varies with the "
                           "input shrinks at least 16x per layer (σ' <= 1/4; about 18x measured)")
def test_sigmoid_with_xavier_init_keeps_the_input_dependent_variance_from_collapsing(scale, evidence, rng, check_seed):
    # float64: after a dozen layers the input-dependent part of sigmoid's output falls below float32's spacing at 1/2
    sigmoid = hidden_layers("sigmoid", "xavier", rng, check_seed, dtype=torch.float64)
    relu = forward_ratios("relu", "xavier", rng, check_seed, variance=input_dependent_variance)
    input_dependent = variance_ratios(input_dependent_variance(sigmoid))
    decision = mean_test(input_dependent, COLLAPSE, name="sigmoid+Xavier input-dependent variance ratio")
    control = mean_test(relu, COLLAPSE, name="ReLU+Xavier input-dependent variance ratio")
    evidence.measure(sigmoid_xavier_input_dependent_ratio=input_dependent.mean(),
                     sigmoid_xavier_pooled_ratio=variance_ratios(pooled_variance(sigmoid)).mean(),
                     relu_xavier_input_dependent_ratio=relu.mean())
    evidence.conclude(decision, mechanism_removed=control)


def back_propagated_ratios(gain: float, rng: torch.Generator, seed: int) -> np.ndarray:
    """Per net, the mean over layers of Var[dL/dy_l] / Var[dL/dy_(l+1)]: each step back toward the input.

    A ReLU stack at `gain` x He std; L is the sum of the outputs. The forward pass is written out here so
    that the pre-activations y_l are on the graph's path and autograd can differentiate with respect to them.
    """
    params, x = stack("relu", "he", rng, seed, gain=gain)
    act, pre = ACTIVATIONS["relu"], []
    h = x.requires_grad_()
    for p in params[:-1]:
        pre.append(layer(p, h))
        h = act(pre[-1])
    grads = torch.autograd.grad(layer(params[-1], h).sum(), pre)
    return variance_ratios(torch.stack([pooled_variance(g) for g in reversed(grads)], 1))


def geometric_rule(shrinking: np.ndarray, growing: np.ndarray, name: str) -> Decision:
    return all_of([mean_test(shrinking, 1 / BAND, side="below", name="gradient variance ratio, shrinking side"),
                   mean_test(growing, BAND, name="gradient variance ratio, growing side")], name)


@BACKPROP_VARIANCE.check(expected="supported")
def test_gradient_variance_shrinks_below_and_grows_above_the_critical_scale(scale, evidence, rng, check_seed):
    below, critical, above = (back_propagated_ratios(gain, rng, check_seed) for gain in (BELOW, CRITICAL, ABOVE))
    decision = geometric_rule(below, above, f"{BELOW:g}x shrinks, {ABOVE:g}x grows")
    # the mechanism removed: at the critical scale on both sides (two seed halves) nothing shrinks or grows
    control = geometric_rule(*seed_halves(critical), "the critical scale shrinks (seed half 1) and grows (half 2)")
    evidence.measure(gradient_variance_ratio_below=below.mean(), predicted_below=BELOW ** 2,
                     gradient_variance_ratio_above=above.mean(), predicted_above=ABOVE ** 2, band=BAND)
    evidence.conclude(decision, mechanism_removed=control)


@BACKPROP_VARIANCE.check(expected="supported")
def test_gradient_variance_stays_flat_at_the_critical_scale(scale, evidence, rng, check_seed):
    critical, below = (back_propagated_ratios(gain, rng, check_seed) for gain in (CRITICAL, BELOW))
    decision = ratio_near(critical, 1.0, "gradient variance ratio at the critical scale")
    control = ratio_near(below, 1.0, f"gradient variance ratio at {BELOW:g}x")
    evidence.measure(gradient_variance_ratio_critical=critical.mean(), gradient_variance_ratio_below=below.mean(),
                     band=BAND)
    evidence.conclude(decision, mechanism_removed=control)


def worst_layer_moments(activations: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per net, the largest |mean| and the largest |log variance| over its layers."""
    mean, variance = activations.mean(dim=(-2, -1)), activations.var(dim=(-2, -1))
    return mean.abs().amax(1).double().cpu().numpy(), variance.log().abs().amax(1).double().cpu().numpy()


def self_normalizing_rule(activations: Tensor, name: str) -> Decision:
    worst_mean, worst_log_variance = worst_layer_moments(activations)
    return all_of([mean_test(worst_mean, SELU_MEAN_WITHIN, side="below", name=f"{name} worst |layer mean|"),
                   mean_test(worst_log_variance, math.log(SELU_VARIANCE_WITHIN), side="below",
                             name=f"{name} worst |log layer variance|")], f"{name} near (0, 1)")


@SELU_SELF_NORMALIZES.check(expected="supported")
def test_selu_with_lecun_init_keeps_every_layer_near_mean_0_variance_1(scale, evidence, rng, check_seed):
    selu = hidden_layers("selu", "lecun", rng, check_seed, after_activation=True)
    elu = hidden_layers("elu", "lecun", rng, check_seed, after_activation=True)
    decision = self_normalizing_rule(selu, "SELU+LeCun")
    control = self_normalizing_rule(elu, "ELU+LeCun")  # the same shape without λ and α: no fixed point at (0, 1)
    # worst layer: (|mean|, |log variance|) of each net's worst layer, averaged over nets
    evidence.measure(selu_last_layer_mean=selu[:, -1].mean(), selu_last_layer_variance=selu[:, -1].var(),
                     selu_worst_layer=[v.mean() for v in worst_layer_moments(selu)],
                     elu_worst_layer=[v.mean() for v in worst_layer_moments(elu)])
    evidence.conclude(decision, mechanism_removed=control)


def exact_zeros(act_name: str, rng: torch.Generator, seed: int) -> Tensor:
    """[nets, layers, examples, units]: which hidden activations are exactly 0, at the activation's own init."""
    activations = hidden_layers(act_name, ACTIVATIONS[act_name].init, rng, seed, after_activation=True,
                                depth=SPARSITY_DEPTH)
    return activations == 0


def per_net(zeros: Tensor) -> tuple[Tensor, list[int]]:
    """[nets, ...] flags -> each net's count and size: a net's layers, examples and units are one cluster."""
    flat = zeros.flatten(1).cpu()
    return flat.sum(-1), [flat.shape[-1]] * len(flat)


def about_half_zero(zeros: Tensor, name: str) -> Decision:
    """A proportion interval on the exact zeros, within NEAR_HALF of 1/2: both of its ends."""
    return all_of([clustered_rate_test(*per_net(zeros), HALF - NEAR_HALF, name=f"{name} share of exact zeros"),
                   clustered_rate_test(*per_net(zeros), HALF + NEAR_HALF, side="below",
                                       name=f"{name} share of exact zeros")], f"{name} about half zero")


def almost_never_zero(zeros: dict[str, Tensor]) -> Decision:
    """For each activation, pooled over every unit, example, layer and net: exact zeros in under RARELY of them."""
    return all_of([clustered_rate_test(*per_net(z), RARELY, side="below", name=f"{name} share of exact zeros")
                   for name, z in zeros.items()], f"{'/'.join(zeros)} almost never zero")


def zero_share(zeros: Tensor) -> float:
    return zeros.double().mean().item()


@RELU_SPARSITY.check(expected="supported")
def test_relu_units_are_exactly_zero_on_about_half_of_inputs_at_init(scale, evidence, rng, check_seed):
    relu, softplus = (exact_zeros(name, rng, check_seed) for name in ("relu", "softplus"))
    decision = about_half_zero(relu, "ReLU")
    control = about_half_zero(softplus, "softplus")  # ReLU without the hard zero
    evidence.measure(relu_zero_share=zero_share(relu), softplus_zero_share=zero_share(softplus), near=NEAR_HALF)
    evidence.conclude(decision, mechanism_removed=control)


@RELU_SPARSITY.check(expected="supported")
def test_saturating_units_are_almost_never_exactly_zero_at_init(scale, evidence, rng, check_seed):
    saturating = {name: exact_zeros(name, rng, check_seed) for name in SATURATING}
    relu = exact_zeros("relu", rng, check_seed)
    decision = almost_never_zero(saturating)
    control = almost_never_zero({"relu": relu})
    evidence.measure(**{f"{name}_zero_share": zero_share(z) for name, z in {**saturating, "relu": relu}.items()})
    evidence.conclude(decision, mechanism_removed=control)
