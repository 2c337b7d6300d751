"""Decision rules: a confidence interval compared with a threshold gives a verdict.

Every rule answers the question "is the quantity above (or below) `threshold`?":
supported when the whole interval lies on the claimed side, refuted when it lies
wholly on the other side, inconclusive when it straddles the threshold. Intervals
are two-sided at level 1 - 2*alpha, so each one-sided conclusion errs with
probability at most alpha.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal, Sequence

import numpy as np
from scipy import stats

from harness.verdicts import Decision, Verdict

Side = Literal["above", "below"]
ALPHA = 0.01    # every rule's error rate per side, unless a check gives another
POWER = 0.8     # the power at which a decision's minimum detectable effect is stated
# The power a seed count is sized for where a verdict must come out the same under every base seed of the held-out
# flake table (20 base seeds of about 70 checks): a miss in 1 run of 1000 per decision leaves about 0.02 expected
# differing runs per decision in the table. Sized at a pilot's own effect (base seeds 0..19), not at a minimum one.
REPRODUCIBLE_POWER = 0.999


def _t_detectable(standard_error: float, df: int, alpha: float) -> float:
    """The distance from the threshold a t-rule detects with power about POWER (0.79 at df 7, 0.80 at df 31):
    (t quantile at 1 - alpha + t quantile at POWER) standard errors."""
    if df < 1:
        return float("inf")
    return float(stats.t.ppf(1 - alpha, df) + stats.t.ppf(POWER, df)) * standard_error


def seeds_for_power(sd: float, distance: float, *, alpha: float = ALPHA, power: float = POWER) -> int:
    """The fewest seeds at which a one-sample (or paired) t-rule at `alpha` decides, with probability `power`, a true
    effect `distance` beyond its threshold, for per-seed values of standard deviation `sd` (exact, by the noncentral
    t): how a seed count is sized from a pilot run's spread and a minimum effect stated in advance."""
    if distance <= 0 or sd <= 0:
        raise ValueError(f"seeds_for_power needs a positive sd and distance, got sd={sd:g}, distance={distance:g}")
    def reaches(n: int) -> bool:
        return 1 - stats.nct.cdf(stats.t.ppf(1 - alpha, n - 1), n - 1, distance / sd * math.sqrt(n)) >= power
    # the normal approximation undercounts by a seed or two: start just below it
    n = max(2, int(((stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) * sd / distance) ** 2) - 2)
    while not reaches(n):
        n += 1
    return n


def _verdict(lo: float, hi: float, threshold: float, side: Side) -> Verdict:
    claimed_side_holds = lo > threshold if side == "above" else hi < threshold
    other_side_holds = hi < threshold if side == "above" else lo > threshold
    if claimed_side_holds:
        return Verdict.SUPPORTED
    if other_side_holds:
        return Verdict.REFUTED
    return Verdict.INCONCLUSIVE


def _nonfinite_note(decision: Decision) -> str:
    if not decision.nonfinite:
        return ""
    return f"; {decision.nonfinite} of the {decision.n} values are NaN or infinite, so it decides nothing"


NO_WIDTH = "values all equal, so it has no width and decides nothing"


def _notes(decision: Decision) -> str:
    """What a wrapped rule must carry over from the t-rule it calls: why that one decided nothing."""
    return _nonfinite_note(decision) + (f"; {NO_WIDTH}" if decision.rule.endswith(NO_WIDTH) else "")


def _all_equal(x: np.ndarray) -> bool:
    """Equal up to float rounding (0.1 + 0.2 and 0.3 are equal here)."""
    return bool(np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())))


def _undecidable(rule: str, name: str, threshold: float, n: int, nonfinite: int, alpha: float | None) -> Decision:
    """What a rule returns when some of its values are not finite: inconclusive, with no effect or interval."""
    nan = float("nan")
    decision = Decision(Verdict.INCONCLUSIVE, rule, name, nan, (nan, nan), threshold, n, alpha, nonfinite=nonfinite)
    return replace(decision, rule=rule + _nonfinite_note(decision))


def _count_nonfinite(*values: np.ndarray) -> int:
    """How many positions hold a NaN or an infinity in any of the (equally long) arrays."""
    return int(np.logical_or.reduce([~np.isfinite(v) for v in values]).sum())


