"""The exponent estimators and their calibration, against exact power laws, numpy's own fit, the white layer's
Marchenko-Pastur reference and hand-built calibration rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from onen.calibration import (CalibrationRow, Estimator, bootstrap_interval, calibrate, choose_gate, coverage,
                              nonpositive_count, population, resampled_spectra, sample_spectra, standard_estimators)
from onen.spectrum import fit_power_law, white_reference_alpha


@pytest.mark.parametrize("weighting", ["1/n", "none"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, 3.0])
def test_exact_power_law_is_recovered(weighting: str, alpha: float) -> None:
    assert Estimator(weighting, 11, 500).fit(3.0 * population(alpha, 2000)) == pytest.approx(alpha, abs=1e-10)


def test_weightings_match_numpy_polyfit() -> None:
    rng = np.random.default_rng(0)
    spectrum = population(1.2, 300) * np.exp(rng.normal(0, 0.3, 300))
    n = np.arange(11, 201)
    plain = -np.polyfit(np.log(n), np.log(spectrum[n - 1]), 1)[0]
    weighted = -np.polyfit(np.log(n), np.log(spectrum[n - 1]), 1, w=np.sqrt(1 / n))[0]
    assert Estimator("none", 11, 200).fit(spectrum) == pytest.approx(plain, rel=1e-10)
    assert Estimator("1/n", 11, 200).fit(spectrum) == pytest.approx(weighted, rel=1e-10)
    assert Estimator("1/n", 11, 200).fit(spectrum) == pytest.approx(fit_power_law(spectrum, (11, 200)), rel=1e-12)


def test_unusable_eigenvalues_are_counted_and_never_fitted() -> None:
    spectrum = population(1.0, 50)
    spectrum[[30, 31]] = 0.0
    spectrum[40] = -1e-3
    spectrum[45] = np.nan
    assert nonpositive_count(spectrum) == {"nan": 1, "negative": 1, "zero": 2}
    assert Estimator("none", 11, 50).fit(spectrum) == pytest.approx(1.0, abs=1e-10)  # the rest fit exactly
    assert math.isnan(Estimator("none", 11, 50).fit(np.full(50, np.nan)))


def test_estimator_validates() -> None:
    with pytest.raises(ValueError):
        Estimator("log", 11, 500)
    with pytest.raises(ValueError):
        Estimator("1/n", 500, 11)
    with pytest.raises(TypeError):
        Estimator("1/n", 11.0, 500)  # type: ignore[arg-type]
    assert Estimator("1/n", 11, 500).name == "1/n-weighted, ranks 11-500"
    names = [e.name for e in standard_estimators(300)]
    assert len(names) == len(set(names)) and all(e.hi <= 300 for e in standard_estimators(300))


def test_white_layer_bias_is_the_marchenko_pastur_reference() -> None:
    """alpha = 0 sampled with M images: the estimator's value is the book's white reference (an independent code
    path: float64 samples, another generator), within the draws' spread."""
    spectra = sample_spectra(0.0, 200, 1000, draws=4, seed=1)
    fits = Estimator("1/n", 11, 100).fit_many(spectra)
    reference = white_reference_alpha(1000, 200, (11, 100), seed=3)
    assert reference > 0.05  # sampling makes a white layer look like a decaying one
    assert np.mean(fits) == pytest.approx(reference, abs=4 * np.std(fits) + 0.01)


def test_known_exponents_recovered_with_many_samples() -> None:
    """With 100 samples per dimension the sample spectrum is the population's: every standard estimator is within
    0.03 of the true exponent (the calibration's claim at large M / N)."""
    rows, _ = calibrate(standard_estimators(100), [0.5, 1.0, 2.0], dim=100, sample_sizes=[10000], draws=2)
    assert rows and all(abs(r.bias) < 0.03 for r in rows)


