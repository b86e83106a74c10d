"""The training loop: determinism, bitwise resume, regularizers wired in, callbacks and history bookkeeping.

Tiny runs (a 64-unit MLP on 2000 MNIST images, batches of 256) keep the whole file to seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from onen.data import Split
from onen.regularizers import SpectralRegularizer
from onen.runs.training import TrainConfig, eigen_inputs, evaluate_accuracy, resolve_device, train

pytestmark = pytest.mark.mnist

STEPS_PER_EPOCH = 2000 // 256  # batches drop_last


def config(**overrides) -> TrainConfig:
    base = dict(widths=[64], epochs=1, batch_size=256, train_subset=2000, seed=0)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def small_test(mnist_test: Split) -> Split:
    return mnist_test.subset(1000, seed=0)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def same_history(a, b) -> bool:
    """Equal in every recorded number (NaN equal to NaN), except wall-clock seconds."""
    da, db = a.to_dict(), b.to_dict()
    da.pop("seconds"), db.pop("seconds")
    try:
        np.testing.assert_equal(da, db)
    except AssertionError:
        return False
    return True


def test_same_seed_same_run_different_seed_different_run(mnist_train: Split, small_test: Split) -> None:
    m1, h1 = train(config(), mnist_train, small_test, progress=False)
    m2, h2 = train(config(), mnist_train, small_test, progress=False)
    assert same_weights(m1, m2)
    assert same_history(h1, h2)
    m3, h3 = train(config(seed=1), mnist_train, small_test, progress=False)
    assert not torch.equal(m1.blocks[0][1].weight, m3.blocks[0][1].weight)
    assert h1.loss != h3.loss
    assert not m1.training  # returned in eval mode


class Interrupted(Exception):
    pass


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("regularizer", [
    "none",
    "spectral",
    "jacobian",
    "tracked",
])
def test_resume_from_checkpoint_is_bitwise(tmp_path: Path, mnist_train: Split, regularizer: str, device: str) -> None:
    """On the CPU and, where there is one, on a GPU: the checkpoint holds CPU generator states beside the device's
    weights, and resuming must restore both (a checkpoint once loaded straight onto the GPU put the shuffle's state
    there, which the generator refuses)."""
    extra = dict(regularizer="spectral", basis="tracked") if regularizer == "tracked" else dict(regularizer=regularizer)
    cfg = config(epochs=2, beta=0.5, **extra)
    data = mnist_train.to(device)
    straight, h_straight = train(cfg, data, progress=False)

    def stop_in_second_epoch(model, reg, epoch: int, step: int) -> None:
        if epoch == 1 and step == 2:
            raise Interrupted

    checkpoint = tmp_path / "run.pt"
    with pytest.raises(Interrupted):
        train(cfg, data, progress=False, checkpoint=checkpoint, after_step=stop_in_second_epoch)
    assert checkpoint.is_file()  # written after the first epoch; the second never finished
    resumed, h_resumed = train(cfg, data, progress=False, checkpoint=checkpoint)
    assert same_weights(straight, resumed)
    assert same_history(h_straight, h_resumed)
    # a finished checkpoint resumes to the same model without training further
    again, h_again = train(cfg, data, progress=False, checkpoint=checkpoint)
    assert same_weights(straight, again) and same_history(h_again, h_straight)


def test_checkpoint_of_another_config_is_refused(tmp_path: Path, mnist_train: Split) -> None:
    checkpoint = tmp_path / "run.pt"
    train(config(), mnist_train, progress=False, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="another configuration"):
        train(config(lr=2e-3), mnist_train, progress=False, checkpoint=checkpoint)


def test_zero_weight_spectral_run_equals_vanilla_run(mnist_train: Split) -> None:
    """With beta = 0 the regularizer adds exact zeros to every gradient and draws no random numbers."""
    vanilla, _ = train(config(), mnist_train, progress=False)
    zero, h_zero = train(config(regularizer="spectral", beta=0.0), mnist_train, progress=False)
    assert same_weights(vanilla, zero)
    assert h_zero.penalty == [0.0]


@pytest.mark.parametrize("regularizer", ["none", "spectral", "jacobian"])
def test_regularizers_callbacks_and_history(mnist_train: Split, small_test: Split, regularizer: str) -> None:
    calls = []

    def record(model, reg, epoch: int, step: int) -> None:
        assert model.training
        calls.append((epoch, step, reg))

    cfg = config(epochs=2, widths=[64, 32], regularizer=regularizer, spectral_layers="all", beta=2.0)
    model, history = train(cfg, mnist_train, small_test, progress=False, after_step=record)
    assert [(e, s) for e, s, _ in calls] == [(e, s) for e in range(2) for s in range(STEPS_PER_EPOCH)]
    regs = {id(r) for _, _, r in calls}
    assert len(regs) == 1
    if regularizer == "spectral":
        reg = calls[0][2]
        assert isinstance(reg, SpectralRegularizer) and reg.layers == list(model.blocks)
    else:
        assert calls[0][2] is None
    for field in ("loss", "cross_entropy", "penalty", "test_accuracy", "alphas", "seconds"):
        assert len(getattr(history, field)) == 2, field
    assert all(len(a) == 2 and all(math.isfinite(x) for x in a) for a in history.alphas)
    for loss, ce, penalty in zip(history.loss, history.cross_entropy, history.penalty):
        assert loss == pytest.approx(ce + penalty, rel=1e-6)
        assert (penalty > 0) == (regularizer != "none")
    assert history.test_accuracy[-1] == evaluate_accuracy(model, small_test)


def test_epoch_loss_is_the_mean_over_the_images_trained_on(mnist_train: Split) -> None:
    """With a vanishing learning rate the weights stay at their initialisation, so the recorded epoch mean must be the
    initial model's cross entropy on (nearly all of) the training subset."""
    cfg = config(lr=1e-12)
    torch.manual_seed(cfg.seed)
    initial = cfg.model()
    subset = mnist_train.subset(cfg.train_subset, seed=cfg.seed)
    with torch.no_grad():
        reference = float(F.cross_entropy(initial(subset.images), subset.labels))
    _, history = train(cfg, mnist_train, progress=False)
    assert history.cross_entropy[0] == pytest.approx(reference, rel=0.02)


