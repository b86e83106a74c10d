"""What every chapter trains and measures in the book's two profiles: one frozen, validated record per chapter and
profile, so that this file alone answers "what does the paper profile train?".

``paper`` uses the hyperparameters of the paper (from the authors' public code): Adam with AMSGrad, pixels in [0, 1],
shallow net lr 1e-3 for 50 epochs at batch 3500; deep nets lr 1e-4 for 100 epochs at batch 1500 (MLP) or 6000 (CNN);
tau = 10, alpha = 1; Jacobian weight 0.01; PGD 40 steps; 3 seeds; the full 10k test set.

``quick`` keeps the same methods but trains briefly on a subset, so the whole book runs on a 2-core CPU in minutes:
fewer epochs, a shallow net of 1000 hidden units instead of 2000 (its whitening and float64 eigendecompositions cost
8 times less, and a batch of 1000 gives twice the steps), a larger learning rate for the deep nets (1e-3: 1e-4 needs
the paper's 100 epochs), fewer test images and eps points, 20 PGD steps, one seed. Batch sizes stay at least as large
as the widest regularized layer, so every batch covariance has full rank.

The records: :class:`Profile` (the networks of sections 4.1-4.3, the control, search, audit, corruptions and
calibration chapters), :class:`RegularizerSettings` (the regularizer, eigenbasis and tracked chapters),
:class:`BackgroundSettings`, :class:`CifarSettings` and :class:`BaselineSettings`, each with a quick and a paper
instance, by profile name in :data:`PROFILES`, :data:`REGULARIZER_SETTINGS`, :data:`BACKGROUND_SETTINGS`,
:data:`CIFAR_SETTINGS` and :data:`BASELINE_SETTINGS`. A record holds tuples, never lists, and other frozen records
(:class:`Training`, :class:`Evaluation`, and the frozen configurations of the audit, the corruptions and the
calibration), so nothing in it can change once built; every record checks its fields when it is built and raises one
ValueError naming the first bad one. :mod:`onen.analysis.profiles` turns them into the configurations that key the
results cache.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

from onen.robustness.audit import AuditConfig
from onen.robustness.cifar_c import CifarCorruptionConfig
from onen.robustness.mnist_c_eval import CorruptionConfig
from onen.runs.calibration_run import CalibrationConfig
from onen.runs.config import EvalConfig


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


class _Checked:
    """The checks every record runs in ``__post_init__``: each raises a one-line ValueError that names the record's
    field ("Training.lr must be a finite number > 0, got nan"); sequences are stored as tuples."""

    def _fail(self, name: str, wanted: str) -> NoReturn:
        raise ValueError(f"{type(self).__name__}.{name} must be {wanted}, got {getattr(self, name)!r}")

    def _tuple(self, name: str) -> tuple[Any, ...]:
        value = getattr(self, name)
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            self._fail(name, "a sequence")
        object.__setattr__(self, name, tuple(value))
        return tuple(value)

    def _integer(self, name: str, smallest: int = 1, optional: bool = False) -> None:
        value = getattr(self, name)
        if not (optional and value is None) and not (_is_integer(value) and value >= smallest):
            self._fail(name, ("None or " if optional else "") + f"an integer >= {smallest}")

    def _integers(self, name: str, smallest: int = 1, distinct: bool = True, empty: bool = False) -> None:
        values = self._tuple(name)
        if (not values and not empty) or any(not _is_integer(v) or v < smallest for v in values) or (
                distinct and len(set(values)) != len(values)):
            self._fail(name, f"a {'' if empty else 'non-empty '}tuple of {'distinct ' if distinct else ''}integers "
                             f">= {smallest}")

    def _number(self, name: str, positive: bool = True, below: float = math.inf) -> None:
        value = getattr(self, name)
        if not _is_number(value) or value < 0 or (positive and value == 0) or value >= below:
            self._fail(name, f"a finite number {'>' if positive else '>='} 0"
                       + (f" and < {below:g}" if math.isfinite(below) else ""))

    def _numbers(self, name: str, positive: bool = False) -> None:
        values = self._tuple(name)
        if not values or any(not _is_number(v) or v < 0 or (positive and v == 0) for v in values):
            self._fail(name, f"a non-empty tuple of finite numbers {'>' if positive else '>='} 0")

    def _record(self, name: str, kind: type, optional: bool = False) -> None:
        value = getattr(self, name)
        if not (optional and value is None) and not isinstance(value, kind):
            self._fail(name, ("None or " if optional else "") + f"a {kind.__name__}")

    def _mlp(self, name: str) -> None:
        """A :class:`Training` that gives its MLP's widths."""
        value = getattr(self, name)
        if not isinstance(value, Training) or value.widths is None:
            self._fail(name, "a Training with its widths")

    def _flag(self, name: str) -> None:
        if not isinstance(getattr(self, name), bool):
            self._fail(name, "True or False")


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields by name, as they are (no copies: they are immutable)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