def mean_test(samples: Sequence[float], threshold: float, *, side: Side = "above",
              alpha: float = ALPHA, name: str = "mean") -> Decision:
    """Student-t interval on the mean of independent samples (one per seed)."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.size
    if nonfinite := _count_nonfinite(x):
        return _undecidable(f"t-interval on the mean, {side} {threshold:g}", name, threshold, n, nonfinite, alpha)
    mean = float(x.mean())
    rule = f"t-interval on the mean, {side} {threshold:g}"
    if n > 1 and _all_equal(x):
        # Equal values give a t-interval of width 0, which would be certainty from a handful of seeds: shares want a
        # proportion interval on their counts (clustered_rate_test), deterministic values the exact rule.
        return Decision(Verdict.INCONCLUSIVE, f"{rule}; {NO_WIDTH}", name, mean, (-math.inf, math.inf), threshold, n,
                        alpha, minimum_detectable_effect=math.inf)
    sem = float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    half = float(stats.t.ppf(1 - alpha, n - 1)) * sem if n > 1 else float("inf")
    alternative = "greater" if side == "above" else "less"
    p = float(stats.ttest_1samp(x, threshold, alternative=alternative).pvalue) if n > 1 else 1.0
    return Decision(_verdict(mean - half, mean + half, threshold, side), rule, name, mean, (mean - half, mean + half),
                    threshold, n, alpha, p, minimum_detectable_effect=_t_detectable(sem, n - 1, alpha))


def paired_test(a: Sequence[float], b: Sequence[float], margin: float = 0.0, *, side: Side = "above",
                alpha: float = ALPHA, name: str = "mean(a - b)") -> Decision:
    """Paired comparison across seeds: is a - b above (or below) `margin`?"""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    decision = mean_test(diff, margin, side=side, alpha=alpha, name=name)
    return replace(decision, rule=f"paired t-interval on the difference, {side} {margin:g}" + _notes(decision))


def within_test(samples: Sequence[float], low: float, high: float, *, outside: bool = False,
                alpha: float = ALPHA, name: str = "mean") -> Decision:
    """Equivalence by two one-sided t-intervals (TOST): is the mean inside (low, high)?

    Supported when the interval lies wholly inside, refuted when it lies wholly beyond either end,
    inconclusive otherwise. With outside=True the claim is that the mean lies outside, and those two
    verdicts swap. The threshold reported is the end the interval comes nearest to.
    """
    ends = [mean_test(samples, low, side="above", alpha=alpha, name=name),
            mean_test(samples, high, side="below", alpha=alpha, name=name)]
    lo, hi = ends[0].interval
    nearest = ends[0] if lo - low < high - hi else ends[1]
    verdict = all_of(ends, name).verdict
    if outside:
        verdict = {Verdict.SUPPORTED: Verdict.REFUTED, Verdict.REFUTED: Verdict.SUPPORTED}.get(verdict, verdict)
    where = "outside" if outside else "inside"
    return replace(nearest, verdict=verdict, rule=f"t-interval on the mean, {where} ({low:g}, {high:g})" + _notes(nearest))


def rate_test(successes: int, n: int, rate: float, *, side: Side = "above",
              alpha: float = ALPHA, name: str = "rate") -> Decision:
    """Clopper-Pearson interval on a proportion of independent cases: does the property hold in more (fewer) than
    `rate` of them? For cases that come in clusters, clustered_rate_test."""
    if n == 0:
        return Decision(Verdict.INCONCLUSIVE, f"Clopper-Pearson interval on a proportion, {side} {rate:g}; no cases, "
                        "so it decides nothing", name, math.nan, (0.0, 1.0), rate, 0, alpha,
                        minimum_detectable_effect=math.inf)
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=1 - 2 * alpha, method="exact")
    lo, hi = float(ci.low), float(ci.high)
    alternative = "greater" if side == "above" else "less"
    p = float(stats.binomtest(int(successes), int(n), rate, alternative=alternative).pvalue)
    # normal approximation at the threshold rate (0 at a rate of 0 or 1, where any exception decides)
    detectable = float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)) * float(np.sqrt(rate * (1 - rate) / n))
    return Decision(_verdict(lo, hi, rate, side), f"Clopper-Pearson interval on a proportion, {side} {rate:g}",
                    name, successes / n, (lo, hi), rate, int(n), alpha, p, minimum_detectable_effect=detectable)


def clustered_rate_test(successes: Sequence[float], trials: Sequence[float], rate: float, *, side: Side = "above",
                        alpha: float = ALPHA, name: str = "rate") -> Decision:
    """A proportion whose cases come in clusters (the inputs and units of one net, the dead units of one seed), which
    are not independent trials: the Clopper-Pearson interval at the effective sample size, the pooled count divided
    by the design effect (Kish: the variance of the clusters' shares over the binomial variance at the mean cluster
    size, at least 1; Korn & Graubard 1998). Clusters that all show one share give no sign of clustering and count
    as independent trials."""
    k, m = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    if m.sum() == 0:
        return rate_test(0, 0, rate, side=side, alpha=alpha, name=name)
    p = float(k.sum() / m.sum())
    binomial = p * (1 - p) / float(m.mean())
    spread = float(np.var(k / np.maximum(m, 1), ddof=1)) if len(k) > 1 else 0.0
    design = max(1.0, spread / binomial) if binomial > 0 else 1.0
    n, hits = float(m.sum()) / design, p * float(m.sum()) / design
    lo = float(stats.beta.ppf(alpha, hits, n - hits + 1)) if hits > 0 else 0.0
    hi = float(stats.beta.ppf(1 - alpha, hits + 1, n - hits)) if hits < n else 1.0
    detectable = float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)) * float(np.sqrt(rate * (1 - rate) / n))
    rule = (f"Clopper-Pearson interval on a clustered proportion ({len(k)} clusters, design effect {design:.3g}), "
            f"{side} {rate:g}")
    return Decision(_verdict(lo, hi, rate, side), rule, name, p, (lo, hi), rate, int(round(n)), alpha,
                    minimum_detectable_effect=detectable)


def slope_test(x: Sequence[float], y: Sequence[float], threshold: float, *, side: Side = "below",
               alpha: float = ALPHA, name: str = "slope") -> Decision:
    """t-interval on a least-squares slope of y on x."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    if nonfinite := _count_nonfinite(x, y):
        return _undecidable(f"t-interval on a regression slope, {side} {threshold:g}", name, threshold, n, nonfinite,
                            alpha)
    fit = stats.linregress(x, y)
    if not fit.stderr > 0:   # y exactly on a line (or constant): no width, no certainty
        return Decision(Verdict.INCONCLUSIVE, f"t-interval on a regression slope, {side} {threshold:g}; {NO_WIDTH}",
                        name, float(fit.slope), (-math.inf, math.inf), threshold, n, alpha,
                        minimum_detectable_effect=math.inf)
    half = float(stats.t.ppf(1 - alpha, n - 2)) * float(fit.stderr)
    lo, hi = fit.slope - half, fit.slope + half
    return Decision(_verdict(lo, hi, threshold, side), f"t-interval on a regression slope, {side} {threshold:g}",
                    name, float(fit.slope), (float(lo), float(hi)), threshold, n, alpha,
                    minimum_detectable_effect=_t_detectable(float(fit.stderr), n - 2, alpha))


