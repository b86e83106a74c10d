"""The settings records of onen.analysis.settings: frozen, validated field by field, and at the paper profile the
paper's own settings."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

import pytest

from onen.analysis import profiles, settings
from onen.analysis.settings import (BaselineMethods, BaselineSettings, BackgroundSettings, CifarSettings, Control,
                                    Evaluation, PixelImages, Profile, RegularizerSettings, Search, SearchPoint,
                                    Training)
from onen.runs.config import EvalConfig

TABLES = {"PROFILES": settings.PROFILES, "REGULARIZER_SETTINGS": settings.REGULARIZER_SETTINGS,
          "BACKGROUND_SETTINGS": settings.BACKGROUND_SETTINGS, "CIFAR_SETTINGS": settings.CIFAR_SETTINGS,
          "BASELINE_SETTINGS": settings.BASELINE_SETTINGS}
RECORDS = (Training, Evaluation, SearchPoint, Search, Control, Profile, RegularizerSettings, PixelImages,
           BackgroundSettings, CifarSettings, BaselineMethods, BaselineSettings)


def records(value: Any) -> Iterator[Any]:
    """``value`` and every record nested in it (fields, and the items of tuple fields)."""
    if dataclasses.is_dataclass(value):
        yield value
        for field in dataclasses.fields(value):
            yield from records(getattr(value, field.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from records(item)


def test_every_table_holds_a_quick_and_a_paper_record_that_cannot_change() -> None:
    seen = set()
    for name, table in TABLES.items():
        assert sorted(table) == ["paper", "quick"], name
        with pytest.raises(TypeError):
            table["paper"] = table["quick"]  # type: ignore[index]  # a read-only mapping
        for profile in table:
            for record in records(table[profile]):
                first = dataclasses.fields(record)[0].name
                with pytest.raises(dataclasses.FrozenInstanceError):
                    setattr(record, first, getattr(record, first))
                hash(record)  # tuples all the way down
                assert not any(isinstance(getattr(record, f.name), (list, dict, set))
                               for f in dataclasses.fields(record)), record
                seen.add(type(record))
    assert set(RECORDS) <= seen


def test_the_accessors_hand_out_the_records_themselves() -> None:
    for profile in ("quick", "paper"):
        assert profiles.profile_settings(profile) is settings.PROFILES[profile]
        assert profiles.regularizer_settings(profile) is settings.REGULARIZER_SETTINGS[profile]
        assert profiles.background_settings(profile) is settings.BACKGROUND_SETTINGS[profile]
        assert profiles.cifar_settings(profile) is settings.CIFAR_SETTINGS[profile]
        assert profiles.baseline_settings(profile) is settings.BASELINE_SETTINGS[profile]
    for accessor in (profiles.profile_settings, profiles.regularizer_settings, profiles.background_settings,
                     profiles.cifar_settings, profiles.baseline_settings):
        with pytest.raises(ValueError, match=r"profile must be one of \['paper', 'quick'\], got 'fast'"):
            accessor("fast")


QUICK, PAPER, REGULARIZER = settings.QUICK, settings.PAPER, settings.REGULARIZER_SETTINGS["paper"]
BAD = [
    (QUICK.shallow, "lr", math.nan), (QUICK.shallow, "lr", math.inf), (QUICK.shallow, "lr", 0.0),
    (QUICK.shallow, "lr", -1e-3), (QUICK.shallow, "epochs", -1), (QUICK.shallow, "epochs", 0),
    (QUICK.shallow, "epochs", 2.5), (QUICK.shallow, "batch_size", 0), (QUICK.shallow, "widths", (1000, 0)),
    (QUICK.shallow, "widths", "1000"), (QUICK.shallow, "train_subset", 0), (QUICK.shallow, "eigen_subset", 1),
    (QUICK.shallow, "spectra_every", 0), (QUICK.shallow, "channels", (4, 8)), (QUICK.shallow, "fit_ranks", (500, 11)),
    (QUICK, "seeds", (0, 0)), (QUICK, "seeds", (-1,)), (QUICK, "seeds", ()), (QUICK, "seeds", (True,)),
    (QUICK, "recalibrate_batchnorm", "yes"), (QUICK, "deep_betas", (1.0, math.nan)), (QUICK, "shallow", {"lr": 1e-3}),
    (QUICK, "shallow", QUICK.mlp), (QUICK, "deep_frontier_epochs", (1, 1)), (QUICK, "deep_frontier_epochs", (0,)),
    (QUICK, "nearest", PAPER.search.longer[1]), (QUICK, "evaluation", QUICK.evaluation.config()),
    (QUICK.evaluation, "eps_pgd", (0.0, math.nan)), (QUICK.evaluation, "pgd_steps", 0),
    (QUICK.evaluation, "test_subset", 0), (QUICK.evaluation, "noise_sigmas", ()),
    (QUICK.evaluation, "store_outcomes", 1), (QUICK.nearest, "lr", math.nan), (QUICK.nearest, "beta", -1.0),
    (PAPER.search.longer[0], "seed", -1), (PAPER.search.longer[0], "seed", 1.5), (PAPER.search.longer[0], "epochs", 0),
    (QUICK.search, "lrs", (1e-3, math.nan)), (QUICK.search, "betas", (0,)), (QUICK.search, "epochs", -3),
    (QUICK.search, "longer", (QUICK.nearest,)), (PAPER.control, "frontier_epochs", (1, 1)),
    (PAPER.control, "alphas", (math.inf,)), (PAPER.control, "spectrum_bootstrap", 0),
    (PAPER.control, "audit", {"n_images": 1000}),
    (REGULARIZER, "seeds", (0, 1, 1)), (REGULARIZER, "pgd_steps", 0), (REGULARIZER, "heldout_images", -5),
    (REGULARIZER, "train", PAPER.mlp),
    (settings.BACKGROUND_SETTINGS["paper"], "circle_points", 0),
    (settings.BACKGROUND_SETTINGS["paper"], "pixel_images", {"mnist": None}),
    (settings.BACKGROUND_SETTINGS["quick"].pixel_images, "mnist", -1),
    (settings.CIFAR_SETTINGS["paper"], "track_momentum", 1.0), (settings.CIFAR_SETTINGS["paper"], "seeds", (0, 0)),
    (settings.CIFAR_SETTINGS["paper"], "track_every", 0),
    (settings.BASELINE_SETTINGS["paper"], "depth_seeds", 0),
    (settings.BASELINE_SETTINGS["paper"], "frontier_epochs", ()),
    (settings.BASELINE_METHODS, "sgd_lr", math.nan), (settings.BASELINE_METHODS, "adversarial_eps", 1.5),
    (settings.BASELINE_METHODS, "depths", (0, 1)), (settings.BASELINE_METHODS, "taus", (0, -50)),
]


@pytest.mark.parametrize("record, field, value", BAD,
                         ids=[f"{type(r).__name__}.{f}={v!r}" for r, f, v in BAD])
def test_each_check_refuses_a_bad_value_with_one_line_naming_the_field(record: Any, field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{type(record).__name__}\.{field} must be ") as caught:
        dataclasses.replace(record, **{field: value})
    assert "\n" not in str(caught.value)


def test_a_record_stores_its_sequences_as_tuples() -> None:
    training = Training(widths=[500], lr=1e-3, epochs=3, batch_size=500)  # type: ignore[arg-type]
    assert training.widths == (500,)
    assert training.config_fields() == dict(widths=[500], lr=1e-3, epochs=3, batch_size=500, train_subset=None,
                                            eigen_subset=None)  # the unset optional fields left to TrainConfig
    assert Evaluation().config() == EvalConfig()  # the same defaults as EvalConfig


def test_the_paper_profile_trains_with_the_papers_settings() -> None:
    paper = profiles.profile_settings("paper")
    assert paper.seeds == (0, 1, 2) and profiles.seeds("paper") == [0, 1, 2]
    # the shallow net 784-2000-10: lr 1e-3, 50 epochs, batch 3500, all 60000 training images
    assert (paper.shallow.widths, paper.shallow.lr, paper.shallow.epochs, paper.shallow.batch_size) == \
        ((2000,), 1e-3, 50, 3500)
    shallow = profiles.shallow("paper")
    assert (shallow.widths, shallow.lr, shallow.epochs, shallow.batch_size, shallow.train_subset) == \
        ([2000], 1e-3, 50, 3500, None)
    # the deep nets: lr 1e-4 for 100 epochs at batch 1500 (MLP 3x1000) or 6000 (CNN)
    assert (paper.mlp.lr, paper.mlp.epochs, paper.mlp.batch_size) == (1e-4, 100, 1500)
    assert (paper.cnn.lr, paper.cnn.epochs, paper.cnn.batch_size) == (1e-4, 100, 6000)
    mlp, cnn = profiles.deep("mlp", "paper"), profiles.deep("cnn", "paper")
    assert (mlp.widths, mlp.lr, mlp.epochs, mlp.batch_size) == ([1000, 1000, 1000], 1e-4, 100, 1500)
    assert (cnn.arch, cnn.lr, cnn.epochs, cnn.batch_size) == ("cnn", 1e-4, 100, 6000)
    # tau 10, alpha 1; the deep penalty weights {1, 2, 5}; PGD 40 steps on the full test set
    spec = profiles.shallow_variants("paper")["SpecReg β=1"]
    assert (spec.tau, spec.alpha, spec.optimiser) == (10, 1.0, "adam")
    assert profiles.deep_betas("paper") == [1.0, 2.0, 5.0]
    evaluation = profiles.evaluation("paper")
    assert (evaluation.pgd_steps, evaluation.test_subset) == (40, None)