@dataclass(frozen=True)
class Training(_Checked):
    """The :class:`~onen.runs.config.TrainConfig` fields a profile sets for one kind of network (the others stay at
    TrainConfig's defaults): learning rate, epochs, batch; ``widths``, the MLP's hidden widths (None: the
    architecture's); training images and eigenbasis images (None: all); ``spectra_every``, ``channels`` (the CIFAR-10
    CNN's) and ``fit_ranks``, None where TrainConfig's default holds."""

    lr: float
    epochs: int
    batch_size: int
    widths: tuple[int, ...] | None = None
    train_subset: int | None = None
    eigen_subset: int | None = None
    spectra_every: int | None = None
    channels: tuple[int, ...] | None = None
    fit_ranks: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self._number("lr")
        for name in ("epochs", "batch_size"):
            self._integer(name)
        if self.widths is not None:
            self._integers("widths", distinct=False)
        self._integer("train_subset", optional=True)
        self._integer("eigen_subset", smallest=2, optional=True)
        self._integer("spectra_every", optional=True)
        if self.channels is not None:
            self._integers("channels", distinct=False)
            if len(self.channels) != 3:
                self._fail("channels", "three integers >= 1 (one per block)")
        if self.fit_ranks is not None:
            self._integers("fit_ranks")
            if len(self.fit_ranks) != 2 or not self.fit_ranks[0] < self.fit_ranks[1]:
                self._fail("fit_ranks", "two integers 1 <= lo < hi")

    def config_fields(self) -> dict[str, Any]:
        """As keyword arguments of :class:`~onen.runs.config.TrainConfig`: the fields that are set (lists where
        TrainConfig keeps lists; the unset optional ones left to TrainConfig's defaults)."""
        fields = _fields(self)
        for name in ("widths", "channels", "spectra_every", "fit_ranks"):
            if fields[name] is None:
                del fields[name]
        return {name: list(value) if name in ("widths", "channels") else value for name, value in fields.items()}


@dataclass(frozen=True)
class Evaluation(_Checked):
    """An :class:`~onen.runs.config.EvalConfig` as a frozen record (the same fields and defaults, tuples for lists);
    :meth:`config` builds the EvalConfig."""

    test_subset: int | None = None
    eps_fgsm: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
    eps_pgd: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
    noise_sigmas: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
    pgd_steps: int = 40
    pgd_restarts: int = 1
    spectrum_subset: int | None = None
    sensitivity_indices: tuple[int, ...] = tuple(range(8))
    batch_size: int = 500
    store_outcomes: bool = False
    spectrum_bootstrap: int = 0

    def __post_init__(self) -> None:
        self._integer("test_subset", optional=True)
        for name in ("eps_fgsm", "eps_pgd", "noise_sigmas"):
            self._numbers(name)
        for name in ("pgd_steps", "pgd_restarts", "batch_size"):
            self._integer(name)
        self._integer("spectrum_subset", smallest=2, optional=True)
        self._integers("sensitivity_indices", smallest=0, empty=True)
        self._flag("store_outcomes")
        self._integer("spectrum_bootstrap", smallest=0)

    def config(self) -> EvalConfig:
        """The :class:`~onen.runs.config.EvalConfig` of these fields (a new one each call)."""
        return EvalConfig(**_fields(self))


