"""Statistics for verdicts, against hand-computed cases (no MNIST needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onen.stats import eps_at_half, t_interval, verdict


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
    np.testing.assert_allclose(interaction, [-0.10, -0.10, -0.10], atol=1e-12)
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
    from onen.stats import bootstrap_se

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
    from onen.stats import combined_interval, t_interval, verdict_from_interval

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
