"""Are the decision rules calibrated? Data simulated with the true effect exactly at the threshold must come out
supported at most alpha of the time, and each rule's interval must cover the true value at least 1 - 2 alpha of
the time. Each rate is checked with an exact binomial test over DRAWS simulated data sets, so a rule that errs
clearly more often than it should (a normal quantile where a t quantile belongs, an interval a fifth too narrow)
fails, and a correct rule fails with probability below SURPRISE; the draws come from fixed seeds, so the outcome
is the same on every run. The proportion rule depends on the count alone, so its rates are computed exactly."""
from __future__ import annotations

from functools import cache
from typing import Callable

import numpy as np
import pytest
from scipy import stats

from harness.stats import (POWER, all_of, any_of, clustered_rate_test, mean_test, paired_test, rate_test,
                           seeds_for_power, slope_test, within_test)
from harness.verdicts import Decision, Verdict

ALPHA = 0.01            # every rule's default error rate per side
DRAWS = 2000            # simulated data sets per rule: about 20 expected false supports at the boundary, enough
                        # for a rule that errs at 2.4 alpha (an interval a fifth too narrow) to stand out
SURPRISE = 1e-4         # how improbable a count must be under a calibrated rule to fail the test
N = 8                   # seeds per simulated check, as small as the fast tier's checks go


def generator(name: str) -> np.random.Generator:
    return np.random.default_rng([ord(c) for c in name])


def too_often(count: int, rate: float) -> bool:
    """Is `count` events in DRAWS significantly more than `rate` allows?"""
    return stats.binomtest(count, DRAWS, rate, alternative="greater").pvalue < SURPRISE


@cache
def decisions(name: str) -> list[Decision]:
    """The rule named `name` on each of DRAWS simulated data sets (computed once for the tests that read them)."""
    rule = RULES[name][0] if name in RULES else narrowed
    rng = generator(name)
    return [rule(rng) for _ in range(DRAWS)]


THRESHOLD = 0.3
RULES: dict[str, tuple[Callable[[np.random.Generator], Decision], float]] = {
    # rule on one simulated data set whose true value equals the threshold, and that true value
    "mean_test above": (lambda rng: mean_test(rng.normal(THRESHOLD, 1.0, N), THRESHOLD), THRESHOLD),
    "mean_test below": (lambda rng: mean_test(rng.normal(THRESHOLD, 1.0, N), THRESHOLD, side="below"), THRESHOLD),
    "paired_test": (lambda rng: paired_test(rng.normal(1.0 + THRESHOLD, 1.0, N) + (common := rng.normal(0, 3, N)),
                                            1.0 + common, THRESHOLD), THRESHOLD),
    "slope_test": (lambda rng: slope_test(np.arange(N, dtype=float),
                                          THRESHOLD * np.arange(N) + rng.normal(0, 1.0, N), THRESHOLD), THRESHOLD),
}


@pytest.mark.parametrize("name", RULES)
def test_a_rule_supports_a_true_effect_at_its_threshold_at_most_alpha_of_the_time(name):
    supported = sum(d.verdict is Verdict.SUPPORTED for d in decisions(name))
    assert not too_often(supported, ALPHA), f"{name}: supported {supported} of {DRAWS} times at the threshold"


@pytest.mark.parametrize("name", RULES)
def test_a_rules_interval_covers_the_true_value_at_least_one_minus_two_alpha_of_the_time(name):
    truth = RULES[name][1]
    missed = sum(not d.interval[0] <= truth <= d.interval[1] for d in decisions(name))
    assert not too_often(missed, 2 * ALPHA), f"{name}: the interval missed {missed} of {DRAWS} times"


@pytest.mark.parametrize("end", ["low", "high"])
def test_equivalence_supports_a_mean_at_either_end_of_the_range_at_most_alpha_of_the_time(end):
    low, high = -0.5, 0.5
    truth = low if end == "low" else high
    rng = generator(end)
    supported = sum(within_test(rng.normal(truth, 0.3, N), low, high).verdict is Verdict.SUPPORTED
                    for _ in range(DRAWS))
    assert not too_often(supported, ALPHA)


@pytest.mark.parametrize("n, rate", [(20, 0.5), (60, 0.5), (400, 0.5), (400, 0.9)])
def test_the_proportion_rule_is_calibrated_exactly(n, rate):
    """rate_test depends on the count alone, so its error rates are sums over the binomial distribution of the
    count: exact, with no simulation noise."""
    chance = stats.binom.pmf(np.arange(n + 1), n, rate)
    decided = [rate_test(k, n, rate) for k in range(n + 1)]
    supported = sum(p for p, d in zip(chance, decided) if d.verdict is Verdict.SUPPORTED)
    missed = sum(p for p, d in zip(chance, decided) if not d.interval[0] <= rate <= d.interval[1])
    assert supported <= ALPHA and missed <= 2 * ALPHA


