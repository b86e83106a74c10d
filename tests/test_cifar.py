"""CIFAR-10 from both sources: the JPEG copy (shapes, labels, the channel statistics its README reports) and a
folder in torchvision's layout built here (read pixel for pixel, checked, chosen first), and the source in the key."""

import numpy as np
import pytest
import torch

from onen import cifar
from onen.data import data_root

needs_jpeg = pytest.mark.skipif(not (data_root() / cifar.FOLDER / cifar.ARCHIVE).is_file(),
                                reason="CIFAR-10 JPEG copy not under $ONEN_DATA")


@pytest.fixture(scope="module")
def test_split():
    return cifar.load_cifar10_jpeg("test")


@needs_jpeg
def test_shapes_range_and_labels(test_split):
    assert test_split.images.shape == (10000, 3, 32, 32)
    assert test_split.images.dtype == torch.float32 and test_split.labels.dtype == torch.int64
    assert 0 <= float(test_split.images.min()) and float(test_split.images.max()) <= 1
    counts = torch.bincount(test_split.labels, minlength=10)
    assert counts.tolist() == [1000] * 10
    # archive order: class first
    assert torch.all(test_split.labels[1:] >= test_split.labels[:-1])


@needs_jpeg
def test_channel_statistics_match_readme(test_split):
    # README of the copy: test mean 0.4941 0.4851 0.4504, std over all pixels 0.2448 0.2422 0.2606 (4 decimals)
    pixels = test_split.images.double().permute(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(pixels.mean(1).numpy(), [0.4941, 0.4851, 0.4504], atol=5.01e-5)
    np.testing.assert_allclose(pixels.std(1).numpy(), [0.2448, 0.2422, 0.2606], atol=5.01e-5)


@needs_jpeg
def test_limit_picks_the_same_images_as_subset(test_split):
    small = cifar.load_cifar10_jpeg("test", limit=300, seed=4)
    reference = test_split.subset(300, seed=4)
    assert torch.equal(small.images, reference.images)
    assert torch.equal(small.labels, reference.labels)


@needs_jpeg
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


def _torchvision_folder(root, n_train: int = 12, n_test: int = 6):
    """A small folder in torchvision's CIFAR-10 layout: five training batches and a test batch, each a pickled dict
    of uint8 rows [N, 3072] (channel-major) and labels."""
    import pickle

    folder = root / cifar.TORCHVISION_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [*cifar.BATCHES["train"], "test_batch"]:
        n = n_train if name != "test_batch" else n_test
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
        written[name] = (data, labels)
    return written


def test_torchvision_layout_is_read_pixel_for_pixel(tmp_path):
    written = _torchvision_folder(tmp_path)
    test = cifar.load_cifar10_torchvision("test", root=tmp_path, download=False, verify=False)
    data, labels = written["test_batch"]
    assert test.images.shape == (6, 3, 32, 32) and test.labels.tolist() == labels
    # channel-major rows: pixel (c, i, j) of image k is data[k, 1024 c + 32 i + j]
    np.testing.assert_array_equal((test.images * 255).round().to(torch.uint8).numpy(), data.reshape(6, 3, 32, 32))
    train = cifar.load_cifar10_torchvision("train", root=tmp_path, download=False, verify=False, limit=20, seed=3)
    whole = cifar.load_cifar10_torchvision("train", root=tmp_path, download=False, verify=False)
    reference = whole.subset(20, seed=3)
    assert torch.equal(train.images, reference.images) and torch.equal(train.labels, reference.labels)


def test_torchvision_layout_is_checked_and_chosen_first(tmp_path):
    _torchvision_folder(tmp_path)
    with pytest.raises(RuntimeError, match="md5"):
        cifar.load_cifar10_torchvision("test", root=tmp_path, download=False)
    assert cifar.default_source(tmp_path) == "torchvision"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="JPEG copy|allow the download"):
        cifar.load_cifar10_torchvision("test", root=empty, download=False)
    assert cifar.default_source(empty) == "torchvision"  # nothing on disk: downloaded when loaded
    (empty / cifar.FOLDER).mkdir()
    (empty / cifar.FOLDER / cifar.ARCHIVE).write_bytes(b"x")
    assert cifar.default_source(empty) == "jpeg"  # the offline fallback


def test_the_source_is_part_of_the_key():
    from onen.runs.config import TrainConfig

    jpeg = TrainConfig(arch="cifar_cnn", dataset="cifar10")
    original = TrainConfig(arch="cifar_cnn", dataset="cifar10", cifar_source="torchvision")
    assert "cifar_source" not in jpeg.to_dict() and original.to_dict()["cifar_source"] == "torchvision"
    with pytest.raises(ValueError, match="cifar_source"):
        TrainConfig(cifar_source="torchvision")
    with pytest.raises(ValueError, match="cifar_source"):
        TrainConfig(arch="cifar_cnn", dataset="cifar10", cifar_source="png")


def test_a_network_trains_and_is_evaluated_from_torchvisions_layout(tmp_path, monkeypatch):
    """The CIFAR-10 chapter's path end to end (experiments.run -> experiments.dataset -> load_cifar10 from
    "torchvision"), on a small folder in torchvision's layout whose md5s are its own files': the network is trained
    and scored on exactly those images, and the source is in the stored key."""
    import hashlib

    from onen.runs import experiments
    from onen.runs.config import EvalConfig, TrainConfig

    written = _torchvision_folder(tmp_path, n_train=20, n_test=30)
    folder = tmp_path / cifar.TORCHVISION_FOLDER
    monkeypatch.setattr(cifar, "TORCHVISION_MD5",
                        {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in written})
    monkeypatch.setenv("ONEN_DATA", str(tmp_path))
    monkeypatch.setenv(experiments.CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.setattr(experiments, "_DATA", {})
    config = TrainConfig(arch="cifar_cnn", dataset="cifar10", cifar_source="torchvision", channels=[2, 2, 2],
                         epochs=1, batch_size=25, fit_ranks=(1, 2))
    evaluation = EvalConfig(test_subset=30, eps_fgsm=[0.0], eps_pgd=[0.0], noise_sigmas=[0.0], pgd_steps=1,
                            spectrum_subset=30, sensitivity_indices=[0])
    result = experiments.run(config, evaluation, str(tmp_path / "results"), device="cpu", progress=False)
    assert result.provenance["config"]["train"]["cifar_source"] == "torchvision"
    test = experiments.dataset("cifar10", "test", "cpu", source="torchvision")
    data, labels = written["test_batch"]
    assert test.labels.tolist() == labels and len(test) == 30
    assert result.arrays["acc_pgd"].shape == (1,) and 0 <= result.meta["clean_accuracy"] <= 1
