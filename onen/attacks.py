"""L-infinity adversarial attacks, a Gaussian-noise baseline and robustness curves.

Conventions follow torchattacks: inputs live in [0, 1], ``attack(model, x, y, ...)`` returns adversarial inputs of
x's shape, dtype and device (detached), and the model is put in eval mode for the attack and given back in the mode
it came in (every submodule's own flag, even if the attack raises). Gradients are taken with ``torch.autograd.grad``
with respect to the input only, so parameters' ``.grad`` and ``requires_grad`` are never touched.

The attacks are untargeted and maximise the cross-entropy summed over the batch: a sum rather than a mean keeps each
example's gradient independent of the batch size (only its sign is used, but the per-example losses compared across
PGD restarts must not depend on B either).

- ``fgsm``: one signed-gradient step of size eps (Goodfellow et al. 2015).
- ``pgd``: projected signed-gradient ascent from a random start in the eps-ball (Madry et al. 2018), with restarts.
- ``gaussian_noise``: x + sigma * N(0, I), clipped to [0, 1]; a common-corruption baseline.
- ``robustness_curve``: accuracy under one of the three, per eps of a grid; ``robustness_outcomes``: the same per image.
"""

from __future__ import annotations

import math

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from onen.features import eval_mode

ATTACKS = ("fgsm", "pgd", "noise")
_SLACK = 1e-6  # tolerance on the [0, 1] range of clean inputs (float rounding of a preprocessing step)


