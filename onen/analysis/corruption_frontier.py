"""Vanilla's corruption frontier: mean corruption accuracy (mCA) against clean accuracy, and effects measured above it.

Robustness moves with clean accuracy: a network that is less accurate can look more robust for free. Vanilla stopped
after a few epochs (:func:`onen.analysis.profiles.frontier_variants`) and trained to the end traces what each clean
accuracy buys without any regularizer: its frontier, linear in clean accuracy between its points. A network's effect
*above the frontier* is its mCA minus the frontier's mCA at its own clean accuracy (NaN outside the frontier's range of
clean accuracies); a contrast of networks is the signed sum of their effects above their frontiers. This is
:func:`onen.analysis.control.above_frontiers` for the corruptions of :func:`onen.robustness.mnist_c_eval.corruption_run`
instead of PGD eps50.

Both numbers of a network, clean accuracy and mCA, are means over the same scored images of per-image outcomes (an
image's mCA share is the fraction of the corruptions under which it is classified correctly), so a resample of the
images is a vector of weights and every statistic a matrix product: the paired bootstrap over the images is
vectorized over its replicates, the seeds and the frontier's points. Intervals and verdicts are those of the rest of
the book (:func:`onen.analysis.stats.combined_interval`, :class:`onen.analysis.control.Effect`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from onen.analysis.control import Effect
from onen.analysis.report import seed_of
from onen.analysis.stats import combined_interval
from onen.cache import CachedResult

# the verdict words of :func:`onen.analysis.stats.verdict_from_interval` for an effect claimed positive, as a
# regularizer's effect on accuracy reads
EFFECT_WORDS = {"reproduced": "helps", "contradicted": "hurts"}
RESOLVED = tuple(EFFECT_WORDS.values())


def effect_words(verdict: str) -> str:
    """A verdict of an accuracy effect claimed positive in the chapter's words: "helps" for "reproduced", "hurts" for
    "contradicted", any other verdict as it is."""
    return EFFECT_WORDS.get(verdict, verdict)


def _unit_rows(name: str, values: np.ndarray, n_seeds: int) -> np.ndarray:
    """``values`` as float64 [n_seeds, N], N >= 1, every entry finite and in [0, 1]; ValueError otherwise."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != n_seeds or x.shape[1] == 0:
        raise ValueError(f"{name} must be [seeds, images] = [{n_seeds}, N >= 1], got shape {x.shape}")
    if not np.all(np.isfinite(x)) or np.any((x < 0) | (x > 1)):
        raise ValueError(f"{name} must hold finite values in [0, 1]")
    return x


