"""The CIFAR-10 chapter's numbers (onen.analysis.cifar_report) on synthetic cached runs, against hand computations."""

from __future__ import annotations

import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from onen.analysis import cifar_report, profiles, settings
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


# ----------------------------------------------------------------------------------------------------------------
# eps50 against Vanilla, raw and above Vanilla's frontier

N_IMAGES = 2000


def outcome_run(name: str, curve: list[float], seed: int = 0, epochs: int | None = None,
                spectrum_exponent: float = 1.0) -> CachedResult:
    """A cached run of the quick profile's CIFAR network ``name`` whose PGD accuracy on EPS is ``curve``: per-image
    outcomes where the first curve[k] * N_IMAGES images survive radius k, the curve itself, the clean accuracy at its
    first point, and blocks of spectrum n^-spectrum_exponent."""
    config = dataclasses.replace(profiles.cifar_variants("quick")[name], seed=seed)
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    counts = np.rint(np.array(curve) * N_IMAGES).astype(int)
    correct = np.arange(N_IMAGES)[None, :] < counts[:, None]
    arrays = {"eps_pgd": EPS, "acc_pgd": counts / N_IMAGES, "correct_pgd": correct,
              **{f"spectrum_{b}": np.arange(1, w + 1, dtype=float) ** -spectrum_exponent
                 for b, w in enumerate(config.widths)}}
    return CachedResult(arrays=arrays, meta={"clean_accuracy": counts[0] / N_IMAGES},
                        provenance={"config": {"train": config.to_dict()}})


# Vanilla stopped after 1 and 2 epochs and trained for 3: clean accuracy 0.4, 0.5, 0.6 and PGD eps50 (the radius
# where the curve reaches half of the first point) exactly 2, 4 and 8 grey levels
FRONTIER_CURVES = {1: [0.40, 0.30, 0.20, 0.10, 0.05, 0.0], 2: [0.50, 0.40, 0.30, 0.25, 0.10, 0.0],
                   3: [0.60, 0.50, 0.40, 0.35, 0.30, 0.10]}
# clean 0.45, where the frontier's eps50 is 3/255; half of 0.45 is crossed a quarter of the way from 4 to 8: 5/255
SHIFTED = [0.45, 0.40, 0.30, 0.25, 0.15, 0.05]


def frontier_nets(seeds: tuple[int, ...], treated: list[float], jacobian: list[float]) -> tuple[
        dict[str, list[CachedResult]], dict[str, list[CachedResult]]]:
    """(results, the frontier's early runs) on ``seeds``: SpecReg (all) with the ``treated`` curve and 1/n blocks,
    Jacobian with the ``jacobian`` curve, Vanilla and its early stops with the curves of FRONTIER_CURVES."""
    early = {profiles.frontier_name(e): [outcome_run("Vanilla", FRONTIER_CURVES[e], s, epochs=e) for s in seeds]
             for e in (1, 2)}
    results = {"Vanilla": [outcome_run("Vanilla", FRONTIER_CURVES[3], s) for s in seeds],
               "SpecReg (all)": [outcome_run("SpecReg (all)", treated, s) for s in seeds],
               "Jacobian": [outcome_run("Jacobian", jacobian, s) for s in seeds]}
    return results, early


def test_the_frontier_joins_vanilla_stopped_early_to_the_full_length_vanilla() -> None:
    results, early = frontier_nets((0,), SHIFTED, SHIFTED)
    found = cifar_report.frontier(early, results["Vanilla"])
    assert sorted(found.points) == [1, 2, 3]  # by training length, from the runs' own configurations
    accuracy, eps50 = found.curve()
    np.testing.assert_allclose(accuracy, [0.4, 0.5, 0.6], atol=1e-12)
    np.testing.assert_allclose(255 * eps50, [2.0, 4.0, 8.0], atol=1e-9)


