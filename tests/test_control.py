"""The control chapter's analysis on hand-built cached runs: the spectrum check, the rank bands, Vanilla's frontier
and effects above it (against values worked out by hand), the dose-response trend (against numpy's polyfit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onen.analysis import control
from onen.cache import CachedResult
from onen.calibration import Estimator
from onen.runs.config import TrainConfig

EPS = np.array([0.0, 0.1, 0.2, 0.3])


def outcomes(n: int, correct_per_eps: list[int]) -> np.ndarray:
    """[len(EPS), n] booleans: the first k images correct at each radius (nested, as an attack's are)."""
    return np.stack([np.arange(n) < k for k in correct_per_eps])


def run(seed: int, correct: np.ndarray, spectrum: np.ndarray | None = None, epochs: int = 50,
        boot: np.ndarray | None = None) -> CachedResult:
    config = TrainConfig(widths=[40], epochs=epochs, seed=seed)
    acc = correct.mean(axis=1)
    arrays = {"eps_pgd": EPS, "acc_pgd": acc, "correct_pgd": correct,
              "spectrum_0": spectrum if spectrum is not None else np.arange(1, 41, dtype=float) ** -1.0}
    if boot is not None:
        arrays["spectrum_boot_0"] = boot
    return CachedResult(arrays=arrays, meta={"clean_accuracy": float(acc[0])},
                        provenance={"config": {"train": config.to_dict()}, "seed": seed})


def test_check_passes_an_exact_target_and_counts_zeros() -> None:
    exact = [run(s, outcomes(10, [10, 5, 0, 0]), spectrum=3.0 * np.arange(1, 41, dtype=float) ** -1.5)
             for s in range(3)]
    c = control.check(exact, Estimator("1/n", 11, 40), 1.5)
    assert c.reached and np.allclose(c.fitted, 1.5) and np.allclose(c.log_ratio, 0.0, atol=1e-12)
    assert control.check(exact, Estimator("1/n", 11, 40), 1.0).reached is False  # 0.5 away from 1
    zeroed = np.arange(1, 41, dtype=float) ** -1.5
    zeroed[-2:] = 0.0
    c = control.check([run(0, outcomes(10, [10, 5, 0, 0]), spectrum=zeroed)], Estimator("1/n", 11, 40), 1.5)
    assert c.unusable == (0, 0, 2)


def test_band_ratios_of_a_steeper_power_law() -> None:
    """An n^-2 spectrum against the 1/n target anchored at rank 11: lambda_n / gamma_n = 11 / n, so the median of
    each band is 11 over the band's median rank."""
    spectrum = np.arange(1, 2001, dtype=float) ** -2.0
    expected = [11 / np.median(np.arange(12, 21)), 11 / np.median(np.arange(50, 201)),
                11 / np.median(np.arange(500, 2001))]
    np.testing.assert_allclose(control.band_ratios(spectrum), expected, rtol=1e-12)


def test_frontier_and_the_effect_above_it_by_hand() -> None:
    """Vanilla at 1 epoch: clean 0.6, eps50 at the first radius where accuracy halves; at 50 epochs: clean 1.0. The
    frontier is linear in accuracy between them; a network at clean 0.8 is measured against its midpoint."""
    n = 100
    early = run(0, outcomes(n, [60, 30, 0, 0]), epochs=1)   # eps50: 0.3 reached at eps 0.1 exactly -> 0.1
    late = run(0, outcomes(n, [100, 75, 25, 0]), epochs=50)  # 0.5 between 0.75 (0.1) and 0.25 (0.2) -> 0.15
    frontier = control.Frontier({1: [early], 50: [late]})
    assert frontier.at(0.8) == pytest.approx(0.125)
    assert math.isnan(frontier.at(0.5))  # below the frontier's range
    treated = run(0, outcomes(n, [80, 60, 20, 0]))  # 0.4 between 0.6 (0.1) and 0.2 (0.2) -> 0.15
    effect = control.above_frontier([(+1.0, [treated])], frontier, n_boot=50)
    assert effect.per_seed[0] == pytest.approx(0.15 - 0.125)
    assert effect.n_seeds == 1 and effect.verdict(+1) == "not enough seeds"
    assert control.above_frontier([(+1.0, [late])], frontier, n_boot=20).per_seed[0] == pytest.approx(0.0)
    outside = control.above_frontier([(+1.0, [run(0, outcomes(n, [40, 10, 0, 0]))])], frontier, n_boot=20)
    assert outside.verdict(+1) == "outside the frontier"


def test_place_puts_a_network_on_the_frontier_axes_by_hand() -> None:
    """Two seeds at clean 0.8 / 0.6 with eps50 0.15 / 0.1 (worked out as above): the point is their mean; a seed
    whose curve never halves is left out of the eps50, and a network with no such seed has NaN."""
    n = 100
    runs = [run(0, outcomes(n, [80, 60, 20, 0])), run(1, outcomes(n, [60, 30, 0, 0]))]
    assert control.Frontier.place(runs) == pytest.approx((0.7, 0.125))
    flat = run(2, outcomes(n, [60, 60, 60, 60]))
    assert control.Frontier.place([runs[0], flat]) == pytest.approx((0.7, 0.15))
    assert math.isnan(control.Frontier.place([flat])[1])
    early, late = run(0, outcomes(n, [60, 30, 0, 0]), epochs=1), run(0, outcomes(n, [100, 75, 25, 0]))
    acc, e50 = control.Frontier({1: [early], 50: [late]}).curve()
    assert (acc[-1], e50[-1]) == pytest.approx(control.Frontier.place([late]))  # Vanilla sits on its own frontier


def test_each_term_is_measured_against_its_own_frontier() -> None:
    """An interaction of two architectures: each network against its own Vanilla's frontier, by hand; one frontier
    for both gives what above_frontier gives."""
    n = 100
    frontier_a = control.Frontier({1: [run(0, outcomes(n, [60, 30, 0, 0]), epochs=1)],
                                   50: [run(0, outcomes(n, [100, 75, 25, 0]))]})  # 0.1 at 0.6, 0.15 at 1.0
    frontier_b = control.Frontier({1: [run(0, outcomes(n, [50, 50, 0, 0]), epochs=1)],
                                   50: [run(0, outcomes(n, [90, 90, 90, 0]))]})  # 0.15 at 0.5, 0.25 at 0.9
    a = run(0, outcomes(n, [80, 60, 20, 0]))  # eps50 0.15 at clean 0.8: frontier_a there 0.125
    b = run(0, outcomes(n, [70, 70, 0, 0]))   # halves between 0.1 and 0.2 (70 -> 0) at clean 0.7
    b_eps50 = 0.1 + (0.70 - 0.35) / 0.70 * 0.1
    frontier_b_at = 0.15 + (0.7 - 0.5) / (0.9 - 0.5) * (0.25 - 0.15)
    effect = control.above_frontiers([(+1.0, [a], frontier_a), (-1.0, [b], frontier_b)], n_boot=20)
    assert effect.per_seed[0] == pytest.approx((0.15 - 0.125) - (b_eps50 - frontier_b_at))
    same = control.above_frontiers([(+1.0, [a], frontier_a), (-1.0, [b], frontier_a)], n_boot=20)
    assert same.per_seed[0] == pytest.approx(control.above_frontier([(+1.0, [a]), (-1.0, [b])], frontier_a,
                                                                    n_boot=20).per_seed[0])


def test_raw_effect_is_the_eps50_difference_with_an_interval_over_seeds() -> None:
    n = 100
    better = [run(s, outcomes(n, [100, 80 - s, 40, 0])) for s in range(3)]
    worse = [run(s, outcomes(n, [100, 40 + s, 0, 0])) for s in range(3)]
    effect = control.raw_effect([(+1.0, better), (-1.0, worse)], n_boot=50)
    by_hand = []
    for s in range(3):
        e_better = 0.1 + (0.8 - s / 100 - 0.5) / (0.8 - s / 100 - 0.4) * 0.1
        e_worse = 0.0 + (1.0 - 0.5) / (1.0 - (0.40 + s / 100)) * 0.1
        by_hand.append(e_better - e_worse)
    np.testing.assert_allclose(effect.per_seed, by_hand)
    assert effect.low < effect.mean < effect.high and effect.verdict(+1) == "reproduced"


def test_trend_matches_polyfit() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 3, 15)
    y = 0.02 - 0.004 * x + rng.normal(0, 0.001, 15)
    fitted = control.trend(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    assert fitted.slope == pytest.approx(slope) and fitted.intercept == pytest.approx(intercept)
    assert fitted.low < slope < fitted.high < 0
    assert math.isnan(control.trend(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.3])).slope)


