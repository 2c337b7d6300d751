"""A user's activation as a registry entry: named on the command line as NAME=MODULE:ATTR, or shipped by a package
under the entry-point group ENTRY_POINT_GROUP.

ATTR is a plain callable (every fact is then measured) or a UserActivation, which states the facts it knows. The
function is first tried on ordinary inputs; a problem is one sentence naming it and the fix (UserActivationError).
What the entry does not state is measured here, on fixed float64 grids, and named in the entry's `measured`:

- the derivative, by autograd;
- the output range, its ends the extremes over inputs out to 1e6 (an end still growing past 1e3 is infinite);
- zero-centring: f(0) = 0 and a mean over standard normal inputs within 5 standard errors of 0;
- monotonicity: a witness, a neighbouring pair of grid points where f falls by more than a rounding step;
- a hard zero (exactly 0 on every negative grid point), how it saturates, the largest |f'| on the grid, its family;
- the init: of He, Xavier and LeCun, the one under which the variance of a 20-layer stack at the mean-field limit
  stays nearest the input's.

Kinks are not measured: a UserActivation may state them; otherwise they stay unknown and the checks that need
them skip, saying so.
"""
from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import Callable, Iterator

import torch
from torch import Tensor

from models.activations import ACTIVATIONS, ActivationInfo, Family, Init, Saturation

ENTRY_POINT_GROUP = "activation_claims.activations"
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Colours for users' entries, none of which a built-in takes.
SPARE_COLOURS = ("black", "magenta", "teal", "goldenrod", "crimson", "slateblue")

F64 = torch.float64
ORDINARY = torch.cat([torch.linspace(-6.0, 6.0, 1200), torch.zeros(1)])   # inputs any activation must take
FAR = 1e6                                                   # the range grid reaches this far out
UNBOUNDED = 1e3                                             # an end still growing past this is infinite
SATURATED = 1e-3                                            # |f'| below this at |x| = 1e3 counts as saturated
STANDARD_ERRORS = 5                                         # zero-centring, as the property tests judge it
STACK_LAYERS = 20                                           # depth of the variance test that picks an init


class UserActivationError(ValueError):
    """A user's activation that cannot join the registry; the message names the problem and the fix."""


@dataclass(frozen=True)
class UserActivation:
    """A callable with the facts its author knows; any left None is measured (kinks stay unknown)."""

    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor] | None = None
    output_range: tuple[float, float] | None = None
    zero_centered: bool | None = None
    kinks: dict[float, tuple[float, float]] | None = None
    init: Init | None = None
    display: str | None = None
    facts: dict = field(default_factory=dict)   # any other ActivationInfo field, by name


def parse_spec(spec: str) -> tuple[str, str, str]:
    """NAME=MODULE:ATTR -> (name, module, attribute)."""
    match = re.fullmatch(r"([^=]+)=([\w.]+):([\w.]+)", spec)
    if not match:
        raise UserActivationError(f"--activation {spec}: write NAME=MODULE:ATTR, e.g. "
                                  "--activation mish=torch.nn.functional:mish.")
    return match.group(1), match.group(2), match.group(3)


def load_spec(spec: str) -> ActivationInfo:
    """The registry entry a --activation NAME=MODULE:ATTR names, checked and completed."""
    name, module_name, attribute = parse_spec(spec)
    check_name(name, f"--activation {spec}")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any failure of the user's module is the user's problem to see, in one line
        raise UserActivationError(f"--activation {spec}: module {module_name} does not import ({type(error).__name__}: "
                                  f"{error}); check the name and that it is importable from here (pip install it, "
                                  "or run from the folder that holds it).") from None
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise UserActivationError(f"--activation {spec}: module {module_name} has no attribute {attribute}; "
                                      "name a function it defines.")
        obj = getattr(obj, part)
    return entry_for(name, obj, f"--activation {spec}")


