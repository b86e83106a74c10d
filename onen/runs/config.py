"""The configurations: everything that determines a trained network (:class:`TrainConfig`) and how it is evaluated
(:class:`EvalConfig`). Both are validated at construction and turn into the JSON that keys the results cache."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from onen.data import DATASETS
from onen.models import (ACTIVATIONS, CIFAR_CHANNELS, CNN_WIDTHS, Classifier, build_model, cifar_widths,
                         per_image_standardised, spectrally_normalised)
from onen.regularizers import BASES


ARCHS = ("mlp", "cnn", "cifar_cnn")
CIFAR_DATASET = "cifar10"
TRAIN_DATASETS = (*DATASETS, CIFAR_DATASET)


REGULARIZERS: tuple[str, ...] = ("none", "spectral", "jacobian", "adversarial", "activity")
OPTIMISERS: tuple[str, ...] = ("adam", "adamw", "sgd")


@dataclass
class TrainConfig:
    """Everything that determines a trained network.

    regularizer: "none" | "spectral" | "jacobian" | "adversarial" (PGD adversarial training, Madry et al. 2018: each
        step trains on PGD examples of its batch, ``adversarial_steps`` steps of 2.5 ``adversarial_eps`` / steps
        from a random start in the ``adversarial_eps`` L-infinity ball; both fields are keyed only for such runs) |
        "activity" (an L1 penalty on the hidden activations: ``activity_l1`` times the mean absolute activation of
        every hidden block, averaged over the blocks; keyed only for such runs).
    hinge: keep Eq. 2's relu term (the paper's); False drops it (spectral only; keyed only when False).
    optimiser: "adam" (Adam with AMSGrad, the paper's), "adamw" (decoupled weight decay, AMSGrad) or "sgd" (with
        ``momentum``); weight_decay: the optimiser's weight decay. Keyed only away from the paper's Adam without decay.
    spectral_norm: None, or the operator norm every linear and convolutional weight is held to
        (:func:`onen.models.spectrally_normalised`, PyTorch's spectral normalisation).
    per_image_norm: standardise each input image over its own pixels before the first layer
        (:class:`onen.models.PerImageStandardise`); keyed only when True.
    spectral_layers: "last" | "all" | list of block indices (spectral only).
    train_subset: number of training images used (None: all 60000).
    eigen_subset: training images used to refresh the eigenbasis and to track spectra (None: all of train_subset).
    fit_ranks: 1-based rank window of the power-law fit recorded in the history.
    spectra_every: the history fits the spectrum of every hidden block after every this many epochs and after the
        last; after the other epochs only the regularized blocks' (which the eigenbasis refresh computes anyway),
        the others' exponents NaN. Spectra over a large eigen subset cost a wide network more than its epoch does
        (a CIFAR-10 CNN's block spectra take minutes); keyed only away from 1.
    refresh_every: also refresh the spectral eigenbasis after every this many optimiser steps within an epoch (None:
        once per epoch, as in the paper). At larger learning rates the basis goes stale within an epoch and the
        penalty then sees a spectrum flatter than the true one; refreshing more often keeps it honest.
    allow_small_batch: let the spectral penalty accept minibatches narrower than a regularized layer (see
        :class:`~onen.regularizers.SpectralRegularizer`); off by default, so that such a run fails loudly.
    basis: the spectral penalty's eigenbasis: "epoch" (the paper's, recomputed from the eigen subset once per epoch)
        or "tracked" (kept current from a running covariance of the minibatch features, recomputed every
        ``track_every`` steps; it also serves batches narrower than the layer).
    track_every, track_momentum: the tracked basis's schedule (see :class:`~onen.regularizers.SpectralRegularizer`).
    whiten_eps: the whitening layer's jitter (the authors' 1e-5); part of the key of whitened networks only.
    recalibrate: after the last epoch, recompute the running statistics of every BatchNorm and whitening layer
        exactly, as cumulative averages over the training subset at the final weights (see
        :func:`~onen.runs.training.recalibrate`). Off by default, as the paper trains; short runs need it, since running
        averages with momentum 0.1 still carry the statistics of earlier weights.
    widths: the MLP's hidden widths. The CNN's are fixed by its architecture (:data:`~onen.models.CNN_WIDTHS`): for
        it the field is set to those and left out of the key. So are those of the CIFAR-10 CNN, which follow from
        ``channels``.
    shape_after: MLP block whose output goes through a :class:`~onen.shaping.SpectrumShaping` layer (after the
        activation, where whitening goes), or None; with ``shape_alpha`` its target exponent, and ``tau`` its kept
        ranks (the penalty's tau). Both are left out of the key of an unshaped network.
    cifar_source: where CIFAR-10 comes from, "torchvision" (the lossless original) or "jpeg" (the offline copy;
        :mod:`onen.cifar`); part of the key where it is not "jpeg", so results from the two never mix. CIFAR-10 only.
    channels: output channels of the three blocks of the CIFAR-10 CNN (``arch="cifar_cnn"``, which needs
        ``dataset="cifar10"`` and is the only architecture that takes it); None there means the authors' (32, 64,
        128). Left out of the key of the other architectures.
    """

    arch: str = "mlp"
    widths: list[int] = field(default_factory=lambda: [2000])
    activation: str = "tanh"
    batchnorm: bool = False
    whiten_after: int | None = None
    regularizer: str = "none"
    spectral_layers: str | list[int] = "last"
    beta: float = 1.0
    tau: int = 10
    alpha: float = 1.0
    jacobian_weight: float = 0.01
    jacobian_projections: int = 1
    dataset: str = "mnist"
    lr: float = 1e-3
    epochs: int = 50
    batch_size: int = 3500
    train_subset: int | None = None
    eigen_subset: int | None = None
    fit_ranks: tuple[int, int] = (11, 500)
    seed: int = 0
    # fields added after results were first cached: left out of to_dict() at their defaults, so that a run they do not
    # change keeps its cache key
    refresh_every: int | None = field(default=None, metadata={"omit_at_default": True})
    allow_small_batch: bool = field(default=False, metadata={"omit_at_default": True})
    basis: str = field(default="epoch", metadata={"omit_at_default": True})
    track_every: int = field(default=1, metadata={"omit_at_default": True})
    track_momentum: float = field(default=0.5, metadata={"omit_at_default": True})
    recalibrate: bool = field(default=False, metadata={"omit_at_default": True})
    whiten_eps: float = 1e-5
    channels: list[int] | None = field(default=None, metadata={"omit_at_default": True})
    cifar_source: str = field(default="jpeg", metadata={"omit_at_default": True})
    shape_after: int | None = field(default=None, metadata={"omit_at_default": True})
    shape_alpha: float = field(default=1.0, metadata={"omit_at_default": True})
    adversarial_eps: float = field(default=0.1, metadata={"omit_at_default": True})
    adversarial_steps: int = field(default=10, metadata={"omit_at_default": True})
    activity_l1: float = field(default=1e-4, metadata={"omit_at_default": True})
    hinge: bool = field(default=True, metadata={"omit_at_default": True})
    optimiser: str = field(default="adam", metadata={"omit_at_default": True})
    weight_decay: float = field(default=0.0, metadata={"omit_at_default": True})
    momentum: float = field(default=0.9, metadata={"omit_at_default": True})
    spectral_norm: float | None = field(default=None, metadata={"omit_at_default": True})
    per_image_norm: bool = field(default=False, metadata={"omit_at_default": True})
    spectra_every: int = field(default=1, metadata={"omit_at_default": True})

    def __post_init__(self) -> None:
        """Validate every field (a clear error, nothing kept), then store lists and tuples in one form."""
        self._check_architecture()
        self._check_sizes()
        self._check_shaping()
        self._check_training()
        self._check_spectra()
        self.widths = list(self.widths)
        self.fit_ranks = tuple(self.fit_ranks)  # type: ignore[assignment]
        if not isinstance(self.spectral_layers, str):
            self.spectral_layers = list(self.spectral_layers)

    def _check_architecture(self) -> None:
        """The architecture, dataset and CIFAR settings (fills in the widths a CNN fixes)."""
        choices = {"arch": ARCHS, "activation": ACTIVATIONS, "dataset": TRAIN_DATASETS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {sorted(allowed)}, got {getattr(self, name)!r}")
        if (self.arch == "cifar_cnn") != (self.dataset == CIFAR_DATASET):
            raise ValueError(f"arch 'cifar_cnn' and dataset {CIFAR_DATASET!r} go together (3x32x32 images), got arch "
                             f"{self.arch!r} with dataset {self.dataset!r}")
        if self.cifar_source not in ("torchvision", "jpeg"):
            raise ValueError(f"cifar_source must be 'torchvision' or 'jpeg', got {self.cifar_source!r}")
        if self.cifar_source != "jpeg" and self.dataset != CIFAR_DATASET:
            raise ValueError(f"cifar_source is a setting of dataset {CIFAR_DATASET!r} only")
        if self.arch == "cifar_cnn":
            if self.channels is None:
                self.channels = list(CIFAR_CHANNELS)
            if (isinstance(self.channels, (str, bytes)) or len(self.channels) != 3
                    or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels)):
                raise ValueError(f"channels must be three positive integers, got {self.channels!r}")
            if self.batchnorm or self.whiten_after is not None:
                raise ValueError("the CIFAR-10 CNN has no BatchNorm or whitening variant: need batchnorm=False and "
                                 "whiten_after=None")
            self.channels = list(self.channels)
            self.widths = cifar_widths(self.channels)
        elif self.channels is not None:
            raise ValueError(f"channels is a setting of arch 'cifar_cnn' only, got channels={self.channels!r} for "
                             f"arch {self.arch!r}")
        if self.arch == "cnn":
            self.widths = list(CNN_WIDTHS)

    def _check_sizes(self) -> None:
        """Integer settings, the seed, the widths and the whitened block."""
        for name in ("epochs", "batch_size", "tau", "seed", "jacobian_projections", "track_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if (not self.widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.widths)):
            raise ValueError(f"widths must be a non-empty list of positive integers, got {self.widths!r}")
        if self.whiten_after is not None and not (isinstance(self.whiten_after, int)
                                                  and 0 <= self.whiten_after < len(self.widths)):
            raise ValueError(f"whiten_after must be None or a block index in 0..{len(self.widths) - 1}, "
                             f"got {self.whiten_after!r}")

    def _check_shaping(self) -> None:
        """The shaped block and its exponent."""
        if self.shape_after is not None:
            if self.arch != "mlp":
                raise ValueError(f"shape_after is a setting of arch 'mlp' only, got arch {self.arch!r}")
            if isinstance(self.shape_after, bool) or not isinstance(self.shape_after, int) or not (
                    0 <= self.shape_after < len(self.widths)):
                raise ValueError(f"shape_after must be None or a block index in 0..{len(self.widths) - 1}, "
                                 f"got {self.shape_after!r}")
            if self.whiten_after == self.shape_after:
                raise ValueError("a block cannot be both whitened and shaped")
            if not 0 <= self.tau < self.widths[self.shape_after]:
                raise ValueError(f"tau must be in 0..{self.widths[self.shape_after] - 1} for the shaped block, "
                                 f"got {self.tau}")
        if (isinstance(self.shape_alpha, bool) or not isinstance(self.shape_alpha, (int, float))
                or not math.isfinite(self.shape_alpha) or self.shape_alpha < 0):
            raise ValueError(f"shape_alpha must be a finite number >= 0, got {self.shape_alpha!r}")

    def _check_training(self) -> None:
        """The penalty, the optimiser and their weights."""
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {self.regularizer!r}")
        eps, steps = self.adversarial_eps, self.adversarial_steps
        if (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or not 0 < eps <= 1
                or isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"need 0 < adversarial_eps <= 1 and an integer adversarial_steps >= 1, got {eps!r} and "
                             f"{steps!r}")
        if self.regularizer != "adversarial" and (eps, steps) != (0.1, 10):
            raise ValueError("adversarial_eps and adversarial_steps are settings of regularizer 'adversarial' only")
        self._check_baselines()

    def _check_baselines(self) -> None:
        """The baselines' settings: activity penalty, hinge, per-image normalisation, optimiser, weight decay,
        momentum, spectral norm."""
        def number(name: str, low: float, high: float = math.inf, low_open: bool = False) -> None:
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or value < low or (low_open and value == low) or value >= high):
                raise ValueError(f"{name} must be a finite number {'>' if low_open else '>='} {low:g}"
                                 + (f" and < {high:g}" if math.isfinite(high) else "") + f", got {value!r}")

        number("activity_l1", 0.0, low_open=True)
        if self.regularizer != "activity" and self.activity_l1 != 1e-4:
            raise ValueError("activity_l1 is a setting of regularizer 'activity' only")
        if not isinstance(self.hinge, bool):
            raise TypeError(f"hinge must be a bool, got {self.hinge!r}")
        if not isinstance(self.per_image_norm, bool):
            raise TypeError(f"per_image_norm must be a bool, got {self.per_image_norm!r}")
        if not self.hinge and self.regularizer != "spectral":
            raise ValueError("hinge is a setting of regularizer 'spectral' only")
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"optimiser must be one of {OPTIMISERS}, got {self.optimiser!r}")
        number("weight_decay", 0.0)
        number("momentum", 0.0, 1.0)
        if self.optimiser != "sgd" and self.momentum != 0.9:
            raise ValueError("momentum is a setting of optimiser 'sgd' only")
        if self.spectral_norm is not None:
            number("spectral_norm", 0.0, low_open=True)
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("need epochs >= 0, batch_size >= 1 and lr > 0")
        for name in ("lr", "beta", "alpha", "jacobian_weight", "track_momentum", "whiten_eps"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        for name in ("allow_small_batch", "recalibrate"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("beta", "alpha", "jacobian_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.tau < 0:
            raise ValueError(f"tau must be >= 0, got {self.tau}")

    def _check_spectra(self) -> None:
        """The exponent fit, the regularized layers, the eigenbasis and its schedule."""
        ranks = tuple(self.fit_ranks)
        if (len(ranks) != 2 or any(isinstance(r, bool) or not isinstance(r, int) for r in ranks)
                or not 1 <= ranks[0] < ranks[1]):
            raise ValueError(f"fit_ranks must be two integers 1 <= lo < hi, got {self.fit_ranks!r}")
        layers = self.spectral_layers
        if isinstance(layers, str) and layers not in ("last", "all") or not isinstance(layers, str) and (
                isinstance(layers, (bytes, dict)) or any(isinstance(i, bool) or not isinstance(i, int) for i in layers)):
            raise ValueError(f"spectral_layers must be 'last', 'all' or a list of block indices, got {layers!r}")
        if self.eigen_subset is not None and (isinstance(self.eigen_subset, bool) or not isinstance(
                self.eigen_subset, int) or self.eigen_subset < 2):
            raise ValueError(f"eigen_subset must be None or an integer >= 2, got {self.eigen_subset!r}")
        if (self.regularizer == "spectral" and self.basis == "epoch" and self.eigen_subset is not None
                and self.eigen_subset < max(self.widths)):
            raise ValueError(f"eigen_subset ({self.eigen_subset}) is smaller than the widest layer ({max(self.widths)}): "
                             "the once-per-epoch eigenbasis would come from a rank-deficient covariance")
        if self.basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {self.basis!r}")
        if self.track_every < 1 or not 0 <= self.track_momentum < 1:
            raise ValueError(f"need track_every >= 1 and 0 <= track_momentum < 1, got {self.track_every}, "
                             f"{self.track_momentum}")
        if self.whiten_eps < 0:
            raise ValueError(f"whiten_eps must be >= 0, got {self.whiten_eps}")
        if isinstance(self.spectra_every, bool) or not isinstance(self.spectra_every, int) or self.spectra_every < 1:
            raise ValueError(f"spectra_every must be a positive number of epochs, got {self.spectra_every!r}")
        if self.refresh_every is not None and self.refresh_every < 1:
            raise ValueError(f"refresh_every must be None or a positive number of steps, got {self.refresh_every}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fit_ranks"] = list(self.fit_ranks)
        for f in dataclasses.fields(self):
            if f.metadata.get("omit_at_default") and d[f.name] == f.default:
                del d[f.name]
        if self.whiten_after is None:  # only a whitening layer reads it
            del d["whiten_eps"]
        if self.shape_after is not None:  # a shaped network keys its exponent even at the default
            d["shape_alpha"] = float(self.shape_alpha)
        else:
            d.pop("shape_alpha", None)
        if self.arch in ("cnn", "cifar_cnn"):  # fixed by the architecture (and channels)
            del d["widths"]
        if self.regularizer == "adversarial":  # an adversarially trained network keys its attack even at the default
            d["adversarial_eps"], d["adversarial_steps"] = float(self.adversarial_eps), self.adversarial_steps
        if self.regularizer == "activity":
            d["activity_l1"] = float(self.activity_l1)
        if self.optimiser == "sgd":
            d["momentum"] = float(self.momentum)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return cls(**d)

    def model(self) -> Classifier:
        """The untrained network (each image standardised first where ``per_image_norm`` says so, spectrally
        normalised where ``spectral_norm`` does)."""
        model = self._architecture()
        if self.per_image_norm:
            model = per_image_standardised(model)
        return model if self.spectral_norm is None else spectrally_normalised(model, self.spectral_norm)

    def _architecture(self) -> Classifier:
        if self.arch == "mlp":
            return build_model("mlp", widths=self.widths, activation=self.activation, batchnorm=self.batchnorm,
                               whiten_after=self.whiten_after, whiten_eps=self.whiten_eps,
                               shape_after=self.shape_after, shape_alpha=self.shape_alpha, shape_tau=self.tau)
        if self.arch == "cifar_cnn":
            return build_model("cifar_cnn", channels=self.channels, activation=self.activation)
        return build_model("cnn", activation=self.activation, batchnorm=self.batchnorm,
                           whiten_after=self.whiten_after, whiten_eps=self.whiten_eps)


@dataclass
class EvalConfig:
    """How a trained network is evaluated.

    test_subset: test images used for the attack curves (None: all 10000). Clean accuracy always uses all of them.
    eps_*: L-infinity radii (pixels in [0, 1]); noise_sigmas: std of additive Gaussian noise (same units).
    spectrum_subset: test images over which the final spectra are computed.
    sensitivity_indices: test images whose input gradients are stored as sensitivity maps.
    store_outcomes: also store which attacked images PGD leaves correct at each eps (``correct_pgd``, bool
        [n_eps, test_subset]), so that statistics can resample the test images.
    spectrum_bootstrap: also store this many bootstrap spectra of every block (``spectrum_boot_<l>``, float32
        [spectrum_bootstrap, N_l]): the test images of the spectrum resampled with replacement (seed 0), so that any
        exponent estimator's interval over images can be computed later without the weights. 0: none.
    """

    test_subset: int | None = None
    eps_fgsm: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    eps_pgd: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    noise_sigmas: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0])
    pgd_steps: int = 40
    pgd_restarts: int = 1
    spectrum_subset: int | None = None
    sensitivity_indices: list[int] = field(default_factory=lambda: list(range(8)))
    batch_size: int = 500
    # added after results were first cached: left out of to_dict() at its default
    store_outcomes: bool = field(default=False, metadata={"omit_at_default": True})
    spectrum_bootstrap: int = field(default=0, metadata={"omit_at_default": True})

    def __post_init__(self) -> None:
        value = self.spectrum_bootstrap
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"spectrum_bootstrap must be an integer >= 0, got {value!r}")
        if not isinstance(self.store_outcomes, bool):
            raise TypeError(f"store_outcomes must be a bool, got {self.store_outcomes!r}")
        for name in ("eps_fgsm", "eps_pgd", "noise_sigmas"):
            values = [float(v) for v in getattr(self, name)]
            if not values or any(not math.isfinite(v) or v < 0 for v in values):
                raise ValueError(f"{name} must be a non-empty list of finite radii >= 0, got {getattr(self, name)!r}")
            setattr(self, name, values)
        for name in ("pgd_steps", "pgd_restarts", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, smallest in (("test_subset", 1), ("spectrum_subset", 2)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < smallest):
                raise ValueError(f"{name} must be None or an integer >= {smallest}, got {value!r}")
        if any(isinstance(i, bool) or int(i) != i or i < 0 for i in self.sensitivity_indices):
            raise ValueError(f"sensitivity_indices must be non-negative test-image positions, got "
                             f"{self.sensitivity_indices!r}")
        self.sensitivity_indices = [int(i) for i in self.sensitivity_indices]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for f in dataclasses.fields(self):
            if f.metadata.get("omit_at_default") and d[f.name] == f.default:
                del d[f.name]
        return d
