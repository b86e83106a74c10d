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
