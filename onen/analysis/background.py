"""The background chapter's numbers: why a 1/n spectrum is the edge of smoothness.

Three computations, each cached under the results folder: a circle embedded with a designed power-law spectrum
(``background_circle``), that circle pushed through deep random tanh networks (``background_network``), and the
covariance spectra of raw pixels (``background_pixels``). The numbers read from them (fitted exponents, slopes of
the local stretch, mean-field quantities) are computed here too; the tables and figures are in
:mod:`onen.analysis.background_report`. Everything runs on the CPU; the linear algebra goes through torch alone, so
that numpy's and torch's thread pools never wait for each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from onen import data, manifolds
from onen.cache import cached
from onen.cifar import load_cifar10_jpeg
from onen.spectrum import covariance, eigenvalues_descending, fit_power_law

if TYPE_CHECKING:
    from onen.analysis.settings import BackgroundSettings

# eigenvalues below this fraction of the largest are float64 rounding of the covariance, not signal
FLOOR = 1e-12
PIXEL_LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (JPEG q75)"}


def _circle_arrays(points: int, n_freq: int, alphas: list[float], seed: int) -> dict[str, np.ndarray]:
    spectra, projections = [], []
    directions = torch.from_numpy(manifolds.random_rotation(2 * n_freq, seed + 1)[:, :2].copy())
    for alpha in alphas:
        embedded = torch.from_numpy(manifolds.circle_embedding(points, alpha, n_freq, seed=seed))
        spectra.append(eigenvalues_descending(covariance(embedded)))
        projected = ((embedded - embedded.mean(0)) @ directions).numpy()
        projections.append(projected / projected.std())
    return {"spectra": np.stack(spectra), "projections": np.stack(projections)}


def circle(config: BackgroundSettings, seed: int, results_dir: str) -> dict[str, np.ndarray]:
    """The circle embedded at each exponent of ``config.alphas``: ``"spectra"`` [n_alpha, 2K], the covariance
    eigenvalues of the sampled points, and ``"projections"`` [n_alpha, points, 2], the points on two random
    orthonormal directions scaled to unit standard deviation (cached as ``background_circle``)."""
    key = {"circle_points": config.circle_points, "n_freq": config.n_freq, "alphas": list(config.alphas),
           "seed": seed}
    return cached("background_circle", key,
                  lambda: (_circle_arrays(key["circle_points"], key["n_freq"], key["alphas"], seed), {}),
                  results_dir, seed=seed).arrays


def fit_above_floor(spectrum: np.ndarray, ranks: tuple[int, int]) -> float:
    """The exponent fitted over ``ranks`` to the eigenvalues above :data:`FLOOR` times the largest (NaN when fewer
    than ``ranks[0]`` remain)."""
    kept = spectrum[spectrum > FLOOR * spectrum[0]]
    return fit_power_law(kept, ranks) if kept.size > ranks[0] else float("nan")


def expected_slope(alpha: float) -> float:
    """The log-log slope of the local stretch as the step shrinks: -1 for alpha <= 1, (alpha - 3) / 2 up to 3, 0
    (a finite limit) beyond."""
    return -1.0 if alpha <= 1 else min(0.0, (alpha - 3) / 2)


@dataclass(frozen=True)
class Stretch:
    """The local stretch of the Fourier circle: ``values[alpha]`` at each step of ``deltas``; ``slopes[alpha]``
    fitted in log-log over the steps where ``window`` is true; ``limits[alpha]`` = sqrt(zeta(alpha - 2)) for alpha > 3
    (summed over 10^6 frequencies); ``log_growth``, the growth of the squared stretch at alpha = 3 from delta = 1e-3
    to 1e-4 (ln 10 in theory)."""

    deltas: np.ndarray
    values: dict[float, np.ndarray]
    window: np.ndarray
    slopes: dict[float, float]
    limits: dict[float, float]
    log_growth: float

    def at(self, alpha: float, delta: float) -> float:
        """The stretch at the grid step nearest ``delta``."""
        return float(self.values[alpha][np.argmin(np.abs(self.deltas - delta))])


def stretch(alphas: list[float], n_freq: int) -> Stretch:
    """:func:`onen.manifolds.local_stretch` over 51 steps from 1 to 1e-5, slopes fitted away from delta ~ 1 and from
    the cutoff 1/K (steps 10^-3.5 to 10^-1.5). Needs alpha = 3 among ``alphas``."""
    deltas = np.logspace(0, -5, 51)
    values = {alpha: manifolds.local_stretch(alpha, deltas, n_freq) for alpha in alphas}
    window = (deltas <= 10**-1.5) & (deltas >= 10**-3.5)
    slopes = {alpha: np.polyfit(np.log(deltas[window]), np.log(s[window]), 1)[0] for alpha, s in values.items()}
    k = np.arange(1, 10**6 + 1, dtype=np.float64)
    limits = {alpha: float(np.sqrt(np.sum(k ** (2 - alpha)))) for alpha in alphas if alpha > 3}
    decade = np.argmin(np.abs(deltas - 1e-3)), np.argmin(np.abs(deltas - 1e-4))
    log_growth = values[3.0][decade[1]] ** 2 - values[3.0][decade[0]] ** 2
    return Stretch(deltas, values, window, slopes, limits, float(log_growth))


@dataclass(frozen=True)
class Networks:
    """The circle through random tanh networks, per weight variance: ``arrays[s]`` as
    :func:`onen.manifolds.random_tanh_network_spectra` returns them (``"spectra"`` per layer, ``"lengths"``,
    ``"projections"``), ``mean_field[s]`` = (q*, chi_1), ``layer_alphas[s]`` the exponent of each layer
    (:func:`fit_above_floor`); ``critical``, the weight variance of the order-to-chaos transition."""

    arrays: dict[float, dict[str, np.ndarray]]
    mean_field: dict[float, tuple[float, float]]
    layer_alphas: dict[float, list[float]]
    critical: float


def networks(config: BackgroundSettings, seed: int, results_dir: str) -> Networks:
    """Every network of ``config.sigma_w2`` (cached as ``background_network``) and what is read from it."""
    arrays = {}
    for sigma_w2 in config.sigma_w2:
        key = {"sigma_w2": sigma_w2, "sigma_b2": config.sigma_b2, "depth": config.depth, "width": config.width,
               "n_points": config.network_points, "seed": seed}
        arrays[sigma_w2] = cached("background_network", key,
                                  lambda key=key: (manifolds.random_tanh_network_spectra(**key), {}),
                                  results_dir, seed=seed).arrays
    ranks = config.fit_ranks
    return Networks(
        arrays=arrays,
        mean_field={s: manifolds.tanh_mean_field(s, config.sigma_b2) for s in config.sigma_w2},
        layer_alphas={s: [fit_above_floor(x, ranks) for x in r["spectra"]] for s, r in arrays.items()},
        critical=manifolds.critical_sigma_w2(config.sigma_b2))


def pixel_spectrum(images: torch.Tensor) -> np.ndarray:
    """Descending covariance eigenvalues of flattened images [N, ...] -> [D] float64: the centring in float64, the
    product in float32 (its rounding is about 1e-6 of the eigenvalues fitted), the eigenvalues in float64."""
    x = images.reshape(images.shape[0], -1)
    centred = (x.double() - x.double().mean(0)).float()
    cov = (centred.T @ centred).double() / (x.shape[0] - 1)
    return eigenvalues_descending(cov)


def load_pixels(name: str, n_images: int | None, seed: int) -> torch.Tensor:
    """``n_images`` training images of ``name`` (all with None): MNIST and Fashion-MNIST from their idx files,
    CIFAR-10 from the JPEG (quality 75) copy."""
    if name == "cifar10":
        return load_cifar10_jpeg("train", limit=n_images, seed=seed).images
    return data.load(name, "train").subset(n_images, seed=seed).images


@dataclass(frozen=True)
class Pixels:
    """Raw-pixel spectra of the datasets that could be read (``spectra``, their exponents ``alphas``) and the names
    of those that could not (``missing``)."""

    spectra: dict[str, np.ndarray]
    alphas: dict[str, float]
    missing: list[str]


def pixels(images: Mapping[str, int | None], ranks: tuple[int, int], seed: int, results_dir: str) -> Pixels:
    """:func:`pixel_spectrum` of ``images[name]`` training images of each dataset (cached as ``background_pixels``); a
    dataset whose files are absent is listed as missing, without this machine's paths."""
    spectra, missing = {}, []
    for name, n_images in images.items():
        key = {"dataset": name, "split": "train", "n_images": n_images, "seed": seed,
               "source": "cifar10-jpeg q75" if name == "cifar10" else "idx"}
        try:
            result = cached("background_pixels", key,
                            lambda name=name, n_images=n_images: (
                                {"spectrum": pixel_spectrum(load_pixels(name, n_images, seed))}, {}),
                            results_dir, seed=seed)
        except FileNotFoundError:
            missing.append(name)
            continue
        spectra[name] = result.arrays["spectrum"]
    return Pixels(spectra, {name: fit_power_law(s, ranks) for name, s in spectra.items()}, missing)
