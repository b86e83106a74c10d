"""Spectra and power-law fits against numpy references, exact power laws and known population spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from onen.spectrum import (
    RunningCovariance,
    covariance,
    eigenspectrum,
    eigh_descending,
    fit_power_law,
    layer_covariances,
    layer_spectra,
    power_law_spectrum,
    sample_with_spectrum,
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
