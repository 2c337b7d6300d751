"""The decision rules: each verdict is reachable, and each comes from the interval, not the point estimate."""
import numpy as np
import pytest

from harness.stats import all_of, exact_test, mean_test, paired_test, rate_test, slope_test, within_test
from harness.verdicts import Verdict


@pytest.mark.parametrize("samples, verdict", [
    ([1.0, 1.1, 0.9, 1.05, 0.95], Verdict.SUPPORTED),
    ([-1.0, -1.1, -0.9, -1.05, -0.95], Verdict.REFUTED),
    ([1.0, -1.0, 0.5, -0.5, 0.1], Verdict.INCONCLUSIVE),
])
def test_mean_test_compares_the_whole_interval_with_the_threshold(samples, verdict):
    assert mean_test(samples, 0.0).verdict is verdict


def test_below_reverses_the_sides():
    assert mean_test([-1.0, -1.1, -0.9], 0.0, side="below").verdict is Verdict.SUPPORTED
    assert mean_test([1.0, 1.1, 0.9], 0.0, side="below").verdict is Verdict.REFUTED


def test_a_positive_mean_with_too_few_seeds_is_inconclusive():
    assert mean_test([0.2, 1.5], 0.0).verdict is Verdict.INCONCLUSIVE


def test_paired_test_is_a_test_on_the_differences():
    a, b = np.array([5.0, 6.0, 7.0, 8.0]), np.array([4.0, 5.1, 5.9, 7.0])
    assert paired_test(a, b).verdict is Verdict.SUPPORTED
    assert paired_test(b, a).verdict is Verdict.REFUTED
    assert paired_test(a, b, margin=5.0).verdict is Verdict.REFUTED


def test_rate_test_needs_enough_cases_to_support_a_high_rate():
    assert rate_test(1000, 1000, 0.99).verdict is Verdict.SUPPORTED
    assert rate_test(50, 50, 0.99).verdict is Verdict.INCONCLUSIVE
    assert rate_test(500, 1000, 0.99).verdict is Verdict.REFUTED


def test_slope_test_finds_a_decay_and_rejects_a_flat_line():
    depth = np.arange(10.0)
    assert slope_test(depth, -0.5 * depth + 0.01 * np.sin(depth), 0.0).verdict is Verdict.SUPPORTED
    assert slope_test(depth, 0.3 * depth + 0.01 * np.cos(depth), 0.0).verdict is Verdict.REFUTED


def test_exact_test_has_no_inconclusive():
    assert exact_test(1e-12, 1e-9).verdict is Verdict.SUPPORTED
    assert exact_test(1e-9, 1e-9).verdict is Verdict.REFUTED


def test_all_of_reports_the_weakest_part():
    good, bad, unsure = mean_test([1.0, 1.1, 0.9], 0.0), exact_test(1.0, 0.0), mean_test([1.0, -1.0, 0.1], 0.0)
    assert all_of([good, good], "both").verdict is Verdict.SUPPORTED
    assert all_of([good, unsure], "both").verdict is Verdict.INCONCLUSIVE
    combined = all_of([good, unsure, bad], "all")
    assert combined.verdict is Verdict.REFUTED and combined.effect == bad.effect


@pytest.mark.parametrize("samples, verdict", [
    ([0.01, -0.02, 0.0, 0.015, -0.01], Verdict.SUPPORTED),
    ([0.9, 1.1, 1.0, 0.95, 1.05], Verdict.REFUTED),
    ([-0.9, -1.1, -1.0, -0.95, -1.05], Verdict.REFUTED),
    ([0.3, -0.2, 0.05, 0.4, -0.3], Verdict.INCONCLUSIVE),
])
def test_within_test_needs_the_whole_interval_inside_the_band(samples, verdict):
    assert within_test(samples, -0.1, 0.1).verdict is verdict


def test_within_test_reports_the_end_the_interval_comes_nearest_to():
    assert within_test([0.07, 0.08, 0.075, 0.072], -0.1, 0.1).threshold == 0.1
    assert within_test([-0.07, -0.08, -0.075, -0.072], -0.1, 0.1).threshold == -0.1


def test_within_test_outside_swaps_supported_and_refuted_only():
    inside, beyond, straddling = [0.01, -0.02, 0.0, 0.015], [0.9, 1.1, 1.0, 0.95], [0.3, -0.2, 0.05, 0.4, -0.3]
    assert within_test(inside, -0.1, 0.1, outside=True).verdict is Verdict.REFUTED
    assert within_test(beyond, -0.1, 0.1, outside=True).verdict is Verdict.SUPPORTED
    assert within_test(straddling, -0.1, 0.1, outside=True).verdict is Verdict.INCONCLUSIVE


def test_a_conjunction_carries_the_smallest_error_rate_of_its_statistical_parts_whatever_decided_it():
    exact = exact_test(3.0, 0.5, side="above")
    loose, strict = mean_test([1.0, 1.1, 0.9], 0.0, alpha=0.05), mean_test([1.0, 1.1, 0.9], 0.0, alpha=0.01)
    assert all_of([exact, loose, strict], "c").alpha == 0.01
    assert all_of([strict, exact], "c").alpha == all_of([exact, strict], "c").alpha == 0.01
    assert all_of([exact], "c").alpha is None


def test_each_rule_records_how_far_from_the_threshold_it_can_detect_an_effect():
    from scipy import stats
    samples = [1.0, 1.5, 0.5, 1.2, 0.8, 1.1, 0.9, 1.0]
    sem = np.std(samples, ddof=1) / np.sqrt(8)
    expected = (stats.t.ppf(0.99, 7) + stats.t.ppf(0.8, 7)) * sem
    assert mean_test(samples, 0.0).minimum_detectable_effect == pytest.approx(expected)
    assert paired_test(samples, [0.0] * 8).minimum_detectable_effect == pytest.approx(expected)
    assert exact_test(0.5, 1.0).minimum_detectable_effect == 0.0
    assert rate_test(90, 100, 0.5).minimum_detectable_effect == pytest.approx(
        (stats.norm.ppf(0.99) + stats.norm.ppf(0.8)) * 0.05)
    assert mean_test([1.0], 0.0).minimum_detectable_effect == float("inf")
    assert all_of([mean_test(samples, 0.0), mean_test(samples, 5.0)], "both").minimum_detectable_effect == \
        pytest.approx(expected)                                                # the weakest part's


@pytest.mark.parametrize("values", [[0.0] * 8, [1.0] * 3, [0.25] * 40])
def test_equal_values_give_no_certainty_to_a_t_rule(values):
    """Eight seeds that all give a share of 0 are not proof that the share is 0: the t-interval of equal values has
    no width, so the rule says inconclusive and names the rules that fit (a proportion interval, the exact rule)."""
    for side in ("above", "below"):
        decision = mean_test(values, 0.5, side=side)
        assert decision.verdict is Verdict.INCONCLUSIVE and "all" in decision.rule and "equal" in decision.rule
        assert decision.interval == (-np.inf, np.inf) and decision.minimum_detectable_effect == np.inf
    assert paired_test(values, values, 0.5).verdict is Verdict.INCONCLUSIVE


def test_a_share_of_zero_over_many_units_is_decided_by_its_proportion_interval():
    assert rate_test(0, 4000, 0.01, side="below").verdict is Verdict.SUPPORTED
    assert rate_test(0, 50, 0.01, side="below").verdict is Verdict.INCONCLUSIVE   # 50 units cannot show under 1%
