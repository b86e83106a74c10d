"""Statistics over seeds of cached results."""

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


def verdict(diffs: Sequence[float] | np.ndarray, expected_sign: int, confidence: float = 0.95) -> str:
    """The verdict on a claimed effect from its per-seed paired differences: "reproduced" when the t-interval
    excludes zero on the claimed side, "contradicted" when it excludes zero on the other side, "not resolved"
    when it contains zero, and "not enough seeds" with a single seed."""
    if expected_sign not in (-1, 1):
        raise ValueError(f"expected_sign must be -1 or +1, got {expected_sign}")
    mean, low, high = t_interval(diffs, confidence)
    if not np.isfinite(low):
        return "not enough seeds"
    if low > 0 or high < 0:
        return "reproduced" if np.sign(mean) == expected_sign else "contradicted"
    return "not resolved"
