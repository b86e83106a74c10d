"""Stale-basis measurements against known geometry: identical, orthogonal and rotated subspaces, an exactly known
rotated diagonal covariance, and the recorder's schedule on a small network."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from onen.drift import DriftRecorder, principal_angles, stale_basis_error
from onen.regularizers import SpectralRegularizer
from onen.spectrum import covariance, eigh_descending


def random_orthogonal(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q


def test_angles_of_a_subspace_with_itself_are_zero_whatever_its_basis():
    q = random_orthogonal(30, 0)
    mix = random_orthogonal(6, 1)  # another orthonormal basis of the same 6-dim subspace
    angles = principal_angles(q[:, :6], q[:, :6] @ mix, 6)
    assert angles.shape == (6,)
    assert torch.allclose(angles, torch.zeros(6, dtype=torch.float64), atol=1e-6)


def test_angles_of_orthogonal_subspaces_are_ninety_degrees():
    q = random_orthogonal(30, 2)
    angles = principal_angles(q[:, :5], q[:, 5:10], 5)
    assert torch.allclose(angles, torch.full((5,), 90.0, dtype=torch.float64), atol=1e-9)


def test_angles_of_a_known_rotation_are_the_rotation_angles():
    n, k = 40, 4
    theta = torch.tensor([1e-6, 7.0, 33.0, 81.0], dtype=torch.float64)  # degrees, including a tiny one
    eye = torch.eye(n, dtype=torch.float64)
    rad = torch.deg2rad(theta)
    # column i turns by theta_i in the plane of e_i and e_{k+i}; the planes are orthogonal, so these are the angles
    rotated = eye[:, :k] * torch.cos(rad) + eye[:, k : 2 * k] * torch.sin(rad)
    q = random_orthogonal(n, 3)  # seen in a generic orientation
    angles = principal_angles(q @ eye[:, :k], q @ rotated, k)
    assert torch.allclose(angles, theta, rtol=1e-6, atol=1e-9)


def test_only_the_first_k_columns_count():
    q = random_orthogonal(20, 4)
    other = torch.cat([q[:, :3], q[:, 10:]], dim=1)  # same top-3 subspace, then unrelated columns
    assert principal_angles(q, other, 3).max() < 1e-6
    assert principal_angles(q, other, 4).max() == pytest.approx(90.0)
    with pytest.raises(ValueError):
        principal_angles(q, other, 0)


def test_true_basis_has_no_error():
    x = torch.randn(400, 25, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x = x * torch.arange(1, 26, dtype=torch.float64) ** -0.7
    cov = covariance(x @ random_orthogonal(25, 6))
    basis = eigh_descending(cov)[1]
    error = stale_basis_error(basis, cov, tau=3)
    assert error["median_rel_error"] < 1e-10
    assert error["max_rel_error"] < 1e-10
    assert error["penalty_true"] > 0
    assert error["penalty_rel_error"] < 1e-10
    assert error["tail_mass_ratio"] == pytest.approx(1.0, abs=1e-10)
    # passing the eigenvalues gives the same answer
    assert stale_basis_error(basis, cov, tau=3, eigenvalues=eigh_descending(cov)[0]) == pytest.approx(error)


def test_any_other_basis_overstates_the_tail():
    # Schur-Horn: the sorted diagonal of V^T C V is majorized by the eigenvalues, so the mass after rank tau can only
    # grow; checked against random bases and slightly rotated eigenbases
    x = torch.randn(300, 20, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    cov = covariance(x * torch.arange(1, 21, dtype=torch.float64) ** -1.0)
    basis = eigh_descending(cov)[1]
    for seed in range(5):
        random_basis = random_orthogonal(20, 10 + seed)
        small_turn = torch.linalg.matrix_exp(1e-2 * (lambda a: a - a.T)(random_orthogonal(20, 20 + seed)))
        for other in (random_basis, basis @ small_turn):
            error = stale_basis_error(other, cov, tau=2)
            assert error["tail_mass_ratio"] > 1.0
            assert error["median_rel_error"] > 0


def test_rotated_basis_gives_exact_averaged_estimates():
    # C = diag(4, 2, 1); a basis turned by 45 degrees in the plane of the last two axes reads both as (2 + 1) / 2
    cov = torch.diag(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64))
    c = 1 / math.sqrt(2)
    basis = torch.tensor([[1.0, 0, 0], [0, c, -c], [0, c, c]], dtype=torch.float64)
    error = stale_basis_error(basis, cov, tau=0, alpha=1.0)
    # ranks 1 and 2: |1.5/2 - 1| = 0.25 and |1.5/1 - 1| = 0.5
    assert error["median_rel_error"] == pytest.approx(0.375)
    assert error["max_rel_error"] == pytest.approx(0.5)
    # targets 4/2 = 2 and 4/3; true ratios 1 and 0.75, stale ratios 0.75 and 1.125; sums divided by N = 3
    true_penalty = (0.0 + 0.25**2) / 3
    stale_penalty = (0.25**2 + 0.125**2 + 0.125) / 3
    assert error["penalty_true"] == pytest.approx(true_penalty)
    assert error["penalty_stale"] == pytest.approx(stale_penalty)
    assert error["penalty_rel_error"] == pytest.approx(stale_penalty / true_penalty - 1)
    assert error["tail_mass_ratio"] == pytest.approx(3.0 / 3.0)  # a rotation within the tail keeps its mass


def small_setup(seed: int = 0) -> tuple[nn.Module, SpectralRegularizer, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3))
    inputs = torch.randn(300, 12)
    regularizer = SpectralRegularizer(model, [model[1]], tau=2)
    regularizer.refresh(inputs)
    return model, regularizer, inputs


def test_recorder_schedule_and_zero_drift_without_a_step():
    model, regularizer, inputs = small_setup()
    recorder = DriftRecorder(inputs, every=3, ks=(2, 5))
    for epoch in range(2):
        for step in range(7):
            recorder(model, regularizer, epoch, step)
    arrays = recorder.arrays()
    # measured after steps 1, 3, 6 of each 7-step epoch, and numbered globally
    assert arrays["step_in_epoch"].tolist() == [1, 3, 6, 1, 3, 6]
    assert arrays["step"].tolist() == [1, 3, 6, 8, 10, 13]
    assert arrays["epoch"].tolist() == [0, 0, 0, 1, 1, 1]
    # the model did not move: the basis is fresh (float32 basis, so up to float32 rounding)
    assert arrays["angle_top5"].max() < 0.05
    assert arrays["median_rel_error"].max() < 1e-4


def test_recorder_sees_a_moved_network():
    model, regularizer, inputs = small_setup(1)
    recorder = DriftRecorder(inputs, every=1, ks=(5,))
    with torch.no_grad():
        model[0].weight.add_(0.5 * torch.randn_like(model[0].weight))
    recorder(model, regularizer, 0, 0)
    arrays = recorder.arrays()
    assert arrays["angle_top5"][0] > 1.0
    assert arrays["median_rel_error"][0] > 1e-3


def test_recorder_needs_a_regularizer():
    model, _, inputs = small_setup()
    with pytest.raises(ValueError):
        DriftRecorder(inputs)(model, None, 0, 0)


def test_recorder_inputs_are_the_ones_train_refreshes_from():
    # with a learning rate too small to move the network, the stale basis is the fresh one exactly when the recorder
    # measures on the same images as the refresh; a different subset of the same size would show sampling error
    from onen.data import Split
    from onen.runs.training import TrainConfig, eigen_inputs, train

    gen = torch.Generator().manual_seed(7)
    split = Split(torch.rand(600, 1, 28, 28, generator=gen), torch.randint(0, 10, (600,), generator=gen))
    config = TrainConfig(widths=[20], regularizer="spectral", tau=2, lr=1e-12, epochs=1, batch_size=100,
                         train_subset=500, eigen_subset=150, seed=3)
    same = DriftRecorder(eigen_inputs(config, split), every=5, ks=(5,))
    other = DriftRecorder(split.subset(150, seed=99).images, every=5, ks=(5,))
    train(config, split, progress=False, after_step=lambda *args: (same(*args), other(*args)))
    assert same.arrays()["median_rel_error"].max() < 1e-4
    assert other.arrays()["median_rel_error"].min() > 1e-2
