"""CIFAR-10, from torchvision's lossless original or from a JPEG copy, as whole tensors.

Two sources (:data:`SOURCES`), which never share a cache entry (``TrainConfig.cifar_source`` is part of the key):

- ``"torchvision"``: the original, in torchvision's layout ``$ONEN_DATA/cifar-10-batches-py`` (the five training
  batches and the test batch, each checked against torchvision's md5), downloaded there by
  ``torchvision.datasets.CIFAR10`` when it is missing and a network connection exists;
- ``"jpeg"``: the offline fallback, ``$ONEN_DATA/cifar10-jpeg`` (a third party's quality-75 re-encoding).

:func:`default_source` picks the original where it is on disk, else the JPEG copy where that is, else the original
(downloaded). Both give [N, 3, 32, 32] float32 in [0, 1] and int64 labels; the original keeps torchvision's order,
the copy is ordered by class.

The JPEG copy:

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

from onen.cache import sha256_file
from onen.data import DATA_ENV, Split, data_root

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


SOURCES = ("torchvision", "jpeg")
TORCHVISION_FOLDER = "cifar-10-batches-py"
# torchvision's own md5 of each batch file (torchvision.datasets.CIFAR10.train_list and test_list)
TORCHVISION_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
}
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def default_source(root: str | os.PathLike | None = None) -> str:
    """"torchvision" where its folder is under the data root, else "jpeg" where the copy is, else "torchvision"
    (to be downloaded)."""
    base = data_root(root)
    if (base / TORCHVISION_FOLDER).is_dir():
        return "torchvision"
    return "jpeg" if (base / FOLDER / ARCHIVE).is_file() else "torchvision"


def _read_batch(path: Path, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """One batch file of torchvision's layout: uint8 pixels [N, 32, 32, 3] and int64 labels [N]."""
    import pickle

    if verify:
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest != TORCHVISION_MD5[path.name]:
            raise RuntimeError(f"{path} failed its md5 check (got {digest}, expected {TORCHVISION_MD5[path.name]}); "
                               "delete the folder to download it again")
    with open(path, "rb") as handle:  # the format is a pickled dict; verified above against torchvision's md5
        batch = pickle.load(handle, encoding="latin1")
    pixels = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return pixels, np.asarray(batch["labels"], dtype=np.int64)


def load_cifar10_torchvision(split: str = "train", device: str | torch.device = "cpu",
                             root: str | os.PathLike | None = None, limit: int | None = None, seed: int = 0,
                             download: bool = True, verify: bool = True) -> Split:
    """CIFAR-10 ``split`` from torchvision's lossless original under ``<root>/cifar-10-batches-py``, downloaded by
    torchvision when missing and ``download``. ``verify``: check each batch against torchvision's md5 (a test's
    hand-made folder passes False). ``limit`` and ``seed`` pick images as :func:`load_cifar10_jpeg` does."""
    if split not in SIZES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    base = data_root(root)
    folder = base / TORCHVISION_FOLDER
    if not all((folder / name).is_file() for name in BATCHES[split]):
        if not download:
            raise FileNotFoundError(f"CIFAR-10 not found at {folder}: set {DATA_ENV} to a data root holding "
                                    f"{TORCHVISION_FOLDER}, or allow the download")
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(base), train=split == "train", download=True)
        except Exception as err:  # no connection: say where the files should be and what the fallback is
            raise FileNotFoundError(f"CIFAR-10 not found at {folder} and the download failed ({err}); put "
                                    f"{TORCHVISION_FOLDER} or the JPEG copy {FOLDER}/{ARCHIVE} under {DATA_ENV}") from err
    parts = [_read_batch(folder / name, verify) for name in BATCHES[split]]
    pixels, labels = np.concatenate([p for p, _ in parts]), np.concatenate([y for _, y in parts])
    indices = _pick(len(labels), limit, seed)
    images = torch.from_numpy(pixels[indices]).permute(0, 3, 1, 2).to(device=device, dtype=torch.float32).div_(255.0)
    return Split(images.contiguous(), torch.from_numpy(labels[indices]).to(device))


def _pick(n: int, limit: int | None, seed: int) -> np.ndarray:
    """All n positions, or the first ``limit`` of a fixed random permutation (``seed``) in ascending order, as
    :meth:`onen.data.Split.subset` picks them."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values.numpy()


def load_cifar10(split: str = "train", device: str | torch.device = "cpu", source: str = "jpeg",
                 root: str | os.PathLike | None = None, limit: int | None = None, seed: int = 0) -> Split:
    """CIFAR-10 ``split`` from ``source`` (:data:`SOURCES`)."""
    if source == "torchvision":
        return load_cifar10_torchvision(split, device, root, limit, seed)
    if source == "jpeg":
        return load_cifar10_jpeg(split, device, root, limit, seed)
    raise ValueError(f"source must be one of {SOURCES}, got {source!r}")


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
    indices = _pick(n, limit, seed)
    pixels = decode(jpeg, offsets, indices)
    if len(indices) == n:
        digest = hashlib.sha256(pixels.tobytes()).hexdigest()
        if digest != DECODED_SHA256[split]:
            warnings.warn(f"decoded CIFAR-10 {split} pixels hash to {digest}, not {DECODED_SHA256[split]}: this JPEG "
                          f"decoder rounds differently from the one the copy was checked with", stacklevel=2)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).to(device=device, dtype=torch.float32).div_(255.0)
    return Split(images.contiguous(), torch.from_numpy(labels[indices].astype(np.int64)).to(device))
