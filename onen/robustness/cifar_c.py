"""Common corruptions of 32x32 colour images, after CIFAR-10-C (Hendrycks & Dietterich 2019), and their evaluation.

Five corruptions that keep their meaning at 32x32, each at severities 1-5 with CIFAR-10-C's own parameters:

- ``gaussian_noise``: x + sigma N(0, I), clipped to [0, 1]; sigma = 0.04, 0.06, 0.08, 0.09, 0.10. Drawn from a
  seeded ``torch.Generator``, so the same seed gives the same images.
- ``gaussian_blur``: :func:`torchvision.transforms.functional.gaussian_blur` with sigma = 0.4, 0.6, 0.7, 0.8, 1.0
  pixels (kernel 2 ceil(3 sigma) + 1, reflected borders).
- ``contrast``: :func:`torchvision.transforms.functional.adjust_contrast` with factor 0.75, 0.5, 0.4, 0.3, 0.15: each
  image blended towards its own mean grey level (CIFAR-10-C blends towards the mean of all channels).
- ``brightness``: the value channel of HSV raised by 0.05, 0.1, 0.15, 0.2, 0.3 and clipped to [0, 1]
  (:func:`kornia.color.rgb_to_hsv` and back), as CIFAR-10-C does.
- ``jpeg``: re-encoded by Pillow at quality 80, 65, 58, 50, 40. Note that the book's copy of CIFAR-10 is itself
  JPEG at quality 75, so the mildest levels add little.

All functions take and return float images [N, 3, H, W] in [0, 1] on the input's device; none changes its input.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from onen.cache import CachedResult, cached
from onen.runs.config import TrainConfig
from onen.robustness.selection import CorruptionSelection
from onen.attacks import eval_mode
from onen.runs import experiments

SEVERITIES = (1, 2, 3, 4, 5)
PARAMETERS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "jpeg": (80, 65, 58, 50, 40),
}
CORRUPTIONS = tuple(PARAMETERS)


def _check(images: Tensor, severity: int) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [N, 3, H, W], got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1], got {images.dtype}")
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")


def gaussian_noise(images: Tensor, severity: int, seed: int = 0) -> Tensor:
    _check(images, severity)
    sigma = PARAMETERS["gaussian_noise"][severity - 1]
    generator = torch.Generator(device=images.device).manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + sigma * noise).clamp(0.0, 1.0)


def gaussian_blur(images: Tensor, severity: int, seed: int = 0) -> Tensor:
    from torchvision.transforms.functional import gaussian_blur as blur

    _check(images, severity)
    sigma = PARAMETERS["gaussian_blur"][severity - 1]
    size = 2 * math.ceil(3 * sigma) + 1
    return blur(images, kernel_size=[size, size], sigma=[sigma, sigma]).clamp(0.0, 1.0)


def contrast(images: Tensor, severity: int, seed: int = 0) -> Tensor:
    from torchvision.transforms.functional import adjust_contrast

    _check(images, severity)
    return adjust_contrast(images, PARAMETERS["contrast"][severity - 1])


def brightness(images: Tensor, severity: int, seed: int = 0) -> Tensor:
    from kornia.color import hsv_to_rgb, rgb_to_hsv

    _check(images, severity)
    hsv = rgb_to_hsv(images)
    value = (hsv[:, 2:3] + PARAMETERS["brightness"][severity - 1]).clamp(0.0, 1.0)
    return hsv_to_rgb(torch.cat([hsv[:, :2], value], dim=1)).clamp(0.0, 1.0)


def jpeg(images: Tensor, severity: int, seed: int = 0, quality: int | None = None) -> Tensor:
    """Re-encode each image with Pillow at CIFAR-10-C's quality for ``severity`` (or at ``quality`` if given)."""
    _check(images, severity)
    quality = PARAMETERS["jpeg"][severity - 1] if quality is None else int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    pixels = (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = np.empty_like(pixels)
    # Pillow encodes one image at a time: this loop is over files, not pixels
    for i, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(device=images.device, dtype=images.dtype).div_(255.0)


_FUNCTIONS = {"gaussian_noise": gaussian_noise, "gaussian_blur": gaussian_blur, "contrast": contrast,
              "brightness": brightness, "jpeg": jpeg}


def corrupt(images: Tensor, name: str, severity: int = 3, seed: int = 0) -> Tensor:
    """``images`` [N, 3, H, W] in [0, 1] under corruption ``name`` at ``severity`` (1-5); deterministic given seed."""
    if name not in _FUNCTIONS:
        raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {name!r}")
    return _FUNCTIONS[name](images, severity, seed=seed)


@dataclass(frozen=True)
class CifarCorruptionConfig(CorruptionSelection):
    """Which corrupted CIFAR-10 test images a network is scored on
    (:class:`onen.robustness.selection.CorruptionSelection`): by default 1000 test images, every corruption of
    :data:`CORRUPTIONS`, at every severity."""

    severities: tuple[int, ...] = SEVERITIES
    corruptions: tuple[str, ...] = CORRUPTIONS

    CATALOGUE: ClassVar[tuple[str, ...]] = CORRUPTIONS
    LEVELS: ClassVar[tuple[int, ...]] = SEVERITIES


@torch.no_grad()
def _correct(model: torch.nn.Module, images: Tensor, labels: Tensor, batch_size: int) -> np.ndarray:

    with eval_mode(model):
        parts = [(model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).cpu()
                 for i in range(0, images.shape[0], batch_size)]
    return torch.cat(parts).numpy()


def corruption_run(config: TrainConfig, corruption: CifarCorruptionConfig, results_dir: str, device: str = "auto",
                   progress: bool | None = None) -> CachedResult:
    """The CIFAR-10 network of ``config`` (trained, or loaded from its checkpoint) on the corrupted test images;
    cached under ``results_dir/cifar_corruptions``.

    Arrays: ``accuracy`` [n_corruptions, n_severities], ``correct`` bool [n_corruptions, n_severities, N] and
    ``correct_clean`` [N]. Meta: ``clean_accuracy`` on the same images.
    """

    dev = experiments.resolve_device(device)
    progress = experiments.interactive() if progress is None else progress

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        model, _, test_split = experiments.train_resumable(config, dev, progress, results_dir)
        test = test_split.subset(corruption.test_subset, seed=0)
        correct = np.stack([np.stack([_correct(model, corrupt(test.images, name, s, seed=corruption.seed),
                                               test.labels, corruption.batch_size)
                                      for s in corruption.severities]) for name in corruption.corruptions])
        clean = _correct(model, test.images, test.labels, corruption.batch_size)
        arrays = {"accuracy": correct.mean(axis=2, dtype=np.float64), "correct": correct, "correct_clean": clean}
        return arrays, {"clean_accuracy": float(clean.mean()), "n_images": int(clean.size)}

    key = {"train": config.to_dict(), "corruption": corruption.to_dict()}
    return cached("cifar_corruptions", key, compute, results_dir, seed=config.seed, device=str(dev))
