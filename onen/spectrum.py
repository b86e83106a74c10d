"""Covariance eigenspectra of representations and power-law fits of their decay.

Everything here is float64: eigenvalues of a 2000-wide covariance span many decades, and the tail that a power-law fit
reads is exactly where float32 rounding would dominate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from onen.features import capture, eval_mode


def covariance(h: Tensor) -> Tensor:
    """Centred covariance of h: [B, N] -> [N, N] float64 (unbiased, divides by B - 1)."""
    h = h.reshape(h.shape[0], -1).double()
    if h.shape[0] < 2:
        raise ValueError("covariance needs at least 2 samples")
    centred = h - h.mean(0)
    return centred.T @ centred / (h.shape[0] - 1)


def eigh_descending(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues [N] in descending order and eigenvectors [N, N] (columns, matching order) of a symmetric matrix."""
    values, vectors = torch.linalg.eigh(cov.double())
    return values.flip(0), vectors.flip(1)


def eigenvalues_descending(cov: torch.Tensor) -> np.ndarray:
    """Eigenvalues of a symmetric matrix [N, N], descending, as float64 numpy [N], computed on one thread.

    LAPACK's symmetric eigensolver synchronises its threads at every step; on a small machine that is also running
    other work, one thread is several times faster than two, so the thread count is lowered for this call only.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        values = torch.linalg.eigvalsh(cov.double())
    finally:
        torch.set_num_threads(threads)
    return values.flip(0).cpu().numpy()


def eigenspectrum(h: Tensor) -> Tensor:
    """Descending covariance eigenvalues [N] (float64) of representations h: [B, N]."""
    return eigh_descending(covariance(h))[0]


class RunningCovariance:
    """Accumulates the covariance of many [b, N] chunks in float64 with bounded memory (sums of x and x x^T)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: Tensor | None = None
        self.outer: Tensor | None = None
        self.shift: Tensor | None = None

    def update(self, h: Tensor) -> None:
        h = h.reshape(h.shape[0], -1).double()
        if self.shift is None:
            # shifting by the first chunk's mean keeps the sums small, so the final subtraction loses little precision
            self.shift = h.mean(0)
            self.total = torch.zeros_like(self.shift)
            self.outer = torch.zeros(h.shape[1], h.shape[1], dtype=torch.float64, device=h.device)
        shifted = h - self.shift
        self.count += h.shape[0]
        self.total += shifted.sum(0)
        self.outer += shifted.T @ shifted

    def covariance(self) -> Tensor:
        if self.count < 2 or self.total is None or self.outer is None:
            raise ValueError("RunningCovariance needs at least 2 samples")
        mean = self.total / self.count
        return (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)


@torch.no_grad()
def layer_covariances(model: nn.Module, layers: Sequence[nn.Module], inputs: Tensor,
                      chunk_size: int = 2000) -> list[Tensor]:
    """Covariances [N_l, N_l] (float64) of the outputs of ``layers`` over all ``inputs`` [M, ...].

    The model runs in eval mode (each submodule's own flag restored afterwards) on chunks of ``chunk_size`` inputs, so memory stays bounded
    whatever M is.
    """
    with eval_mode(model):
        accumulators = [RunningCovariance() for _ in layers]
        for start in range(0, inputs.shape[0], chunk_size):
            with capture(layers) as features:
                model(inputs[start : start + chunk_size])
            for acc, h in zip(accumulators, features):
                acc.update(h)
        return [acc.covariance() for acc in accumulators]


def layer_spectra(model: nn.Module, layers: Sequence[nn.Module], inputs: Tensor,
                  chunk_size: int = 2000) -> list[np.ndarray]:
    """Descending eigenvalues of each layer's representation covariance over ``inputs``, as numpy float64 arrays."""
    covs = layer_covariances(model, layers, inputs, chunk_size)
    # eigenvalues only: several times faster than a full eigendecomposition for wide layers
    return [torch.linalg.eigvalsh(c).flip(0).cpu().numpy() for c in covs]


