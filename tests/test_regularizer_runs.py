"""The experiments of the regularizer chapters (onen.runs.regularizer_runs): the cache keys the chapters have always
computed (literal hashes recorded from the chapters' own code before it moved into the package), the seed means and
fitted exponents against hand computations and exact power laws, and the batch-size study against identities that
hold for any sample. No MNIST needed: nothing here trains."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from onen.analysis import profiles
from onen.cache import CODE_VERSION, CachedResult, config_hash
from onen.runs import regularizer_runs as runs

# config_hash of every key the chapters computed (CODE_VERSION "2"), from the chapter code that preceded this module:
# regularizer_runs by network (and seed), regularizer_basis_error by (strategy, learning rate), the batch study
QUICK_RUNS = {
    ("Vanilla", 0): "aadb4db6e600d026", ("β=0.5", 0): "60c64184672acb66", ("β=2", 0): "dbbeb380834d0d4a",
    ("β=10", 0): "af039080a3e2a28e", ("β=50", 0): "fe8787ed9232063e", ("β=10, α=1.5", 0): "375ecbfd7fc5d616",
    ("β=10, α=2", 0): "455fd5b2212c3731", ("β=10, lr=1e-04", 0): "71752f5ece334d5d",
    ("β=10, lr=1e-02", 0): "30986009967c681e", ("β=10, basis every 5 steps", 0): "1e8c1d052893f455",
    ("β=10, lr=1e-02, basis every 5 steps", 0): "ab984904e567e818",
}
PAPER_RUNS = {
    ("Vanilla", 0): "fdff3ecaed449671", ("Vanilla", 2): "0d5d312ace30e976", ("β=0.5", 1): "3e546e346e3b152a",
    ("β=2", 0): "5fb08095e1ba8dd4", ("β=10", 0): "51e77eb515388116", ("β=10", 1): "9e7272a937d76a7b",
    ("β=50", 2): "227f238683f06708", ("β=10, α=1.5", 0): "254ccf1e03efc633", ("β=10, α=2", 1): "609931570a65267a",
    ("β=10, lr=1e-04", 0): "3a92386afe41f5da", ("β=10, lr=1e-02", 2): "f0239d35284b6da4",
    ("β=10, basis every 5 steps", 1): "83e29d5e057dde67",
    ("β=10, lr=1e-02, basis every 5 steps", 0): "a5ed86e7cf9bc8b9",
}
QUICK_BASIS = {
    ("basis per epoch", "lr=1e-03"): "7bffcc132b4a63b7", ("refresh every 5 steps", "lr=1e-03"): "95e50be9c1b61648",
    ("tracked basis", "lr=1e-03"): "7c598231d9a0471b", ("tracked basis, every 2 steps", "lr=1e-03"): "ad6b8ac9f37a59b0",
    ("basis per epoch", "lr=1e-02"): "f081a8747186830f", ("refresh every 5 steps", "lr=1e-02"): "9e2630f12a1df5f0",
    ("tracked basis", "lr=1e-02"): "fd0d80493cb73dbc", ("tracked basis, every 2 steps", "lr=1e-02"): "36d575f0f21e06f0",
}
PAPER_BASIS = {("basis per epoch", "lr=1e-03"): "19190b31417fddde", ("tracked basis", "lr=1e-02"): "26d51369e24af843",
               ("tracked basis, every 2 steps", "lr=1e-03"): "ae0f891c271a615e"}
BATCH_STUDY = {"quick": "956ef2a49ab098f0", "paper": "249728fbf2b18201"}


def recorded_keys(monkeypatch: pytest.MonkeyPatch, profile: str) -> dict[tuple[str, Any], tuple[str, str]]:
    """Every (cache kind, hash) the chapters' calls ask for, by network and seed, strategy and rate, or "batch";
    the cache is replaced by a recorder, so nothing trains."""
    asked: list[tuple[str, str]] = []

    def record(name: str, config: dict, compute: Any, results_dir: str, **kw: Any) -> CachedResult:
        asked.append((name, config_hash(config)))
        return CachedResult(arrays={}, meta={}, provenance={})

    monkeypatch.setattr(runs, "cached", record)
    settings = profiles.regularizer_settings(profile)
    keys: dict[tuple[str, Any], tuple[str, str]] = {}
    for variants in (runs.sweep_variants(settings), runs.staleness_variants(settings)):
        for name in variants:
            for seed in settings.seeds:
                runs.run_variants({name: variants[name]}, settings, [seed], "unused", "cpu")
                keys[(name, seed)] = asked[-1]
    basis = runs.basis_error_runs(settings, profiles.TRACKED, settings.seeds[0], "unused", "cpu")
    keys.update(zip(basis, asked[-len(basis):]))
    runs.batch_size_study(runs.batch_study_settings(settings.batch_study_draws), "unused")
    keys[("batch", None)] = asked[-1]
    return keys


@pytest.mark.skipif(CODE_VERSION != "2", reason="the literal hashes were recorded at CODE_VERSION 2")
@pytest.mark.parametrize("profile, run_hashes, basis_hashes",
                         [("quick", QUICK_RUNS, QUICK_BASIS), ("paper", PAPER_RUNS, PAPER_BASIS)])
def test_the_cache_keys_are_those_the_chapters_computed(monkeypatch: pytest.MonkeyPatch, profile: str,
                                                        run_hashes: dict, basis_hashes: dict) -> None:
    keys = recorded_keys(monkeypatch, profile)
    assert {k: keys[k] for k in run_hashes} == {k: ("regularizer_runs", h) for k, h in run_hashes.items()}
    assert {k: keys[k] for k in basis_hashes} == {k: ("regularizer_basis_error", h) for k, h in basis_hashes.items()}
    assert keys[("batch", None)] == ("regularizer_batch_size", BATCH_STUDY[profile])
    seeds = len(profiles.regularizer_settings(profile).seeds)
    assert len(keys) == 11 * seeds + 8 + 1  # 7 + 6 networks, two of them shared; 4 strategies at 2 rates


def test_only_the_drift_runs_record_their_basis_drift() -> None:
    settings = profiles.regularizer_settings("quick")
    variants = {**runs.sweep_variants(settings), **runs.staleness_variants(settings)}
    evaluation = runs.evaluation(settings)
    assert evaluation == {"attack_images": 300, "eps": [0.05, 0.1], "pgd_steps": 20, "spectrum_images": 2000}
    drift = runs.run_key(variants["β=10"], evaluation, 5)["drift"]
    assert drift == {"every": 5, "ks": [10, 50], "measures": "v2"}
    assert runs.run_key(variants["Vanilla"], evaluation, None)["drift"] is None
    assert set(runs.DRIFT_RUNS.values()) <= set(variants)
    per_epoch, refreshed = runs.refresh_pairs(settings)["lr=1e-02"]
    assert variants[refreshed] == dataclasses.replace(variants[per_epoch], refresh_every=5)
    assert variants[per_epoch].refresh_every != 5


def result(arrays: dict[str, np.ndarray], **meta: Any) -> CachedResult:
    return CachedResult(arrays=arrays, meta=meta, provenance={})


def test_mean_over_seeds_is_the_mean_computed_by_hand() -> None:
    seeds = [result({"acc_pgd": np.array([0.5, 0.2])}, clean_accuracy=0.9),
             result({"acc_pgd": np.array([0.7, 0.5])}, clean_accuracy=0.8)]
    np.testing.assert_allclose(runs.mean_over_seeds(seeds, "acc_pgd"), [0.6, 0.35])
    assert runs.mean_over_seeds(seeds, "clean_accuracy") == pytest.approx(0.85)
    with pytest.raises(KeyError):
        runs.mean_over_seeds(seeds, "acc_fgsm")


def test_fitted_alpha_recovers_exact_power_laws_and_averages_over_seeds() -> None:
    ranks = np.arange(1, 501, dtype=np.float64)
    steep, flat = result({"spectrum": 3.0 * ranks ** -1.5}), result({"spectrum": 0.2 * ranks ** -1.0})
    assert runs.fitted_alpha([steep]) == pytest.approx(1.5, abs=1e-9)
    assert runs.fitted_alpha([steep, flat]) == pytest.approx(1.25, abs=1e-9)
    # a bend outside the window changes nothing; inside it, the fit
    bent = 3.0 * ranks ** -1.5
    bent[:5] *= 10
    assert runs.fitted_alpha([result({"spectrum": bent})]) == pytest.approx(1.5, abs=1e-9)
    bent[200:] *= 0.1
    assert runs.fitted_alpha([result({"spectrum": bent})]) > 1.6


def test_the_batch_study_keeps_the_trace_and_the_rank_of_each_batch(tmp_path) -> None:
    study = {**runs.batch_study_settings(3), "width": 40, "batch_sizes": [10, 80]}
    arrays = runs.batch_size_study(study, str(tmp_path)).arrays
    np.testing.assert_allclose(arrays["spectrum"], 1 / np.arange(1, 41))
    for batch in study["batch_sizes"]:
        eig, fixed = arrays[f"batch_eig_{batch}"], arrays[f"fixed_basis_{batch}"]
        assert eig.shape == fixed.shape == (3, 40)
        assert np.all(np.diff(eig, axis=1) <= 1e-12)  # descending
        # an orthonormal basis keeps the trace: the diagonal in Q sums to the eigenvalues' sum
        np.testing.assert_allclose(fixed.sum(1), eig.sum(1), rtol=1e-10)
        rank = min(batch - 1, 40)
        assert np.all(eig[:, rank - 1] > 1e-8) and np.all(np.abs(eig[:, rank:]) < 1e-12)
    again = runs.batch_size_study(study, str(tmp_path)).arrays  # loaded: the same draws
    np.testing.assert_array_equal(again["fixed_basis_10"], arrays["fixed_basis_10"])
