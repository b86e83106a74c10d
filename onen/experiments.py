"""Cached experiments: train a configuration, evaluate it, store everything the book plots.

One call of :func:`run` = one trained network (one seed) and its evaluation: final spectra of every hidden block,
accuracy under FGSM, PGD and Gaussian noise over eps grids, input-sensitivity maps of fixed test digits, clean accuracy
and the training history. The result is cached under ``results_dir`` by a hash of the full configuration (see
:mod:`onen.cache`), so a book rebuild or a second chapter asking for the same network loads it instead of training.

Command line (used for paper-scale runs on a GPU; the chapters then load the cache)::

    python -m onen.experiments shallow deep_last_layer deep_all_layers --profile paper --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .attacks import robustness_curve
from .cache import CachedResult, cached, config_hash, lookup
from .data import Split, load
from .spectrum import layer_spectra
from .training import TrainConfig, evaluate_accuracy, resolve_device, train


@dataclass
class EvalConfig:
    """How a trained network is evaluated.

    test_subset: test images used for the attack curves (None: all 10000). Clean accuracy always uses all of them.
    eps_*: L-infinity radii (pixels in [0, 1]); noise_sigmas: std of additive Gaussian noise (same units).
    spectrum_subset: test images over which the final spectra are computed.
    sensitivity_indices: test images whose input gradients are stored as sensitivity maps.
    """

    test_subset: int | None = None
    eps_fgsm: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    eps_pgd: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    noise_sigmas: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0])
    pgd_steps: int = 40
    pgd_restarts: int = 1
    spectrum_subset: int | None = None
    sensitivity_indices: list[int] = field(default_factory=lambda: list(range(8)))
    batch_size: int = 500

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_DATA: dict[tuple[str, str, str], Split] = {}


def dataset(name: str, split: str, device: torch.device | str) -> Split:
    """Load a split once per process and device."""
    key = (name, split, str(device))
    if key not in _DATA:
        _DATA[key] = load(name, split, device)
    return _DATA[key]


def input_gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sensitivity maps: d CE(model(x_b), y_b) / d x_b for each example, [B, ...] like x (model in eval mode)."""
    was_training = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    model.train(was_training)
    return grad.detach()


