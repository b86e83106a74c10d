"""One training loop for every variant of the paper: vanilla, BatchNorm, whitened, spectral, Jacobian.

A run is described entirely by a :class:`TrainConfig` (JSON-able, so it can key a cache). Optimiser: Adam with the
AMSGrad correction, as in the paper. Data: whole tensors on the device, shuffled by a seeded CPU generator, so the
same seed on the same device gives the same run.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from onen.runs.config import TrainConfig
from onen.data import Split
from onen.features import capture
from onen.models import Classifier
from onen.whiten import Whiten
from onen.regularizers import SpectralRegularizer, select_layers
from onen.spectrum import layer_spectra, summarise
from onen.attacks import accuracy, pgd
from onen.jacobian import jacobian_norm_sq

log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch record of a run. alphas[e][l] is the fitted exponent of block l after epoch e."""

    loss: list[float] = field(default_factory=list)
    cross_entropy: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    alphas: list[list[float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


StepCallback = Callable[[Classifier, SpectralRegularizer | None, int, int], None]


def _eigen_subset(config: TrainConfig, data: Split) -> Tensor:
    """The images [M, ...] of ``data`` (the training subset) that :func:`train` refreshes the eigenbasis from."""
    return data.subset(config.eigen_subset, seed=config.seed + 1).images


def eigen_inputs(config: TrainConfig, train_split: Split) -> Tensor:
    """The images [M, ...] of the full ``train_split`` that :func:`train` refreshes the eigenbasis from for ``config``."""
    return _eigen_subset(config, train_split.subset(config.train_subset, seed=config.seed))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> cuda if available else cpu; anything else is passed to torch.device. An unknown device, or CUDA on a
    machine without it, raises ValueError."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from err
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return resolved


def evaluate_accuracy(model: nn.Module, split: Split, batch_size: int = 2000) -> float:
    """Clean accuracy of ``model`` on ``split``: :func:`onen.attacks.accuracy` of its images and labels."""
    return accuracy(model, split.images, split.labels, batch_size)


@dataclass
class _Penalty:
    """What a penalty needs besides the batch: the config, the spectral regularizer (or None) and the penalty's
    random stream (the Jacobian's projections, adversarial training's PGD starts), saved with checkpoints."""

    config: TrainConfig
    regularizer: SpectralRegularizer | None
    projections: torch.Generator


def _no_penalty(model: nn.Module, x: Tensor, y: Tensor, p: _Penalty) -> tuple[Tensor, Tensor]:
    return model(x), torch.zeros((), device=x.device)


def _spectral_penalty(model: nn.Module, x: Tensor, y: Tensor, p: _Penalty) -> tuple[Tensor, Tensor]:
    """Eq. 2 on the features of the regularized layers, captured in the same forward pass as the logits."""
    assert p.regularizer is not None
    with capture(p.regularizer.layers) as features:
        logits = model(x)
    return logits, p.regularizer.penalty(features)


def _jacobian_penalty(model: nn.Module, x: Tensor, y: Tensor, p: _Penalty) -> tuple[Tensor, Tensor]:
    """Half the weight times the squared Frobenius norm of the input-output Jacobian (random projections)."""
    logits = model(x)
    return logits, 0.5 * p.config.jacobian_weight * jacobian_norm_sq(model, x, p.config.jacobian_projections,
                                                                     generator=p.projections)


def _adversarial_training(model: nn.Module, x: Tensor, y: Tensor, p: _Penalty) -> tuple[Tensor, Tensor]:
    """PGD adversarial training (Madry et al. 2018): the logits of PGD examples of the batch (crafted in eval mode,
    from a random start, ``adversarial_steps`` steps of 2.5 eps / steps), no penalty term."""
    eps, steps = p.config.adversarial_eps, p.config.adversarial_steps
    x_adv = pgd(model, x, y, eps, steps=steps, step_size=2.5 * eps / steps, generator=p.projections)
    return model(x_adv), torch.zeros((), device=x.device)


def _activity_penalty(model: nn.Module, x: Tensor, y: Tensor, p: _Penalty) -> tuple[Tensor, Tensor]:
    """``activity_l1`` times the mean absolute activation of each hidden block, averaged over the blocks."""
    blocks = select_layers(model, "all")
    with capture(blocks) as features:
        logits = model(x)
    return logits, p.config.activity_l1 * torch.stack([h.abs().mean() for h in features]).mean()


# ``TrainConfig.regularizer`` -> (logits, penalty) of a batch
PENALTIES: dict[str, Callable[[nn.Module, Tensor, Tensor, _Penalty], tuple[Tensor, Tensor]]] = {
    "none": _no_penalty, "spectral": _spectral_penalty, "jacobian": _jacobian_penalty,
    "adversarial": _adversarial_training, "activity": _activity_penalty}


@dataclass
class _State:
    """Everything a checkpoint holds besides the config: what :func:`train` resumes from."""

    model: Classifier
    optimiser: torch.optim.Optimizer
    shuffle: torch.Generator
    projections: torch.Generator
    history: History
    epoch: int = 0


def _optimiser(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The paper's Adam with AMSGrad, or AdamW (AMSGrad) or SGD with momentum, at ``config``'s weight decay."""
    if config.optimiser == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    adam = torch.optim.AdamW if config.optimiser == "adamw" else torch.optim.Adam
    return adam(model.parameters(), lr=config.lr, amsgrad=True, weight_decay=config.weight_decay)


def _fresh_state(config: TrainConfig, device: torch.device) -> _State:
    model = config.model().to(device)
    # the Jacobian penalty's random projections get their own stream, saved with checkpoints like the shuffle's
    return _State(model, _optimiser(config, model),
                  torch.Generator().manual_seed(config.seed),
                  torch.Generator(device=device).manual_seed(config.seed + 2), History())


def _resume(state: _State, checkpoint: str | os.PathLike, config: TrainConfig) -> None:
    """Load ``checkpoint`` into ``state``; a clear error if it is unreadable or was written for another config."""
    try:
        # on the CPU: the generators' states must stay CPU tensors; the weights and the optimiser's state are
        # copied to the model's device by load_state_dict
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, OSError, pickle.UnpicklingError) as err:
        raise RuntimeError(f"checkpoint {checkpoint} is unreadable ({type(err).__name__}: {err}); delete it to "
                           "train from the start") from err
    if saved["config"] != config.to_dict():
        stored, wanted = saved["config"], config.to_dict()
        differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ValueError(f"checkpoint {checkpoint} was written for another configuration; fields that differ: "
                         + ", ".join(f"{k} (checkpoint {stored.get(k)!r}, asked {wanted.get(k)!r})" for k in differ))
    state.model.load_state_dict(saved["model"])
    state.optimiser.load_state_dict(saved["optimiser"])
    state.shuffle.set_state(saved["shuffle"])
    state.projections.set_state(saved["projections"])
    state.history = History(**saved["history"])
    state.epoch = saved["epoch"]


def train(config: TrainConfig, train_split: Split, test_split: Split | None = None, *,
          progress: bool = True, checkpoint: str | os.PathLike | None = None,
          after_step: StepCallback | None = None) -> tuple[Classifier, History]:
    """Train a model as ``config`` says on ``train_split`` (already on the target device).

    Args:
        test_split: evaluated after every epoch (clean accuracy), if given.
        progress: show a tqdm bar over epochs with the running loss. Without it, every finished epoch is logged at
            INFO on the "onen.runs.training" logger (loss, seconds, ETA), which ``python -m onen`` prints
            when its output is not a terminal (a background run writing to a log file).
        checkpoint: path of a checkpoint written after every epoch; if it exists, training resumes from it.
        after_step: called as after_step(model, regularizer, epoch, step) after every optimiser step.

    Returns the trained model (eval mode) and its :class:`History`.
    """
    device = train_split.images.device
    torch.manual_seed(config.seed)
    data = train_split.subset(config.train_subset, seed=config.seed)
    eigen_inputs = _eigen_subset(config, data)
    state = _fresh_state(config, device)
    tracked = select_layers(state.model, "all")
    regularizer = None
    if config.regularizer == "spectral":
        regularizer = SpectralRegularizer(state.model, select_layers(state.model, config.spectral_layers),
                                          beta=config.beta, tau=config.tau, alpha=config.alpha,
                                          allow_small_batch=config.allow_small_batch, basis=config.basis,
                                          track_every=config.track_every, track_momentum=config.track_momentum,
                                          hinge=config.hinge)
    if checkpoint is not None and Path(checkpoint).is_file():
        _resume(state, checkpoint, config)
    start_epoch = state.epoch
    if regularizer is not None and config.epochs > start_epoch:
        regularizer.refresh(eigen_inputs)
    penalty = _Penalty(config, regularizer, state.projections)
    bar = tqdm(range(start_epoch, config.epochs), desc=_describe(config), disable=not progress, leave=False)
    for epoch in bar:
        began = time.perf_counter()
        means = _epoch(state, data, penalty, eigen_inputs, epoch, after_step)
        last_epoch = epoch + 1 == config.epochs
        if last_epoch and config.recalibrate:
            recalibrate(state.model, data.images, config.batch_size)
        every_block = last_epoch or (epoch + 1) % config.spectra_every == 0
        spectra = _spectra_and_refresh(state.model, tracked, None if last_epoch else regularizer, eigen_inputs,
                                       every_block)
        _record(state.history, means, state.model, test_split, summarise(spectra, config.fit_ranks), began)
        bar.set_postfix(loss=f"{means[0]:.3f}", acc=f"{state.history.test_accuracy[-1]:.3f}")
        state.epoch = epoch + 1
        if checkpoint is not None:
            _save_checkpoint(checkpoint, state.model, state.optimiser, state.shuffle, state.projections,
                             state.history, epoch + 1, config)
        if not progress:
            _log_epoch(config, state.history, epoch, start_epoch)
    state.model.eval()
    return state.model, state.history


def _epoch(state: _State, data: Split, penalty: _Penalty, eigen_inputs: Tensor, epoch: int,
           after_step: StepCallback | None) -> list[float]:
    """One pass over ``data`` in shuffled batches; returns the means of (loss, cross-entropy, penalty)."""
    config, regularizer, model = penalty.config, penalty.regularizer, state.model
    model.train()
    sums = torch.zeros(3, dtype=torch.float64, device=data.images.device)
    seen = 0
    for step, (x, y) in enumerate(data.batches(config.batch_size, generator=state.shuffle, drop_last=True)):
        if regularizer is not None and config.refresh_every and step > 0 and step % config.refresh_every == 0:
            regularizer.refresh(eigen_inputs)
        logits, pen = PENALTIES[config.regularizer](model, x, y, penalty)
        ce = F.cross_entropy(logits, y)
        loss = ce + pen
        if not torch.isfinite(loss):  # say where it diverged, not an eigensolver failure an epoch later
            raise FloatingPointError(f"{_describe(config)} seed {config.seed}: the loss became {loss.item()} at "
                                     f"epoch {epoch + 1}, step {step + 1} (cross-entropy {ce.item()}, penalty "
                                     f"{pen.item()}); lower the learning rate or beta")
        state.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        state.optimiser.step()
        sums += torch.stack([loss.detach(), ce.detach(), pen.detach()]).double() * x.shape[0]
        seen += x.shape[0]
        if after_step is not None:
            after_step(model, regularizer, epoch, step)
    return (sums / max(seen, 1)).tolist()


def _record(history: History, means: list[float], model: nn.Module, test_split: Split | None,
            alphas: list[float], began: float) -> None:
    """Append one epoch to ``history``: its mean losses, test accuracy, fitted exponents and wall time."""
    history.loss.append(means[0])
    history.cross_entropy.append(means[1])
    history.penalty.append(means[2])
    history.test_accuracy.append(evaluate_accuracy(model, test_split) if test_split is not None else math.nan)
    history.alphas.append(alphas)
    history.seconds.append(time.perf_counter() - began)


def _log_epoch(config: TrainConfig, history: History, epoch: int, start_epoch: int) -> None:
    """One INFO line per finished epoch, with the ETA from this process's epochs (a resumed run's earlier ones ran
    elsewhere)."""
    if not log.isEnabledFor(logging.INFO):
        return
    done = epoch + 1 - start_epoch
    left = (config.epochs - epoch - 1) * sum(history.seconds[-done:]) / done / 60
    accuracy = history.test_accuracy[-1]
    log.info("%s seed %d: epoch %d/%d, loss %.4f (penalty %.4f)%s, %.0f s; ETA %.0f min", _describe(config),
             config.seed, epoch + 1, config.epochs, history.loss[-1], history.penalty[-1],
             "" if math.isnan(accuracy) else f", test accuracy {accuracy:.4f}", history.seconds[-1], left)


def recalibrate(model: nn.Module, images: Tensor, batch_size: int) -> None:
    """Recompute the running statistics of every BatchNorm and :class:`~onen.whiten.Whiten` layer of ``model`` for
    its current weights: reset them, then average the batch statistics of ``images`` (in full batches of
    ``batch_size``, in order, without gradients) cumulatively, as ``torch.optim.swa_utils.update_bn`` does for BatchNorm. Momenta and
    training flags are restored; nothing else changes."""
    norms = [m for m in model.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, Whiten))]
    if not norms:
        return
    if batch_size < 2 or images.shape[0] < 2:
        raise ValueError("recalibrating needs batches of at least 2 images")
    momenta = [m.momentum for m in norms]
    modes = [(m, m.training) for m in model.modules()]
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        with torch.no_grad():  # full batches only (each weighs the same in the average), or all images if fewer
            for start in range(0, max(images.shape[0] - batch_size + 1, 1), batch_size):
                model(images[start:start + batch_size])
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        for m, training in modes:
            m.training = training


def _spectra_and_refresh(model: nn.Module, tracked: list[nn.Module], regularizer: SpectralRegularizer | None,
                         inputs: torch.Tensor, every_block: bool = True) -> list[np.ndarray]:
    """Spectra of every tracked block; the regularized ones come from the refresh that sets the next eigenbasis
    (``regularizer`` None: no refresh, e.g. after the last epoch, where eigenvalues alone are much cheaper). Without
    ``every_block``, the blocks the refresh does not cover get an empty spectrum (a NaN exponent)."""
    by_layer: dict[int, np.ndarray] = {}
    if regularizer is not None:
        by_layer.update(zip(map(id, regularizer.layers), regularizer.refresh(inputs)))
    others = [m for m in tracked if id(m) not in by_layer] if every_block else []
    if others:
        by_layer.update(zip(map(id, others), layer_spectra(model, others, inputs)))
    return [by_layer.get(id(m), np.zeros(0)) for m in tracked]


def _describe(config: TrainConfig) -> str:
    name = f"{config.arch}"
    if config.regularizer == "spectral":
        name += f" spectral(beta={config.beta:g}{', tracked' if config.basis == 'tracked' else ''})"
    elif config.regularizer in ("jacobian", "adversarial"):
        name += f" {config.regularizer}"
    return name


def extend_checkpoint(shorter: str | os.PathLike, longer: str | os.PathLike, config: TrainConfig) -> None:
    """Start ``config``'s checkpoint ``longer`` from the checkpoint ``shorter`` of the same configuration with fewer
    epochs (finished or not), so that :func:`train` resumes it for the remaining epochs instead of starting over.

    Nothing in training depends on the total number of epochs except what happens after the last one, and that is
    only an eigenvalue-only spectrum for the history (where other epochs refresh the basis, which a resumed run
    does anyway) and the BatchNorm recalibration; so a run without ``recalibrate`` extended this way ends with the
    same weights as one trained straight through. Raises ValueError if ``shorter`` is not a run of ``config`` with
    fewer epochs, or ``config`` recalibrates."""
    if config.recalibrate:
        raise ValueError("a run that recalibrates BatchNorm after its last epoch cannot be extended")
    try:
        state = torch.load(shorter, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, OSError, pickle.UnpicklingError) as err:
        raise RuntimeError(f"checkpoint {shorter} is unreadable ({type(err).__name__}); delete it to train the longer "
                           "run from the start") from None
    stored = dict(state["config"])
    epochs = stored.pop("epochs", None)
    wanted = config.to_dict()
    wanted.pop("epochs")
    if stored != wanted or not isinstance(epochs, int) or not state["epoch"] <= epochs < config.epochs:
        raise ValueError(f"{shorter} is not a shorter run of this configuration (it stores epoch {state['epoch']} of "
                         f"{epochs}; asked for {config.epochs} epochs)")
    state["config"] = config.to_dict()
    _write_atomically(longer, state)


def _write_atomically(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """torch.save to a temporary file beside ``path``, then rename it over ``path``: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _save_checkpoint(path: str | os.PathLike, model: nn.Module, optimiser: torch.optim.Optimizer,
                     shuffle: torch.Generator, projections: torch.Generator, history: History, epoch: int,
                     config: TrainConfig) -> None:
    _write_atomically(path, {"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                             "shuffle": shuffle.get_state(), "projections": projections.get_state(),
                             "history": history.to_dict(), "epoch": epoch, "config": config.to_dict()})
