"""Where does a regularized network reach its target spectrum? A grid over the penalty weight and the learning rate.

One point of the grid is one trained network: its last hidden layer's spectrum over test images, scored against
Eq. 2's target by :func:`onen.spectrum.target_score`, and its clean accuracy. Points are cached under
``<results_dir>/regularizer_search`` (the same cache as :func:`onen.runs.experiments.run`, without the attack curves, so a
point costs only its training) and train with per-epoch checkpoints, so a killed search resumes.

The grid of each profile is :func:`onen.analysis.profiles.search_grid`; ``python -m onen search --profile paper``
computes it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from onen.cache import CachedResult, cached, lookup
from onen.runs.experiments import interactive, train_resumable
from onen.spectrum import TargetScore, layer_spectra, target_score
from onen.runs.training import TrainConfig, evaluate_accuracy, resolve_device

MEASURES = "search-v1"  # what a point records; part of its cache key


def grid(base: TrainConfig, betas: Iterable[float], lrs: Iterable[float], epochs: int,
         basis: Mapping[str, Any]) -> dict[tuple[float, float], TrainConfig]:
    """Every (learning rate, beta) point: ``base`` with that rate, ``epochs`` and, for beta > 0, the spectral penalty
    with the eigenbasis settings ``basis``; beta = 0 is the unregularized network at that rate."""
    points: dict[tuple[float, float], TrainConfig] = {}
    for lr in lrs:
        for beta in [0.0, *[float(b) for b in betas]]:
            if not (math.isfinite(beta) and beta >= 0):
                raise ValueError(f"betas must be finite and >= 0, got {beta}")
            if beta == 0:
                config = dataclasses.replace(base, regularizer="none", beta=0.0, lr=float(lr), epochs=epochs)
            else:
                config = dataclasses.replace(base, regularizer="spectral", beta=beta, lr=float(lr), epochs=epochs,
                                             **basis)
            points[(float(lr), beta)] = config
    return points


def _key(config: TrainConfig, spectrum_images: int | None) -> dict[str, Any]:
    return {"train": config.to_dict(), "spectrum_images": spectrum_images, "measures": MEASURES}


def stored_point(config: TrainConfig, spectrum_images: int | None, results_dir: str) -> CachedResult | None:
    """What :func:`search_point` stored for these arguments, or None; never trains."""
    return lookup("regularizer_search", _key(config, spectrum_images), results_dir)


def search_point(config: TrainConfig, spectrum_images: int | None, results_dir: str, device: str = "auto",
                 progress: bool | None = None) -> CachedResult:
    """Train ``config`` (cached) and record its last hidden layer's spectrum over ``spectrum_images`` test images
    (None: all 10000), its clean accuracy on all test images and its training history.

    Honours ``ONEN_CACHE_ONLY=1`` (raises :class:`onen.runs.experiments.NotCached` instead of training) and resumes from
    the per-epoch checkpoint of the same training configuration.
    """
    dev = resolve_device(device)
    key = _key(config, spectrum_images)
    progress = interactive() if progress is None else progress

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        # the test accuracy after every epoch (a second's pass over the test set): a section-4.1 network that resumes
        # this checkpoint for more epochs then has no NaN in its history
        model, history, test_split = train_resumable(config, dev, progress, results_dir)
        spectrum_set = test_split.subset(spectrum_images, seed=0)
        spectrum = layer_spectra(model, list(model.blocks), spectrum_set.images)[-1]
        return ({"spectrum": spectrum},
                {"clean_accuracy": evaluate_accuracy(model, test_split), "history": history.to_dict()})

    return cached("regularizer_search", key, compute, results_dir, seed=config.seed, device=str(dev))


@dataclass(frozen=True)
class Point:
    """One scored point of the search."""

    lr: float
    beta: float  # 0: the unregularized network
    score: TargetScore
    clean_accuracy: float  # fraction in [0, 1]


def score(results: Mapping[tuple[float, float], CachedResult], tau: int, alpha: float) -> list[Point]:
    """Score every (lr, beta) result against the target of exponent ``alpha`` anchored at index ``tau``."""
    return [Point(lr, beta, target_score(result.arrays["spectrum"], tau, alpha), float(result.meta["clean_accuracy"]))
            for (lr, beta), result in results.items()]


def closest(points: Iterable[Point]) -> Point:
    """The regularized point closest to its target: smallest |fitted alpha - target|, then smallest median
    log-ratio. Points whose fit failed (NaN) come last."""
    regularized = [p for p in points if p.beta > 0]
    if not regularized:
        raise ValueError("no regularized point (beta > 0) to choose from")

    def distance(p: Point) -> tuple[float, float]:
        gap = abs(p.score.fitted_alpha - p.score.target_alpha)
        return (gap if math.isfinite(gap) else math.inf, p.score.median_abs_log_ratio)

    return min(regularized, key=distance)
