"""Attacks against independent references: per-sample autograd loops, exact values and known properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from onen.attacks import accuracy, fgsm, gaussian_noise, pgd, robustness_curve

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.py


GRID = [0.0, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 1.0]


@pytest.fixture(scope="module")
def task() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Nine Gaussian blobs in [0, 1]^20, three per class (so the decision boundary is not a plane, where FGSM would
    already be optimal), and a 20-64-3 tanh MLP trained on them to ~100% accuracy."""
    torch.manual_seed(0)
    n, d, k, blobs = 600, 20, 3, 9
    centers = 0.2 + 0.6 * torch.rand(blobs, d)
    blob = torch.arange(n) % blobs
    y = blob % k
    x = (centers[blob] + 0.08 * torch.randn(n, d)).clamp(0, 1)
    model = nn.Sequential(nn.Linear(d, 64), nn.Tanh(), nn.Linear(64, k))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    assert accuracy(model, x, y) > 0.98
    return model, x, y


def per_example_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def naive_grad(model: nn.Module, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
    """Gradient of the cross-entropy of one example, computed on that example alone."""
    xi = xi.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xi.unsqueeze(0)), yi.unsqueeze(0))
    (g,) = torch.autograd.grad(loss, xi)
    return g


@pytest.mark.parametrize("eps", [0.03, 0.2, 0.6])
def test_perturbation_in_ball_and_box(task, eps):
    model, x, y = task
    g = torch.Generator().manual_seed(1)
    candidates = (
        fgsm(model, x, y, eps),
        pgd(model, x, y, eps, steps=10, step_size=0.05, restarts=2, generator=g),
        pgd(model, x, y, eps, steps=0, generator=g),  # the random start alone
    )
    for x_adv in candidates:
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
        assert (x_adv - x).abs().max().item() <= eps + 1e-6
        assert x_adv.min().item() >= 0.0 and x_adv.max().item() <= 1.0
        assert (x_adv != x).any()


def test_eps_zero_is_identity_and_clean_accuracy(task):
    model, x, y = task
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert torch.equal(pgd(model, x, y, 0.0, generator=torch.Generator().manual_seed(0)), x)
    assert torch.equal(gaussian_noise(x, 0.0), x)
    clean = accuracy(model, x, y)
    manual = (model(x).argmax(1) == y).float().mean().item()
    assert clean == pytest.approx(manual, abs=1e-12)
    for attack in ("fgsm", "pgd", "noise"):
        assert robustness_curve(model, x, y, [0.0], attack=attack, batch_size=128, progress=False)[0] == clean


def test_accuracy_independent_of_batch_size(task):
    model, x, y = task
    perturbed = gaussian_noise(x, 0.4, torch.Generator().manual_seed(3))
    manual = (model(perturbed).argmax(1) == y).double().mean().item()
    for bs in (1, 7, 600, 5000):
        assert accuracy(model, perturbed, y, batch_size=bs) == pytest.approx(manual, abs=1e-12)


def test_fgsm_matches_per_sample_reference(task):
    model, x, y = task
    eps = 0.07
    x_adv = fgsm(model, x, y, eps)
    for i in range(0, 600, 97):
        ref = (x[i] + eps * naive_grad(model, x[i], y[i]).sign()).clamp(0, 1)
        torch.testing.assert_close(x_adv[i], ref, rtol=0, atol=1e-7)


def test_pgd_without_random_start_matches_per_sample_loop(task):
    model, x, y = task
    eps, steps, size = 0.1, 6, 0.03
    x_adv = pgd(model, x, y, eps, steps=steps, step_size=size, random_start=False)
    for i in range(0, 600, 151):
        xi = x[i].clone()
        for _ in range(steps):
            xi = xi + size * naive_grad(model, xi, y[i]).sign()
            xi = torch.min(torch.max(xi, x[i] - eps), x[i] + eps).clamp(0, 1)
        torch.testing.assert_close(x_adv[i], xi, rtol=0, atol=1e-6)


def test_pgd_curve_below_fgsm_nonincreasing_and_zero_at_large_eps(task):
    model, x, y = task
    acc_fgsm = robustness_curve(model, x, y, GRID, attack="fgsm", batch_size=256, progress=False)
    acc_pgd = robustness_curve(model, x, y, GRID, attack="pgd", batch_size=256, progress=False)
    assert acc_pgd.shape == (len(GRID),) and acc_pgd.dtype == np.float64
    assert np.all(acc_pgd <= acc_fgsm)
    assert np.all(np.diff(acc_pgd) <= 0)
    assert acc_pgd[0] > 0.98 and acc_pgd[GRID.index(0.5)] == 0.0 and acc_pgd[-1] == 0.0
    # the attack moves the curve: strictly between clean and zero somewhere in the middle
    assert np.any((acc_pgd > 0) & (acc_pgd < acc_pgd[0]))


def test_noise_is_weaker_than_pgd_and_has_sigma_spread(task):
    model, x, y = task
    acc_noise = robustness_curve(model, x, y, [0.1, 0.2], attack="noise", progress=False)
    acc_pgd = robustness_curve(model, x, y, [0.1, 0.2], attack="pgd", progress=False)
    assert np.all(acc_pgd <= acc_noise)
    # away from the box edges the clipping is inactive, so the perturbation is N(0, sigma^2)
    mid = torch.full((200, 50), 0.5)
    delta = gaussian_noise(mid, 0.02, torch.Generator().manual_seed(0)) - mid
    assert delta.mean().abs().item() < 4 * 0.02 / 100
    assert delta.std().item() == pytest.approx(0.02, rel=0.02)


