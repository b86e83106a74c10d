"""Calibrating the power-law exponent estimator: what it returns for layers whose spectrum is known exactly.

A network's exponent is fitted to the eigenvalues of a *sample* covariance: M images of an N-wide layer. With M only a
few times N, sampling noise spreads those eigenvalues (Marchenko and Pastur's law for a white layer): the large ones
are pushed up and the small ones down, so the tail of a measured spectrum is not the layer's own, and the exponent
moves with the rank window and the weighting of the fit as much as with the layer. This module measures that on
synthetic Gaussian layers with population eigenvalues lambda_n = n^-alpha, sampled at the book's sizes, and names the
estimators the book compares:

- :class:`Estimator`: a weighting ("1/n", Stringer et al.'s 1/n-weighted least squares in log-log space, or "none",
  plain least squares) and a rank window (1-based, inclusive; the upper end is clipped to the layer's width);
- :func:`sample_spectra`: the descending sample-covariance eigenvalues of draws of such a layer;
- :func:`calibrate`: each estimator's mean error (bias), spread, and the coverage of its bootstrap interval;
- :func:`bootstrap_interval`: the normal bootstrap interval of an exponent from bootstrap spectra (resampled images),
  which :func:`onen.runs.experiments.run` stores with ``EvalConfig.spectrum_bootstrap``.

The gate's estimator (:data:`GATE`) is chosen from the committed calibration by the rule of :func:`choose_gate`,
stated before any network is looked at: the widest window whose absolute bias stays under 0.05 at every alpha in
0.5-2 at the test set's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from onen.spectrum import eigenvalues_descending

WEIGHTINGS = ("1/n", "none")


@dataclass(frozen=True)
class Estimator:
    """A power-law exponent estimator: least squares of log(lambda_n) on log(n) over ranks lo..hi (1-based,
    inclusive, hi clipped to the spectrum's length), each squared residual weighted by 1/n ("1/n") or not ("none").
    Non-positive eigenvalues in the window are left out and counted (:func:`nonpositive_count`)."""

    weighting: str = "1/n"
    lo: int = 11
    hi: int = 500

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        for name in ("lo", "hi"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if not 1 <= self.lo < self.hi:
            raise ValueError(f"need 1 <= lo < hi, got lo={self.lo}, hi={self.hi}")

    @property
    def name(self) -> str:
        weight = "1/n-weighted" if self.weighting == "1/n" else "unweighted"
        return f"{weight}, ranks {self.lo}-{self.hi}"

    def fit(self, spectrum: np.ndarray | Sequence[float]) -> float:
        """The exponent alpha of spectrum_n ~ n^-alpha; NaN where fewer than 2 positive finite values are in the
        window (never an exception, never a value from a NaN)."""
        values = np.asarray(spectrum, dtype=np.float64)
        n = np.arange(self.lo, min(self.hi, values.size) + 1)
        lam = values[n - 1]
        keep = np.isfinite(lam) & (lam > 0)
        n, lam = n[keep], lam[keep]
        if n.size < 2:
            return math.nan
        root = np.sqrt(1.0 / n) if self.weighting == "1/n" else np.ones(n.size)
        design = np.stack([np.log(n), np.ones(n.size)], axis=1) * root[:, None]
        slope = np.linalg.lstsq(design, np.log(lam) * root, rcond=None)[0][0]
        return float(-slope)

    def fit_many(self, spectra: np.ndarray) -> np.ndarray:
        """:meth:`fit` of each row of [K, N]."""
        return np.array([self.fit(row) for row in np.atleast_2d(spectra)])


def nonpositive_count(spectrum: np.ndarray | Sequence[float], relative: float = 1e-12) -> dict[str, int]:
    """How many eigenvalues are not usable in a log fit: ``"nan"`` (NaN or inf), ``"negative"`` (below zero) and
    ``"zero"`` (numerically zero: |lambda| <= ``relative`` times the largest, negative ones excluded)."""
    values = np.asarray(spectrum, dtype=np.float64)
    finite = np.isfinite(values)
    top = float(np.max(np.abs(values[finite]))) if finite.any() else 0.0
    good = values[finite]
    return {"nan": int((~finite).sum()), "negative": int((good < -relative * top).sum()),
            "zero": int((np.abs(good) <= relative * top).sum())}


def bootstrap_interval(estimator: Estimator, spectra: np.ndarray, estimate: float,
                       confidence: float = 0.95) -> tuple[float, float]:
    """The normal bootstrap interval of ``estimator``'s exponent: ``estimate`` (the fit to the full sample) plus or
    minus z times the standard deviation of the fits to bootstrap spectra [B, N] (NaN fits left out; (NaN, NaN) if
    fewer than 2 remain or the estimate is NaN).

    The interval takes only the resamples' spread, not their centre. A resample repeats images, so its spectrum is
    spread further by sampling noise than the original's, and its fits are shifted by an amount that is not the
    original's own shift from the true exponent (on the quick profile's 1000-wide layer, resamples of 3000 images
    move the 11-500 fit up by about 0.03 where the sample is off by -0.007): a percentile interval would inherit that
    shift, and a basic (reflected) one would correct by it. The estimate's own bias is what the calibration
    measures; :func:`coverage` then says how often the interval holds the truth."""
    from scipy import stats as _stats

    fits = estimator.fit_many(spectra)
    fits = fits[np.isfinite(fits)]
    if fits.size < 2 or not np.isfinite(estimate):
        return math.nan, math.nan
    half = float(_stats.norm.ppf(0.5 + confidence / 2) * fits.std(ddof=1))
    return float(estimate - half), float(estimate + half)


def population(alpha: float, dim: int) -> np.ndarray:
    """lambda_n = n^-alpha, n = 1..dim."""
    return np.arange(1, dim + 1, dtype=np.float64) ** -float(alpha)


def _gaussian(alpha: float, dim: int, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    # eigenvalues of a sample covariance do not depend on the population's eigenbasis: a diagonal one is exact
    scale = torch.from_numpy(np.sqrt(population(alpha, dim))).float()
    return torch.randn(n_samples, dim, generator=generator) * scale


def _covariance(x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Covariance (divides by M - 1) of [M, N] float32 samples, optionally with integer weights summing to M (a
    bootstrap resample), accumulated in float32 and returned as float64. Along the population's own basis each
    entry is computed to a relative 1e-6 of its own size, far below the sampling noise this module measures."""
    m = x.shape[0]
    w = torch.ones(m) if weights is None else weights.float()
    mean = (w @ x) / m
    centred = x - mean
    return ((centred * w[:, None]).T @ centred).double() / (m - 1)