@dataclass(frozen=True)
class SearchPoint(_Checked):
    """A point of the search for the 1/n layer (:mod:`onen.runs.search`): its learning rate and beta, and where they
    differ from the grid's, its epochs and seed (None: the grid's)."""

    lr: float
    beta: float
    epochs: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        self._number("lr")
        self._number("beta")
        self._integer("epochs", optional=True)
        self._integer("seed", smallest=0, optional=True)


@dataclass(frozen=True)
class Search(_Checked):
    """The search for the 1/n layer: the network it trains (``train``), its grid of penalty weights and learning
    rates at ``epochs`` epochs, the test images its spectra are scored on (None: all) and the points it trains for
    longer than the grid (``longer``)."""

    train: Training
    betas: tuple[float, ...]
    lrs: tuple[float, ...]
    epochs: int
    spectrum_images: int | None
    longer: tuple[SearchPoint, ...] = ()

    def __post_init__(self) -> None:
        self._record("train", Training)
        self._numbers("betas", positive=True)
        self._numbers("lrs", positive=True)
        self._integer("epochs")
        self._integer("spectrum_images", smallest=2, optional=True)
        if any(not isinstance(point, SearchPoint) or point.epochs is None for point in self._tuple("longer")):
            self._fail("longer", "a tuple of SearchPoint records with their epochs")


@dataclass(frozen=True)
class Control(_Checked):
    """The control chapter: the shaped layers' exponents, the epochs after which Vanilla is stopped (its frontier),
    the attack audit of its networks (None: none) and the bootstrap spectra over test images of the networks it
    evaluates (for the exponents' intervals)."""

    alphas: tuple[float, ...]
    frontier_epochs: tuple[int, ...]
    audit: AuditConfig | None
    spectrum_bootstrap: int

    def __post_init__(self) -> None:
        self._numbers("alphas")
        self._integers("frontier_epochs")
        self._record("audit", AuditConfig, optional=True)
        self._integer("spectrum_bootstrap")


@dataclass(frozen=True)
class Profile(_Checked):
    """The settings a profile shares across the chapters of sections 4.1-4.3 and those built on their networks:
    seeds; whether BatchNorm's running statistics are recomputed after training; the deep nets' penalty weights;
    the training of the shallow net, the MLP and the CNN; the MNIST-C corruptions; the attack audit; the pair at
    the search's point closest to 1/n (``nearest``); the control chapter; the deep nets' frontier epochs; the
    estimator's calibration; the evaluation; the search."""

    seeds: tuple[int, ...]
    recalibrate_batchnorm: bool
    deep_betas: tuple[float, ...]
    shallow: Training
    mlp: Training
    cnn: Training
    corruptions: CorruptionConfig
    audit: AuditConfig
    nearest: SearchPoint
    control: Control
    deep_frontier_epochs: tuple[int, ...]
    calibration: CalibrationConfig
    evaluation: Evaluation
    search: Search

    def __post_init__(self) -> None:
        self._integers("seeds", smallest=0)
        self._flag("recalibrate_batchnorm")
        self._numbers("deep_betas", positive=True)
        self._mlp("shallow")
        for name in ("mlp", "cnn"):
            self._record(name, Training)
        kinds = dict(corruptions=CorruptionConfig, audit=AuditConfig, nearest=SearchPoint, control=Control,
                     calibration=CalibrationConfig, evaluation=Evaluation, search=Search)
        for name, kind in kinds.items():
            self._record(name, kind)
        if self.nearest.seed is not None:
            self._fail("nearest", "a SearchPoint without a seed of its own")
        self._integers("deep_frontier_epochs")


QUICK_EPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
PAPER_EPS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)

