"""Spectra and power-law fits against numpy references, exact power laws and known population spectra."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
from torch import nn

from onen.spectrum import (
    REACHED_ALPHA_TOLERANCE,
    REACHED_LOG_RATIO,
    RunningCovariance,
    TargetScore,
    covariance,
    eigenspectrum,
    eigh_descending,
    fit_power_law,
    layer_covariances,
    layer_spectra,
    power_law_spectrum,
    sample_with_spectrum,
    target_ratio,
    target_score,
)


def correlated(n: int, d: int, seed: int, offset: float = 0.0) -> torch.Tensor:
    """[n, d] float64 samples with a non-trivial covariance and a non-zero mean."""
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return torch.randn(n, d, generator=gen, dtype=torch.float64) @ mix + torch.linspace(-2, 3, d) + offset


def test_covariance_matches_numpy() -> None:
    h = correlated(300, 17, seed=0).float()
    cov = covariance(h)
    assert cov.dtype == torch.float64 and cov.shape == (17, 17)
    reference = np.cov(h.double().numpy(), rowvar=False)
    np.testing.assert_allclose(cov.numpy(), reference, rtol=1e-12, atol=1e-12)


def test_covariance_flattens_and_needs_two_samples() -> None:
    h = correlated(50, 12, seed=1).reshape(50, 3, 4)
    np.testing.assert_allclose(covariance(h).numpy(), np.cov(h.reshape(50, 12).numpy(), rowvar=False), rtol=1e-12)
    with pytest.raises(ValueError):
        covariance(h[:1])


def test_eigh_descending_order_and_reconstruction() -> None:
    cov = covariance(correlated(200, 25, seed=2))
    values, vectors = eigh_descending(cov)
    assert torch.all(values[:-1] >= values[1:])
    np.testing.assert_allclose((vectors * values) @ vectors.T, cov, rtol=0, atol=1e-10 * float(values[0]))
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(25), atol=1e-12)
    # each column is an eigenvector of its own eigenvalue
    np.testing.assert_allclose(cov @ vectors, vectors * values, atol=1e-10 * float(values[0]))
    np.testing.assert_allclose(values.numpy(), np.sort(np.linalg.eigvalsh(cov.numpy()))[::-1], rtol=1e-10)
    np.testing.assert_allclose(eigenspectrum(correlated(200, 25, seed=2)).numpy(), values.numpy(), rtol=1e-12)


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e5])
def test_running_covariance_equals_covariance_of_concatenation(offset: float) -> None:
    h = correlated(1000, 20, seed=3, offset=offset)
    # uneven chunks, one of a single row, and a chunk with a shifted mean
    h[700:] += 5.0
    acc = RunningCovariance()
    for chunk in torch.split(h, [1, 333, 366, 299, 1]):
        acc.update(chunk)
    reference = np.cov(h.numpy(), rowvar=False)
    scale = np.abs(reference).max()
    np.testing.assert_allclose(acc.covariance().numpy(), reference, rtol=0, atol=1e-11 * scale)


def test_running_covariance_float32_chunks_and_errors() -> None:
    h = correlated(400, 8, seed=4, offset=1e3).float()
    acc = RunningCovariance()
    with pytest.raises(ValueError):
        acc.covariance()
    acc.update(h[:1])
    with pytest.raises(ValueError):
        acc.covariance()
    acc.update(h[1:])
    np.testing.assert_allclose(acc.covariance().numpy(), np.cov(h.double().numpy(), rowvar=False), rtol=1e-9, atol=1e-9)


def _net() -> nn.Sequential:
    """A net whose eval output differs from its train output (BatchNorm running stats, dropout)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 6), nn.ReLU(),
                        nn.Linear(6, 3))
    net.train()
    with torch.no_grad():
        for _ in range(3):  # move the running stats away from their initial values
            net(torch.randn(64, 10) * 2 + 1)
    return net


@pytest.mark.parametrize("training", [True, False])
def test_layer_covariances_eval_mode_chunks_and_restores_mode(training: bool) -> None:
    net = _net()
    net.train(training)
    x = torch.randn(1037, 10)
    covs = layer_covariances(net, [net[2], net[5]], x, chunk_size=100)
    assert net.training == training
    assert all(m.training == training for m in net.modules())
    # reference: the eval-mode forward, run by hand on the whole input at once
    net.eval()
    with torch.no_grad():
        h2 = net[2](net[1](net[0](x)))
        h5 = net[5](net[4](net[3](h2)))
    np.testing.assert_allclose(covs[0].numpy(), np.cov(h2.double().numpy(), rowvar=False), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(covs[1].numpy(), np.cov(h5.double().numpy(), rowvar=False), rtol=1e-6, atol=1e-8)
    spectra = layer_spectra(net, [net[5]], x, chunk_size=256)
    assert isinstance(spectra[0], np.ndarray)
    np.testing.assert_allclose(spectra[0], np.sort(np.linalg.eigvalsh(np.cov(h5.double().numpy(), rowvar=False)))[::-1],
                               rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.37, 2.5])
