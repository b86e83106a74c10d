"""Cached experiments: train a configuration, evaluate it, store everything the book plots.

One call of :func:`run` = one trained network (one seed) and its evaluation: final spectra of every hidden block,
accuracy under FGSM, PGD and Gaussian noise over eps grids, input-sensitivity maps of fixed test digits, clean accuracy
and the training history. The result is cached under ``results_dir`` by a hash of the full configuration (see
:mod:`onen.cache`), so a book rebuild or a second chapter asking for the same network loads it instead of training.

Command line (used for paper-scale runs on a GPU; the chapters then load the cache)::

    python -m onen shallow deep_last_layer deep_all_layers --profile paper --device cuda
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from onen.attacks import input_gradients, robustness_outcomes
from onen.cache import CachedResult, cached, config_hash, lookup
from onen.data import Split, load
from onen.spectrum import bootstrap_spectra, layer_spectra
from onen.runs.config import CIFAR_DATASET, EvalConfig, TrainConfig
from onen.runs.training import evaluate_accuracy, extend_checkpoint, resolve_device, train
from onen.cifar import load_cifar10


_DATA: dict[tuple[str, str, str, int | None, int, str], Split] = {}


def dataset(name: str, split: str, device: torch.device | str, limit: int | None = None, seed: int = 0,
            source: str = "jpeg") -> Split:
    """Load a split once per process and device.

    "cifar10" comes from ``source`` (:func:`onen.cifar.load_cifar10`: torchvision's original or the JPEG copy); with
    ``limit`` only the images ``split.subset(limit, seed)`` would pick are loaded. The MNIST family ignores
    ``limit`` and ``source``: it is small enough to load whole.
    """
    if name != CIFAR_DATASET:
        limit, seed, source = None, 0, "jpeg"
    key = (name, split, str(device), limit, seed, source)
    if key not in _DATA:
        if name == CIFAR_DATASET:

            _DATA[key] = load_cifar10(split, device, source, limit=limit, seed=seed)
        else:
            _DATA[key] = load(name, split, device)
    return _DATA[key]


def _evaluate(model: torch.nn.Module, test: Split, config: TrainConfig, evaluation: EvalConfig,
              progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    attack_set = test.subset(evaluation.test_subset, seed=0)
    spectra = layer_spectra(model, list(model.blocks), test.subset(evaluation.spectrum_subset, seed=0).images)
    arrays: dict[str, np.ndarray] = {f"spectrum_{i}": s for i, s in enumerate(spectra)}
    if evaluation.spectrum_bootstrap:
        images = test.subset(evaluation.spectrum_subset, seed=0).images
        for i, block in enumerate(model.blocks):
            arrays[f"spectrum_boot_{i}"] = bootstrap_spectra(model, block, images, evaluation.spectrum_bootstrap)
    curves = {
        "fgsm": (evaluation.eps_fgsm, {}),
        "pgd": (evaluation.eps_pgd, {"steps": evaluation.pgd_steps, "restarts": evaluation.pgd_restarts}),
        "noise": (evaluation.noise_sigmas, {}),
    }
    for attack, (grid, kwargs) in curves.items():
        outcomes = robustness_outcomes(model, attack_set.images, attack_set.labels, grid, attack=attack,
                                       batch_size=evaluation.batch_size, seed=config.seed, progress=progress,
                                       **kwargs)
        arrays[f"acc_{attack}"] = outcomes.mean(axis=1, dtype=np.float64)
        arrays[f"eps_{attack}"] = np.asarray(grid, dtype=np.float64)
        if attack == "pgd" and evaluation.store_outcomes:
            arrays["correct_pgd"] = outcomes
    if any(i >= len(test) for i in evaluation.sensitivity_indices):
        raise ValueError(f"sensitivity_indices {evaluation.sensitivity_indices} reach past the {len(test)} test images")
    index = torch.as_tensor(evaluation.sensitivity_indices, device=test.labels.device)
    arrays["sensitivity"] = input_gradients(model, test.images[index], test.labels[index]).cpu().numpy()
    arrays["sensitivity_images"] = test.images[index].cpu().numpy()
    meta = {"clean_accuracy": evaluate_accuracy(model, test), "widths": list(model.widths),
            "clean_accuracy_attacked": evaluate_accuracy(model, attack_set)}
    return arrays, meta


CACHE_ONLY_ENV = "ONEN_CACHE_ONLY"
CHECKPOINTS_ENV = "ONEN_CHECKPOINTS"


def cache_only() -> bool:
    """Whether ``ONEN_CACHE_ONLY`` asks for cached results only: "1", "true", "yes" or "on" (any case) turn it on;
    unset, "", "0", "false", "no" or "off" leave it off; anything else raises ValueError."""
    value = os.environ.get(CACHE_ONLY_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{CACHE_ONLY_ENV} must be 1/true/yes/on or 0/false/no/off, got {os.environ[CACHE_ONLY_ENV]!r}")


class NotCached(RuntimeError):
    """Raised instead of training when ``ONEN_CACHE_ONLY=1`` and a result is not in the cache."""


def checkpoint_dir() -> Path:
    """Where :func:`run` keeps per-epoch training checkpoints: ``$ONEN_CHECKPOINTS``, else ``~/.onen/checkpoints``.

    Outside the repository on purpose: checkpoints hold weights (tens of MB), which are not versioned.
    """
    return Path(os.environ.get(CHECKPOINTS_ENV) or Path.home() / ".onen" / "checkpoints")


def interactive() -> bool:
    """Whether progress bars belong on stderr: a terminal, not a notebook or a log file."""
    return sys.stderr.isatty()


def _run_key(config: TrainConfig, evaluation: EvalConfig) -> dict[str, Any]:
    return {"train": config.to_dict(), "eval": evaluation.to_dict()}


def stored(config: TrainConfig, evaluation: EvalConfig, results_dir: str) -> CachedResult | None:
    """What :func:`run` stored for ``config`` and ``evaluation`` under ``results_dir``, or None; never trains."""
    return lookup("runs", _run_key(config, evaluation), results_dir)


def device_word(result: CachedResult) -> str:
    """"GPU" or "CPU": the device a cached run was computed on (its provenance)."""
    return "GPU" if str(result.provenance.get("device", "")).startswith("cuda") else "CPU"


def stored_seeds(variants: Mapping[str, TrainConfig], evaluation: EvalConfig, seeds: Sequence[int],
                 results_dir: str) -> tuple[dict[str, list[CachedResult]], list[list[str]]]:
    """What :func:`run` stored for each variant and seed under ``results_dir``; never trains.

    Returns the stored results of each variant that has at least one (in seed order), and one status row per
    variant: its name, then for each seed "GPU" or "CPU" (the device that computed it) or "missing"."""
    results: dict[str, list[CachedResult]] = {}
    rows = []
    for name, config in variants.items():
        found = [stored(dataclasses.replace(config, seed=int(s)), evaluation, results_dir) for s in seeds]
        if any(r is not None for r in found):
            results[name] = [r for r in found if r is not None]
        rows.append([name, *("missing" if r is None else device_word(r) for r in found)])
    return results, rows


def train_resumable(config: TrainConfig, device: torch.device, progress: bool, results_dir: str,
                    test_each_epoch: bool | None = None) -> tuple[torch.nn.Module, Any, Split]:
    """Train ``config`` on its dataset with a checkpoint after every epoch under :func:`checkpoint_dir` (keyed by the
    training configuration alone, so a killed run resumes and a changed evaluation reuses the weights). Returns the
    model, its history and the test split. Under ``ONEN_CACHE_ONLY=1`` raises :class:`NotCached` instead.

    A configuration without a checkpoint of its own starts from the checkpoint of the same configuration with the
    most epochs fewer than its own, where one exists, waiting for it to finish if another process is training it
    (:func:`onen.runs.training.extend_checkpoint`): training 100 epochs after a 50-epoch run costs 50.

    ``test_each_epoch`` None: the history records the test accuracy after every epoch, except on CIFAR-10, where a
    pass over its 10000 test images costs as much as a quick profile's epoch (its history holds NaN there)."""
    if test_each_epoch is None:
        test_each_epoch = config.dataset != CIFAR_DATASET
    if cache_only():
        raise NotCached(f"{results_dir}: no cached result for {config.to_dict()} and {CACHE_ONLY_ENV} is set")
    # CIFAR-10: decode only the training subset (train() then takes all of it: the same images as subset() picks)
    train_split = dataset(config.dataset, "train", device, limit=config.train_subset, seed=config.seed,
                          source=config.cifar_source)
    test_split = dataset(config.dataset, "test", device, source=config.cifar_source)
    checkpoint = checkpoint_path(config)
    with checkpoint_lock(checkpoint):
        if not checkpoint.is_file() and not config.recalibrate:
            shorter = next((path for path in (checkpoint_path(dataclasses.replace(config, epochs=e))
                                              for e in range(config.epochs - 1, 0, -1)) if path.is_file()), None)
            if shorter is not None:  # the longest shorter run of the same configuration: train only the epochs after it
                with checkpoint_lock(shorter):
                    extend_checkpoint(shorter, checkpoint, config)
        model, history = train(config, train_split, test_split if test_each_epoch else None, progress=progress,
                               checkpoint=checkpoint)
    return model, history, test_split


def checkpoint_path(config: TrainConfig) -> Path:
    """Where :func:`train_resumable` keeps ``config``'s per-epoch checkpoint (keyed by the training configuration)."""
    return checkpoint_dir() / f"{config_hash({'train': config.to_dict()})}.pt"


@contextlib.contextmanager
def checkpoint_lock(checkpoint: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<checkpoint>.lock`` while a network trains from (and writes) ``checkpoint``.

    Two processes asking for the same network (two chapters, or a chapter and the command line) would otherwise
    both resume the same checkpoint and overwrite each other's epochs. The second one waits here until the first
    has finished, then loads its finished checkpoint. Where ``fcntl`` does not exist (Windows) nothing is locked.
    """
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(checkpoint.with_name(checkpoint.name + ".lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run(config: TrainConfig, evaluation: EvalConfig, results_dir: str, device: str = "auto",
        progress: bool | None = None, refresh: bool = False) -> CachedResult:
    """Train ``config``, evaluate it with ``evaluation``; cached. Returns arrays (spectra, curves, maps) and meta.

    Training writes a checkpoint after every epoch under :func:`checkpoint_dir`, so a run that is killed resumes from
    its last finished epoch. With the environment variable ``ONEN_CACHE_ONLY=1`` a result missing from the cache
    raises :class:`NotCached` instead of training. ``progress`` None: progress bars only in a terminal.
    """
    dev = resolve_device(device)
    key = _run_key(config, evaluation)
    progress = interactive() if progress is None else progress

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        began = time.perf_counter()
        model, history, test_split = train_resumable(config, dev, progress, results_dir)
        trained = time.perf_counter()
        arrays, meta = _evaluate(model, test_split, config, evaluation, progress)
        # train_seconds: every epoch's time, over every process that resumed this network from its checkpoint;
        # train_wall_seconds: this process's share (loading a finished checkpoint costs next to nothing)
        meta.update(history=history.to_dict(), train_seconds=float(sum(history.seconds)),
                    train_wall_seconds=trained - began, eval_seconds=time.perf_counter() - trained)
        return arrays, meta

    return cached("runs", key, compute, results_dir, seed=config.seed, device=str(dev), refresh=refresh)


def run_seeds(config: TrainConfig, evaluation: EvalConfig, seeds: Sequence[int], results_dir: str,
              device: str = "auto", progress: bool | None = None) -> list[CachedResult]:
    """:func:`run` for each seed (the config's own seed is replaced)."""
    return [run(dataclasses.replace(config, seed=int(s)), evaluation, results_dir, device, progress) for s in seeds]

