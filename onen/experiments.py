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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .attacks import robustness_curve
from .cache import CachedResult, cached
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


def run(config: TrainConfig, evaluation: EvalConfig, results_dir: str, device: str = "auto",
        progress: bool = True, refresh: bool = False) -> CachedResult:
    """Train ``config``, evaluate it with ``evaluation``; cached. Returns arrays (spectra, curves, maps) and meta."""
    dev = resolve_device(device)
    key = {"train": config.to_dict(), "eval": evaluation.to_dict()}

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        train_split = dataset(config.dataset, "train", dev)
        test_split = dataset(config.dataset, "test", dev)
        began = time.perf_counter()
        model, history = train(config, train_split, test_split, progress=progress)
        trained = time.perf_counter()
        arrays, meta = _evaluate(model, test_split, config, evaluation, progress)
        meta.update(history=history.to_dict(), train_seconds=trained - began,
                    eval_seconds=time.perf_counter() - trained)
        return arrays, meta

    return cached("runs", key, compute, results_dir, seed=config.seed, device=str(dev), refresh=refresh)


def run_seeds(config: TrainConfig, evaluation: EvalConfig, seeds: Sequence[int], results_dir: str,
              device: str = "auto", progress: bool = True) -> list[CachedResult]:
    """:func:`run` for each seed (the config's own seed is replaced)."""
    return [run(dataclasses.replace(config, seed=int(s)), evaluation, results_dir, device, progress) for s in seeds]


def mean_and_spread(results: Sequence[CachedResult], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds of an array (or a scalar meta value) named ``key``."""
    values = np.stack([np.asarray(r.arrays[key] if key in r.arrays else r.meta[key], dtype=np.float64)
                       for r in results])
    spread = values.std(0, ddof=1) if len(results) > 1 else np.zeros_like(values[0])
    return values.mean(0), spread


def main(argv: Sequence[str] | None = None) -> None:
    """Compute (and cache) every network a chapter needs, e.g. on a GPU before executing the book elsewhere."""
    from . import profiles  # profiles imports this module

    parser = argparse.ArgumentParser(prog="python -m onen.experiments", description=main.__doc__)
    parser.add_argument("chapters", nargs="+", choices=sorted(profiles.CHAPTER_VARIANTS))
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args(argv)
    results_dir = args.results_dir or f"results/{args.profile}"
    seeds = args.seeds if args.seeds is not None else profiles.seeds(args.profile)
    for chapter in args.chapters:
        for name, (config, evaluation) in profiles.chapter_variants(chapter, args.profile).items():
            began = time.perf_counter()
            run_seeds(config, evaluation, seeds, results_dir, args.device)
            print(f"{chapter:>16} {name:<24} {time.perf_counter() - began:8.1f} s", flush=True)


if __name__ == "__main__":
    main()