def test_a_short_run_learns(mnist_train: Split, small_test: Split) -> None:
    model, history = train(config(epochs=3, lr=3e-3), mnist_train, small_test, progress=False)
    assert history.cross_entropy[-1] < history.cross_entropy[0] < math.log(10)
    assert history.test_accuracy[-1] > 0.8  # chance is 0.1


def test_whitened_and_batchnorm_variants_train(mnist_train: Split) -> None:
    for overrides in (dict(batchnorm=True), dict(whiten_after=0)):
        model, history = train(config(**overrides), mnist_train, progress=False)
        assert all(math.isfinite(x) for x in history.loss), overrides


def test_config_validation_and_round_trip() -> None:
    cfg = config(spectral_layers=(0, 1), fit_ranks=[5, 50])
    assert cfg.spectral_layers == [0, 1] and cfg.fit_ranks == (5, 50)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert dataclasses.replace(cfg, seed=3).to_dict()["seed"] == 3
    for bad in (dict(regularizer="l2"), dict(epochs=-1), dict(batch_size=0), dict(lr=0.0)):
        with pytest.raises(ValueError):
            config(**bad)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_refresh_every_recomputes_the_eigenbasis_from_the_current_weights(mnist_train: Split) -> None:
    """With refresh_every=3 the basis changes before steps 3 and 6 of each epoch (and between epochs), and each new
    basis diagonalises the covariance of the weights it was computed from (a float64 numpy reference)."""
    cfg = config(epochs=2, regularizer="spectral", beta=1.0, refresh_every=3)
    inputs = eigen_inputs(cfg, mnist_train)
    covariances: dict[tuple[int, int], np.ndarray] = {}
    bases: dict[tuple[int, int], torch.Tensor] = {}

    def record(model, reg, epoch: int, step: int) -> None:
        with torch.no_grad():
            model.eval()
            h = model.hidden(inputs)[0][0].double().numpy()
            model.train()
        covariances[epoch, step] = np.cov(h, rowvar=False)
        bases[epoch, step] = reg.bases[0].detach().clone()

    train(cfg, mnist_train, progress=False, after_step=record)
    steps = [(e, s) for e in range(2) for s in range(STEPS_PER_EPOCH)]
    changed = [b for a, b in zip(steps, steps[1:]) if not torch.equal(bases[a], bases[b])]
    assert changed == [(0, 3), (0, 6), (1, 0), (1, 3), (1, 6)]
    for e, s in changed:
        previous = steps[steps.index((e, s)) - 1]
        v = bases[e, s].double().numpy()
        rotated = v.T @ covariances[previous] @ v
        diagonal = np.diag(rotated)
        assert np.all(np.diff(diagonal) <= 1e-6 * diagonal[0])
        assert np.abs(rotated - np.diag(diagonal)).max() < 1e-5 * diagonal[0]
    with pytest.raises(ValueError, match="refresh_every"):
        config(refresh_every=0)
    assert "refresh_every" not in config().to_dict()  # cache keys of runs that do not use it are unchanged
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_a_batch_narrower_than_the_layer_fails_unless_the_config_allows_it(mnist_train: Split) -> None:
    narrow = config(widths=[300], batch_size=256, regularizer="spectral", epochs=1)
    with pytest.raises(ValueError, match="allow_small_batch"):
        train(narrow, mnist_train, progress=False)
    allowed = dataclasses.replace(narrow, allow_small_batch=True)
    _, history = train(allowed, mnist_train, progress=False)
    assert math.isfinite(history.penalty[0]) and history.penalty[0] > 0
    assert "allow_small_batch" not in narrow.to_dict() and allowed.to_dict()["allow_small_batch"] is True
    assert TrainConfig.from_dict(allowed.to_dict()) == allowed
    tracked = dataclasses.replace(narrow, basis="tracked")  # needs no opt-in: its running covariance has full rank
    _, history = train(tracked, mnist_train, progress=False)
    assert math.isfinite(history.penalty[0]) and history.penalty[0] > 0


