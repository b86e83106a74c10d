"""An attack audit: is a network's robustness real, or gradient masking?

The paper measures robustness with FGSM and a 40-step PGD. A defence that only hides its gradients (saturated
softmax, quantised inputs, shattered gradients) looks robust under those and falls to a stronger or a gradient-free
attack. This module re-runs the evaluation with the field's standard attacks, taken from ``torchattacks`` (the
optional extra ``onen[audit]``) rather than re-implemented, and reads the result with AutoAttack's checks (Croce &
Hein 2020; Carlini et al. 2019, "On evaluating adversarial robustness").

Attacks (all L-infinity, untargeted unless said, inputs in [0, 1]):

- ``"pgd"``: :func:`onen.attacks.pgd`, one random start, ``pgd_steps`` signed steps of ``pgd_step_size`` (the
  paper's 40 x 0.01);
- ``"pgd_restarts"``: the same with ``restarts`` random starts, per-example worst case. The first start is the one
  of ``"pgd"``, the others are run on the images that survived it, so it is never weaker than ``"pgd"`` per image;
- ``"apgd_ce"``: ``torchattacks.APGD`` on the cross-entropy (step size adapted on the fly, momentum);
- ``"apgd_t"``: ``torchattacks.APGDT``, targeted, on the DLR loss (logit ratio, invariant to the logits' scale, so
  immune to a saturated softmax), one run per target class among the ``apgd_t_targets`` most likely wrong ones;
- ``"square"``: ``torchattacks.Square``, a random search that only queries the model's logits (black-box), with the
  margin loss;
- ``"worst"``: per image, the minimum over the attacks run: the image counts as robust only if every attack failed.
  This is AutoAttack's ensemble robust accuracy. In :func:`audit_run` it includes the transfer attack when one is
  run.

An image counts as robust at eps only if it is classified correctly both clean and under the attack; at eps = 0 the
attacks are not run and every curve equals the clean accuracy. Each attack is run on the clean-correct images only
(the others are lost anyway), in batches of ``batch_size``.

Defaults and how they depart from AutoAttack's "standard" version (APGD-CE and APGD-T with 100 iterations and 1
restart each, APGD-T on all 9 wrong classes, Square with 5000 queries). The audit has to run on a 2-core CPU for
about twenty networks, and the cost of each attack is its budget times the share of images it has not broken yet
(which is large at small eps), so:

- ``apgd_steps`` = 25 (AutoAttack: 100) for APGD-CE and APGD-T. APGD's step-size checkpoints are fractions of the
  budget (22%, then shrinking by 3%), so a shorter run is a compressed schedule, not a truncated one;
- ``apgd_t_targets`` = 1 (AutoAttack: 9): APGD-T targets the most likely wrong class only. Its job here is the DLR
  loss's invariance to the scale of the logits (a saturated softmax does not blind it), which one target provides;
- ``square_queries`` = 250 (AutoAttack: 5000), with Square's p schedule rescaled to the budget
  (``resc_schedule=True``). It is the black-box witness against masking, not a tight bound: a model whose gradients
  are useless falls to it within a few hundred queries at moderate eps, while a healthy one is not beaten by it beyond noise;
- ``restarts`` = 10 PGD starts, the later ones only on the images the earlier ones left standing.

Cost, counted in images passed through the model on 1000 MNIST test images of a 784-2000-10 tanh MLP (92% clean,
grid 0, 0.05, 0.1, 0.2, 0.3, 0.5; "grad" = forward and backward): pgd 37k grad per eps; the 9 extra restarts 186k
grad at eps 0.05, 28k at 0.1, none beyond; apgd_ce and apgd_t 24k grad each per eps; square 193k, 94k, 23k, 10k
and 6k forwards. In all about 640k grad and 380k forward image-passes, a little over a minute on two idle cores
(one grad pass of 1000 images of this net is ~0.1 s there); the restarts are a third of it, PGD itself another.

See the module's ``DEFAULT_*`` constants and :class:`AuditConfig`.

Randomness. torchattacks draws its random starts and squares from torch's global generator, and APGD, APGD-T and
Square reseed it themselves (``torch.manual_seed(seed)`` at each call). Every attack here therefore runs inside
``torch.random.fork_rng()`` with the global generator seeded with ``seed``: the outcome is a function of the seed,
the data, the model and ``batch_size`` (each batch is one call, reseeded), and the caller's RNG state is untouched.

Model mode. The model is put in eval mode for the whole audit and every submodule's own flag is restored at the end
(:func:`onen.attacks.eval_mode`). torchattacks' own ``Attack.__call__`` would call ``model.train()`` afterwards on a
model that came in training mode, which sets every submodule's flag to True, so the model is handed to torchattacks
already in eval mode, behind a wrapper that is itself in eval mode.

Shapes. APGD and Square index inputs as images [N, C, H, W] (Square's squares also assume H == W). Inputs of shape
[N, C, H, W] are passed as they are; [N, H, W] and [N, D] with D a perfect square are viewed as [N, 1, H, W] and
[N, 1, sqrt D, sqrt D] for torchattacks, the model still seeing the original shape.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor
from tqdm import tqdm

from onen.attacks import (PIXEL_SLACK, REGISTRY, Budget, check_pixels, eval_mode, image_shape, pgd,
                          torchattacks_module)
from onen.cache import CachedResult, cached, lookup
from onen.runs.config import TrainConfig
from onen.data import Split
from onen.robustness.masking import masking_flags
from onen.runs import experiments

ATTACKS: tuple[str, ...] = ("pgd", "pgd_restarts", "apgd_ce", "apgd_t", "square")

DEFAULT_EPS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
DEFAULT_PGD_STEPS = 40
DEFAULT_PGD_STEP_SIZE = 0.01
DEFAULT_RESTARTS = 10
DEFAULT_APGD_STEPS = 25
DEFAULT_APGD_T_TARGETS = 1
DEFAULT_SQUARE_QUERIES = 250
DEFAULT_BATCH_SIZE = 500

_BALL_SLACK = 1e-5  # tolerance on the eps-ball for adversarial inputs (float32 rounding of x +- eps)


# ----------------------------------------------------------------------------------------------------------------
# validation helpers


def _check_eps_grid(eps_grid: Sequence[float], name: str = "eps_grid") -> tuple[float, ...]:
    """The grid as floats; raise ValueError unless it is non-empty, finite, in [0, 1] and strictly ascending."""
    try:
        grid = tuple(float(e) for e in eps_grid)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a sequence of numbers, got {eps_grid!r}") from err
    if not grid:
        raise ValueError(f"{name} must not be empty")
    bad = [e for e in grid if not math.isfinite(e)]
    if bad:
        raise ValueError(f"{name} must hold finite radii, got {bad} (NaN or inf) in {list(grid)}")
    if any(not 0.0 <= e <= 1.0 for e in grid):
        raise ValueError(f"{name} must lie in [0, 1] (pixels live in [0, 1]), got {list(grid)}")
    if any(b <= a for a, b in zip(grid, grid[1:])):
        raise ValueError(f"{name} must be strictly ascending, got {list(grid)}")
    return grid


def _check_data(images: Tensor, labels: Tensor) -> None:
    if not images.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor, got {images.dtype}")
    if labels.ndim != 1 or images.ndim < 2 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"images [N, ...] and labels [N] must share N, got images {tuple(images.shape)}, "
                         f"labels {tuple(labels.shape)}")
    if images.shape[0] == 0:
        raise ValueError("the audit needs at least one image")
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be int64 class indices, got {labels.dtype}")
    check_pixels(images, "images")


def _positive_int(name: str, value: Any, smallest: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
        raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}")
    return int(value)


def _check_attacks(attacks: Sequence[str]) -> tuple[str, ...]:
    if isinstance(attacks, str):
        raise TypeError(f"attacks must be a sequence of names, not the string {attacks!r}")
    names = tuple(attacks)
    if not names:
        raise ValueError("attacks must name at least one attack")
    unknown = [a for a in names if a not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known: {list(ATTACKS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"attacks must not repeat a name, got {list(names)}")
    return names


@torch.no_grad()
def _predict_correct(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> Tensor:
    """Boolean [N] on x's device: model(x_i) predicts y_i (the model already in the wanted mode)."""
    out = [model(x[i:i + batch_size]).argmax(dim=1) == y[i:i + batch_size] for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out)


