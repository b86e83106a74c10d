"""The two profiles of the book and the networks each chapter trains.

``paper`` uses the hyperparameters of the paper (from the authors' public code): Adam with AMSGrad, pixels in [0, 1],
shallow net lr 1e-3 for 50 epochs at batch 3500; deep nets lr 1e-4 for 100 epochs at batch 1500 (MLP) or 6000 (CNN);
tau = 10, alpha = 1; Jacobian weight 0.01; PGD 40 steps; 3 seeds; the full 10k test set.

``quick`` keeps the same methods but trains briefly on a subset, so the whole book runs on a 2-core CPU in minutes:
fewer epochs, a shallow net of 1000 hidden units instead of 2000 (its whitening and float64 eigendecompositions cost
8 times less, and a batch of 1000 gives twice the steps), a larger learning rate for the deep nets (1e-3: 1e-4 needs
the paper's 100 epochs), fewer test images and eps points, 20 PGD steps, one seed. Batch sizes stay at least as large as the widest regularized
layer, so every batch covariance has full rank.

Normalising layers: a whitened network always has its running statistics recomputed after training
(``recalibrate``, :func:`onen.runs.training.recalibrate`), so its whitened layer is white for the final weights; in the
quick profile BatchNorm's are too, since a few dozen steps at momentum 0.1 leave them averaging earlier weights. The
paper profile's BatchNorm nets keep the running statistics they trained with, as the paper's did.

Per-image PGD outcomes (``EvalConfig.store_outcomes``), which let the verdicts resample the test images, are stored in
both profiles.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from onen.analysis.names import BookName
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

QUICK_EPS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]
PAPER_EPS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "seeds": [0],
        "recalibrate_batchnorm": True,
        "deep_betas": [1],
        "shallow": dict(widths=[1000], lr=1e-3, epochs=4, batch_size=1000, train_subset=20000, eigen_subset=5000),
        "mlp": dict(lr=1e-3, epochs=3, batch_size=1000, train_subset=20000, eigen_subset=5000),
        # the CNN's steps cost most of the quick book: 12 of them, on 12000 images (a batch as wide as its widest
        # layer, 2704, which the per-epoch basis of "SpecReg (all)" needs)
        "cnn": dict(lr=1e-3, epochs=3, batch_size=3000, train_subset=12000, eigen_subset=5000),
        "corruptions": dict(test_subset=1000, severities=(3,)),
        # the attack audit: 100 images (about ±10 points at 50%), a short grid that reaches zero for every net, PGD-3
        # and Square with 100 queries: a check that every attack and flag runs end to end on the 26 networks (about
        # 5 minutes of attacks on one thread); the paper profile's audit, from the committed cache, is the one that
        # decides
        "audit": dict(n_images=100, eps=(0.0, 0.05, 0.1, 0.2, 0.3), restarts=3, square_queries=100),
        # section 4.1's pair at the search's point closest to 1/n (the paper profile's, at this profile's epochs)
        "nearest": dict(lr=1e-2, beta=20.0),
        # the control chapter: shaped layers at these exponents; Vanilla stopped after these epochs traces its
        # accuracy-robustness frontier (with the profile's full-length Vanilla as its last point)
        # three shaped exponents and no audit at this scale: the chapter audits the paper-profile networks
        "control": dict(alphas=[0.5, 1.0, 2.0], frontier_epochs=[1, 2], audit=None),
        # the deep nets' frontier: the MLP and the CNN stopped after these epochs (their full length is 3)
        "deep_frontier_epochs": [1, 2],
        # the estimator's calibration on the quick net's 1000-wide layer at its sizes (500 and 3000 images)
        "calibration": dict(dim=1000, sample_sizes=(3000, 20000), draws=2, coverage_alphas=(1.0,), coverage_draws=4,
                            boots=10),
        # attacks on 300 test images (about ±6 points at 50%): the quick book's evaluations cost it as much as its
        # training, and its numbers show directions, not sizes
        "eval": EvalConfig(test_subset=300, eps_fgsm=QUICK_EPS, eps_pgd=QUICK_EPS,
                           noise_sigmas=[0.0, 0.1, 0.2, 0.4, 0.8], pgd_steps=20, spectrum_subset=3000,
                           store_outcomes=True),
        # the regularizer chapter's small net (784-500-10 on 10000 images), trained longer than its other runs
        "search": dict(train=dict(widths=[500], lr=1e-3, epochs=3, batch_size=500, train_subset=10000,
                                  eigen_subset=3000),
                       betas=[1, 10, 100], lrs=[1e-3, 1e-2], epochs=10, spectrum_images=2000),
    },
    "paper": {
        "seeds": [0, 1, 2],
        "recalibrate_batchnorm": False,
        "deep_betas": [1, 2, 5],
        "shallow": dict(widths=[2000], lr=1e-3, epochs=50, batch_size=3500),
        # the deep nets' training history fits every layer's spectrum every 10 epochs (TrainConfig.spectra_every):
        # over all 60000 images it costs the MLP half an epoch, and the chapters read only the final spectra
        "mlp": dict(lr=1e-4, epochs=100, batch_size=1500, spectra_every=10),
        "corruptions": dict(test_subset=None, severities=(1, 2, 3, 4, 5)),
        # 2500 images: about ±2 points at 50%, as the audit asks
        "audit": dict(n_images=2500, eps=(0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)),
        "cnn": dict(lr=1e-4, epochs=100, batch_size=6000, spectra_every=10),
        # section 4.1's pair at the search's point closest to 1/n: lr 1e-2, beta 20, trained for 100 epochs
        "nearest": dict(lr=1e-2, beta=20.0, epochs=100),
        # the frontier at 1, 4 and 16 epochs (with the 50-epoch Vanilla); the audit of the control networks on 1000
        # test images (about ±3 points at 50%) over a grid that reaches zero for every section-4.1 network
        "control": dict(alphas=[0.5, 1.0, 1.5, 2.0, 3.0], frontier_epochs=[1, 4, 16],
                        audit=dict(n_images=1000, eps=(0.0, 0.05, 0.1, 0.15, 0.2, 0.3))),
        # the deep nets' frontier: the MLP and the CNN stopped after these epochs (their full length is 100)
        "deep_frontier_epochs": [4, 16, 50],
        # the estimator's calibration on a 2000-wide layer at the test set's and the training set's sizes
        "calibration": dict(dim=2000, sample_sizes=(10000, 60000), draws=4, coverage_alphas=(0.5, 1.0, 2.0),
                            coverage_draws=5, boots=12),
        "eval": EvalConfig(test_subset=None, eps_fgsm=PAPER_EPS, eps_pgd=PAPER_EPS,
                           noise_sigmas=[0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0], pgd_steps=40,
                           store_outcomes=True),
        # where does the tracked basis reach 1/n: the paper's shallow net, two learning rates, two weights
        "search": dict(train=dict(widths=[2000], lr=1e-3, epochs=50, batch_size=3500), betas=[5, 20],
                       lrs=[1e-2, 1e-3], epochs=50, spectrum_images=None,
                       # the grid's point closest to 1/n, its penalty still falling at epoch 50: trained on to 100
                       # epochs (from the grid's checkpoint, so it costs only the epochs it adds); then section 4.1's
                       # seed-1 network at that point, at its 100 epochs and continued to 200, so that the pair
                       # differs only in how long it trained (a point without "seed" has the grid's seed)
                       longer=[dict(lr=1e-2, beta=20, epochs=100), dict(lr=1e-2, beta=20, epochs=100, seed=1),
                               dict(lr=1e-2, beta=20, epochs=200, seed=1)]),
    },
}


def _check(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    return PROFILES[profile]


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
              _check(profile)["seeds"])
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
    return list(_check(profile)["seeds"])


def evaluation(profile: str) -> EvalConfig:
    return dataclasses.replace(_check(profile)["eval"])


def _normalised(profile: str, config: TrainConfig) -> TrainConfig:
    """``config`` with ``recalibrate`` set where the profile asks for it (see the module's docstring)."""
    if config.whiten_after is not None or config.shape_after is not None or (config.batchnorm and _check(profile)["recalibrate_batchnorm"]):
        return dataclasses.replace(config, recalibrate=True)
    return config


def shallow(profile: str, **overrides: Any) -> TrainConfig:
    """784-2000-10 tanh net of section 4.1, 784-1000-10 in the quick profile (overrides: batchnorm, whiten_after,
    regularizer, beta, ...)."""
    return _normalised(profile, TrainConfig(arch="mlp", **{**_check(profile)["shallow"], **overrides}))


def deep(arch: str, profile: str, **overrides: Any) -> TrainConfig:
    """MLP 3x1000 or the CNN of sections 4.2-4.3, tanh."""
    if arch not in ("mlp", "cnn"):
        raise ValueError(f"arch must be 'mlp' or 'cnn', got {arch!r}")
    widths = [1000, 1000, 1000] if arch == "mlp" else list(CNN_WIDTHS)
    return _normalised(profile, TrainConfig(arch=arch, widths=widths, **{**_check(profile)[arch], **overrides}))


TRACKED = dict(basis="tracked", track_every=1, track_momentum=0.5)


def shallow_variants(profile: str) -> dict[str, TrainConfig]:
    """Section 4.1: Vanilla, Vanilla with BatchNorm, Whitened, SpecReg at beta 1, 2, 5 with the paper's
    once-per-epoch eigenbasis and with the tracked one, SpecReg-BN (beta 1, the paper's basis) to pair with
    Vanilla-BN, and the pair at the search's point closest to 1/n (the profile's ``nearest``: its learning rate,
    beta and epochs), Vanilla and the tracked basis: "Vanilla lr=1e-02" and "SpecReg β=20 tracked lr=1e-02"."""
    near = dict(_check(profile)["nearest"])
    beta = float(near.pop("beta"))
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
    near = _check(profile)["nearest"]
    at = f"lr={near['lr']:.0e}"
    return f"Vanilla {at}", f"SpecReg β={float(near['beta']):g} tracked {at}"


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
    return [float(b) for b in _check(profile)["deep_betas"]]


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
    settings = _check(profile)["search"]
    base = TrainConfig(arch="mlp", activation="tanh", tau=10, alpha=1.0, seed=seeds(profile)[0], **settings["train"])
    points = search.grid(base, settings["betas"], settings["lrs"], settings["epochs"], TRACKED)
    names = {(lr, beta): f"lr={lr:.0e} " + ("Vanilla" if beta == 0 else f"β={beta:g}") for lr, beta in points}
    return {names[k]: config for k, config in points.items()}, settings["spectrum_images"]


def search_longer(profile: str) -> dict[str, TrainConfig]:
    """Points of the search trained for longer than its grid, by display name ("lr=1e-02 β=20, 100 epochs", with
    ", seed 1" where the point names a seed of its own): the grid's configuration at that (learning rate, beta) with
    more epochs and, where given, another seed. Empty where the profile has none."""
    grid, _ = search_grid(profile)
    points = {}
    for point in _check(profile)["search"].get("longer", []):
        name = f"lr={point['lr']:.0e} β={point['beta']:g}"
        if name not in grid or not point["epochs"] > grid[name].epochs:
            raise ValueError(f"a longer search point must extend a point of the grid with more epochs, got {point}")
        seed = point.get("seed")
        full = f"{name}, {point['epochs']} epochs" + ("" if seed is None else f", seed {seed}")
        try:  # TrainConfig validates the seed
            config = dataclasses.replace(grid[name], epochs=int(point["epochs"]),
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


def frontier_variants(arch: str, profile: str) -> dict[str, TrainConfig]:
    """Vanilla of ``arch`` ("shallow", "mlp" or "cnn") stopped after each of the profile's frontier epochs, by
    :func:`frontier_name`: its accuracy-robustness frontier, whose last point is the full-length Vanilla."""
    if arch == "shallow":
        return {frontier_name(e): shallow(profile, epochs=int(e)) for e in _check(profile)["control"]["frontier_epochs"]}
    return {frontier_name(e): deep(arch, profile, epochs=int(e)) for e in _check(profile)["deep_frontier_epochs"]}


def control_variants(profile: str) -> dict[str, TrainConfig]:
    """The control chapter's networks at section 4.1's settings: a :class:`~onen.shaping.SpectrumShaping` layer after
    the hidden tanh at each of the profile's exponents (tau 10, as the penalty's), then Vanilla stopped early at each
    of the profile's ``frontier_epochs`` (its accuracy-robustness frontier; the full-length Vanilla of section 4.1 is
    the frontier's last point)."""
    settings = _check(profile)["control"]
    # the shaped layer replaces the regularizer, so no eigenbasis is refreshed: the training images only serve the
    # history's per-epoch spectra, and 10000 of them (the test set's size) suffice there
    base = _check(profile)["shallow"]
    eigen = min(10000, base.get("eigen_subset") or base.get("train_subset") or 60000)
    shaped = {shaped_name(a): shallow(profile, shape_after=0, shape_alpha=float(a), eigen_subset=eigen)
              for a in settings["alphas"]}
    return {**shaped, **frontier_variants("shallow", profile)}


def calibration_config(profile: str) -> "CalibrationConfig":
    """The estimator calibration of the profile (:class:`onen.runs.calibration_run.CalibrationConfig`)."""

    return CalibrationConfig(**_check(profile)["calibration"])


def control_audit(profile: str) -> "AuditConfig | None":
    """The attack audit of the control chapter's networks (:class:`onen.robustness.audit.AuditConfig`), computed when they are
    trained; None where the profile audits none."""

    settings = _check(profile)["control"]["audit"]
    return None if settings is None else AuditConfig(**settings)


def control_evaluation(profile: str) -> EvalConfig:
    """The evaluation of the networks the control chapter audits: the profile's, plus bootstrap spectra over the
    test images (40 draws in the paper profile, 10 in the quick one) for the exponents' intervals."""
    return dataclasses.replace(evaluation(profile), spectrum_bootstrap=40 if profile == "paper" else 10)


def control_audited(profile: str) -> dict[str, TrainConfig]:
    """The networks whose attack audit is computed when they are trained (their weights do not outlive the machine):
    every shaped network, then section 4.1's Vanilla, Whitened, SpecReg β=5 (per-epoch and tracked basis),
    SpecReg-BN β=1 and the pair at the search's point closest to 1/n."""
    shallow_nets = shallow_variants(profile)
    near_vanilla, near = nearest_pair(profile)
    if _check(profile)["control"]["audit"] is None:
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
        # bootstrap spectra for the shaped networks, and in the paper profile for every audited one (retrained there
        # for its audit anyway); the quick profile's section-4.1 networks keep the shallow chapter's evaluation
        def evaluated(name: str, cfg: TrainConfig) -> EvalConfig:
            audited = name in control_audited(profile)
            return control_evaluation(profile) if cfg.shape_after is not None or (audited and profile == "paper") \
                else ev
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


def corruption_config(profile: str) -> "CorruptionConfig":
    """The corrupted test images of the common-corruptions chapter: 1000 images at MNIST-C's own severity (3) in the
    quick profile, all 10000 at severities 1-5 in the paper profile."""

    return CorruptionConfig(**_check(profile)["corruptions"])


def audit_config(profile: str) -> "AuditConfig":
    """The attack audit's settings (:class:`onen.robustness.audit.AuditConfig`; budgets at the module's defaults)."""

    return AuditConfig(**_check(profile)["audit"])


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


# The regularizer chapters' small net (784-[width]-10 tanh, Adam with AMSGrad, batch >= width) and their studies.
REGULARIZER_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "seeds": [0],
        "train": dict(widths=[500], lr=1e-3, epochs=3, batch_size=500, train_subset=10000, eigen_subset=3000),
        "attack_images": 300, "pgd_steps": 20, "spectrum_images": 2000, "drift_every": 5,
        "batch_study_draws": 20, "refresh_every": 5, "heldout_images": 5000,
    },
    "paper": {
        "seeds": [0, 1, 2],
        "train": dict(widths=[2000], lr=1e-3, epochs=50, batch_size=3500, train_subset=None, eigen_subset=None),
        "attack_images": None, "pgd_steps": 40, "spectrum_images": None, "drift_every": 4,
        "batch_study_draws": 100, "refresh_every": 5, "heldout_images": 10000,
    },
}

