"""Eq. 2 and the spectral regularizer against literal per-eigenvalue loops and explicit float64 linear algebra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from onen.features import capture
from onen.models import MLP
from onen.regularizers import ProjectedVariance, SpectralRegularizer, select_layers, spectral_penalty


def naive_penalty(lam: list[float], tau: int, alpha: float) -> float:
    """Eq. 2 without beta, written out one eigenvalue at a time (0-based anchor index tau)."""
    e = sorted(lam, reverse=True)
    n = len(e)
    anchor = e[tau]
    total = 0.0
    for k in range(tau + 1, n):
        if e[k] <= 0 or anchor <= 0:
            continue
        gamma = anchor * ((tau + 1) / (k + 1)) ** alpha
        r = e[k] / gamma - 1.0
        total += r * r + max(0.0, r)
    return total / n


def random_spectrum(n: int, seed: int) -> torch.Tensor:
    """Positive eigenvalues with a rough power-law decay, shuffled, with a few zeros and negatives thrown in."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.exp(0.5 * torch.randn(n, generator=gen, dtype=torch.float64))
    lam = torch.arange(1, n + 1, dtype=torch.float64) ** -1.2 * noise
    lam = lam[torch.randperm(n, generator=gen)]
    lam[torch.randperm(n, generator=gen)[:5]] = torch.tensor([0.0, 0.0, -1e-3, -0.2, -5e-6], dtype=torch.float64)
    return lam


@pytest.mark.parametrize("tau,alpha", [(0, 1.0), (3, 0.7), (10, 1.0), (10, 2.0), (40, 1.5)])
def test_spectral_penalty_matches_literal_loop(tau: int, alpha: float) -> None:
    for seed in range(3):
        lam = random_spectrum(120, seed)
        got = spectral_penalty(lam, tau, alpha)
        assert got.shape == () and got.dtype == torch.float64
        assert math.isclose(float(got), naive_penalty(lam.tolist(), tau, alpha), rel_tol=1e-12, abs_tol=1e-15)
        # float32 input gives the same value to float32 precision
        assert math.isclose(float(spectral_penalty(lam.float(), tau, alpha)), naive_penalty(lam.tolist(), tau, alpha),
                            rel_tol=1e-4)


def test_spectral_penalty_is_order_invariant_and_positive_off_target() -> None:
    lam = random_spectrum(80, 7)
    shuffled = lam[torch.randperm(80, generator=torch.Generator().manual_seed(1))]
    assert float(spectral_penalty(lam)) == pytest.approx(float(spectral_penalty(shuffled)), rel=1e-14)
    assert float(spectral_penalty(lam)) > 0


@pytest.mark.parametrize("tau,alpha", [(0, 1.0), (10, 1.0), (5, 2.3)])
def test_spectral_penalty_zero_on_exact_power_law(tau: int, alpha: float) -> None:
    n = torch.arange(1, 501, dtype=torch.float64)
    lam = 7.0 * n ** -alpha
    # zero up to rounding: the relu term is linear in the ratio's ~1e-16 rounding error
    assert float(spectral_penalty(lam, tau, alpha)) < 1e-13
    # the same law with a different exponent is penalised
    assert float(spectral_penalty(lam, tau, alpha + 0.2)) > 1e-3
    # an exact power law in the tail only: the head (ranks <= tau) is free
    head_changed = lam.clone()
    head_changed[:tau] *= 5.0
    assert float(spectral_penalty(head_changed, tau, alpha)) < 1e-13


def test_spectral_penalty_gradient_detaches_anchor_and_matches_formula() -> None:
    tau, alpha = 10, 1.0
    lam = random_spectrum(60, 3).requires_grad_(True)
    spectral_penalty(lam, tau, alpha).backward()
    e, order = torch.sort(lam.detach(), descending=True)
    n = lam.shape[0]
    anchor_index = int(order[tau])
    # the anchor's own term is not in the sum (k > tau) and no gradient flows through the target
    assert lam.grad[anchor_index] == 0.0
    # expected gradient with the anchor held fixed, one eigenvalue at a time
    expected = torch.zeros(n, dtype=torch.float64)
    for k in range(tau + 1, n):
        if e[k] <= 0:
            continue
        gamma = float(e[tau]) * ((tau + 1) / (k + 1)) ** alpha
        r = float(e[k]) / gamma - 1.0
        expected[order[k]] = (2 * r + (1.0 if r > 0 else 0.0)) / gamma / n
    torch.testing.assert_close(lam.grad, expected, rtol=1e-10, atol=1e-14)
    # the head above the anchor gets no gradient at all
    assert torch.all(lam.grad[order[: tau + 1]] == 0)