QUICK = Profile(
    seeds=(0,),
    recalibrate_batchnorm=True,
    deep_betas=(1,),
    shallow=Training(widths=(1000,), lr=1e-3, epochs=4, batch_size=1000, train_subset=20000, eigen_subset=5000),
    mlp=Training(lr=1e-3, epochs=3, batch_size=1000, train_subset=20000, eigen_subset=5000),
    # the CNN's steps cost most of the quick book: 12 of them, on 12000 images (a batch as wide as its widest
    # layer, 2704, which the per-epoch basis of "SpecReg (all)" needs)
    cnn=Training(lr=1e-3, epochs=3, batch_size=3000, train_subset=12000, eigen_subset=5000),
    corruptions=CorruptionConfig(test_subset=1000, severities=(3,)),
    # the attack audit: 100 images (about ±10 points at 50%), a short grid that reaches zero for every net, PGD-3
    # and Square with 100 queries: a check that every attack and flag runs end to end on the 26 networks (about
    # 5 minutes of attacks on one thread); the paper profile's audit, from the committed cache, is the one that
    # decides
    audit=AuditConfig(n_images=100, eps=(0.0, 0.05, 0.1, 0.2, 0.3), restarts=3, square_queries=100),
    # section 4.1's pair at the search's point closest to 1/n (the paper profile's, at this profile's epochs)
    nearest=SearchPoint(lr=1e-2, beta=20.0),
    # the control chapter: shaped layers at these exponents; Vanilla stopped after these epochs traces its
    # accuracy-robustness frontier (with the profile's full-length Vanilla as its last point)
    # three shaped exponents and no audit at this scale: the chapter audits the paper-profile networks; 10 bootstrap
    # spectra for the exponents' intervals
    control=Control(alphas=(0.5, 1.0, 2.0), frontier_epochs=(1, 2), audit=None, spectrum_bootstrap=10),
    # the deep nets' frontier: the MLP and the CNN stopped after these epochs (their full length is 3)
    deep_frontier_epochs=(1, 2),
    # the estimator's calibration on the quick net's 1000-wide layer at its sizes (500 and 3000 images)
    calibration=CalibrationConfig(dim=1000, sample_sizes=(3000, 20000), draws=2, coverage_alphas=(1.0,),
                                  coverage_draws=4, boots=10),
    # attacks on 300 test images (about ±6 points at 50%): the quick book's evaluations cost it as much as its
    # training, and its numbers show directions, not sizes
    evaluation=Evaluation(test_subset=300, eps_fgsm=QUICK_EPS, eps_pgd=QUICK_EPS,
                          noise_sigmas=(0.0, 0.1, 0.2, 0.4, 0.8), pgd_steps=20, spectrum_subset=3000,
                          store_outcomes=True),
    # the regularizer chapter's small net (784-500-10 on 10000 images), trained longer than its other runs
    search=Search(train=Training(widths=(500,), lr=1e-3, epochs=3, batch_size=500, train_subset=10000,
                                 eigen_subset=3000),
                  betas=(1, 10, 100), lrs=(1e-3, 1e-2), epochs=10, spectrum_images=2000),
)

PAPER = Profile(
    seeds=(0, 1, 2),
    recalibrate_batchnorm=False,
    deep_betas=(1, 2, 5),
    shallow=Training(widths=(2000,), lr=1e-3, epochs=50, batch_size=3500),
    # the deep nets' training history fits every layer's spectrum every 10 epochs (TrainConfig.spectra_every):
    # over all 60000 images it costs the MLP half an epoch, and the chapters read only the final spectra
    mlp=Training(lr=1e-4, epochs=100, batch_size=1500, spectra_every=10),
    corruptions=CorruptionConfig(test_subset=None, severities=(1, 2, 3, 4, 5)),
    # 2500 images: about ±2 points at 50%, as the audit asks
    audit=AuditConfig(n_images=2500, eps=(0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)),
    cnn=Training(lr=1e-4, epochs=100, batch_size=6000, spectra_every=10),
    # section 4.1's pair at the search's point closest to 1/n: lr 1e-2, beta 20, trained for 100 epochs
    nearest=SearchPoint(lr=1e-2, beta=20.0, epochs=100),
    # the frontier at 1, 4 and 16 epochs (with the 50-epoch Vanilla); the audit of the control networks on 1000
    # test images (about ±3 points at 50%) over a grid that reaches zero for every section-4.1 network; 40 bootstrap
    # spectra for the exponents' intervals
    control=Control(alphas=(0.5, 1.0, 1.5, 2.0, 3.0), frontier_epochs=(1, 4, 16),
                    audit=AuditConfig(n_images=1000, eps=(0.0, 0.05, 0.1, 0.15, 0.2, 0.3)), spectrum_bootstrap=40),
    # the deep nets' frontier: the MLP and the CNN stopped after these epochs (their full length is 100)
    deep_frontier_epochs=(4, 16, 50),
    # the estimator's calibration on a 2000-wide layer at the test set's and the training set's sizes
    calibration=CalibrationConfig(dim=2000, sample_sizes=(10000, 60000), draws=4, coverage_alphas=(0.5, 1.0, 2.0),
                                  coverage_draws=5, boots=12),
    evaluation=Evaluation(test_subset=None, eps_fgsm=PAPER_EPS, eps_pgd=PAPER_EPS,
                          noise_sigmas=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0), pgd_steps=40,
                          store_outcomes=True),
    # where does the tracked basis reach 1/n: the paper's shallow net, two learning rates, two weights
    search=Search(train=Training(widths=(2000,), lr=1e-3, epochs=50, batch_size=3500), betas=(5, 20),
                  lrs=(1e-2, 1e-3), epochs=50, spectrum_images=None,
                  # the grid's point closest to 1/n, its penalty still falling at epoch 50: trained on to 100
                  # epochs (from the grid's checkpoint, so it costs only the epochs it adds); then section 4.1's
                  # seed-1 network at that point, at its 100 epochs and continued to 200, so that the pair
                  # differs only in how long it trained (a point without a seed has the grid's seed)
                  longer=(SearchPoint(lr=1e-2, beta=20, epochs=100), SearchPoint(lr=1e-2, beta=20, epochs=100, seed=1),
                          SearchPoint(lr=1e-2, beta=20, epochs=200, seed=1))),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({"quick": QUICK, "paper": PAPER})


