"""The baselines chapter: per-image standardisation against a loop over images, its networks against the chapters
whose cache entries they share, the contrasts and their verdicts against eps50s worked out by hand, the cost table
against the measurement file, and the best-beta families on spectra whose distance from the target is known."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from onen.analysis import baselines_report as br
from onen.analysis import control, profiles
from onen.cache import CachedResult
from onen.commands.launch import chapter_jobs
from onen.models import PerImageStandardise
from onen.runs.config import TrainConfig

EPS = np.array([0.0, 0.1, 0.2, 0.3])


def outcomes(n: int, correct_per_eps: list[int]) -> np.ndarray:
    """[len(EPS), n] booleans: the first k images correct at each radius (nested, as an attack's are)."""
    return np.stack([np.arange(n) < k for k in correct_per_eps])


def run(seed: int, per_eps: list[int], epochs: int = 50, n: int = 100, spectrum: np.ndarray | None = None,
        **config: object) -> CachedResult:
    correct = outcomes(n, per_eps)
    arrays = {"eps_pgd": EPS, "acc_pgd": correct.mean(axis=1), "correct_pgd": correct,
              "spectrum_0": np.arange(1, 41, dtype=float) ** -1.0 if spectrum is None else spectrum}
    train = TrainConfig(widths=[40], epochs=epochs, seed=seed, **config)  # type: ignore[arg-type]
    return CachedResult(arrays=arrays, meta={"clean_accuracy": float(correct[0].mean())},
                        provenance={"config": {"train": train.to_dict()}, "seed": seed, "device": "cpu"})


# ----------------------------------------------------------------------------------------------------------------
# per-image standardisation


def test_per_image_standardisation_matches_a_loop_over_images() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 28, 28, generator=g, dtype=torch.float64)
    x[3] = 0.25  # a uniform image: its standard deviation is 0, floored at 1 / sqrt(784)
    out = PerImageStandardise()(x)
    for image, got in zip(x.numpy(), out.numpy()):
        values = image.ravel()
        std = max(float(np.sqrt(np.mean((values - values.mean()) ** 2))), 1 / 28)
        np.testing.assert_allclose(got.ravel(), (values - values.mean()) / std, rtol=1e-12, atol=1e-12)
    assert np.all(out[3].numpy() == 0.0)
    # a change of brightness and contrast of an image does not reach the network
    np.testing.assert_allclose(PerImageStandardise()(0.5 * x[:3] + 0.2).numpy(), out[:3].numpy(), atol=1e-12)


def test_per_image_normalisation_is_a_first_layer_keyed_only_when_on() -> None:
    plain, normed = TrainConfig(widths=[16]), TrainConfig(widths=[16], per_image_norm=True)
    assert "per_image_norm" not in plain.to_dict() and normed.to_dict()["per_image_norm"] is True
    torch.manual_seed(0)
    reference = plain.model()
    torch.manual_seed(0)
    model = normed.model()  # the same weights: the standardisation has no parameters
    x = torch.rand(4, 1, 28, 28)
    expected = reference(PerImageStandardise()(x))
    torch.testing.assert_close(model(x), expected)
    hidden, _ = model.hidden(x)  # the first hidden representation is still block 0's output
    torch.testing.assert_close(hidden[0], reference.hidden(PerImageStandardise()(x))[0][0])
    x.requires_grad_(True)
    model(x).sum().backward()  # attacks differentiate through it
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(TypeError, match="per_image_norm"):
        TrainConfig(per_image_norm="yes")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------------
# the networks


