"""The two profiles of the book and the networks each chapter trains, built from the settings records of
:mod:`onen.analysis.settings` (what each profile trains, with the reasons for each value).

Normalising layers: a whitened network always has its running statistics recomputed after training
(``recalibrate``, :func:`onen.runs.training.recalibrate`), so its whitened layer is white for the final weights; in the
quick profile BatchNorm's are too, since a few dozen steps at momentum 0.1 leave them averaging earlier weights. The
paper profile's BatchNorm nets keep the running statistics they trained with, as the paper's did.

Per-image PGD outcomes (``EvalConfig.store_outcomes``), which let the verdicts resample the test images, are stored in
both profiles.

The accessors (:func:`regularizer_settings`, :func:`background_settings`, :func:`cifar_settings`,
:func:`baseline_settings`, :func:`profile_settings`) return the records themselves: they are frozen, so no copy is
needed.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from onen.analysis.names import BookName
from onen.analysis.settings import (BACKGROUND_SETTINGS, BASELINE_METHODS, BASELINE_SETTINGS, CIFAR_SETTINGS,
                                    PROFILES, REGULARIZER_SETTINGS, BackgroundSettings, BaselineSettings,
                                    CifarSettings, Profile, RegularizerSettings, Training)
from onen.runs import search
from onen.runs.config import EvalConfig
from onen.models import CNN_WIDTHS
from onen.runs.training import TrainConfig
from onen.runs.training import resolve_device
from onen.runs.calibration_run import CalibrationConfig
from onen.robustness.audit import AuditConfig
from onen.robustness.mnist_c_eval import CorruptionConfig
from onen.cifar import default_source
from onen.robustness.cifar_c import CifarCorruptionConfig


def _check(profile: str) -> Profile:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    return PROFILES[profile]


def profile_settings(profile: str) -> Profile:
    """The :class:`~onen.analysis.settings.Profile` record of ``profile`` (ValueError naming the valid profiles for
    an unknown one)."""
    return _check(profile)


def results_dir_for(profile: str, results_dir: str | None) -> str:
    """A chapter's results folder: ``results_dir`` as given, or "results/<profile>" when it is None."""
    _check(profile)
    return f"results/{profile}" if results_dir is None else str(results_dir)


@dataclasses.dataclass(frozen=True)
class ChapterSetup:
    """What every chapter derives from its papermill parameters (:func:`chapter_setup`).

    profile: the profile's name; results_dir: absolute path of the results folder; seeds: the seeds to load or train;
    device: the device as asked for ("auto", "cpu", "cuda", ...), checked, for :func:`onen.runs.experiments.run_seeds`;
    torch_device: the same resolved to a :class:`torch.device`; evaluation: the profile's :func:`evaluation`.
    """

    profile: str
    results_dir: str
    seeds: list[int]
    device: str
    torch_device: torch.device
    evaluation: EvalConfig


def repository_root() -> Path:
    """The checkout this package lives in (the folder holding ``onen/`` and ``results/``)."""
    return Path(__file__).resolve().parents[2]


def chapter_setup(profile: str, results_dir: str | os.PathLike | None = None, seeds: Sequence[int] | None = None,
                  device: str = "auto", default_seeds: Sequence[int] | None = None) -> ChapterSetup:
    """The set-up of a chapter from its parameters cell (``profile``, ``results_dir``, ``seeds``, ``device``).

    ``results_dir`` None is ``results/<profile>`` of the repository (:func:`repository_root`); a relative path is
    taken relative to the working directory; either way the returned path is absolute. ``seeds`` None is
    ``default_seeds`` if given (the regularizer chapters' own list), else the profile's :func:`seeds`. Raises
    ValueError for an unknown profile (naming the valid ones), seeds that are not distinct non-negative integers, or
    a device that :func:`onen.runs.training.resolve_device` refuses.
    """

    _check(profile)
    if results_dir is None:
        folder = repository_root() / "results" / profile
    elif isinstance(results_dir, (str, os.PathLike)) and str(results_dir):
        folder = Path(results_dir).resolve()
    else:
        raise ValueError(f"results_dir must be None or a non-empty path, got {results_dir!r}")
    chosen = (seeds if seeds is not None else default_seeds if default_seeds is not None else
              _check(profile).seeds)
    if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence):
        raise ValueError(f"seeds must be None or a list of integers, got {chosen!r}")
    if (not chosen or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in chosen)
            or len(set(chosen)) != len(chosen)):
        raise ValueError(f"seeds must be a non-empty list of distinct non-negative integers, got {chosen!r}")
    if not isinstance(device, str):
        raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    return ChapterSetup(profile=profile, results_dir=str(folder), seeds=[int(s) for s in chosen], device=device,
                        torch_device=resolve_device(device), evaluation=evaluation(profile))