@dataclass(frozen=True)
class RegularizerSettings(_Checked):
    """The chapters on the regularizer and its eigenbasis (regularizer, eigenbasis, tracked): seeds, the small net's
    training (``train``), attack and spectrum images (None: all), PGD steps, and the drift, refresh, held-out and
    batch-size studies."""

    seeds: tuple[int, ...]
    train: Training
    attack_images: int | None
    pgd_steps: int
    spectrum_images: int | None
    drift_every: int
    batch_study_draws: int
    refresh_every: int
    heldout_images: int

    def __post_init__(self) -> None:
        self._integers("seeds", smallest=0)
        self._mlp("train")
        self._integer("attack_images", optional=True)
        self._integer("spectrum_images", smallest=2, optional=True)
        for name in ("pgd_steps", "drift_every", "refresh_every"):
            self._integer(name)
        for name in ("batch_study_draws", "heldout_images"):
            self._integer(name, smallest=2)


# The regularizer chapters' small net (784-[width]-10 tanh, Adam with AMSGrad, batch >= width) and their studies.
REGULARIZER_SETTINGS: Mapping[str, RegularizerSettings] = MappingProxyType({
    "quick": RegularizerSettings(
        seeds=(0,),
        train=Training(widths=(500,), lr=1e-3, epochs=3, batch_size=500, train_subset=10000, eigen_subset=3000),
        attack_images=300, pgd_steps=20, spectrum_images=2000, drift_every=5,
        batch_study_draws=20, refresh_every=5, heldout_images=5000,
    ),
    "paper": RegularizerSettings(
        seeds=(0, 1, 2),
        train=Training(widths=(2000,), lr=1e-3, epochs=50, batch_size=3500, train_subset=None, eigen_subset=None),
        attack_images=None, pgd_steps=40, spectrum_images=None, drift_every=4,
        batch_study_draws=100, refresh_every=5, heldout_images=10000,
    ),
})


@dataclass(frozen=True)
class PixelImages(_Checked):
    """Training images whose raw-pixel spectrum the background chapter computes, per dataset (None: all)."""

    mnist: int | None
    fashion_mnist: int | None
    cifar10: int | None

    def __post_init__(self) -> None:
        for name in _fields(self):
            self._integer(name, smallest=2, optional=True)

    def by_dataset(self) -> dict[str, int | None]:
        """The images per dataset, in the fields' order (a new dict)."""
        return _fields(self)