def test_the_paper_networks_are_the_other_chapters_cache_entries() -> None:
    nets = profiles.baseline_variants("paper")
    shallow = profiles.shallow_variants("paper")
    assert nets["shallow"]["Vanilla"] == shallow["Vanilla"] and nets["shallow"]["Vanilla-BN"] == shallow["Vanilla-BN"]
    assert nets["ablations"][profiles.ablation_name()] == shallow["SpecReg β=5 tracked"]
    assert nets["frontier"] == profiles.frontier_variants("shallow", "paper")
    deep = profiles.all_layer_variants("mlp", "paper")
    assert nets["depth"][profiles.depth_name("Vanilla", 3)] == deep["Vanilla"]
    assert nets["depth"][profiles.depth_name("SpecReg (all)", 3)] == deep["SpecReg (all) β=1"]
    names = [n for group in nets.values() for n in group]
    assert len(names) == len(set(names))
    ablated = {n: c for n, c in nets["ablations"].items() if n != profiles.ablation_name()}
    reference = nets["ablations"][profiles.ablation_name()].to_dict()
    for name, config in ablated.items():  # each ablation changes exactly one setting of the reference
        changed = {k for k, v in config.to_dict().items() if reference.get(k) != v} | (set(reference)
                                                                                       - set(config.to_dict()))
        assert len(changed) == 1, (name, changed)
    assert nets["shallow"]["Per-image norm"].per_image_norm and nets["shallow"]["PGD-AT ε=0.1"].adversarial_steps == 10


def test_each_group_trains_its_seeds() -> None:
    assert profiles.baseline_seeds("paper", "shallow") == [0, 1, 2]
    assert profiles.baseline_seeds("paper", "depth") == [0, 1]
    assert profiles.baseline_seeds("paper", "depth", [5, 6, 7]) == [5, 6]
    with pytest.raises(ValueError, match="group must be one of"):
        profiles.baseline_seeds("paper", "deep")
    jobs = chapter_jobs(["baselines"], "paper")
    expected = sum(len(nets) * len(profiles.baseline_seeds("paper", g)) for g, nets in
                   profiles.baseline_variants("paper").items())
    assert len(jobs) == expected == 21 * 3 + 8 * 2
    assert all(job.config.seed == job.seed and job.evaluation == profiles.evaluation("paper") for job in jobs)
    chosen = chapter_jobs(["baselines"], "quick", variants=["Vanilla", "PGD-AT ε=0.1"], seed_major=True)
    assert [(j.name, j.seed) for j in chosen] == [("Vanilla", 0), ("PGD-AT ε=0.1", 0)]
    with pytest.raises(SystemExit, match="Vanila"):
        chapter_jobs(["baselines"], "quick", variants=["Vanila"])
    with pytest.raises(SystemExit, match="Vanila"):  # a misspelled name beside a valid one is not dropped
        chapter_jobs(["baselines"], "quick", variants=["Vanilla", "Vanila"])


def test_nothing_computed_is_listed_as_missing(tmp_path) -> None:
    scale = br.load("quick", str(tmp_path), [0, 1], train=False)
    planned = sum(len(g) for g in profiles.baseline_variants("quick").values())
    assert scale.runs == {} and scale.frontier is None and len(scale.status) == planned
    assert all(row[1] == "missing" and row[2] == ("—" if ", " in row[0] and "hidden" in row[0] else "missing")
               for row in scale.status)
    assert br.missing_words(scale).startswith(f"Not computed yet at the quick profile ({planned}): Vanilla (seeds 0, 1)")
    assert "0 of" in br.status_table(scale, "x").caption


# ----------------------------------------------------------------------------------------------------------------
# contrasts


def test_a_contrast_pairs_the_seeds_both_networks_have_and_needs_two() -> None:
    """eps50 by hand: [100, 80, 40, 0] falls to half (50) between 0.1 and 0.2 at 0.1 + 30/40 * 0.1 = 0.175;
    [100, 50, ...] reaches half at 0.1."""
    results = {"A": [run(0, [100, 80, 40, 0]), run(1, [100, 80, 40, 0])],
               "Vanilla": [run(1, [100, 50, 20, 0]), run(2, [100, 50, 20, 0])]}
    one = br.contrast(results, "A", "Vanilla")
    assert one.raw.n_seeds == 1 and one.raw.per_seed == pytest.approx([0.075])
    assert one.verdict() == "not enough seeds" and one.above is None and one.above_verdict() == "no frontier"
    results["A"].append(run(2, [100, 70, 40, 0]))  # eps50 0.1 + 20/30 * 0.1
    two = br.contrast(results, "A", "Vanilla")
    assert two.raw.per_seed == pytest.approx([0.075, 0.1 + 2 / 30 - 0.1])
    # two seeds: Student t at 1 degree of freedom over sqrt(s^2 / 2 + image_se^2), wide enough to hold 0
    half = 12.706204736 * math.sqrt(np.var(two.raw.per_seed, ddof=1) / 2 + two.raw.image_se ** 2)
    assert (two.raw.low, two.raw.high) == pytest.approx((two.raw.mean - half, two.raw.mean + half))
    assert two.raw.image_se > 0 and two.verdict() == "not resolved"
    assert br.contrast(results, "A", "B") is None