def test_exponent_interval_comes_from_the_stored_bootstrap() -> None:
    spectra = np.stack([np.arange(1, 41, dtype=float) ** -a for a in (0.9, 1.0, 1.1, 1.0)])
    value, low, high = control.exponent(run(0, outcomes(10, [10, 5, 0, 0]), boot=spectra), Estimator("1/n", 11, 40))
    assert value == pytest.approx(1.0) and low < 1.0 < high
    assert math.isnan(control.exponent(run(0, outcomes(10, [10, 5, 0, 0])), Estimator("1/n", 11, 40))[1])


def test_the_dose_response_in_words_orders_networks_by_their_mean_exponent() -> None:
    points = {"Vanilla": (np.array([1.8, 1.7]), np.array([0.98, 0.98]), np.array([0.034, 0.036])),
              "Whitened": (np.array([np.nan]), np.array([0.98]), np.array([0.011])),
              "Shaped α=1": (np.array([1.04]), np.array([0.977]), np.array([0.0245]))}
    words = control.dose_in_words(points, ["Vanilla", "Shaped α=3", "Shaped α=1", "Whitened"])
    # no exponent first, then ascending mean exponent; means over seeds; a name without results is left out
    assert words == ("Whitened: ε50 0.0110 (1 seed); Shaped α=1 (α 1.04): ε50 0.0245 (1 seed); "
                     "Vanilla (α 1.75): ε50 0.0350 (2 seeds)")
    assert control.dose_in_words(points, ["Shaped α=3"]) == "not computed yet"


