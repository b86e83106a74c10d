"""The cached experiments of the chapters on the spectral regularizer and its eigenbasis.

All of them train the small network of those chapters, 784-N-10 with tanh units on MNIST (Adam with AMSGrad, batch at
least as wide as the layer), or, for the batch-size study, draw synthetic Gaussian batches. Each takes its settings
as arguments: ``settings`` is the record :func:`onen.analysis.profiles.regularizer_settings` returns for a profile
(a frozen :class:`onen.analysis.settings.RegularizerSettings`, read by attribute: ``train``, ``attack_images``,
``pgd_steps``, ``spectrum_images``, ``drift_every``, ``refresh_every``, ``heldout_images``, ``batch_study_draws``),
so everything here can be computed outside a notebook::

    settings = profiles.regularizer_settings("paper")
    variants = sweep_variants(settings)
    results = run_variants(variants, settings, settings.seeds, "results/paper", "cuda")

Three cache kinds, keyed as the chapters have always keyed them:

- ``regularizer_runs`` (:func:`run`): one network, one seed: its hidden spectrum over test images, clean accuracy,
  FGSM and PGD accuracy, training history and, for the runs of :data:`DRIFT_RUNS`, the drift of the once-per-epoch
  eigenbasis measured while it trains (:class:`onen.drift.DriftRecorder`);
- ``regularizer_basis_error`` (:func:`basis_error_run`): one network trained with one eigenbasis strategy, the
  basis checked after every step against held-out images;
- ``regularizer_batch_size`` (:func:`batch_size_study`): eigenvalues of a batch's covariance against estimates in
  the true basis, for Gaussian data with a known 1/n spectrum.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from onen.attacks import robustness_curve
from onen.cache import CachedResult, cached
from onen.drift import DriftRecorder
from onen.runs.experiments import dataset
from onen.runs.training import TrainConfig, eigen_inputs, evaluate_accuracy, resolve_device, train
from onen.spectrum import fit_power_law, layer_spectra, power_law_spectrum

EPS = (0.05, 0.1)  # L-infinity radii of the attacks, in pixel units (pixels in [0, 1])
FIT_RANKS = (11, 500)  # 1-based rank window of the fitted exponent, as in Stringer et al. (2019)
DRIFT_KS = (10, 50)  # subspace dimensions of the principal angles between stale and fresh bases
REFERENCE_BETA = 10.0  # the weight of every regularized run but the beta sweep's and the search's
TRACK_SPARSE = 2  # the tracked basis's cheaper schedule: an eigendecomposition every this many steps
DRIFT_MEASURES = "v2"  # what a drift record holds; part of the key of a run that records one
BASIS_ERROR_MEASURES = "heldout-every-step-v1"  # what a basis-error run records; part of its key
# The runs that record the drift of their basis while they train: the beta = 10 network at three learning rates
DRIFT_RUNS = {"lr=1e-04": "β=10, lr=1e-04", "lr=1e-03": "β=10", "lr=1e-02": "β=10, lr=1e-02"}
BASIS_LRS = {"lr=1e-03": 1e-3, "lr=1e-02": 1e-2}  # the learning rates of the basis-error comparison


def base_config(settings: Any) -> TrainConfig:
    """The small net with the spectral penalty (tau 10, alpha 1, the paper's once-per-epoch basis); beta is set by
    each variant."""
    return TrainConfig(arch="mlp", activation="tanh", regularizer="spectral", tau=10, alpha=1.0, fit_ranks=FIT_RANKS,
                       **settings.train.config_fields())


def evaluation(settings: Any) -> dict[str, Any]:
    """What :func:`run` measures after training: attack and spectrum images, radii and PGD steps (part of its key)."""
    return {"attack_images": settings.attack_images, "eps": list(EPS), "pgd_steps": settings.pgd_steps,
            "spectrum_images": settings.spectrum_images}


def sweep_variants(settings: Any) -> dict[str, TrainConfig]:
    """The regularizer chapter's networks: Vanilla, beta 0.5, 2, 10 and 50 at alpha 1, and alpha 1.5 and 2 at beta
    10, by display name ("β=0.5", "β=10, α=1.5")."""
    base = base_config(settings)
    variants = {"Vanilla": dataclasses.replace(base, regularizer="none", beta=0.0)}
    variants.update({f"β={b:g}": dataclasses.replace(base, beta=float(b)) for b in (0.5, 2, 10, 50)})
    variants.update({f"β=10, α={a:g}": dataclasses.replace(base, beta=REFERENCE_BETA, alpha=float(a))
                     for a in (1.5, 2)})
    return variants


def refresh_pairs(settings: Any) -> dict[str, tuple[str, str]]:
    """Learning rate -> (the run with the basis once per epoch, the same run with the basis also refreshed every
    ``settings.refresh_every`` steps), by display name."""
    every = settings.refresh_every
    return {"lr=1e-03": ("β=10", f"β=10, basis every {every} steps"),
            "lr=1e-02": ("β=10, lr=1e-02", f"β=10, lr=1e-02, basis every {every} steps")}


def staleness_variants(settings: Any) -> dict[str, TrainConfig]:
    """The eigenbasis chapter's networks: Vanilla, beta 10 at learning rates 1e-4, 1e-3 and 1e-2 (the runs of
    :data:`DRIFT_RUNS`), and the :func:`refresh_pairs` runs with the basis refreshed every few steps."""
    base = base_config(settings)
    variants = {"Vanilla": dataclasses.replace(base, regularizer="none", beta=0.0),
                "β=10": dataclasses.replace(base, beta=REFERENCE_BETA)}
    variants.update({f"β=10, lr={lr:.0e}": dataclasses.replace(base, beta=REFERENCE_BETA, lr=lr)
                     for lr in (1e-4, 1e-2)})
    for per_epoch, refreshed in refresh_pairs(settings).values():
        variants[refreshed] = dataclasses.replace(variants[per_epoch], refresh_every=settings.refresh_every)
    return variants


def run_key(config: TrainConfig, evaluation: Mapping[str, Any], drift_every: int | None) -> dict[str, Any]:
    """The cache key of :func:`run`."""
    drift = None if drift_every is None else {"every": drift_every, "ks": list(DRIFT_KS), "measures": DRIFT_MEASURES}
    return {"train": config.to_dict(), "evaluation": dict(evaluation), "drift": drift}


def _train_and_measure(config: TrainConfig, evaluation: Mapping[str, Any], drift_every: int | None,
                       device: torch.device) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train one network; measure its spectrum, clean accuracy, FGSM and PGD accuracy and (drift) the stale basis."""
    train_split, test_split = dataset(config.dataset, "train", device), dataset(config.dataset, "test", device)
    recorder = None
    if drift_every is not None:
        recorder = DriftRecorder(eigen_inputs(config, train_split), every=drift_every, ks=DRIFT_KS)
    began = time.perf_counter()
    model, history = train(config, train_split, test_split, progress=False, after_step=recorder)
    seconds = time.perf_counter() - began
    attack_set = test_split.subset(evaluation["attack_images"], seed=0)
    spectrum_set = test_split.subset(evaluation["spectrum_images"], seed=0)
    images, labels, eps = attack_set.images, attack_set.labels, evaluation["eps"]
    arrays = {
        "spectrum": layer_spectra(model, list(model.blocks), spectrum_set.images)[0],
        "acc_fgsm": robustness_curve(model, images, labels, eps, attack="fgsm", seed=config.seed, progress=False),
        "acc_pgd": robustness_curve(model, images, labels, eps, attack="pgd", steps=evaluation["pgd_steps"],
                                    seed=config.seed, progress=False),
    }
    if recorder is not None:
        arrays.update({f"drift_{key}": value for key, value in recorder.arrays().items()})
    steps_per_epoch = len(train_split.subset(config.train_subset, seed=config.seed)) // config.batch_size
    meta = {"clean_accuracy": evaluate_accuracy(model, test_split), "history": history.to_dict(),
            "steps_per_epoch": steps_per_epoch, "train_seconds": seconds}
    return arrays, meta