def test_a_network_shifted_by_a_known_eps50_has_that_effect_above_the_frontier() -> None:
    results, early = frontier_nets((0,), SHIFTED, FRONTIER_CURVES[3])
    specreg, jacobian = cifar_report.contrasts(results, cifar_report.frontier(early, results["Vanilla"]), n_boot=50)
    # raw: 5/255 - 8/255; above: 5/255 minus the frontier's 3/255 at clean 0.45; one seed gives no verdict
    assert 255 * specreg.raw.mean == pytest.approx(-3.0, abs=1e-9)
    assert 255 * specreg.above.mean == pytest.approx(2.0, abs=1e-9)
    assert specreg.clean_gap == pytest.approx(-0.15)
    assert (specreg.verdict, specreg.verdict_above) == ("not enough seeds", "not enough seeds")
    assert specreg.raw.low < specreg.raw.mean < specreg.raw.high  # an interval over the images alone
    # Jacobian is Vanilla itself: no effect either way
    assert 255 * jacobian.raw.mean == pytest.approx(0.0, abs=1e-9)
    assert 255 * jacobian.above.mean == pytest.approx(0.0, abs=1e-9)
    table = cifar_report.contrast_table([specreg, jacobian], "quick")
    assert table.header[3:] == ["Δ ε50 (/255)", "95% interval", "verdict", "Δ above frontier (/255)", "95% interval",
                                "verdict above frontier"]
    assert table.rows[0][:4] == ["SpecReg (all) − Vanilla", "+", "1", "-3.00"]
    assert table.rows[0][5:7] == ["not enough seeds", "+2.00"]
    words = cifar_report.verdict_words([specreg, jacobian])
    assert "SpecReg (all) -3.00/255 [" in words and "above Vanilla's frontier +2.00/255 [" in words


def test_with_three_seeds_the_verdicts_follow_the_intervals() -> None:
    results, early = frontier_nets((0, 1, 2), SHIFTED, FRONTIER_CURVES[3][:1] + [0.59, 0.58, 0.57, 0.56, 0.55])
    specreg, jacobian = cifar_report.contrasts(results, cifar_report.frontier(early, results["Vanilla"]), n_boot=100)
    assert specreg.raw.n_seeds == 3 and specreg.above.n_seeds == 3
    # less robust than Vanilla raw, more robust than Vanilla at its own clean accuracy
    assert specreg.raw.high < 0 and specreg.verdict == "contradicted"
    assert specreg.above.low > 0 and specreg.verdict_above == "reproduced"
    # Jacobian never falls to half on the grid: no eps50, so nothing to judge
    assert jacobian.verdict == "not tested: a curve never falls to half"
    assert jacobian.verdict_above == "outside the frontier"
    assert cifar_report.contrast_table([jacobian], "quick").rows[0][3:5] == ["n/a", "—"]


def test_outside_the_frontier_and_at_chance_level() -> None:
    more_accurate = [0.65, 0.55, 0.45, 0.40, 0.30, 0.10]  # above the frontier's best clean accuracy, 0.6
    results, early = frontier_nets((0,), more_accurate, [0.10, 0.08, 0.06, 0.04, 0.02, 0.0])
    specreg, jacobian = cifar_report.contrasts(results, cifar_report.frontier(early, results["Vanilla"]), n_boot=50)
    assert math.isnan(specreg.above.mean) and specreg.verdict_above == "outside the frontier"
    assert specreg.verdict == "not enough seeds"
    assert jacobian.verdict == jacobian.verdict_above == "not tested: Jacobian at chance level clean"
    words = cifar_report.effect_words(results, [specreg, jacobian])
    assert "**Jacobian's network is at chance level clean**" in words and "SpecReg (all)'s network" not in words
    assert "above Vanilla's frontier n/a (outside the frontier)" in words


def test_a_spectral_penalty_off_its_target_is_not_tested() -> None:
    results, early = frontier_nets((0,), SHIFTED, SHIFTED)
    results["SpecReg (all)"] = [outcome_run("SpecReg (all)", SHIFTED, spectrum_exponent=0.3)]
    specreg, _ = cifar_report.contrasts(results, cifar_report.frontier(early, results["Vanilla"]), n_boot=50)
    assert specreg.verdict.startswith("not tested: spectrum not reached, α = 0.30")
    assert specreg.verdict_above == specreg.verdict
    assert 255 * specreg.above.mean == pytest.approx(2.0, abs=1e-9)  # the effect is still shown


def test_the_frontier_figure_draws_the_frontier_dashed_and_each_network_as_a_point() -> None:
    results, early = frontier_nets((0,), SHIFTED, FRONTIER_CURVES[2])
    # clean accuracy on all test images other than on the attacked ones: the figure stays on the attacked images
    results["Vanilla"][0].meta["clean_accuracy"] = 0.9
    found = cifar_report.frontier(early, results["Vanilla"])
    fig = cifar_report.frontier_figure(results, found)
    ax = fig.axes[0]
    assert ax.get_title() == "CIFAR-10 CNN"
    line = ax.lines[0]
    assert line.get_linestyle() == "--"
    np.testing.assert_allclose(line.get_xdata(), [0.4, 0.5, 0.6], atol=1e-12)
    np.testing.assert_allclose(line.get_ydata(), [2.0, 4.0, 8.0], atol=1e-9)  # grey levels
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    # Vanilla on the frontier's last point, SpecReg 2 grey levels above it at 0.45, Jacobian on its 2-epoch point
    np.testing.assert_allclose(points, [[0.6, 8.0], [0.45, 5.0], [0.5, 4.0]], atol=1e-9)
    assert [t.get_text() for t in ax.texts] == ["Vanilla", "SpecReg (all)", "Jacobian"]
    plt.close(fig)


