"""The CIFAR-10 chapter's tables, figures and sentences: the authors' rebuttal CNN with and without the spectral
penalty, under attacks at radii k/255, their PGD eps50 against Vanilla's, raw and above Vanilla's accuracy-robustness
frontier, the attack audit at one radius, and common corruptions.

``results`` maps a network's name ("Vanilla", "SpecReg (all)", "Jacobian") to its cached runs, one per seed
(:func:`onen.runs.experiments.run_seeds`); ``audits`` and ``corrupted`` map the same names to the runs of
:func:`onen.robustness.audit.audit_run` and :func:`onen.robustness.cifar_c.corruption_run`. Accuracies in the
tables are in percent; eps50 effects in grey levels (eps50 times 255).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen.analysis import control, profiles, report
from onen.analysis.plotting import colours
from onen.analysis.stats import PairedContrast, t_interval
from onen.analysis.tables import Table
from onen.cache import CachedResult
from onen.cifar import CLASSES
from onen.data import Split
from onen.robustness.audit import AuditConfig, audit_run
from onen.robustness.cifar_c import CifarCorruptionConfig, corrupt, corruption_run
from onen.runs.config import EvalConfig
from onen.runs.experiments import run_seeds
from onen.runs.training import TrainConfig

Runs = Mapping[str, Sequence[CachedResult]]
KEYS = {"Vanilla": "vanilla", "SpecReg (all)": "specreg", "Jacobian": "jacobian"}  # name -> glue key part
# the two masking checks that a single radius supports; "not_zero_at_largest_eps" needs a grid to large radii
ONE_RADIUS_CHECKS = ("black_box_beats_white_box", "restarts_matter")
# the paper's sign of each network's PGD eps50 minus Vanilla's: the spectral penalty and the Jacobian one both raise it
CLAIMED = {"SpecReg (all)": +1, "Jacobian": +1}
CHANCE_ACCURACY = 0.15  # ten classes: below this clean accuracy a network classifies at chance level


def interval_cell(values: Sequence[float] | np.ndarray, digits: int = 1, scale: float = 100) -> str:
    """``scale`` times the values: 'mean' with one value, 'mean [low, high]' (95% t-interval over seeds) with more."""
    values = scale * np.asarray(values, dtype=float)
    if len(values) < 2:
        return f"{values.mean():.{digits}f}"
    mean, low, high = t_interval(values)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def accuracy_at(runs: Sequence[CachedResult], attack: str, k: int) -> np.ndarray:
    """Per-seed accuracy under ``attack`` at eps = k/255 (IndexError if k/255 is not on a run's grid)."""
    return np.array([r.arrays[f"acc_{attack}"][int(np.flatnonzero(np.rint(255 * r.arrays[f"eps_{attack}"]) == k)[0])]
                     for r in runs])


def clean_accuracies(results: Runs, key: str = "clean_accuracy") -> dict[str, np.ndarray]:
    """Per-seed clean accuracy of every network (``clean_accuracy_attacked``: on the attacked images only)."""
    return {name: np.array([r.meta[key] for r in runs]) for name, runs in results.items()}


def setting_values(profile: str, variants: Mapping[str, TrainConfig], evaluation: EvalConfig, audit: AuditConfig,
                   corruption: CifarCorruptionConfig, seeds: Sequence[int]) -> dict[str, object]:
    """The settings the chapter's text quotes, by glue key."""
    base, tracked = variants["Vanilla"], variants["SpecReg (all)"]
    return {
        "cifar-profile": profile,
        "cifar-source-short": "torchvision's original" if base.cifar_source == "torchvision" else
                              "the JPEG (quality 75) copy",
        "cifar-channels": "/".join(str(c) for c in base.channels),
        "cifar-widths": ", ".join(str(w) for w in base.widths),
        "cifar-train-images": base.train_subset or 50000, "cifar-epochs": base.epochs,
        "cifar-batch": base.batch_size, "cifar-lr": f"{base.lr:g}", "cifar-seeds": len(seeds),
        "cifar-attack-images": evaluation.test_subset or 10000, "cifar-pgd-steps": evaluation.pgd_steps,
        "cifar-track-every": tracked.track_every, "cifar-track-momentum": tracked.track_momentum,
        "cifar-audit-images": audit.n_images, "cifar-audit-eps": f"{255 * max(audit.eps):g}/255",
        "cifar-corr-images": corruption.test_subset or 10000,
        "cifar-corr-severities": ", ".join(str(s) for s in corruption.severities),
        "cifar-top-severity": corruption.severities[-1],
        "cifar-frontier-epochs": ", ".join(str(e) for e in profiles.cifar_settings(profile).frontier_epochs),
    }


def setting_words(profile: str, base: TrainConfig) -> dict[str, str]:
    """The chapter's sentences (Markdown) on where the images come from and what the profile's scale means."""
    source = ("The images here are **torchvision's original CIFAR-10**" if base.cifar_source == "torchvision" else
              "The images here are the **JPEG copy** of CIFAR-10, the offline fallback")
    scale = ("This is the **quick** profile: a network with an eighth of the authors' channels, trained for a few "
             "epochs on a subset, so that the chapter runs on a laptop CPU in minutes. Its numbers show that the "
             "pipeline works and how large its uncertainties are, not what the paper's network does; the paper "
             "profile trains the authors' network on all 50000 images (on a GPU)." if profile == "quick" else
             "This is the **paper** profile: the authors' network on all 50000 training images.")
    return {"cifar-source": source, "cifar-scale": scale}


def settings_table(base: TrainConfig, evaluation: EvalConfig, seeds: Sequence[int], profile: str) -> Table:
    """The profile's training and evaluation settings."""
    return Table(["setting", "value"],
                 [["training images", str(base.train_subset or 50000)], ["test images (clean accuracy)", "10000"],
                  ["test images (FGSM, PGD, noise)", str(evaluation.test_subset or 10000)],
                  ["channels per block", "/".join(str(c) for c in base.channels)],
                  ["block widths (flattened)", ", ".join(str(w) for w in base.widths)],
                  ["epochs, batch, learning rate", f"{base.epochs}, {base.batch_size}, {base.lr:g}"],
                  ["eigenbasis images", str(base.eigen_subset or base.train_subset or 50000)],
                  ["PGD steps", str(evaluation.pgd_steps)],
                  ["spectrum images (test)", str(evaluation.spectrum_subset or 10000)],
                  ["seeds", ", ".join(str(s) for s in seeds)],
                  ["Vanilla's frontier (epochs)",
                   ", ".join(str(e) for e in profiles.cifar_settings(profile).frontier_epochs)]],
                 caption=f"Settings of the {profile} profile (onen.analysis.profiles.cifar_settings)")


def examples_figure(examples: Split, corruption: CifarCorruptionConfig, n_classes: int = 4) -> Figure:
    """One image of each of the first ``n_classes`` classes, clean and under each corruption at the top severity."""
    picks = [int(np.flatnonzero(examples.labels.numpy() == c)[0]) for c in range(n_classes)]
    images = examples.images[picks]
    rows = [("clean", images)] + [(name, corrupt(images, name, severity=corruption.severities[-1],
                                                 seed=corruption.seed)) for name in corruption.corruptions]
    fig, axes = plt.subplots(len(picks), len(rows), figsize=(1.45 * len(rows), 1.55 * len(picks)))
    for j, (name, batch) in enumerate(rows):
        for i in range(len(picks)):
            axes[i, j].imshow(batch[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(name.replace("_", " "), fontsize=8)
            if j == 0:
                axes[i, j].set_ylabel(CLASSES[int(examples.labels[picks[i]])], fontsize=8)
    fig.tight_layout()
    return fig


def result_values(results: Runs) -> dict[str, str]:
    """Clean accuracy, PGD at 2/255 and 8/255 and FGSM at 2/255 of each network, by glue key."""
    clean = clean_accuracies(results)
    values = {}
    for name, key in KEYS.items():
        values[f"cifar-clean-{key}"] = interval_cell(clean[name])
        values[f"cifar-pgd2-{key}"] = interval_cell(accuracy_at(results[name], "pgd", 2))
        values[f"cifar-pgd8-{key}"] = interval_cell(accuracy_at(results[name], "pgd", 8))
        values[f"cifar-fgsm2-{key}"] = interval_cell(accuracy_at(results[name], "fgsm", 2))
    return values


def interval_words(results: Runs, n_attacked: int, n_seeds: int) -> str:
    """What the brackets of the tables mean; with one seed, the binomial test-image error at Vanilla's accuracy."""
    p_attacked = float(clean_accuracies(results, "clean_accuracy_attacked")["Vanilla"].mean())
    half_width = 100 * 1.96 * np.sqrt(p_attacked * (1 - p_attacked) / n_attacked)
    if n_seeds < 2:
        return ("With one seed there is **not enough seeds** for an interval over training runs: each number is one "
                f"network, and on {n_attacked} attacked images its test-image error alone is about "
                f"±{half_width:.0f} points (95%, binomial at {100 * p_attacked:.0f}% accuracy).")
    return f"Brackets give 95% Student-t intervals over the {n_seeds} seeds."


def accuracy_table(results: Runs, n_attacked: int, profile: str) -> Table:
    """Clean accuracy (all test images and the attacked ones), FGSM and PGD at each nonzero k/255, Gaussian noise."""
    clean, attacked = clean_accuracies(results), clean_accuracies(results, "clean_accuracy_attacked")
    eps_steps = np.rint(255 * results["Vanilla"][0].arrays["eps_pgd"]).astype(int)
    columns = [(a, k) for a in ("fgsm", "pgd") for k in eps_steps if k > 0]
    sigmas = results["Vanilla"][0].arrays["eps_noise"]
    rows = [[name, interval_cell(clean[name]), interval_cell(attacked[name]),
             *(interval_cell(accuracy_at(runs, a, k)) for a, k in columns),
             *(interval_cell([r.arrays["acc_noise"][j] for r in runs]) for j, s in enumerate(sigmas) if s > 0)]
            for name, runs in results.items()]
    return Table(["network", "clean (10000)", f"clean ({n_attacked})", *(f"{a.upper()} {k}/255" for a, k in columns),
                  *(f"noise σ={s:g}" for s in sigmas if s > 0)], rows,
                 caption=f"Accuracy (%) of the CIFAR-10 networks, {profile} profile: clean, under FGSM and PGD at "
                         f"eps = k/255, and under Gaussian noise of standard deviation σ (pixels in [0, 1])")


def robustness_figure(results: Runs) -> Figure:
    """Left: FGSM and PGD against the radius in grey levels; right: Gaussian noise. Mean over seeds, with a band of
    one standard deviation where there is more than one seed."""
    colour_of = colours(list(results))
    eps_steps = np.rint(255 * results["Vanilla"][0].arrays["eps_pgd"]).astype(int)
    sigmas = results["Vanilla"][0].arrays["eps_noise"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    for name, runs in results.items():
        for attack, style in (("fgsm", "--"), ("pgd", "-")):
            curves = np.stack([r.arrays[f"acc_{attack}"] for r in runs])
            mean, spread = np.mean(curves, axis=0), np.std(curves, axis=0)
            axes[0].plot(eps_steps, 100 * mean, style, marker="o", ms=3, color=colour_of[name],
                         label=f"{name} ({attack.upper()})")
            if len(runs) > 1:
                axes[0].fill_between(eps_steps, 100 * (mean - spread), 100 * (mean + spread),
                                     color=colour_of[name], alpha=0.15)
        noise = np.stack([r.arrays["acc_noise"] for r in runs])
        axes[1].plot(sigmas, 100 * noise.mean(0), "-", marker="o", ms=3, color=colour_of[name], label=name)
    axes[0].set_xscale("symlog", linthresh=1)
    axes[0].set_xticks(eps_steps, [str(k) for k in eps_steps])
    axes[0].set_xlabel(r"$\epsilon \times 255$ ($L_\infty$, grey levels)")
    axes[1].set_xlabel(r"Gaussian noise $\sigma$ (pixels in [0, 1])")
    for ax in axes:
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def frontier_runs(profile: str, evaluation: EvalConfig, seeds: Sequence[int], results_dir: str,
                  device: str) -> dict[str, list[CachedResult]]:
    """Vanilla stopped after each of the profile's frontier epochs (:func:`onen.analysis.profiles.frontier_variants`
    with "cifar"), by name, trained where the cache lacks them. Run before the full-length Vanilla is first trained,
    each resumes the checkpoint of the one before, and the full-length Vanilla that of the longest."""
    return {name: run_seeds(config, evaluation, seeds, results_dir, device, progress=False)
            for name, config in profiles.frontier_variants("cifar", profile).items()}


def frontier(early: Runs, vanilla: Sequence[CachedResult]) -> control.Frontier:
    """Vanilla's accuracy-robustness frontier: the runs of :func:`frontier_runs` and the full-length ``vanilla``, by
    training length."""
    points = {report.train_config(runs[0]).epochs: list(runs) for runs in early.values()}
    points[report.train_config(vanilla[0]).epochs] = list(vanilla)
    return control.Frontier(points)


@dataclass(frozen=True)
class Contrast:
    """A network's PGD eps50 minus Vanilla's, paired by seed: ``raw`` (:func:`onen.analysis.report.paired_effect`),
    ``above`` Vanilla's frontier (:func:`onen.analysis.control.above_frontier`; None where a run stores no per-image
    outcomes), the clean-accuracy difference (mean over the paired seeds) and both verdicts for the claimed
    ``sign``."""

    name: str
    sign: int
    raw: PairedContrast
    above: control.Effect | None
    clean_gap: float
    verdict: str
    verdict_above: str


def _untested(results: Runs, name: str) -> str | None:
    """Why ``name`` against Vanilla cannot be tested, or None: a network at chance level clean (its accuracy under
    attack is chance, not robustness), or a spectral penalty whose blocks did not reach 1/n (a claim about a 1/n code
    is not tested on blocks without one)."""
    clean = clean_accuracies(results)
    at_chance = [n for n in (name, "Vanilla") if clean[n].mean() < CHANCE_ACCURACY]
    if at_chance:
        return f"not tested: {' and '.join(at_chance)} at chance level clean"
    missed = [t for t in report.target_scores(results[name]) if not t.reached]
    if missed:
        return "not tested: spectrum not reached, α = " + " / ".join(f"{t.fitted_alpha:.2f}" for t in missed)
    return None


def contrasts(results: Runs, found: control.Frontier, n_boot: int = 400) -> list[Contrast]:
    """Each network of :data:`CLAIMED` against Vanilla in PGD eps50, raw and above Vanilla's frontier ``found``, each
    with its 95% interval over seeds (t) and the attacked test images (paired bootstrap, ``n_boot`` resamples) and
    its verdict by the book's rule (:func:`onen.analysis.stats.verdict_from_interval`), or why it is not tested."""
    out = []
    for name, sign in CLAIMED.items():
        raw = report.paired_effect(results, name, "Vanilla", "pgd", n_boot=n_boot)
        paired = report.common_seeds(results, [name, "Vanilla"])
        stores = all("correct_pgd" in r.arrays for runs in paired.values() for r in runs)
        above = (control.above_frontier([(+1.0, paired[name]), (-1.0, paired["Vanilla"])], found, n_boot=n_boot)
                 if stores else None)
        blocked = _untested(results, name)
        verdict = blocked or ("not tested: a curve never falls to half" if raw.n_seeds == 0 else raw.verdict(sign))
        verdict_above = blocked or ("not computed: no per-image outcomes" if above is None else above.verdict(sign))
        gap = float(np.mean([r.meta["clean_accuracy"] for r in paired[name]])
                    - np.mean([r.meta["clean_accuracy"] for r in paired["Vanilla"]]))
        out.append(Contrast(name, sign, raw, above, gap, verdict, verdict_above))
    return out


def grey_cells(mean: float, low: float, high: float) -> tuple[str, str]:
    """An eps50 effect in grey levels (times 255): the signed mean ("n/a" where undefined) and its interval ("—"
    where undefined)."""
    value = f"{255 * mean:+.2f}" if math.isfinite(mean) else "n/a"
    interval = f"[{255 * low:+.2f}, {255 * high:+.2f}]" if math.isfinite(low) and math.isfinite(high) else "—"
    return value, interval


def _effect_cells(c: Contrast) -> tuple[str, str, str, str]:
    """(raw effect, its interval, effect above the frontier, its interval) of ``c``, in grey levels."""
    above = c.above or control.Effect(np.array([]), math.nan, math.nan, math.nan)
    return (*grey_cells(c.raw.mean, c.raw.low, c.raw.high), *grey_cells(above.mean, above.low, above.high))


def contrast_table(found: Sequence[Contrast], profile: str) -> Table:
    """One row per contrast: seeds, claimed sign, raw effect on eps50 with its interval and verdict, and the same
    above Vanilla's frontier."""
    rows = []
    for c in found:
        raw, raw_interval, above, above_interval = _effect_cells(c)
        rows.append([f"{c.name} − Vanilla", "+" if c.sign > 0 else "−", str(c.raw.n_seeds), raw, raw_interval,
                     c.verdict, above, above_interval, c.verdict_above])
    header = ["contrast", "claimed sign", "seeds", "Δ ε50 (/255)", "95% interval", "verdict",
              "Δ above frontier (/255)", "95% interval", "verdict above frontier"]
    notes = ["Δ: the network's PGD ε50 minus Vanilla's, in grey levels (ε50 × 255), paired by seed; intervals over "
             "seeds (t) and the attacked test images (paired bootstrap); with one seed, over the images alone.",
             "above frontier: each network's ε50 minus that of Vanilla stopped early at the same clean accuracy on "
             "the attacked images; n/a and \"outside the frontier\" where its accuracy lies outside the frontier's "
             "range."]
    return Table(header, rows, caption=f"PGD ε50 of the CIFAR-10 networks against Vanilla, raw and above Vanilla's "
                                       f"frontier ({profile} profile)", notes=notes)


def _phrase(c: Contrast) -> str:
    """``c`` in words: the raw effect with its interval and verdict, then the same above the frontier ("n/a" where an
    effect is undefined)."""
    raw, raw_interval, above, above_interval = _effect_cells(c)

    def effect(value: str, interval: str) -> str:
        return "n/a" if value == "n/a" else f"{value}/255" + ("" if interval == "—" else f" {interval}")

    return (f"{effect(raw, raw_interval)} ({c.verdict}), and above Vanilla's frontier "
            f"{effect(above, above_interval)} ({c.verdict_above})")


def effect_words(results: Runs, found: Sequence[Contrast]) -> str:
    """SpecReg's and Jacobian's eps50 against Vanilla, raw and above the frontier, each beside its clean-accuracy
    difference (Markdown); a network at chance level clean is named as such."""
    parts = [f"{c.name} differs from Vanilla by {_phrase(c)}, at a clean-accuracy difference of "
             f"{100 * c.clean_gap:+.1f} points" for c in found]
    words = ("In ε50, the radius at which PGD leaves half of the clean accuracy (brackets: 95% intervals), "
             + "; ".join(parts) + ". A network that is less accurate clean also has less to lose, so only the effect "
             "above the frontier, against Vanilla at the same clean accuracy, is robustness that clean accuracy does "
             "not buy.")
    clean = clean_accuracies(results)
    for name in [n for n in CLAIMED if clean[n].mean() < CHANCE_ACCURACY]:
        words += (f" **{name}'s network is at chance level clean** (10 classes): its penalty grew during training "
                  "(training figure of the next section) and outweighed the cross-entropy, so the network gave up "
                  "classifying. Its accuracy under attack is then chance, not robustness, and it says nothing about "
                  "a 1/n code; at this scale its penalty with these settings does not train.")
    return words


def verdict_words(found: Sequence[Contrast]) -> str:
    """One sentence for the chapter's summary: each contrast's effect on eps50 and its verdict, raw and above
    Vanilla's frontier."""
    return "ε50 against Vanilla, raw and above its frontier (verdicts by the book's rule): " + "; ".join(
        f"{c.name} {_phrase(c)}" for c in found) + "."


def frontier_figure(results: Runs, found: control.Frontier) -> Figure:
    """:func:`onen.analysis.control.frontier_panel` in grey levels: PGD eps50 against clean accuracy, both on the
    attacked images as the frontier measures them (so that the full-length Vanilla is the frontier's last point)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    control.frontier_panel(ax, results, found, scale=255, colour_of=colours(list(results)))
    ax.set(title="CIFAR-10 CNN", ylabel=r"PGD $\epsilon_{50}$ (grey levels, $\times 255$)")
    fig.tight_layout()
    return fig


def training_figure(results: Runs) -> Figure:
    """Mean training cross-entropy and penalty per epoch, first seed."""
    colour_of = colours(list(results))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, runs in results.items():
        history = runs[0].meta["history"]
        epochs = np.arange(1, len(history["cross_entropy"]) + 1)
        axes[0].plot(epochs, history["cross_entropy"], marker="o", ms=3, color=colour_of[name], label=name)
        axes[1].plot(epochs, history["penalty"], marker="o", ms=3, color=colour_of[name], label=name)
    axes[0].set_ylabel("training cross-entropy")
    axes[1].set_ylabel("penalty (as weighted in the loss)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def audit_runs(variants: Mapping[str, TrainConfig], audit: AuditConfig, seeds: Sequence[int], results_dir: str,
               device: str) -> dict[str, list[CachedResult]]:
    """:func:`onen.robustness.audit.audit_run` of every network and seed (no transfer attack)."""
    return {name: [audit_run(dataclasses.replace(config, seed=seed), audit, results_dir, device, progress=False)
                   for seed in seeds] for name, config in variants.items()}


def one_radius_flags(audits: Runs) -> dict[str, list[str]]:
    """The masking checks of :data:`ONE_RADIUS_CHECKS` raised on each network in any seed, sorted."""
    return {name: sorted({f for r in runs for f, on in r.meta["flags"].items() if on and f in ONE_RADIUS_CHECKS})
            for name, runs in audits.items()}


def audit_values(audits: Runs, audit: AuditConfig) -> dict[str, str]:
    """Worst-case accuracy of Vanilla and SpecReg at the audit's largest radius, the binomial half-width (95%,
    points) at Vanilla's clean accuracy on the audited images, and a sentence (Markdown) on the masking flags, by
    glue key."""
    column, n_images = len(audit.eps) - 1, audit.n_images
    p_audit = float(np.mean([r.meta["clean_accuracy"] for r in audits["Vanilla"]]))
    flagged = one_radius_flags(audits)
    return {
        "cifar-audit-worst-vanilla": interval_cell([r.arrays["worst"][column] for r in audits["Vanilla"]]),
        "cifar-audit-worst-specreg": interval_cell([r.arrays["worst"][column] for r in audits["SpecReg (all)"]]),
        "cifar-audit-half-width": f"{100 * 1.96 * np.sqrt(p_audit * (1 - p_audit) / n_images):.0f}",
        "cifar-audit-flags": "Neither masking check (a black-box attack beating the white-box ones, restarts gaining "
                             "beyond noise) fires for any network." if not any(flagged.values()) else
                             "Masking checks fire for " + "; ".join(f"{n}: {', '.join(f)}" for n, f in flagged.items()
                                                                    if f) + "."}


def audit_table(audits: Runs, audit: AuditConfig) -> Table:
    """Clean accuracy and accuracy under each attack of the audit at its one nonzero radius, with the flags."""
    column = len(audit.eps) - 1
    attacks = [a for a in ("pgd", "pgd_restarts", "apgd_ce", "apgd_t", "square", "worst")
               if a in audits["Vanilla"][0].arrays]
    flagged = one_radius_flags(audits)
    rows = [[name, interval_cell([r.meta["clean_accuracy"] for r in runs]),
             *(interval_cell([r.arrays[a][column] for r in runs]) for a in attacks), ", ".join(flagged[name]) or "none"]
            for name, runs in audits.items()]
    return Table(["network", "clean", *(a.replace("_", " ") for a in attacks), "masking flags"], rows,
                 caption=f"Accuracy (%) on {audit.n_images} test images at eps = {255 * max(audit.eps):g}/255 under "
                         f"each attack of the audit; clean on the same images")


def corruption_runs(variants: Mapping[str, TrainConfig], corruption: CifarCorruptionConfig, seeds: Sequence[int],
                    results_dir: str, device: str) -> dict[str, list[CachedResult]]:
    """:func:`onen.robustness.cifar_c.corruption_run` of every network and seed."""
    return {name: [corruption_run(dataclasses.replace(config, seed=seed), corruption, results_dir, device,
                                  progress=False) for seed in seeds] for name, config in variants.items()}


def mean_corruption_accuracy(corrupted: Runs) -> dict[str, np.ndarray]:
    """Per seed, the accuracy averaged over every corruption and severity (mCA)."""
    return {name: np.array([r.arrays["accuracy"].mean() for r in runs]) for name, runs in corrupted.items()}


def corruption_table(corrupted: Runs, corruption: CifarCorruptionConfig) -> Table:
    """Clean accuracy, accuracy under each corruption (mean over severities) and the mCA of every network."""
    mca = mean_corruption_accuracy(corrupted)
    rows = [[name, interval_cell([r.meta["clean_accuracy"] for r in runs]),
             *(interval_cell([r.arrays["accuracy"][j].mean() for r in runs])
               for j in range(len(corruption.corruptions))),
             interval_cell(mca[name])] for name, runs in corrupted.items()]
    return Table(["network", "clean", *(c.replace("_", " ") for c in corruption.corruptions), "mean (mCA)"], rows,
                 caption=f"Accuracy (%) under each corruption, mean over severities "
                         f"{', '.join(map(str, corruption.severities))}, on {corruption.test_subset or 10000} test "
                         "images; clean on the same images")


def corruption_figure(corrupted: Runs, corruption: CifarCorruptionConfig) -> Figure:
    """Accuracy against severity for each corruption (severity 0: clean on the same images), mean over seeds."""
    colour_of = colours(list(corrupted))
    fig, axes = plt.subplots(1, len(corruption.corruptions), figsize=(2.5 * len(corruption.corruptions), 2.8),
                             sharey=True)
    for ax, (j, name) in zip(axes, enumerate(corruption.corruptions)):
        for network, runs in corrupted.items():
            curve = np.mean([np.concatenate([[r.meta["clean_accuracy"]], r.arrays["accuracy"][j]]) for r in runs],
                            axis=0)
            ax.plot([0, *corruption.severities], 100 * curve, marker="o", ms=3, color=colour_of[network],
                    label=network)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xlabel("severity")
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
