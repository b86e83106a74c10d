"""The CIFAR-10 chapter's numbers (onen.analysis.cifar_report) on synthetic cached runs, against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onen.analysis import cifar_report
from onen.cache import CachedResult
from onen.robustness.audit import AuditConfig
from onen.robustness.cifar_c import CifarCorruptionConfig

EPS = np.array([0, 1, 2, 4, 8, 16]) / 255
SIGMAS = np.array([0.0, 0.05, 0.1])


def run(pgd: list[float], clean: float = 0.6, attacked: float = 0.5) -> CachedResult:
    arrays = {"eps_pgd": EPS, "acc_pgd": np.array(pgd), "eps_fgsm": EPS, "acc_fgsm": np.array(pgd) + 0.05,
              "eps_noise": SIGMAS, "acc_noise": np.array([0.5, 0.4, 0.3])}
    return CachedResult(arrays=arrays, meta={"clean_accuracy": clean, "clean_accuracy_attacked": attacked},
                        provenance={})


def test_interval_cell_is_the_mean_alone_or_with_its_t_interval() -> None:
    assert cifar_report.interval_cell([0.5]) == "50.0"
    assert cifar_report.interval_cell([0.1234], digits=2, scale=1) == "0.12"
    # three values 0.4, 0.5, 0.6: mean 50, sd 10, half-width t(0.975, 2) 10 / sqrt(3) = 4.302653 * 5.773503
    half = 4.302652729911275 * 10 / math.sqrt(3)
    assert cifar_report.interval_cell([0.4, 0.5, 0.6]) == f"50.0 [{50 - half:.1f}, {50 + half:.1f}]"


def test_accuracy_at_reads_the_grid_point_of_k_over_255() -> None:
    runs = [run([0.5, 0.4, 0.3, 0.2, 0.1, 0.0]), run([0.6, 0.5, 0.35, 0.2, 0.05, 0.0])]
    np.testing.assert_array_equal(cifar_report.accuracy_at(runs, "pgd", 2), [0.3, 0.35])
    np.testing.assert_allclose(cifar_report.accuracy_at(runs, "fgsm", 8), [0.15, 0.1], rtol=1e-12)
    with pytest.raises(IndexError):
        cifar_report.accuracy_at(runs, "pgd", 3)  # not on the grid


def test_result_values_and_the_accuracy_table_agree() -> None:
    results = {"Vanilla": [run([0.5, 0.4, 0.3, 0.2, 0.1, 0.0], clean=0.61)],
               "SpecReg (all)": [run([0.5, 0.45, 0.35, 0.25, 0.15, 0.0], clean=0.55)],
               "Jacobian": [run([0.5, 0.42, 0.32, 0.22, 0.12, 0.02], clean=0.58)]}
    values = cifar_report.result_values(results)
    assert values["cifar-clean-vanilla"] == "61.0" and values["cifar-pgd2-specreg"] == "35.0"
    assert values["cifar-pgd8-jacobian"] == "12.0" and values["cifar-fgsm2-vanilla"] == "35.0"
    table = cifar_report.accuracy_table(results, 200, "quick")
    assert table.header[:3] == ["network", "clean (10000)", "clean (200)"]
    assert table.header[3] == "FGSM 1/255" and table.header[8] == "PGD 1/255" and table.header[-1] == "noise σ=0.1"
    assert table.rows[1][:3] == ["SpecReg (all)", "55.0", "50.0"] and table.rows[1][9] == "35.0"


def test_interval_words_give_the_binomial_half_width_with_one_seed() -> None:
    results = {"Vanilla": [run([0.5] * 6, attacked=0.5)]}
    words = cifar_report.interval_words(results, 400, 1)
    assert "about ±5 points" in words and "binomial at 50% accuracy" in words  # 196 sqrt(0.25 / 400) = 4.9
    assert cifar_report.interval_words(results, 400, 3) == "Brackets give 95% Student-t intervals over the 3 seeds."


def audit_run(worst: float, clean: float, flags: dict[str, bool]) -> CachedResult:
    arrays = {"pgd": np.array([clean, worst + 0.1]), "worst": np.array([clean, worst]), "square": np.array([clean, 0.9])}
    return CachedResult(arrays=arrays, meta={"clean_accuracy": clean, "flags": flags}, provenance={})


def test_audit_values_flags_and_table() -> None:
    quiet = {"black_box_beats_white_box": False, "restarts_matter": False, "not_zero_at_largest_eps": True}
    audits = {"Vanilla": [audit_run(0.1, 0.5, quiet)], "SpecReg (all)": [audit_run(0.2, 0.4, quiet)]}
    audit = AuditConfig(n_images=100, eps=(0.0, 4 / 255))
    values = cifar_report.audit_values(audits, audit)
    assert values["cifar-audit-worst-vanilla"] == "10.0" and values["cifar-audit-worst-specreg"] == "20.0"
    assert values["cifar-audit-half-width"] == "10"  # 196 sqrt(0.25 / 100) = 9.8
    assert values["cifar-audit-flags"].startswith("Neither masking check")  # the large-radius check is ignored
    audits["SpecReg (all)"].append(audit_run(0.2, 0.4, dict(quiet, restarts_matter=True)))
    assert cifar_report.one_radius_flags(audits) == {"Vanilla": [], "SpecReg (all)": ["restarts_matter"]}
    assert cifar_report.audit_values(audits, audit)["cifar-audit-flags"] == \
        "Masking checks fire for SpecReg (all): restarts_matter."
    table = cifar_report.audit_table(audits, audit)
    assert table.header == ["network", "clean", "pgd", "square", "worst", "masking flags"]
    assert table.rows[0] == ["Vanilla", "50.0", "20.0", "90.0", "10.0", "none"]


def test_mean_corruption_accuracy_and_its_table() -> None:
    accuracy = np.array([[0.5, 0.3], [0.4, 0.2]])  # two corruptions x two severities
    corrupted = {"Vanilla": [CachedResult(arrays={"accuracy": accuracy}, meta={"clean_accuracy": 0.6},
                                          provenance={})]}
    mca = cifar_report.mean_corruption_accuracy(corrupted)
    assert mca["Vanilla"].tolist() == [pytest.approx((0.5 + 0.3 + 0.4 + 0.2) / 4)]
    config = CifarCorruptionConfig(test_subset=50, severities=(1, 5), corruptions=("gaussian_noise", "contrast"))
    table = cifar_report.corruption_table(corrupted, config)
    assert table.rows == [["Vanilla", "60.0", "40.0", "30.0", "35.0"]]