def from_entry_points() -> Iterator[ActivationInfo]:
    """The entries installed packages ship under ENTRY_POINT_GROUP, each point's name the activation's."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP})"
        check_name(point.name, where)
        try:
            obj = point.load()
        except Exception as error:  # as above: a broken package is reported, not raised through pytest
            raise UserActivationError(f"{where}: does not load ({type(error).__name__}: {error}); fix or uninstall "
                                      "the package that declares it.") from None
        yield entry_for(point.name, obj, where)


def check_name(name: str, where: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise UserActivationError(f"{where}: the name {name!r} must be letters, digits and underscores, not starting "
                                  "with a digit, e.g. my_activation.")
    if name in ACTIVATIONS:
        taken = "a built-in activation" if not ACTIVATIONS[name].user_given else ACTIVATIONS[name].origin
        raise UserActivationError(f"{where}: the name {name} is taken by {taken}; choose another, e.g. "
                                  f"{name}_user.")


def entry_for(name: str, obj: object, origin: str) -> ActivationInfo:
    """A registry entry for a user's callable or UserActivation: checked on ordinary inputs, facts completed."""
    stated = obj if isinstance(obj, UserActivation) else UserActivation(fn=obj) if callable(obj) else None
    if stated is None or not callable(stated.fn):
        raise UserActivationError(f"{origin}: {type(obj).__name__} object is not callable; name a function "
                                  "that maps a tensor to a tensor of the same shape.")
    check_behaviour(stated.fn, origin)
    return complete(name, stated, origin)


def check_behaviour(fn: Callable[[Tensor], Tensor], origin: str) -> None:
    """It maps float32 and float64 tensors of any shape to finite tensors of the same shape and dtype."""
    for dtype in (torch.float32, F64):
        x = ORDINARY.to(dtype).repeat(2, 1)
        try:
            y = fn(x)
        except Exception as error:  # the user's function failing is what we report
            raise UserActivationError(f"{origin}: calling it on a {dtype} tensor raised {type(error).__name__}: "
                                      f"{error}; it must take one tensor and return one.") from None
        if not isinstance(y, Tensor):
            raise UserActivationError(f"{origin}: it returned a {type(y).__name__}, not a tensor; return a tensor "
                                      "of the input's shape.")
        if y.shape != x.shape or y.dtype != x.dtype:
            raise UserActivationError(f"{origin}: it turns a {dtype} tensor of shape {tuple(x.shape)} into a "
                                      f"{y.dtype} tensor of shape {tuple(y.shape)}; an activation works elementwise "
                                      "and keeps shape and dtype.")
        if not torch.isfinite(y).all():
            bad = x[~torch.isfinite(y)].flatten()[0].item()
            raise UserActivationError(f"{origin}: it gives {y[~torch.isfinite(y)].flatten()[0].item()} at x = "
                                      f"{bad:g} ({dtype}); it must be finite on ordinary inputs (-6 to 6).")


