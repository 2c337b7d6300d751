"""A user's activation as a registry entry: named on the command line as NAME=MODULE:ATTR, or shipped by a package
under the entry-point group ENTRY_POINT_GROUP.

ATTR is a plain callable (every fact is then measured) or a UserActivation, which states the facts it knows. The
function is first tried on ordinary inputs; a problem is one sentence naming it and the fix (UserActivationError).
What the entry does not state is measured here, on fixed float64 grids, and named in the entry's `measured`:

- the derivative, by autograd;
- the output range: an end is infinite where f passes 1e3 or keeps growing by a steady step per decade out to
  1e300 (a logarithm does; a bounded function's steps shrink); a finite end is the extreme of a fine grid,
  refined around it and widened by a millionth of itself so that float32 kernels' rounding stays inside;
- zero-centring: f(0) = 0 and a mean over standard normal inputs within 5 standard errors of 0;
- monotonicity: a witness, a neighbouring pair of grid points (float64, then every finite bfloat16) where f
  falls by more than a rounding step;
- a hard zero (exactly 0 on every negative grid point), how it saturates, the largest |f'| on the grid, its family;
- the init, by family as the literature pairs them: He for a rectifier, Xavier for a saturating function, LeCun
  (variance 1 / fan_in) otherwise.

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

from models.activations import ACTIVATIONS, FAMILY_INIT, INITS, ActivationInfo, Family, Init, Saturation

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
FACTS = {"family", "derivative_bound", "saturation", "hard_zero", "non_monotone_witness"}  # UserActivation.facts keys


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
    facts: dict = field(default_factory=dict)   # other ActivationInfo facts by name (FACTS); a witness of None
                                                # states "monotone"


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
                                  f"{first_line(error)}); check the name and that it is importable from here (pip install it, "
                                  "or run from the folder that holds it).") from None
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise UserActivationError(f"--activation {spec}: module {module_name} has no attribute {attribute}; "
                                      "name a function it defines.")
        obj = getattr(obj, part)
    return entry_for(name, obj, f"--activation {spec}")


def from_entry_points(skip: Callable[[str, str], bool]) -> Iterator[ActivationInfo]:
    """The entries installed packages ship under ENTRY_POINT_GROUP, each point's name the activation's, but those
    `skip(name, where)` passes over."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP})"
        if skip(point.name, where):
            continue
        check_name(point.name, where)
        try:
            obj = point.load()
        except Exception as error:  # as above: a broken package is reported, not raised through pytest
            raise UserActivationError(f"{where}: does not load ({type(error).__name__}: {first_line(error)}); fix or uninstall "
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


def first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0]


def entry_for(name: str, obj: object, origin: str) -> ActivationInfo:
    """A registry entry for a user's callable or UserActivation: checked on ordinary inputs, facts completed."""
    if isinstance(obj, UserActivation):
        check_stated(obj, origin)
        stated = obj
    elif callable(obj):
        stated = UserActivation(fn=obj)
    else:
        raise UserActivationError(f"{origin}: a {type(obj).__name__} is not callable; name a function that maps a "
                                  "tensor to a tensor of the same shape.")
    check_behaviour(stated.fn, origin)
    return complete(name, stated, origin)


def check_stated(stated: UserActivation, origin: str) -> None:
    if not callable(stated.fn):
        raise UserActivationError(f"{origin}: its fn, a {type(stated.fn).__name__}, is not callable; give "
                                  "UserActivation(fn=...) a function of one tensor.")
    if stated.init is not None and stated.init not in INITS:
        raise UserActivationError(f"{origin}: init={stated.init!r} is not one of {', '.join(INITS)}; name one of "
                                  "them or leave it out to have it chosen by family.")
    if unknown := set(stated.facts) - FACTS:
        raise UserActivationError(f"{origin}: facts has unknown keys {', '.join(sorted(unknown))}; the known ones "
                                  f"are {', '.join(sorted(FACTS))}.")
    if stated.facts.get("family", "rectifier") not in FAMILY_INIT:
        raise UserActivationError(f"{origin}: family={stated.facts['family']!r} is not one of "
                                  f"{', '.join(FAMILY_INIT)}.")


def check_behaviour(fn: Callable[[Tensor], Tensor], origin: str) -> None:
    """It maps float32 and float64 tensors of any shape to finite tensors of the same shape and dtype."""
    for dtype in (torch.float32, F64):
        x = ORDINARY.to(dtype).repeat(2, 1)
        try:
            y = fn(x)
        except Exception as error:  # the user's function failing is what we report
            raise UserActivationError(f"{origin}: calling it on a {dtype} tensor raised {type(error).__name__}: "
                                      f"{first_line(error)}; it must take one tensor and return one.") from None
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
        return value if value is not None else measure_fact(measured, fact, measure)

    derivative = given_or_measured("derivative", stated.derivative, lambda: autograd_derivative(fn))
    output_range = given_or_measured("output_range", stated.output_range, lambda: measured_range(fn))
    family = given_or_measured("family", stated.facts.get("family"), lambda: family_of(fn, output_range))
    entry = ActivationInfo(
        name=name, fn=fn, derivative=derivative, output_range=output_range,
        zero_centered=given_or_measured("zero_centered", stated.zero_centered, lambda: measured_zero_centring(fn)),
        init=given_or_measured("init", stated.init, lambda: FAMILY_INIT[family]),
        family=family,
        display=stated.display or name, colour="",  # given when it joins the registry
        derivative_bound=given_or_measured("derivative_bound", stated.facts.get("derivative_bound"),
                                           lambda: largest_slope(derivative)),
        saturation=given_or_measured("saturation", stated.facts.get("saturation"), lambda: saturation_of(derivative)),
        hard_zero=given_or_measured("hard_zero", stated.facts.get("hard_zero"), lambda: has_hard_zero(fn)),
        non_monotone_witness=(stated.facts["non_monotone_witness"] if "non_monotone_witness" in stated.facts
                              else measure_fact(measured, "monotone", lambda: decrease_witness(fn))),
        kinks=stated.kinks, origin=origin)
    return replace(entry, measured=frozenset(measured))


