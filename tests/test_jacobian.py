"""The Jacobian penalty against torch.autograd.functional.jacobian, a linear model's exact value and its estimator's
standard error."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from onen.jacobian import jacobian_norm_sq

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.py


def mlp(seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 5)).to(dtype)


def reference(model: nn.Module, x: torch.Tensor) -> float:
    """Batch mean of ||J_b||_F^2 from the full per-sample Jacobian."""
    total = 0.0
    for xb in x:
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0)).squeeze(0), xb)  # [C, 1, 8, 8]
        total += jac.pow(2).sum().item()
    return total / x.shape[0]


def test_exact_matches_autograd_functional_jacobian():
    model = mlp()
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = jacobian_norm_sq(model, x, n_proj=-1)
    assert got.ndim == 0 and got.dtype == torch.float64
    assert got.item() == pytest.approx(reference(model, x), rel=1e-12)


def test_linear_model_gives_frobenius_norm_of_weight_and_its_gradient():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 4)).double()
    weight = model[1].weight
    x = torch.rand(9, 4, 5, dtype=torch.float64)
    value = jacobian_norm_sq(model, x, n_proj=-1)
    assert value.item() == pytest.approx(weight.pow(2).sum().item(), rel=1e-12)
    # d ||W||_F^2 / dW = 2W, and the bias does not enter the Jacobian
    g_w, g_b = torch.autograd.grad(value, [weight, model[1].bias], allow_unused=True, materialize_grads=True)
    torch.testing.assert_close(g_w, 2 * weight.detach(), rtol=1e-12, atol=0)
    assert torch.equal(g_b, torch.zeros_like(g_b))


@pytest.mark.parametrize("n_proj", [1, 2, 7])
def test_projection_is_exact_when_all_directions_are_equal(n_proj):
    """For J = s * Q with Q orthogonal, ||v^T J||^2 = s^2 for every unit v: each draw must return ||J||_F^2 = C s^2."""
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(n_proj)))
    model = nn.Linear(4, 4, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(3.0 * q)
    x = torch.rand(6, 4, dtype=torch.float64)
    got = jacobian_norm_sq(model, x, n_proj=n_proj, generator=torch.Generator().manual_seed(0))
    assert got.item() == pytest.approx(4 * 9.0, rel=1e-12)


def test_random_projection_is_unbiased():
    model = mlp(seed=3)
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    exact = jacobian_norm_sq(model, x, n_proj=-1, create_graph=False).item()
    g = torch.Generator().manual_seed(5)
    draws = torch.stack([jacobian_norm_sq(model, x, n_proj=1, create_graph=False, generator=g) for _ in range(2000)])
    se = draws.std().item() / 2000**0.5
    assert se > 1e-3 * exact  # the estimate is random, so the check below has teeth
    assert abs(draws.mean().item() - exact) < 4 * se
    # n_proj projections in one call average n_proj such draws: same mean, variance / n_proj
    many = torch.stack([jacobian_norm_sq(model, x, n_proj=50, create_graph=False, generator=g) for _ in range(40)])
    assert abs(many.mean().item() - exact) < 4 * draws.std().item() / (50 * 40) ** 0.5
    assert many.std().item() < draws.std().item() / 3


def test_gradient_flows_to_parameters_in_float32():
    model = mlp(seed=6, dtype=torch.float32).train()
    x = torch.rand(8, 1, 8, 8)
    for n_proj in (-1, 2):
        value = jacobian_norm_sq(model, x, n_proj=n_proj, generator=torch.Generator().manual_seed(0))
        grads = torch.autograd.grad(value, list(model.parameters()), allow_unused=True)
        weights = [grads[0], grads[2]]  # the two weight matrices
        assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in weights)
    assert model.training
    detached = jacobian_norm_sq(model, x, n_proj=-1, create_graph=False)
    assert not detached.requires_grad
    assert detached.item() == pytest.approx(jacobian_norm_sq(model, x, n_proj=-1).item(), rel=1e-6)


def test_mode_kept_and_generator_determinism():
    model = nn.Sequential(nn.Linear(10, 16), nn.Dropout(0.5), nn.Tanh(), nn.Linear(16, 3)).eval()
    x = torch.rand(5, 10)
    a = jacobian_norm_sq(model, x, n_proj=3, generator=torch.Generator().manual_seed(9))
    b = jacobian_norm_sq(model, x, n_proj=3, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b) and not model.training
    model.train()
    jacobian_norm_sq(model, x, n_proj=-1)
    assert model.training


@pytest.mark.parametrize("n_proj", [0, -2, -5])
def test_invalid_n_proj(n_proj):
    with pytest.raises(ValueError, match="n_proj"):
        jacobian_norm_sq(nn.Linear(3, 2), torch.rand(2, 3), n_proj=n_proj)