def test_step_size_rule_and_seeding_of_the_curve(task):
    model, x, y = task
    for eps in (0.1, 0.3):
        size = max(0.01, 2.5 * eps / 5)  # the documented rule, 0.05 and 0.15 here rather than 0.01
        x_adv = pgd(model, x, y, eps, steps=5, step_size=size, generator=torch.Generator().manual_seed(4))
        expected = accuracy(model, x_adv, y)
        got = robustness_curve(model, x, y, [eps], attack="pgd", steps=5, batch_size=600, seed=4, progress=False)
        assert got[0] == expected


@pytest.mark.parametrize("training", [True, False])
def test_mode_restored_and_parameters_untouched(task, training):
    model, x, y = task
    model.train(training)
    model[1].train(not training)  # a mixed state must come back as it was, module by module
    grads = [torch.full_like(p, 0.5) for p in model.parameters()]
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    model[2].bias.requires_grad_(False)
    before = [p.detach().clone() for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    try:
        fgsm(model, x, y, 0.1)
        pgd(model, x, y, 0.1, steps=3, generator=torch.Generator().manual_seed(0))
        accuracy(model, x, y)
        robustness_curve(model, x, y, [0.1], attack="pgd", steps=2, progress=False)
        assert [m.training for m in model.modules()] == modes
        for p, g, b in zip(model.parameters(), grads, before):
            assert torch.equal(p.grad, g) and torch.equal(p, b)
        assert [p.requires_grad for p in model.parameters()] == [True, True, True, False]
    finally:
        model[2].bias.requires_grad_(True)
        model.zero_grad(set_to_none=True)
        model.eval()


class Exploding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def test_mode_restored_after_exception():
    model = nn.Sequential(nn.Linear(4, 3), Exploding()).train()
    x, y = torch.rand(5, 4), torch.zeros(5, dtype=torch.long)
    for attack in (lambda: fgsm(model, x, y, 0.1), lambda: pgd(model, x, y, 0.1, steps=2)):
        with pytest.raises(RuntimeError, match="boom"):
            attack()
        assert all(m.training for m in model.modules())


def test_determinism(task):
    model, x, y = task

    def run(seed: int) -> torch.Tensor:
        return pgd(model, x, y, 0.1, steps=5, restarts=2, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    for attack, grid in (("noise", [0.3, 0.5, 1.0]), ("pgd", [0.08, 0.1, 0.12])):
        curve = lambda s: robustness_curve(model, x, y, grid, attack, batch_size=100, steps=4, seed=s, progress=False)
        np.testing.assert_array_equal(curve(2), curve(2))
        assert not np.array_equal(curve(2), curve(3))


def test_restarts_keep_the_highest_loss_per_example(task):
    model, x, y = task
    eps, kwargs = 0.1, dict(steps=3, step_size=0.02)
    best = pgd(model, x, y, eps, restarts=3, generator=torch.Generator().manual_seed(7), **kwargs)
    # restart r consumes the r-th random start: successive single-restart calls on one generator replay them
    g = torch.Generator().manual_seed(7)
    singles = torch.stack([per_example_loss(model, pgd(model, x, y, eps, generator=g, **kwargs), y) for _ in range(3)])
    loss = per_example_loss(model, best, y)
    assert torch.all(loss >= singles.max(0).values - 1e-6)
    torch.testing.assert_close(loss, singles.max(0).values, rtol=0, atol=1e-6)
    assert (singles.argmax(0) > 0).any()  # the selection actually picks later restarts for some examples


def test_input_validation(task):
    model, x, y = task
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        pgd(model, x, y, -0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pgd(model, x + 1.0, y, 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(model, x - 0.5, y, 0.1)
    fgsm(model, (x + 5e-7).clamp(max=1 + 5e-7), y, 0.1)  # within the rounding slack
    with pytest.raises(ValueError, match="batch size"):
        fgsm(model, x, y[:-1], 0.1)
    with pytest.raises(ValueError, match="batch size"):
        pgd(model, x, y.view(-1, 1), 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, 0.1, steps=-1)
    with pytest.raises(ValueError, match="restarts"):
        pgd(model, x, y, 0.1, restarts=0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_noise(x, -1.0)
    with pytest.raises(ValueError, match="attack"):
        robustness_curve(model, x, y, [0.1], attack="cw", progress=False)
    with pytest.raises(ValueError, match="eps"):
        robustness_curve(model, x, y, [0.1, -0.1], progress=False)


def test_per_image_outcomes_are_each_images_own_attack(task) -> None:
    """robustness_outcomes marks image i correct at eps exactly when the attack on image i alone leaves it correct
    (FGSM is deterministic and per-example), its mean is robustness_curve, and eps = 0 is clean correctness."""
    from onen.attacks import robustness_outcomes

    model, x, y = task
    grid = [0.0, 0.05, 0.1]
    outcomes = robustness_outcomes(model, x, y, grid, attack="fgsm", batch_size=128, progress=False)
    assert outcomes.shape == (3, x.shape[0]) and outcomes.dtype == bool
    np.testing.assert_array_equal(outcomes.mean(1), robustness_curve(model, x, y, grid, attack="fgsm",
                                                                     batch_size=128, progress=False))
    with torch.no_grad():
        np.testing.assert_array_equal(outcomes[0], (model(x).argmax(1) == y).numpy())
    for i in (0, 17, 301):
        alone = fgsm(model, x[i:i + 1], y[i:i + 1], 0.1)
        with torch.no_grad():
            assert bool(model(alone).argmax(1) == y[i]) == outcomes[2, i]