def autograd_derivative(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def derivative(x: Tensor) -> Tensor:
        leaf = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(fn(leaf).sum(), leaf)
        return grad
    return derivative


def complete(name: str, stated: UserActivation, origin: str) -> ActivationInfo:
    fn, measured = stated.fn, set()

    def given_or_measured(fact: str, value, measure: Callable[[], object]):
        if value is not None:
            return value
        measured.add(fact)
        return measure()

    derivative = given_or_measured("derivative", stated.derivative, lambda: autograd_derivative(fn))
    output_range = given_or_measured("output_range", stated.output_range, lambda: measured_range(fn))
    entry = ActivationInfo(
        name=name, fn=fn, derivative=derivative, output_range=output_range,
        zero_centered=given_or_measured("zero_centered", stated.zero_centered, lambda: measured_zero_centring(fn)),
        init=given_or_measured("init", stated.init, lambda: variance_keeping_init(fn)),
        family=stated.facts.get("family") or family_of(fn, output_range),
        display=stated.display or name, colour="",  # given when it joins the registry
        derivative_bound=given_or_measured("derivative_bound", stated.facts.get("derivative_bound"),
                                           lambda: largest_slope(derivative)),
        saturation=given_or_measured("saturation", stated.facts.get("saturation"), lambda: saturation_of(derivative)),
        hard_zero=given_or_measured("hard_zero", stated.facts.get("hard_zero"), lambda: has_hard_zero(fn)),
        non_monotone_witness=given_or_measured("monotone", stated.facts.get("non_monotone_witness"),
                                               lambda: decrease_witness(fn)),
        kinks=stated.kinks, origin=origin)
    if "family" not in stated.facts:
        measured.add("family")
    return replace(entry, measured=frozenset(measured))


def range_grid() -> Tensor:
    magnitudes = torch.logspace(-6, math.log10(FAR), 2401, dtype=F64)
    return torch.cat([-magnitudes.flip(0), torch.zeros(1, dtype=F64), magnitudes])


def measured_range(fn: Callable[[Tensor], Tensor]) -> tuple[float, float]:
    y = fn(range_grid())
    lo, hi = y.min().item(), y.max().item()
    return (-math.inf if lo < -UNBOUNDED else lo, math.inf if hi > UNBOUNDED else hi)


def standard_normal_sample() -> Tensor:
    return torch.randn(2 ** 18, generator=torch.Generator().manual_seed(0), dtype=F64)


def measured_zero_centring(fn: Callable[[Tensor], Tensor]) -> bool:
    y = fn(standard_normal_sample())
    standard_error = (y.std() / math.sqrt(y.numel())).item()
    return fn(torch.zeros(1, dtype=F64)).item() == 0.0 and abs(y.mean().item()) <= STANDARD_ERRORS * standard_error


def variance_keeping_init(fn: Callable[[Tensor], Tensor]) -> Init:
    """Of He, Xavier and LeCun (square layers, where Xavier is LeCun's 1/n), the init whose mean-field variance map
    q -> n Var[w] E[f(sqrt(q) z)^2] ends STACK_LAYERS layers nearest q = 1, starting from 1; He on a tie."""
    z = standard_normal_sample()

    def log_final_variance(weight_variance_times_n: float) -> float:
        q = 1.0
        for _ in range(STACK_LAYERS):
            q = weight_variance_times_n * fn(math.sqrt(q) * z).pow(2).mean().item()
            if not 1e-30 < q < 1e30:
                return math.inf
        return abs(math.log(q))
    gains = {"he": 2.0, "lecun": 1.0}
    return min(gains, key=lambda init: log_final_variance(gains[init]))


def family_of(fn: Callable[[Tensor], Tensor], output_range: tuple[float, float]) -> Family:
    lo, hi = output_range
    if math.isfinite(lo) and math.isfinite(hi):
        return "saturating"
    far, farther = fn(torch.tensor([UNBOUNDED, 2 * UNBOUNDED], dtype=F64)).tolist()
    return "rectifier" if math.isinf(hi) and far > 0 and abs(farther / far - 2) < 0.02 else "other"


def largest_slope(derivative: Callable[[Tensor], Tensor]) -> float:
    x = torch.cat([torch.linspace(-20, 20, 400_001, dtype=F64), range_grid()])
    return derivative(x).abs().max().item()


def saturation_of(derivative: Callable[[Tensor], Tensor]) -> Saturation | None:
    left, right = derivative(torch.tensor([-UNBOUNDED, UNBOUNDED], dtype=F64)).abs().tolist()
    if left < SATURATED and right < SATURATED:
        return "both sides"
    if left < SATURATED:
        return "negative side"
    return None if right < SATURATED else "none"   # saturating on the positive side only: no kind names it


def has_hard_zero(fn: Callable[[Tensor], Tensor]) -> bool:
    negative = -torch.logspace(-6, math.log10(FAR), 2401, dtype=F64)
    return bool((fn(negative) == 0).all())


def decrease_witness(fn: Callable[[Tensor], Tensor]) -> tuple[float, float] | None:
    """The neighbouring pair x < y of a fine grid where f falls most, if it falls anywhere by more than four
    float64 steps of f(x)."""
    x = torch.cat([torch.linspace(-20, 20, 40_001, dtype=F64), range_grid()]).unique()
    y = fn(x)
    drop = y[:-1] - y[1:]
    falls = drop > 4 * torch.finfo(F64).eps * y[:-1].abs().clamp(min=torch.finfo(F64).tiny)
    if not falls.any():
        return None
    i = int(torch.where(falls, drop, torch.zeros_like(drop)).argmax())
    return (x[i].item(), x[i + 1].item())


def spare_colour() -> str:
    taken = {act.colour for act in ACTIVATIONS.values()}
    return next((c for c in SPARE_COLOURS if c not in taken), "black")


def register_all(specs: list[str]) -> Callable[[], None]:
    """Add the entries named by --activation specs, then those of installed packages, to the registry, one at a
    time (so two of them cannot share a name or a colour); returns the function that takes them out again."""
    added: list[str] = []

    def unregister() -> None:
        for name in added:
            ACTIVATIONS.pop(name, None)
    try:
        for load in [lambda spec=spec: [load_spec(spec)] for spec in specs] + [from_entry_points]:
            for entry in load():
                ACTIVATIONS[entry.name] = replace(entry, colour=spare_colour())
                added.append(entry.name)
    except UserActivationError:
        unregister()
        raise
    return unregister
