"""Datasets as whole tensors on the target device.

MNIST and Fashion-MNIST are small (60k 28x28 images), so each split is held as one float tensor in [0, 1] on the
device it will be trained on; minibatches are index slices of it rather than DataLoader iterations.

Where the files come from, in order:
1. ``$ONEN_DATA`` (or ``root=``), in torchvision's layout: ``<root>/MNIST/raw/*-ubyte.gz`` and
   ``<root>/FashionMNIST/raw/*-ubyte.gz`` (gzipped or already extracted);
2. for Fashion-MNIST, Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. a torchvision download into ``<root>`` (needs a network connection).

Every file is checked against a known md5 before it is parsed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_ENV = "ONEN_DATA"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# md5 of each accepted file: torchvision's own resources, the decompressed idx files, and Debian's recompressed copies.
_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": {"f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"},
        "train-labels-idx1-ubyte": {"d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"},
        "t10k-images-idx3-ubyte": {"9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"},
        "t10k-labels-idx1-ubyte": {"ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"},
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": {"8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"},
        "train-labels-idx1-ubyte": {"25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"},
        "t10k-images-idx3-ubyte": {"bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"},
        "t10k-labels-idx1-ubyte": {"bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01"},
    },
}
_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
DATASETS = tuple(_FOLDER)


@dataclass(frozen=True)
class Split:
    """One split of a dataset held in memory.

    images: [N, 1, 28, 28] float32 in [0, 1]; labels: [N] int64.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def subset(self, n: int | None, seed: int = 0) -> "Split":
        """The first ``n`` examples of a fixed random permutation (class balance kept on average); all if n is None."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"subset size must be positive, got {n}")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        order = order.to(self.labels.device)
        return Split(self.images[order], self.labels[order])

    def to(self, device: str | torch.device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))

    def batches(self, batch_size: int, generator: torch.Generator | None = None, drop_last: bool = False):
        """Yield (images [b,1,28,28], labels [b]) minibatches; shuffled when a CPU ``generator`` is given."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        order = order.to(self.labels.device)
        stop = n - n % batch_size if drop_last and n >= batch_size else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.images[idx], self.labels[idx]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$ONEN_DATA``, else ``~/.onen/data``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_ENV, Path.home() / ".onen" / "data"))


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _find_file(name: str, stem: str, root: Path) -> Path | None:
    folders = [root / _FOLDER[name] / "raw"]
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION_DIR)
    for folder in folders:
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _read_idx(path: Path, name: str, stem: str) -> np.ndarray:
    raw = path.read_bytes()
    if _md5(raw) not in _MD5[name][stem]:
        raise RuntimeError(f"{path} failed its md5 check (got {_md5(raw)}): the file is corrupt or not {name}")
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _download(name: str, root: Path) -> None:
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}[name]
    for train in (True, False):
        cls(str(root), train=train, download=True)


def load(name: str = "mnist", split: str = "train", device: str | torch.device = "cpu",
         root: str | os.PathLike | None = None, download: bool = True) -> Split:
    """Load ``split`` ("train" | "test") of ``name`` ("mnist" | "fashion_mnist") onto ``device``.

    Returns a :class:`Split` with images [N, 1, 28, 28] float32 in [0, 1] and labels [N] int64.
    """
    if name not in _MD5:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(_MD5)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    base = data_root(root)
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    paths = [_find_file(name, stem, base) for stem in stems]
    if any(p is None for p in paths) and download:
        try:
            _download(name, base)
        except Exception as err:  # no network, read-only root, ...
            raise FileNotFoundError(
                f"{name} {split} files not found under {base / _FOLDER[name] / 'raw'} and the download failed ({err}). "
                f"Set the environment variable {DATA_ENV} to a data root holding {_FOLDER[name]}/raw/*-ubyte.gz "
                f"(torchvision's layout), or run once on a machine with a network connection."
            ) from err
        paths = [_find_file(name, stem, base) for stem in stems]
    if any(p is None for p in paths):
        raise FileNotFoundError(
            f"{name} {split} files not found under {base / _FOLDER[name] / 'raw'}; set {DATA_ENV} to a data root "
            f"holding {_FOLDER[name]}/raw/*-ubyte.gz, or allow download=True on a connected machine."
        )
    images = _read_idx(paths[0], name, stems[0])
    labels = _read_idx(paths[1], name, stems[1])
    x = torch.from_numpy(images.copy()).to(device=device, dtype=torch.float32).div_(255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    return Split(x, y)


def load_mnist(split: str = "train", device: str | torch.device = "cpu", root: str | os.PathLike | None = None) -> Split:
    """MNIST ``split`` on ``device``; see :func:`load`."""
    return load("mnist", split, device, root)


def load_fashion_mnist(split: str = "train", device: str | torch.device = "cpu",
                       root: str | os.PathLike | None = None) -> Split:
    """Fashion-MNIST ``split`` on ``device``; see :func:`load`."""
    return load("fashion_mnist", split, device, root)
