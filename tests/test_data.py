"""MNIST loading against the dataset's known shapes and class counts, the md5 checks, and subset determinism."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from onen import data as onen_data
from onen.data import DATA_ENV, Split, load


TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.mnist
@pytest.mark.parametrize("split,counts", [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_mnist_shapes_range_and_class_counts(split: str, counts: list[int], mnist_train: Split,
                                             mnist_test: Split) -> None:
    s = mnist_train if split == "train" else mnist_test
    n = sum(counts)
    assert len(s) == n
    assert s.images.shape == (n, 1, 28, 28) and s.images.dtype == torch.float32
    assert s.labels.shape == (n,) and s.labels.dtype == torch.int64
    assert float(s.images.min()) == 0.0 and float(s.images.max()) == 1.0
    # pixels are bytes / 255: every value is a multiple of 1/255
    scaled = s.images[:500] * 255
    assert torch.allclose(scaled, scaled.round(), atol=1e-4)
    assert torch.bincount(s.labels, minlength=10).tolist() == counts


@pytest.mark.skipif(not any(onen_data.DEBIAN_FASHION_DIR.glob("*-ubyte.gz")),
                    reason="Debian's dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("split,per_class", [("train", 6000), ("test", 1000)])
def test_fashion_mnist_from_the_debian_package(tmp_path: Path, split: str, per_class: int) -> None:
    # an empty root forces the system folder; Fashion-MNIST is balanced by construction (Xiao et al. 2017)
    s = load("fashion_mnist", split, root=tmp_path, download=False)
    assert s.images.shape == (10 * per_class, 1, 28, 28) and s.images.dtype == torch.float32
    assert float(s.images.min()) == 0.0 and float(s.images.max()) == 1.0
    assert torch.bincount(s.labels, minlength=10).tolist() == [per_class] * 10
    # not MNIST in disguise: MNIST's mean pixel is about 0.13, Fashion-MNIST's about 0.29
    assert 0.25 < float(s.images.mean()) < 0.33


def copy_mnist(tmp_path: Path, stems: list[str], decompress: bool = False) -> Path:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in stems:
        source = onen_data.data_root() / "MNIST" / "raw" / f"{stem}.gz"
        if decompress:
            (raw / stem).write_bytes(gzip.decompress(source.read_bytes()))
        else:
            shutil.copyfile(source, raw / f"{stem}.gz")
    return raw


TEST_STEMS = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.mark.mnist
@pytest.mark.parametrize("decompress", [False, True])
def test_copies_load_identically(tmp_path: Path, decompress: bool, mnist_test: Split) -> None:
    copy_mnist(tmp_path, TEST_STEMS, decompress)
    copy = load("mnist", "test", root=tmp_path, download=False)
    assert torch.equal(copy.images, mnist_test.images) and torch.equal(copy.labels, mnist_test.labels)


@pytest.mark.mnist
@pytest.mark.parametrize("decompress", [False, True])
def test_corrupted_file_fails_md5(tmp_path: Path, decompress: bool) -> None:
    raw = copy_mnist(tmp_path, TEST_STEMS, decompress)
    name = "t10k-labels-idx1-ubyte" + ("" if decompress else ".gz")
    corrupted = bytearray((raw / name).read_bytes())
    corrupted[-1] ^= 0xFF
    (raw / name).write_bytes(bytes(corrupted))
    with pytest.raises(RuntimeError, match="md5"):
        load("mnist", "test", root=tmp_path, download=False)


def test_missing_data_without_network_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torchvision = pytest.importorskip("torchvision")
    attempts = []

    def offline(*args, **kwargs):
        attempts.append(args)
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=DATA_ENV) as info:
        load("mnist", "train")
    assert attempts, "the download should have been tried"
    assert str(tmp_path / "nowhere") in str(info.value)
    with pytest.raises(FileNotFoundError, match=DATA_ENV):
        load("mnist", "test", download=False)


def test_data_root_prefers_argument_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert onen_data.data_root() == tmp_path / "env"
    assert onen_data.data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(DATA_ENV)
    assert onen_data.data_root() == Path.home() / ".onen" / "data"


def test_bad_names_raise() -> None:
    with pytest.raises(ValueError):
        load("cifar10")
    with pytest.raises(ValueError):
        load("mnist", "validation")


def toy_split(n: int = 100) -> Split:
    images = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous() / n
    return Split(images, torch.arange(n) % 10)


def test_subset_is_deterministic_and_a_subset() -> None:
    s = toy_split()
    a, b, c = s.subset(30, seed=1), s.subset(30, seed=1), s.subset(30, seed=2)
    assert len(a) == 30
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, c.labels) or not torch.equal(a.images, c.images)
    # rows are kept whole: image i still carries label i % 10, and no row appears twice
    index = (a.images[:, 0, 0, 0] * 100).round().long()
    assert torch.equal(a.labels, index % 10)
    assert len(set(index.tolist())) == 30
    assert s.subset(None) is s and s.subset(100) is s and s.subset(500) is s
    with pytest.raises(ValueError):
        s.subset(0)


@pytest.mark.mnist
def test_mnist_subset_determinism(mnist_train: Split) -> None:
    a, b = mnist_train.subset(2000, seed=0), mnist_train.subset(2000, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    counts = torch.bincount(a.labels, minlength=10).numpy()
    expected = np.array(TRAIN_COUNTS) / 60000 * 2000
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))  # class balance kept on average


def test_batches_cover_the_split() -> None:
    s = toy_split(103)
    plain = list(s.batches(25))
    assert [len(y) for _, y in plain] == [25, 25, 25, 25, 3]
    assert torch.equal(torch.cat([y for _, y in plain]), s.labels)
    dropped = list(s.batches(25, drop_last=True))
    assert [len(y) for _, y in dropped] == [25] * 4
    shuffled = list(s.batches(25, generator=torch.Generator().manual_seed(0)))
    seen = torch.cat([(x[:, 0, 0, 0] * 103).round().long() for x, _ in shuffled])
    assert sorted(seen.tolist()) == list(range(103)) and seen.tolist() != list(range(103))
    again = list(s.batches(25, generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(shuffled, again))
    small = list(s.batches(500, drop_last=True))  # fewer examples than one batch: kept rather than dropped
    assert [len(y) for _, y in small] == [103]