def narrowed(rng: np.random.Generator) -> Decision:
    """mean_test with its interval a fifth narrower: a rule that errs too often."""
    decision = mean_test(rng.normal(THRESHOLD, 1.0, N), THRESHOLD)
    half = 0.8 * (decision.interval[1] - decision.interval[0]) / 2
    verdict = Verdict.SUPPORTED if decision.effect - half > THRESHOLD else Verdict.INCONCLUSIVE
    return Decision(verdict, decision.rule, decision.effect_name, decision.effect,
                    (decision.effect - half, decision.effect + half), THRESHOLD, N)


def test_the_calibration_tests_catch_an_interval_narrowed_by_a_fifth():
    """The check on the checks: a rule whose interval is 20% too narrow errs too often, and is caught."""
    supported = sum(d.verdict is Verdict.SUPPORTED for d in decisions("narrowed"))
    assert too_often(supported, ALPHA)


def test_a_true_effect_one_detectable_distance_beyond_the_threshold_is_supported_with_about_the_stated_power():
    """The minimum detectable effect a decision records means what it says: data whose true mean lies that far
    beyond the threshold (for the spread the data has) is supported about POWER of the time."""
    standard_error = 1.0 / np.sqrt(N)
    critical = stats.t.ppf(1 - ALPHA, N - 1)
    distance = (critical + stats.t.ppf(POWER, N - 1)) * standard_error
    exact_power = 1 - stats.nct.cdf(critical, N - 1, distance / standard_error)   # 0.79 at N = 8
    rng = generator("power")
    supported = sum(mean_test(rng.normal(THRESHOLD + distance, 1.0, N), THRESHOLD).verdict is Verdict.SUPPORTED
                    for _ in range(DRAWS))
    assert abs(exact_power - POWER) < 0.02
    assert stats.binomtest(supported, DRAWS, exact_power).pvalue > SURPRISE, f"supported {supported} of {DRAWS}"


def at_threshold(rng: np.random.Generator) -> Decision:
    return mean_test(rng.normal(THRESHOLD, 1.0, N), THRESHOLD)


def far_above(rng: np.random.Generator) -> Decision:
    return mean_test(rng.normal(THRESHOLD + 10.0, 1.0, N), THRESHOLD)


def test_a_conjunction_with_one_part_at_its_threshold_is_supported_at_most_that_parts_alpha():
    """all_of states its error rate as its parts' smallest: reached when every other part is surely true."""
    rng = generator("all_of")
    combined = [all_of([at_threshold(rng), far_above(rng)], "both") for _ in range(DRAWS)]
    assert all(d.alpha == ALPHA for d in combined)
    assert not too_often(sum(d.verdict is Verdict.SUPPORTED for d in combined), ALPHA)


def test_a_disjunction_of_parts_at_their_thresholds_is_supported_at_most_the_sum_of_their_alphas():
    """any_of (a control over the cells of a map) states the sum of its parts' error rates as its bound."""
    rng = generator("any_of")
    combined = [any_of([at_threshold(rng), at_threshold(rng), at_threshold(rng)], "any") for _ in range(DRAWS)]
    assert all("falsely supported at most 0.03 of the time" in d.rule for d in combined)
    assert not too_often(sum(d.verdict is Verdict.SUPPORTED for d in combined), 3 * ALPHA)


@pytest.mark.parametrize("sd, distance", [(1.0, 1.0), (10.0, 6.0), (3.0, 0.5)])
def test_seeds_sized_for_power_detect_the_stated_effect_and_one_fewer_would_not(sd, distance):
    n = seeds_for_power(sd, distance)
    def power(k: int) -> float:
        return 1 - stats.nct.cdf(stats.t.ppf(1 - ALPHA, k - 1), k - 1, distance / sd * np.sqrt(k))
    assert power(n) >= POWER > power(n - 1)
    rng = generator(f"seeds {sd} {distance}")
    supported = sum(mean_test(rng.normal(THRESHOLD + distance, sd, n), THRESHOLD).verdict is Verdict.SUPPORTED
                    for _ in range(DRAWS))
    assert stats.binomtest(supported, DRAWS, power(n)).pvalue > SURPRISE, f"supported {supported} of {DRAWS}"


def clustered_draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """16 clusters of 50 cases whose own rates scatter around THRESHOLD (Beta, intra-cluster correlation 0.2), as
    the units of one net share its weights: cases within a cluster are not independent trials."""
    a, b = THRESHOLD * 4, (1 - THRESHOLD) * 4
    return rng.binomial(50, rng.beta(a, b, 16)), np.full(16, 50)


def test_a_clustered_proportion_at_its_threshold_is_supported_at_most_alpha_of_the_time_and_a_pooled_one_is_not():
    rng = generator("clustered")
    draws = [clustered_draw(rng) for _ in range(DRAWS)]
    clustered = sum(clustered_rate_test(k, m, THRESHOLD).verdict is Verdict.SUPPORTED for k, m in draws)
    pooled = sum(rate_test(int(k.sum()), int(m.sum()), THRESHOLD).verdict is Verdict.SUPPORTED for k, m in draws)
    assert not too_often(clustered, ALPHA), f"supported {clustered} of {DRAWS} times at the threshold"
    assert too_often(pooled, ALPHA), "pooling clustered cases as independent trials should err too often"
