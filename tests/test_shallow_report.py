"""Section 4.1's sentences and numbers (onen.analysis.shallow_report) from synthetic cached runs, against values
computed by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from onen.analysis import report, shallow_report
from onen.cache import CachedResult
from onen.runs.config import EvalConfig
from onen.runs.training import TrainConfig
from onen.spectrum import white_reference_alpha

EPS = np.array([0.0, 0.1, 0.2, 0.3])
VANILLA = TrainConfig(widths=[40])
SPECREG = TrainConfig(widths=[40], regularizer="spectral", tau=10, alpha=1.0, beta=1.0)


def power_law(a: float, n: int = 40) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float64) ** -a


def fake_run(config: TrainConfig, exponent: float, pgd=(1.0, 0.75, 0.25, 0.0), fgsm=(1.0, 0.8, 0.4, 0.0),
             seed: int = 0) -> CachedResult:
    """A run as onen.runs.experiments.run stores it: one hidden layer of 40 units with spectrum n^-exponent."""
    config = dataclasses.replace(config, seed=seed)
    arrays = {"spectrum_0": power_law(exponent), "eps_pgd": EPS, "acc_pgd": np.array(pgd), "eps_fgsm": EPS,
              "acc_fgsm": np.array(fgsm)}
    return CachedResult(arrays=arrays, meta={"clean_accuracy": 1.0},
                        provenance={"config": {"train": config.to_dict()}, "seed": seed})


def test_settings_table_lists_the_profiles_values() -> None:
    base = TrainConfig(widths=[1000], lr=1e-3, batch_size=1000, epochs=4, train_subset=20000, eigen_subset=5000)
    evaluation = EvalConfig(test_subset=500, eps_pgd=[0.0, 0.05, 0.1], pgd_steps=20)
    rows = dict(shallow_report.settings_table(base, evaluation, [0, 1], "quick").rows)
    assert rows["profile, seeds"] == "quick; 0, 1" and rows["network"] == "784-1000-10, tanh"
    assert rows["optimiser"] == "Adam (AMSGrad), learning rate 0.001, batch 1000"
    assert rows["training"] == "4 epochs on 20000 training images"
    assert rows["eigenbasis"] == "from 5000 training images; τ = 10, α = 1"
    assert rows["attacked test images"] == "500" and rows["ε grid"] == "0, 0.05, 0.1"


def test_whitened_values_average_the_exponent_over_seeds() -> None:
    runs = [fake_run(VANILLA, 0.2, seed=0), fake_run(VANILLA, 0.4, seed=1)]
    for run, exponent in zip(runs, (0.2, 0.4)):  # the fit reads ranks 11-500: 600 values
        run.arrays["spectrum_0"] = power_law(exponent, 600)
    values = shallow_report.whitened_values(runs, 1000, 600)
    assert values["shallow-white-alpha"] == pytest.approx(0.3, abs=1e-10)
    assert values["shallow-white-reference"] == white_reference_alpha(1000, 600, (11, 500))
    assert values["shallow-white-images"] == 1000


def test_basis_words_range_over_the_computed_betas_and_compare_with_vanilla() -> None:
    variants = {"Vanilla": VANILLA, "SpecReg β=1": SPECREG, "SpecReg β=2": dataclasses.replace(SPECREG, beta=2.0)}
    # Vanilla's layer fits 2 over the penalized ranks, the regularized ones 1.5 and 1.2 (nearer 1, not reached);
    # their eps50: Vanilla 0.05, SpecReg 0.15 and 0.2, so their gains are +0.1 and +0.15
    results = {"Vanilla": [fake_run(VANILLA, 2.0, pgd=(1.0, 0.0, 0.0, 0.0))],
               "SpecReg β=1": [fake_run(SPECREG, 1.5)],
               "SpecReg β=2": [fake_run(variants["SpecReg β=2"], 1.2, pgd=(1.0, 1.0, 0.5, 0.0))]}
    claims = report.claims_table(results, [("SpecReg β=1", "Vanilla", 1), ("SpecReg β=2", "Vanilla", 1)], "c")
    words = shallow_report.basis_words("epoch", "the basis", variants, results, claims)
    assert words == ("with the basis at the paper's learning rate (β = 1, 2) the hidden layer's exponent over the "
                     "penalized ranks is 1.20-1.50, against 2.00 for Vanilla: nearer the target than Vanilla's, and "
                     "none reached it; their PGD ε50 is +0.100 to +0.150 above Vanilla's")
    assert shallow_report.basis_words("tracked", "the tracked basis", variants, results, claims) == \
        "the tracked basis at the paper's learning rate is not computed yet"


def test_near_score_words_say_whether_the_target_was_reached() -> None:
    assert shallow_report.near_score_words([]) == "it is not computed yet"
    words = shallow_report.near_score_words([fake_run(SPECREG, 1.0, seed=0), fake_run(SPECREG, 1.0, seed=1)])
    # lambda_n = 1/n is exactly the target gamma_k = lambda_11 (11 / n): exponent 1, median log-ratio 0, reached
    assert words == ("over 2 seeds its hidden layer fits α = 1.00 over ranks 12-40, median |log λ/γ| = 0.00, so it "
                     "reached its target")
    far = shallow_report.near_score_words([fake_run(SPECREG, 2.0)])
    assert far.startswith("over 1 seed its hidden layer fits α = 2.00") and far.endswith("did not reach its target")


def test_near_attack_words_compare_the_one_step_and_forty_step_gaps() -> None:
    # robustness score: mean accuracy over the nonzero eps; near: FGSM (0.9 + 0.9 + 0.9) / 3, PGD (0.3 + 0 + 0) / 3
    near = [fake_run(SPECREG, 1.0, pgd=(1.0, 0.3, 0.0, 0.0), fgsm=(1.0, 0.9, 0.9, 0.9))]
    vanilla = [fake_run(VANILLA, 2.0, pgd=(1.0, 0.3, 0.0, 0.0), fgsm=(1.0, 0.3, 0.0, 0.0))]
    words = shallow_report.near_attack_words({"near": near, "V": vanilla}, "near", "V")
    assert words.startswith("Its robustness scores are 0.900 under FGSM and 0.100 under PGD, against 0.100 and 0.100")
    assert "gradient masking" in words
    vanilla[0].arrays["acc_fgsm"] = np.array([1.0, 0.9, 0.9, 0.9])  # the same gap: no sign of masking
    assert "about the same as for Vanilla" in shallow_report.near_attack_words({"near": near, "V": vanilla},
                                                                               "near", "V")
    assert shallow_report.near_attack_words({"near": near}, "near", "V") == "Its attack curves are not computed yet"


def test_distance_words_rank_the_network_closest_to_the_target() -> None:
    results = {"Vanilla": [fake_run(VANILLA, 2.0, pgd=(1.0, 0.0, 0.0, 0.0))],  # eps50 0.05, far from 1/n
               "Near": [fake_run(SPECREG, 1.0)],  # eps50 0.15, on the target
               "Mid": [fake_run(SPECREG, 1.5, pgd=(1.0, 1.0, 0.5, 0.0))]}  # eps50 0.2
    scores, eps50s = shallow_report.distances(results)
    assert eps50s["Mid"].tolist() == [pytest.approx(0.2)] and scores["Near"].median_abs_log_ratio < 0.1
    words = shallow_report.distance_words(results)
    assert words.startswith("The network closest to the target is Near (median |log λ/γ| ")
    assert words.endswith("its PGD ε50, 0.150, is below that of 1 of the other 2 variants, over 1 seed "
                          "(not enough seeds for a verdict).")
    assert shallow_report.distance_words({}) == "No paper-profile network is computed yet."