def run(config: TrainConfig, evaluation: Mapping[str, Any], results_dir: str, device: str = "auto",
        drift_every: int | None = None) -> CachedResult:
    """Train ``config`` and evaluate it with ``evaluation`` (:func:`evaluation`); cached as ``regularizer_runs``.

    ``drift_every``: also record the drift of the once-per-epoch basis every this many steps (None: not). Arrays:
    ``spectrum`` (hidden layer over test images), ``acc_fgsm`` and ``acc_pgd`` (one per radius), ``drift_*`` (one
    per measurement); meta: ``clean_accuracy`` (all test images), ``history``, ``steps_per_epoch``,
    ``train_seconds``."""
    dev = resolve_device(device)
    return cached("regularizer_runs", run_key(config, evaluation, drift_every),
                  lambda: _train_and_measure(config, evaluation, drift_every, dev), results_dir, seed=config.seed,
                  device=str(dev))


def run_variants(variants: Mapping[str, TrainConfig], settings: Any, seeds: Sequence[int],
                 results_dir: str, device: str = "auto") -> dict[str, list[CachedResult]]:
    """:func:`run` for every variant and seed (the config's own seed replaced); the variants named in
    :data:`DRIFT_RUNS` record their basis drift every ``settings.drift_every`` steps."""
    drift_names = set(DRIFT_RUNS.values())
    return {name: [run(dataclasses.replace(config, seed=int(seed)), evaluation(settings), results_dir, device,
                       settings.drift_every if name in drift_names else None) for seed in seeds]
            for name, config in variants.items()}


