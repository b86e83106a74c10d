"""The CIFAR-10 JPEG copy: shapes, labels, and the channel statistics its README reports."""

import numpy as np
import pytest
import torch

from onen import cifar
from onen.data import data_root

pytestmark = pytest.mark.skipif(not (data_root() / cifar.FOLDER / cifar.ARCHIVE).is_file(),
                                reason="CIFAR-10 JPEG copy not under $ONEN_DATA")


@pytest.fixture(scope="module")
def test_split():
    return cifar.load_cifar10_jpeg("test")


def test_shapes_range_and_labels(test_split):
    assert test_split.images.shape == (10000, 3, 32, 32)
    assert test_split.images.dtype == torch.float32 and test_split.labels.dtype == torch.int64
    assert 0 <= float(test_split.images.min()) and float(test_split.images.max()) <= 1
    counts = torch.bincount(test_split.labels, minlength=10)
    assert counts.tolist() == [1000] * 10
    # archive order: class first
    assert torch.all(test_split.labels[1:] >= test_split.labels[:-1])


def test_channel_statistics_match_readme(test_split):
    # README of the copy: test mean 0.4941 0.4851 0.4504, std over all pixels 0.2448 0.2422 0.2606 (4 decimals)
    pixels = test_split.images.double().permute(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(pixels.mean(1).numpy(), [0.4941, 0.4851, 0.4504], atol=5.01e-5)
    np.testing.assert_allclose(pixels.std(1).numpy(), [0.2448, 0.2422, 0.2606], atol=5.01e-5)


def test_limit_picks_the_same_images_as_subset(test_split):
    small = cifar.load_cifar10_jpeg("test", limit=300, seed=4)
    reference = test_split.subset(300, seed=4)
    assert torch.equal(small.images, reference.images)
    assert torch.equal(small.labels, reference.labels)


def test_train_subset_labels():
    train = cifar.load_cifar10_jpeg("train", limit=2000, seed=0)
    assert train.images.shape == (2000, 3, 32, 32)
    assert int(train.labels.min()) == 0 and int(train.labels.max()) == 9


def test_missing_and_corrupt_archives(tmp_path):
    with pytest.raises(FileNotFoundError, match="ONEN_DATA"):
        cifar.load_cifar10_jpeg("test", root=tmp_path)
    (tmp_path / cifar.FOLDER).mkdir()
    (tmp_path / cifar.FOLDER / cifar.ARCHIVE).write_bytes(b"not the archive")
    with pytest.raises(RuntimeError, match="sha256"):
        cifar.load_cifar10_jpeg("test", root=tmp_path)
    with pytest.raises(ValueError):
        cifar.load_cifar10_jpeg("validation")