def test_spectral_penalty_gradient_finite_when_anchor_is_zero() -> None:
    lam = torch.zeros(50)
    lam[:5] = torch.rand(5) + 1.0  # rank 5 <= tau: the anchor e[10] is 0
    lam.requires_grad_(True)
    value = spectral_penalty(lam, tau=10)
    value.backward()
    assert float(value.detach()) == naive_penalty(lam.tolist(), 10, 1.0) == 0.0
    assert torch.all(torch.isfinite(lam.grad)) and torch.all(lam.grad == 0)


def test_spectral_penalty_rejects_bad_input() -> None:
    lam = torch.rand(20)
    for tau in (-1, 19, 20, 100):
        with pytest.raises(ValueError):
            spectral_penalty(lam, tau)
    with pytest.raises(ValueError):
        spectral_penalty(torch.rand(4, 5), 1)
    with pytest.raises(ValueError):
        spectral_penalty(torch.tensor(1.0), 0)


# ----------------------------------------------------------------------------------------------------------------------
# SpectralRegularizer

def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 40), nn.Tanh(), nn.Linear(40, 24), nn.Tanh(), nn.BatchNorm1d(24),
                         nn.Linear(24, 3))


def inputs(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 12, generator=gen) @ torch.randn(12, 12, generator=gen) * 0.5


