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