# The background chapter: points on the circle, points through the random networks, images per pixel dataset.
BACKGROUND_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": dict(circle_points=2048, pixel_images={"mnist": 10000, "fashion_mnist": 10000, "cifar10": 5000},
                  network_points=1024),
    "paper": dict(circle_points=4096, pixel_images={"mnist": None, "fashion_mnist": None, "cifar10": None},
                  network_points=4096),
}


def regularizer_settings(profile: str) -> dict[str, Any]:
    """A copy of the settings of the chapters on the regularizer and its eigenbasis: seeds, the small net's training
    (``train``), attack and spectrum images, PGD steps, and the drift, refresh, held-out and batch-size studies."""
    import copy

    _check(profile)
    return copy.deepcopy(REGULARIZER_SETTINGS[profile])


def background_settings(profile: str) -> dict[str, Any]:
    """A copy of the background chapter's sizes: ``circle_points``, ``network_points`` and ``pixel_images`` (images
    per dataset, None: all)."""
    import copy

    _check(profile)
    return copy.deepcopy(BACKGROUND_SETTINGS[profile])


# The CIFAR-10 chapter: the authors' rebuttal CNN (3 blocks of two 3x3 convolutions, tanh, max-pooling) on the JPEG
# copy of CIFAR-10, with radii in units of 1/255 (one grey level), the scale of natural-image attacks.
CIFAR_EPS_STEPS = (0, 1, 2, 4, 8, 16)  # eps = k / 255


