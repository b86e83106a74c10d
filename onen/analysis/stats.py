"""Statistics of cached results: over seeds (Student t) and over test images (a paired bootstrap).

A claimed effect is a contrast of networks computed per seed. Its uncertainty has two sources: the seeds (networks
trained again differ) and the test images (another sample of images would give other accuracies). Every network of a
chapter is attacked on the same test images, so the images' share is common to all seeds and does not show in the
spread between seeds; :func:`bootstrap_se` estimates it by resampling the images, the same resample for every network
and seed (paired), and :func:`combined_interval` adds the two. :func:`paired_contrast` does all of it for a contrast of networks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from onen.cache import CachedResult


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


def eps_at_half_of_outcomes(eps: Sequence[float] | np.ndarray, correct: np.ndarray) -> float:
    """:func:`eps_at_half` of per-image outcomes ``correct`` [len(eps), images] (True: classified correctly under the
    attack at that eps), the clean accuracy being the accuracy at the grid's first eps, which must be 0; NaN when
    that clean accuracy is 0 or the curve never falls to half."""
    e = np.asarray(eps, dtype=np.float64)
    if e.ndim != 1 or e.size == 0 or e[0] != 0:
        raise ValueError(f"eps must be a 1-D grid starting at 0, got {eps!r}")
    c = np.asarray(correct)
    if c.ndim != 2 or c.shape[0] != e.size:
        raise ValueError(f"correct must be [len(eps), images] = [{e.size}, N], got shape {c.shape}")
    accuracy = c.mean(axis=1, dtype=np.float64)
    return eps_at_half(e, accuracy, float(accuracy[0])) if accuracy[0] > 0 else float("nan")


@dataclass(frozen=True)
class Term:
    """One network in a contrast: ``sign`` times its summary. ``values``: the summary per seed, as reported (e.g.
    eps50 of the stored curve); ``outcomes``: optional per-seed per-image outcome arrays, the images on the last axis
    (every term and seed on the same images); ``summary``: maps such an array, restricted to some images, to the
    summary (needed with ``outcomes``, for the image bootstrap)."""

    sign: float
    values: Sequence[float] | np.ndarray
    outcomes: Sequence[np.ndarray] | None = None
    summary: Callable[[np.ndarray], float] | None = None


def outcome_term(sign: float, eps: Sequence[float] | np.ndarray, outcomes: Sequence[np.ndarray]) -> Term:
    """A network's eps50 as a term of a paired contrast, from per-seed per-image outcomes [len(eps), images] alone:
    each seed's value is :func:`eps_at_half_of_outcomes` of its outcomes, and the image bootstrap re-summarises them
    the same way."""
    grid = np.asarray(eps, dtype=np.float64)
    outcomes = [np.asarray(o) for o in outcomes]
    return Term(sign, [eps_at_half_of_outcomes(grid, o) for o in outcomes], outcomes,
                summary=lambda correct: eps_at_half_of_outcomes(grid, correct))


@dataclass(frozen=True)
class PairedContrast:
    """A contrast of networks over seeds: ``per_seed`` (length ``n_paired``, NaN where a summary is undefined),
    ``n_seeds`` finite seeds, their ``mean`` and 95% interval [``low``, ``high``], and the paired bootstrap standard
    error over the test images ``image_se`` (NaN when a term stores no per-image outcomes)."""

    per_seed: np.ndarray
    n_seeds: int
    mean: float
    low: float
    high: float
    image_se: float

    def verdict(self, expected_sign: int) -> str:
        """:func:`verdict_from_interval` of this interval ("not enough seeds" also when no seed is finite)."""
        return verdict_from_interval(self.n_seeds, self.mean, self.low, self.high, expected_sign)


def paired_contrast(terms: Sequence[Term], n_boot: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> PairedContrast:
    """The contrast sum(sign * value) of networks paired by seed, with an interval over seeds and test images.

    Per seed (the first n seeds, n the fewest any term has) the contrast is the signed sum of the terms' ``values``.
    If every term has ``outcomes``, the test images are resampled (:func:`bootstrap_se`, ``n_boot`` resamples drawn
    with ``seed``), the same resample for every term and seed; each replicate recomputes every summary on those
    images and takes the mean over seeds of the contrast, NaN seeds left out. The interval is
    :func:`combined_interval` of the finite seeds and that image error, or :func:`t_interval` over seeds alone
    without outcomes. With no finite seed the mean and interval are NaN.
    """
    if not terms:
        raise ValueError("a contrast needs at least one term")
    values = []
    for i, term in enumerate(terms):
        if not np.isfinite(term.sign) or term.sign == 0:
            raise ValueError(f"term {i}: sign must be finite and non-zero, got {term.sign!r}")
        v = np.asarray(term.values, dtype=np.float64)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"term {i}: values must be a non-empty 1-D sequence (one per seed), got {term.values!r}")
        if term.outcomes is not None:
            if len(term.outcomes) != v.size:
                raise ValueError(f"term {i}: {len(term.outcomes)} outcome arrays for {v.size} seeds")
            if term.summary is None:
                raise ValueError(f"term {i}: outcomes need a summary")
        values.append(v)
    n = min(v.size for v in values)
    per_seed = np.zeros(n)
    for term, v in zip(terms, values):
        per_seed = per_seed + term.sign * v[:n]
    finite = per_seed[np.isfinite(per_seed)]

    image_se = float("nan")
    if all(term.outcomes is not None for term in terms):
        outcomes = [[np.asarray(o) for o in term.outcomes[:n]] for term in terms]
        n_images = {o.shape[-1] for os_ in outcomes for o in os_}
        if len(n_images) != 1:
            raise ValueError(f"every term and seed must hold outcomes on the same images, got counts {n_images}")

        def statistic(images: np.ndarray) -> float:
            total = np.zeros(n)
            for term, os_ in zip(terms, outcomes):
                for s, o in enumerate(os_):
                    total[s] += term.sign * term.summary(o[..., images])
            return float(np.nanmean(total)) if np.isfinite(total).any() else float("nan")

        image_se = bootstrap_se(statistic, n_images.pop(), n_boot=n_boot, seed=seed)

    if finite.size == 0:
        mean = low = high = float("nan")
    elif np.isfinite(image_se):
        mean, low, high = combined_interval(finite, image_se, confidence)
    else:
        mean, low, high = t_interval(finite, confidence)
    return PairedContrast(per_seed=per_seed, n_seeds=int(finite.size), mean=mean, low=low, high=high,
                          image_se=image_se)
