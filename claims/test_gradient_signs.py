"""Per-example weight gradients into a unit fed by non-negative activations share one sign.

For one example, dL/dW[i, j] = delta_i * a_j: with every a_j >= 0 the whole row i carries the
sign of delta_i. The check takes the gradients from autograd (torch.func), not from that formula.
"""
import torch
from hypothesis import given, strategies as st
from torch.func import grad, vmap

from harness.claim import Claim
from harness.experiments.seeding import derive_seeds
from harness.stats import clustered_rate_test
from harness.verdicts import Decision
from models.activations import ACTIVATIONS
from models.mlp import init_mlp, mlp_forward

SAME_SIGN = Claim(
    id="same-sign-gradients",
    source="003_18664cc3255f4d6e.txt",
    quote="all weight gradients ∂L/∂w will have the same sign",
    statement="For one example, the gradients of the loss w.r.t. all weights into one unit whose inputs are all "
              "positive share one sign; with tanh inputs this fails; summed over a minibatch it does not hold in general.",
)
RELU_NOT_CENTERED = Claim(
    id="relu-not-zero-centered",
    source="003_18664cc3255f4d6e.txt",
    quote="Not zero-centered output — Same as sigmoid",
    statement="ReLU outputs are non-negative, so same-sign-gradients holds for units fed by ReLU layers too.",
)

NETS, EXAMPLES, WIDTHS = 64, 64, (6, 16, 16, 1)  # many nets: the minibatch share varies from net to net
BATCH = 32             # examples summed per minibatch gradient
HOLDS_IN = 0.99        # "holds" means: in more than 99% of gradient rows, at error rate alpha = 0.01


PROTOCOL = {"fast": {"task": f"{EXAMPLES} standard-normal inputs per net", "model": f"{NETS} MLPs {WIDTHS} at "
                     "initialisation", "optimizer": "none", "seeds": NETS,
                     "evaluation": f"per-example weight-gradient rows (torch.func) and sums over minibatches of "
                                   f"{BATCH}: the share whose entries share one sign"}}


def weight_gradient_rows(act_name: str, rng: torch.Generator, seed: int, nets: int = NETS) -> torch.Tensor:
    """Per-example gradients of the loss w.r.t. the second layer's weights, [nets, examples, units, inputs].

    Inputs and targets are standard normal; the loss is squared error; each net has its own draw.
    """
    device = rng.device
    act = ACTIVATIONS[act_name]
    generators = [torch.Generator(device=device).manual_seed(s) for s in derive_seeds(seed, nets, act_name)]
    params = init_mlp(WIDTHS, act.init, generators, device=device)
    x = torch.randn(nets, EXAMPLES, WIDTHS[0], generator=rng, device=device)
    y = torch.randn(nets, EXAMPLES, 1, generator=rng, device=device)

    def loss(p, xi, yi):
        return ((mlp_forward(p, xi.unsqueeze(0), act) - yi) ** 2).sum()

    per_example = vmap(vmap(grad(loss), in_dims=(None, 0, 0)), in_dims=(0, 0, 0))(params, x, y)
    return per_example[1][0]


def sign_agreement(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per net: (rows whose nonzero entries share one sign, rows with at least two nonzero entries)."""
    informative = (rows != 0).sum(-1) >= 2
    shared = (rows >= 0).all(-1) | (rows <= 0).all(-1)
    return (shared & informative).flatten(1).sum(-1).cpu(), informative.flatten(1).sum(-1).cpu()


def same_sign_rule(rows: torch.Tensor, name: str) -> Decision:
    """A proportion interval on the rows with one sign, each net's rows a cluster (they share its weights)."""
    return clustered_rate_test(*sign_agreement(rows), HOLDS_IN, side="above",
                               name=f"share of {name} rows with one sign")


def minibatch_sums(rows: torch.Tensor) -> torch.Tensor:
    nets, examples, units, inputs = rows.shape
    return rows.reshape(nets, examples // BATCH, BATCH, units, inputs).sum(2)


def check_units_fed_by(act_name: str, evidence, rng: torch.Generator, seed: int) -> None:
    """The rule on units fed by `act_name`, with tanh-fed units (zero-centred inputs) as the control."""
    decision = same_sign_rule(weight_gradient_rows(act_name, rng, seed), f"{act_name}-fed")
    control = same_sign_rule(weight_gradient_rows("tanh", rng, seed), "tanh-fed")
    evidence.measure(**{f"{act_name}_share": decision.effect}, tanh_share=control.effect, rows=decision.n)
    evidence.conclude(decision, mechanism_removed=control)


@SAME_SIGN.check(expected="supported")
def test_per_example_gradients_into_a_sigmoid_fed_unit_share_one_sign(scale, evidence, rng, check_seed):
    check_units_fed_by("sigmoid", evidence, rng, check_seed)


@SAME_SIGN.check(expected="refuted", reason="the property is per example: summed over a minibatch, examples "
                                           "with opposite deltas mix signs within a row (CS231n)")
def test_minibatch_summed_gradients_keep_one_sign(scale, evidence, rng, check_seed):
    decision = same_sign_rule(minibatch_sums(weight_gradient_rows("sigmoid", rng, check_seed)), "minibatch-summed")
    control = same_sign_rule(minibatch_sums(weight_gradient_rows("tanh", rng, check_seed)), "tanh minibatch")
    evidence.measure(minibatch_share=decision.effect, batch=BATCH, rows=decision.n)
    evidence.conclude(decision, mechanism_removed=control)


@RELU_NOT_CENTERED.check(expected="supported")
def test_per_example_gradients_into_a_relu_fed_unit_share_one_sign(scale, evidence, rng, check_seed):
    check_units_fed_by("relu", evidence, rng, check_seed)


@given(act_name=st.sampled_from(["sigmoid", "relu", "softplus"]), seed=st.integers(0, 2**32 - 1))
def test_every_per_example_row_shares_one_sign_for_non_negative_activations(act_name, seed):
    rows = weight_gradient_rows(act_name, torch.Generator().manual_seed(seed), seed, nets=4)
    held, informative = (int(count.sum()) for count in sign_agreement(rows))
    assert held == informative > 0


@given(seed=st.integers(0, 2**32 - 1))
def test_tanh_fed_rows_mix_signs(seed):
    rows = weight_gradient_rows("tanh", torch.Generator().manual_seed(seed), seed, nets=4)
    held, informative = (int(count.sum()) for count in sign_agreement(rows))
    assert held < informative