@torch.no_grad()
def bootstrap_spectra(model: nn.Module, layer: nn.Module, inputs: Tensor, draws: int, seed: int = 0,
                      chunk_size: int = 2000) -> np.ndarray:
    """Descending covariance eigenvalues of ``layer``'s output over ``draws`` bootstrap resamples of ``inputs``
    (M images drawn with replacement, a seeded CPU generator), as float32 [draws, N]. A resample's covariance is
    computed from the features of all M images and the draw counts as weights, so the model runs once."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    with eval_mode(model):
        parts = []
        for start in range(0, inputs.shape[0], chunk_size):
            with capture([layer]) as features:
                model(inputs[start:start + chunk_size])
            parts.append(features[0].reshape(features[0].shape[0], -1).double())
    h = torch.cat(parts)
    m = h.shape[0]
    h = h - h.mean(0)  # a shift leaves every covariance unchanged and keeps the weighted sums small
    generator = torch.Generator().manual_seed(seed)
    out = np.empty((draws, h.shape[1]), dtype=np.float32)
    for d in range(draws):
        counts = torch.bincount(torch.randint(m, (m,), generator=generator), minlength=m).to(h)
        mean = counts @ h / m
        cov = (h * counts[:, None]).T @ h / m - torch.outer(mean, mean)
        out[d] = eigenvalues_descending(cov * (m / (m - 1)))
    return out


def fit_power_law(spectrum: np.ndarray | Tensor, ranks: tuple[int, int] = (11, 500)) -> float:
    """Exponent alpha of spectrum_n ~ n^-alpha, fitted over 1-based ranks n in [ranks[0], ranks[1]].

    Least squares of log(lambda_n) on log(n), each squared residual weighted by 1/n as Stringer et al. (2019) do:
    ranks are evenly spaced in n, so without the weights the many high ranks would dominate a fit in log-log space.
    Non-positive eigenvalues in the window are left out. Returns alpha (positive for a decaying spectrum).
    """
    values = np.asarray(spectrum.detach().cpu() if isinstance(spectrum, Tensor) else spectrum, dtype=np.float64)
    lo, hi = ranks
    if lo < 1 or hi < lo:
        raise ValueError(f"ranks must satisfy 1 <= lo <= hi, got {ranks}")
    n = np.arange(lo, min(hi, values.size) + 1)
    lam = values[n - 1]
    keep = lam > 0
    n, lam = n[keep], lam[keep]
    if n.size < 2:
        raise ValueError(f"need at least 2 positive eigenvalues in ranks {ranks}, got {n.size}")
    # weighting the squared residual of rank n by 1/n means scaling its row by sqrt(1/n)
    root_weights = np.sqrt(1.0 / n)
    design = np.stack([np.log(n), np.ones_like(n, dtype=np.float64)], axis=1) * root_weights[:, None]
    slope, _ = np.linalg.lstsq(design, np.log(lam) * root_weights, rcond=None)[0]
    return float(-slope)


def power_law_spectrum(n_dims: int, alpha: float, scale: float = 1.0) -> np.ndarray:
    """The ideal spectrum scale * n^-alpha for n = 1..n_dims."""
    return scale * np.arange(1, n_dims + 1, dtype=np.float64) ** -alpha


def sample_with_spectrum(n_samples: int, spectrum: np.ndarray, seed: int = 0) -> Tensor:
    """Gaussian samples [n_samples, N] whose population covariance has the given eigenvalues (random eigenbasis)."""
    gen = torch.Generator().manual_seed(seed)
    n_dims = len(spectrum)
    basis, _ = torch.linalg.qr(torch.randn(n_dims, n_dims, generator=gen, dtype=torch.float64))
    z = torch.randn(n_samples, n_dims, generator=gen, dtype=torch.float64)
    return (z * torch.from_numpy(np.sqrt(spectrum))) @ basis.T


def white_reference_alpha(n_images: int, dim: int, ranks: tuple[int, int] = (11, 500), seed: int = 0) -> float:
    """The exponent :func:`fit_power_law` gives an exactly white layer measured like a network's: the sample covariance
    of ``n_images`` standard Gaussian vectors of ``dim`` dimensions. It is not 0: a sample covariance's eigenvalues
    spread over the Marchenko-Pastur law, from (1 - sqrt(dim / n))^2 to (1 + sqrt(dim / n))^2, so a whitened layer is
    as white as it can measure when its exponent is near this one."""
    if n_images < 2 or dim < 2:
        raise ValueError(f"need at least 2 images and 2 dimensions, got {n_images} and {dim}")
    z = torch.randn(n_images, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return fit_power_law(torch.linalg.eigvalsh(covariance(z)).flip(0).numpy(), (ranks[0], min(ranks[1], dim)))


def summarise(spectra: Iterable[np.ndarray], ranks: tuple[int, int] = (11, 500)) -> list[float]:
    """Fitted alpha of each spectrum (NaN where the window holds fewer than 2 positive eigenvalues)."""
    out = []
    for s in spectra:
        try:
            out.append(fit_power_law(s, ranks))
        except ValueError:
            out.append(float("nan"))
    return out



# A layer has reached its target when both numbers of :func:`target_score` are within these bounds.
REACHED_ALPHA_TOLERANCE = 0.1  # |fitted exponent - target exponent|
REACHED_LOG_RATIO = float(np.log(2.0))  # median |log(lambda_k / gamma_k)|: within a factor 2 at the median rank


@dataclass(frozen=True)
class TargetScore:
    """How far a spectrum is from the power law that Eq. 2 pulls it towards, over the penalized ranks.

    fitted_alpha: exponent of :func:`fit_power_law` over 1-based ranks ``ranks`` (tau + 2 .. N, the ranks the
        penalty acts on); target_alpha: the penalty's alpha; median_abs_log_ratio: median over those ranks of
        |log(lambda_k / gamma_k)|, gamma the target anchored at the tau-th eigenvalue (a non-positive eigenvalue counts
        as infinitely far).
    """

    fitted_alpha: float
    target_alpha: float
    median_abs_log_ratio: float
    ranks: tuple[int, int]
    # eigenvalues that a log fit cannot use, over the whole spectrum: NaN or inf, negative, numerically zero
    # (:func:`onen.calibration.nonpositive_count`); a spectrum with a NaN is never reached
    unusable: tuple[int, int, int] = (0, 0, 0)

    @property
    def reached(self) -> bool:
        """|fitted - target| <= REACHED_ALPHA_TOLERANCE and median |log ratio| <= REACHED_LOG_RATIO (NaN: False; a
        spectrum holding NaN or inf: False)."""
        return bool(self.unusable[0] == 0 and abs(self.fitted_alpha - self.target_alpha) <= REACHED_ALPHA_TOLERANCE
                    and self.median_abs_log_ratio <= REACHED_LOG_RATIO)


def target_ratio(spectrum: np.ndarray | Tensor, tau: int = 10, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Where a spectrum sits against Eq. 2's target, rank by rank: the 1-based penalized ranks tau + 2 .. N and
    lambda_k / gamma_k there (1: on target; below 1: under it), gamma anchored at the spectrum's own (tau+1)-th
    largest value as in :func:`target_score`. Raises ValueError if that anchor is not positive."""
    values = np.sort(np.asarray(spectrum.detach().cpu() if isinstance(spectrum, Tensor) else spectrum,
                                dtype=np.float64))[::-1]
    n = values.size
    if not 0 <= tau < n - 1:
        raise ValueError(f"tau={tau} leaves no penalized rank in a spectrum of {n} values")
    if not values[tau] > 0:
        raise ValueError(f"the anchor (value {tau + 1} of the spectrum) must be positive, got {values[tau]!r}")
    k = np.arange(tau + 1, n)
    gamma = values[tau] * ((tau + 1) / (k + 1)) ** alpha
    return k + 1, values[tau + 1:] / gamma


