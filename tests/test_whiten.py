"""Whitening against its defining properties and a float64 reference with independently tracked running statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from onen.whiten import Whiten


def correlated(n: int, d: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # well conditioned (singular values well above eps) but far from white
    mix = torch.randn(d, d, generator=gen, dtype=torch.float64) / d**0.5 + 1.5 * torch.eye(d, dtype=torch.float64)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) @ mix + torch.linspace(-1, 2, d, dtype=torch.float64)
    return x.to(dtype)


def test_train_mode_output_is_white() -> None:
    layer = Whiten(12, eps=1e-6)
    layer.train()
    x = correlated(4000, 12, seed=0)
    assert np.abs(np.cov(x.double().numpy(), rowvar=False) - np.eye(12)).max() > 0.3  # the input is far from white
    y = layer(x).detach().double().numpy()
    assert y.shape == (4000, 12)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.cov(y, rowvar=False), np.eye(12), atol=1e-3)


def test_train_mode_keeps_shape_of_feature_maps() -> None:
    layer = Whiten(2 * 3 * 3, eps=1e-6)
    x = correlated(500, 18, seed=1).reshape(500, 2, 3, 3)
    y = layer(x)
    assert y.shape == x.shape
    cov = np.cov(y.detach().reshape(500, 18).double().numpy(), rowvar=False)
    np.testing.assert_allclose(cov, np.eye(18), atol=1e-3)


def trained_layer(d: int = 8, momentum: float = 0.3, eps: float = 1e-3) -> tuple[Whiten, np.ndarray, np.ndarray]:
    """A layer after a few training batches, and its running mean/covariance tracked independently in float64."""
    layer = Whiten(d, eps=eps, momentum=momentum)
    layer.train()
    mean, cov = np.zeros(d), np.eye(d)
    for seed in range(4):
        x = correlated(200, d, seed=10 + seed) * (1 + seed)
        layer(x)
        xd = x.double().numpy()
        mean = (1 - momentum) * mean + momentum * xd.mean(0)
        cov = (1 - momentum) * cov + momentum * np.cov(xd, rowvar=False)
    return layer, mean, cov


def test_running_statistics_follow_the_batches() -> None:
    layer, mean, cov = trained_layer()
    np.testing.assert_allclose(layer.running_mean.double().numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.running_cov.double().numpy(), cov, rtol=1e-5, atol=1e-6)


def test_eval_mode_matches_float64_reference() -> None:
    eps = 1e-3
    layer, mean, cov = trained_layer(eps=eps)
    layer.eval()
    x = correlated(50, 8, seed=99)
    y = layer(x).detach().double().numpy()
    chol = np.linalg.cholesky(cov + eps * np.eye(8))
    reference = np.linalg.solve(chol, (x.double().numpy() - mean).T).T  # L^-1 (x - mu), row by row
    np.testing.assert_allclose(y, reference, rtol=1e-4, atol=1e-4)
    # the eval map is affine and whitens the running covariance: W (C + eps I) W^T = I
    w = np.linalg.inv(chol)
    np.testing.assert_allclose(w @ (cov + eps * np.eye(8)) @ w.T, np.eye(8), atol=1e-10)


def test_eval_output_does_not_depend_on_the_batch() -> None:
    layer, _, _ = trained_layer()
    layer.eval()
    before = layer.running_cov.clone()
    x = correlated(64, 8, seed=5)
    alone = torch.cat([layer(x[i : i + 1]) for i in range(64)])
    together = layer(x)
    reordered = layer(x.flip(0)).flip(0)
    torch.testing.assert_close(alone, together, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reordered, together, rtol=1e-5, atol=1e-5)
    assert torch.equal(layer.running_cov, before)  # eval never updates the running statistics


def test_gradients_match_finite_differences() -> None:
    layer = Whiten(4, eps=1e-2).double()
    x = correlated(9, 4, seed=6, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6)
    layer.eval()
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6)


def test_gradient_flows_to_upstream_parameters() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 5)
    layer = Whiten(5, eps=1e-3)
    y = layer(linear(correlated(100, 6, seed=7)))
    (y[:, 0] * torch.linspace(-1, 1, 100)).sum().backward()
    assert torch.all(torch.isfinite(linear.weight.grad)) and float(linear.weight.grad.abs().sum()) > 0


def test_bad_inputs_raise() -> None:
    layer = Whiten(5)
    with pytest.raises(ValueError, match="5 features"):
        layer(torch.randn(10, 6))
    with pytest.raises(ValueError):
        layer(torch.randn(1, 5))  # one sample has no covariance
    layer.eval()
    assert layer(torch.randn(1, 5)).shape == (1, 5)