def _cifar_eps(steps: tuple[int, ...]) -> list[float]:
    return [k / 255 for k in steps]


CIFAR_SETTINGS: dict[str, dict[str, Any]] = {
    # A smoke-test scale that runs on a 2-core CPU in minutes: an eighth of the channels (4, 8, 16: blocks 1024, 512
    # and 256 wide, so that the tracked basis's eigendecompositions stay cheap), 3000 training images, 3 epochs,
    # attacks on 200 test images with 5 PGD steps, the audit on 100 images at one radius (Square with 50 queries).
    "quick": {
        "seeds": [0],
        "train": dict(channels=[4, 8, 16], lr=1e-3, epochs=3, batch_size=100, train_subset=3000, eigen_subset=1000,
                      fit_ranks=(11, 256)),
        # the basis goes stale quickly at lr 1e-3: recomputed every 10 steps, the penalty drove this network to
        # chance accuracy; every 2 steps it trains as Vanilla does
        "track_every": 2,
        "track_momentum": 0.9,  # the running covariance spans B / (1 - m) = 1000 samples, about block 1's width
        "eval": EvalConfig(test_subset=200, eps_fgsm=_cifar_eps(CIFAR_EPS_STEPS), eps_pgd=_cifar_eps(CIFAR_EPS_STEPS),
                           noise_sigmas=[0.0, 0.02, 0.05, 0.1, 0.2], pgd_steps=5, spectrum_subset=1500,
                           sensitivity_indices=[0, 1, 2, 3], batch_size=200, store_outcomes=True),
        "audit": dict(n_images=100, eps=(0.0, 4 / 255), pgd_steps=10, pgd_step_size=1 / 255, restarts=2,
                      apgd_steps=10, square_queries=50, batch_size=100),
        "corruptions": dict(test_subset=1000, severities=(1, 3, 5)),
    },
    # The authors' network (32, 64, 128 channels) on all 50000 training images, Adam (AMSGrad), 3 seeds, at the
    # authors' deep-network rate 1e-4 for 100 epochs. Batch 500: block 1 is 8192 wide, wider than any batch that fits a
    # GPU with the spectral penalty's [B, 8192] x [8192, 8192] product, so the penalty uses the tracked basis, which
    # serves batches narrower than the layer. A float64 eigendecomposition of 8192 x 8192 takes seconds even on a GPU,
    # so the basis is recomputed every 10 steps rather than every step; at lr 1e-4 the weights move about as far in 10
    # steps as they do in one at the quick profile's 1e-3, where a basis recomputed every step keeps the penalty stable
    # and one recomputed every 10 steps goes stale enough for the penalty to drive the network to chance.
    "paper": {
        "seeds": [0, 1, 2],
        "train": dict(channels=[32, 64, 128], lr=1e-4, epochs=100, batch_size=500, train_subset=None,
                      eigen_subset=10000, fit_ranks=(11, 500), spectra_every=10),
        "track_every": 10,
        "track_momentum": 0.95,  # the running covariance spans B / (1 - m) = 10000 samples, more than block 1's 8192
        "eval": EvalConfig(test_subset=None, eps_fgsm=_cifar_eps(CIFAR_EPS_STEPS), eps_pgd=_cifar_eps(CIFAR_EPS_STEPS),
                           noise_sigmas=[0.0, 0.02, 0.05, 0.1, 0.2], pgd_steps=40, spectrum_subset=None,
                           batch_size=500, store_outcomes=True),
        "audit": dict(n_images=1000, eps=(0.0, 4 / 255), pgd_step_size=1 / 255),
        "corruptions": dict(test_subset=None, severities=(1, 2, 3, 4, 5)),
    },
}


