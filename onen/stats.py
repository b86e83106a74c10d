"""Statistics of cached results: over seeds (Student t) and over test images (a paired bootstrap).

A claimed effect is a contrast of networks computed per seed. Its uncertainty has two sources: the seeds (networks
trained again differ) and the test images (another sample of images would give other accuracies). Every network of a
chapter is attacked on the same test images, so the images' share is common to all seeds and does not show in the
spread between seeds; :func:`bootstrap_se` estimates it by resampling the images, the same resample for every network
and seed (paired), and :func:`combined_interval` adds the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .cache import CachedResult


def mean_and_spread(results: Sequence[CachedResult], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds of an array (or a scalar meta value) named ``key``."""
    values = np.stack([np.asarray(r.arrays[key] if key in r.arrays else r.meta[key], dtype=np.float64)
                       for r in results])
    spread = values.std(0, ddof=1) if len(results) > 1 else np.zeros_like(values[0])
    return values.mean(0), spread


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` and its two-sided Student-t confidence interval (n - 1 degrees of freedom):
    (mean, low, high). With fewer than two values the interval is (NaN, NaN)."""
    from scipy import stats as _stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"values must be a non-empty 1-D array of finite numbers, got {values!r}")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = float(_stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def eps_at_half(eps: Sequence[float] | np.ndarray, accuracy: Sequence[float] | np.ndarray, clean: float) -> float:
    """The radius at which an accuracy curve first falls to half of ``clean`` accuracy, linearly interpolated
    between grid points; NaN if it never does on the grid. ``eps`` ascending, ``accuracy`` at each eps."""
    e, a = np.asarray(eps, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError("eps must be a strictly ascending 1-D grid of at least 2 points, matching accuracy")
    if not 0 < clean <= 1:
        raise ValueError(f"clean accuracy must be in (0, 1], got {clean}")
    half = clean / 2
    below = np.flatnonzero(a <= half)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(e[0])
    # a[i - 1] > half >= a[i]
    return float(e[i - 1] + (a[i - 1] - half) / (a[i - 1] - a[i]) * (e[i] - e[i - 1]))


def bootstrap_se(statistic, n_images: int, n_boot: int = 1000, seed: int = 0) -> float:
    """Standard deviation of ``statistic(indices)`` over ``n_boot`` resamples of ``range(n_images)`` with replacement:
    the bootstrap standard error of a statistic of the test images. ``statistic`` takes an int array of image indices
    and returns a float; it should apply the same indices to every network it compares (a paired bootstrap).
    Replicates that come out NaN (e.g. a curve that never falls to half) are left out; NaN if fewer than two remain."""
    if n_images < 1 or n_boot < 2:
        raise ValueError(f"need n_images >= 1 and n_boot >= 2, got {n_images} and {n_boot}")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_images, n_images)) for _ in range(n_boot)], dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.std(ddof=1)) if values.size >= 2 else float("nan")


def combined_interval(per_seed: Sequence[float] | np.ndarray, image_se: float,
                      confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of a per-seed contrast whose mean also carries test-image error ``image_se``: the standard
    error is sqrt(s^2 / n + image_se^2), s the spread between seeds, with Student t at n - 1 degrees of freedom. With
    one seed the interval holds the image error only (normal quantile): it says how precisely the images measure
    that one network, not whether another seed would agree."""
    from scipy import stats as _stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(per_seed, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"per_seed must be a non-empty 1-D array of finite numbers, got {per_seed!r}")
    if not (np.isfinite(image_se) and image_se >= 0):
        raise ValueError(f"image_se must be finite and >= 0, got {image_se}")
    mean = float(x.mean())
    if x.size == 1:
        half = float(_stats.norm.ppf(0.5 + confidence / 2) * image_se)
    else:
        se = np.sqrt(x.var(ddof=1) / x.size + image_se**2)
        half = float(_stats.t.ppf(0.5 + confidence / 2, x.size - 1) * se)
    return mean, mean - half, mean + half


def verdict_from_interval(n_seeds: int, mean: float, low: float, high: float, expected_sign: int) -> str:
    """The verdict rule on an interval: "not enough seeds" with one seed whatever the interval; otherwise
    "reproduced" / "contradicted" when it excludes zero on the claimed / other side, else "not resolved"."""
    if expected_sign not in (-1, 1):
        raise ValueError(f"expected_sign must be -1 or +1, got {expected_sign}")
    if n_seeds < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "not enough seeds"
    if low > 0 or high < 0:
        return "reproduced" if np.sign(mean) == expected_sign else "contradicted"
    return "not resolved"


def verdict(diffs: Sequence[float] | np.ndarray, expected_sign: int, confidence: float = 0.95) -> str:
    """The verdict on a claimed effect from its per-seed paired differences: "reproduced" when the t-interval
    excludes zero on the claimed side, "contradicted" when it excludes zero on the other side, "not resolved"
    when it contains zero, and "not enough seeds" with a single seed."""
    mean, low, high = t_interval(diffs, confidence)
    return verdict_from_interval(len(np.atleast_1d(diffs)), mean, low, high, expected_sign)
