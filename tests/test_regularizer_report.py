"""The tables and numbers the regularizer chapters read from their runs (onen.analysis.regularizer_report), against
hand computations: drift medians over epochs, relative errors and penalties of known spectra, the findings of the
basis comparison, and the rows of the readout table."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from onen.analysis import regularizer_report as report
from onen.cache import CachedResult
from onen.runs import regularizer_runs as runs
from onen.runs.training import TrainConfig

matplotlib.use("Agg")


def result(arrays: dict[str, np.ndarray], **meta: Any) -> CachedResult:
    return CachedResult(arrays=arrays, meta=meta, provenance={})


def test_drift_at_takes_the_median_over_epochs_of_the_first_or_last_measurement() -> None:
    arrays = {"drift_epoch": np.array([0, 0, 0, 1, 1, 1, 2, 2.0]),
              "drift_x": np.array([1, 2, 3, 4, 5, 6, 10, 20.0])}
    assert report.drift_at(arrays, "drift_x", 0) == 4.0  # median of 1, 4, 10
    assert report.drift_at(arrays, "drift_x", -1) == 6.0  # median of 3, 6, 20
    arrays.update(drift_penalty_stale=np.array([2, 0, 3, 8, 0, 12, 1, 5.0]),
                  drift_penalty_true=np.array([1, 1, 1, 1, 1, 4, 1, 1.0]))
    assert report.late_penalty_ratio(arrays) == 3.0  # median of 3/1, 12/4, 5/1


def test_median_rel_error_and_penalty_of_known_spectra() -> None:
    truth = 1 / np.arange(1, 101, dtype=np.float64)
    assert report.median_rel_error(truth, truth, tau=10) == 0.0
    assert report.median_rel_error(1.5 * truth, truth, tau=10) == pytest.approx(0.5)
    doubled_tail = truth.copy()
    doubled_tail[50:] *= 2  # 50 of the 89 penalized ranks off by a factor 2: the median is off by 1
    assert report.median_rel_error(doubled_tail, truth, tau=10) == pytest.approx(1.0)
    # Eq. 2 of the target itself is zero; a tail at half its target costs (0.5 - 1)^2 / N per penalized rank
    assert report.penalty_of(truth, tau=10, alpha=1.0) == pytest.approx(0.0, abs=1e-12)
    halved = truth.copy()
    halved[11:] /= 2
    assert report.penalty_of(halved, tau=10, alpha=1.0) == pytest.approx(0.25 * 89 / 100)
    assert report.mean_penalty(np.stack([truth, halved[::-1]]), 10, 1.0) == pytest.approx(0.25 * 89 / 200)
    # against a steeper target (alpha 2) the 1/n tail lies above it by r_k = (k + 1) / 11: the relu term adds r - 1
    r = np.arange(12, 101) / 11
    assert report.penalty_of(truth, tau=10, alpha=2.0) == pytest.approx(np.sum((r - 1) ** 2 + (r - 1)) / 100)


def summary_row(median: float, floor: float, alpha: float, top: float | None = None) -> dict[str, float]:
    return {"median": median, "max": top if top is not None else 2 * median, "floor": floor, "alpha": alpha}


def test_basis_findings_follow_their_definitions() -> None:
    paper, refresh, tracked, sparse = "per epoch", "refresh", "tracked", "sparse"
    summary = {(paper, "a"): summary_row(0.5, 0.04, 1.6), (refresh, "a"): summary_row(0.2, 0.04, 1.4),
               (tracked, "a"): summary_row(0.1, 0.04, 1.2, top=0.3), (sparse, "a"): summary_row(0.15, 0.04, 1.3),
               (paper, "b"): summary_row(0.6, 0.05, 1.7), (refresh, "b"): summary_row(0.08, 0.05, 1.5),
               (tracked, "b"): summary_row(0.1, 0.05, 1.1), (sparse, "b"): summary_row(0.12, 0.05, 1.05)}
    found = report.basis_findings(summary, tracked, sparse, paper)
    assert found["floor_gap"] == pytest.approx(2.0)  # min(0.1 / 0.04, 0.1 / 0.05)
    assert found["sparse_worse"] == [True, False]
    assert not found["best"]  # at rate b the refresh reads better (0.08 < 0.1)
    assert found["closer"] and not found["meets_aim"] and not found["floor_above_aim"]
    summary[(refresh, "b")]["median"] = 0.3
    assert report.basis_findings(summary, tracked, sparse, paper)["best"]


def test_readout_table_rows_are_seed_means() -> None:
    ranks = np.arange(1, 501, dtype=np.float64)
    history = {"penalty": [9.0, 4.0]}
    seeds = [result({"spectrum": ranks ** -1.0, "acc_fgsm": np.array([0.6, 0.2]), "acc_pgd": np.array([0.4, 0.1])},
                    clean_accuracy=0.9, history=history),
             result({"spectrum": ranks ** -2.0, "acc_fgsm": np.array([0.8, 0.4]), "acc_pgd": np.array([0.6, 0.3])},
                    clean_accuracy=0.8, history={"penalty": [9.0, 6.0]})]
    config = TrainConfig(regularizer="spectral", beta=10.0, alpha=1.0, widths=[500], batch_size=500)
    table = report.readout_table({"β=10": config}, {"β=10": seeds}, caption="c")
    assert table.header[-4:] == [f"{a} ε={e:g}" for a in ("FGSM", "PGD") for e in runs.EPS]
    assert table.rows == [["β=10", "1.0", "1.500", "0.500", "0.850", "0.700", "0.300", "0.500", "0.200"]]


def test_drift_summary_and_figure_read_the_first_seed_of_each_rate() -> None:
    steps = np.arange(1.0, 7.0)
    arrays = {"drift_step": steps, "drift_epoch": np.array([0, 0, 0, 1, 1, 1.0]),
              **{key: steps.copy() for key in report.DRIFT_QUANTITIES},
              "drift_penalty_stale": steps + 1, "drift_penalty_true": steps}
    results = {"β=10": [result(arrays, steps_per_epoch=3)],
               "β=10, lr=1e-02": [result({k: 2 * v for k, v in arrays.items()}, steps_per_epoch=3)]}
    drift_runs = {"lr=1e-03": "β=10", "lr=1e-02": "β=10, lr=1e-02"}
    summary = report.drift_summary(results, drift_runs)
    assert summary["lr=1e-03"]["drift_median_rel_error"] == (2.5, 4.5)  # medians of (1, 4) and (3, 6)
    assert summary["lr=1e-02"]["drift_angle_top10"] == (5.0, 9.0)
    assert len(report.drift_table(summary).rows) == 2
    fig = report.drift_figure(results, drift_runs, epochs=2)
    assert len(fig.axes) == 6
