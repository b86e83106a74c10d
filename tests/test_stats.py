"""Statistics for verdicts, against hand-computed cases (no MNIST needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onen.analysis import stats
from onen.analysis.stats import eps_at_half, t_interval, verdict


def test_t_interval_matches_a_textbook_example() -> None:
    # n = 3, values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653, half width 4.302653 / sqrt(3) = 2.484138
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert low == pytest.approx(2 - 2.484138, abs=1e-6) and high == pytest.approx(2 + 2.484138, abs=1e-6)
    # n = 10, the classic Student sleep data differences (mean 1.58, sd 1.2299, t(0.975, 9) = 2.262157)
    sleep = [1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4]
    mean, low, high = t_interval(sleep)
    assert mean == pytest.approx(1.58) and low == pytest.approx(0.7001, abs=1e-4) and high == pytest.approx(2.4599,
                                                                                                           abs=1e-4)


def test_t_interval_with_one_value_has_no_width_and_rejects_bad_input() -> None:
    mean, low, high = t_interval([0.3])
    assert mean == 0.3 and math.isnan(low) and math.isnan(high)
    for bad in ([], [1.0, float("nan")], [[1.0, 2.0]]):
        with pytest.raises(ValueError):
            t_interval(bad)


def test_verdicts_follow_the_stated_rule() -> None:
    assert verdict([0.10, 0.12, 0.11], +1) == "reproduced"
    assert verdict([0.10, 0.12, 0.11], -1) == "contradicted"
    assert verdict([0.10, -0.12, 0.05], +1) == "not resolved"
    assert verdict([0.5], +1) == "not enough seeds"
    # with 3 seeds a mean of 2.5 standard errors is not enough (t(0.975, 2) = 4.30): the old 2-SE rule said yes
    diffs = np.array([1.0, 2.0, 3.0]) - 2.0 + 2.5 / math.sqrt(3) * 1.0
    assert diffs.mean() / (diffs.std(ddof=1) / math.sqrt(3)) == pytest.approx(2.5)
    assert verdict(diffs, +1) == "not resolved"


def test_interaction_of_a_known_two_by_two() -> None:
    # per seed: SpecReg-Wh, Vanilla-Wh, SpecReg, Vanilla -> (a - b) - (c - d)
    cells = np.array([[0.30, 0.30, 0.50, 0.40], [0.32, 0.31, 0.52, 0.41], [0.29, 0.30, 0.49, 0.40]])
    interaction = (cells[:, 0] - cells[:, 1]) - (cells[:, 2] - cells[:, 3])
    assert verdict(interaction + np.array([0.0, 0.001, -0.001]), -1) == "reproduced"


def test_eps_at_half_interpolates_between_grid_points() -> None:
    eps = [0.0, 0.1, 0.2, 0.3]
    assert eps_at_half(eps, [0.9, 0.6, 0.3, 0.0], clean=0.9) == pytest.approx(0.15)  # 0.45 halfway from 0.6 to 0.3
    assert eps_at_half(eps, [0.9, 0.45, 0.3, 0.0], clean=0.9) == pytest.approx(0.1)  # exactly on a grid point
    assert math.isnan(eps_at_half(eps, [0.9, 0.8, 0.7, 0.6], clean=0.9))  # never falls to half on this grid
    assert eps_at_half(eps, [0.4, 0.3, 0.2, 0.0], clean=0.9) == 0.0
    with pytest.raises(ValueError):
        eps_at_half([0.0, 0.0], [0.9, 0.1], clean=0.9)


def test_paired_bootstrap_matches_the_analytic_standard_error() -> None:
    """For the difference of two accuracies on the same images the bootstrap SE converges to sd(a - b) / sqrt(N)
    (population sd); pairing matters: the unpaired formula is twice as large here."""
    from onen.analysis.stats import bootstrap_se

    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.7
    b = a.copy()
    flip = rng.choice(400, 40, replace=False)
    b[flip] = ~b[flip]  # the two networks disagree on 10% of the images
    d = a.astype(float) - b.astype(float)
    analytic = d.std() / np.sqrt(400)
    se = bootstrap_se(lambda idx: a[idx].mean() - b[idx].mean(), 400, n_boot=3000, seed=0)
    assert se == pytest.approx(analytic, rel=0.08)
    unpaired = np.sqrt(a.var() / 400 + b.var() / 400)
    assert unpaired > 2 * se
    assert math.isnan(bootstrap_se(lambda idx: float("nan"), 10))  # no finite replicate
    with pytest.raises(ValueError):
        bootstrap_se(lambda idx: 0.0, 0)


def test_combined_interval_by_hand() -> None:
    from onen.analysis.stats import combined_interval, t_interval, verdict_from_interval

    mean, low, high = combined_interval([1.0, 2.0, 3.0], 0.5)
    half = 4.302652729911275 * np.sqrt(1.0 / 3 + 0.25)  # t(0.975, 2) * sqrt(s^2 / n + se^2)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert combined_interval([1.0, 2.0, 3.0], 0.0) == pytest.approx(t_interval([1.0, 2.0, 3.0]))
    one = combined_interval([0.3], 0.1)
    assert one == pytest.approx((0.3, 0.3 - 1.959963984540054 * 0.1, 0.3 + 1.959963984540054 * 0.1))
    assert verdict_from_interval(1, *one, expected_sign=1) == "not enough seeds"
    assert verdict_from_interval(3, mean, low, high, 1) == "not resolved"
    assert verdict_from_interval(3, 2.0, 0.5, 3.5, 1) == "reproduced"
    assert verdict_from_interval(3, 2.0, 0.5, 3.5, -1) == "contradicted"
    for bad in (float("nan"), -0.1):
        with pytest.raises(ValueError):
            combined_interval([1.0, 2.0], bad)


# --- paired_contrast: checked against the formulas written out by hand ---------------------------------------------

def _hand_bootstrap_se(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> float:
    """SE over image resamples of mean_s(mean(a_s[idx]) - mean(b_s[idx])), a and b bool [seeds, images]; the
    resamples are bootstrap_se's documented draws (default_rng(seed).integers(0, N, N), n_boot times)."""
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        idx = rng.integers(0, a.shape[1], a.shape[1])
        reps.append(np.mean([a[s, idx].sum() / len(idx) - b[s, idx].sum() / len(idx) for s in range(a.shape[0])]))
    return float(np.std(reps, ddof=1))


