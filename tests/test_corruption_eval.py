"""Scoring networks on corrupted test images: the settings' validation, per-image outcomes against a direct
computation, and the cached run end to end on synthetic data (no MNIST)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from onen.runs import experiments
from onen.robustness.mnist_c_eval import CorruptionConfig, corruption_run, evaluate
from onen.robustness.mnist_c import CORRUPTIONS, corrupt
from onen.data import Split
from onen.runs.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, NotCached
from onen.runs.training import TrainConfig

from test_experiments import synthetic_split


def test_config_validation_and_key() -> None:
    default = CorruptionConfig()
    assert default.corruptions == CORRUPTIONS and default.severities == (3,)
    assert "batch_size" not in default.to_dict()  # it changes no result
    for bad in (dict(test_subset=0), dict(severities=()), dict(severities=(6,)), dict(severities=(3, 1)),
                dict(severities=(True,)), dict(corruptions=("rain",)), dict(corruptions=("fog", "fog")),
                dict(seed=-1), dict(batch_size=0)):
        with pytest.raises(ValueError):
            CorruptionConfig(**bad)


def test_outcomes_are_the_models_own_answers_on_the_corrupted_images() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    test = synthetic_split(50, 3)
    setting = CorruptionConfig(test_subset=None, severities=(1, 4), corruptions=("rotate", "impulse_noise"), seed=5,
                               batch_size=16)
    arrays, meta = evaluate(model, test, setting)
    assert arrays["correct"].shape == (2, 2, 50) and arrays["correct"].dtype == bool
    np.testing.assert_array_equal(arrays["accuracy"], arrays["correct"].mean(axis=2))
    with torch.no_grad():
        for i, name in enumerate(setting.corruptions):
            for j, severity in enumerate(setting.severities):
                direct = model(corrupt(test.images, name, severity=severity, seed=5)).argmax(1) == test.labels
                np.testing.assert_array_equal(arrays["correct"][i, j], direct.numpy())
        clean = (model(test.images).argmax(1) == test.labels).numpy()
    np.testing.assert_array_equal(arrays["clean_correct"], clean)
    assert meta["clean_accuracy"] == pytest.approx(clean.mean())
    other = synthetic_split(50, 4)  # other images of the same shape are corrupted afresh, not taken from memory
    again, _ = evaluate(model, other, setting)
    with torch.no_grad():
        direct = model(corrupt(other.images, "rotate", severity=1, seed=5)).argmax(1) == other.labels
    np.testing.assert_array_equal(again["correct"][0, 0], direct.numpy())


def test_corruption_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    splits = {"train": synthetic_split(200, 0), "test": synthetic_split(60, 1)}
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: splits[split])
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    config = TrainConfig(widths=[16], epochs=1, batch_size=50, lr=1e-2)
    setting = CorruptionConfig(test_subset=40, corruptions=("brightness", "translate"))
    fresh = corruption_run(config, setting, str(tmp_path), device="cpu", progress=False)
    assert fresh.arrays["correct"].shape == (2, 1, 40)
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")
    again = corruption_run(config, setting, str(tmp_path), device="cpu", progress=False)
    for key, value in fresh.arrays.items():
        np.testing.assert_array_equal(again.arrays[key], value)
    with pytest.raises(NotCached):  # other corrupted images are another entry
        corruption_run(config, CorruptionConfig(test_subset=40, corruptions=("fog",)), str(tmp_path), device="cpu")


def test_scored_images_are_the_attacks_subset_of_the_one_loaded_test_split(monkeypatch: pytest.MonkeyPatch) -> None:
    from onen.robustness.mnist_c_eval import scored_images

    test = synthetic_split(60, 1)
    loads = []
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: loads.append((name, split)) or test)
    got = scored_images(CorruptionConfig(test_subset=25), "fashion_mnist")
    order = torch.randperm(60, generator=torch.Generator().manual_seed(0))[:25].sort().values  # seed 0, sorted
    torch.testing.assert_close(got.images, test.images[order])
    torch.testing.assert_close(got.labels, test.labels[order])
    assert loads == [("fashion_mnist", "test")]
    assert scored_images(CorruptionConfig(test_subset=None)) is test  # all images: the split itself