def cifar_settings(profile: str) -> dict[str, Any]:
    """A copy of the CIFAR-10 chapter's settings: ``seeds``, the CNN's training (``train``, TrainConfig fields),
    ``track_every`` and ``track_momentum`` of the tracked basis, the evaluation (``eval``, an :class:`~onen.runs.config.EvalConfig`), the audit
    (``audit``: ``n_images``, ``eps`` and optional budgets of :func:`onen.robustness.audit.audit_curves`) and the corruptions
    (``corruptions``: ``test_subset``, ``severities``)."""
    import copy

    _check(profile)
    return copy.deepcopy(CIFAR_SETTINGS[profile])


def cifar_variants(profile: str) -> dict[str, TrainConfig]:
    """The CIFAR-10 networks: Vanilla, SpecReg on every block (tracked basis, tau 10, alpha 1, beta 1) and Jacobian
    regularization (weight 0.01), all tanh, Adam with AMSGrad, on the images of :func:`onen.cifar.default_source`."""

    settings = cifar_settings(profile)
    # torchvision's lossless original where it is on disk, the JPEG copy offline (part of each network's key)
    base = dict(arch="cifar_cnn", dataset="cifar10", activation="tanh", cifar_source=default_source(),
                **settings["train"])
    tracked = dict(TRACKED, track_every=settings["track_every"], track_momentum=settings["track_momentum"])
    return {
        "Vanilla": TrainConfig(**base),
        "SpecReg (all)": TrainConfig(**base, regularizer="spectral", spectral_layers="all", beta=1.0, tau=10,
                                     alpha=1.0, **tracked),
        "Jacobian": TrainConfig(**base, regularizer="jacobian", jacobian_weight=0.01),
    }