def test_the_frontier_runs_are_vanilla_stopped_early_trained_shortest_first(monkeypatch) -> None:
    calls = []

    def fake_run_seeds(config, evaluation, seeds, results_dir, device, progress=None):
        calls.append((config, evaluation, tuple(seeds), progress))
        return []

    monkeypatch.setattr(cifar_report, "run_seeds", fake_run_seeds)
    evaluation = profiles.cifar_evaluation("quick")
    runs = cifar_report.frontier_runs("quick", evaluation, [0, 1], "results", "cpu")
    epochs = profiles.cifar_settings("quick").frontier_epochs
    assert list(runs) == [profiles.frontier_name(e) for e in epochs]
    assert [c[0].epochs for c in calls] == sorted(epochs)
    assert all(c[1:] == (evaluation, (0, 1), False) for c in calls)  # no progress output in the book


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_the_cifar_frontier_is_vanilla_at_the_settings_epochs(profile: str) -> None:
    vanilla = profiles.cifar_variants(profile)["Vanilla"]
    epochs = profiles.cifar_settings(profile).frontier_epochs
    found = profiles.frontier_variants("cifar", profile)
    assert list(found) == [profiles.frontier_name(e) for e in epochs]
    for e, config in zip(epochs, found.values()):
        assert config.epochs == e < vanilla.epochs
        assert config == dataclasses.replace(vanilla, epochs=e)  # otherwise Vanilla's configuration


def test_the_cifar_frontier_reads_its_epochs_from_the_settings(monkeypatch) -> None:
    quick = settings.CIFAR_SETTINGS["quick"]
    monkeypatch.setattr(profiles, "CIFAR_SETTINGS", {**settings.CIFAR_SETTINGS,
                                                     "quick": dataclasses.replace(quick, frontier_epochs=(2,))})
    assert [c.epochs for c in profiles.frontier_variants("cifar", "quick").values()] == [2]
    with pytest.raises(ValueError, match=r"arch must be one of \('shallow', 'mlp', 'cnn', 'cifar'\), got 'CIFAR'"):
        profiles.frontier_variants("CIFAR", "quick")


@pytest.mark.parametrize("epochs", [(3,), (1, 5), (0,), (1, 1), (), "12"])
def test_frontier_epochs_must_be_distinct_and_fewer_than_the_training(epochs) -> None:
    quick = settings.CIFAR_SETTINGS["quick"]
    assert quick.train.epochs == 3
    with pytest.raises(ValueError, match=r"^CifarSettings\.frontier_epochs must be ") as caught:
        dataclasses.replace(quick, frontier_epochs=epochs)
    assert "\n" not in str(caught.value)
    if epochs in [(3,), (1, 5)]:
        assert str(caught.value) == ("CifarSettings.frontier_epochs must be a tuple of epochs each fewer than "
                                     f"train.epochs (3), got {epochs!r}")
    # nothing half-built: the profile's own record and its frontier are as they were
    assert settings.CIFAR_SETTINGS["quick"] is quick and quick.frontier_epochs == (1,)
    assert [c.epochs for c in profiles.frontier_variants("cifar", "quick").values()] == [1]


def test_runs_without_per_image_outcomes_have_no_effect_above_the_frontier() -> None:
    results, early = frontier_nets((0,), SHIFTED, SHIFTED)
    for runs in results.values():
        del runs[0].arrays["correct_pgd"]
    specreg, _ = cifar_report.contrasts(results, cifar_report.frontier(early, results["Vanilla"]), n_boot=50)
    assert specreg.above is None and specreg.verdict_above == "not computed: no per-image outcomes"
    assert 255 * specreg.raw.mean == pytest.approx(-3.0, abs=1e-9)  # from the stored curves alone
    assert cifar_report.contrast_table([specreg], "quick").rows[0][6:8] == ["n/a", "—"]


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_cifar_network_stores_its_per_image_pgd_outcomes(profile: str) -> None:
    assert profiles.cifar_evaluation(profile).store_outcomes
