"""The background chapter's numbers (onen.analysis.background) against exact values and naive computations, and
the cache keys its results have always been stored under."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from onen import manifolds
from onen.analysis import background, profiles
from onen.analysis.settings import BackgroundSettings, PixelImages
from onen.cache import config_hash
from onen.spectrum import fit_power_law

TINY = BackgroundSettings(circle_points=64, network_points=32, pixel_images=PixelImages(mnist=10, fashion_mnist=None,
                                                                                         cifar10=None),
                          n_freq=8, alphas=(1.0, 3.0), depth=2, width=16, sigma_w2=(0.5, 16.0), sigma_b2=0.05,
                          fit_ranks=(2, 10))


def test_the_chapters_fixed_settings_are_the_same_in_both_profiles() -> None:
    quick, paper = profiles.background_settings("quick"), profiles.background_settings("paper")
    fixed = ("n_freq", "alphas", "stretch_freq", "depth", "width", "sigma_w2", "sigma_b2", "fit_ranks")
    assert [getattr(quick, f) for f in fixed] == [getattr(paper, f) for f in fixed] == [
        500, (1.0, 2.0, 3.0, 4.0, 5.0), 100_000, 10, 1000, (0.5, 1.5, 4.0, 16.0), 0.05, (11, 500)]
    assert quick.pixel_images.by_dataset() == {"mnist": 10000, "fashion_mnist": 10000, "cifar10": 5000}  # in order
    with pytest.raises(ValueError, match=r"BackgroundSettings.fit_ranks must be \(first, last\)"):
        dataclasses.replace(quick, fit_ranks=(20, 2))
    with pytest.raises(ValueError, match="BackgroundSettings.sigma_w2"):
        dataclasses.replace(quick, sigma_w2=(0.5, float("nan")))


def test_circle_spectra_are_the_designed_variances_each_twice(tmp_path) -> None:
    # n points at uniform angles: each cos/sin feature has variance exactly 1/2 (over n), so the unbiased covariance
    # has eigenvalues k^-alpha / 2 * n / (n - 1), each twice, then zeros
    arrays = background.circle(TINY, 0, str(tmp_path))
    n = TINY.circle_points
    for alpha, spectrum in zip(TINY.alphas, arrays["spectra"]):
        k = np.arange(1, TINY.n_freq + 1, dtype=np.float64)
        expected = np.repeat(k ** -alpha / 2 * n / (n - 1), 2)
        np.testing.assert_allclose(spectrum, expected, rtol=1e-10, atol=1e-12)
    assert arrays["projections"].shape == (2, n, 2)
    np.testing.assert_allclose(arrays["projections"].std(axis=(1, 2)), 1.0, rtol=1e-12)


def test_results_keep_the_cache_keys_the_chapter_has_always_used(tmp_path) -> None:
    background.circle(TINY, 3, str(tmp_path))
    circle_key = {"circle_points": 64, "n_freq": 8, "alphas": [1.0, 3.0], "seed": 3}
    assert (tmp_path / "background_circle" / f"{config_hash(circle_key)}.npz").is_file()
    background.networks(TINY, 3, str(tmp_path))
    for sigma_w2 in TINY.sigma_w2:
        key = {"sigma_w2": sigma_w2, "sigma_b2": 0.05, "depth": 2, "width": 16, "n_points": 32, "seed": 3}
        assert (tmp_path / "background_network" / f"{config_hash(key)}.npz").is_file()
    assert len(list((tmp_path / "background_network").glob("*.npz"))) == 2


def test_pixels_cache_under_the_historic_key_and_list_a_missing_dataset(tmp_path, monkeypatch) -> None:
    images = torch.rand(50, 1, 4, 4, generator=torch.Generator().manual_seed(0))

    def load(name: str, n_images: int | None, seed: int) -> torch.Tensor:
        if name == "fashion_mnist":
            raise FileNotFoundError("no files")
        return images

    monkeypatch.setattr(background, "load_pixels", load)
    found = background.pixels({"mnist": 50, "fashion_mnist": None}, (2, 10), 0, str(tmp_path))
    assert found.missing == ["fashion_mnist"] and list(found.spectra) == ["mnist"]
    key = {"dataset": "mnist", "split": "train", "n_images": 50, "seed": 0, "source": "idx"}
    assert (tmp_path / "background_pixels" / f"{config_hash(key)}.npz").is_file()
    assert found.alphas["mnist"] == fit_power_law(found.spectra["mnist"], (2, 10))


def test_pixel_spectrum_matches_numpys_covariance_eigenvalues() -> None:
    images = torch.rand(200, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    reference = np.linalg.eigvalsh(np.cov(images.reshape(200, -1).double().numpy(), rowvar=False))[::-1]
    np.testing.assert_allclose(background.pixel_spectrum(images), reference, rtol=1e-5, atol=1e-9)


def test_fit_above_floor_drops_rounding_and_needs_enough_eigenvalues() -> None:
    spectrum = np.concatenate([np.arange(1, 31, dtype=np.float64) ** -2.0, [1e-14, 1e-15]])
    assert background.fit_above_floor(spectrum, (2, 40)) == pytest.approx(2.0, abs=1e-10)
    assert background.fit_above_floor(spectrum, (2, 40)) == fit_power_law(spectrum[:30], (2, 40))
    assert math.isnan(background.fit_above_floor(np.array([1.0, 0.5, 1e-20]), (2, 10)))


def test_expected_slope_by_regime() -> None:
    assert [background.expected_slope(a) for a in (0.5, 1.0, 2.0, 3.0, 4.0)] == [-1.0, -1.0, -0.5, 0.0, 0.0]


def test_stretch_limits_slopes_and_the_logarithm_at_three() -> None:
    found = background.stretch([2.0, 3.0, 5.0], 100_000)
    # sqrt(zeta(3)) for alpha = 5, with zeta(3) = 1.2020569031595942 (Apery's constant)
    assert found.limits == {5.0: pytest.approx(math.sqrt(1.2020569031595942), abs=1e-6)}
    assert found.slopes[2.0] == pytest.approx(-0.5, abs=0.05)
    assert found.slopes[5.0] == pytest.approx(0.0, abs=0.01)
    # at alpha = 3 the squared stretch grows like sum_{k < 1/delta} 1/k: ln 10 per decade
    assert found.log_growth == pytest.approx(math.log(10), abs=0.05)
    naive = math.sqrt(sum(k ** -3.0 * 4 * math.sin(k * 1e-3 / 2) ** 2 for k in range(1, 100_001))) / 1e-3
    assert found.at(3.0, 1e-3) == pytest.approx(naive, rel=1e-9)


def test_networks_read_the_mean_field_and_each_layers_exponent(tmp_path) -> None:
    nets = background.networks(TINY, 0, str(tmp_path))
    assert nets.critical == pytest.approx(manifolds.critical_sigma_w2(0.05))
    assert nets.mean_field[0.5][1] < 1 < nets.mean_field[16.0][1]  # ordered, then chaotic
    for sigma_w2, arrays in nets.arrays.items():
        assert len(nets.layer_alphas[sigma_w2]) == TINY.depth
        assert nets.layer_alphas[sigma_w2][-1] == background.fit_above_floor(arrays["spectra"][-1], (2, 10))