def committed_results(profile: str) -> Path:
    """The results folder of ``profile`` that ships with the book (``results/<profile>`` beside this package); the
    paper-profile networks committed there are what the chapters show at the paper's scale."""
    _check(profile)
    return repository_root() / "results" / profile


def seeds(profile: str) -> list[int]:
    return list(_check(profile).seeds)


def evaluation(profile: str) -> EvalConfig:
    return _check(profile).evaluation.config()


def _normalised(profile: str, config: TrainConfig) -> TrainConfig:
    """``config`` with ``recalibrate`` set where the profile asks for it (see the module's docstring)."""
    if (config.whiten_after is not None or config.shape_after is not None
            or (config.batchnorm and _check(profile).recalibrate_batchnorm)):
        return dataclasses.replace(config, recalibrate=True)
    return config


def shallow(profile: str, **overrides: Any) -> TrainConfig:
    """784-2000-10 tanh net of section 4.1, 784-1000-10 in the quick profile (overrides: batchnorm, whiten_after,
    regularizer, beta, ...)."""
    return _normalised(profile, TrainConfig(arch="mlp", **{**_check(profile).shallow.config_fields(), **overrides}))


def deep(arch: str, profile: str, **overrides: Any) -> TrainConfig:
    """MLP 3x1000 or the CNN of sections 4.2-4.3, tanh."""
    if arch not in ("mlp", "cnn"):
        raise ValueError(f"arch must be 'mlp' or 'cnn', got {arch!r}")
    widths = [1000, 1000, 1000] if arch == "mlp" else list(CNN_WIDTHS)
    training: Training = getattr(_check(profile), arch)
    return _normalised(profile, TrainConfig(arch=arch, widths=widths, **{**training.config_fields(), **overrides}))


TRACKED: Mapping[str, Any] = MappingProxyType(dict(basis="tracked", track_every=1, track_momentum=0.5))


def shallow_variants(profile: str) -> dict[str, TrainConfig]:
    """Section 4.1: Vanilla, Vanilla with BatchNorm, Whitened, SpecReg at beta 1, 2, 5 with the paper's
    once-per-epoch eigenbasis and with the tracked one, SpecReg-BN (beta 1, the paper's basis) to pair with
    Vanilla-BN, and the pair at the search's point closest to 1/n (the profile's ``nearest``: its learning rate,
    beta and epochs), Vanilla and the tracked basis: "Vanilla lr=1e-02" and "SpecReg β=20 tracked lr=1e-02"."""
    point = _check(profile).nearest
    near = dict(lr=point.lr, **({} if point.epochs is None else {"epochs": point.epochs}))
    beta = float(point.beta)
    vanilla, specreg = nearest_pair(profile)
    return {
        "Vanilla": shallow(profile),
        "Vanilla-BN": shallow(profile, batchnorm=True),
        "SpecReg-BN β=1": shallow(profile, batchnorm=True, regularizer="spectral", beta=1.0),
        "Whitened": shallow(profile, whiten_after=0),
        **{f"SpecReg β={b:g}": shallow(profile, regularizer="spectral", beta=float(b)) for b in (1, 2, 5)},
        **{f"SpecReg β={b:g} tracked": shallow(profile, regularizer="spectral", beta=float(b), **TRACKED)
           for b in (1, 2, 5)},
        vanilla: shallow(profile, **near),
        specreg: shallow(profile, regularizer="spectral", beta=beta, **near, **TRACKED),
    }


def nearest_pair(profile: str) -> tuple[str, str]:
    """Display names in :func:`shallow_variants` of the pair at the search's point closest to 1/n: (its Vanilla, its
    SpecReg), e.g. ("Vanilla lr=1e-02", "SpecReg β=20 tracked lr=1e-02")."""
    near = _check(profile).nearest
    at = f"lr={near.lr:.0e}"
    return f"Vanilla {at}", f"SpecReg β={float(near.beta):g} tracked {at}"


