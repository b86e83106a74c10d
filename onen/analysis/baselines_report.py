"""The baselines chapter: section 4.1's network against the other ways to buy robustness (spectral normalisation, a
stronger Vanilla, adversarial training), the regularizer's ablations, depth, the cost of a training step, BatchNorm's
effect, the rule that picks "the best beta", and where a 1/n spectrum stands among them.

The networks are those of :func:`onen.analysis.profiles.baseline_variants`. :func:`load` trains the executing
profile's networks that are missing (or only reads them: ``train=False``, or ``ONEN_CACHE_ONLY=1``, under which a
missing network is listed as missing); every other function reads what it is given and never trains.

Every contrast follows the book's rule: PGD eps50 of two networks paired by seed, each seed's eps50 from its per-image
outcomes (:func:`onen.analysis.stats.outcome_term`), with a 95% interval over the seeds and a paired bootstrap over
the attacked test images (:func:`onen.analysis.stats.paired_contrast`), and the verdict of
:func:`onen.analysis.stats.verdict_from_interval` ("not enough seeds" with one). The effect above Vanilla's
accuracy-robustness frontier is :func:`onen.analysis.control.above_frontiers`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen.analysis import profiles, report
from onen.analysis.control import Effect, Frontier, above_frontiers, fmt_interval
from onen.analysis.plotting import PALETTE, colours, plot_spectra
from onen.analysis.stats import PairedContrast, eps_at_half_of_outcomes, outcome_term, paired_contrast, t_interval
from onen.analysis.tables import Table
from onen.cache import CachedResult
from onen.runs.config import EvalConfig, TrainConfig
from onen.runs.experiments import NotCached, device_word, run, stored, stored_seeds

Results = Mapping[str, Sequence[CachedResult]]

NOT_PLANNED = "—"  # a status cell for a seed that a group does not train (the depth study's fewer seeds)
N_BOOT_RAW, N_BOOT_FRONTIER = 200, 100  # image resamples of a raw contrast and of an effect above the frontier


# ----------------------------------------------------------------------------------------------------------------
# the networks of one profile


@dataclass
class Scale:
    """The chapter's networks at one profile.

    profile: the profile's name; seeds: the seeds of the status table; groups: each group's network names, as
    planned (:func:`onen.analysis.profiles.baseline_variants`); runs: every network with at least one seed computed,
    its runs in seed order; status: one row per planned network, its name and per seed "CPU", "GPU", "missing" or
    :data:`NOT_PLANNED`; frontier: Vanilla's frontier (None without Vanilla and one early stop); extras: networks of
    other chapters at the same setting (the paper profile's section-4.1 and shaped networks), for the closing figure.
    """

    profile: str
    seeds: list[int]
    groups: dict[str, list[str]]
    runs: dict[str, list[CachedResult]]
    status: list[list[str]]
    frontier: Frontier | None
    extras: dict[str, list[CachedResult]]

    def missing(self) -> list[str]:
        """'name (seeds a, b)' of every planned network with a seed not computed yet."""
        out = []
        for row in self.status:
            lacking = [str(s) for s, cell in zip(self.seeds, row[1:]) if cell == "missing"]
            if lacking:
                out.append(f"{row[0]} (seed{'s' if len(lacking) > 1 else ''} {', '.join(lacking)})")
        return out


def _fetch(config: TrainConfig, evaluation: EvalConfig, results_dir: str, device: str,
           train: bool) -> CachedResult | None:
    """The cached run of ``config``, trained first where ``train`` (None where it is missing and cannot be)."""
    if not train:
        return stored(config, evaluation, results_dir)
    try:
        return run(config, evaluation, results_dir, device)
    except NotCached:
        return None


def load(profile: str, results_dir: str, seeds: Sequence[int], device: str = "cpu", train: bool = True,
         extras: bool = False) -> Scale:
    """The chapter's networks of ``profile`` under ``results_dir``: each group at its seeds
    (:func:`onen.analysis.profiles.baseline_seeds`), trained where missing if ``train``. ``extras``: also read the
    section-4.1 networks trained at Vanilla's learning rate and length and the shaped networks that ``results_dir``
    holds (never trained)."""
    evaluation, variants = profiles.baseline_evaluation(profile), profiles.baseline_variants(profile)
    runs, status, groups = {}, [], {}
    for group, nets in variants.items():
        planned = profiles.baseline_seeds(profile, group, seeds)
        groups[group] = list(nets)
        for name, config in nets.items():
            found = {s: _fetch(dataclasses.replace(config, seed=s), evaluation, results_dir, device, train)
                     for s in planned}
            if any(r is not None for r in found.values()):
                runs[name] = [r for r in found.values() if r is not None]
            status.append([name, *(NOT_PLANNED if s not in found else "missing" if found[s] is None
                                   else device_word(found[s]) for s in seeds)])
    points = {variants["frontier"][n].epochs: runs[n] for n in groups["frontier"] if n in runs}
    if "Vanilla" in runs:
        points[variants["shallow"]["Vanilla"].epochs] = runs["Vanilla"]
    frontier = Frontier(points) if len(points) >= 2 and "Vanilla" in runs else None
    return Scale(profile, list(seeds), groups, runs, status, frontier,
                 other_networks(profile, results_dir, seeds, runs) if extras else {})


def other_networks(profile: str, results_dir: str, seeds: Sequence[int],
                   own: Results) -> dict[str, list[CachedResult]]:
    """The section-4.1 networks at Vanilla's learning rate and length that are not the chapter's own (whitened,
    SpecReg with either basis, SpecReg-BN), and the control chapter's shaped networks, as far as ``results_dir``
    holds them (never trained). Empty unless the baselines' shallow setting is section 4.1's (the paper profile)."""
    vanilla = profiles.shallow_variants(profile)["Vanilla"]
    if profiles.baseline_variants(profile)["shallow"]["Vanilla"] != vanilla:
        return {}
    mine = [c for group in profiles.baseline_variants(profile).values() for c in group.values()]
    section = {n: c for n, c in profiles.shallow_variants(profile).items()
               if c.lr == vanilla.lr and c.epochs == vanilla.epochs and c not in mine and n not in own}
    shaped = {n: c for n, c in profiles.control_variants(profile).items() if c.shape_after is not None}
    found, _ = stored_seeds(section, profiles.evaluation(profile), seeds, results_dir)
    found_shaped, _ = stored_seeds(shaped, profiles.control_evaluation(profile), seeds, results_dir)
    return {**found, **found_shaped}


def status_table(scale: Scale, caption: str) -> Table:
    """The planned networks of a scale, one row each: per seed where it was computed, "missing", or "—" where its
    group does not train that seed; the caption counts the computed ones."""
    planned = sum(cell != NOT_PLANNED for row in scale.status for cell in row[1:])
    done = sum(cell not in (NOT_PLANNED, "missing") for row in scale.status for cell in row[1:])
    return Table(["network", *(f"seed {s}" for s in scale.seeds)], scale.status,
                 caption=f"{caption}: {done} of {planned} networks computed",
                 notes=[f"{NOT_PLANNED}: a seed the depth study does not train"])


def missing_words(scale: Scale) -> str:
    """One sentence naming the networks not computed yet, or saying that all are."""
    missing = scale.missing()
    if not missing:
        return f"Every network of the {scale.profile} profile is computed."
    return f"Not computed yet at the {scale.profile} profile ({len(missing)}): " + "; ".join(missing) + "."


def settings_table(profile: str, seeds: Sequence[int]) -> Table:
    """The chapter's settings in ``profile``: the shallow network and its training, the frontier, the depth study,
    the attacks, and every method's own setting."""
    s, v = profiles.baseline_settings(profile), profiles.baseline_variants(profile)
    m, base, deep = s.methods, v["shallow"]["Vanilla"], v["depth"][profiles.depth_name("Vanilla", 1)]
    ev: EvalConfig = profiles.baseline_evaluation(profile)
    depth_seeds = profiles.baseline_seeds(profile, "depth", seeds)
    rows = [["profile, seeds", f"{profile}; {', '.join(map(str, seeds))} (depth study: "
                               f"{', '.join(map(str, depth_seeds))})"],
            ["network", f"784-{base.widths[0]}-10 tanh, Adam (AMSGrad) at {base.lr:g}, batch {base.batch_size}, "
                        f"{base.epochs} epochs on {base.train_subset or 60000} training images"],
            ["Vanilla's frontier", "Vanilla stopped after " + ", ".join(map(str, s.frontier_epochs)) + " epochs"],
            ["depth study", f"1-{max(m.depths)} hidden layers of {s.depth_width} tanh units, Adam (AMSGrad) "
                            f"at {deep.lr:g}, batch {deep.batch_size}, {deep.epochs} epochs on "
                            f"{deep.train_subset or 60000} images; SpecReg on every layer at β = "
                            f"{m.depth_beta:g}, the paper's basis"],
            ["attacks", f"{ev.test_subset or 10000} test images; PGD-{ev.pgd_steps}; ε grid "
                        + ", ".join(f"{e:g}" for e in ev.eps_pgd)],
            ["spectral normalisation", "each layer's operator norm σ = " + " or ".join(
                f"{x:g}" for x in m.spectral_norms) + " (the network's Lipschitz bound σ²)"],
            ["stronger Vanilla", f"SGD lr {m.sgd_lr:g} momentum 0.9; AdamW decay "
                                 + ", ".join(f"{d:g}" for d in m.adamw_decays)
                                 + f"; Adam with L2 decay {m.authors_decay:g} (the authors' form); L1 activity "
                                 f"{m.activity_l1:g} × mean |h|; per-image standardisation"],
            ["adversarial training", f"PGD-{m.adversarial_steps} examples at ε = "
                                     f"{m.adversarial_eps:g}, random start"],
            ["ablations", f"SpecReg, tracked basis, β = {m.ablation_beta:g}: hinge off; τ = "
                          + ", ".join(map(str, m.taus)) + " (10: the reference); α = "
                          + ", ".join(f"{a:g}" for a in m.alphas) + " (1: the reference)"]]
    return Table(["setting", "value"], rows, caption=f"Settings of the {profile} profile's baselines")


def chapter_names(scale: Scale) -> list[str]:
    """The networks the main table contrasts with Vanilla: the shallow group's and the ablations', Vanilla left out."""
    return [n for g in ("shallow", "ablations") for n in scale.groups[g] if n != "Vanilla"]


# ----------------------------------------------------------------------------------------------------------------
# contrasts


def point(run: CachedResult) -> tuple[float, float]:
    """(clean accuracy, PGD eps50) of a run on its attacked images, from its per-image outcomes (the numbers the
    contrasts and the frontier use)."""
    correct = run.arrays["correct_pgd"]
    return float(correct[0].mean()), eps_at_half_of_outcomes(run.arrays["eps_pgd"], correct)


@dataclass(frozen=True)
class Contrast:
    """``treated`` minus ``reference``, paired by seed: PGD eps50 (``raw``, :class:`PairedContrast`), the same above
    Vanilla's frontier (``above``, None without a frontier), and each network's mean clean accuracy over the paired
    seeds (all test images)."""

    treated: str
    reference: str
    raw: PairedContrast
    above: Effect | None
    treated_accuracy: float
    reference_accuracy: float

    def verdict(self, sign: int = 1) -> str:
        return self.raw.verdict(sign)

    def above_verdict(self, sign: int = 1) -> str:
        return "no frontier" if self.above is None else self.above.verdict(sign)


def _term(sign: float, runs: Sequence[CachedResult]):  # noqa: ANN202 - onen.analysis.stats.Term
    return outcome_term(sign, runs[0].arrays["eps_pgd"], [r.arrays["correct_pgd"] for r in runs])


def contrast(results: Results, treated: str, reference: str, frontier: Frontier | None = None) -> Contrast | None:
    """:class:`Contrast` of two networks over the seeds both have (None where they share none or one is absent).
    Above the frontier, a reference named "Vanilla" adds no term: each seed of it is a point of its own seed's
    frontier, so its distance from the frontier is 0 on every resample of the images."""
    if treated not in results or reference not in results:
        return None
    paired = report.common_seeds(results, [treated, reference])
    if not paired[treated]:
        return None
    raw = paired_contrast([_term(+1, paired[treated]), _term(-1, paired[reference])], n_boot=N_BOOT_RAW)
    terms = [(+1.0, paired[treated], frontier)] + ([] if reference == "Vanilla" else
                                                  [(-1.0, paired[reference], frontier)])
    above = None if frontier is None else above_frontiers(terms, n_boot=N_BOOT_FRONTIER)
    accuracy = {n: float(np.mean([r.meta["clean_accuracy"] for r in paired[n]])) for n in (treated, reference)}
    return Contrast(treated, reference, raw, above, accuracy[treated], accuracy[reference])


def interval_text(c: PairedContrast | Effect, digits: int = 4) -> str:
    """"m [l, h]" of a contrast (or "m" with an undefined interval; "n/a" without a finite mean)."""
    return fmt_interval(c.mean, c.low, c.high, digits)


VERDICT_NOTES = ["Δ: the first network minus the second, PGD ε50 (pixel units) from the attacked images' outcomes, "
                 "paired by seed; 95% interval over seeds (t) and a paired bootstrap over the attacked test images "
                 "(with one seed the images' part only).",
                 "verdict: reproduced / contradicted when the interval excludes 0 on the claimed side / the other; "
                 "not resolved when it holds 0; not enough seeds with one seed."]


def vanilla_contrasts(scale: Scale, names: Sequence[str], frontier: bool = True) -> dict[str, Contrast | None]:
    """Each of ``names`` (the chapter's networks or the other chapters' of the same setting) against Vanilla of the
    same setting, raw and, with ``frontier``, above Vanilla's frontier."""
    everyone = {**scale.runs, **scale.extras}
    return {name: contrast(everyone, name, "Vanilla", scale.frontier if frontier else None) for name in names}


def vanilla_table(scale: Scale, contrasts: Mapping[str, Contrast | None], caption: str) -> Table:
    """One row per network: seeds, clean accuracy and its change, Δ eps50 with its verdict on "more robust than
    Vanilla", raw and above Vanilla's frontier."""
    rows = []
    for name, c in contrasts.items():
        if c is None:
            rows.append([name, "0", "—", "—", "—", "not computed", "—", "not computed"])
            continue
        above = "—" if c.above is None else interval_text(c.above)
        if c.above is not None and 0 < c.above.n_seeds < c.raw.n_seeds:
            above += f" ({c.above.n_seeds} of {c.raw.n_seeds} seeds inside)"
        rows.append([name, str(c.raw.n_seeds), f"{c.treated_accuracy:.4f}",
                     f"{c.treated_accuracy - c.reference_accuracy:+.4f}", interval_text(c.raw), c.verdict(),
                     above, c.above_verdict()])
    notes = ["claim tested in every row: the network is more robust than Vanilla (Δ > 0)", *VERDICT_NOTES,
             "above frontier: each network's ε50 minus Vanilla's at the same clean accuracy (Vanilla stopped early); "
             "n/a, outside the frontier: a clean accuracy outside the range Vanilla's frontier spans"]
    return Table(["network", "seeds", "clean accuracy", "Δ clean accuracy vs Vanilla", "Δ PGD ε50 [95%]",
                  "verdict", "Δ above frontier [95%]", "verdict above frontier"], rows, caption=caption, notes=notes)


def ablation_table(scale: Scale, caption: str) -> tuple[Table, dict[str, Contrast | None]]:
    """The full regularizer (Eq. 2 with its hinge, tau 10, alpha 1) against each ablation of it: the ablated
    network's exponent and distance from its own target (test images), and Δ eps50 of full minus ablated with the
    verdict on "the full regularizer is more robust"."""
    full, *ablated = scale.groups["ablations"]
    contrasts = {name: contrast(scale.runs, full, name) for name in ablated}
    rows = []
    for name in [full, *ablated]:
        runs = scale.runs.get(name)
        score = report.target_scores(runs)[0] if runs else None
        target = "—" if score is None else (f"{score.fitted_alpha:.2f} (target {score.target_alpha:g}), "
                                            f"{score.median_abs_log_ratio:.2f}")
        c = contrasts.get(name)
        cells = (["—", "—", "reference"] if name == full else ["0", "—", "not computed"] if c is None
                 else [str(c.raw.n_seeds), interval_text(c.raw), c.verdict()])
        accuracy = "—" if not runs else f"{np.mean([r.meta['clean_accuracy'] for r in runs]):.4f}"
        rows.append([name, accuracy, target, *cells])
    notes = ["claim tested in every row: the full regularizer is more robust than its ablation (Δ = full − ablated "
             "> 0)", "α fit, median |log λ/γ|: the hidden layer's test-image spectrum against the network's own "
             "target (ranks τ+2 to N)", *VERDICT_NOTES]
    return Table(["network", "clean accuracy", "α fit, median |log λ/γ|", "paired seeds", "Δ PGD ε50 full − ablated "
                  "[95%]", "verdict"], rows, caption=caption, notes=notes), contrasts


def depth_table(scale: Scale, caption: str) -> tuple[Table, dict[int, Contrast | None]]:
    """Per depth: both networks' clean accuracy, whether SpecReg's layers all reached their target, and Δ eps50 of
    SpecReg on every layer minus Vanilla with the verdict on "SpecReg is more robust"."""
    rows, contrasts = [], {}
    for depth in profiles.baseline_settings(scale.profile).methods.depths:
        vanilla, spec = (profiles.depth_name(f, depth) for f in ("Vanilla", "SpecReg (all)"))
        c = contrasts[depth] = contrast(scale.runs, spec, vanilla)
        scores = report.target_scores(scale.runs[spec]) if spec in scale.runs else []
        reached = "—" if not scores else f"{sum(s.reached for s in scores)} of {len(scores)}"
        if c is None:
            rows.append([str(depth), "0", "—", "—", reached, "—", "not computed"])
            continue
        rows.append([str(depth), str(c.raw.n_seeds), f"{c.reference_accuracy:.4f}", f"{c.treated_accuracy:.4f}",
                     reached, interval_text(c.raw), c.verdict()])
    notes = ["claim tested in every row: SpecReg on every hidden layer is more robust than Vanilla of the same depth",
             "reached: hidden layers whose spectrum reached its target in every seed (|α fit − 1| ≤ 0.1 and median "
             "|log λ/γ| ≤ log 2)", *VERDICT_NOTES]
    return Table(["hidden layers", "paired seeds", "Vanilla clean accuracy", "SpecReg clean accuracy",
                  "SpecReg layers reached", "Δ PGD ε50 [95%]", "verdict"], rows, caption=caption,
                 notes=notes), contrasts


def ranking_words(contrasts: Mapping[str, Contrast | None]) -> str:
    """The computed contrasts ranked by Δ eps50: how many networks are above Vanilla, and every effect in order (the
    three largest and the three smallest where more than six are computed)."""
    done = sorted(((n, c) for n, c in contrasts.items() if c is not None), key=lambda item: -item[1].raw.mean)
    if not done:
        return "No network of this table is computed yet."
    above = sum(c.raw.mean > 0 for _, c in done)

    def listed(items: Sequence[tuple[str, Contrast]]) -> str:
        return ", ".join(f"{n} ({c.raw.mean:+.4f})" for n, c in items)

    ranked = (f"in order, {listed(done)}" if len(done) <= 6 else
              f"the largest differences {listed(done[:3])}; the smallest {listed(done[-3:][::-1])}")
    return (f"{above} of the {len(done)} computed network{'s' if len(done) > 1 else ''} "
            f"{'have' if len(done) > 1 else 'has'} a higher PGD ε50 than Vanilla: {ranked}.")


def ablation_words(contrasts: Mapping[str, Contrast | None]) -> str:
    """Each computed ablation's Δ eps50 (full regularizer minus ablated) and its verdict, in one sentence."""
    done = {n: c for n, c in contrasts.items() if c is not None}
    if not done:
        return "No ablation is computed yet."
    return "Full minus ablated: " + "; ".join(
        f"{n.split(', ', 1)[1]} {interval_text(c.raw)} ({c.verdict()})" for n, c in done.items()) + "."


def depth_words(contrasts: Mapping[int, Contrast | None]) -> str:
    """Δ eps50 of SpecReg on every layer minus Vanilla at each computed depth, in one sentence."""
    done = {d: c for d, c in contrasts.items() if c is not None}
    if not done:
        return "No depth is computed yet."
    return "SpecReg minus Vanilla: " + "; ".join(
        f"{d} hidden layer{'s' if d > 1 else ''} {interval_text(c.raw)} ({c.verdict()}, clean accuracy "
        f"{c.treated_accuracy - c.reference_accuracy:+.4f})" for d, c in done.items()) + "."


# ----------------------------------------------------------------------------------------------------------------
# the cost of a training step


def step_cost_files(folder: Path | None = None) -> list[Path]:
    """The step-cost measurements of ``benchmarks/step_cost.py`` committed under ``benchmarks/results``
    (``step_cost_<device>.json``), CPU first."""
    folder = folder or profiles.repository_root() / "benchmarks" / "results"
    return sorted(folder.glob("step_cost_*.json"), key=lambda p: (p.stem != "step_cost_cpu", p.name))


def steps_per_epoch(setting: str, images: int = 60000) -> int | None:
    """Minibatches in an epoch of ``images`` at the batch a setting's name gives ("..., batch 3500"), incomplete
    batches dropped; None where the name gives no batch."""
    found = re.search(r"batch (\d+)", setting)
    return images // int(found.group(1)) if found else None


def cost_table(files: Sequence[Path]) -> Table:
    """Each method's training step as a ratio to Vanilla's, and in seconds per epoch, for every setting of every
    measurement file (one column pair per setting and device)."""
    records = [(p.stem.removeprefix("step_cost_").upper(), json.loads(p.read_text(encoding="utf-8")))
               for p in files]
    if not records:
        raise ValueError("no step-cost measurement found (benchmarks/results/step_cost_<device>.json)")
    columns = [(device, setting, record) for device, record in records for setting in record["steps"]]
    methods = list(dict.fromkeys(m for _, s, r in columns for m in r["steps"][s]))
    rows = []
    for method in methods:
        row = [method]
        for _, setting, record in columns:
            cell = record["steps"][setting].get(method)
            per_epoch = steps_per_epoch(setting)
            row += ["—", "—"] if cell is None else [f"×{cell['ratio']:.1f}", "—" if per_epoch is None
                                                   else f"{cell['step_s'] * per_epoch:.0f}"]
        rows.append(row)
    header = ["method"] + [h for device, setting, _ in columns
                           for h in (f"{setting} ({device}): step / Vanilla's", "s per epoch")]
    notes = [f"{device}: {record['cpus']} cores, {record['threads']} thread(s), torch {record['torch']}, "
             f"{record['date']}, median of {record['rounds']} rounds" for device, record in records]
    notes.append("s per epoch: the step's median time × the minibatches of an epoch on 60000 images; the per-epoch "
                 "basis's refresh (once per epoch) is not included")
    return Table(header, rows, caption="Time per training step against Vanilla's (benchmarks/step_cost.py)",
                 notes=notes)


def cost_values(path: Path, setting_word: str = "shallow") -> dict[str, float]:
    """From one step-cost file, the setting whose name starts with ``setting_word``: each method's ratio to
    Vanilla's step and its seconds per epoch, by method name."""
    record = json.loads(path.read_text(encoding="utf-8"))
    setting = next(s for s in record["steps"] if s.startswith(setting_word))
    per_epoch = steps_per_epoch(setting) or math.nan
    return {**{f"{m} ratio": c["ratio"] for m, c in record["steps"][setting].items()},
            **{f"{m} epoch": c["step_s"] * per_epoch for m, c in record["steps"][setting].items()}}


# ----------------------------------------------------------------------------------------------------------------
# BatchNorm


def gradient_norms(runs: Sequence[CachedResult]) -> tuple[float, float]:
    """The loss gradient at the stored test digits (``sensitivity``), mean over digits and seeds: ||g||_1, the most an
    L-infinity perturbation of radius 1 raises the loss to first order, and ||g||_1 / ||g||_2, how evenly it spreads
    over the pixels (at most the square root of their number, 28 for MNIST; free of the gradient's scale)."""
    flat = [np.abs(r.arrays["sensitivity"]).reshape(len(r.arrays["sensitivity"]), -1) for r in runs]
    l1 = [g.sum(1) for g in flat]
    l2 = [np.sqrt((g ** 2).sum(1)) for g in flat]
    return float(np.mean(np.concatenate(l1))), float(np.mean(np.concatenate([a / b for a, b in zip(l1, l2)])))


def batchnorm_values(results: Results, effect: Contrast) -> dict[str, float | int | str]:
    """What the BatchNorm paragraph reads, by key: per network ("vanilla", "bn") its clean accuracy, PGD eps50 (from
    the outcomes), hidden-layer exponent (ranks 11-500), FGSM and noise scores (mean accuracy over the grid's nonzero
    radii) and gradient norms (:func:`gradient_norms`), over the paired seeds; the contrast, its verdicts on "BatchNorm
    hurts", and, where ``results`` holds a whitened network, its exponent and eps50."""
    paired = report.common_seeds(results, ["Vanilla", "Vanilla-BN"])
    values: dict[str, float | int | str] = {}
    for key, name in (("vanilla", "Vanilla"), ("bn", "Vanilla-BN")):
        runs = paired[name]
        values[f"{key}-acc"] = float(np.mean([r.meta["clean_accuracy"] for r in runs]))
        values[f"{key}-eps50"] = float(np.mean([point(r)[1] for r in runs]))
        values[f"{key}-alpha"] = float(np.mean(report.layer_alphas(runs, 0)))
        for attack in ("fgsm", "noise"):
            values[f"{key}-{attack}"] = float(np.mean([report.robustness_score(r, attack) for r in runs]))
        values[f"{key}-grad"], values[f"{key}-spread"] = gradient_norms(runs)
    values.update({"effect": interval_text(effect.raw), "verdict": effect.verdict(-1), "seeds": effect.raw.n_seeds,
                   "above": ("" if effect.above is None else "outside the frontier" if effect.above.n_seeds == 0
                             else f"above the frontier {interval_text(effect.above)}, {effect.above_verdict(-1)}"),
                   "grad-ratio": float(values["bn-grad"]) / float(values["vanilla-grad"])})
    if results.get("Whitened"):
        values["white-alpha"] = float(np.mean(report.layer_alphas(results["Whitened"], 0)))
        values["white-eps50"] = float(np.mean([point(r)[1] for r in results["Whitened"]]))
    return values


def batchnorm_words(v: Mapping[str, float | int | str]) -> str:
    """The paragraph on what the measurements show about BatchNorm, every number from ``v``
    (:func:`batchnorm_values`)."""
    lower = v["bn-eps50"] < v["vanilla-eps50"]
    specific = v["bn-noise"] >= v["vanilla-noise"] and v["bn-fgsm"] < v["vanilla-fgsm"]
    flatter = v["bn-alpha"] < v["vanilla-alpha"]
    words = [f"Over {v['seeds']} paired seed{'s' if v['seeds'] != 1 else ''}, BatchNorm "
             f"{'lowers' if lower else 'raises'} PGD ε50 from {v['vanilla-eps50']:.4f} to {v['bn-eps50']:.4f} (Δ "
             f"{v['effect']}; the claim that it hurts: {v['verdict']}" + (f"; {v['above']}" if v["above"] else "")
             + f") while clean accuracy moves from {v['vanilla-acc']:.4f} to {v['bn-acc']:.4f}.",
             f"FGSM's score (mean accuracy over the ε grid) goes from {v['vanilla-fgsm']:.3f} to {v['bn-fgsm']:.3f} "
             f"and Gaussian noise's from {v['vanilla-noise']:.3f} to {v['bn-noise']:.3f}"
             + (": the loss is specific to worst-case perturbations, since random ones hurt BatchNorm no more."
                if specific else "."),
             f"Its hidden layer's spectrum decays {'more slowly' if flatter else 'faster'} (α "
             f"{v['bn-alpha']:.2f} against {v['vanilla-alpha']:.2f} over ranks 11-500)"
             + (f", toward the whitened layer's {v['white-alpha']:.2f}, whose ε50 is {v['white-eps50']:.4f}."
                if "white-alpha" in v and flatter else "."),
             f"At the clean test digits its loss gradient is {v['grad-ratio']:.2f} times Vanilla's (‖g‖₁) and spread "
             f"over the pixels alike (‖g‖₁/‖g‖₂ {v['bn-spread']:.1f} against {v['vanilla-spread']:.1f}, at most 28)"
             + (": the weakness does not show to first order at the clean image; it appears along the attack's "
                "path."
                if v["grad-ratio"] < 1 and lower else
                ": to first order a perturbation of a given radius raises BatchNorm's loss "
                + ("more" if v["grad-ratio"] > 1 else "less") + " than Vanilla's.")]
    return " ".join(words)


def batchnorm_figure(results: Results) -> Figure:
    """The hidden layer's spectrum of Vanilla and Vanilla-BN (first seed, the fitted exponent in the legend) beside
    their input-sensitivity maps of the first four stored digits."""
    pair = {n: results[n] for n in ("Vanilla", "Vanilla-BN")}
    colour_of = colours(list(pair))
    fig = plt.figure(figsize=(12, 3.8))
    grid = fig.add_gridspec(3, 6, width_ratios=[1.4, 1.4, 1, 1, 1, 1])
    ax = fig.add_subplot(grid[:, :2])
    plot_spectra(ax, {f"{n} (α={np.mean(report.layer_alphas(r, 0)):.2f})": r[0].arrays["spectrum_0"]
                      for n, r in pair.items()},
                 colour_of={f"{n} (α={np.mean(report.layer_alphas(r, 0)):.2f})": colour_of[n] for n, r in pair.items()})
    ax.legend(fontsize=7)
    images = pair["Vanilla"][0].arrays["sensitivity_images"]
    for col in range(4):
        cells = [(0, images[col, 0], "gray_r", "input")]
        cells += [(row, np.abs(pair[n][0].arrays["sensitivity"][col, 0]), "magma", n)
                  for row, n in enumerate(pair, start=1)]
        for row, image, cmap, label in cells:
            cell = fig.add_subplot(grid[row, 2 + col])
            cell.imshow(image / max(float(image.max()), 1e-12), cmap=cmap, vmin=0, vmax=1)
            cell.set_xticks([])
            cell.set_yticks([])
            cell.grid(False)
            if col == 0:
                cell.set_ylabel(label, fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
# the best beta


def beta_families(results: Results, prefix: str = "") -> dict[str, dict[str, list[CachedResult]]]:
    """The section-4.1 and deep networks of ``results`` grouped into the families the best-beta rule chooses within,
    each renamed "<family> β=<b>" as :func:`onen.analysis.report.closest_beta` reads them: "SpecReg" (the paper's
    basis), "SpecReg tracked", "SpecReg-BN", and the deep families as named ("MLP SpecReg (last)", ...); the
    whitened deep variants are left out (they take the beta chosen for their unwhitened family), and so is a family
    with one beta."""
    families: dict[str, dict[str, list[CachedResult]]] = {}
    for name, runs in results.items():
        found = re.fullmatch(r"(.+?) β=([0-9.]+)( tracked)?", name)
        if found is None or not runs or "-Wh" in name:  # whitened variants take their unwhitened family's beta
            continue
        family = prefix + found.group(1) + (found.group(3) or "")
        families.setdefault(family, {})[f"{family} β={found.group(2)}"] = list(runs)
    return {f: nets for f, nets in families.items() if len(nets) > 1}


def committed_penalized(paper: Scale, results_dir: str) -> dict[str, list[CachedResult]]:
    """Every network of the paper profile that a best-beta family can hold: the shallow setting's (``paper``'s own
    networks and its extras), without the pair trained at another learning rate, and the deep chapters' MLP and CNN
    networks that ``results_dir`` holds ("MLP SpecReg (last) β=1", ...); never trained."""
    found = {n: r for n, r in {**paper.runs, **paper.extras}.items() if "lr=" not in n}
    for arch in ("mlp", "cnn"):
        nets = {**profiles.last_layer_variants(arch, "paper"), **profiles.all_layer_variants(arch, "paper")}
        stored_deep, _ = stored_seeds(nets, profiles.evaluation("paper"), profiles.seeds("paper"), results_dir)
        found.update({f"{arch.upper()} {name}": runs for name, runs in stored_deep.items()})
    return found


def best_beta_table(families: Mapping[str, Results]) -> tuple[Table, dict[str, str]]:
    """:func:`onen.analysis.report.closest_beta` in every family: each beta's distance from the target and the beta
    chosen. Returns the table and the chosen beta by family."""
    rows, chosen = [], {}
    for family, nets in families.items():
        best, distance = report.closest_beta(nets, family)
        chosen[family] = best.split("β=")[1]
        rows.append([family, str(min(len(r) for r in nets.values())),
                     ", ".join(f"β={n.split('β=')[1]}: {d:.2f}" for n, d in distance.items()), chosen[family]])
    return Table(["family", "seeds", "distance from the target (mean median |log λ/γ|)", "chosen β"], rows,
                 caption="The best β by the book's rule, in every family computed at the paper's scale",
                 notes=["distance: the median over the penalized ranks of |log(λ_k/γ_k)| on test images, averaged "
                        "over the regularized layers and the seeds; the smallest wins, ties to the smaller β"]), chosen


# ----------------------------------------------------------------------------------------------------------------
# what 1/n is good for


ONE_OVER_N = ("SpecReg", "Shaped")  # names of networks whose method aims at a 1/n spectrum begin with these
# the closing figure's kinds of method: (label, marker, colour), in legend order; a name's kind is the first whose
# prefixes it starts with (:func:`kind_of`)
KINDS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("Vanilla", ("Vanilla",), "s", PALETTE[7]),
    ("aimed at 1/n (SpecReg, shaped layers)", ONE_OVER_N, "o", PALETTE[0]),
    ("adversarial training", ("PGD-AT",), "*", PALETTE[5]),
    ("spectral normalisation", ("Spectral norm",), "D", PALETTE[2]),
    ("weight decay", ("AdamW", "Adam L2"), "s", PALETTE[1]),
    ("other", ("",), "^", PALETTE[4]))


def kind_of(name: str) -> tuple[str, str, str]:
    """(kind, marker, colour) of a network in the closing figure; Vanilla-BN counts as "other"."""
    for label, prefixes, marker, colour in KINDS:
        if name.startswith(prefixes) and not (label == "Vanilla" and name != "Vanilla"):
            return label, marker, colour
    raise AssertionError(name)  # "" matches every name


def on_setting(scale: Scale) -> dict[str, list[CachedResult]]:
    """Every computed network of the shallow setting (the chapter's, then the other chapters'), by name."""
    names = [n for g in ("shallow", "ablations") for n in scale.groups[g] if n in scale.runs]
    return {**{n: scale.runs[n] for n in names}, **scale.extras}


def _mean_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95% t-interval (0 with one value)."""
    mean, low, high = t_interval(values)
    return mean, 0.0 if not math.isfinite(low) else (high - low) / 2


def _depth_pairs(ax, scale: Scale) -> None:  # noqa: ANN001 - a matplotlib Axes
    """Vanilla (open triangle) joined to SpecReg on every layer (filled) at each computed depth, within the panel's
    current limits (a pair that leaves them is cut at the edge)."""
    limits = ax.get_xlim(), ax.get_ylim()
    for depth in profiles.baseline_settings(scale.profile).methods.depths:
        pair = [scale.runs.get(profiles.depth_name(f, depth)) for f in ("Vanilla", "SpecReg (all)")]
        if not all(pair):
            continue
        (x0, y0), (x1, y1) = (np.mean([point(r) for r in runs], axis=0) for runs in pair)
        ax.plot([x0, x1], [y0, y1], "-", color="0.55", lw=0.8)
        ax.plot([x0], [y0], "v", mfc="none", color="0.4", ms=6)
        ax.plot([x1], [y1], "v", color="0.4", ms=6)
        ax.annotate(f"{depth} hidden", (x0, y0), fontsize=6, color="0.35", xytext=(3, -8),
                    textcoords="offset points")
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])


def frontier_figure(panels: Sequence[tuple[str, Scale]]) -> Figure:
    """Clean accuracy against PGD eps50 (attacked images), one panel per scale: every network of the shallow setting
    at its mean, with 95% t-intervals over seeds on both axes and its name, marked by its kind (:data:`KINDS`);
    Vanilla's frontier; and, in grey, Vanilla joined to SpecReg on every layer at each depth."""
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 5.6), squeeze=False)
    for ax, (title, scale) in zip(axes[0], panels):
        for name, runs in on_setting(scale).items():
            points = np.array([point(r) for r in runs])
            (x, dx), (y, dy) = (_mean_interval(points[:, i]) for i in (0, 1))
            _, marker, colour = kind_of(name)
            ax.errorbar([x], [y], xerr=[dx], yerr=[dy], fmt=marker, ms=10 if marker == "*" else 6, capsize=2,
                        color=colour, zorder=4 if name == "Vanilla" else 3)  # Vanilla on top of its neighbours
            ax.annotate(name, (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points")
        if scale.frontier is not None:
            ax.plot(*scale.frontier.curve(), "k-", lw=1.2)
        ax.margins(0.08)
        _depth_pairs(ax, scale)
        ax.set_title(title)
        ax.set_xlabel("clean accuracy (attacked test images)")
        ax.set_ylabel("PGD ε50 (pixel units)")
    handles = [plt.Line2D([], [], ls="", marker=marker, color=colour, label=label)
               for label, _, marker, colour in KINDS]
    handles += [plt.Line2D([], [], color="k", label="Vanilla's frontier (stopped early)"),
                plt.Line2D([], [], color="0.55", marker="v", label="depth: Vanilla (open) to SpecReg on every layer")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _effect_words(c: Contrast) -> str:
    """"Δ [l, h] (verdict; above the frontier ...) at ±a clean accuracy" of a contrast against Vanilla."""
    if c.above is None:
        above = ""
    elif c.above.n_seeds == 0:
        above = "; outside the frontier"
    else:
        above = f"; above the frontier {interval_text(c.above)}"
    return (f"{interval_text(c.raw)} ({c.verdict()}{above}) at {c.treated_accuracy - c.reference_accuracy:+.4f} "
            "clean accuracy")


def good_for_words(scale: Scale, contrasts: Mapping[str, Contrast | None]) -> str:
    """Where the methods aimed at a 1/n spectrum stand at one scale, from the contrasts against Vanilla alone: the
    largest gain of such a method, adversarial training's and the share of it that gain is, the rank of that method
    among every network of the setting, the shaped layers', spectral normalisation's and the range of weight
    decay's; a method not computed yet is said to be missing."""
    done = {n: c for n, c in contrasts.items() if c is not None}
    kinds = {n: kind_of(n)[0] for n in done}
    at = next((n for n in done if kinds[n] == "adversarial training"), None)
    aimed = [n for n in done if kinds[n].startswith("aimed")]
    best = max(aimed, key=lambda n: done[n].raw.mean) if aimed else None
    words = [f"At the {scale.profile} scale, against Vanilla's PGD ε50:"]
    words.append("adversarial training is not computed yet." if at is None else
                 f"adversarial training moves it by {_effect_words(done[at])}.")
    if best is None:
        words.append("No network aimed at 1/n is computed yet.")
    else:
        share = done[best].raw.mean / done[at].raw.mean if at is not None and done[at].raw.mean > 0 else math.nan
        ranked = sorted(done, key=lambda n: -done[n].raw.mean)
        words.append(f"The largest gain of a method aimed at 1/n is {best}'s, {_effect_words(done[best])}"
                     + (f", {share:.0%} of what adversarial training buys" if math.isfinite(share) else "")
                     + f"; it ranks {ranked.index(best) + 1}{_ordinal(ranked.index(best) + 1)} of the "
                     f"{len(ranked)} networks of this setting by ε50.")
    shaped = [n for n in done if n.startswith("Shaped")]
    if shaped:
        words.append("Layers shaped to a power law by construction: "
                     + "; ".join(f"{n} {_effect_words(done[n])}" for n in shaped) + ".")
    norms = [n for n in done if kinds[n] == "spectral normalisation"]
    if norms:
        words.append("Spectral normalisation: " + "; ".join(f"{n} {_effect_words(done[n])}" for n in norms) + ".")
    decays = sorted((n for n in done if kinds[n] == "weight decay"), key=lambda n: done[n].raw.mean)
    if decays:
        words.append(f"Weight decay ranges from {decays[0]} ({done[decays[0]].raw.mean:+.4f}) to {decays[-1]} "
                     f"({done[decays[-1]].raw.mean:+.4f}).")
    return " ".join(words)


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