def target_score(spectrum: np.ndarray | Tensor, tau: int = 10, alpha: float = 1.0) -> TargetScore:
    """Score a descending spectrum [N] against Eq. 2's target gamma_k = e_tau ((tau + 1) / (k + 1))^alpha (0-based k).

    Both numbers use only the penalized ranks k = tau + 1 .. N - 1 (1-based tau + 2 .. N), so the window always fits
    the layer: a 500-wide layer is scored over ranks 12-500, a 2000-wide one over 12-2000. Measure the spectrum on
    held-out images (e.g. the test set), not on the images the basis was computed from.
    """
    raw = np.asarray(spectrum.detach().cpu() if isinstance(spectrum, Tensor) else spectrum, dtype=np.float64)
    finite = np.isfinite(raw)
    top = float(np.max(np.abs(raw[finite]))) if finite.any() else 0.0
    unusable = (int((~finite).sum()), int((raw[finite] < -1e-12 * top).sum()),
                int((np.abs(raw[finite]) <= 1e-12 * top).sum()))
    if not finite.all():  # never reached, and a NaN is never sorted in as the top eigenvalue
        return TargetScore(math.nan, float(alpha), math.inf, (tau + 2, raw.size), unusable)
    values = np.sort(raw)[::-1]
    n = values.size
    if not 0 <= tau < n - 2:
        raise ValueError(f"tau={tau} leaves fewer than 2 penalized ranks in a spectrum of {n} values")
    ranks = (tau + 2, n)
    try:
        fitted = fit_power_law(values, ranks)
    except ValueError:
        fitted = float("nan")
    if values[tau] <= 0:
        median = float("inf")
    else:
        _, ratio = target_ratio(values, tau, alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.where(ratio > 0, np.abs(np.log(np.where(ratio > 0, ratio, 1.0))), np.inf)
        median = float(np.median(distance))
    return TargetScore(fitted_alpha=fitted, target_alpha=float(alpha), median_abs_log_ratio=median, ranks=ranks,
                       unusable=unusable)
