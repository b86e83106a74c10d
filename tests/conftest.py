"""Shared fixtures: MNIST from $ONEN_DATA. Tests marked ``mnist`` are skipped, with the reason, when it is not there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from onen.data import DATA_ENV, Split, data_root, load

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def mnist_raw_dir() -> Path:
    return data_root() / "MNIST" / "raw"


def mnist_available() -> bool:
    raw = mnist_raw_dir()
    return all((raw / f"{stem}.gz").is_file() or (raw / stem).is_file() for stem in MNIST_FILES)


SKIP_REASON = (f"MNIST not found under {DATA_ENV}={os.environ.get(DATA_ENV, '(unset)')}: set {DATA_ENV} to a data root "
               "holding MNIST/raw/*-ubyte.gz (torchvision's layout)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mnist: needs the MNIST files under $ONEN_DATA (skipped when they are missing)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if mnist_available():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "mnist" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not mnist_available():
        pytest.skip(SKIP_REASON)
    return mnist_raw_dir()


@pytest.fixture(scope="session")
def mnist_train(mnist_dir: Path) -> Split:
    return load("mnist", "train", download=False)


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> Split:
    return load("mnist", "test", download=False)


@pytest.fixture(scope="module")
def one_thread():
    """For modules of tiny tensors: one intra-op thread avoids pool overhead, which dominates on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