def test_paired_contrast_matches_a_hand_computation_of_seeds_and_images() -> None:
    from scipy import stats as st

    rng = np.random.default_rng(3)
    a = rng.random((3, 40)) < np.array([[0.9], [0.8], [0.85]])
    b = rng.random((3, 40)) < 0.6
    result = stats.paired_contrast([stats.Term(+1, a.mean(1), list(a), summary=np.mean),
                                    stats.Term(-1, b.mean(1), list(b), summary=np.mean)], n_boot=200, seed=5)
    diffs = [a[s].sum() / 40 - b[s].sum() / 40 for s in range(3)]
    se = _hand_bootstrap_se(a, b, 200, 5)
    mean = sum(diffs) / 3
    sd = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5
    half = st.t.ppf(0.975, 2) * (sd**2 / 3 + se**2) ** 0.5
    assert result.image_se == pytest.approx(se, rel=1e-12)
    assert (result.mean, result.low, result.high) == pytest.approx((mean, mean - half, mean + half), rel=1e-12)
    assert result.n_seeds == 3 and result.per_seed == pytest.approx(diffs)
    expected = "reproduced" if mean - half > 0 else "not resolved"
    assert result.verdict(+1) == expected
    assert result.verdict(-1) == ("contradicted" if expected == "reproduced" else "not resolved")


def test_paired_contrast_without_outcomes_is_the_t_interval_over_seeds_of_the_signed_sum() -> None:
    from scipy import stats as st

    # (a - b) - (c - d) per seed, seeds truncated to the fewest any term has (3)
    terms = [stats.Term(+1, [0.30, 0.25, 0.28, 9.0]), stats.Term(-1, [0.20, 0.21, 0.19]),
             stats.Term(-1, [0.05, 0.02, 0.04]), stats.Term(+1, [0.01, 0.00, 0.02])]
    result = stats.paired_contrast(terms)
    diffs = [0.30 - 0.20 - 0.05 + 0.01, 0.25 - 0.21 - 0.02 + 0.00, 0.28 - 0.19 - 0.04 + 0.02]
    mean = sum(diffs) / 3
    half = st.t.ppf(0.975, 2) * (sum((d - mean) ** 2 for d in diffs) / 2 / 3) ** 0.5
    assert np.isnan(result.image_se)
    assert (result.mean, result.low, result.high) == pytest.approx((mean, mean - half, mean + half))


