"""The search for the 1/n point (onen.runs.search): grid, choice of the closest point, a cached point end to end on
synthetic data (no MNIST needed), and the committed paper-profile search points."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from onen.runs import experiments
from onen.analysis import profiles
from onen.analysis.settings import SearchPoint
from onen.runs import search
from onen.cache import _load
from onen.data import Split
from onen.runs.experiments import CACHE_ONLY_ENV, CHECKPOINTS_ENV, NotCached
from onen.spectrum import TargetScore
from onen.runs.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
TRACKED = dict(basis="tracked", track_every=1, track_momentum=0.5)


def test_grid_has_vanilla_and_regularized_points_at_every_rate() -> None:
    base = TrainConfig(widths=[16], epochs=3)
    points = search.grid(base, [2, 7], [1e-3, 1e-2], epochs=5, basis=TRACKED)
    assert sorted(points) == [(1e-3, 0.0), (1e-3, 2.0), (1e-3, 7.0), (1e-2, 0.0), (1e-2, 2.0), (1e-2, 7.0)]
    vanilla, regularized = points[(1e-2, 0.0)], points[(1e-2, 7.0)]
    assert vanilla.regularizer == "none" and vanilla.basis == "epoch" and vanilla.lr == 1e-2 and vanilla.epochs == 5
    assert (regularized.regularizer, regularized.beta, regularized.basis) == ("spectral", 7.0, "tracked")
    assert regularized.widths == base.widths


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_grid_rejects_bad_weights(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        search.grid(TrainConfig(), [1.0, bad], [1e-3], epochs=1, basis=TRACKED)


def point(beta: float, alpha: float, log_ratio: float) -> search.Point:
    return search.Point(1e-3, beta, TargetScore(alpha, 1.0, log_ratio, (12, 100)), 0.9)


def test_closest_is_the_smallest_exponent_gap_among_regularized_points() -> None:
    points = [point(0, 1.0, 0.0), point(1, 1.5, 0.1), point(5, 0.85, 2.0), point(20, 1.2, 0.1), point(50, math.nan, 0)]
    assert search.closest(points).beta == 5  # |0.85 - 1| beats |1.2 - 1| whatever the log-ratio; Vanilla never counts
    tie = [point(1, 1.25, 0.9), point(2, 0.75, 0.5)]
    assert search.closest(tie).beta == 2  # equal gaps: the smaller log-ratio
    with pytest.raises(ValueError, match="no regularized"):
        search.closest([point(0, 1.0, 0.0)])


def synthetic(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = (0.1 * torch.rand(n, 1, 28, 28, generator=g))
    images[torch.arange(n), 0, labels, labels] += 0.8  # a learnable pixel per class
    return Split(images.clamp(0, 1), labels)


def test_search_point_end_to_end_cache_hit_equals_fresh_compute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    splits = {"train": synthetic(200, 0), "test": synthetic(100, 1)}
    monkeypatch.setattr(experiments, "dataset", lambda name, split, device, **_: splits[split])
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    config = TrainConfig(widths=[24], epochs=2, batch_size=50, lr=1e-2, regularizer="spectral", beta=1.0, **TRACKED)
    assert search.stored_point(config, 80, str(tmp_path / "results")) is None
    fresh = search.search_point(config, 80, str(tmp_path / "results"), device="cpu", progress=False)
    np.testing.assert_array_equal(search.stored_point(config, 80, str(tmp_path / "results")).arrays["spectrum"],
                                  fresh.arrays["spectrum"])
    spectrum = fresh.arrays["spectrum"]
    assert spectrum.shape == (24,) and np.all(np.diff(spectrum) <= 0)  # descending, the layer's width
    assert 0 <= fresh.meta["clean_accuracy"] <= 1 and len(fresh.meta["history"]["loss"]) == 2
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")  # a second call must not train
    again = search.search_point(config, 80, str(tmp_path / "results"), device="cpu", progress=False)
    np.testing.assert_array_equal(again.arrays["spectrum"], spectrum)
    assert again.meta["clean_accuracy"] == fresh.meta["clean_accuracy"]
    with pytest.raises(NotCached, match=CACHE_ONLY_ENV):  # a different number of spectrum images is another point
        search.search_point(config, 60, str(tmp_path / "results"), device="cpu", progress=False)


def test_every_profile_has_a_search_grid_that_regularizes_with_the_tracked_basis() -> None:
    for profile in profiles.PROFILES:
        points, _ = profiles.search_grid(profile)
        regularized = [c for name, c in points.items() if "Vanilla" not in name]
        assert regularized and all(c.basis == "tracked" and c.beta > 0 for c in regularized)
        assert all(c.regularizer == "none" for name, c in points.items() if "Vanilla" in name)
    paper, images = profiles.search_grid("paper")
    shallow = profiles.shallow("paper")
    assert images is None  # scored on all 10000 test images
    assert all(c.widths == shallow.widths and c.batch_size == shallow.batch_size and c.train_subset is None
               and c.epochs == shallow.epochs for c in paper.values())


def test_committed_paper_search_points_are_intact_and_on_the_grid() -> None:
    """Every committed search point passes the cache's checksum and is a point of the paper grid or one of the
    profile's longer runs of a grid point."""
    entries = sorted((REPO / "results" / "paper" / "regularizer_search").glob("*.json"))
    if not entries:
        pytest.skip("no paper-profile search points committed")
    points, images = profiles.search_grid("paper")
    points = {**points, **profiles.search_longer("paper")}
    wanted = {json.dumps({"train": c.to_dict(), "spectrum_images": images, "measures": search.MEASURES},
                         sort_keys=True) for c in points.values()}
    for json_path in entries:
        record = json.loads(json_path.read_text())
        assert _load(json_path.with_suffix(".npz"), json_path, record["config"]) is not None, json_path
        assert json.dumps(record["config"], sort_keys=True) in wanted, f"{json_path.name} is not on the paper grid"