def test_tracked_basis_config_keys_and_validation() -> None:
    """The tracked basis's fields enter the cache key only when used, so earlier results keep their keys."""
    plain = config(regularizer="spectral")
    assert not {"basis", "track_every", "track_momentum"} & set(plain.to_dict())
    tracked = config(regularizer="spectral", basis="tracked", track_every=2)
    assert tracked.to_dict()["basis"] == "tracked" and tracked.to_dict()["track_every"] == 2
    assert TrainConfig.from_dict(tracked.to_dict()) == tracked
    for bad in (dict(basis="sometimes"), dict(track_every=0), dict(track_momentum=1.0), dict(lr=math.nan),
                dict(beta=math.inf)):
        with pytest.raises(ValueError):
            config(**bad)


def test_without_a_progress_bar_every_finished_epoch_is_logged_with_an_eta(
        tmp_path: Path, mnist_train: Split, small_test: Split, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    cfg = config(epochs=3)
    checkpoint = tmp_path / "run.pt"

    def stop_in_third_epoch(model, reg, epoch: int, step: int) -> None:
        if epoch == 2 and step == 0:
            raise Interrupted

    with caplog.at_level(logging.INFO, logger="onen.runs.training"):
        with pytest.raises(Interrupted):
            train(cfg, mnist_train, small_test, progress=False, checkpoint=checkpoint, after_step=stop_in_third_epoch)
        first = [r.getMessage() for r in caplog.records]
        caplog.clear()
        _, history = train(cfg, mnist_train, small_test, progress=False, checkpoint=checkpoint)
        resumed = [r.getMessage() for r in caplog.records]
    assert [m.split(": epoch ")[1].split(",")[0] for m in first] == ["1/3", "2/3"]
    assert resumed and resumed[0].split(": epoch ")[1].startswith("3/3")  # a resumed run logs only its own epochs
    assert first[0].startswith("mlp seed 0") and "ETA" in first[0]
    assert f"test accuracy {history.test_accuracy[0]:.4f}" in first[0]
    assert f"loss {history.loss[1]:.4f}" in first[1] and resumed[0].endswith("ETA 0 min")
    # with a progress bar nothing is logged
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="onen.runs.training"):
        train(cfg, mnist_train, progress=True)
    assert not caplog.records



def test_spectra_every_leaves_training_alone_and_fits_the_other_blocks_only_when_due(mnist_train: Split) -> None:
    """Every block's exponent after epochs 2 and 3 (the last) with spectra_every=2; after epoch 1 only the
    regularized (last) block's, from the refresh; the weights and the exponents that are fitted equal those of
    spectra_every=1, since spectra draw no random numbers and change nothing."""
    fields = dict(widths=[64, 32], epochs=3, regularizer="spectral", beta=0.5, fit_ranks=(2, 30))
    every, h_every = train(config(**fields), mnist_train, progress=False)
    sparse, h_sparse = train(config(spectra_every=2, **fields), mnist_train, progress=False)
    assert same_weights(every, sparse)
    assert math.isnan(h_sparse.alphas[0][0]) and h_sparse.alphas[0][1] == h_every.alphas[0][1]
    assert h_sparse.alphas[1:] == h_every.alphas[1:] and all(math.isfinite(a) for a in h_every.alphas[0])
    assert "spectra_every" in config(spectra_every=2).to_dict() and "spectra_every" not in config().to_dict()
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="spectra_every"):
            config(spectra_every=bad)