@dataclass(frozen=True)
class BackgroundSettings(_Checked):
    """The background chapter's settings. Set per profile: points on the circle, points through the random networks,
    and images per pixel dataset. The same in both (the defaults): the circle's frequencies K (2K dimensions) and
    exponents; the frequencies of the analytic stretch; the random networks' depth, width, weight variances and bias
    variance; the rank window of every fit."""

    circle_points: int
    pixel_images: PixelImages
    network_points: int
    n_freq: int = 500
    alphas: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    stretch_freq: int = 100_000
    depth: int = 10
    width: int = 1000
    sigma_w2: tuple[float, ...] = (0.5, 1.5, 4.0, 16.0)
    sigma_b2: float = 0.05
    fit_ranks: tuple[int, int] = (11, 500)

    def __post_init__(self) -> None:
        for name in ("circle_points", "network_points"):
            self._integer(name, smallest=2)
        self._record("pixel_images", PixelImages)
        for name in ("n_freq", "stretch_freq", "depth", "width"):
            self._integer(name)
        for name in ("alphas", "sigma_w2"):
            self._numbers(name, positive=True)
        self._number("sigma_b2", positive=False)
        self._integers("fit_ranks")
        if len(self.fit_ranks) != 2 or self.fit_ranks[0] >= self.fit_ranks[1]:
            self._fail("fit_ranks", "(first, last) ranks with first < last")


# The background chapter: points on the circle, points through the random networks, images per pixel dataset.
BACKGROUND_SETTINGS: Mapping[str, BackgroundSettings] = MappingProxyType({
    "quick": BackgroundSettings(circle_points=2048,
                                pixel_images=PixelImages(mnist=10000, fashion_mnist=10000, cifar10=5000),
                                network_points=1024),
    "paper": BackgroundSettings(circle_points=4096, pixel_images=PixelImages(mnist=None, fashion_mnist=None,
                                                                             cifar10=None),
                                network_points=4096),
})


@dataclass(frozen=True)
class CifarSettings(_Checked):
    """The CIFAR-10 chapter: ``seeds``, the CNN's training (``train``), ``track_every`` and ``track_momentum`` of the
    tracked basis, the evaluation, the audit (:class:`onen.robustness.audit.AuditConfig`), the corruptions
    (:class:`onen.robustness.cifar_c.CifarCorruptionConfig`) and ``frontier_epochs``: the epochs after which Vanilla
    is stopped to trace its accuracy-robustness frontier, each fewer than ``train.epochs`` (the full-length Vanilla is
    the frontier's last point)."""

    seeds: tuple[int, ...]
    train: Training
    track_every: int
    track_momentum: float
    evaluation: Evaluation
    audit: AuditConfig
    corruptions: CifarCorruptionConfig
    frontier_epochs: tuple[int, ...]

    def __post_init__(self) -> None:
        self._integers("seeds", smallest=0)
        self._record("train", Training)
        self._integer("track_every")
        self._number("track_momentum", positive=False, below=1.0)
        self._record("evaluation", Evaluation)
        self._record("audit", AuditConfig)
        self._record("corruptions", CifarCorruptionConfig)
        self._integers("frontier_epochs")
        if max(self.frontier_epochs) >= self.train.epochs:
            self._fail("frontier_epochs", f"a tuple of epochs each fewer than train.epochs ({self.train.epochs})")


# The CIFAR-10 chapter: the authors' rebuttal CNN (3 blocks of two 3x3 convolutions, tanh, max-pooling) on the JPEG
# copy of CIFAR-10, with radii in units of 1/255 (one grey level), the scale of natural-image attacks.
CIFAR_EPS_STEPS = (0, 1, 2, 4, 8, 16)  # eps = k / 255
CIFAR_EPS = tuple(k / 255 for k in CIFAR_EPS_STEPS)