def shallow_claims(profile: str) -> list[tuple[str, str, int]]:
    """Section 4.1's claims as contrasts of :func:`shallow_variants`: (treated, reference, the paper's sign of the
    treated network's PGD eps50 minus the reference's). A 1/n layer helps, with the paper's basis and the tracked
    one, with and without BatchNorm and at the point closest to 1/n; whitening hurts."""
    near_vanilla, near = nearest_pair(profile)
    spectral = [(f"SpecReg β={beta}{basis}", "Vanilla", +1) for basis in ("", " tracked") for beta in (1, 2, 5)]
    return [*spectral, ("SpecReg-BN β=1", "Vanilla-BN", +1), ("Whitened", "Vanilla", -1), (near, near_vanilla, +1)]


# Whitening goes after the second of three hidden blocks: an intermediate layer, below the regularized last one.
WHITEN_BLOCK = 1


def deep_betas(profile: str) -> list[float]:
    """The penalty weights of sections 4.2-4.3: the paper's {1, 2, 5}; 1 alone in the quick profile."""
    return [float(b) for b in _check(profile).deep_betas]


def beta_name(family: str, beta: float) -> str:
    """Display name of a spectral variant at one weight, e.g. "SpecReg (last) β=2"."""
    return f"{family} β={beta:g}"


def last_layer_variants(arch: str, profile: str) -> dict[str, TrainConfig]:
    """Section 4.2: Vanilla, Vanilla-Wh, SpecReg on the last hidden layer and SpecReg-Wh, at each of the profile's
    :func:`deep_betas`."""
    spec = dict(regularizer="spectral", spectral_layers="last")
    betas = deep_betas(profile)
    return {
        "Vanilla": deep(arch, profile),
        "Vanilla-Wh": deep(arch, profile, whiten_after=WHITEN_BLOCK),
        **{beta_name("SpecReg (last)", b): deep(arch, profile, beta=b, **spec) for b in betas},
        **{beta_name("SpecReg-Wh (last)", b): deep(arch, profile, whiten_after=WHITEN_BLOCK, beta=b, **spec)
           for b in betas},
    }


def all_layer_variants(arch: str, profile: str) -> dict[str, TrainConfig]:
    """Section 4.3: Vanilla, SpecReg on every hidden layer (each of the profile's :func:`deep_betas`), Jacobian
    regularization, and BatchNorm for its spectra."""
    return {
        "Vanilla": deep(arch, profile),
        "Vanilla-BN": deep(arch, profile, batchnorm=True),
        **{beta_name("SpecReg (all)", b): deep(arch, profile, regularizer="spectral", spectral_layers="all", beta=b)
           for b in deep_betas(profile)},
        "Jacobian": deep(arch, profile, regularizer="jacobian", jacobian_weight=0.01),
    }


def search_grid(profile: str) -> tuple[dict[str, TrainConfig], int | None]:
    """The search for the 1/n point (:mod:`onen.runs.search`): every (learning rate, beta) network by display name
    ("lr=1e-02 β=20", "lr=1e-02 Vanilla"), and the number of test images its spectrum is scored on (None: all)."""
    settings = _check(profile).search
    base = TrainConfig(arch="mlp", activation="tanh", tau=10, alpha=1.0, seed=seeds(profile)[0],
                       **settings.train.config_fields())
    points = search.grid(base, settings.betas, settings.lrs, settings.epochs, TRACKED)
    names = {(lr, beta): f"lr={lr:.0e} " + ("Vanilla" if beta == 0 else f"β={beta:g}") for lr, beta in points}
    return {names[k]: config for k, config in points.items()}, settings.spectrum_images


def search_longer(profile: str) -> dict[str, TrainConfig]:
    """Points of the search trained for longer than its grid, by display name ("lr=1e-02 β=20, 100 epochs", with
    ", seed 1" where the point names a seed of its own): the grid's configuration at that (learning rate, beta) with
    more epochs and, where given, another seed. Empty where the profile has none."""
    grid, _ = search_grid(profile)
    points = {}
    for point in _check(profile).search.longer:
        name = f"lr={point.lr:.0e} β={point.beta:g}"
        if name not in grid or not point.epochs > grid[name].epochs:
            raise ValueError(f"a longer search point must extend a point of the grid with more epochs, got {point}")
        seed = point.seed
        full = f"{name}, {point.epochs} epochs" + ("" if seed is None else f", seed {seed}")
        try:  # TrainConfig validates the seed
            config = dataclasses.replace(grid[name], epochs=int(point.epochs),
                                         seed=grid[name].seed if seed is None else seed)
        except (TypeError, ValueError) as err:
            raise ValueError(f"a longer search point is not a valid configuration, got {point}: {err}") from None
        if config in points.values():
            raise ValueError(f"the longer search point {full!r} is listed twice")
        points[full] = config
    return points