def _evaluate(model: torch.nn.Module, test: Split, config: TrainConfig, evaluation: EvalConfig,
              progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    attack_set = test.subset(evaluation.test_subset, seed=0)
    spectra = layer_spectra(model, list(model.blocks), test.subset(evaluation.spectrum_subset, seed=0).images)
    arrays: dict[str, np.ndarray] = {f"spectrum_{i}": s for i, s in enumerate(spectra)}
    curves = {
        "fgsm": (evaluation.eps_fgsm, {}),
        "pgd": (evaluation.eps_pgd, {"steps": evaluation.pgd_steps, "restarts": evaluation.pgd_restarts}),
        "noise": (evaluation.noise_sigmas, {}),
    }
    for attack, (grid, kwargs) in curves.items():
        arrays[f"acc_{attack}"] = robustness_curve(model, attack_set.images, attack_set.labels, grid, attack=attack,
                                                   batch_size=evaluation.batch_size, seed=config.seed,
                                                   progress=progress, **kwargs)
        arrays[f"eps_{attack}"] = np.asarray(grid, dtype=np.float64)
    index = torch.as_tensor(evaluation.sensitivity_indices, device=test.labels.device)
    arrays["sensitivity"] = input_gradients(model, test.images[index], test.labels[index]).cpu().numpy()
    arrays["sensitivity_images"] = test.images[index].cpu().numpy()
    meta = {"clean_accuracy": evaluate_accuracy(model, test), "widths": list(model.widths)}
    return arrays, meta


CACHE_ONLY_ENV = "ONEN_CACHE_ONLY"
CHECKPOINTS_ENV = "ONEN_CHECKPOINTS"


class NotCached(RuntimeError):
    """Raised instead of training when ``ONEN_CACHE_ONLY=1`` and a result is not in the cache."""


def checkpoint_dir() -> Path:
    """Where :func:`run` keeps per-epoch training checkpoints: ``$ONEN_CHECKPOINTS``, else ``~/.onen/checkpoints``.

    Outside the repository on purpose: checkpoints hold weights (tens of MB), which are not versioned.
    """
    return Path(os.environ.get(CHECKPOINTS_ENV) or Path.home() / ".onen" / "checkpoints")


def _interactive() -> bool:
    return sys.stderr.isatty()


def stored(config: TrainConfig, evaluation: EvalConfig, results_dir: str) -> CachedResult | None:
    """What :func:`run` stored for ``config`` and ``evaluation`` under ``results_dir``, or None; never trains."""
    return lookup("runs", {"train": config.to_dict(), "eval": evaluation.to_dict()}, results_dir)


def run(config: TrainConfig, evaluation: EvalConfig, results_dir: str, device: str = "auto",
        progress: bool | None = None, refresh: bool = False) -> CachedResult:
    """Train ``config``, evaluate it with ``evaluation``; cached. Returns arrays (spectra, curves, maps) and meta.

    Training writes a checkpoint after every epoch under :func:`checkpoint_dir`, so a run that is killed resumes from
    its last finished epoch. With the environment variable ``ONEN_CACHE_ONLY=1`` a result missing from the cache
    raises :class:`NotCached` instead of training. ``progress`` None: progress bars only in a terminal.
    """
    dev = resolve_device(device)
    key = {"train": config.to_dict(), "eval": evaluation.to_dict()}
    progress = _interactive() if progress is None else progress

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if os.environ.get(CACHE_ONLY_ENV, "") not in ("", "0"):
            raise NotCached(f"{results_dir}: no cached result for {config.to_dict()} and {CACHE_ONLY_ENV} is set")
        train_split = dataset(config.dataset, "train", dev)
        test_split = dataset(config.dataset, "test", dev)
        began = time.perf_counter()
        # keyed by the training configuration alone: a changed evaluation reuses the trained weights
        checkpoint = checkpoint_dir() / f"{config_hash({'train': config.to_dict()})}.pt"
        model, history = train(config, train_split, test_split, progress=progress, checkpoint=checkpoint)
        trained = time.perf_counter()
        arrays, meta = _evaluate(model, test_split, config, evaluation, progress)
        meta.update(history=history.to_dict(), train_seconds=trained - began,
                    eval_seconds=time.perf_counter() - trained)
        return arrays, meta

    return cached("runs", key, compute, results_dir, seed=config.seed, device=str(dev), refresh=refresh)


def run_seeds(config: TrainConfig, evaluation: EvalConfig, seeds: Sequence[int], results_dir: str,
              device: str = "auto", progress: bool | None = None) -> list[CachedResult]:
    """:func:`run` for each seed (the config's own seed is replaced)."""
    return [run(dataclasses.replace(config, seed=int(s)), evaluation, results_dir, device, progress) for s in seeds]


def mean_and_spread(results: Sequence[CachedResult], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds of an array (or a scalar meta value) named ``key``."""
    values = np.stack([np.asarray(r.arrays[key] if key in r.arrays else r.meta[key], dtype=np.float64)
                       for r in results])
    spread = values.std(0, ddof=1) if len(results) > 1 else np.zeros_like(values[0])
    return values.mean(0), spread


def main(argv: Sequence[str] | None = None) -> None:
    """Compute (and cache) every network a chapter needs, e.g. on a GPU before executing the book elsewhere.
    ``search`` computes the grid of :func:`onen.profiles.search_grid` (the search for the 1/n point)."""
    from . import profiles, search  # both import this module

    parser = argparse.ArgumentParser(prog="python -m onen.experiments", description=main.__doc__)
    parser.add_argument("chapters", nargs="+", choices=[*sorted(profiles.CHAPTER_VARIANTS), "search"])
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--results-dir", default=None,
                        help="default: results/<profile> beside the onen package (the repository's, in a checkout)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (display names)")
    parser.add_argument("--seed-major", action="store_true",
                        help="run every variant of the first seed before any of the second (default: seeds inner)")
    args = parser.parse_args(argv)
    try:
        resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    results_dir = args.results_dir or str(profiles.committed_results(args.profile))
    seeds = args.seeds if args.seeds is not None else profiles.seeds(args.profile)
    jobs = []
    for chapter in args.chapters:
        if chapter == "search":
            points, spectrum_images = profiles.search_grid(args.profile)
            variants: dict[str, Any] = {name: (config, spectrum_images) for name, config in points.items()}
            chapter_seeds = seeds[:1]  # the search is one seed per point
        else:
            variants = profiles.chapter_variants(chapter, args.profile)
            chapter_seeds = seeds
        unknown = sorted(set(args.variants or []) - set(variants))
        if args.variants and len(unknown) == len(args.variants):
            raise SystemExit(f"no variant {unknown} in {chapter}; it has {sorted(variants)}")
        chosen = [(n, v) for n, v in variants.items() if not args.variants or n in args.variants]
        order = ([(s, n, v) for s in chapter_seeds for n, v in chosen] if args.seed_major
                 else [(s, n, v) for n, v in chosen for s in chapter_seeds])
        jobs += [(chapter, name, seed, *pair) for seed, name, pair in order]
    began = time.perf_counter()
    computed_seconds, computed = 0.0, 0
    for index, (chapter, name, seed, config, evaluation) in enumerate(jobs, 1):
        start = time.perf_counter()
        config = dataclasses.replace(config, seed=int(seed))
        if chapter == "search":
            result = search.search_point(config, evaluation, results_dir, args.device)
        else:
            result = run(config, evaluation, results_dir, args.device)
        seconds = time.perf_counter() - start
        fresh = seconds > 1.0 and result.provenance.get("wall_time_s", 0) > 0.5 * seconds
        if fresh:
            computed_seconds, computed = computed_seconds + seconds, computed + 1
        left = len(jobs) - index
        eta = f"ETA {left * computed_seconds / computed / 60:.0f} min" if computed and left else ""
        print(f"[{index}/{len(jobs)}] {chapter} {name} seed {seed}: {'computed' if fresh else 'cached'} in "
              f"{seconds:.0f} s; elapsed {(time.perf_counter() - began) / 60:.1f} min {eta}", flush=True)


if __name__ == "__main__":
    main()