def _check(x: Tensor, y: Tensor, eps: float) -> None:
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    if y.ndim != 1 or x.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x [B, ...] and y [B] must share the batch size, got x {tuple(x.shape)}, y {tuple(y.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or inf pixels; images must lie in [0, 1]")
    if x.numel() and (x.min().item() < -_SLACK or x.max().item() > 1 + _SLACK):
        raise ValueError(f"x must lie in [0, 1], got range [{x.min().item():.4g}, {x.max().item():.4g}]")


def _loss_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """d/dx of the summed cross-entropy. x: [B, ...] -> [B, ...]; each row is that example's own gradient."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def input_gradients(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Sensitivity maps: d CE(model(x_b), y_b) / d x_b for each example, [B, ...] like x, in eval mode (restored)."""
    with eval_mode(model):
        return _loss_grad(model, x, y).detach()


def _project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Nearest point of the eps-ball around x intersected with [0, 1] (both are boxes, so clamping in turn is exact)."""
    return torch.clamp(torch.minimum(torch.maximum(x_adv, x - eps), x + eps), 0.0, 1.0)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Fast gradient sign method: clip(x + eps * sign(d CE / dx), 0, 1).

    x: [B, ...] in [0, 1]; y: [B] int64. Returns [B, ...], same dtype and device, detached. eps == 0 returns x.
    """
    _check(x, y, eps)
    if eps == 0:
        return x.detach().clone()
    with eval_mode(model):
        grad = _loss_grad(model, x, y)
    return (x.detach() + eps * grad.sign()).clamp(0.0, 1.0)


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 40,
    step_size: float = 0.01,
    restarts: int = 1,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Projected gradient descent on the negative cross-entropy in the L-infinity eps-ball (Madry et al. 2018).

    Each restart starts from x + U(-eps, eps) (drawn from ``generator``, which must live on x's device; or from x
    itself when random_start is False), then takes ``steps`` steps x <- P(x + step_size * sign(grad)), where P clamps
    to the eps-ball around x and to [0, 1]. With restarts > 1, each example keeps the restart whose final
    cross-entropy is highest (the first one on ties). The generator is used only for the random starts, one draw of
    x's shape per restart, so restart r here equals the r-th of successive single-restart calls sharing a generator.

    x: [B, ...] in [0, 1]; y: [B] int64. Returns [B, ...], same dtype and device, detached. eps == 0 returns x.
    """
    _check(x, y, eps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    if not math.isfinite(step_size) or step_size < 0:
        raise ValueError(f"step_size must be finite and >= 0, got {step_size}")
    x = x.detach()
    if eps == 0:
        return x.clone()

    best, best_loss = x.clone(), None
    with eval_mode(model):
        for _ in range(restarts):
            x_adv = x.clone()
            if random_start:
                noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x_adv = _project(x + eps * (2 * noise - 1), x, eps)
            for _ in range(steps):
                x_adv = _project(x_adv + step_size * _loss_grad(model, x_adv, y).sign(), x, eps)
            if restarts == 1:
                return x_adv
            with torch.no_grad():
                loss = F.cross_entropy(model(x_adv), y, reduction="none")  # [B]
            if best_loss is None:
                best, best_loss = x_adv, loss
            else:
                better = loss > best_loss  # [B]
                best = torch.where(better.view(-1, *([1] * (x.ndim - 1))), x_adv, best)
                best_loss = torch.where(better, loss, best_loss)
    return best


def gaussian_noise(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """clip(x + sigma * N(0, I), 0, 1), the noise drawn from ``generator`` (on x's device). sigma == 0 returns x.

    x: [B, ...] in [0, 1]. Returns [B, ...], same dtype and device, detached.
    """
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be finite and >= 0, got {sigma}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or inf pixels; images must lie in [0, 1]")
    x = x.detach()
    if sigma == 0:
        return x.clone()
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + sigma * noise).clamp(0.0, 1.0)


@torch.no_grad()
def _correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return model(x).argmax(dim=1) == y


def _n_correct(model: nn.Module, x: Tensor, y: Tensor) -> int:
    return int(_correct(model, x, y).sum().item())


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Fraction of x classified as y, in eval mode, evaluated in batches. x: [N, ...]; y: [N] int64."""
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x [N, ...] and y [N] must share the batch size, got x {tuple(x.shape)}, y {tuple(y.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if x.shape[0] == 0:
        raise ValueError("accuracy of an empty set is undefined")
    with eval_mode(model):
        starts = range(0, x.shape[0], batch_size)
        correct = sum(_n_correct(model, x[i : i + batch_size], y[i : i + batch_size]) for i in starts)
    return correct / x.shape[0]


def robustness_curve(model: nn.Module, x: Tensor, y: Tensor, eps_grid: Sequence[float], attack: str = "pgd",
                     **kwargs) -> np.ndarray:
    """Accuracy (a fraction) under ``attack`` at each eps of ``eps_grid``: float64 [len(eps_grid)], the mean over
    images of :func:`robustness_outcomes` (same arguments)."""
    return robustness_outcomes(model, x, y, eps_grid, attack, **kwargs).mean(axis=1, dtype=np.float64)


def robustness_outcomes(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps_grid: Sequence[float],
    attack: str = "pgd",
    batch_size: int = 500,
    steps: int = 40,
    step_size: float | None = None,
    restarts: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """Which images stay correctly classified under ``attack`` at each eps of ``eps_grid``: bool [len(eps_grid), N].
    x: [N, ...] in [0, 1]; y: [N] int64.

    attack: "fgsm", "pgd" (``steps`` steps, ``restarts`` restarts) or "noise" (Gaussian noise with sigma = eps).
    step_size (pgd only): None means max(0.01, 2.5 * eps / steps), i.e. the paper's fixed 0.01 for eps <= 0.16 at 40
    steps and Madry et al.'s 2.5 * eps / steps beyond it, so that steps * step_size always exceeds the ball's
    diameter and large eps are reachable.
    Randomness (pgd starts, noise) comes from a torch.Generator on x's device reseeded with ``seed`` at each eps and
    consumed batch after batch, so the curve is deterministic given seed and each point does not depend on the rest
    of the grid.
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    eps_grid = [float(e) for e in eps_grid]
    for eps in eps_grid:
        _check(x, y, eps)
    if x.shape[0] == 0:
        raise ValueError("accuracy of an empty set is undefined")

    starts = range(0, x.shape[0], batch_size)
    outcomes = np.zeros((len(eps_grid), x.shape[0]), dtype=bool)
    bar = tqdm(total=len(eps_grid) * len(starts), desc=f"{attack} robustness", disable=not progress)
    with eval_mode(model):
        for k, eps in enumerate(eps_grid):
            generator = torch.Generator(device=x.device).manual_seed(seed)
            for i in starts:
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
                if attack == "fgsm":
                    x_adv = fgsm(model, xb, yb, eps)
                elif attack == "pgd":
                    size = step_size if step_size is not None else max(0.01, 2.5 * eps / max(steps, 1))
                    x_adv = pgd(model, xb, yb, eps, steps=steps, step_size=size, restarts=restarts, generator=generator)
                else:
                    x_adv = gaussian_noise(xb, eps, generator=generator)
                outcomes[k, i : i + batch_size] = _correct(model, x_adv, yb).cpu().numpy()
                bar.update(1)
    bar.close()
    return outcomes