def shaped_name(alpha: float) -> str:
    """Display name of the shaped shallow network at exponent ``alpha``, e.g. "Shaped α=1.5"."""
    return f"Shaped α={float(alpha):g}"


def frontier_name(epochs: int) -> str:
    """Display name of Vanilla stopped after ``epochs`` epochs, e.g. "Vanilla, 4 epochs"."""
    return f"Vanilla, {epochs} epoch{'s' if epochs != 1 else ''}"


FRONTIER_ARCHS = ("shallow", "mlp", "cnn", "cifar")


def frontier_variants(arch: str, profile: str) -> dict[str, TrainConfig]:
    """Vanilla of ``arch`` ("shallow", "mlp", "cnn" or "cifar": the CIFAR-10 CNN of :func:`cifar_variants`) stopped
    after each of the profile's frontier epochs, by :func:`frontier_name`: its accuracy-robustness frontier, whose last
    point is the full-length Vanilla. Otherwise Vanilla's configuration unchanged."""
    if arch not in FRONTIER_ARCHS:
        raise ValueError(f"arch must be one of {FRONTIER_ARCHS}, got {arch!r}")
    if arch == "shallow":
        return {frontier_name(e): shallow(profile, epochs=int(e)) for e in _check(profile).control.frontier_epochs}
    if arch == "cifar":
        vanilla = cifar_variants(profile)["Vanilla"]
        return {frontier_name(e): dataclasses.replace(vanilla, epochs=int(e))
                for e in cifar_settings(profile).frontier_epochs}
    return {frontier_name(e): deep(arch, profile, epochs=int(e)) for e in _check(profile).deep_frontier_epochs}


def control_variants(profile: str) -> dict[str, TrainConfig]:
    """The control chapter's networks at section 4.1's settings: a :class:`~onen.shaping.SpectrumShaping` layer after
    the hidden tanh at each of the profile's exponents (tau 10, as the penalty's), then Vanilla stopped early at each
    of the profile's ``frontier_epochs`` (its accuracy-robustness frontier; the full-length Vanilla of section 4.1 is
    the frontier's last point)."""
    settings = _check(profile).control
    # the shaped layer replaces the regularizer, so no eigenbasis is refreshed: the training images only serve the
    # history's per-epoch spectra, and 10000 of them (the test set's size) suffice there
    base = _check(profile).shallow
    eigen = min(10000, base.eigen_subset or base.train_subset or 60000)
    shaped = {shaped_name(a): shallow(profile, shape_after=0, shape_alpha=float(a), eigen_subset=eigen)
              for a in settings.alphas}
    return {**shaped, **frontier_variants("shallow", profile)}


def calibration_config(profile: str) -> "CalibrationConfig":
    """The estimator calibration of the profile (:class:`onen.runs.calibration_run.CalibrationConfig`)."""

    return _check(profile).calibration


def control_audit(profile: str) -> "AuditConfig | None":
    """The attack audit of the control chapter's networks (:class:`onen.robustness.audit.AuditConfig`), computed when they are
    trained; None where the profile audits none."""

    return _check(profile).control.audit


def control_evaluation(profile: str) -> EvalConfig:
    """The evaluation of the networks the control chapter audits: the profile's, plus bootstrap spectra over the
    test images (the profile's ``control.spectrum_bootstrap``: 40 draws in the paper profile, 10 in the quick one)
    for the exponents' intervals."""
    return dataclasses.replace(evaluation(profile), spectrum_bootstrap=_check(profile).control.spectrum_bootstrap)


def control_audited(profile: str) -> dict[str, TrainConfig]:
    """The networks whose attack audit is computed when they are trained (their weights do not outlive the machine):
    every shaped network, then section 4.1's Vanilla, Whitened, SpecReg β=5 (per-epoch and tracked basis),
    SpecReg-BN β=1 and the pair at the search's point closest to 1/n."""
    shallow_nets = shallow_variants(profile)
    near_vanilla, near = nearest_pair(profile)
    if _check(profile).control.audit is None:
        return {}
    names = ["Vanilla", "Whitened", "SpecReg β=5", "SpecReg β=5 tracked", "SpecReg-BN β=1", near_vanilla, near]
    shaped = {n: c for n, c in control_variants(profile).items() if c.shape_after is not None}
    return {**shaped, **{n: shallow_nets[n] for n in names}}