def measure_fact(measured: set[str], fact: str, measure: Callable[[], object]) -> object:
    measured.add(fact)
    return measure()


def range_grid() -> Tensor:
    magnitudes = torch.logspace(-6, math.log10(FAR), 2401, dtype=F64)
    return torch.cat([-magnitudes.flip(0), torch.zeros(1, dtype=F64), magnitudes])


def measured_range(fn: Callable[[Tensor], Tensor]) -> tuple[float, float]:
    x = torch.cat([torch.linspace(-20, 20, 400_001, dtype=F64), range_grid()])
    y = fn(x)
    low, high = refined_extreme(fn, x, y, -1), refined_extreme(fn, x, y, +1)
    return (-math.inf if unbounded(fn, -1) else low, math.inf if unbounded(fn, +1) else high)


def unbounded(fn: Callable[[Tensor], Tensor], side: int) -> bool:
    """Past 1e3 somewhere out to 1e300 on this side, or still climbing there by a steady step per decade."""
    y = side * fn(side * torch.logspace(3, 300, 298, dtype=F64))
    if not torch.isfinite(y).all() or y.max() > UNBOUNDED:
        return True
    steps = y.diff()
    return bool(steps[0] > 0 and steps[-1] >= 0.1 * steps[0])


def refined_extreme(fn: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, side: int) -> float:
    """The grid's extreme (side -1: minimum), searched again on a fine grid around it, widened by a millionth."""
    i = int((side * y).argmax())
    around = torch.linspace(x[max(i - 1, 0)].item(), x[min(i + 1, len(x) - 1)].item(), 100_001, dtype=F64)
    extreme = max(side * y[i].item(), (side * fn(around)).max().item())
    return side * (extreme + 1e-6 * abs(extreme))


def standard_normal_sample() -> Tensor:
    return torch.randn(2 ** 18, generator=torch.Generator().manual_seed(0), dtype=F64)


def measured_zero_centring(fn: Callable[[Tensor], Tensor]) -> bool:
    y = fn(standard_normal_sample())
    standard_error = (y.std() / math.sqrt(y.numel())).item()
    return fn(torch.zeros(1, dtype=F64)).item() == 0.0 and abs(y.mean().item()) <= STANDARD_ERRORS * standard_error


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
    return "positive side" if right < SATURATED else "none"


def has_hard_zero(fn: Callable[[Tensor], Tensor]) -> bool:
    negative = -torch.logspace(-6, math.log10(FAR), 2401, dtype=F64)
    return bool((fn(negative) == 0).all())


def decrease_witness(fn: Callable[[Tensor], Tensor]) -> tuple[float, float] | None:
    """The neighbouring pair x < y where f falls most by more than a rounding step of f(y) (f(x) above the next
    float up from f(y)): on a fine float64 grid, then among every finite bfloat16."""
    for x in (torch.cat([torch.linspace(-20, 20, 40_001, dtype=F64), range_grid()]).unique(), every_bfloat16()):
        try:
            y = fn(x)
        except RuntimeError:  # a kernel without bfloat16: the float64 grid alone decides
            continue
        drop = torch.where(y[:-1] > torch.nextafter(y[1:], torch.full_like(y[1:], math.inf)),
                           (y[:-1] - y[1:]).double(), torch.zeros(len(y) - 1, dtype=F64))
        if drop.max() > 0:
            i = int(drop.argmax())
            return (x[i].item(), x[i + 1].item())
    return None


def every_bfloat16() -> Tensor:
    patterns = torch.arange(-2 ** 15, 2 ** 15, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    return patterns[patterns.isfinite()].sort().values


def spare_colour() -> str:
    taken = {act.colour for act in ACTIVATIONS.values()}
    return next((c for c in SPARE_COLOURS if c not in taken), "black")


def register_all(specs: list[str]) -> Callable[[], None]:
    """Add the entries named by --activation specs, then those of installed packages, to the registry, one at a
    time (so two of them cannot share a name or a colour); returns the function that puts the registry back as it
    was. A package's entry already there from the same entry point (a run nested in this process) is kept."""
    before = dict(ACTIVATIONS)

    def restore() -> None:
        ACTIVATIONS.clear()
        ACTIVATIONS.update(before)
    try:
        for spec in specs:
            add(load_spec(spec))
        for entry in from_entry_points(skip=lambda name, where: getattr(ACTIVATIONS.get(name), "origin", "") == where):
            add(entry)
    except UserActivationError:
        restore()
        raise
    return restore


def add(entry: ActivationInfo) -> None:
    ACTIVATIONS[entry.name] = replace(entry, colour=spare_colour())
