"""ELU with alpha = 1 is differentiable at 0; ELU with alpha != 1 and leaky ReLU are not.

ELU's left derivative at 0 is alpha e^0 = alpha and its right one is 1, so the two meet only at alpha = 1; leaky
ReLU's are its slope and 1. One-sided derivatives are measured as difference quotients in float64, whose error is
about alpha h / 2 for ELU, far inside the tolerance.
"""
import torch
from hypothesis import given, strategies as st

from harness.claim import Claim
from harness.stats import all_of, exact_test
from harness.verdicts import Decision
from models.activations import ACTIVATIONS, ActivationInfo, elu, leaky_relu

ELU_SMOOTH = Claim(
    id="elu-differentiable-at-zero",
    source="003_18664cc3255f4d6e.txt",
    quote='"Differentiable at x=0"; Leaky: "x=0 not differentiable"',
    statement="ELU with alpha = 1 has matching left and right derivatives (1) at 0 and for alpha != 1 it does not; "
              "leaky ReLU's one-sided derivatives differ (alpha vs 1).",
)

STEP = 1e-6          # difference-quotient step h
TOLERANCE = 1e-4     # two one-sided derivatives "match" when closer than this; quotient error is ~ alpha h / 2
KINKED = 8           # generated ELU alphas and leaky slopes, each
ALPHA_GAP = 0.1      # generated alphas keep at least this far from 1


PROTOCOL = {"fast": {"task": "the activation at 0", "model": f"ELU (alpha 1, and {KINKED} generated alphas) and "
                     f"{KINKED} generated leaky slopes", "optimizer": "none", "seeds": 1,
                     "evaluation": f"float64 one-sided difference quotients with step {STEP:g}"}}


def one_sided_derivatives(act: ActivationInfo, h: float = STEP) -> tuple[float, float]:
    """((f(0) - f(-h)) / h, (f(h) - f(0)) / h) in float64."""
    f = act(torch.tensor([-h, 0.0, h], dtype=torch.float64))
    return float(f[1] - f[0]) / h, float(f[2] - f[1]) / h


def differentiable_at_zero(act: ActivationInfo) -> Decision:
    left, right = one_sided_derivatives(act)
    return exact_test(abs(right - left), TOLERANCE, name=f"{act.name}: |right - left derivative at 0|")


def kink_at_zero(act: ActivationInfo, left_expected: float) -> Decision:
    """One-sided derivatives (left_expected, 1), and far enough apart to be a kink."""
    left, right = one_sided_derivatives(act)
    return all_of([exact_test(abs(left - left_expected), TOLERANCE, name=f"{act.name}: |left - {left_expected:.3g}|"),
                   exact_test(abs(right - 1.0), TOLERANCE, name=f"{act.name}: |right - 1|"),
                   exact_test(abs(right - left), TOLERANCE, side="above", name=f"{act.name}: |right - left|")],
                  name=f"{act.name} has a kink at 0")


def kinked_activations(rng: torch.Generator) -> list[tuple[ActivationInfo, float]]:
    """ELUs with alpha in [0.1, 0.9] or [1.1, 3], leaky ReLUs with slope in [0.01, 0.5]; each with its left slope."""
    u, v, slopes = torch.rand(3, KINKED, generator=rng, device=rng.device, dtype=torch.float64).cpu()
    alphas = torch.where(u < 0.5, 0.1 + (0.9 - ALPHA_GAP) * v, 1 + ALPHA_GAP + (2 - ALPHA_GAP) * v)
    return ([(elu(float(a)), float(a)) for a in alphas]
            + [(leaky_relu(float(s)), float(s)) for s in 0.01 + 0.49 * slopes])


@ELU_SMOOTH.check(expected="supported")
def test_elu_with_alpha_one_has_equal_one_sided_derivatives_at_zero(scale, evidence, rng):
    left, right = one_sided_derivatives(elu(1.0))
    # the hardest negative: whichever kinked activation comes closest to being smooth
    control = min((differentiable_at_zero(act) for act, _ in kinked_activations(rng)), key=lambda d: d.effect)
    evidence.measure(elu_left=left, elu_right=right, smallest_kink_gap=control.effect)
    evidence.conclude(differentiable_at_zero(elu(1.0)), mechanism_removed=control)


@ELU_SMOOTH.check(expected="supported")
def test_elu_with_alpha_not_one_and_leaky_relu_have_left_derivative_alpha_and_right_one(scale, evidence, rng):
    kinked = kinked_activations(rng)
    decision = all_of([kink_at_zero(act, left) for act, left in kinked], name="every generated kink")
    evidence.measure(alphas_and_slopes=[left for _, left in kinked],
                     measured_left=[one_sided_derivatives(act)[0] for act, _ in kinked])
    evidence.conclude(decision, mechanism_removed=kink_at_zero(elu(1.0), 1.0))


@given(alpha=st.floats(0.05, 5.0))
def test_elu_left_derivative_at_zero_is_alpha(alpha):
    left, right = one_sided_derivatives(elu(alpha))
    assert abs(left - alpha) < TOLERANCE and abs(right - 1.0) < TOLERANCE


def test_registry_kinks_at_zero_match_the_measured_one_sided_derivatives():
    declared = {name: act.kinks.get(0.0) for name, act in ACTIVATIONS.items() if act.kinks is not None}
    for name, kink in declared.items():
        left, right = one_sided_derivatives(ACTIVATIONS[name])
        expected = kink if kink is not None else (left, left)  # no kink declared: the two sides must agree
        assert abs(left - expected[0]) < TOLERANCE and abs(right - expected[1]) < TOLERANCE, name