def _effect(per_seed: list[float]) -> control.Effect:
    values = np.asarray(per_seed, dtype=float)
    return control.Effect(values, float(values.mean()), float(values.min()), float(values.max()))


def test_dose_finding_reads_the_sign_of_every_step_and_of_both_neighbours_of_one() -> None:
    steps = [(0.5, 1.0, "s1"), (1.0, 1.5, "s2"), (1.5, 2.0, "s3")]
    peak = [(0.5, "p05"), (1.5, "p15")]
    rising = {"s1": _effect([0.008]), "s2": _effect([0.005]), "s3": _effect([0.004]),
              "p05": _effect([0.008]), "p15": _effect([-0.005])}
    effects = {k: (v, v) for k, v in rising.items()}
    assert control.dose_finding(effects, steps, peak) == (
        "ε50 rises at every step of the shaped exponent (0.5 → 1 → 1.5 → 2); α = 1 is not a peak: it beats α = 0.5 "
        "by 0.0080 and loses to α = 1.5 by 0.0050 (one seed, so every verdict still reads \"not enough seeds\")")
    # a fall at one step, alpha = 1 above both neighbours, two seeds
    peaked = {"s1": _effect([0.01, 0.02]), "s2": _effect([-0.01, -0.02]), "s3": _effect([0.0, 0.0]),
              "p05": _effect([0.01, 0.02]), "p15": _effect([0.01, 0.02])}
    words = control.dose_finding({k: (v, v) for k, v in peaked.items()}, steps, peak)
    assert words.startswith("ε50 does not rise at every step of the shaped exponent (0.5 → 1 → 1.5 → 2): it falls "
                            "or stays at 1 → 1.5, 1.5 → 2; α = 1 is a peak: it beats α = 0.5 by 0.0150 and beats")
    assert words.endswith("(at least 2 seeds per effect; the verdicts are in the table)")
    assert control.dose_finding({}, steps, peak) == "not computed yet"
    # one step on two seeds, the others on one
    mixed = {**effects, "s2": (_effect([0.004, 0.006]), _effect([0.004, 0.006]))}
    assert control.dose_finding(mixed, steps, peak).endswith(
        "(1 to 2 seeds per effect: those on one seed read \"not enough seeds\", the others' verdicts are in the table)")
