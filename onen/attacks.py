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
- ``REGISTRY``: every attack the book runs, by name, with one signature ``attack(model, x, y, eps, budget,
  generator)``: the three above and, from ``torchattacks`` (the optional extra ``onen[audit]``), APGD-CE, APGD-T and
  Square (Croce & Hein 2020; Andriushchenko et al. 2020). The evaluation and the attack audit both dispatch through it.
- ``robustness_curve``: accuracy under a registered attack, per eps of a grid; ``robustness_outcomes``: the same per
  image.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from onen.features import eval_mode

PIXEL_SLACK = 1e-6  # tolerance on the [0, 1] range of clean inputs (float rounding of a preprocessing step)


def check_pixels(x: Tensor, name: str = "x") -> None:
    """Raise ValueError unless every value of ``x`` is finite and in [0, 1] (within :data:`PIXEL_SLACK`): the
    check every attack, the audit and the corruptions make of the clean images they are given."""
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf pixels; images must lie in [0, 1]")
    if x.numel() and (x.min().item() < -PIXEL_SLACK or x.max().item() > 1 + PIXEL_SLACK):
        raise ValueError(f"{name} must lie in [0, 1], got range [{x.min().item():.4g}, {x.max().item():.4g}]")


def _check(x: Tensor, y: Tensor, eps: float) -> None:
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    if y.ndim != 1 or x.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x [B, ...] and y [B] must share the batch size, got x {tuple(x.shape)}, y {tuple(y.shape)}")
    check_pixels(x)


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
    if not torch.isfinite(x).all():  # noise may take a pixel out of [0, 1] and back: finiteness is what it needs
        raise ValueError("x holds NaN or inf pixels; images must lie in [0, 1]")
    x = x.detach()
    if sigma == 0:
        return x.clone()
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + sigma * noise).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Budget:
    """What an attack may spend, each field read by the attacks that need it.

    steps, step_size, restarts: PGD's (step_size None: max(0.01, 2.5 * eps / steps), the paper's 0.01 at small eps
    and Madry et al.'s 2.5 eps / steps beyond). apgd_steps: the iterations of APGD-CE and of each APGD-T run;
    targets: how many of the most likely wrong classes APGD-T targets; square_queries: Square's queries per image.
    seed: torchattacks draws from torch's global generator, which is seeded with it, inside a fork of the RNG
    state, at every call (so a batch's outcome is a function of the seed)."""

    steps: int = 40
    step_size: float | None = None
    restarts: int = 1
    apgd_steps: int = 25
    targets: int = 1
    square_queries: int = 250
    seed: int = 0


Attack = Callable[[nn.Module, Tensor, Tensor, float, Budget, "torch.Generator | None"], Tensor]


def _fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, budget: Budget,
          generator: torch.Generator | None) -> Tensor:
    return fgsm(model, x, y, eps)


def _pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, budget: Budget,
         generator: torch.Generator | None) -> Tensor:
    size = budget.step_size if budget.step_size is not None else max(0.01, 2.5 * eps / max(budget.steps, 1))
    return pgd(model, x, y, eps, steps=budget.steps, step_size=size, restarts=budget.restarts, generator=generator)


def _noise(model: nn.Module, x: Tensor, y: Tensor, eps: float, budget: Budget,
           generator: torch.Generator | None) -> Tensor:
    return gaussian_noise(x, eps, generator=generator)


def image_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """[C, H, W] under which torchattacks sees examples of ``shape``: [C, H, W] as is, [H, W] as [1, H, W], [D] as
    [1, sqrt D, sqrt D] when D is a perfect square; ValueError otherwise."""
    if len(shape) == 3:
        return tuple(int(s) for s in shape)  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)  # type: ignore[return-value]
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return (1, side, side)
    raise ValueError(f"APGD and Square need image-shaped inputs: [N, C, H, W], [N, H, W] or [N, D] with D a perfect "
                     f"square; got examples of shape {list(shape)}")