def mean_over_seeds(results: Sequence[CachedResult], key: str) -> np.ndarray:
    """The mean over seeds of an array (``arrays[key]``) or a value (``meta[key]``) of :func:`run`'s results."""
    return np.mean([np.asarray(r.arrays[key] if key in r.arrays else r.meta[key], dtype=np.float64)
                    for r in results], axis=0)


def fitted_alpha(results: Sequence[CachedResult], ranks: tuple[int, int] = FIT_RANKS) -> float:
    """The exponent fitted to each seed's hidden spectrum over ``ranks``, averaged over seeds."""
    return float(np.mean([fit_power_law(r.arrays["spectrum"], ranks) for r in results]))


def basis_strategies(refresh_every: int, tracked: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The eigenbasis strategies the basis-error runs compare, as TrainConfig fields by display name: the paper's
    basis once per epoch, a refresh every ``refresh_every`` steps, the tracked basis (``tracked``: its fields, as
    :data:`onen.analysis.profiles.TRACKED`) and the same every :data:`TRACK_SPARSE` steps."""
    return {"basis per epoch": {}, f"refresh every {refresh_every} steps": {"refresh_every": refresh_every},
            "tracked basis": dict(tracked),
            f"tracked basis, every {TRACK_SPARSE} steps": {**tracked, "track_every": TRACK_SPARSE}}


def basis_error_key(config: TrainConfig, heldout_images: int, spectrum_images: int | None) -> dict[str, Any]:
    """The cache key of :func:`basis_error_run`."""
    return {"train": config.to_dict(), "heldout_images": heldout_images, "spectrum_images": spectrum_images,
            "measures": BASIS_ERROR_MEASURES}


def _train_and_track_error(config: TrainConfig, heldout_images: int, spectrum_images: int | None,
                           device: torch.device) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train with the basis error measured after every step on held-out images; spectrum and accuracy at the end."""
    train_split, test_split = dataset(config.dataset, "train", device), dataset(config.dataset, "test", device)
    heldout = test_split.subset(heldout_images, seed=1).images
    recorder = DriftRecorder(eigen_inputs(config, train_split), every=1, ks=(10,), heldout=heldout, floor=True)
    model, history = train(config, train_split, None, progress=False, after_step=recorder)
    spectrum_set = test_split.subset(spectrum_images, seed=0)
    arrays = {f"error_{key}": value for key, value in recorder.arrays().items()}
    arrays["spectrum"] = layer_spectra(model, list(model.blocks), spectrum_set.images)[0]
    return arrays, {"clean_accuracy": evaluate_accuracy(model, test_split), "history": history.to_dict()}


def basis_error_run(config: TrainConfig, heldout_images: int, spectrum_images: int | None, results_dir: str,
                    device: str = "auto") -> CachedResult:
    """Train ``config`` with its basis checked after every step against a fresh eigendecomposition over
    ``heldout_images`` test images (:class:`onen.drift.DriftRecorder` with ``floor``); cached as
    ``regularizer_basis_error``. Arrays: ``error_*`` (one per step) and the final ``spectrum`` over
    ``spectrum_images`` test images; meta: ``clean_accuracy``, ``history``."""
    dev = resolve_device(device)
    return cached("regularizer_basis_error", basis_error_key(config, heldout_images, spectrum_images),
                  lambda: _train_and_track_error(config, heldout_images, spectrum_images, dev), results_dir,
                  seed=config.seed, device=str(dev))


def basis_error_runs(settings: Any, tracked: Mapping[str, Any], seed: int, results_dir: str,
                     device: str = "auto") -> dict[tuple[str, str], tuple[TrainConfig, CachedResult]]:
    """:func:`basis_error_run` of the beta = 10 network for every strategy of :func:`basis_strategies` at every
    learning rate of :data:`BASIS_LRS`: (strategy, learning rate) -> (its configuration, its result)."""
    base = base_config(settings)
    runs = {}
    for lr_name, lr in BASIS_LRS.items():
        for strategy, fields in basis_strategies(settings.refresh_every, tracked).items():
            config = dataclasses.replace(base, beta=REFERENCE_BETA, lr=lr, seed=seed, **fields)
            runs[(strategy, lr_name)] = (config, basis_error_run(config, settings.heldout_images,
                                                                 settings.spectrum_images, results_dir, device))
    return runs


def batch_study_settings(draws: int) -> dict[str, Any]:
    """The batch-size study's settings (its cache key): a 500-dimensional population with the spectrum 1/n, batches
    of 250, 500 and 2000, ``draws`` batches of each, tau 10 for the penalty, seed 0."""
    return {"width": 500, "alpha": 1.0, "batch_sizes": [250, 500, 2000], "draws": draws, "tau": 10, "seed": 0}


def _draw_batches(study: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    n_dims, draws = study["width"], study["draws"]
    spectrum = power_law_spectrum(n_dims, study["alpha"])
    gen = torch.Generator().manual_seed(study["seed"])
    basis, _ = torch.linalg.qr(torch.randn(n_dims, n_dims, generator=gen, dtype=torch.float64))
    scale = torch.from_numpy(np.sqrt(spectrum))
    arrays = {"spectrum": spectrum}
    for batch in study["batch_sizes"]:
        samples = (torch.randn(draws, batch, n_dims, generator=gen, dtype=torch.float64) * scale) @ basis.T
        centred = samples - samples.mean(1, keepdim=True)
        cov = centred.transpose(1, 2) @ centred / (batch - 1)  # [draws, N, N]
        arrays[f"batch_eig_{batch}"] = torch.linalg.eigvalsh(cov).flip(-1).numpy()  # [draws, N] descending
        arrays[f"fixed_basis_{batch}"] = ((centred @ basis).square().sum(1) / (batch - 1)).numpy()  # [draws, N]
    return arrays, {}


def batch_size_study(study: Mapping[str, Any], results_dir: str) -> CachedResult:
    """Gaussian batches from a population with the spectrum ``power_law_spectrum(width, alpha)`` in a random
    orthonormal basis Q (``study``: :func:`batch_study_settings`); cached as ``regularizer_batch_size``.

    Arrays: ``spectrum`` [N], and for each batch size B ``batch_eig_B`` [draws, N], the descending eigenvalues of
    each batch's covariance, and ``fixed_basis_B`` [draws, N], the estimates q_n^T C_B q_n in the true basis (in Q's
    order, not sorted)."""
    return cached("regularizer_batch_size", dict(study), lambda: _draw_batches(study), results_dir,
                  seed=study["seed"])
