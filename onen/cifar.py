"""CIFAR-10 from the JPEG copy in ``$ONEN_DATA/cifar10-jpeg`` (a third party's quality-75 re-encoding).

The copy is one uncompressed ``np.savez`` archive, ``cifar10_jpeg_bytes.npz``: per split the JPEG files' bytes
concatenated (``<split>_jpeg``), the 1 + N offsets that cut them apart (``<split>_offsets``) and the labels
(``<split>_y``), ordered by class and then by file name. JPEG is lossy, so pixel values differ slightly from the
lossless original (channel means agree to about 1e-4, standard deviations are about 0.001 lower); the original comes
from ``torchvision.datasets.CIFAR10(root, download=True)`` on a machine with a network connection.

The archive is checked against its sha256 before anything is decoded. When a whole split is decoded, the decoded
pixels are checked too; that hash depends on the JPEG decoder (it was made with Pillow's libjpeg-turbo), so a
mismatch there only warns.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .cache import sha256_file
from .data import DATA_ENV, Split, data_root

FOLDER = "cifar10-jpeg"
ARCHIVE = "cifar10_jpeg_bytes.npz"
ARCHIVE_SHA256 = "4b8a80538da52ef8a0cbf4a3e18e1f40b71671fcca62918e70575c9bd7ed072c"
# sha256 of the decoded uint8 pixels, C order [N, 32, 32, 3], in the archive's order
DECODED_SHA256 = {
    "train": "bf3aabd52be912dae02a0435296c4dab5289524b57f55cd162dc4796935a611b",
    "test": "5a6aa8185204d80b65d3dfb540696dadd5f10d185ded226a96665d3e0fc6259f",
}
SIZES = {"train": 50000, "test": 10000}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

_verified: set[Path] = set()  # archives already hashed in this process


def archive_path(root: str | os.PathLike | None = None) -> Path:
    """Path of the verified archive; FileNotFoundError (naming ONEN_DATA) if absent, RuntimeError if corrupt."""
    path = data_root(root) / FOLDER / ARCHIVE
    if not path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 JPEG archive not found at {path}. Set the environment variable {DATA_ENV} to a data root "
            f"holding {FOLDER}/{ARCHIVE} (the lossless original is torchvision.datasets.CIFAR10(download=True) on a "
            f"connected machine)."
        )
    if path not in _verified:
        digest = sha256_file(path)
        if digest != ARCHIVE_SHA256:
            raise RuntimeError(f"{path} failed its sha256 check (got {digest}, expected {ARCHIVE_SHA256})")
        _verified.add(path)
    return path


def decode(jpeg: np.ndarray, offsets: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Decode the images ``indices`` of a concatenated JPEG buffer into uint8 [len(indices), 32, 32, 3] (RGB)."""
    out = np.empty((len(indices), 32, 32, 3), dtype=np.uint8)
    # one JPEG stream per image: no decoder takes a batch, so this loop is over files, not pixels
    for row, i in enumerate(indices):
        blob = jpeg[offsets[i] : offsets[i + 1]].tobytes()
        out[row] = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
    return out


def load_cifar10_jpeg(split: str = "train", device: str | torch.device = "cpu", root: str | os.PathLike | None = None,
                      limit: int | None = None, seed: int = 0) -> Split:
    """CIFAR-10 ``split`` ("train" | "test") from the JPEG copy, as a :class:`onen.data.Split`.

    images: [N, 3, 32, 32] float32 in [0, 1]; labels: [N] int64 in 0..9. With ``limit`` only that many images are
    decoded: the first ``limit`` of a fixed random permutation (``seed``), kept in archive order, as
    :meth:`Split.subset` picks them.
    """
    if split not in SIZES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with np.load(archive_path(root)) as archive:
        jpeg, offsets, labels = archive[f"{split}_jpeg"], archive[f"{split}_offsets"], archive[f"{split}_y"]
    n = len(labels)
    if n != SIZES[split] or len(offsets) != n + 1:
        raise RuntimeError(f"{split} split has {n} labels and {len(offsets)} offsets, expected {SIZES[split]} and +1")
    if limit is None or limit >= n:
        indices = np.arange(n)
    elif limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    else:
        indices = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values.numpy()
    pixels = decode(jpeg, offsets, indices)
    if len(indices) == n:
        digest = hashlib.sha256(pixels.tobytes()).hexdigest()
        if digest != DECODED_SHA256[split]:
            warnings.warn(f"decoded CIFAR-10 {split} pixels hash to {digest}, not {DECODED_SHA256[split]}: this JPEG "
                          f"decoder rounds differently from the one the copy was checked with", stacklevel=2)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).to(device=device, dtype=torch.float32).div_(255.0)
    return Split(images.contiguous(), torch.from_numpy(labels[indices].astype(np.int64)).to(device))