class _AsImages(nn.Module):
    """The model seen through [N, C, H, W] inputs: forward reshapes back to the model's own example shape."""

    def __init__(self, model: nn.Module, example_shape: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.example_shape = tuple(int(s) for s in example_shape)
        self.training = False  # torchattacks restores "training" with model.train(): never let it think so

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.reshape(x.shape[0], *self.example_shape))

    def train(self, mode: bool = True) -> "_AsImages":
        """A no-op: the caller owns the mode of the wrapped model (see :func:`eval_mode`)."""
        return self


def torchattacks_module() -> Any:
    """``import torchattacks``, with a one-line error naming the extra when it is missing."""
    try:
        import torchattacks
    except ImportError as err:  # the optional extra
        raise ImportError("APGD and Square need torchattacks: pip install 'onen[audit]'") from err
    return torchattacks


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators with ``seed`` inside a fork of the RNG state (restored on exit)."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _torchattacks_attack(settings: Callable[[Any, Budget], tuple[Callable[..., Any], dict[str, Any]]]) -> Attack:
    """An :data:`Attack` from a torchattacks class: ``settings(torchattacks, budget)`` gives (class, keyword
    arguments). The model is seen through :class:`_AsImages`, in eval mode (restored), and the attack object is built
    without its stdout chatter (a parameter-free model makes it print "Failed to set device")."""

    def attack(model: nn.Module, x: Tensor, y: Tensor, eps: float, budget: Budget,
               generator: torch.Generator | None) -> Tensor:
        factory, kwargs = settings(torchattacks_module(), budget)
        with contextlib.redirect_stdout(io.StringIO()):
            built = factory(_AsImages(model, x.shape[1:]), norm="Linf", eps=eps, seed=budget.seed, **kwargs)
        built.set_device(x.device)
        with eval_mode(model), _seeded(budget.seed, x.device):
            x_adv = built(x.reshape(x.shape[0], *image_shape(x.shape[1:])), y).detach()
        return x_adv.reshape(x.shape)

    return attack


REGISTRY: dict[str, Attack] = {
    "fgsm": _fgsm,
    "pgd": _pgd,
    "noise": _noise,  # Gaussian noise with sigma = eps
    "apgd_ce": _torchattacks_attack(lambda ta, b: (ta.APGD, {"steps": b.apgd_steps, "n_restarts": 1, "loss": "ce",
                                                               "rho": 0.75})),
    "apgd_t": _torchattacks_attack(lambda ta, b: (ta.APGDT, {"steps": b.apgd_steps, "n_restarts": 1, "rho": 0.75,
                                                              "n_classes": b.targets + 1})),
    "square": _torchattacks_attack(lambda ta, b: (ta.Square, {"n_queries": b.square_queries, "n_restarts": 1,
                                                                "p_init": 0.8, "loss": "margin",
                                                                "resc_schedule": True})),
}
ATTACKS: tuple[str, ...] = tuple(REGISTRY)


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

    attack: a name of :data:`REGISTRY`: "fgsm", "pgd" (``steps`` steps, ``restarts`` restarts), "noise" (Gaussian
    noise with sigma = eps), or with torchattacks "apgd_ce", "apgd_t", "square" (at :class:`Budget`'s defaults).
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
    budget = Budget(steps=steps, step_size=step_size, restarts=restarts, seed=seed)
    bar = tqdm(total=len(eps_grid) * len(starts), desc=f"{attack} robustness", disable=not progress)
    with eval_mode(model):
        for k, eps in enumerate(eps_grid):
            generator = torch.Generator(device=x.device).manual_seed(seed)
            for i in starts:
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
                x_adv = REGISTRY[attack](model, xb, yb, eps, budget, generator)
                outcomes[k, i : i + batch_size] = _correct(model, x_adv, yb).cpu().numpy()
                bar.update(1)
    bar.close()
    return outcomes