def test_above_the_frontier_vanilla_adds_nothing() -> None:
    """Against Vanilla the chapter leaves out Vanilla's own term: it is 0 on every resample, so the effect is the
    one both terms give."""
    vanilla = [run(s, [100, 60, 30, 0]) for s in (0, 1)]
    early = [run(s, [70, 30, 0, 0], epochs=1) for s in (0, 1)]
    treated = [run(0, [85, 60, 30, 0]), run(1, [90, 60, 40, 0])]
    frontier = control.Frontier({1: early, 50: vanilla})
    both = control.above_frontiers([(+1, treated, frontier), (-1, vanilla, frontier)], n_boot=br.N_BOOT_FRONTIER)
    mine = br.contrast({"T": treated, "Vanilla": vanilla}, "T", "Vanilla", frontier).above
    assert np.allclose(mine.per_seed, both.per_seed) and (mine.mean, mine.low, mine.high) == pytest.approx(
        (both.mean, both.low, both.high))


def test_the_tables_mark_what_is_not_computed() -> None:
    scale = br.Scale("quick", [0], {"shallow": ["Vanilla", "X"], "ablations": [profiles.ablation_name()],
                                    "frontier": [], "depth": []},
                     {"Vanilla": [run(0, [100, 50, 20, 0])]}, [], None, {})
    contrasts = br.vanilla_contrasts(scale, br.chapter_names(scale))
    assert list(contrasts) == ["X", profiles.ablation_name()] and all(c is None for c in contrasts.values())
    table = br.vanilla_table(scale, contrasts, "t")
    assert [row[5] for row in table.rows] == ["not computed", "not computed"]
    assert br.ranking_words(contrasts) == "No network of this table is computed yet."


# ----------------------------------------------------------------------------------------------------------------
# cost, BatchNorm, best beta, the closing words


def test_the_cost_table_reads_ratios_and_seconds_per_epoch(tmp_path) -> None:
    record = {"cpus": 2, "threads": 1, "torch": "x", "date": "d", "rounds": 2,
              "steps": {"shallow net, batch 3500": {"Vanilla": {"step_s": 0.5, "ratio": 1.0},
                                                    "PGD-AT": {"step_s": 5.0, "ratio": 10.0}}}}
    path = tmp_path / "step_cost_cpu.json"
    path.write_text(json.dumps(record))
    table = br.cost_table(br.step_cost_files(tmp_path))
    assert table.rows == [["Vanilla", "×1.0", "8"], ["PGD-AT", "×10.0", "85"]]  # 60000 // 3500 = 17 steps
    assert br.cost_values(path)["PGD-AT epoch"] == pytest.approx(85.0)
    assert br.steps_per_epoch("MLP, batch 1500") == 40 and br.steps_per_epoch("no batch here") is None
    with pytest.raises(ValueError, match="no step-cost"):
        br.cost_table([])


def test_gradient_norms_by_hand() -> None:
    r = run(0, [100, 50, 0, 0])
    grads = np.zeros((2, 1, 28, 28))
    grads[0, 0, 0, :4] = [3.0, -4.0, 0.0, 0.0]  # ||g||_1 = 7, ||g||_2 = 5
    grads[1, 0] = 0.5  # every pixel alike: ||g||_1 / ||g||_2 = sqrt(784) = 28
    r.arrays["sensitivity"] = grads
    l1, spread = br.gradient_norms([r])
    assert l1 == pytest.approx((7 + 0.5 * 784) / 2) and spread == pytest.approx((7 / 5 + 28) / 2)