def _weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[B, S]: the mean of each row of ``values`` [S, N] under each row of image weights [B, N]."""
    return weights @ values.T / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Scored:
    """One network's per-image outcomes on the scored images, one row per seed: ``clean`` [S, N] is 1 where a clean
    image is classified correctly, ``corrupted`` [S, N] the fraction of the corruptions under which it is (at one
    severity). A row's mean is that seed's clean accuracy and its mCA."""

    seeds: tuple[int, ...]
    clean: np.ndarray
    corrupted: np.ndarray

    def __post_init__(self) -> None:
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be non-empty and distinct, got {self.seeds!r}")
        clean = _unit_rows("clean", self.clean, len(seeds))
        corrupted = _unit_rows("corrupted", self.corrupted, len(seeds))
        if clean.shape != corrupted.shape:
            raise ValueError(f"clean and corrupted outcomes differ in shape: {clean.shape} and {corrupted.shape}")
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "clean", clean)
        object.__setattr__(self, "corrupted", corrupted)

    @property
    def n_images(self) -> int:
        return int(self.clean.shape[1])

    @property
    def clean_accuracy(self) -> np.ndarray:
        """[S]: each seed's clean accuracy."""
        return self.clean.mean(axis=1)

    @property
    def mca(self) -> np.ndarray:
        """[S]: each seed's mean corruption accuracy."""
        return self.corrupted.mean(axis=1)

    def seed_weights(self, seeds: Sequence[int | None]) -> np.ndarray:
        """[S_self, len(seeds)]: column j picks this network's row of ``seeds[j]``, or averages all its rows where it
        lacks that seed or the seed is None (so a frontier point measured on other seeds enters as its mean)."""
        matrix = np.full((len(self.seeds), len(seeds)), 1.0 / len(self.seeds))
        for j, seed in enumerate(seeds):
            if seed is not None and seed in self.seeds:
                matrix[:, j] = 0.0
                matrix[self.seeds.index(seed), j] = 1.0
        return matrix

    def means(self, seeds: Sequence[int | None], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(clean accuracy, mCA), each [B, len(seeds)], under each row of image weights [B, N], for ``seeds`` as
        :meth:`seed_weights` maps them."""
        pick = self.seed_weights(seeds)
        return _weighted_means(self.clean, weights) @ pick, _weighted_means(self.corrupted, weights) @ pick


def scored(runs: Sequence[CachedResult], severity: int) -> Scored:
    """The :class:`Scored` outcomes of one network's runs of :func:`onen.robustness.mnist_c_eval.corruption_run` (one
    per seed) at ``severity``: ``clean_correct`` and the mean over corruptions of ``correct``."""
    if not runs:
        raise ValueError("a network needs at least one run")
    names = {tuple(r.meta["corruptions"]) for r in runs}
    if len(names) != 1:
        raise ValueError(f"the runs were scored on different corruptions: {sorted(names)}")
    rows = []
    for r in runs:
        levels = list(r.meta["severities"])
        if severity not in levels:
            raise ValueError(f"severity {severity} was not scored (have {levels})")
        rows.append(r.arrays["correct"][:, levels.index(severity), :].mean(axis=0, dtype=np.float64))
    clean = np.stack([np.asarray(r.arrays["clean_correct"], dtype=np.float64) for r in runs])
    return Scored(tuple(seed_of(r) for r in runs), clean, np.stack(rows))


def interpolate(xs: np.ndarray, ys: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``ys`` at ``x`` along the last axis of ``xs`` (ascending there), broadcast over the
    leading axes: ``xs`` and ``ys`` [..., K], ``x`` [...]; NaN where ``x`` lies outside [xs[..., 0], xs[..., -1]].
    Where two points share an abscissa equal to ``x``, the first of them gives the value."""
    xs, ys, x = (np.asarray(a, dtype=np.float64) for a in (xs, ys, x))
    if xs.shape != ys.shape or xs.ndim == 0 or xs.shape[-1] < 2 or xs.shape[:-1] != x.shape:
        raise ValueError(f"need xs and ys [..., K >= 2] and x [...], got {xs.shape}, {ys.shape} and {x.shape}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise ValueError("xs and ys must be finite")
    if np.any(np.diff(xs, axis=-1) < 0):
        raise ValueError("xs must be ascending along the last axis")
    k = xs.shape[-1]
    left = np.clip((xs < x[..., None]).sum(axis=-1) - 1, 0, k - 2)[..., None]
    x0, x1 = np.take_along_axis(xs, left, -1)[..., 0], np.take_along_axis(xs, left + 1, -1)[..., 0]
    y0, y1 = np.take_along_axis(ys, left, -1)[..., 0], np.take_along_axis(ys, left + 1, -1)[..., 0]
    width = x1 - x0
    t = np.divide(x - x0, width, out=np.zeros_like(width), where=width > 0)
    inside = (x >= xs[..., 0]) & (x <= xs[..., -1])
    return np.where(inside, y0 + t * (y1 - y0), math.nan)


@dataclass(frozen=True)
class CorruptionFrontier:
    """Vanilla's corruption frontier: mCA against clean accuracy, from ``points`` (Vanilla stopped after different
    numbers of epochs, each with the seeds it has), linear in clean accuracy between them."""

    points: tuple[Scored, ...]

    def __post_init__(self) -> None:
        points = tuple(self.points)
        if len(points) < 2 or not all(isinstance(p, Scored) for p in points):
            raise ValueError(f"a frontier needs at least two Scored points, got {len(points)}")
        counts = {p.n_images for p in points}
        if len(counts) != 1:
            raise ValueError(f"the frontier's points were scored on different numbers of images: {sorted(counts)}")
        object.__setattr__(self, "points", points)

    @property
    def n_images(self) -> int:
        return self.points[0].n_images

    def curve(self, seeds: Sequence[int | None], weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(clean accuracy, mCA), each [B, len(seeds), K], sorted by clean accuracy along the last axis: the K points
        for each seed (a point's own seed where it has it, else its mean over seeds) under each row of image weights
        [B, N] (one row of equal weights when None)."""
        weights = np.ones((1, self.n_images)) if weights is None else weights
        pairs = [p.means(seeds, weights) for p in self.points]
        acc = np.stack([a for a, _ in pairs], axis=-1)
        mca = np.stack([m for _, m in pairs], axis=-1)
        order = np.argsort(acc, axis=-1, kind="stable")
        return np.take_along_axis(acc, order, -1), np.take_along_axis(mca, order, -1)

    def at(self, accuracy: float, seed: int | None = None) -> float:
        """The frontier's mCA at clean ``accuracy``, on the points of ``seed`` (each point's mean over its seeds where
        None or where it lacks that seed); NaN outside the points' range."""
        if not math.isfinite(accuracy):
            raise ValueError(f"accuracy must be finite, got {accuracy}")
        acc, mca = self.curve([seed])
        return float(interpolate(acc[0, 0], mca[0, 0], np.asarray(accuracy)))

    def mean_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(clean accuracy, mCA) [K] of each point's mean over its seeds, sorted by clean accuracy."""
        acc, mca = self.curve([None])
        return acc[0, 0], mca[0, 0]


def frontier(points: Sequence[Sequence[CachedResult]], severity: int) -> CorruptionFrontier:
    """The :class:`CorruptionFrontier` of Vanilla's runs of :func:`onen.robustness.mnist_c_eval.corruption_run`, one
    sequence of runs (its seeds) per training length, at ``severity``."""
    return CorruptionFrontier(tuple(scored(runs, severity) for runs in points))


def _common_seeds(networks: Sequence[Scored]) -> list[int]:
    shared = sorted(set.intersection(*(set(n.seeds) for n in networks)))
    if not shared:
        raise ValueError("the networks of a contrast have no seed in common")
    return shared


def _resample_weights(n_images: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n_images]: how often each image is drawn in each resample with replacement."""
    draws = np.random.default_rng(seed).integers(0, n_images, (n_boot, n_images))
    offsets = (np.arange(n_boot) * n_images)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_boot * n_images).reshape(n_boot, n_images).astype(float)


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """[B]: the mean of the finite entries of each row of [B, S]; NaN for a row with none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(count.shape, math.nan), where=count > 0)


def _effect(terms: Sequence[tuple[float, Scored, CorruptionFrontier | None]], n_boot: int, seed: int) -> Effect:
    """sum(sign * value) of networks paired by seed (the seeds all of them have), a term's value its mCA minus its
    frontier's mCA at its clean accuracy (its mCA alone where the frontier is None), with the interval of
    :func:`above_frontier`."""
    if not terms:
        raise ValueError("a contrast needs at least one term")
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    for i, (sign, network, front) in enumerate(terms):
        if not (isinstance(sign, (int, float, np.number)) and math.isfinite(sign) and sign != 0):
            raise ValueError(f"term {i}: sign must be finite and non-zero, got {sign!r}")
        if not isinstance(network, Scored) or not (front is None or isinstance(front, CorruptionFrontier)):
            raise ValueError(f"term {i}: need a Scored network and a CorruptionFrontier or None")
    counts = {n.n_images for _, n, _ in terms} | {f.n_images for _, _, f in terms if f is not None}
    if len(counts) != 1:
        raise ValueError(f"the networks of a contrast were scored on different numbers of images: {sorted(counts)}")
    n_images = counts.pop()
    seeds = _common_seeds([n for _, n, _ in terms])

    def contrast(weights: np.ndarray) -> np.ndarray:
        total = np.zeros((weights.shape[0], len(seeds)))
        for sign, network, front in terms:
            acc, mca = network.means(seeds, weights)
            if front is not None:
                mca = mca - interpolate(*front.curve(seeds, weights), acc)
            total = total + sign * mca
        return total

    per_seed = contrast(np.ones((1, n_images)))[0]
    finite = per_seed[np.isfinite(per_seed)]
    if finite.size == 0:
        return Effect(per_seed, math.nan, math.nan, math.nan)
    replicates = _finite_mean(contrast(_resample_weights(n_images, n_boot, seed)))
    replicates = replicates[np.isfinite(replicates)]
    image_se = float(replicates.std(ddof=1)) if replicates.size >= 2 else 0.0
    mean, low, high = combined_interval(finite, image_se)
    return Effect(per_seed, mean, low, high)


def above_frontier(terms: Sequence[tuple[float, Scored, CorruptionFrontier]], n_boot: int = 400,
                   seed: int = 0) -> Effect:
    """sum(sign * (mCA - frontier's mCA at the network's clean accuracy)) of networks paired by seed (the seeds all of
    them have), each against its own architecture's frontier, each seed against the frontier of the same seed where
    the frontier's points have it (so a Vanilla on its frontier has exactly 0); NaN for a seed where a network's
    clean accuracy lies outside its frontier's range. The 95% interval adds the spread over the finite seeds
    (Student t) and a paired bootstrap over the scored images (``n_boot`` resamples drawn with ``seed``, every network
    and every frontier point resampled alike; replicates where no seed can be placed are left out)."""
    if any(front is None for _, _, front in terms):
        raise ValueError("every term above the frontier needs its frontier")
    return _effect(terms, n_boot, seed)


def raw_effect(terms: Sequence[tuple[float, Scored]], n_boot: int = 400, seed: int = 0) -> Effect:
    """sum(sign * mCA) of networks paired by seed, with the interval of :func:`above_frontier` (the same resamples
    for the same ``n_boot`` and ``seed``)."""
    return _effect([(sign, network, None) for sign, network in terms], n_boot, seed)


def survival_sentence(verdicts: Mapping[str, tuple[str, str]]) -> str:
    """One sentence on whether any effect survives the frontier: ``verdicts`` maps each contrast (its treated
    network) to its (raw verdict, verdict above the frontier) in the words of :func:`effect_words`. An effect survives
    where both verdicts are the same "helps" or "hurts"; the sentence names those, says how many were resolved raw,
    and tallies the verdicts above the frontier."""
    if not verdicts:
        raise ValueError("no verdicts to summarise")
    n = len(verdicts)
    survivors = [name for name, (raw, above) in verdicts.items() if raw == above and raw in RESOLVED]
    resolved = sum(raw in RESOLVED for raw, _ in verdicts.values())
    tally = Counter(above for _, above in verdicts.values())
    reads = ", ".join(f'{count} "{word}"' for word, count in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
    head = ("No effect on mCA survives the comparison with Vanilla's frontier" if not survivors else
            f"{len(survivors)} of the {n} effects on mCA survive the comparison with Vanilla's frontier "
            f"({', '.join(survivors)})")
    return (f"{head}: {resolved} of the {n} were resolved raw, and above the frontier the "
            f"verdicts read {reads}.")