CHAPTER_VARIANTS = ("shallow", "deep_last_layer", "deep_all_layers", "control")


def chapter_variants(chapter: str, profile: str) -> dict[str, tuple[TrainConfig, EvalConfig]]:
    """Every network a chapter trains, by display name, with its evaluation."""
    ev = evaluation(profile)
    if chapter == "shallow":
        return {name: (cfg, ev) for name, cfg in shallow_variants(profile).items()}
    if chapter == "control":  # the shaped networks, the frontier, and the section-4.1 networks the audit retrains
        # bootstrap spectra for the shaped networks and for every audited one (retrained for its audit anyway); a
        # profile that audits none (the quick one) keeps the shallow chapter's evaluation for section 4.1's networks
        def evaluated(name: str, cfg: TrainConfig) -> EvalConfig:
            audited = name in control_audited(profile)
            return control_evaluation(profile) if cfg.shape_after is not None or audited else ev
        return {name: (cfg, evaluated(name, cfg))
                for name, cfg in {**control_variants(profile), **control_audited(profile)}.items()}
    if chapter == "deep_last_layer":
        makers = last_layer_variants
    elif chapter == "deep_all_layers":  # with the deep nets' frontier, which the claims are judged against
        def makers(arch: str, profile: str) -> dict[str, TrainConfig]:
            return {**all_layer_variants(arch, profile), **frontier_variants(arch, profile)}
    else:
        raise ValueError(f"chapter must be one of {CHAPTER_VARIANTS}, got {chapter!r}")
    return {f"{arch.upper()} {name}": (cfg, ev) for arch in ("mlp", "cnn") for name, cfg in makers(arch, profile).items()}


def book_networks(profile: str) -> dict[str, TrainConfig]:
    """Every network of sections 4.1-4.3, named "shallow <variant>", "MLP <variant>" or "CNN <variant>" (a network
    that two chapters share appears once)."""
    networks = {f"shallow {name}": config for name, config in shallow_variants(profile).items()}
    for maker in (last_layer_variants, all_layer_variants):  # not the frontier's Vanilla stopped early
        networks.update({f"{arch.upper()} {name}": config for arch in ("mlp", "cnn")
                         for name, config in maker(arch, profile).items()})
    return networks


def corruption_networks(profile: str) -> dict[str, TrainConfig]:
    """Every network the common-corruptions chapter scores: the book networks (:func:`book_networks`), then each
    architecture's Vanilla stopped early (:func:`frontier_variants`), named "shallow Vanilla, 4 epochs",
    "MLP Vanilla, 4 epochs", "CNN Vanilla, 4 epochs"."""
    early = {f"{'shallow' if arch == 'shallow' else arch.upper()} {name}": config
             for arch in ("shallow", "mlp", "cnn") for name, config in frontier_variants(arch, profile).items()}
    return {**book_networks(profile), **early}


def corruption_config(profile: str) -> "CorruptionConfig":
    """The corrupted test images of the common-corruptions chapter: 1000 images at MNIST-C's own severity (3) in the
    quick profile, all 10000 at severities 1-5 in the paper profile."""

    return _check(profile).corruptions


def audit_config(profile: str) -> "AuditConfig":
    """The attack audit's settings (:class:`onen.robustness.audit.AuditConfig`; budgets at the module's defaults)."""

    return _check(profile).audit


def reference_network(name: str, profile: str) -> str:
    """The book network that ``name`` ("shallow ...", "MLP ...", "CNN ...") is contrasted with: the Vanilla of the
    same architecture; Vanilla-BN for a regularized network with BatchNorm; for the pair at the search's point closest
    to 1/n (:func:`nearest_pair`), its own Vanilla, trained at the same learning rate. Raises ValueError for a name
    that is not a book network."""
    networks = book_networks(profile)
    if name not in networks:
        raise ValueError(f"no book network {name!r}")
    family, variant = dataclasses.astuple(BookName.parse(name))
    vanilla, specreg = nearest_pair(profile)
    if family == "shallow" and variant in (vanilla, specreg):
        return f"shallow {vanilla}"
    config = networks[name]
    if config.batchnorm and config.regularizer != "none":
        return f"{family} Vanilla-BN"
    return f"{family} Vanilla"