def test_fit_power_law_exact(alpha: float) -> None:
    spectrum = power_law_spectrum(2000, alpha, scale=3.7)
    np.testing.assert_allclose(spectrum, 3.7 / np.arange(1, 2001) ** alpha, rtol=1e-15)
    assert abs(fit_power_law(spectrum) - alpha) < 1e-10
    assert abs(fit_power_law(torch.from_numpy(spectrum), ranks=(5, 100)) - alpha) < 1e-10
    # non-positive eigenvalues inside the window are left out, so the fit stays exact
    broken = spectrum.copy()
    broken[[20, 200, 400]] = [0.0, -1.0, -1e-3]
    assert abs(fit_power_law(broken) - alpha) < 1e-10
    # a window reaching past the end is clipped to the spectrum
    assert abs(fit_power_law(spectrum[:300], ranks=(11, 500)) - alpha) < 1e-10


def stringer_fit(spectrum: np.ndarray, lo: int, hi: int) -> float:
    """Stringer et al. (2019)'s fit, as in their published code: weighted normal equations with weights 1/n."""
    n = np.arange(lo, hi + 1, dtype=np.float64)
    y = np.log(np.abs(spectrum[lo - 1 : hi]))[:, None]
    x = np.stack([-np.log(n), np.ones_like(n)], axis=1)
    w = (1.0 / n)[:, None]
    return float(np.linalg.solve(x.T @ (x * w), (w * x).T @ y)[0, 0])


def test_fit_power_law_weights_match_stringer() -> None:
    """On a curved, noisy spectrum the fit depends on the weights: they must be Stringer et al.'s 1/n."""
    rng = np.random.default_rng(0)
    n = np.arange(1, 1001)
    spectrum = n ** -1.0 * np.exp(0.3 * np.sin(np.log(n) * 2.0) + 0.05 * rng.standard_normal(n.size))
    for lo, hi in [(11, 500), (5, 100), (1, 1000)]:
        assert abs(fit_power_law(spectrum, (lo, hi)) - stringer_fit(spectrum, lo, hi)) < 1e-10


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_fit_power_law_recovers_exponent_from_samples(alpha: float) -> None:
    population = power_law_spectrum(200, alpha)
    samples = sample_with_spectrum(20000, population, seed=1)
    assert samples.shape == (20000, 200) and samples.dtype == torch.float64
    spectrum = eigenspectrum(samples).numpy()
    assert abs(fit_power_law(spectrum, ranks=(5, 100)) - alpha) < 0.1


def test_sample_with_spectrum_population_covariance() -> None:
    population = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    samples = sample_with_spectrum(100000, population, seed=3)
    np.testing.assert_allclose(np.linalg.eigvalsh(np.cov(samples.numpy(), rowvar=False))[::-1], population, rtol=0.03)
    assert torch.equal(samples, sample_with_spectrum(100000, population, seed=3))
    assert not torch.equal(samples, sample_with_spectrum(100000, population, seed=4))


