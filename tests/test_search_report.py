"""The search's read-back (onen.analysis.search_report) on synthetic stored points, against hand computations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from onen.analysis import search_report
from onen.cache import CachedResult
from onen.runs import search
from onen.runs.training import TrainConfig

GRID = TrainConfig(widths=[2000], lr=1e-2, epochs=10, seed=0)


def point(exponent: float, clean: float, penalty: list[float]) -> CachedResult:
    spectrum = np.arange(1, 2001, dtype=np.float64) ** -exponent
    return CachedResult(arrays={"spectrum": spectrum}, meta={"clean_accuracy": clean, "history": {"penalty": penalty}},
                        provenance={})


@pytest.fixture
def points(monkeypatch: pytest.MonkeyPatch) -> search_report.Search:
    grid = {"lr=1e-02 Vanilla": dataclasses.replace(GRID, beta=0.0),
            "lr=1e-02 β=5": dataclasses.replace(GRID, beta=5.0, regularizer="spectral"),
            "lr=1e-02 β=20": dataclasses.replace(GRID, beta=20.0, regularizer="spectral")}
    longer = {"lr=1e-02 β=20, 30 epochs": dataclasses.replace(grid["lr=1e-02 β=20"], epochs=30),
              "lr=1e-02 β=5, 30 epochs": dataclasses.replace(grid["lr=1e-02 β=5"], epochs=30),
              "lr=1e-02 β=5, 30 epochs, seed 1": dataclasses.replace(grid["lr=1e-02 β=5"], epochs=30, seed=1)}
    stored = {(1e-2, 0.0, 10, 0): point(2.0, 0.98, [0.0] * 10),
              (1e-2, 5.0, 10, 0): point(1.5, 0.97, [50.0] * 10),
              (1e-2, 20.0, 10, 0): point(1.3, 0.96, [200.0] * 10),
              (1e-2, 20.0, 30, 0): point(1.05, 0.95, [200.0] * 24 + [100.0, 90.0, 80.0, 70.0, 60.0, 50.0])}
    monkeypatch.setattr(search, "stored_point", lambda c, images, folder: stored.get((c.lr, c.beta, c.epochs, c.seed)))
    return search_report.load(grid, longer, None, "unused", 10, 1.0)


def test_load_keeps_the_grids_order_then_the_longer_runs(points: search_report.Search) -> None:
    assert list(points.found) == [(1e-2, 0.0, 10, 0), (1e-2, 5.0, 10, 0), (1e-2, 20.0, 10, 0), (1e-2, 20.0, 30, 0),
                                  (1e-2, 5.0, 30, 0), (1e-2, 5.0, 30, 1)]
    assert points.found[(1e-2, 5.0, 30, 1)] is None and len(points.scored) == 4
    assert (points.epochs, points.seed) == (10, 0)
    assert points.scored[(1e-2, 5.0, 10, 0)].score.fitted_alpha == pytest.approx(1.5, abs=1e-10)


def test_table_and_the_nearest_point(points: search_report.Search) -> None:
    rows = search_report.table(points).rows
    assert rows[0] == ["1e-02", "Vanilla", "10", "0", "2.00", rows[0][5], "no", "98.00"]
    assert rows[-1] == ["1e-02", "5", "30", "1", "missing", "", "", ""]
    key, nearest = points.nearest()
    assert key == (1e-2, 20.0, 30, 0) and nearest.beta == 20.0  # exponent 1.05: the closest to 1
    assert search_report.nearest_words(points).startswith("β = 20 at learning rate 1e-02 after 30 epochs: fitted "
                                                          "exponent 1.05")


def test_band_ratios_match_the_target_rank_by_rank(points: search_report.Search) -> None:
    ratios = search_report.band_ratios(points)
    assert (1e-2, 0.0, 10, 0) not in ratios  # Vanilla has no target
    # lambda_n = n^-1.5 against gamma_n = lambda_11 (11 / n): the ratio is (11 / n)^0.5 at rank n
    n = np.arange(12, 21)
    assert ratios[(1e-2, 5.0, 10, 0)]["head"] == pytest.approx(np.median((11 / n) ** 0.5))
    ranks = np.arange(12, 2001)
    assert ratios[(1e-2, 5.0, 10, 0)]["under half"] == pytest.approx(np.mean((11 / ranks) ** 0.5 < 0.5))


def test_why_words_give_the_penalty_drop_over_the_last_five_epochs(points: search_report.Search) -> None:
    # the nearest point's penalty / beta falls from 100 / 20 = 5 five epochs before the end to 50 / 20 = 2.5
    words = search_report.why_words(points)
    assert "Its penalty fell by 50.0% over its last 5 epochs: it was still moving" in words
    # n^-1.05 against 11 / n: (11 / n)^0.05 below the target beyond rank 11, 0.89 at the median of ranks 50-200
    middle = np.median((11 / np.arange(50, 201)) ** 0.05)
    assert f"{middle:.2f} over ranks 50-200" in words and "stays below it, which steepens the fit" in words


def test_longer_words_pair_each_longer_run_with_its_shorter_one(points: search_report.Search) -> None:
    words = search_report.longer_words(points)
    assert words.startswith("Trained on from 10 to 30 epochs, the seed-0 network at β = 20 and learning rate 1e-02 "
                            "moves its fitted exponent from 1.300 to 1.050")
    # the seed-1 run has no shorter run of its own seed to be compared with, so it has no sentence
    assert words.endswith("The seed-0 network at β = 5 and learning rate 1e-02 is not computed yet at 30 epochs.")


def test_rule_words_compare_the_two_rules_on_the_same_points(points: search_report.Search) -> None:
    # pure power laws: the exponent nearest 1 (1.05) also has the smallest median log-ratio, so the rules agree
    assert search_report.rule_words(points) == "the median log-ratio alone picks the same point"
    # give the beta=5 grid point a smaller median log-ratio than the nearest point's: the rules part
    key = (1e-2, 5.0, 10, 0)
    p = points.scored[key]
    nearest = points.nearest()[1].score.median_abs_log_ratio
    points.scored[key] = dataclasses.replace(p, score=dataclasses.replace(p.score, median_abs_log_ratio=nearest / 2))
    words = search_report.rule_words(points)
    assert words.startswith("the median log-ratio alone would pick another point, lr=1e-02 β=5, 10 ep. (fitted "
                            "exponent 1.50")
    assert points.nearest()[0] == (1e-2, 20.0, 30, 0)  # the search's own rule is unchanged
