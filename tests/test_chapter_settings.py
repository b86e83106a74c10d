"""The chapters' own settings live in onen.analysis.profiles: the regularizer and eigenbasis chapters read
``regularizer_settings``, the background chapter ``background_settings`` (no MNIST needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from onen.analysis import profiles
from onen.analysis.settings import BackgroundSettings, PixelImages, RegularizerSettings, Training
from onen.runs.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("settings", [profiles.regularizer_settings, profiles.background_settings])
def test_an_unknown_profile_is_refused_with_the_profiles_error(settings) -> None:
    with pytest.raises(ValueError, match="profile must be one of"):
        settings("papr")
    for profile in profiles.PROFILES:
        assert settings(profile)  # every profile of the book has them


def test_the_regularizer_settings_are_the_chapters_values() -> None:
    quick, paper = profiles.regularizer_settings("quick"), profiles.regularizer_settings("paper")
    assert quick == RegularizerSettings(
        seeds=(0,),
        train=Training(widths=(500,), lr=1e-3, epochs=3, batch_size=500, train_subset=10000, eigen_subset=3000),
        attack_images=300, pgd_steps=20, spectrum_images=2000, drift_every=5,
        batch_study_draws=20, refresh_every=5, heldout_images=5000,
    )
    assert paper == RegularizerSettings(
        seeds=(0, 1, 2),
        train=Training(widths=(2000,), lr=1e-3, epochs=50, batch_size=3500, train_subset=None, eigen_subset=None),
        attack_images=None, pgd_steps=40, spectrum_images=None, drift_every=4,
        batch_study_draws=100, refresh_every=5, heldout_images=10000,
    )
    net = TrainConfig(arch="mlp", activation="tanh", regularizer="spectral", **quick.train.config_fields())
    assert (net.widths, net.batch_size) == ([500], 500)  # 784-500-10 at batch 500
    for settings in (quick, paper):
        assert settings.train.batch_size >= max(settings.train.widths)  # the paper's basis needs B >= N
    # the search of the tracked-basis chapter trains the same small net in the quick profile
    assert profiles.profile_settings("quick").search.train == quick.train


def test_the_background_settings_are_the_chapters_values() -> None:
    assert profiles.background_settings("quick") == BackgroundSettings(
        circle_points=2048, pixel_images=PixelImages(mnist=10000, fashion_mnist=10000, cifar10=5000),
        network_points=1024)
    assert profiles.background_settings("paper") == BackgroundSettings(
        circle_points=4096, pixel_images=PixelImages(mnist=None, fashion_mnist=None, cifar10=None),
        network_points=4096)


def test_the_settings_are_frozen_records_handed_out_as_they_are() -> None:
    settings = profiles.regularizer_settings("quick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.train.widths = (7,)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        settings.seeds.append(7)  # type: ignore[attr-defined]  # a tuple
    background_settings = profiles.background_settings("quick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        background_settings.pixel_images.mnist = 1  # type: ignore[misc]
    assert profiles.regularizer_settings("quick") is settings
    assert profiles.regularizer_settings("quick").train.widths == (500,)
    assert profiles.background_settings("quick").pixel_images.mnist == 10000


@pytest.mark.parametrize("chapter, call", [("regularizer", "profiles.regularizer_settings(profile)"),
                                           ("eigenbasis", "profiles.regularizer_settings(profile)"),
                                           ("background", "profiles.background_settings(profile)")])
def test_the_chapters_read_their_settings_from_the_profiles(chapter: str, call: str) -> None:
    source = (REPO / "book" / f"{chapter}.py").read_text(encoding="utf-8")
    assert call in source
    assert "PROFILES = {" not in source and "SETTINGS = {" not in source  # no private table beside it


def test_chapter_setup_defaults_to_the_profiles_results_folder_of_the_repository() -> None:
    for profile in profiles.PROFILES:
        setup = profiles.chapter_setup(profile)
        assert setup.results_dir == str(REPO / "results" / profile)
        assert setup.seeds == profiles.seeds(profile)
        assert setup.evaluation == profiles.evaluation(profile)
        assert setup.device == "auto" and setup.torch_device.type in ("cpu", "cuda")


def test_chapter_setup_keeps_a_given_folder_seeds_and_device(tmp_path, monkeypatch) -> None:
    setup = profiles.chapter_setup("paper", tmp_path / "mine", [2, 0], "cpu")
    assert setup.results_dir == str((tmp_path / "mine").resolve())
    assert setup.seeds == [2, 0]  # in the order given
    assert str(setup.torch_device) == "cpu" and setup.device == "cpu"
    monkeypatch.chdir(tmp_path)  # a relative folder is the working directory's
    assert profiles.chapter_setup("quick", "rel").results_dir == str((tmp_path / "rel").resolve())
    # the regularizer chapters' own seeds replace the profile's only where none are asked for
    assert profiles.chapter_setup("paper", None, None, default_seeds=[7]).seeds == [7]
    assert profiles.chapter_setup("paper", None, [1], default_seeds=[7]).seeds == [1]


def test_chapter_setup_refuses_bad_parameters_with_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"profile must be one of \['paper', 'quick'\], got 'papr'"):
        profiles.chapter_setup("papr")
    for seeds in ([], [0, 0], [-1], [0.5], [True], "0"):
        with pytest.raises(ValueError, match="seeds"):
            profiles.chapter_setup("quick", None, seeds)
    with pytest.raises(ValueError, match="results_dir"):
        profiles.chapter_setup("quick", "")
    with pytest.raises(ValueError, match="unknown device"):
        profiles.chapter_setup("quick", device="tpu")


def test_every_executed_chapter_sets_itself_up_with_chapter_setup() -> None:
    chapters = [p for p in sorted((REPO / "book").glob("*.py")) if p.stem != "audit"]
    assert len(chapters) >= 8
    for chapter in chapters:
        text = chapter.read_text(encoding="utf-8")
        assert "profiles.chapter_setup(profile, results_dir, seeds, device" in text, chapter.name
        assert "results_dir_for" not in text, chapter.name


def test_nbval_checks_are_cell_tags_not_comments_that_show_in_the_book() -> None:
    tagged = 0
    for chapter in sorted((REPO / "book").glob("*.py")):
        if chapter.stem == "audit":
            continue
        text = chapter.read_text(encoding="utf-8")
        assert "NBVAL_" not in text, chapter.name
        tagged += text.count('# %% tags=["nbval-check-output"]')
    assert tagged >= 20


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_shallow_claims_name_networks_of_the_chapter_with_the_papers_signs(profile: str) -> None:
    names = set(profiles.shallow_variants(profile))
    claims = profiles.shallow_claims(profile)
    assert all(treated in names and reference in names and sign in (-1, 1) for treated, reference, sign in claims)
    assert ("Whitened", "Vanilla", -1) in claims and ("SpecReg β=2", "Vanilla", +1) in claims
    assert (profiles.nearest_pair(profile)[1], profiles.nearest_pair(profile)[0], +1) in claims
    assert len({treated for treated, _, _ in claims}) == len(claims)  # one claim per treated network