@pytest.mark.parametrize("ranks", [(0, 10), (10, 5), (-1, 3)])
def test_fit_power_law_rejects_bad_windows(ranks: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        fit_power_law(power_law_spectrum(100, 1.0), ranks)


def test_fit_power_law_needs_two_positive_points() -> None:
    spectrum = power_law_spectrum(100, 1.0)
    with pytest.raises(ValueError):
        fit_power_law(spectrum, (100, 200))  # one point left after clipping
    spectrum[10:] = 0.0
    with pytest.raises(ValueError):
        fit_power_law(spectrum, (11, 50))


# --- target_score: the distance of a spectrum from Eq. 2's own target over the penalized ranks ---------------------


def hand_median_abs_log_ratio(spectrum: list[float], tau: int, alpha: float) -> float:
    """Median over 0-based k = tau+1 .. N-1 of |log(lambda_k / gamma_k)|, gamma_k = lambda_tau ((tau+1)/(k+1))^alpha,
    written out rank by rank (a non-positive eigenvalue is infinitely far)."""
    distances = []
    for k in range(tau + 1, len(spectrum)):
        gamma = spectrum[tau] * ((tau + 1) / (k + 1)) ** alpha
        distances.append(abs(math.log(spectrum[k] / gamma)) if spectrum[k] > 0 else math.inf)
    return statistics.median(distances)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("tau", [0, 10, 37])
def test_target_score_of_the_target_itself(alpha: float, tau: int) -> None:
    spectrum = 4.2 * np.arange(1, 1001, dtype=np.float64) ** -alpha
    score = target_score(spectrum, tau=tau, alpha=alpha)
    assert isinstance(score, TargetScore)
    assert abs(score.fitted_alpha - alpha) < 1e-10
    assert score.target_alpha == alpha
    assert abs(score.median_abs_log_ratio) < 1e-12
    assert score.ranks == (tau + 2, 1000)
    assert score.reached


@pytest.mark.parametrize(("a", "alpha", "tau"), [(1.3, 1.0, 10), (0.6, 1.0, 10), (2.0, 1.5, 4), (1.0, 2.0, 25)])
def test_target_score_of_another_power_law(a: float, alpha: float, tau: int) -> None:
    n_dims = 700
    spectrum = [float(n) ** -a for n in range(1, n_dims + 1)]
    score = target_score(np.array(spectrum), tau=tau, alpha=alpha)
    assert abs(score.fitted_alpha - a) < 1e-10
    assert score.target_alpha == alpha
    expected = hand_median_abs_log_ratio(spectrum, tau, alpha)
    assert score.median_abs_log_ratio == pytest.approx(expected, rel=1e-10)
    # closed form: |log ratio| = |a - alpha| log((k+1)/(tau+1)), so its median is that at the median rank
    k = np.arange(tau + 1, n_dims)
    assert expected == pytest.approx(abs(a - alpha) * float(np.median(np.log((k + 1) / (tau + 1)))), rel=1e-10)
    assert not score.reached  # every case here misses the exponent by more than the tolerance


@pytest.mark.parametrize("n_dims", [500, 2000])
@pytest.mark.parametrize("tau", [3, 10])
def test_target_score_window_is_the_penalized_ranks(n_dims: int, tau: int) -> None:
    rng = np.random.default_rng(n_dims + tau)
    n = np.arange(1, n_dims + 1)
    # a curved, noisy spectrum, so that the fit depends on exactly which ranks it reads
    spectrum = np.sort(n ** -1.0 * np.exp(0.4 * np.sin(np.log(n) * 2.0) + 0.05 * rng.standard_normal(n_dims)))[::-1]
    score = target_score(spectrum, tau=tau, alpha=1.0)
    assert score.ranks == (tau + 2, n_dims)
    assert abs(score.fitted_alpha - stringer_fit(spectrum, tau + 2, n_dims)) < 1e-10
    assert score.median_abs_log_ratio == pytest.approx(hand_median_abs_log_ratio(list(spectrum), tau, 1.0), rel=1e-10)
    # ranks 1 .. tau+1 are outside the fit: raising them changes neither the fit nor (except through the anchor,
    # rank tau+1, which is left alone here) the distance
    raised = spectrum.copy()
    raised[:tau] *= 1.0 + np.arange(tau, 0, -1)
    again = target_score(raised, tau=tau, alpha=1.0)
    assert again.fitted_alpha == pytest.approx(score.fitted_alpha, abs=1e-12)
    assert again.median_abs_log_ratio == pytest.approx(score.median_abs_log_ratio, abs=1e-12)
    # rank tau+2 is inside it
    lowered = spectrum.copy()
    lowered[tau + 1] = 0.5 * (spectrum[tau + 1] + spectrum[tau + 2])
    assert abs(target_score(lowered, tau=tau, alpha=1.0).fitted_alpha - score.fitted_alpha) > 1e-6


def test_target_score_reached_needs_both_numbers() -> None:
    n = np.arange(1, 501, dtype=np.float64)
    tau = 10
    assert REACHED_ALPHA_TOLERANCE == 0.1 and REACHED_LOG_RATIO == pytest.approx(math.log(2.0))
    # the right exponent, but the tail sits a factor 1.9 (reached) or 10 (not reached) below the anchor's target
    for factor, reached in [(1.9, True), (10.0, False)]:
        spectrum = n ** -1.0
        spectrum[tau + 1 :] /= factor
        score = target_score(spectrum, tau=tau, alpha=1.0)
        assert abs(score.fitted_alpha - 1.0) < 1e-10
        assert score.median_abs_log_ratio == pytest.approx(math.log(factor), rel=1e-12)
        assert score.reached is reached
    # close to the target everywhere, but an exponent 0.15 away
    near = target_score(n ** -1.15, tau=tau, alpha=1.0)
    assert near.median_abs_log_ratio < REACHED_LOG_RATIO and not near.reached
    # within the tolerance on both counts
    assert target_score(n ** -1.05, tau=tau, alpha=1.0).reached
    # a NaN exponent never counts as reached
    assert not TargetScore(float("nan"), 1.0, 0.0, (12, 500)).reached


def test_target_score_non_positive_tail() -> None:
    tau, n_dims = 10, 400
    spectrum = [float(n) ** -1.2 for n in range(1, n_dims + 1)]
    # a few non-positive eigenvalues at the end (a rank-deficient covariance, rounding below zero)
    few = spectrum[:-30] + [0.0] * 20 + [-1e-15] * 10
    score = target_score(np.array(few), tau=tau, alpha=1.0)
    assert abs(score.fitted_alpha - 1.2) < 1e-10  # left out of the fit
    expected = hand_median_abs_log_ratio(few, tau, 1.0)  # and infinitely far in the distance
    assert math.isfinite(expected)
    assert score.median_abs_log_ratio == pytest.approx(expected, rel=1e-10)
    # leaving them out instead would move the median down to that of the 359 positive ranks
    assert expected > hand_median_abs_log_ratio(spectrum[:-30], tau, 1.0)
    # more than half the penalized ranks non-positive: the median distance is infinite
    most = spectrum[:200] + [0.0] * (n_dims - 200)
    score = target_score(np.array(most), tau=tau, alpha=1.2)
    assert abs(score.fitted_alpha - 1.2) < 1e-10
    assert score.median_abs_log_ratio == math.inf and not score.reached
    # a non-positive anchor: nothing to fit, nothing to compare with
    dead = np.array(spectrum[:tau] + [0.0] * (n_dims - tau))
    score = target_score(dead, tau=tau, alpha=1.0)
    assert math.isnan(score.fitted_alpha) and score.median_abs_log_ratio == math.inf and not score.reached


def test_target_score_rejects_tau_without_two_penalized_ranks() -> None:
    spectrum = power_law_spectrum(20, 1.0)
    assert target_score(spectrum, tau=17).ranks == (19, 20)  # the last two ranks
    for tau in (18, 19, 25, -1):
        with pytest.raises(ValueError):
            target_score(spectrum, tau=tau)


def test_target_score_ignores_input_order() -> None:
    rng = np.random.default_rng(5)
    n = np.arange(1, 301)
    spectrum = np.sort(n ** -0.9 * np.exp(0.1 * rng.standard_normal(300)))[::-1]
    score = target_score(spectrum, tau=10, alpha=1.0)
    assert target_score(spectrum[::-1].copy(), tau=10, alpha=1.0) == score
    assert target_score(torch.from_numpy(spectrum[::-1].copy()), tau=10, alpha=1.0) == score
    assert target_score(rng.permutation(spectrum), tau=10, alpha=1.0) == score


def test_target_ratio_rank_by_rank() -> None:
    n = np.arange(1, 301, dtype=np.float64)
    tau = 10
    # the target itself, at any scale and in any order: ratio 1 at every penalized rank
    ranks, ratio = target_ratio(np.random.default_rng(0).permutation(3.7 / n), tau, 1.0)
    np.testing.assert_array_equal(ranks, np.arange(tau + 2, 301))
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-12)
    # a steeper law n^-1.5 against a 1/n target anchored at rank 11: ratio ((tau+1)/k)^0.5 at 1-based rank k
    _, ratio = target_ratio(n ** -1.5, tau, 1.0)
    np.testing.assert_allclose(ratio, ((tau + 1) / np.arange(tau + 2, 301)) ** 0.5, rtol=1e-12)
    # the score's distance is the median |log| of these ratios
    assert target_score(n ** -1.5, tau, 1.0).median_abs_log_ratio == pytest.approx(np.median(np.abs(np.log(ratio))))
    with pytest.raises(ValueError, match="anchor"):
        target_ratio(np.r_[n[:tau] ** -1.0, np.zeros(290)], tau, 1.0)
    with pytest.raises(ValueError, match="tau"):
        target_ratio(n[:5] ** -1.0, 4, 1.0)


def test_target_score_counts_unusable_eigenvalues_and_never_reaches_with_nan() -> None:
    import numpy as np

    from onen.spectrum import target_score

    exact = 5.0 * np.arange(1, 201, dtype=np.float64) ** -1.0
    assert target_score(exact).reached and target_score(exact).unusable == (0, 0, 0)
    zeros = exact.copy()
    zeros[-3:] = 0.0
    zeros[-4] = -1e-9  # below -1e-12 of the top: counted as negative
    assert target_score(zeros).unusable == (0, 1, 3)
    with_nan = exact.copy()
    with_nan[50] = np.nan
    score = target_score(with_nan)
    assert score.unusable[0] == 1 and not score.reached and math.isnan(score.fitted_alpha)
