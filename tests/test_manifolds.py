"""Synthetic circles and random tanh networks, checked against exact values and known properties."""

import numpy as np
import pytest

from onen.manifolds import (circle_embedding, critical_sigma_w2, fourier_variances, local_stretch,
                            random_rotation, random_tanh_network_spectra, smoothness_bound, tanh_mean_field)
from onen.spectrum import fit_power_law


@pytest.mark.parametrize("seed", [None, 3])
def test_embedding_covariance_is_the_designed_spectrum(seed):
    # uniformly spaced angles: cos(k theta) and sin(k theta) have mean 0 and variance exactly 1/2 for 0 < k < n/2
    n_points, n_freq, alpha = 64, 10, 2.0
    points = circle_embedding(n_points, alpha, n_freq, seed=seed)
    assert points.shape == (n_points, 2 * n_freq)
    centred = points - points.mean(0)
    eigenvalues = np.sort(np.linalg.eigvalsh(centred.T @ centred / n_points))[::-1]
    designed = np.repeat(np.arange(1, n_freq + 1, dtype=float) ** -alpha / 2, 2)
    np.testing.assert_allclose(eigenvalues, designed, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(points.mean(0), 0, atol=1e-12)


def test_random_rotation_is_orthogonal_and_seeded():
    q = random_rotation(50, seed=1)
    np.testing.assert_allclose(q @ q.T, np.eye(50), atol=1e-12)
    np.testing.assert_array_equal(q, random_rotation(50, seed=1))
    assert not np.allclose(q, random_rotation(50, seed=2))


@pytest.mark.parametrize("alpha", [1.0, 2.0, 4.0])
def test_fitted_exponent_recovers_alpha(alpha):
    points = circle_embedding(1200, alpha, 500, seed=0)
    spectrum = np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1]
    assert fit_power_law(spectrum) == pytest.approx(alpha, abs=0.1)


def test_local_stretch_matches_sampled_differences():
    # naive reference: distances between embedded points m grid steps apart, at every theta
    n_points, n_freq, alpha = 512, 40, 2.5
    points = circle_embedding(n_points, alpha, n_freq, seed=0)
    steps = np.array([1, 3, 17])
    deltas = 2 * np.pi * steps / n_points
    sampled = [np.linalg.norm(np.roll(points, -m, axis=0) - points, axis=1) / d for m, d in zip(steps, deltas)]
    expected = local_stretch(alpha, deltas, n_freq)
    for values, value in zip(sampled, expected):
        np.testing.assert_allclose(values, value, rtol=1e-9)


def test_stretch_converges_above_three_and_diverges_below():
    deltas = np.logspace(-1, -4, 7)
    smooth = local_stretch(5.0, deltas, 100_000)
    # the limit is sqrt(sum_k k^-5 k^2); the tail beyond k = 10^5 is below 1e-10
    limit = np.sqrt(np.sum(np.arange(1, 100_001, dtype=float) ** -3.0))
    assert smooth[-1] == pytest.approx(limit, rel=1e-6)
    assert abs(smooth[-1] - smooth[-2]) < 1e-6
    rough = local_stretch(2.0, deltas, 100_000)
    assert np.all(np.diff(rough) > 0)
    # squared stretch ~ sum_{k < 1/delta} k^(2 - alpha) ~ delta^(alpha - 3): stretch slope (alpha - 3) / 2 = -0.5
    slope = np.polyfit(np.log(deltas[1:5]), np.log(rough[1:5]), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.05)


def test_fourier_variances_and_bound():
    np.testing.assert_allclose(fourier_variances(4, 2.0), [1, 1 / 4, 1 / 9, 1 / 16])
    np.testing.assert_allclose(smoothness_bound(np.array([1, 2, 4])), [3, 2, 1.5])


def test_mean_field_fixed_point_and_transition():
    # the fixed point satisfies its own equation (checked with a plain Riemann sum, not the quadrature)
    q, chi = tanh_mean_field(3.0, 0.05)
    z = np.linspace(-12, 12, 200_001)
    density = np.exp(-z**2 / 2) / np.sqrt(2 * np.pi) * (z[1] - z[0])
    assert q == pytest.approx(3.0 * np.sum(density * np.tanh(np.sqrt(q) * z) ** 2) + 0.05, rel=1e-6)
    assert chi == pytest.approx(3.0 * np.sum(density * (1 - np.tanh(np.sqrt(q) * z) ** 2) ** 2), rel=1e-6)
    # without biases the transition is at sigma_w^2 = 1 (tanh'(0) = 1); biases push it up
    assert critical_sigma_w2(0.0) == pytest.approx(1.0, abs=0.02)
    critical = critical_sigma_w2(0.05)
    assert critical > 1.05
    assert tanh_mean_field(0.5, 0.05)[1] < 1 < tanh_mean_field(16.0, 0.05)[1]


def test_ordered_spectra_decay_faster_than_chaotic():
    kwargs = dict(sigma_b2=0.05, depth=6, width=200, n_points=512, seed=0)
    ordered = random_tanh_network_spectra(0.5, **kwargs)
    chaotic = random_tanh_network_spectra(16.0, **kwargs)
    assert ordered["spectra"].shape == (6, 200)
    assert ordered["projections"].shape == (7, 512, 2)
    assert np.all(np.diff(ordered["spectra"], axis=1) <= 1e-12)  # descending
    ranks = (11, 100)
    assert fit_power_law(ordered["spectra"][-1], ranks) > fit_power_law(chaotic["spectra"][-1], ranks) + 1
    # ordered: the circle shrinks layer after layer; chaotic: it is stretched (Poole et al. 2016)
    assert np.all(np.diff(ordered["lengths"]) < 0)
    assert np.all(np.diff(chaotic["lengths"]) > 0)
    # seeded: the same seed gives the same network and the same spectra
    again = random_tanh_network_spectra(16.0, **kwargs)
    np.testing.assert_array_equal(again["spectra"], chaotic["spectra"])


def test_eigenvalues_descending_matches_numpy_and_keeps_threads():
    import torch

    from onen.spectrum import eigenvalues_descending

    a = np.random.default_rng(0).standard_normal((30, 30))
    sym = a @ a.T
    threads = torch.get_num_threads()
    values = eigenvalues_descending(torch.from_numpy(sym))
    assert torch.get_num_threads() == threads
    np.testing.assert_allclose(values, np.sort(np.linalg.eigvalsh(sym))[::-1], rtol=1e-10, atol=1e-10)


def test_intrinsic_dimension_of_flat_manifolds() -> None:
    """Points uniform on a d-dimensional cube, embedded by a random rotation in 40 dimensions: the estimate is d."""
    import numpy as np

    from onen.manifolds import intrinsic_dimension

    rng = np.random.default_rng(0)
    for d in (2, 5, 8):
        flat = rng.uniform(size=(3000, d))
        rotation, _ = np.linalg.qr(rng.normal(size=(40, 40)))
        embedded = np.concatenate([flat, np.zeros((3000, 40 - d))], axis=1) @ rotation
        assert abs(intrinsic_dimension(embedded, k=20) - d) < 0.15 * d + 0.3