def transfer_source(name: str, profile: str) -> TrainConfig:
    """The Vanilla network of the same architecture as the book network ``name`` ("shallow ...", "MLP ...",
    "CNN ..."): the source of the audit's transfer attack."""
    return book_networks(profile)[str(BookName.parse(name).sibling("Vanilla"))]


def regularizer_settings(profile: str) -> RegularizerSettings:
    """The settings of the chapters on the regularizer and its eigenbasis
    (:class:`~onen.analysis.settings.RegularizerSettings`): seeds, the small net's training (``train``), attack and
    spectrum images, PGD steps, and the drift, refresh, held-out and batch-size studies."""
    _check(profile)
    return REGULARIZER_SETTINGS[profile]


def background_settings(profile: str) -> BackgroundSettings:
    """The background chapter's sizes (:class:`~onen.analysis.settings.BackgroundSettings`): ``circle_points``,
    ``network_points`` and ``pixel_images`` (images per dataset, None: all)."""
    _check(profile)
    return BACKGROUND_SETTINGS[profile]


def cifar_settings(profile: str) -> CifarSettings:
    """The CIFAR-10 chapter's settings (:class:`~onen.analysis.settings.CifarSettings`): ``seeds``, the CNN's
    training (``train``), ``track_every`` and ``track_momentum`` of the tracked basis, the evaluation, the audit,
    the corruptions and Vanilla's frontier epochs (:func:`frontier_variants` with "cifar")."""
    _check(profile)
    return CIFAR_SETTINGS[profile]


def cifar_variants(profile: str) -> dict[str, TrainConfig]:
    """The CIFAR-10 networks: Vanilla, SpecReg on every block (tracked basis, tau 10, alpha 1, beta 1) and Jacobian
    regularization (weight 0.01), all tanh, Adam with AMSGrad, on the images of :func:`onen.cifar.default_source`."""

    settings = cifar_settings(profile)
    # torchvision's lossless original where it is on disk, the JPEG copy offline (part of each network's key)
    base = dict(arch="cifar_cnn", dataset="cifar10", activation="tanh", cifar_source=default_source(),
                **settings.train.config_fields())
    tracked = dict(TRACKED, track_every=settings.track_every, track_momentum=settings.track_momentum)
    return {
        "Vanilla": TrainConfig(**base),
        "SpecReg (all)": TrainConfig(**base, regularizer="spectral", spectral_layers="all", beta=1.0, tau=10,
                                     alpha=1.0, **tracked),
        "Jacobian": TrainConfig(**base, regularizer="jacobian", jacobian_weight=0.01),
    }


def cifar_evaluation(profile: str) -> EvalConfig:
    """The CIFAR-10 networks' :class:`~onen.runs.config.EvalConfig` (radii k/255)."""
    return cifar_settings(profile).evaluation.config()


def cifar_audit(profile: str) -> "AuditConfig":
    """The CIFAR-10 chapter's attack audit (:class:`onen.robustness.audit.AuditConfig`), at one nonzero radius."""

    return cifar_settings(profile).audit


def cifar_corruption_config(profile: str) -> "CifarCorruptionConfig":
    """The CIFAR-10 chapter's corrupted test images (:class:`onen.robustness.cifar_c.CifarCorruptionConfig`)."""

    return cifar_settings(profile).corruptions


BASELINE_GROUPS = ("shallow", "frontier", "ablations", "depth")


def baseline_settings(profile: str) -> BaselineSettings:
    """The baselines chapter's settings of ``profile`` (:class:`~onen.analysis.settings.BaselineSettings`: ``train``,
    ``frontier_epochs``, ``depth_train``, ``depth_width``, ``depth_seeds``: how many of the profile's seeds the depth
    study trains, ``evaluation``), with the methods' settings that both profiles share (``methods``,
    :data:`~onen.analysis.settings.BASELINE_METHODS`)."""
    _check(profile)
    return BASELINE_SETTINGS[profile]


def baseline_evaluation(profile: str) -> EvalConfig:
    """The baselines chapter's :class:`~onen.runs.config.EvalConfig` (the paper profile's is section 4.1's)."""
    return baseline_settings(profile).evaluation.config()