def exact_test(value: float, threshold: float, *, side: Side = "below", name: str = "value") -> Decision:
    """For deterministic quantities (worst-case errors, exact counts): no interval, no inconclusive."""
    value = float(value)
    if not np.isfinite(value):
        return _undecidable(f"exact comparison, {side} {threshold:g}", name, threshold, 1, 1, None)
    verdict = _verdict(value, value, threshold, side)
    if verdict is Verdict.INCONCLUSIVE:
        verdict = Verdict.REFUTED
    return Decision(verdict, f"exact comparison, {side} {threshold:g}", name, value, (value, value), threshold, 1,
                    minimum_detectable_effect=0.0)


def all_of(decisions: Sequence[Decision], name: str) -> Decision:
    """A conjunction of sub-claims: supported if all are, refuted if any is, else inconclusive.

    The effect reported is the weakest part's: the first refuted part, else the first inconclusive one.
    A part given NaN or infinite values makes the whole inconclusive (and is the one reported), even
    beside a refuted part: a diverged run is no evidence either way, and should not hide behind one.
    """
    verdict, weakest = Verdict.SUPPORTED, decisions[0]
    for candidate in (Verdict.INCONCLUSIVE, Verdict.REFUTED):
        failing = [d for d in decisions if d.verdict is candidate]
        if failing:
            verdict, weakest = candidate, failing[0]
    nonfinite = sum(d.nonfinite for d in decisions)
    if nonfinite:
        verdict, weakest = Verdict.INCONCLUSIVE, next(d for d in decisions if d.nonfinite)
    parts = "; ".join(f"{d.effect_name}: {d.verdict}" for d in decisions)
    note = f"; its parts were given {nonfinite} NaN or infinite values, so it decides nothing" if nonfinite else ""
    # a conjunction is falsely supported only if every part is: at most its parts' smallest error rate
    alphas = [d.alpha for d in decisions if d.alpha is not None]
    return replace(weakest, verdict=verdict, rule=f"all of [{parts}]{note}", alpha=min(alphas, default=None),
                   effect_name=f"{name} / {weakest.effect_name}", nonfinite=nonfinite)


def any_of(decisions: Sequence[Decision], name: str) -> Decision:
    """A disjunction: supported if any part is, refuted if all are, else inconclusive; the effect reported is the
    first supported part's, else the first inconclusive one's. A negative control over several cells is one: it
    fails as soon as a single cell's control comes out supported."""
    verdict, strongest = Verdict.REFUTED, decisions[0]
    for candidate in (Verdict.INCONCLUSIVE, Verdict.SUPPORTED):
        holding = [d for d in decisions if d.verdict is candidate]
        if holding:
            verdict, strongest = candidate, holding[0]
    parts = "; ".join(f"{d.effect_name}: {d.verdict}" for d in decisions)
    # falsely supported if any part is: at most the sum of its parts' error rates, its alpha (the interval shown is
    # the reported part's, at that part's own level)
    alphas = [d.alpha for d in decisions if d.alpha is not None]
    bound = f"; falsely supported at most {sum(alphas):.2g} of the time" if alphas else ""
    return replace(strongest, verdict=verdict, rule=f"any of [{parts}]{bound}",
                   alpha=sum(alphas) if alphas else None,
                   effect_name=f"{name} / {strongest.effect_name}", nonfinite=sum(d.nonfinite for d in decisions))


def seed_halves(values: Sequence[float]) -> tuple[Sequence[float], Sequence[float]]:
    """The first and second half of a per-seed sequence (array or tensor): one configuration twice, so no effect
    separates them, the negative control of a comparison between configurations. An odd last seed is left out."""
    half = len(values) // 2
    return values[:half], values[half:2 * half]
