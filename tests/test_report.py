"""The chapters' tables from synthetic cached runs (no data, no training): target scores of the regularized layers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from onen.analysis import report
from onen.cache import CachedResult
from onen.analysis.report import REFERENCE_TARGET, regularized_layers, summary_table, target_scores, train_config
from onen.runs.training import TrainConfig

EPS = np.array([0.0, 0.1, 0.2, 0.3])


def power_law(n_dims: int, a: float) -> np.ndarray:
    return np.arange(1, n_dims + 1, dtype=np.float64) ** -a


def fake_run(config: TrainConfig, spectra: list[np.ndarray], pgd=(0.98, 0.5, 0.0, 0.0), clean: float = 0.98,
             bare: bool = False) -> CachedResult:
    """A cached run as :func:`onen.runs.experiments.run` stores it (or with a bare TrainConfig dict as its config)."""
    arrays = {f"spectrum_{i}": s for i, s in enumerate(spectra)}
    for attack, acc in (("fgsm", (0.98, 0.6, 0.1, 0.0)), ("pgd", pgd), ("noise", (0.98, 0.97, 0.9, 0.8))):
        arrays[f"eps_{attack}"], arrays[f"acc_{attack}"] = EPS, np.array(acc)
    stored = config.to_dict() if bare else {"train": config.to_dict(), "eval": {"test_subset": 500}}
    return CachedResult(arrays=arrays, meta={"clean_accuracy": clean},
                        provenance={"config": stored, "seed": config.seed})


VANILLA = TrainConfig(widths=[20, 14])
SPECREG = TrainConfig(widths=[20, 14], regularizer="spectral", spectral_layers="last", tau=10, alpha=1.0)


def test_regularized_layers_follow_the_config() -> None:
    assert regularized_layers(VANILLA, 3) == []
    assert regularized_layers(TrainConfig(regularizer="jacobian", spectral_layers="all"), 3) == []
    assert regularized_layers(TrainConfig(regularizer="spectral", spectral_layers="last"), 3) == [2]
    assert regularized_layers(TrainConfig(regularizer="spectral", spectral_layers="all"), 3) == [0, 1, 2]
    assert regularized_layers(TrainConfig(regularizer="spectral", spectral_layers=[2, 0]), 3) == [0, 2]
    assert regularized_layers(TrainConfig(regularizer="spectral", spectral_layers=[-1]), 3) == [2]
    with pytest.raises(ValueError):
        regularized_layers(TrainConfig(regularizer="spectral", spectral_layers=[3]), 3)


def test_train_config_from_either_provenance() -> None:
    run = fake_run(SPECREG, [power_law(20, 1.0), power_law(14, 1.0)])
    bare = fake_run(SPECREG, [power_law(20, 1.0), power_law(14, 1.0)], bare=True)
    assert train_config(run) == SPECREG == train_config(bare)
    assert report.n_blocks(run) == 2


def test_target_scores_of_a_regularized_last_layer_over_seeds() -> None:
    # 14 units, tau = 10: the penalized ranks are 12, 13, 14 (0-based k = 11, 12, 13), and gamma_k = lambda_10 11/(k+1)
    # for alpha = 1. An exact n^-a spectrum is off by |a - 1| log((k+1)/11) at rank k, so its median over the three
    # ranks is |a - 1| log(13/11); and the fit over them is exactly a.
    runs = [fake_run(TrainConfig(**{**SPECREG.to_dict(), "seed": seed}), [power_law(20, 0.5), power_law(14, a)])
            for seed, a in ((0, 1.0), (1, 1.2))]
    (score,) = target_scores(runs)
    assert score.layer == 1 and score.regularized and score.tau == 10 and score.target_alpha == 1.0
    assert score.ranks == (12, 14)
    assert score.fitted_alpha == pytest.approx(1.1, abs=1e-10)
    assert score.fitted_alpha_sd == pytest.approx(math.sqrt(2) * 0.1, abs=1e-10)  # sd of {1.0, 1.2}, ddof 1
    assert score.median_abs_log_ratio == pytest.approx((0.0 + 0.2 * math.log(13 / 11)) / 2, abs=1e-12)
    # seed 0 is exactly on target, seed 1 misses the exponent by 0.2 > 0.1: not every seed reached it
    assert [s.reached for s in score.per_seed] == [True, False]
    assert not score.reached
    # with seed 1 at a = 1.05 both seeds reach it
    runs[1].arrays["spectrum_1"] = power_law(14, 1.05)
    (score,) = target_scores(runs)
    assert score.reached and score.median_abs_log_ratio == pytest.approx(0.05 * math.log(13 / 11) / 2, abs=1e-12)


def test_target_scores_of_an_unregularized_variant_use_the_reference_target() -> None:
    # tau and alpha of a non-spectral config mean nothing; its layers are scored against 1/n with tau = 10
    config = TrainConfig(widths=[20, 14], tau=3, alpha=2.0)
    runs = [fake_run(config, [power_law(20, 0.5), power_law(14, 1.5)])]
    assert target_scores(runs) == []
    (score,) = target_scores(runs, layers=[1])
    assert REFERENCE_TARGET == (10, 1.0)
    assert not score.regularized and (score.tau, score.target_alpha) == REFERENCE_TARGET
    assert score.ranks == (12, 14)
    assert score.fitted_alpha == pytest.approx(1.5, abs=1e-10) and math.isnan(score.fitted_alpha_sd)
    assert score.median_abs_log_ratio == pytest.approx(0.5 * math.log(13 / 11), abs=1e-12)
    assert not score.reached


def test_target_scores_use_the_variants_own_tau_and_alpha() -> None:
    # tau = 3, alpha = 2 on every layer of a 10- and an 8-unit network: ranks 5..N, gamma_k = lambda_3 (4/(k+1))^2.
    # A 10-unit n^-2.5 spectrum is off by 0.5 log((k+1)/4) at k = 4..9 (k + 1 = 5..10); the median of those six is
    # the mean of the middle two, at k + 1 = 7 and 8.
    config = TrainConfig(widths=[10, 8], regularizer="spectral", spectral_layers="all", tau=3, alpha=2.0)
    runs = [fake_run(config, [power_law(10, 2.5), power_law(8, 2.0)])]
    first, second = target_scores(runs)
    assert (first.layer, second.layer) == (0, 1) and first.regularized and second.regularized
    assert (first.tau, first.target_alpha, first.ranks, second.ranks) == (3, 2.0, (5, 10), (5, 8))
    assert first.fitted_alpha == pytest.approx(2.5, abs=1e-10) and second.fitted_alpha == pytest.approx(2.0, abs=1e-10)
    assert first.median_abs_log_ratio == pytest.approx(0.5 * (0.5 * math.log(7 / 4) + 0.5 * math.log(8 / 4)),
                                                       abs=1e-12)
    assert second.median_abs_log_ratio == pytest.approx(0.0, abs=1e-12)
    assert not first.reached and second.reached
    # asking for a layer the runs do not store is an error
    with pytest.raises(ValueError):
        target_scores(runs, layers=[2])


def test_target_scores_need_runs_of_one_configuration() -> None:
    a = fake_run(SPECREG, [power_law(20, 1.0), power_law(14, 1.0)])
    b = fake_run(TrainConfig(**{**SPECREG.to_dict(), "beta": 2.0, "seed": 1}), [power_law(20, 1.0), power_law(14, 1.0)])
    with pytest.raises(ValueError):
        target_scores([a, b])
    with pytest.raises(ValueError):
        target_scores([])


def test_summary_table_shows_the_target_columns() -> None:
    results = {
        "Vanilla": [fake_run(VANILLA, [power_law(20, 0.8), power_law(14, 1.5)], pgd=(0.98, 0.4, 0.0, 0.0),
                             clean=0.975)],
        "SpecReg": [fake_run(SPECREG, [power_law(20, 0.8), power_law(14, 1.05)], pgd=(0.98, 0.6, 0.2, 0.0))],
    }
    table = summary_table(results, layers=[0, 1])
    assert table.header == ["model", "clean acc", "FGSM score", "PGD score", "noise score", "PGD ε50", "PGD→0 at eps",
                            "alpha L1",
                      "L2 target α", "L2 α fit", "L2 med|log λ/γ|", "L2 reached"]
    cells = {row[0]: row for row in table.rows}
    # Vanilla: PGD score mean(0.4, 0, 0) = 0.133; eps50: half of 0.975 crossed between 0.98 at 0 and 0.4 at 0.1,
    # (0.98 - 0.4875) / 0.58 * 0.1 = 0.085; SpecReg: half of 0.98 between 0.6 at 0.1 and 0.2 at 0.2, 0.1 + 0.11 / 0.4
    # * 0.1 = 0.1275; zero at 0.2; layer 1 fitted over 11-14 (0.80); layer 2 scored
    # against the reference 1/n target in parentheses: exponent 1.5, median 0.5 log(13/11) = 0.08, not reached
    assert cells["Vanilla"] == ["Vanilla", "0.975", "0.233", "0.133", "0.890", "0.085", "0.2", "0.80",
                                "(1)", "1.50", f"{0.5 * math.log(13 / 11):.2f}", "(no)"]
    assert cells["SpecReg"] == ["SpecReg", "0.980", "0.233", "0.267", "0.890", "0.128", "0.3", "0.80",
                                "1", "1.05", f"{0.05 * math.log(13 / 11):.2f}", "yes"]
    legend = "\n".join(table.notes)
    assert legend in str(table) and "<tfoot>" in table._repr_html_()
    assert "alpha: exponent fitted over ranks 11-500" in legend
    assert "penalized ranks τ+2..N of the test-image spectrum (L2 12-14)" in legend
    assert "<= 0.1 and med|log λ/γ| <= 0.69 (a factor 2), in every seed" in legend
    assert "(...): layer not regularized in that variant; scored against α = 1 with τ = 10" in legend


def test_summary_table_with_seeds_and_no_regularized_layer() -> None:
    runs = [fake_run(TrainConfig(**{**SPECREG.to_dict(), "seed": seed}), [power_law(20, 0.8), power_law(14, a)])
            for seed, a in ((0, 1.0), (1, 1.2))]
    table = summary_table({"SpecReg": runs}, layers=[0])
    assert table.rows[0][-4:] == ["1", "1.10 ± 0.14", f"{0.1 * math.log(13 / 11):.2f}", "no"]
    assert "(...)" not in str(table)  # every row's layer 2 is regularized
    # a table of unregularized variants only has no target columns, as before
    plain = summary_table({"Vanilla": [fake_run(VANILLA, [power_law(20, 0.8), power_law(14, 1.5)])]}, layers=[0, 1])
    assert plain.header[-2:] == ["alpha L1", "alpha L2"] and len(plain.rows) == 1
    assert "target" not in str(plain) and "penalized" not in str(plain) and len(plain.notes) == 2


def test_closest_beta_picks_the_spectrum_nearest_its_target_and_ignores_robustness() -> None:
    """Three weights whose regularized layer decays as n^-1.6, n^-1.05 and n^-1.3: the rule picks the second, whatever
    the robustness curves say (the best one is given to the farthest spectrum), and breaks ties towards smaller beta."""
    results = {"Vanilla": [fake_run(VANILLA, [power_law(20, 2.0), power_law(14, 2.0)])]}
    for beta, a, pgd in ((1.0, 1.6, (0.98, 0.9, 0.8, 0.5)), (2.0, 1.05, (0.98, 0.2, 0.0, 0.0)),
                         (5.0, 1.3, (0.98, 0.5, 0.1, 0.0))):
        config = TrainConfig(widths=[20, 14], regularizer="spectral", spectral_layers="last", beta=beta)
        results[f"SpecReg (last) β={beta:g}"] = [fake_run(config, [power_law(20, 2.0), power_law(14, a)], pgd=pgd)]
    best, distance = report.closest_beta(results, "SpecReg (last)")
    assert best == "SpecReg (last) β=2"
    # the distance is the median |log(lambda_k / gamma_k)| over the penalized ranks, computed here by hand
    k = np.arange(11, 14)
    own = power_law(14, 1.3)
    by_hand = float(np.median(np.abs(np.log(own[k] / (own[10] * (11 / (k + 1)) ** 1.0)))))
    assert distance["SpecReg (last) β=5"] == pytest.approx(by_hand)
    tie = {name: runs for name, runs in results.items() if name != "SpecReg (last) β=2"}
    tie["SpecReg (last) β=3"] = tie["SpecReg (last) β=5"]
    assert report.closest_beta(tie, "SpecReg (last)")[0] == "SpecReg (last) β=3"
    with pytest.raises(ValueError):
        report.closest_beta(results, "SpecReg (all)")


def _curve_run(pgd, clean, seed=0, correct=None) -> CachedResult:
    run = fake_run(TrainConfig(widths=[20, 14], seed=seed), [power_law(20, 1.0), power_law(14, 1.0)], pgd=pgd,
                   clean=clean)
    if correct is not None:
        run.arrays["correct_pgd"] = correct
    return run


def test_eps50_interpolates_to_half_of_the_runs_clean_accuracy() -> None:
    # half of 0.9 = 0.45, crossed between 0.6 at 0.1 and 0.3 at 0.2: 0.1 + 0.15 / 0.3 * 0.1 = 0.15
    assert report.eps50(_curve_run((0.9, 0.6, 0.3, 0.0), 0.9)) == pytest.approx(0.15)
    assert math.isnan(report.eps50(_curve_run((0.9, 0.8, 0.7, 0.6), 0.9)))  # never half on the grid


def test_paired_effect_is_the_eps50_difference_paired_by_seed_with_the_t_interval() -> None:
    from scipy import stats as st

    # per seed: better's eps50 (0.15, 0.2, 0.25 by construction) minus worse's (0.05 each)
    better = [_curve_run((1.0, 0.75, 0.25, 0.0), 1.0, 0), _curve_run((1.0, 1.0, 0.5, 0.0), 1.0, 1),
              _curve_run((1.0, 1.0, 0.75, 0.25), 1.0, 2)]
    worse = [_curve_run((1.0, 0.0, 0.0, 0.0), 1.0, s) for s in range(3)]
    effect = report.paired_effect({"SpecReg": better, "Vanilla": worse}, "SpecReg", "Vanilla")
    assert effect.per_seed == pytest.approx([0.10, 0.15, 0.20])
    half = st.t.ppf(0.975, 2) * 0.05 / math.sqrt(3)  # sd of (0.10, 0.15, 0.20) is 0.05
    assert (effect.mean, effect.low, effect.high) == pytest.approx((0.15, 0.15 - half, 0.15 + half))
    assert math.isnan(effect.image_se)  # no per-image outcomes stored
    assert effect.verdict(+1) == "reproduced" and effect.verdict(-1) == "contradicted"
    # eps50, not the mean accuracy over eps: "a" falls to half later (0.1 + 0.4 / 0.9 * 0.1 = 0.144 against
    # 0.5 / 0.55 * 0.1 = 0.091) though "b" keeps more accuracy on average over the grid (0.45 against 0.30)
    a, b = _curve_run((1.0, 0.9, 0.0, 0.0), 1.0), _curve_run((1.0, 0.45, 0.45, 0.45), 1.0)
    assert report.robustness_score(a) < report.robustness_score(b)
    one = report.paired_effect({"a": [a], "b": [b]}, "a", "b")
    assert one.mean == pytest.approx(0.1 + 0.4 / 0.9 * 0.1 - 0.5 / 0.55 * 0.1)
    assert one.verdict(+1) == "not enough seeds"


def test_paired_effect_pairs_the_same_seed_whatever_the_order_or_the_gaps() -> None:
    # better: seeds 2, 0, 1 with eps50 0.25, 0.15, 0.2; worse: seeds 1 and 2 only, eps50 0.05 and 0.15
    better = [_curve_run((1.0, 1.0, 0.75, 0.25), 1.0, 2), _curve_run((1.0, 0.75, 0.25, 0.0), 1.0, 0),
              _curve_run((1.0, 1.0, 0.5, 0.0), 1.0, 1)]
    worse = [_curve_run((1.0, 0.0, 0.0, 0.0), 1.0, 1), _curve_run((1.0, 0.75, 0.25, 0.0), 1.0, 2)]
    results = {"SpecReg": better, "Vanilla": worse}
    aligned = report.common_seeds(results, ["SpecReg", "Vanilla"])
    assert [report.seed_of(r) for r in aligned["SpecReg"]] == [1, 2] == [report.seed_of(r) for r in aligned["Vanilla"]]
    effect = report.paired_effect(results, "SpecReg", "Vanilla")
    assert effect.per_seed == pytest.approx([0.2 - 0.05, 0.25 - 0.15])  # seed 1, then seed 2
    assert effect.n_seeds == 2
    with pytest.raises(ValueError, match="no seed in common"):
        report.paired_effect({"a": [better[1]], "b": [worse[0]]}, "a", "b")
    with pytest.raises(ValueError, match="twice"):
        report.common_seeds({"a": [worse[0], worse[0]], "b": worse}, ["a", "b"])
    with pytest.raises(KeyError, match="no variant"):
        report.common_seeds(results, ["SpecReg", "Whitened"])


def test_paired_effect_bootstraps_the_stored_per_image_outcomes() -> None:
    # 4 images; better: all correct at 0, 3 at 0.1, 1 at 0.2, none at 0.3; worse: all at 0, none after
    good = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)
    bad = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], bool)
    results = {"a": [_curve_run(tuple(good.mean(1)), 1.0, correct=good)],
               "b": [_curve_run(tuple(bad.mean(1)), 1.0, correct=bad)]}
    effect = report.paired_effect(results, "a", "b", n_boot=200)
    assert effect.mean == pytest.approx(0.15 - 0.05)
    # by hand: the same resamples as onen.analysis.stats.bootstrap_se (default_rng(0), 200 draws of 4 indices)
    rng, reps = np.random.default_rng(0), []
    for _ in range(200):
        idx = rng.integers(0, 4, 4)
        curves = [good[:, idx].mean(1), bad[:, idx].mean(1)]
        halves = [np.interp(0.5, c[::-1], EPS[::-1]) if c[0] > 0 and c.min() <= 0.5 else np.nan for c in curves]
        reps.append(halves[0] - halves[1])
    reps = np.array(reps)
    assert effect.image_se == pytest.approx(np.std(reps[np.isfinite(reps)], ddof=1))


def test_claims_table_gives_the_difference_and_tests_only_networks_that_reached_their_target() -> None:
    spectral = TrainConfig(widths=[20, 40], regularizer="spectral", spectral_layers="last", tau=10, alpha=1.0)

    def runs(config, exponent, curves, seeds):
        return [fake_run(dataclasses.replace(config, seed=s), [power_law(20, 1.0), power_law(40, exponent)],
                         pgd=curve, clean=1.0) for curve, s in zip(curves, seeds)]

    rising = [(1.0, 0.75, 0.25, 0.0), (1.0, 1.0, 0.5, 0.0), (1.0, 1.0, 0.75, 0.25)]  # eps50 0.15, 0.2, 0.25
    flat = [(1.0, 0.0, 0.0, 0.0)] * 3  # eps50 0.05
    plain = TrainConfig(widths=[20, 40])
    results = {
        "Vanilla": runs(plain, 2.0, flat, [0, 1, 2]),
        "At 1/n": runs(spectral, 1.0, rising, [0, 1, 2]),  # lambda_k = 1/(k+1): exactly the target
        "Far": runs(spectral, 2.0, rising, [0, 1, 2]),  # 1/n^2: not reached
        "Jacobian": runs(dataclasses.replace(plain, regularizer="jacobian"), 2.0, rising, [2, 1]),
        "One seed": runs(spectral, 1.0, rising, [1]),
    }
    claims = report.claims_table(results, [
        ("At 1/n", "Vanilla", +1), ("Far", "Vanilla", +1), ("Jacobian", "Vanilla", -1), ("Missing", "Vanilla", +1),
        ("One seed", "Vanilla", +1)], caption="claims")
    table, verdicts = claims.table, claims.verdicts
    # the contrasts come back too, one per treated network with a paired seed, with the table's numbers
    assert sorted(claims.effects) == ["At 1/n", "Far", "Jacobian", "One seed"]
    assert claims.effects["At 1/n"].mean == pytest.approx(0.15) and claims.effects["At 1/n"].n_seeds == 3
    assert claims.effects["Jacobian"].mean == pytest.approx(0.125) and claims.effects["One seed"].n_seeds == 1
    assert verdicts == {"At 1/n": "reproduced", "Far": "not tested: spectrum not reached", "Jacobian": "not resolved",
                        "Missing": "not computed", "One seed": "not enough seeds"}
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["At 1/n − Vanilla"][:3] == ["+", "3", "+0.1500"] and rows["At 1/n − Vanilla"][4:] == [
        "as claimed", "yes", "reproduced"]
    assert rows["Far − Vanilla"][4:] == ["as claimed", "no", "not tested: spectrum not reached"]
    # Jacobian holds seeds 2 and 1 (eps50 0.15 and 0.20), paired with Vanilla's (0.05): differences 0.10 and 0.15;
    # two seeds give a t-interval of 0.125 ± 12.7 * 0.035 / sqrt(2), which contains zero
    assert rows["Jacobian − Vanilla"][:3] == ["−", "2", "+0.1250"]
    assert rows["Jacobian − Vanilla"][4:] == ["not resolved", "—", "not resolved"]
    assert rows["Missing − Vanilla"] == ["+", "0", "", "", "", "", "not computed"]
    assert rows["One seed − Vanilla"][1:] == ["1", "+0.1000", "", "not enough seeds", "yes", "not enough seeds"]
    assert table.caption == "claims" and len(table.notes) == 4


def test_status_table_counts_the_computed_networks() -> None:
    table = report.status_table([["A", "GPU", "missing"], ["B", "CPU", "CPU"]], [0, 1], "4.1")
    assert table.header == ["network", "seed 0", "seed 1"] and table.rows[0] == ["A", "GPU", "missing"]
    assert table.caption == "The section-4.1 networks of the paper profile: 3 of 4 computed, and where each was trained"
    named = report.with_seed_counts({"A": [1, 2, 3], "B": [1]})
    assert list(named) == ["A (3 seeds)", "B (1 seed)"] and named["B (1 seed)"] == [1]