def test_paired_contrast_leaves_undefined_seeds_out_and_one_seed_is_not_enough() -> None:
    result = stats.paired_contrast([stats.Term(+1, [0.2, float("nan"), 0.3]), stats.Term(-1, [0.1, 0.1, 0.1])])
    assert result.n_seeds == 2 and result.mean == pytest.approx(0.15)
    assert np.isnan(result.per_seed[1])
    # one seed with per-image outcomes: the interval is the image error alone (normal quantile), no verdict
    a, b = np.array([[1, 1, 1, 0, 1, 1]], bool), np.array([[1, 0, 0, 0, 1, 0]], bool)
    one = stats.paired_contrast([stats.Term(+1, a.mean(1), list(a), np.mean),
                                 stats.Term(-1, b.mean(1), list(b), np.mean)], n_boot=300, seed=1)
    se = _hand_bootstrap_se(a, b, 300, 1)
    assert one.mean == pytest.approx(0.5) and one.high - one.mean == pytest.approx(1.959963984540054 * se)
    assert one.verdict(+1) == "not enough seeds"
    none = stats.paired_contrast([stats.Term(+1, [float("nan")]), stats.Term(-1, [0.1])])
    assert none.n_seeds == 0 and np.isnan(none.mean) and none.verdict(+1) == "not enough seeds"


def test_paired_contrast_refuses_inconsistent_terms() -> None:
    a = np.ones((2, 5), bool)
    with pytest.raises(ValueError, match="same images"):
        stats.paired_contrast([stats.Term(1, [1, 1], list(a), np.mean),
                               stats.Term(-1, [1, 1], [np.ones(4, bool)] * 2, np.mean)])
    with pytest.raises(ValueError, match="summary"):
        stats.paired_contrast([stats.Term(1, [1, 1], list(a))])
    with pytest.raises(ValueError, match="outcome arrays"):
        stats.paired_contrast([stats.Term(1, [1, 1, 1], list(a), np.mean)])
    with pytest.raises(ValueError, match="sign"):
        stats.paired_contrast([stats.Term(0, [1.0])])
    with pytest.raises(ValueError, match="at least one term"):
        stats.paired_contrast([])


def test_eps_at_half_of_outcomes_reads_the_clean_accuracy_at_eps_zero() -> None:
    correct = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]], bool)  # 100%, 75%, 25%
    # half of 100% is 50%, crossed between 75% at 0.1 and 25% at 0.2: 0.1 + (0.75 - 0.5) / 0.5 * 0.1
    assert stats.eps_at_half_of_outcomes([0.0, 0.1, 0.2], correct) == pytest.approx(0.15)
    assert np.isnan(stats.eps_at_half_of_outcomes([0.0, 0.1, 0.2], np.zeros((3, 4), bool)))
    with pytest.raises(ValueError, match="starting at 0"):
        stats.eps_at_half_of_outcomes([0.05, 0.1, 0.2], correct)
    with pytest.raises(ValueError, match="correct must be"):
        stats.eps_at_half_of_outcomes([0.0, 0.1], correct)


def test_outcome_term_reads_each_seed_by_hand_and_resamples_the_same_way() -> None:
    eps = [0.0, 0.1, 0.2]
    # seed 0: accuracy 1.0, 0.5, 0.0 -> eps50 exactly 0.1; seed 1: 0.75, 0.5, 0.25 -> half of 0.75 = 0.375 at 0.15
    seed0 = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    seed1 = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    term = stats.outcome_term(-1, eps, [seed0, seed1])
    assert term.sign == -1
    np.testing.assert_allclose(term.values, [0.1, 0.15])
    # the bootstrap's summary of a resample: images 0 and 2 of seed 0 -> accuracy 1, 0.5, 0 -> 0.1
    assert term.summary(seed0[:, [0, 2]]) == pytest.approx(0.1)
    # a seed whose clean accuracy is zero has no eps50
    assert math.isnan(stats.outcome_term(1, eps, [np.zeros((3, 4), dtype=bool)]).values[0])