CIFAR_SETTINGS: Mapping[str, CifarSettings] = MappingProxyType({
    # A smoke-test scale that runs on a 2-core CPU in minutes: an eighth of the channels (4, 8, 16: blocks 1024, 512
    # and 256 wide, so that the tracked basis's eigendecompositions stay cheap), 3000 training images, 3 epochs,
    # attacks on 200 test images with 5 PGD steps, the audit on 100 images at one radius (Square with 50 queries).
    "quick": CifarSettings(
        seeds=(0,),
        train=Training(channels=(4, 8, 16), lr=1e-3, epochs=3, batch_size=100, train_subset=3000, eigen_subset=1000,
                       fit_ranks=(11, 256)),
        # the basis goes stale quickly at lr 1e-3: recomputed every 10 steps, the penalty drove this network to
        # chance accuracy; every 2 steps it trains as Vanilla does
        track_every=2,
        track_momentum=0.9,  # the running covariance spans B / (1 - m) = 1000 samples, about block 1's width
        evaluation=Evaluation(test_subset=200, eps_fgsm=CIFAR_EPS, eps_pgd=CIFAR_EPS,
                              noise_sigmas=(0.0, 0.02, 0.05, 0.1, 0.2), pgd_steps=5, spectrum_subset=1500,
                              sensitivity_indices=(0, 1, 2, 3), batch_size=200, store_outcomes=True),
        audit=AuditConfig(n_images=100, eps=(0.0, 4 / 255), pgd_steps=10, pgd_step_size=1 / 255, restarts=2,
                          apgd_steps=10, square_queries=50, batch_size=100),
        corruptions=CifarCorruptionConfig(test_subset=1000, severities=(1, 3, 5)),
        # Vanilla stopped after 1 of its 3 epochs: trained before the full-length Vanilla, whose training resumes its
        # checkpoint, so the frontier adds no epoch of training, only one evaluation (the chapter took about 20 s
        # longer on a busy 2-core CPU; a second point, after 2 epochs, added as much again)
        frontier_epochs=(1,),
    ),
    # The authors' network (32, 64, 128 channels) on all 50000 training images, Adam (AMSGrad), 3 seeds, at the
    # authors' deep-network rate 1e-4 for 100 epochs. Batch 500: block 1 is 8192 wide, wider than any batch that fits a
    # GPU with the spectral penalty's [B, 8192] x [8192, 8192] product, so the penalty uses the tracked basis, which
    # serves batches narrower than the layer. A float64 eigendecomposition of 8192 x 8192 takes seconds even on a GPU,
    # so the basis is recomputed every 10 steps rather than every step; at lr 1e-4 the weights move about as far in 10
    # steps as they do in one at the quick profile's 1e-3, where a basis recomputed every step keeps the penalty stable
    # and one recomputed every 10 steps goes stale enough for the penalty to drive the network to chance.
    "paper": CifarSettings(
        seeds=(0, 1, 2),
        train=Training(channels=(32, 64, 128), lr=1e-4, epochs=100, batch_size=500, train_subset=None,
                       eigen_subset=10000, fit_ranks=(11, 500), spectra_every=10),
        track_every=10,
        track_momentum=0.95,  # the running covariance spans B / (1 - m) = 10000 samples, more than block 1's 8192
        evaluation=Evaluation(test_subset=None, eps_fgsm=CIFAR_EPS, eps_pgd=CIFAR_EPS,
                              noise_sigmas=(0.0, 0.02, 0.05, 0.1, 0.2), pgd_steps=40, spectrum_subset=None,
                              batch_size=500, store_outcomes=True),
        audit=AuditConfig(n_images=1000, eps=(0.0, 4 / 255), pgd_step_size=1 / 255),
        corruptions=CifarCorruptionConfig(test_subset=None, severities=(1, 2, 3, 4, 5)),
        # Vanilla stopped after 4, 16 and 50 of its 100 epochs, as the deep MNIST nets' frontier: from barely trained
        # to nearly converged, so that its clean accuracy can span that of the regularized networks
        frontier_epochs=(4, 16, 50),
    ),
})


@dataclass(frozen=True)
class BaselineMethods(_Checked):
    """The baselines' own settings, the same in both profiles: spectral normalisation's targets, SGD's learning
    rate, AdamW's decays, the authors' L2 decay, the L1 activity weight, PGD adversarial training's radius and
    steps, the ablations' beta, taus and alphas, and the depth study's depths and beta."""

    spectral_norms: tuple[float, ...]
    sgd_lr: float
    adamw_decays: tuple[float, ...]
    authors_decay: float
    activity_l1: float
    adversarial_eps: float
    adversarial_steps: int
    ablation_beta: float
    taus: tuple[int, ...]
    alphas: tuple[float, ...]
    depths: tuple[int, ...]
    depth_beta: float

    def __post_init__(self) -> None:
        for name in ("spectral_norms", "adamw_decays"):
            self._numbers(name, positive=True)
        for name in ("sgd_lr", "authors_decay", "activity_l1", "ablation_beta", "depth_beta"):
            self._number(name)
        self._number("adversarial_eps")
        if self.adversarial_eps > 1:
            self._fail("adversarial_eps", "a finite number > 0 and <= 1")
        self._integer("adversarial_steps")
        self._integers("taus", smallest=0)
        self._numbers("alphas")
        self._integers("depths")