def cifar_evaluation(profile: str) -> EvalConfig:
    """The CIFAR-10 networks' :class:`~onen.runs.config.EvalConfig` (radii k/255)."""
    return dataclasses.replace(cifar_settings(profile)["eval"])


def cifar_audit(profile: str) -> "AuditConfig":
    """The CIFAR-10 chapter's attack audit (:class:`onen.robustness.audit.AuditConfig`), at one nonzero radius."""

    return AuditConfig(**cifar_settings(profile)["audit"])


def cifar_corruption_config(profile: str) -> "CifarCorruptionConfig":
    """The CIFAR-10 chapter's corrupted test images (:class:`onen.robustness.cifar_c.CifarCorruptionConfig`)."""

    return CifarCorruptionConfig(**cifar_settings(profile)["corruptions"])


# The baselines chapter: section 4.1's network against the other ways to buy robustness, the regularizer's ablations,
# and depth. The paper profile trains at section 4.1's settings (its Vanilla, Vanilla-BN, tracked SpecReg and
# frontier are the shallow and control chapters' own networks, the same cache entries) and the depth study at the
# deep chapters' (its 3-layer networks are the deep-all-layers chapter's), with 2 seeds per depth. The quick profile
# keeps every network at a smoke-test scale: 784-300-10 on 6000 images, 3 epochs, attacks on 200 test images.
BASELINE_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "train": dict(widths=[300], lr=1e-3, epochs=3, batch_size=300, train_subset=6000, eigen_subset=3000),
        "frontier_epochs": [1, 2],
        "depth_train": dict(lr=1e-3, epochs=3, batch_size=300, train_subset=6000, eigen_subset=3000),
        "depth_width": 128, "depth_seeds": 1,
        "eval": EvalConfig(test_subset=200, eps_fgsm=QUICK_EPS[:-1], eps_pgd=QUICK_EPS[:-1], noise_sigmas=[0.0, 0.3],
                           pgd_steps=10, spectrum_subset=1000, store_outcomes=True),
    },
    "paper": {
        "train": dict(PROFILES["paper"]["shallow"]),
        "frontier_epochs": list(PROFILES["paper"]["control"]["frontier_epochs"]),
        "depth_train": dict(PROFILES["paper"]["mlp"]),
        "depth_width": 1000, "depth_seeds": 2,
        "eval": PROFILES["paper"]["eval"],
    },
}
# The same in both profiles. spectral_norms: each layer's operator norm (two layers: the network's Lipschitz bound is
# its square); adamw_decays: decoupled weight decay; authors_decay: the L2 decay in Adam of the authors' own runs (their
# code sweeps 1e-4 to 1e-1, the paper names none: 1e-2, the middle of that sweep, is our choice); activity_l1: chosen on
# the quick scale, where it brings the penalty to the order of the cross-entropy; ablation_beta: the beta the book's
# rule (onen.analysis.report.closest_beta) picks among section 4.1's tracked networks at the paper's scale.
BASELINE_METHODS: dict[str, Any] = dict(
    spectral_norms=(1.0, 2.0), sgd_lr=0.1, adamw_decays=(1e-2, 1e-1, 1.0), authors_decay=1e-2, activity_l1=10.0,
    adversarial=dict(adversarial_eps=0.1, adversarial_steps=10), ablation_beta=5.0, taus=(0, 50), alphas=(1.5, 2.0),
    depths=(1, 2, 3, 4), depth_beta=1.0)
