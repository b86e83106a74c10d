"""Common-corruption accuracy of a trained network, cached like :func:`onen.runs.experiments.run`.

One call of :func:`corruption_run` = one trained network (one seed) and its accuracy on the test images under every
MNIST-C corruption (:mod:`onen.robustness.mnist_c`) at every severity asked for, with the per-image outcomes, so that
intervals can resample the images. The network comes from :func:`onen.runs.experiments.train_resumable`: a network that a
chapter has already trained is loaded from its final checkpoint, not trained again.

Every network is scored on the same corrupted images (the test subset drawn with seed 0, as the attacks use, and each
corruption drawn with :attr:`CorruptionConfig.seed`), so differences between networks are paired.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from onen.attacks import eval_mode
from onen.cache import CachedResult, cached
from onen.runs.config import TrainConfig
from onen.robustness.selection import CorruptionSelection
from onen.robustness.mnist_c import CORRUPTIONS, SEVERITIES, corrupt
from onen.data import Split, load
from onen.runs import experiments
from onen.runs.experiments import interactive, train_resumable
from onen.runs.training import evaluate_accuracy, resolve_device


@dataclass(frozen=True)
class CorruptionConfig(CorruptionSelection):
    """Which MNIST-C-corrupted test images a network is scored on (:class:`onen.robustness.selection.CorruptionSelection`):
    by default 1000 test images, every corruption of :data:`onen.robustness.mnist_c.CORRUPTIONS`, at severity 3
    (MNIST-C's own setting)."""

    severities: tuple[int, ...] = (3,)
    corruptions: tuple[str, ...] = CORRUPTIONS

    CATALOGUE: ClassVar[tuple[str, ...]] = CORRUPTIONS
    LEVELS: ClassVar[tuple[int, ...]] = SEVERITIES


_CORRUPTED: dict[tuple[Any, ...], torch.Tensor] = {}


def scored_images(corruption: CorruptionConfig, name: str = "mnist", device: str | torch.device = "cpu") -> Split:
    """The clean test images every network is scored on: the first ``corruption.test_subset`` images of the test
    split of dataset ``name`` in the fixed order drawn with seed 0 (the attacks' subset). The split comes from
    :func:`onen.runs.experiments.dataset`, which loads it once per process and device, so a chapter that shows these images
    and :func:`corruption_run` read one copy."""
    return experiments.dataset(name, "test", device).subset(corruption.test_subset, seed=0)


def corrupted_images(images: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """:func:`onen.robustness.mnist_c.corrupt`, remembered per process by a digest of the images' bytes: every network of a
    chapter is scored on the same corrupted images, which are drawn once."""
    digest = hashlib.blake2b(images.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    key = (digest, tuple(images.shape), str(images.dtype), name, severity, seed, str(images.device))
    if key not in _CORRUPTED:
        _CORRUPTED[key] = corrupt(images, name, severity=severity, seed=seed)
    return _CORRUPTED[key]


@torch.no_grad()
def outcomes(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> np.ndarray:
    """Which images ``model`` classifies correctly, bool [N], in eval mode (restored)."""
    with eval_mode(model):
        parts = [(model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).cpu()
                 for i in range(0, images.shape[0], batch_size)]
    return torch.cat(parts).numpy()


def evaluate(model: torch.nn.Module, test: Split,
             corruption: CorruptionConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays ``correct`` bool [n_corruptions, n_severities, N] and ``accuracy`` float64 [n_corruptions,
    n_severities], ``clean_correct`` bool [N]; meta ``clean_accuracy`` on the same N images."""
    images, labels = test.images, test.labels
    correct = np.stack([np.stack([outcomes(model, corrupted_images(images, name, s, corruption.seed),
                                           labels, corruption.batch_size)
                                  for s in corruption.severities]) for name in corruption.corruptions])
    clean = outcomes(model, images, labels, corruption.batch_size)
    arrays = {"correct": correct, "accuracy": correct.mean(axis=2, dtype=np.float64), "clean_correct": clean}
    return arrays, {"clean_accuracy": float(clean.mean()), "corruptions": list(corruption.corruptions),
                    "severities": list(corruption.severities)}


def corruption_run(config: TrainConfig, corruption: CorruptionConfig, results_dir: str, device: str = "auto",
                   progress: bool | None = None) -> CachedResult:
    """The network of ``config`` (trained, or loaded from its checkpoint) scored on the corrupted test images of
    ``corruption``; cached under ``results_dir/corruptions``. Honours ``ONEN_CACHE_ONLY`` as :func:`run` does."""
    dev = resolve_device(device)
    progress = interactive() if progress is None else progress

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        model, _, test_split = train_resumable(config, dev, progress, results_dir)
        test = scored_images(corruption, config.dataset, dev)
        arrays, meta = evaluate(model, test, corruption)
        meta["full_test_accuracy"] = evaluate_accuracy(model, test_split)
        return arrays, meta

    key = {"train": config.to_dict(), "corruptions": corruption.to_dict()}
    return cached("corruptions", key, compute, results_dir, seed=config.seed, device=str(dev))


def dataset_available(name: str) -> bool:
    """Whether :func:`onen.data.load` finds dataset ``name`` on this machine (without downloading it)."""
    try:
        load(name, "test", "cpu", download=False)
    except (FileNotFoundError, OSError):
        return False
    return True