def test_longer_search_points_extend_a_grid_point_and_nothing_else(monkeypatch) -> None:
    grid, _ = profiles.search_grid("paper")
    longer = profiles.search_longer("paper")
    for name, config in longer.items():
        base_name, epochs, *seed = name.split(", ")
        expected_seed = int(seed[0].removeprefix("seed ")) if seed else grid[base_name].seed
        assert config == dataclasses.replace(grid[base_name], epochs=int(epochs.split()[0]), seed=expected_seed)
        assert config.epochs > grid[base_name].epochs
    # the 200-epoch point continues a network that is also a point at 100 epochs: the pair differs only in epochs
    assert dataclasses.replace(longer["lr=1e-02 β=20, 200 epochs, seed 1"], epochs=100) == \
        longer["lr=1e-02 β=20, 100 epochs, seed 1"]
    assert {c.seed for c in grid.values()} == {profiles.seeds("paper")[0]}
    assert profiles.search_longer("quick") == {}
    paper = profiles.profile_settings("paper")
    for bad in (dict(lr=1e-2, beta=20, epochs=50), dict(lr=1e-2, beta=7, epochs=100),
                [dict(lr=1e-2, beta=20, epochs=100), dict(lr=1e-2, beta=20, epochs=100, seed=0)]):
        points = tuple(SearchPoint(**point) for point in (bad if isinstance(bad, list) else [bad]))
        changed = dataclasses.replace(paper, search=dataclasses.replace(paper.search, longer=points))
        monkeypatch.setattr(profiles, "PROFILES", {**profiles.PROFILES, "paper": changed})
        with pytest.raises(ValueError, match="longer search point"):
            profiles.search_longer("paper")
    for seed in (-1, 1.5):  # a point's own seed is checked when the record is built
        with pytest.raises(ValueError, match="SearchPoint.seed must be None or an integer >= 0"):
            SearchPoint(lr=1e-2, beta=20, epochs=100, seed=seed)


def test_the_command_line_runs_each_search_point_once_at_its_own_seed(capsys: pytest.CaptureFixture[str]) -> None:
    from onen.commands.cli import chapter_jobs, main

    jobs = {job.name: job for job in chapter_jobs(["search"], "paper")}
    points = {**profiles.search_grid("paper")[0], **profiles.search_longer("paper")}
    assert list(jobs) == list(points)
    assert all(job.config == points[name] and job.seed == points[name].seed for name, job in jobs.items())
    assert jobs["lr=1e-02 β=20, 200 epochs, seed 1"].seed == 1 and jobs["lr=1e-02 β=20"].seed == 0
    shallow = chapter_jobs(["shallow"], "paper", seeds=[4, 5], variants=["Vanilla"])
    assert [(job.seed, job.config.seed) for job in shallow] == [(4, 4), (5, 5)]
    with pytest.raises(ValueError, match="do not apply to the search"):
        chapter_jobs(["search"], "paper", seeds=[1])
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--profile", "paper", "--seeds", "1"])
    assert exit_.value.code == 2 and "does not apply to the search" in capsys.readouterr().err