def test_bootstrap_interval_is_the_estimate_plus_minus_the_resamples_spread() -> None:
    rng = np.random.default_rng(2)
    spectra = np.stack([population(a, 100) for a in rng.normal(1.1, 0.1, 200)])
    fits = Estimator("1/n", 11, 100).fit_many(spectra)
    low, high = bootstrap_interval(Estimator("1/n", 11, 100), spectra, estimate=1.0)
    assert (low, high) == pytest.approx((1.0 - 1.959964 * fits.std(ddof=1), 1.0 + 1.959964 * fits.std(ddof=1)))
    assert math.isnan(bootstrap_interval(Estimator("1/n", 11, 100), spectra, estimate=math.nan)[0])


def test_resampled_spectra_are_spectra_of_resampled_images() -> None:
    """A bootstrap spectrum equals numpy's covariance spectrum of the same rows drawn with replacement."""
    x = torch.randn(300, 8, generator=torch.Generator().manual_seed(4))
    generator = torch.Generator().manual_seed(5)
    boot = resampled_spectra(x, 1, generator)[0]
    rows = torch.randint(300, (300,), generator=torch.Generator().manual_seed(5))
    expected = np.sort(np.linalg.eigvalsh(np.cov(x[rows].double().numpy(), rowvar=False)))[::-1]
    np.testing.assert_allclose(boot, expected, rtol=1e-5)


def test_coverage_is_near_nominal_without_bias_and_low_with_it() -> None:
    """Away from the layer's last ranks and with 1000 samples per dimension the interval covers the true exponent
    most of the time; a window ending at the last rank, where sampling bends the spectrum down, is biased by more
    than its interval's half-width, and misses."""
    interior, edge = Estimator("1/n", 2, 20), Estimator("1/n", 11, 40)
    share = coverage([interior, edge], 1.0, dim=40, n_samples=40000, draws=8, boots=20, seed=0)
    assert share.shape == (2,) and np.all((share >= 0) & (share <= 1))
    assert share[0] >= 0.6
    few = coverage([edge], 1.0, dim=40, n_samples=4000, draws=6, boots=20, seed=0)
    assert few[0] <= 0.34


def test_gate_rule() -> None:
    wide, narrow, biased = Estimator("1/n", 12, 2000), Estimator("1/n", 11, 500), Estimator("none", 12, 2000)

    def rows(est: Estimator, biases: list[float], n: int = 10000) -> list[CalibrationRow]:
        return [CalibrationRow(est, a, n, b, 0.01, math.nan) for a, b in zip([0.5, 1.0, 1.5, 2.0], biases)]

    table = rows(wide, [0.04, 0.03, 0.02, 0.01]) + rows(narrow, [0.0] * 4) + rows(biased, [0.2, 0.1, 0.1, 0.1])
    assert choose_gate(table, 10000) == wide  # the widest window under 0.05 everywhere
    table = rows(wide, [0.06, 0.03, 0.02, 0.01]) + rows(narrow, [0.0] * 4) + rows(biased, [0.2, 0.1, 0.1, 0.1])
    assert choose_gate(table, 10000) == narrow  # one alpha over the tolerance rules a window out
    assert choose_gate(table, 60000) is None  # no row at that sample size


def test_cached_calibration_holds_every_estimator_and_the_rule_s_gate(tmp_path) -> None:
    from onen.runs.calibration_run import CalibrationConfig, calibration_result, estimators_of, gate_of, stored_calibration

    config = CalibrationConfig(dim=60, alphas=(0.5, 1.0, 1.5, 2.0), sample_sizes=(3000, 6000), draws=2,
                               coverage_alphas=(1.0,), coverage_draws=2, boots=4)
    assert stored_calibration(config, str(tmp_path)) is None
    result = calibration_result(config, str(tmp_path))
    estimators = estimators_of(result)
    assert result.arrays["bias"].shape == (len(estimators), 4, 2)
    assert result.arrays["coverage"].shape == (len(estimators), 1)
    assert result.arrays["mean_spectrum"].shape == (4, 2, 60)
    rows, _ = calibrate(estimators, config.alphas, config.dim, config.sample_sizes, config.draws, config.seed)
    assert gate_of(result) == choose_gate(rows, 3000)  # the same draws, the same rule
    assert stored_calibration(config, str(tmp_path)) is not None
    with pytest.raises(ValueError):
        CalibrationConfig(draws=1)
    with pytest.raises(ValueError):
        CalibrationConfig(alphas=(float("nan"),))