BASELINE_GROUPS = ("shallow", "frontier", "ablations", "depth")


def baseline_settings(profile: str) -> dict[str, Any]:
    """A copy of the baselines chapter's settings of ``profile`` (``train``, ``frontier_epochs``, ``depth_train``,
    ``depth_width``, ``depth_seeds``: how many of the profile's seeds the depth study trains, ``eval``), with the
    methods' settings that both profiles share (:data:`BASELINE_METHODS`)."""
    import copy

    _check(profile)
    return copy.deepcopy({**BASELINE_SETTINGS[profile], **BASELINE_METHODS})


def ablation_name(change: str = "") -> str:
    """Display name of the ablations' reference, SpecReg with the tracked basis at the ablation beta, or of one of its
    ablations: "SpecReg β=5 tracked", "SpecReg β=5 tracked, τ=0"."""
    base = f"SpecReg β={BASELINE_METHODS['ablation_beta']:g} tracked"
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
        return _normalised(profile, TrainConfig(arch="mlp", **{**settings["train"], **overrides}))

    def deep_net(depth: int, **overrides: Any) -> TrainConfig:
        return _normalised(profile, TrainConfig(arch="mlp", widths=[settings["depth_width"]] * depth,
                                                **{**settings["depth_train"], **overrides}))

    authors = settings["authors_decay"]
    shallow_group = {
        "Vanilla": net(), "Vanilla-BN": net(batchnorm=True),
        **{f"Spectral norm σ={s:g}": net(spectral_norm=float(s)) for s in settings["spectral_norms"]},
        f"SGD lr={settings['sgd_lr']:g}": net(optimiser="sgd", lr=settings["sgd_lr"]),
        **{f"AdamW wd={d:g}": net(optimiser="adamw", weight_decay=float(d)) for d in settings["adamw_decays"]},
        f"Adam L2 {authors:g} (authors')": net(weight_decay=float(authors)),
        f"L1 activity {settings['activity_l1']:g}": net(regularizer="activity", activity_l1=settings["activity_l1"]),
        "Per-image norm": net(per_image_norm=True),
        f"PGD-AT ε={settings['adversarial']['adversarial_eps']:g}": net(regularizer="adversarial",
                                                                        **settings["adversarial"]),
    }
    spectral = dict(regularizer="spectral", beta=settings["ablation_beta"], **TRACKED)
    ablations = {ablation_name(): net(**spectral), ablation_name("no hinge"): net(**spectral, hinge=False),
                 **{ablation_name(f"τ={t}"): net(**spectral, tau=int(t)) for t in settings["taus"]},
                 **{ablation_name(f"α={a:g}"): net(**spectral, alpha=float(a)) for a in settings["alphas"]}}
    every = dict(regularizer="spectral", spectral_layers="all", beta=settings["depth_beta"])
    depth = {name: config for d in settings["depths"]
             for name, config in ((depth_name("Vanilla", d), deep_net(d)),
                                  (depth_name("SpecReg (all)", d), deep_net(d, **every)))}
    return {"shallow": shallow_group,
            "frontier": {frontier_name(e): net(epochs=int(e)) for e in settings["frontier_epochs"]},
            "ablations": ablations, "depth": depth}


def baseline_seeds(profile: str, group: str, seeds: Sequence[int] | None = None) -> list[int]:
    """The seeds a group of :func:`baseline_variants` trains: ``seeds`` (None: the profile's), the depth study only the
    first ``depth_seeds`` of them. Raises ValueError for an unknown group."""
    if group not in BASELINE_GROUPS:
        raise ValueError(f"group must be one of {BASELINE_GROUPS}, got {group!r}")
    chosen = list(_check(profile)["seeds"] if seeds is None else seeds)
    return chosen[:BASELINE_SETTINGS[profile]["depth_seeds"]] if group == "depth" else chosen