def ablation_name(change: str = "") -> str:
    """Display name of the ablations' reference, SpecReg with the tracked basis at the ablation beta, or of one of its
    ablations: "SpecReg β=5 tracked", "SpecReg β=5 tracked, τ=0"."""
    base = f"SpecReg β={BASELINE_METHODS.ablation_beta:g} tracked"
    return f"{base}, {change}" if change else base


def depth_name(family: str, depth: int) -> str:
    """Display name of a network of the depth study, e.g. "Vanilla, 3 hidden" or "SpecReg (all), 3 hidden"."""
    return f"{family}, {depth} hidden"


def baseline_variants(profile: str) -> dict[str, dict[str, TrainConfig]]:
    """The baselines chapter's networks by group (:data:`BASELINE_GROUPS`), each by display name:

    - "shallow": Vanilla, Vanilla-BN, spectral normalisation of both layers at each target, SGD with momentum at lr
      0.1, AdamW at each decay, Adam with the authors' L2 decay, the L1 activity penalty, per-image normalisation
      of the input, and PGD adversarial training (eps 0.1, 10 steps);
    - "frontier": Vanilla stopped after each of the ``frontier_epochs`` (its accuracy-robustness frontier);
    - "ablations": SpecReg with the tracked basis at the ablation beta (:func:`ablation_name`), then the same without
      Eq. 2's hinge term, at each other tau and at each other alpha;
    - "depth": Vanilla and SpecReg on every hidden layer (the paper's basis, ``depth_beta``) at each depth, the layers
      ``depth_width`` wide (:func:`depth_name`).
    """
    settings = baseline_settings(profile)

    def net(**overrides: Any) -> TrainConfig:
        return _normalised(profile, TrainConfig(arch="mlp", **{**settings.train.config_fields(), **overrides}))

    def deep_net(depth: int, **overrides: Any) -> TrainConfig:
        return _normalised(profile, TrainConfig(arch="mlp", widths=[settings.depth_width] * depth,
                                                **{**settings.depth_train.config_fields(), **overrides}))

    m = settings.methods
    authors = m.authors_decay
    shallow_group = {
        "Vanilla": net(), "Vanilla-BN": net(batchnorm=True),
        **{f"Spectral norm σ={s:g}": net(spectral_norm=float(s)) for s in m.spectral_norms},
        f"SGD lr={m.sgd_lr:g}": net(optimiser="sgd", lr=m.sgd_lr),
        **{f"AdamW wd={d:g}": net(optimiser="adamw", weight_decay=float(d)) for d in m.adamw_decays},
        f"Adam L2 {authors:g} (authors')": net(weight_decay=float(authors)),
        f"L1 activity {m.activity_l1:g}": net(regularizer="activity", activity_l1=m.activity_l1),
        "Per-image norm": net(per_image_norm=True),
        f"PGD-AT ε={m.adversarial_eps:g}": net(regularizer="adversarial", adversarial_eps=m.adversarial_eps,
                                               adversarial_steps=m.adversarial_steps),
    }
    spectral = dict(regularizer="spectral", beta=m.ablation_beta, **TRACKED)
    ablations = {ablation_name(): net(**spectral), ablation_name("no hinge"): net(**spectral, hinge=False),
                 **{ablation_name(f"τ={t}"): net(**spectral, tau=int(t)) for t in m.taus},
                 **{ablation_name(f"α={a:g}"): net(**spectral, alpha=float(a)) for a in m.alphas}}
    every = dict(regularizer="spectral", spectral_layers="all", beta=m.depth_beta)
    depth = {name: config for d in m.depths
             for name, config in ((depth_name("Vanilla", d), deep_net(d)),
                                  (depth_name("SpecReg (all)", d), deep_net(d, **every)))}
    return {"shallow": shallow_group,
            "frontier": {frontier_name(e): net(epochs=int(e)) for e in settings.frontier_epochs},
            "ablations": ablations, "depth": depth}


def baseline_seeds(profile: str, group: str, seeds: Sequence[int] | None = None) -> list[int]:
    """The seeds a group of :func:`baseline_variants` trains: ``seeds`` (None: the profile's), the depth study only the
    first ``depth_seeds`` of them. Raises ValueError for an unknown group."""
    if group not in BASELINE_GROUPS:
        raise ValueError(f"group must be one of {BASELINE_GROUPS}, got {group!r}")
    chosen = list(_check(profile).seeds if seeds is None else seeds)
    return chosen[:baseline_settings(profile).depth_seeds] if group == "depth" else chosen
