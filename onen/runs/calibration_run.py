"""The calibration of the exponent estimators at a profile's sizes, computed once and cached (``results/<profile>/
calibration``), as ``python -m onen calibration --profile paper`` does.

Arrays: ``bias`` and ``spread`` [estimator, alpha, sample size] (:func:`onen.calibration.calibrate`), ``coverage``
[estimator, coverage alpha] (:func:`onen.calibration.coverage`), and the mean synthetic spectra ``mean_spectrum``
[alpha, sample size, N] for the chapter's figure. Meta: the estimators (weighting, lo, hi), the grids, and the
gate's estimator chosen by :func:`onen.calibration.choose_gate` at the test set's size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from onen.cache import CachedResult, cached, lookup
from onen.calibration import Estimator, calibrate, choose_gate, coverage, standard_estimators

MEASURES = "calibration-v3"  # v3: coverage of the normal bootstrap interval


@dataclasses.dataclass(frozen=True)
class CalibrationConfig:
    """What the calibration draws: synthetic layers ``dim`` wide with population eigenvalues n^-alpha for each of
    ``alphas``, ``draws`` of each at every sample size in ``sample_sizes`` (the first is the test set's: the gate is
    chosen there); the bootstrap's coverage at ``coverage_alphas`` with ``coverage_draws`` layers of
    ``sample_sizes[0]`` images and ``boots`` resamples each."""

    dim: int = 2000
    alphas: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    sample_sizes: tuple[int, ...] = (10000, 60000)
    draws: int = 4
    coverage_alphas: tuple[float, ...] = (0.5, 1.0, 2.0)
    coverage_draws: int = 8
    boots: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "draws", "coverage_draws", "boots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
        for name in ("alphas", "coverage_alphas"):
            values = tuple(float(a) for a in getattr(self, name))
            if not values or any(not np.isfinite(a) or a < 0 for a in values):
                raise ValueError(f"{name} must be a non-empty list of finite exponents >= 0, got {values!r}")
            object.__setattr__(self, name, values)
        sizes = tuple(getattr(self, "sample_sizes"))
        if not sizes or any(isinstance(m, bool) or not isinstance(m, int) or m < 2 for m in sizes):
            raise ValueError(f"sample_sizes must be integers >= 2, got {sizes!r}")
        object.__setattr__(self, "sample_sizes", sizes)

    def key(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "measures": MEASURES}


def stored_calibration(config: CalibrationConfig, results_dir: str) -> CachedResult | None:
    """What :func:`calibration_result` stored, or None; never computes."""
    return lookup("calibration", config.key(), results_dir)


def calibration_result(config: CalibrationConfig, results_dir: str) -> CachedResult:
    """Compute (or load) the calibration of :func:`onen.calibration.standard_estimators` at ``config``."""
    estimators = standard_estimators(config.dim)

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        rows, spectra = calibrate(estimators, config.alphas, config.dim, config.sample_sizes, config.draws,
                                  config.seed)
        shape = (len(estimators), len(config.alphas), len(config.sample_sizes))
        bias, spread = np.full(shape, np.nan), np.full(shape, np.nan)
        for row in rows:
            index = (estimators.index(row.estimator), config.alphas.index(row.alpha),
                     config.sample_sizes.index(row.n_samples))
            bias[index], spread[index] = row.bias, row.spread
        cover = np.stack([coverage(estimators, a, config.dim, config.sample_sizes[0], config.coverage_draws,
                                   config.boots, seed=config.seed + 7 + int(1000 * a))
                          for a in config.coverage_alphas], axis=1)
        mean_spectrum = np.stack([np.stack([spectra[(a, m)].mean(0) for m in config.sample_sizes])
                                  for a in config.alphas])
        gate = choose_gate(rows, config.sample_sizes[0])
        meta = {"estimators": [dataclasses.asdict(e) for e in estimators],
                "gate": None if gate is None else dataclasses.asdict(gate)}
        return {"bias": bias, "spread": spread, "coverage": cover, "mean_spectrum": mean_spectrum}, meta

    return cached("calibration", config.key(), compute, results_dir, seed=config.seed)


def estimators_of(result: CachedResult) -> list[Estimator]:
    """The estimators of a stored calibration, in the order of its arrays' first axis."""
    return [Estimator(**e) for e in result.meta["estimators"]]


def gate_of(result: CachedResult) -> Estimator | None:
    """The gate's estimator a stored calibration chose (None: none qualified)."""
    gate = result.meta.get("gate")
    return None if gate is None else Estimator(**gate)