def test_the_best_beta_families_and_the_rule_on_known_spectra() -> None:
    """A spectrum on the 1/n target from rank 11 has distance 0; one at half the target past it has log 2."""
    ranks = np.arange(1, 41, dtype=float)
    on_target = 11 / ranks
    off = np.where(ranks > 11, on_target / 2, on_target)
    spectral = dict(regularizer="spectral")
    results = {"SpecReg β=1 tracked": [run(0, [100, 50, 0, 0], spectrum=off, beta=1.0, **spectral)],
               "SpecReg β=5 tracked": [run(0, [100, 50, 0, 0], spectrum=on_target, beta=5.0, **spectral)],
               "SpecReg β=2": [run(0, [100, 50, 0, 0], spectrum=off, beta=2.0, **spectral)],
               "SpecReg β=5": [run(0, [100, 50, 0, 0], spectrum=off, beta=5.0, **spectral)],
               "SpecReg-BN β=1": [run(0, [100, 50, 0, 0], beta=1.0, **spectral)],
               "MLP SpecReg-Wh (last) β=1": [run(0, [100, 50, 0, 0])], "MLP SpecReg-Wh (last) β=2": [],
               "Vanilla": [run(0, [100, 50, 0, 0])]}
    families = br.beta_families(results)
    assert {f: sorted(n) for f, n in families.items()} == {
        "SpecReg tracked": ["SpecReg tracked β=1", "SpecReg tracked β=5"], "SpecReg": ["SpecReg β=2", "SpecReg β=5"]}
    table, chosen = br.best_beta_table(families)
    assert chosen == {"SpecReg tracked": "5", "SpecReg": "2"}  # a tie goes to the smaller beta
    assert table.rows[0][2] == f"β=1: {math.log(2):.2f}, β=5: 0.00"


def test_kinds_and_the_closing_words() -> None:
    assert [br.kind_of(n)[0] for n in ("Vanilla", "Vanilla-BN", "SpecReg β=5 tracked, τ=0", "Shaped α=1",
                                       "PGD-AT ε=0.1", "AdamW wd=1", "Adam L2 0.01 (authors')")] == [
        "Vanilla", "other", "aimed at 1/n (SpecReg, shaped layers)", "aimed at 1/n (SpecReg, shaped layers)",
        "adversarial training", "weight decay", "weight decay"]
    results = {"Vanilla": [run(0, [100, 50, 20, 0])], "PGD-AT ε=0.1": [run(0, [100, 100, 50, 0])],
               "SpecReg β=5 tracked": [run(0, [100, 80, 40, 0])]}
    scale = br.Scale("quick", [0], {}, results, [], None, {})
    words = br.good_for_words(scale, {n: br.contrast(results, n, "Vanilla") for n in results if n != "Vanilla"})
    # eps50 by hand: Vanilla 0.1, PGD-AT 0.2, SpecReg 0.175: a gain of 0.075 against 0.1, 75%
    assert "moves it by 0.1000" in words and "SpecReg β=5 tracked's, 0.0750" in words and "75%" in words
    assert "ranks 2nd of the 2 networks" in words
    alone = br.good_for_words(scale, {"SpecReg β=5 tracked": br.contrast(results, "SpecReg β=5 tracked",
                                                                          "Vanilla")})
    assert "adversarial training is not computed yet" in alone and "%" not in alone


def test_the_batchnorm_paragraph_reads_its_numbers_from_the_runs() -> None:
    vanilla, bn = run(0, [100, 60, 30, 0]), run(0, [100, 50, 20, 0], batchnorm=True)
    for r, scale in ((vanilla, 1.0), (bn, 2.0)):
        r.arrays.update(sensitivity=np.full((2, 1, 28, 28), scale), acc_fgsm=r.arrays["acc_pgd"], eps_fgsm=EPS,
                        acc_noise=np.array([1.0, 0.9, 0.8, 0.7]), eps_noise=EPS)
    results = {"Vanilla": [vanilla], "Vanilla-BN": [bn]}
    values = br.batchnorm_values(results, br.contrast(results, "Vanilla-BN", "Vanilla"))
    assert values["vanilla-eps50"] == pytest.approx(0.1 + 0.1 / 3) and values["bn-eps50"] == pytest.approx(0.1)
    assert values["grad-ratio"] == pytest.approx(2.0) and values["verdict"] == "not enough seeds"
    words = br.batchnorm_words(values)
    assert "lowers PGD ε50 from 0.1333 to 0.1000" in words and "2.00 times Vanilla's" in words
    assert "raises BatchNorm's loss more" in words and dataclasses.is_dataclass(br.Contrast)