def features_of(net: nn.Module, layers: list[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    with capture(layers) as feats:
        net(x)
    return list(feats)


def test_estimated_eigenvalues_equal_diag_of_projected_batch_covariance() -> None:
    net = small_net()
    reg = SpectralRegularizer(net, [net[1], net[4]], tau=3)
    spectra = reg.refresh(inputs(600, 0))
    assert [s.shape for s in spectra] == [(40,), (24,)]
    assert [tuple(v.shape) for v in reg.bases] == [(40, 40), (24, 24)]
    net.train()
    for index, h in enumerate(features_of(net, reg.layers, inputs(100, 1))):
        got = reg.estimated_eigenvalues(h, index)
        v = reg.bases[index].double().numpy()
        c_batch = np.cov(h.detach().double().numpy(), rowvar=False)
        np.testing.assert_allclose(got.detach().numpy(), np.diag(v.T @ c_batch @ v), rtol=1e-4, atol=1e-7)


def test_projected_variance_gradient_matches_finite_differences_and_explicit_covariance() -> None:
    """The hand-written backward against torch's numerical gradcheck and against autograd through an explicit
    float64 covariance diag(V^T C V), for a basis that is orthonormal and for one that is not."""
    gen = torch.Generator().manual_seed(5)
    h = (torch.randn(12, 6, generator=gen, dtype=torch.float64) + 3.0).requires_grad_(True)  # off-centre on purpose
    orthonormal, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    general = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    weights = torch.randn(6, generator=gen, dtype=torch.float64)
    for basis in (orthonormal, general):
        assert torch.autograd.gradcheck(lambda x: ProjectedVariance.apply(x, basis), (h,))
        lam = ProjectedVariance.apply(h, basis)
        explicit = torch.diagonal(basis.T @ torch.cov(h.T) @ basis)
        torch.testing.assert_close(lam, explicit)
        (grad,) = torch.autograd.grad(lam @ weights, h)
        (grad_explicit,) = torch.autograd.grad(explicit @ weights, h)
        torch.testing.assert_close(grad, grad_explicit)


def test_refresh_basis_diagonalises_the_full_set() -> None:
    """Projected on its own eigenbasis, the full set's covariance gives back its eigenvalues (in eval mode)."""
    net = small_net()
    x = inputs(700, 2)
    reg = SpectralRegularizer(net, [net[1], net[4]], tau=3, chunk_size=128)
    net.train()
    spectra = reg.refresh(x)
    assert net.training
    net.eval()
    with torch.no_grad():
        feats = features_of(net, reg.layers, x)
    for index, (h, spectrum) in enumerate(zip(feats, spectra)):
        reference = np.sort(np.linalg.eigvalsh(np.cov(h.double().numpy(), rowvar=False)))[::-1]
        np.testing.assert_allclose(spectrum, reference, rtol=1e-8, atol=1e-12)
        got = reg.estimated_eigenvalues(h, index).numpy()
        np.testing.assert_allclose(got, spectrum, rtol=1e-3, atol=1e-6 * spectrum[0])
        # descending columns: column n of the basis is the eigenvector of the n-th largest eigenvalue
        v = reg.bases[index].double().numpy()
        c = np.cov(h.double().numpy(), rowvar=False)
        np.testing.assert_allclose(c @ v, v * spectrum, atol=1e-5 * spectrum[0])


def test_penalty_equals_beta_times_hand_computed_sum() -> None:
    net = small_net()
    beta, tau, alpha = 0.37, 4, 1.3
    reg = SpectralRegularizer(net, [net[1], net[4]], beta=beta, tau=tau, alpha=alpha)
    reg.refresh(inputs(500, 3))
    net.train()
    feats = features_of(net, reg.layers, inputs(64, 4))
    expected = 0.0
    for h, basis in zip(feats, reg.bases):
        v = basis.double().numpy()
        lam = np.diag(v.T @ np.cov(h.detach().double().numpy(), rowvar=False) @ v)
        expected += naive_penalty(lam.tolist(), tau, alpha)
    got = reg.penalty(feats).detach()
    assert got.shape == ()
    assert float(got) == pytest.approx(beta * expected, rel=1e-3)
    assert float(got) > 0


def test_penalty_gradient_reaches_parameters() -> None:
    net = small_net()
    reg = SpectralRegularizer(net, [net[3]], tau=3)
    reg.refresh(inputs(500, 5))
    net.train()
    with capture(reg.layers) as feats:
        net(inputs(50, 6))
    reg.penalty(feats).backward()
    for layer in (net[0], net[2]):
        assert layer.weight.grad is not None and torch.all(torch.isfinite(layer.weight.grad))
        assert float(layer.weight.grad.abs().sum()) > 0
    # the head is after the regularized layer: no gradient reaches it
    assert net[5].weight.grad is None


def test_small_batch_is_refused_unless_allowed() -> None:
    net = small_net()
    reg = SpectralRegularizer(net, [net[1]], tau=3)
    reg.refresh(inputs(300, 7))
    h = features_of(net, reg.layers, inputs(39, 8))  # width 40
    with pytest.raises(ValueError, match="smaller than"):
        reg.penalty(h)
    lenient = SpectralRegularizer(net, [net[1]], tau=3, allow_small_batch=True)
    lenient.refresh(inputs(300, 7))
    assert torch.isfinite(lenient.penalty(h))
    assert torch.isfinite(reg.penalty(features_of(net, reg.layers, inputs(40, 8))))


def test_penalty_before_refresh_and_mismatches_raise() -> None:
    net = small_net()
    reg = SpectralRegularizer(net, [net[1]], tau=3)
    h = features_of(net, reg.layers, inputs(64, 9))
    with pytest.raises(RuntimeError, match="refresh"):
        reg.penalty(h)
    reg.refresh(inputs(300, 9))
    with pytest.raises(ValueError):
        reg.penalty(h + h)  # two tensors for one layer
    with pytest.raises(ValueError):
        reg.estimated_eigenvalues(torch.randn(64, 41), 0)


def test_regularizer_argument_checks() -> None:
    net = small_net()
    with pytest.raises(ValueError):
        SpectralRegularizer(net, [])
    with pytest.raises(ValueError):
        SpectralRegularizer(net, [net[1]], beta=-1.0)
    with pytest.raises(ValueError):
        SpectralRegularizer(net, [net[1]], alpha=0.0)
    with pytest.raises(ValueError):
        SpectralRegularizer(net, [net[1]], tau=-1)


def test_float64_features_use_a_float64_basis() -> None:
    net = small_net().double()
    reg = SpectralRegularizer(net, [net[1]], tau=3)
    reg.refresh(inputs(300, 10).double())
    net.train()
    h = features_of(net, reg.layers, inputs(80, 11).double())[0]
    got = reg.estimated_eigenvalues(h, 0)
    assert got.dtype == torch.float64
    v = reg.bases[0].numpy()
    np.testing.assert_allclose(got.detach().numpy(), np.diag(v.T @ np.cov(h.detach().numpy(), rowvar=False) @ v),
                               rtol=1e-10, atol=1e-14)


def test_select_layers() -> None:
    model = MLP(widths=[8, 6, 4])
    assert select_layers(model, "last") == [model.blocks[2]]
    assert select_layers(model, "all") == list(model.blocks)
    assert select_layers(model, [0, 2]) == [model.blocks[0], model.blocks[2]]
    with pytest.raises(ValueError):
        select_layers(model, "first")
    with pytest.raises(ValueError):
        select_layers(nn.Linear(3, 3), "last")


def test_tracked_running_covariance_is_the_exponential_average_of_batch_covariances() -> None:
    """After refresh (C_0 = covariance of the refresh inputs) and batches b_1..b_t, the running covariance equals
    m^t C_0 + sum_i (1 - m) m^(t - i) cov(b_i), computed here with numpy in float64; with track_every=2 the basis is
    the eigenbasis of that running covariance after every second batch and unchanged in between."""
    net = small_net()
    m = 0.7
    reg = SpectralRegularizer(net, [net[1]], tau=3, basis="tracked", track_every=2, track_momentum=m)
    refresh_x = inputs(500, 0)
    reg.refresh(refresh_x)
    with torch.no_grad():
        expected = np.cov(net[1](net[0](refresh_x)).double().numpy(), rowvar=False)
    net.train()
    for t in range(1, 5):
        before = reg.bases[0].clone()
        (h,) = features_of(net, reg.layers, inputs(64, t))
        reg.penalty([h])
        expected = m * expected + (1 - m) * np.cov(h.detach().double().numpy(), rowvar=False)
        np.testing.assert_allclose(reg.running[0].numpy(), expected, rtol=1e-5, atol=1e-8)
        if t % 2 == 0:
            v = reg.bases[0].double().numpy()
            rotated = v.T @ expected @ v
            off = rotated - np.diag(np.diag(rotated))
            assert np.abs(off).max() < 1e-5 * np.abs(rotated).max()
            assert np.all(np.diff(np.diag(rotated)) <= 1e-9)  # descending
        else:
            assert torch.equal(reg.bases[0], before)


def test_tracked_basis_does_not_move_in_eval_mode_and_accepts_narrow_batches() -> None:
    """The running covariance has full rank, so a batch narrower than the layer needs no opt-in; eval-mode calls
    (e.g. a penalty computed for monitoring) leave the tracked state alone."""
    net = small_net()
    reg = SpectralRegularizer(net, [net[1]], tau=3, basis="tracked")
    reg.refresh(inputs(500, 0))
    net.eval()
    running = reg.running[0].clone()
    (h,) = features_of(net, reg.layers, inputs(10, 1))  # 10 < 40 units
    penalty = reg.penalty([h])
    assert torch.isfinite(penalty) and torch.equal(reg.running[0], running)
    epoch = SpectralRegularizer(net, [net[1]], tau=3)
    epoch.refresh(inputs(500, 0))
    with pytest.raises(ValueError, match="smaller than layer"):
        epoch.penalty([h])


def test_tracked_estimates_are_unbiased_per_direction_for_narrow_batches(one_thread: None) -> None:
    """For a fixed basis, v^T C_batch v averaged over many narrow batches (b = 8 < N = 40) matches v^T C v of the
    population, direction by direction, to within the Monte-Carlo error."""
    gen = torch.Generator().manual_seed(3)
    n = 40
    spectrum = torch.arange(1, n + 1, dtype=torch.float64) ** -1.0
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    population = q @ torch.diag(spectrum) @ q.T
    net = nn.Sequential(nn.Identity())
    reg = SpectralRegularizer(net, [net[0]], tau=3, basis="tracked")
    reg.bases = [q.clone()]
    draws = 4000
    z = torch.randn(draws, 8, n, generator=gen, dtype=torch.float64) * spectrum.sqrt()
    batches = z @ q.T
    estimates = torch.stack([reg.estimated_eigenvalues(b, 0) for b in batches])
    mean = estimates.mean(0)
    stderr = estimates.std(0) / math.sqrt(draws)
    target = torch.diag(q.T @ population @ q)  # v^T C v of the population along each basis vector
    assert torch.all((mean - target).abs() < 5 * stderr)


def test_tracked_configuration_is_validated_and_state_is_untouched_on_error() -> None:
    net = small_net()
    for bad in (dict(basis="weekly"), dict(track_every=0), dict(track_momentum=1.0), dict(track_momentum=math.nan),
                dict(beta=math.inf), dict(alpha=math.nan)):
        with pytest.raises(ValueError):
            SpectralRegularizer(net, [net[1]], **bad)
    reg = SpectralRegularizer(net, [net[1]], tau=3, basis="tracked")
    with pytest.raises(RuntimeError, match="refresh"):
        reg.track([torch.randn(50, 40)])
    reg.refresh(inputs(500, 0))
    running = reg.running[0].clone()
    with pytest.raises(ValueError, match="at least 2"):
        reg.track([torch.randn(1, 40)])
    assert torch.equal(reg.running[0], running)