def _check_adversarial(x_adv: Tensor, x: Tensor, eps: float, attack: str) -> None:
    """Guard against an attack that leaves the threat model: x_adv in [0, 1] and within eps of x."""
    if x_adv.shape != x.shape:
        raise RuntimeError(f"{attack} returned shape {tuple(x_adv.shape)} for inputs {tuple(x.shape)}")
    if x_adv.numel() == 0:
        return
    gap = (x_adv - x).abs().max().item()
    if not math.isfinite(gap) or gap > eps + _BALL_SLACK or x_adv.min().item() < -PIXEL_SLACK \
            or x_adv.max().item() > 1 + PIXEL_SLACK:
        raise RuntimeError(f"{attack} left the threat model at eps={eps}: max |x_adv - x| = {gap:.6g}, "
                           f"range [{x_adv.min().item():.4g}, {x_adv.max().item():.4g}]")


# ----------------------------------------------------------------------------------------------------------------
# curves


def audit_curves(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    eps_grid: Sequence[float],
    *,
    attacks: Sequence[str] = ATTACKS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pgd_steps: int = DEFAULT_PGD_STEPS,
    pgd_step_size: float = DEFAULT_PGD_STEP_SIZE,
    restarts: int = DEFAULT_RESTARTS,
    apgd_steps: int = DEFAULT_APGD_STEPS,
    apgd_t_targets: int = DEFAULT_APGD_T_TARGETS,
    square_queries: int = DEFAULT_SQUARE_QUERIES,
    progress: bool = False,
    timings: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Accuracy of ``model`` under each attack of ``attacks`` at each eps of ``eps_grid``, with per-image outcomes.

    Args:
        model: a classifier returning logits; it is attacked in eval mode and given back in its own mode.
        images: [N, ...] floats in [0, 1] (image-shaped for APGD and Square, see the module docstring);
            labels: [N] int64. Both on the model's device.
        eps_grid: strictly ascending L-infinity radii in [0, 1].
        attacks: a subset of :data:`ATTACKS`; ``"worst"`` is always added (over the attacks run).
        seed: seeds every random draw (PGD starts, torchattacks' global-RNG draws); same seed, same arrays.
        batch_size: images per attack call. It changes the random draws (each batch is one seeded call), so it is
            part of what determines the result.
        pgd_steps, pgd_step_size: of "pgd" and "pgd_restarts" (the paper's 40 x 0.01).
        restarts: random starts of "pgd_restarts" (restarts 2.. run on the images the earlier ones left standing).
        apgd_steps: iterations of APGD-CE and of each APGD-T target run.
        apgd_t_targets: how many of the most likely wrong classes APGD-T targets (at most n_classes - 1; APGD-T's DLR
            loss needs at least 4 classes).
        square_queries: Square's query budget per image.
        progress: a tqdm bar over (eps, attack).
        timings: if a dict is given, it receives ``timings[attack]`` = seconds spent at each eps, [n_eps] float64
            (kept out of the result so that the result is a function of the seed alone).

    Returns a dict of numpy arrays:
        ``"eps"`` [n_eps] float64; ``"correct_clean"`` [N] bool;
        ``"<attack>"`` [n_eps] float64 accuracy for each attack run and ``"worst"``;
        ``"correct_<attack>"`` [n_eps, N] bool, per image: classified correctly clean and under the attack (the
        material for paired tests and bootstraps over images).
    """
    names, grid = _check_attacks(attacks), _check_eps_grid(eps_grid)
    _check_data(images, labels)
    batch_size, restarts = _positive_int("batch_size", batch_size), _positive_int("restarts", restarts)
    budget = _budget(pgd_steps, pgd_step_size, apgd_steps, apgd_t_targets, square_queries, int(seed))
    _check_image_attacks(names, images)
    images, labels = images.detach(), labels.detach()
    with eval_mode(model):
        budget = _with_targets(budget, model, images, names)
        clean = _predict_correct(model, images, labels, batch_size)
        correct, seconds = _attack_grid(model, images, labels, clean, grid, names, budget, restarts, batch_size,
                                        progress)
    if timings is not None:
        timings.update(seconds)
    return _curves(grid, clean.cpu().numpy(), correct)


def _attack_grid(model: nn.Module, images: Tensor, labels: Tensor, clean: Tensor, grid: Sequence[float],
                 names: Sequence[str], budget: Budget, restarts: int, batch_size: int,
                 progress: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per attack, the per-image outcomes [n_eps, N] (the clean-correct images attacked, the others lost) and the
    seconds spent at each eps. "pgd"'s outcome is the first start of "pgd_restarts", whose other starts run on the
    images it left standing, from a stream of their own."""
    n = images.shape[0]
    correct = {a: np.zeros((len(grid), n), dtype=bool) for a in names}
    seconds = {a: np.zeros(len(grid)) for a in names}
    keep = torch.nonzero(clean).flatten()  # the clean-correct images: the only ones attacked
    x_all, y_all, keep_np = images[keep], labels[keep], keep.cpu().numpy()
    bar = tqdm(total=len(grid) * len(names), desc="attack audit", disable=not progress)
    for k, eps in enumerate(grid):
        first_start: Tensor | None = None
        for a in names:
            began = time.perf_counter()
            if eps == 0.0:  # no attack: the clean outcome
                correct[a][k] = clean.cpu().numpy()
                bar.update(1)
                continue
            if a in ("pgd", "pgd_restarts"):
                first_start = first_start if first_start is not None else _pgd_outcome(
                    model, x_all, y_all, eps, budget, 1, torch.Generator(images.device).manual_seed(budget.seed),
                    batch_size)
                ok = first_start.clone()
                if a == "pgd_restarts":
                    alive = torch.nonzero(ok).flatten()
                    ok[alive] = _pgd_outcome(model, x_all[alive], y_all[alive], eps, budget, restarts - 1,
                                             torch.Generator(images.device).manual_seed(budget.seed + 1), batch_size)
            else:
                ok = _registry_outcome(a, model, x_all, y_all, eps, budget, batch_size)
            correct[a][k][keep_np] = ok.cpu().numpy()
            seconds[a][k] = time.perf_counter() - began
            bar.update(1)
    bar.close()
    return correct, seconds


def _budget(pgd_steps: int, pgd_step_size: float, apgd_steps: int, apgd_t_targets: int, square_queries: int,
            seed: int) -> Budget:
    """The audit's :class:`onen.attacks.Budget`, each count checked (APGD-T's targets capped later by the model's
    classes)."""
    if not math.isfinite(pgd_step_size) or pgd_step_size <= 0:
        raise ValueError(f"pgd_step_size must be finite and > 0, got {pgd_step_size}")
    return Budget(steps=_positive_int("pgd_steps", pgd_steps), step_size=pgd_step_size,
                  apgd_steps=_positive_int("apgd_steps", apgd_steps),
                  targets=_positive_int("apgd_t_targets", apgd_t_targets),
                  square_queries=_positive_int("square_queries", square_queries), seed=seed)


def _check_image_attacks(names: Sequence[str], images: Tensor) -> None:
    """APGD and Square need image-shaped inputs (Square square ones) and torchattacks: fail before any attack."""
    if not any(a in names for a in ("apgd_ce", "apgd_t", "square")):
        return
    shape = image_shape(images.shape[1:])
    if "square" in names and shape[1] != shape[2]:
        raise ValueError(f"Square needs square images (H == W), got [C, H, W] = {list(shape)}")
    torchattacks_module()


def _with_targets(budget: Budget, model: nn.Module, images: Tensor, names: Sequence[str]) -> Budget:
    """``budget`` with APGD-T's targets capped at the model's wrong classes (APGD-T's DLR loss needs 4 classes)."""
    with torch.no_grad():
        n_classes = int(model(images[:1]).shape[1])
    if "apgd_t" in names and n_classes < 4:
        raise ValueError(f"APGD-T's targeted DLR loss needs at least 4 classes, the model has {n_classes}")
    return dataclasses.replace(budget, targets=min(budget.targets, n_classes - 1))


def _curves(grid: Sequence[float], clean: np.ndarray, correct: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The audit's arrays: eps, the clean outcome, each attack's accuracy and per-image outcomes, and the worst case."""
    result: dict[str, np.ndarray] = {"eps": np.asarray(grid, dtype=np.float64), "correct_clean": clean}
    worst = np.logical_and.reduce(list(correct.values()))
    for a, outcome in correct.items():
        result[a] = outcome.mean(axis=1)
        result[f"correct_{a}"] = outcome
    result["worst"] = worst.mean(axis=1)
    result["correct_worst"] = worst
    return result


def _registry_outcome(name: str, model: nn.Module, x: Tensor, y: Tensor, eps: float, budget: Budget,
                      batch_size: int) -> Tensor:
    """Boolean [N]: still classified correctly under :data:`onen.attacks.REGISTRY`'s ``name``, batch by batch (each
    batch one call, reseeded), every adversarial batch checked against the threat model."""
    ok = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = REGISTRY[name](model, xb, yb, eps, budget, None)
        _check_adversarial(x_adv, xb, eps, name)
        ok[i:i + batch_size] = _predict_correct(model, x_adv, yb, batch_size)
    return ok


def _pgd_outcome(model: nn.Module, x: Tensor, y: Tensor, eps: float, budget: Budget, starts: int,
                 generator: torch.Generator, batch_size: int) -> Tensor:
    """Boolean [N]: still classified correctly after each of ``starts`` single-start runs of
    :func:`onen.attacks.pgd`, run r only on the images that runs 1..r-1 left standing; in batches of ``batch_size``,
    the random starts drawn from ``generator`` batch after batch, run after run. ``starts`` = 0 gives all True."""
    ok = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(starts):
        alive = torch.nonzero(ok).flatten()
        if alive.numel() == 0:
            break
        for i in range(0, alive.numel(), batch_size):
            rows = alive[i:i + batch_size]
            x_adv = REGISTRY["pgd"](model, x[rows], y[rows], eps, dataclasses.replace(budget, restarts=1), generator)
            _check_adversarial(x_adv, x[rows], eps, "pgd")
            ok[rows] = _predict_correct(model, x_adv, y[rows], batch_size)
    return ok


def transfer_curve(
    source_model: nn.Module,
    target_model: nn.Module,
    images: Tensor,
    labels: Tensor,
    eps_grid: Sequence[float],
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pgd_steps: int = DEFAULT_PGD_STEPS,
    pgd_step_size: float = DEFAULT_PGD_STEP_SIZE,
    restarts: int = 1,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Accuracy of ``target_model`` on PGD examples crafted on ``source_model`` (a black-box transfer attack).

    The examples are :func:`onen.attacks.pgd` on the source (``restarts`` starts, the one with the highest source
    cross-entropy kept), crafted for the images the target classifies correctly clean (an image the target gets
    wrong counts as lost, as in :func:`audit_curves`). Both models are used in eval mode and handed back in their
    own modes. If a transfer attack beats the target's own white-box attacks, the target's gradients are the
    problem, not its decision boundary.

    Returns ``"eps"`` [n_eps], ``"correct_clean"`` [N] bool (target, clean), ``"transfer"`` [n_eps] accuracy and
    ``"correct_transfer"`` [n_eps, N] bool.
    """
    grid = _check_eps_grid(eps_grid)
    _check_data(images, labels)
    batch_size = _positive_int("batch_size", batch_size)
    pgd_steps = _positive_int("pgd_steps", pgd_steps)
    restarts = _positive_int("restarts", restarts)
    if not math.isfinite(pgd_step_size) or pgd_step_size <= 0:
        raise ValueError(f"pgd_step_size must be finite and > 0, got {pgd_step_size}")
    device = images.device
    images, labels = images.detach(), labels.detach()
    n = images.shape[0]
    correct = np.zeros((len(grid), n), dtype=bool)
    with eval_mode(source_model), eval_mode(target_model):
        clean = _predict_correct(target_model, images, labels, batch_size)
        keep = torch.nonzero(clean).flatten()
        x_all, y_all = images[keep], labels[keep]
        keep_np = keep.cpu().numpy()
        for k, eps in enumerate(tqdm(grid, desc="transfer", disable=not progress)):
            if eps == 0.0:
                correct[k] = clean.cpu().numpy()
                continue
            generator = torch.Generator(device=device).manual_seed(int(seed))
            ok = torch.zeros(x_all.shape[0], dtype=torch.bool, device=device)
            for i in range(0, x_all.shape[0], batch_size):
                xb, yb = x_all[i:i + batch_size], y_all[i:i + batch_size]
                x_adv = pgd(source_model, xb, yb, eps, steps=pgd_steps, step_size=pgd_step_size, restarts=restarts,
                            generator=generator)
                _check_adversarial(x_adv, xb, eps, "transfer")
                ok[i:i + batch_size] = _predict_correct(target_model, x_adv, yb, batch_size)
            correct[k, keep_np] = ok.cpu().numpy()
    return {"eps": np.asarray(grid, dtype=np.float64), "correct_clean": clean.cpu().numpy(),
            "transfer": correct.mean(axis=1), "correct_transfer": correct}


# ----------------------------------------------------------------------------------------------------------------
# configuration and the cached run


@dataclass(frozen=True)
class AuditConfig:
    """How a trained network is audited (validated at construction; JSON-able through :meth:`to_dict`).

    eps: strictly ascending L-infinity radii in [0, 1]. n_images: test images audited (the first ``n_images`` of
    the test split's fixed random permutation, :meth:`onen.data.Split.subset` with seed 0, as the evaluation's
    ``test_subset``). attacks: a subset of :data:`ATTACKS`. seed: of every random draw. The other fields are
    :func:`audit_curves`' arguments; ``transfer_*`` are those of the transfer attack run when :func:`audit_run` is
    given a source network.
    """

    eps: tuple[float, ...] = DEFAULT_EPS
    n_images: int = 1000
    attacks: tuple[str, ...] = ATTACKS
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    pgd_steps: int = DEFAULT_PGD_STEPS
    pgd_step_size: float = DEFAULT_PGD_STEP_SIZE
    restarts: int = DEFAULT_RESTARTS
    apgd_steps: int = DEFAULT_APGD_STEPS
    apgd_t_targets: int = DEFAULT_APGD_T_TARGETS
    square_queries: int = DEFAULT_SQUARE_QUERIES
    transfer_restarts: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", _check_eps_grid(self.eps, "eps"))
        object.__setattr__(self, "attacks", _check_attacks(self.attacks))
        for name in ("n_images", "batch_size", "pgd_steps", "restarts", "apgd_steps", "apgd_t_targets",
                     "square_queries", "transfer_restarts"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        object.__setattr__(self, "seed", _positive_int("seed", self.seed, smallest=0))
        step = self.pgd_step_size
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0:
            raise ValueError(f"pgd_step_size must be a finite number > 0, got {step!r}")
        object.__setattr__(self, "pgd_step_size", float(step))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples as lists), the audit's half of the cache key."""
        d = dataclasses.asdict(self)
        d["eps"], d["attacks"] = list(self.eps), list(self.attacks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AuditConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "eps": tuple(d["eps"]), "attacks": tuple(d["attacks"])})

    def curve_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`audit_curves` for this configuration."""
        return {"attacks": self.attacks, "seed": self.seed, "batch_size": self.batch_size,
                "pgd_steps": self.pgd_steps, "pgd_step_size": self.pgd_step_size, "restarts": self.restarts,
                "apgd_steps": self.apgd_steps, "apgd_t_targets": self.apgd_t_targets,
                "square_queries": self.square_queries}


def _audit_key(config: TrainConfig, audit: AuditConfig, source: TrainConfig | None) -> dict[str, Any]:
    key: dict[str, Any] = {"train": config.to_dict(), "audit": audit.to_dict()}
    if source is not None:
        key["worst_includes_transfer"] = True  # results stored before the ensemble took the transfer attack in
        key["transfer_source"] = source.to_dict()
    return key


def stored_audit(config: TrainConfig, audit: AuditConfig, results_dir: str, *,
                 transfer_source: TrainConfig | None = None) -> CachedResult | None:
    """What :func:`audit_run` stored for these arguments under ``results_dir``, or None; never trains or attacks."""
    if not isinstance(audit, AuditConfig):
        raise TypeError(f"audit must be an AuditConfig, got {type(audit).__name__}")
    source = None if transfer_source is None or transfer_source.to_dict() == config.to_dict() else transfer_source
    return lookup("audit", _audit_key(config, audit, source), results_dir)


def audit_run(config: TrainConfig, audit: AuditConfig, results_dir: str, device: str | torch.device = "auto", *,
              transfer_source: TrainConfig | None = None, progress: bool | None = None,
              refresh: bool = False) -> CachedResult:
    """Audit the network ``config`` trains, cached under ``results_dir/audit`` by (train config, audit config[,
    transfer source's train config]).

    The network comes from :func:`onen.runs.experiments.train_resumable`: a finished checkpoint is loaded, anything
    else is trained (or, under ``ONEN_CACHE_ONLY=1``, :class:`onen.runs.experiments.NotCached` is raised). The audited
    images are ``audit.n_images`` of the test split (:meth:`onen.data.Split.subset`, seed 0). With
    ``transfer_source``, that network is obtained the same way and PGD examples crafted on it are tried on this one
    (:func:`transfer_curve`, keys ``"transfer"`` and ``"correct_transfer"``).

    Arrays: everything :func:`audit_curves` returns (and the transfer keys), plus ``"image_index"`` [N] (positions
    in the test split of the audited images) and ``"labels"`` [N]. Meta: ``"flags"`` and ``"reasons"`` of
    :func:`masking_flags`, ``"clean_accuracy"`` (on the audited images), ``"seconds"`` (per attack, summed over
    eps) and ``"n_images"``. ``progress`` None: bars only in a terminal.
    """

    if not isinstance(audit, AuditConfig):
        raise TypeError(f"audit must be an AuditConfig, got {type(audit).__name__}")
    dev = experiments.resolve_device(device)
    progress = experiments.interactive() if progress is None else progress
    source = None if transfer_source is None or transfer_source.to_dict() == config.to_dict() else transfer_source

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        model, _, test_split = experiments.train_resumable(config, dev, progress, results_dir)
        subset = test_split.subset(audit.n_images, seed=0)
        positions = torch.arange(len(test_split))  # the same subset of positions, through the same code
        order = Split(positions, positions).subset(audit.n_images, seed=0).labels
        timings: dict[str, np.ndarray] = {}
        arrays = audit_curves(model, subset.images, subset.labels, audit.eps, progress=progress, timings=timings,
                              **audit.curve_kwargs())
        if source is not None:
            source_model, _, _ = experiments.train_resumable(source, dev, progress, results_dir)
            began = time.perf_counter()
            transfer = transfer_curve(source_model, model, subset.images, subset.labels, audit.eps, seed=audit.seed,
                                      batch_size=audit.batch_size, pgd_steps=audit.pgd_steps,
                                      pgd_step_size=audit.pgd_step_size, restarts=audit.transfer_restarts,
                                      progress=progress)
            timings["transfer"] = np.array([time.perf_counter() - began])
            arrays.update(transfer=transfer["transfer"], correct_transfer=transfer["correct_transfer"])
            # the ensemble counts an image as robust only if every attack run failed, the transfer attack included
            arrays["correct_worst"] = arrays["correct_worst"] & transfer["correct_transfer"]
            arrays["worst"] = arrays["correct_worst"].mean(axis=1)
        arrays["image_index"] = order.numpy().astype(np.int64)
        arrays["labels"] = subset.labels.cpu().numpy().astype(np.int64)
        flags = masking_flags(arrays, int(subset.labels.shape[0]))
        meta = {"flags": dict(flags), "reasons": flags.reasons,
                "clean_accuracy": float(arrays["correct_clean"].mean()),
                "seconds": {a: float(np.sum(s)) for a, s in timings.items()},
                "n_images": int(subset.labels.shape[0])}
        return arrays, meta

    return cached("audit", _audit_key(config, audit, source), compute, results_dir, seed=audit.seed,
                  device=str(dev), refresh=refresh)
