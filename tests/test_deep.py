"""The deep chapters' shared code (onen.analysis.deep) on synthetic cached runs (no MNIST)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from onen.analysis import deep
from onen.analysis import profiles
from onen.runs.training import TrainConfig

from test_report import fake_run, power_law


def _results():
    """Vanilla, Vanilla-Wh and SpecReg (last) at beta 1 and 2; beta 2's last layer sits on 1/n, beta 1's does not."""
    spec = dict(widths=[20, 14], regularizer="spectral", spectral_layers="last")
    return {
        "Vanilla": [fake_run(TrainConfig(widths=[20, 14]), [power_law(20, 0.8), power_law(14, 1.5)],
                             pgd=(0.98, 0.2, 0.0, 0.0))],
        "Vanilla-Wh": [fake_run(TrainConfig(widths=[20, 14], whiten_after=0), [power_law(20, 0.0), power_law(14, 1.4)],
                                pgd=(0.98, 0.3, 0.0, 0.0))],
        "SpecReg (last) β=1": [fake_run(TrainConfig(beta=1.0, **spec), [power_law(20, 0.8), power_law(14, 1.6)],
                                        pgd=(0.98, 0.9, 0.0, 0.0))],
        "SpecReg (last) β=2": [fake_run(TrainConfig(beta=2.0, **spec), [power_law(20, 0.8), power_law(14, 1.0)],
                                        pgd=(0.98, 0.98, 0.49, 0.0))],
    }


def test_chosen_contrasts_use_the_beta_the_spectra_choose_and_eps50() -> None:
    results = _results()
    beta, effects = deep.chosen_contrasts(results, "SpecReg (last)", [
        ("spec", "{chosen}", "Vanilla"), ("wh", "Vanilla-Wh", "Vanilla"), ("named", "SpecReg (last) β={beta}", "Vanilla")])
    assert beta == "2"  # its last layer is exactly 1/n, beta 1's decays at 1.6
    # eps50 by hand (eps grid 0, 0.1, 0.2, 0.3, clean 0.98, half 0.49): beta 2 falls to 0.49 exactly at 0.2;
    # Vanilla from 0.98 to 0.2 over [0, 0.1]: 0.49 / 0.78 * 0.1; Vanilla-Wh 0.49 / 0.68 * 0.1
    vanilla = 0.49 / 0.78 * 0.1
    assert effects["spec"].mean == pytest.approx(0.2 - vanilla)
    assert effects["named"].mean == effects["spec"].mean
    assert effects["wh"].mean == pytest.approx(0.49 / 0.68 * 0.1 - vanilla)
    assert effects["spec"].verdict(+1) == "not enough seeds"
    with pytest.raises(KeyError):
        deep.chosen_contrasts(results, "SpecReg (last)", [("x", "SpecReg-Wh (last) β={beta}", "Vanilla")])
    # what a chapter glues: the same numbers, keyed by prefix and architecture
    values = deep.chosen_glue({"mlp": results}, "deep-last", "SpecReg (last)", [("spec", "{chosen}", "Vanilla")])
    assert values == {"deep-last-mlp-beta": "2", "deep-last-mlp-spec": pytest.approx(0.2 - vanilla)}


def test_figures_and_tables_cover_every_architecture_and_hidden_layer() -> None:
    results = {"mlp": _results(), "cnn": {k: v for k, v in _results().items() if "β=1" not in k}}
    figures = deep.spectra_figures(results)
    assert list(figures) == ["mlp", "cnn"] and all(len(f.axes) == 2 for f in figures.values())  # two hidden layers
    assert figures["cnn"].axes[1].get_title() == "CNN, hidden layer 2"
    panels = deep.robustness_panels(results, attacks=("pgd",))
    assert [ax.get_title() for ax in panels.axes] == ["MLP 3x1000", "CNN"]
    tables = deep.summary_tables(results)
    assert [t.caption for t in tables] == ["MLP 3x1000", "CNN"] and len(tables[1].rows) == 3
    plt.close("all")


def test_variants_and_load_cover_both_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    configs = deep.variants(profiles.last_layer_variants, "quick")
    assert list(configs) == ["mlp", "cnn"] and configs["cnn"] == profiles.last_layer_variants("cnn", "quick")
    calls = []
    monkeypatch.setattr(deep, "run_seeds", lambda config, ev, seeds, folder, device: calls.append(
        (config, ev, seeds, folder, device)) or ["run"])
    setup = profiles.chapter_setup("quick", "/tmp/somewhere", [3], "cpu")
    loaded = deep.load(configs, setup)
    assert loaded["mlp"]["Vanilla"] == ["run"] and len(calls) == sum(len(v) for v in configs.values())
    assert calls[0][1:] == (setup.evaluation, [3], "/tmp/somewhere", "cpu")


@pytest.mark.parametrize("maker", [profiles.all_layer_variants, profiles.last_layer_variants])
def test_stored_paper_has_a_row_for_every_network_and_the_results_its_rows_report(maker) -> None:
    results, rows = deep.stored_paper(maker)
    names = [f"{deep.ARCHS[arch]} {name}" for arch, by_name in deep.variants(maker, "paper").items() for name in by_name]
    assert [row[0] for row in rows] == names
    assert all(len(row) == 1 + len(profiles.seeds("paper")) for row in rows)
    assert {cell for row in rows for cell in row[1:]} <= {"GPU", "CPU", "missing"}
    found = sum(cell != "missing" for row in rows for cell in row[1:])
    assert found == sum(len(runs) for by_name in results.values() for runs in by_name.values())
    for arch, by_name in results.items():
        for name, runs in by_name.items():
            assert all(r.provenance["config"]["train"]["arch"] == arch for r in runs), (arch, name)