def sample_spectra(alpha: float, dim: int, n_samples: int, draws: int, seed: int = 0) -> np.ndarray:
    """Descending sample-covariance eigenvalues [draws, dim] of ``n_samples`` Gaussian vectors whose population
    covariance has eigenvalues n^-alpha."""
    generator = torch.Generator().manual_seed(seed)
    return np.stack([eigenvalues_descending(_covariance(_gaussian(alpha, dim, n_samples, generator)))
                     for _ in range(draws)])


def resampled_spectra(x: torch.Tensor, draws: int, generator: torch.Generator) -> np.ndarray:
    """Bootstrap spectra [draws, N] of samples [M, N]: the images resampled with replacement."""
    m = x.shape[0]
    out = []
    for _ in range(draws):
        counts = torch.bincount(torch.randint(m, (m,), generator=generator), minlength=m)
        out.append(eigenvalues_descending(_covariance(x, counts)))
    return np.stack(out)


@dataclass(frozen=True)
class CalibrationRow:
    """One estimator at one (alpha, sample size): mean fitted minus true alpha over the draws, their standard
    deviation, and (where bootstrap draws were run) the share of draws whose 95% interval holds the true alpha."""

    estimator: Estimator
    alpha: float
    n_samples: int
    bias: float
    spread: float
    coverage: float


def calibrate(estimators: Sequence[Estimator], alphas: Sequence[float], dim: int, sample_sizes: Sequence[int],
              draws: int, seed: int = 0) -> tuple[list[CalibrationRow], dict[tuple[float, int], np.ndarray]]:
    """Bias and spread of every estimator at every (alpha, sample size), from ``draws`` synthetic layers each.
    Returns the rows and the spectra they came from, keyed by (alpha, sample size)."""
    rows, spectra = [], {}
    for a in alphas:
        for m in sample_sizes:
            s = sample_spectra(a, dim, m, draws, seed=seed + int(1000 * a) + m)
            spectra[(float(a), int(m))] = s
            for est in estimators:
                err = est.fit_many(s) - a
                rows.append(CalibrationRow(est, float(a), int(m), float(np.mean(err)), float(np.std(err, ddof=1))
                                           if draws > 1 else math.nan, math.nan))
    return rows, spectra


def coverage(estimators: Sequence[Estimator], alpha: float, dim: int, n_samples: int, draws: int, boots: int,
             seed: int = 0, confidence: float = 0.95) -> np.ndarray:
    """For each estimator, the share of ``draws`` synthetic layers whose bootstrap interval (``boots``
    resamples of the images, shared by all estimators) holds the layer's true ``alpha``. [len(estimators)]."""
    generator = torch.Generator().manual_seed(seed)
    hits = np.zeros(len(estimators))
    for _ in range(draws):
        x = _gaussian(alpha, dim, n_samples, generator)
        sample = eigenvalues_descending(_covariance(x))
        boot = resampled_spectra(x, boots, generator)
        for i, est in enumerate(estimators):
            low, high = bootstrap_interval(est, boot, est.fit(sample), confidence)
            hits[i] += float(low <= alpha <= high)
    return hits / draws


def choose_gate(rows: Sequence[CalibrationRow], n_samples: int, alphas: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
                tolerance: float = 0.05) -> Estimator | None:
    """The gate's estimator: among those whose |bias| < ``tolerance`` at every alpha in ``alphas`` with
    ``n_samples`` images, the one with the most ranks in its window (then the 1/n weighting, then the lower start).
    None if no estimator qualifies."""
    by_estimator: dict[Estimator, list[CalibrationRow]] = {}
    for row in rows:
        if row.n_samples == n_samples and any(math.isclose(row.alpha, a) for a in alphas):
            by_estimator.setdefault(row.estimator, []).append(row)
    good = [e for e, rs in by_estimator.items()
            if len(rs) == len(alphas) and all(abs(r.bias) < tolerance for r in rs)]
    if not good:
        return None
    return max(good, key=lambda e: (e.hi - e.lo, e.weighting == "1/n", -e.lo))


def standard_estimators(dim: int) -> list[Estimator]:
    """The estimators the book compares on an N = ``dim`` wide layer: both weightings over ranks 11-100, 11-200,
    11-500 (the figures' window), 11-N/2, 12-N (the penalized ranks at tau = 10) and 50-500 (windows past N left
    out, repeats removed)."""
    windows = [(11, 100), (11, 200), (11, 500), (11, dim // 2), (12, dim), (50, 500)]
    chosen: list[Estimator] = []
    for weighting in WEIGHTINGS:
        for lo, hi in windows:
            if hi <= dim and lo < hi and Estimator(weighting, lo, hi) not in chosen:
                chosen.append(Estimator(weighting, lo, hi))
    return chosen
