"""The attack audit's chapter numbers (onen.analysis.audit_report, onen.analysis.audit_effects) on synthetic audits
with per-image outcomes, against eps50s, accuracies and check values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onen.analysis import audit_effects, audit_report
from onen.cache import CachedResult
from onen.robustness.audit import AuditConfig
from onen.runs.config import EvalConfig

EPS = np.array([0.0, 0.1, 0.2, 0.3])
ATTACKS = ("pgd", "pgd_restarts", "apgd_ce", "apgd_t", "square", "transfer", "worst")
QUIET = {"black_box_beats_white_box": False, "restarts_matter": False, "not_zero_at_largest_eps": False}


def outcomes(correct_per_eps: list[int], n: int = 10) -> np.ndarray:
    """[len(EPS), n] outcomes with the first ``correct_per_eps[i]`` images correct at eps i."""
    return np.arange(n)[None, :] < np.array(correct_per_eps)[:, None]


def audit(curves: dict[str, list[int]], flags: dict[str, bool] | None = None, clean: float = 1.0) -> CachedResult:
    """An audit as onen.robustness.audit.audit_run stores it: per-image outcomes and curves of each attack."""
    arrays = {}
    for attack, counts in curves.items():
        arrays[f"correct_{attack}"] = outcomes(counts)
        arrays[attack] = arrays[f"correct_{attack}"].mean(axis=1)
    flags = dict(QUIET if flags is None else flags)
    flags["any"] = any(flags.values())
    return CachedResult(arrays=arrays, provenance={},
                        meta={"flags": flags, "clean_accuracy": clean, "reasons": {c: f"{c} found" for c in flags}})


def all_attacks(pgd: list[int], worst: list[int]) -> dict[str, list[int]]:
    return {"pgd": pgd, "pgd_restarts": pgd, "apgd_ce": pgd, "apgd_t": pgd, "square": pgd, "worst": worst}


def test_thresholds_and_settings_come_from_the_flag_rule() -> None:
    assert audit_report.flag_defaults() == {"z": 2.0, "restart_gap": 0.02, "zero_level": 0.01}
    assert audit_report.zero_threshold(200) == pytest.approx(0.01 + 2 * math.sqrt(0.01 * 0.99 / 200))
    values = audit_report.setting_values(AuditConfig(n_images=200, eps=(0.0, 0.1, 0.3)), EvalConfig(pgd_steps=20),
                                         26, 1)
    assert values["audit-binomial-se"] == "3.5" and values["audit-eps"] == "0, 0.1, 0.3"  # 100 sqrt(0.25 / 200)
    assert values["audit-zero-threshold"] == "2.4" and values["audit-eps-max"] == "0.3"  # 1 + 200 sqrt(99e-4 / 200)
    assert values["audit-eval-steps"] == "20" and values["audit-n-networks"] == "26"
    assert audit_report.attack_names(5)["pgd_restarts"] == "PGD-5"


def test_accuracy_is_the_mean_over_seeds_of_each_curve() -> None:
    runs = [audit(all_attacks([10, 6, 2, 0], [10, 5, 1, 0])), audit(all_attacks([10, 8, 4, 0], [10, 5, 3, 0]))]
    np.testing.assert_allclose(audit_report.accuracy(runs, "pgd"), [1.0, 0.7, 0.3, 0.0])
    np.testing.assert_allclose(audit_report.accuracy(runs, "worst"), [1.0, 0.5, 0.2, 0.0])
    assert audit_report.accuracy(runs, "transfer") is None  # not run on these networks


def test_radii_read_vanillas_pgd_curve() -> None:
    # Vanilla's PGD-1: 10, 6, 2, 0 correct of 10; half of clean (5) is crossed between 0.1 (6) and 0.2 (2):
    # 0.1 + (6 - 5) / (6 - 2) * 0.1 = 0.125, closest to the grid point 0.1; accuracy <= 1% first at 0.3
    audits = {f"{f} Vanilla": [audit(all_attacks([10, 6, 2, 0], [10, 6, 2, 0]))] for f in audit_report.FAMILIES}
    at = audit_report.radii(audits, EPS)
    assert at["MLP"].half == pytest.approx(0.125) and (at["MLP"].k_half, at["MLP"].k_zero) == (1, 3)
    tables = audit_report.attack_tables(audits, EPS, at, 3)
    assert len(tables) == 3 and tables[0].header[2:9] == ["PGD-1", "PGD-3", "APGD-CE", "APGD-T", "Square",
                                                          "transfer", "worst case"]
    assert tables[0].rows[0] == ["Vanilla", "0.1", "60.0", "60.0", "60.0", "60.0", "60.0", "—", "60.0", "+0.0"]
    assert "Vanilla's PGD-1 ε50 = 0.125" in tables[0].caption


def test_check_values_measure_each_check_in_points() -> None:
    run = audit({"pgd": [10, 6, 2, 0], "pgd_restarts": [10, 5, 2, 0], "apgd_ce": [10, 7, 3, 0],
                 "apgd_t": [10, 7, 3, 0], "square": [10, 8, 1, 0], "worst": [10, 4, 1, 0]})
    # strongest white box: 5, 2, 0 at eps > 0; Square leads it by 1 image (10 points) at 0.2; restarts gain 10 points
    assert audit_report.check_values(run) == pytest.approx([10.0, 10.0, 0.0])


def test_flag_values_and_table_list_every_raised_check() -> None:
    flagged = dict(QUIET, restarts_matter=True)
    audits = {"shallow Vanilla": [audit(all_attacks([10] * 4, [10] * 4))],
              "shallow SpecReg β=1": [audit(all_attacks([10] * 4, [10] * 4), flagged)]}
    values = audit_report.flag_values(audits)
    assert values == {"audit-n-flagged": "1", "audit-flagged-list": "shallow SpecReg β=1", "audit-n-flag-bb": "0",
                      "audit-n-flag-restarts": "1", "audit-n-flag-zero": "0"}
    assert audit_report.flag_table(audits, [0], "quick").rows == [
        ["shallow SpecReg β=1", "0", "restarts matter", "restarts_matter found"]]


def test_an_effect_is_the_eps50_difference_under_each_attack_and_the_gap_closed() -> None:
    # eps50 by hand (half of clean 10 is 5): regularized PGD 10, 8, 4, 0 -> 0.1 + 3/4 * 0.1 = 0.175;
    # worst 10, 6, 2, 0 -> 0.125; Vanilla PGD and worst 10, 4, 0, 0 -> 5 / 6 * 0.1 = 0.0833
    audits = {"MLP SpecReg": [audit(all_attacks([10, 8, 4, 0], [10, 6, 2, 0]))],
              "MLP Vanilla": [audit(all_attacks([10, 4, 0, 0], [10, 4, 0, 0]))]}
    e = audit_effects.effect(audits, "MLP SpecReg", "MLP Vanilla", EPS, 1)
    assert e.pgd.mean == pytest.approx(0.175 - 0.1 / 1.2)
    assert e.worst.mean == pytest.approx(0.125 - 0.1 / 1.2)
    assert e.closed.mean == pytest.approx(0.175 - 0.125)
    assert e.share_closed == pytest.approx(0.05 / (0.175 - 0.1 / 1.2))
    assert e.acc == pytest.approx({"pgd": 40.0, "worst": 20.0}) and e.eps_half == 0.1 and e.n == 1
    assert e.verdict == "not enough seeds"
    row = audit_effects.effects_table({"MLP SpecReg": e}, 10, "quick").rows[0]
    assert row[1:4] == ["Vanilla", "0.1", "+40.0 → +20.0"] and row[-1] == "not enough seeds" and row[7] == f"{round(100 * e.share_closed)}%"
    assert audit_effects.in_words("shallow", e).startswith("in the shallow net the advantage ")


def test_counts_and_sentences_over_the_effects() -> None:
    audits = {"shallow SpecReg β=1": [audit(all_attacks([10, 8, 4, 0], [10, 6, 2, 0]))],
              "shallow SpecReg β=2": [audit(all_attacks([10, 3, 0, 0], [10, 3, 0, 0]))],
              "shallow Vanilla": [audit(all_attacks([10, 4, 0, 0], [10, 4, 0, 0]))]}
    found = {name: audit_effects.effect(audits, name, "shallow Vanilla", EPS, 1) for name in list(audits)[:2]}
    counts = audit_effects.count_values(found, audits)
    assert (counts["audit-n-spectral"], counts["audit-n-positive"], counts["audit-n-survive"]) == ("2", "1", "1")
    # the largest drop from PGD-1 to the worst case: 20 points, SpecReg β=1 at eps 0.1 and 0.2
    assert counts["audit-largest-gap"] == "20.0" and counts["audit-largest-gap-name"] == "shallow SpecReg β=1"
    assert audit_effects.in_words("shallow", found["shallow SpecReg β=2"]).startswith(
        "in the shallow net there is no advantage under PGD-1 to begin with")
    assert audit_effects.verdict_words(found) == "2 not enough seeds"
    assert audit_effects.seed_words(3, 10) == "The intervals cover 3 seeds and the test images."


def test_networks_table_and_the_shown_pairs_values() -> None:
    runs = {"shallow Vanilla": [audit(all_attacks([10, 4, 0, 0], [10, 4, 0, 0]), clean=0.9),
                                audit(all_attacks([10, 4, 0, 0], [10, 4, 0, 0]), clean=0.8)],
            "shallow SpecReg β=1": [audit(all_attacks([10, 8, 4, 0], [10, 6, 2, 0]), clean=0.7)] * 2}
    table = audit_report.networks_table(runs, 10, "quick")
    assert table.rows == [["shallow", "Vanilla", "85.0"], ["shallow", "SpecReg β=1", "70.0"]]
    assert "2 networks x 2 seed(s), 10 test images each" in table.caption
    found = {"shallow SpecReg β=1": audit_effects.effect(runs, "shallow SpecReg β=1", "shallow Vanilla", EPS, 1)}
    values = audit_effects.pair_values(found, {"shallow": ("shallow Vanilla", "shallow SpecReg β=1")})
    # two identical seeds: differences 0.175 - 0.0833 = +0.0917 under PGD-1, 0.125 - 0.0833 = +0.0417 worst case
    assert values["audit-shallow-d-pgd"] == "+0.0917" and values["audit-shallow-d-worst"] == "+0.0417"
    assert values["audit-shallow-share"] == f"{100 * 0.05 / (0.175 - 0.1 / 1.2):.0f}%"
    words = audit_effects.plain_words(found, {"shallow": ("shallow Vanilla", "shallow SpecReg β=1")})
    assert words.startswith("In the shallow net the advantage ") and words.endswith(".")