# The same in both profiles. spectral_norms: each layer's operator norm (two layers: the network's Lipschitz bound is
# its square); adamw_decays: decoupled weight decay; authors_decay: the L2 decay in Adam of the authors' own runs (their
# code sweeps 1e-4 to 1e-1, the paper names none: 1e-2, the middle of that sweep, is our choice); activity_l1: chosen on
# the quick scale, where it brings the penalty to the order of the cross-entropy; ablation_beta: the beta the book's
# rule (onen.analysis.report.closest_beta) picks among section 4.1's tracked networks at the paper's scale.
BASELINE_METHODS = BaselineMethods(
    spectral_norms=(1.0, 2.0), sgd_lr=0.1, adamw_decays=(1e-2, 1e-1, 1.0), authors_decay=1e-2, activity_l1=10.0,
    adversarial_eps=0.1, adversarial_steps=10, ablation_beta=5.0, taus=(0, 50), alphas=(1.5, 2.0),
    depths=(1, 2, 3, 4), depth_beta=1.0)


@dataclass(frozen=True)
class BaselineSettings(_Checked):
    """The baselines chapter: the shallow network's training (``train``), Vanilla's frontier epochs, the depth
    study's training (``depth_train``), layer width and number of seeds (the first ``depth_seeds`` of the profile's),
    the evaluation, and the methods' own settings (``methods``, the same in both profiles)."""

    train: Training
    frontier_epochs: tuple[int, ...]
    depth_train: Training
    depth_width: int
    depth_seeds: int
    evaluation: Evaluation
    methods: BaselineMethods

    def __post_init__(self) -> None:
        self._mlp("train")
        self._integers("frontier_epochs")
        self._record("depth_train", Training)
        for name in ("depth_width", "depth_seeds"):
            self._integer(name)
        self._record("evaluation", Evaluation)
        self._record("methods", BaselineMethods)


# The baselines chapter: section 4.1's network against the other ways to buy robustness, the regularizer's ablations,
# and depth. The paper profile trains at section 4.1's settings (its Vanilla, Vanilla-BN, tracked SpecReg and
# frontier are the shallow and control chapters' own networks, the same cache entries) and the depth study at the
# deep chapters' (its 3-layer networks are the deep-all-layers chapter's), with 2 seeds per depth. The quick profile
# keeps every network at a smoke-test scale: 784-300-10 on 6000 images, 3 epochs, attacks on 200 test images.
BASELINE_SETTINGS: Mapping[str, BaselineSettings] = MappingProxyType({
    "quick": BaselineSettings(
        train=Training(widths=(300,), lr=1e-3, epochs=3, batch_size=300, train_subset=6000, eigen_subset=3000),
        frontier_epochs=(1, 2),
        depth_train=Training(lr=1e-3, epochs=3, batch_size=300, train_subset=6000, eigen_subset=3000),
        depth_width=128, depth_seeds=1,
        evaluation=Evaluation(test_subset=200, eps_fgsm=QUICK_EPS[:-1], eps_pgd=QUICK_EPS[:-1],
                              noise_sigmas=(0.0, 0.3), pgd_steps=10, spectrum_subset=1000, store_outcomes=True),
        methods=BASELINE_METHODS,
    ),
    "paper": BaselineSettings(
        train=PAPER.shallow,
        frontier_epochs=PAPER.control.frontier_epochs,
        depth_train=PAPER.mlp,
        depth_width=1000, depth_seeds=2,
        evaluation=PAPER.evaluation,
        methods=BASELINE_METHODS,
    ),
})
