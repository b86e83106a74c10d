"""Tables and figures of the chapters on the regularizer and its eigenbasis, read from the results of
:mod:`onen.runs.regularizer_runs` (and of :mod:`onen.runs.search` for the search's figure).

Every function takes the results and the names it reads as arguments; the chapters glue the numbers they quote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from onen.analysis.plotting import PALETTE, colours
from onen.analysis.settings import RegularizerSettings
from onen.analysis.tables import Table
from onen.cache import CachedResult
from onen.regularizers import spectral_penalty
from onen.runs.regularizer_runs import EPS, FIT_RANKS, fitted_alpha, mean_over_seeds
from onen.runs.search import Point
from onen.runs.training import TrainConfig
from onen.spectrum import TargetScore, target_score

Results = Mapping[str, Sequence[CachedResult]]
DRIFT_QUANTITIES = ("drift_angle_top10", "drift_angle_top50", "drift_median_rel_error", "drift_tail_mass_ratio",
                    "drift_penalty_rel_error")


def tag(lr_name: str) -> str:
    """A learning-rate label as it appears in glue keys: "lr=1e-03" -> "lr1em03"."""
    return lr_name.replace("=", "").replace("-", "m")


def variants_table(variants: Mapping[str, TrainConfig], caption: str) -> Table:
    """One row per network: its penalty, weight, exponent, learning rate and eigenbasis schedule."""
    rows = []
    for name, config in variants.items():
        spectral = config.regularizer == "spectral"
        basis = f"every {config.refresh_every} steps" if config.refresh_every else "per epoch"
        rows.append([name, config.regularizer, f"{config.beta:g}", f"{config.alpha:g}" if spectral else "-",
                     f"{config.lr:.0e}", basis if spectral else "-"])
    return Table(["network", "penalty", "β", "α", "learning rate", "eigenbasis"], rows, caption=caption)


def readout_table(variants: Mapping[str, TrainConfig], results: Results, caption: str) -> Table:
    """Per network, means over seeds: target and fitted exponent, the last epoch's penalty R / beta, clean accuracy,
    and FGSM and PGD accuracy at each radius of :data:`onen.runs.regularizer_runs.EPS`."""
    rows = []
    for name, config in variants.items():
        runs, spectral = results[name], config.regularizer == "spectral"
        penalty = np.mean([r.meta["history"]["penalty"][-1] for r in runs]) / config.beta if spectral else None
        rows.append([name, f"{config.alpha:.1f}" if spectral else "-", f"{fitted_alpha(runs):.3f}",
                     "-" if penalty is None else f"{penalty:.3f}", f"{mean_over_seeds(runs, 'clean_accuracy'):.3f}"]
                    + [f"{v:.3f}" for attack in ("fgsm", "pgd") for v in mean_over_seeds(runs, f"acc_{attack}")])
    header = ["network", "target α", "fitted α", "penalty R/β", "clean acc."]
    header += [f"{attack} ε={e:g}" for attack in ("FGSM", "PGD") for e in EPS]
    return Table(header, rows, caption=caption)


def drift_at(arrays: Mapping[str, np.ndarray], key: str, position: int) -> float:
    """Median over epochs of a drift quantity at the first (``position`` 0) or last (-1) measurement of each
    epoch."""
    epochs = arrays["drift_epoch"]
    picked = [np.flatnonzero(epochs == e)[position] for e in np.unique(epochs)]
    return float(np.median(arrays[key][picked]))


def drift_summary(results: Results, drift_runs: Mapping[str, str]) -> dict[str, dict[str, tuple[float, float]]]:
    """Learning rate -> drift quantity -> (first, last) measurement of an epoch, medians over epochs, first seed."""
    return {lr_name: {key: (drift_at(results[name][0].arrays, key, 0), drift_at(results[name][0].arrays, key, -1))
                      for key in DRIFT_QUANTITIES} for lr_name, name in drift_runs.items()}


def drift_table(summary: Mapping[str, Mapping[str, tuple[float, float]]]) -> Table:
    """:func:`drift_summary` as a table: one row per learning rate, "first → last" per quantity."""
    names = {"drift_angle_top10": "angle top 10 (°)", "drift_angle_top50": "angle top 50 (°)",
             "drift_median_rel_error": "median |ê/e − 1|", "drift_tail_mass_ratio": "tail mass ratio",
             "drift_penalty_rel_error": "penalty error"}
    rows = [[lr_name, *[f"{first:.3g} → {last:.3g}" for first, last in row.values()]]
            for lr_name, row in summary.items()]
    return Table(["learning rate", *[names[key] for key in DRIFT_QUANTITIES]], rows,
                 caption="Staleness of the once-per-epoch basis: the first → the last measurement of an epoch, "
                         "medians over epochs (first seed)")


def _epoch_boundaries(ax: Axes, epochs: int, steps_per_epoch: int) -> None:
    for boundary in range(1, epochs):
        ax.axvline(boundary * steps_per_epoch + 0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("optimiser step")


def drift_figure(results: Results, drift_runs: Mapping[str, str], epochs: int) -> Figure:
    """Five drift quantities and the penalty (stale basis against true eigenvalues) after every measured step, one
    line per learning rate, first seed; dotted lines at epoch boundaries."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    lr_colours = colours(list(drift_runs))
    labels = {"drift_angle_top10": "largest angle, top 10 (degrees)",
              "drift_angle_top50": "largest angle, top 50 (degrees)",
              "drift_median_rel_error": r"median $|\hat e_k / e_k - 1|$, $k > \tau$",
              "drift_tail_mass_ratio": r"tail mass ratio $\sum \hat e_k / \sum e_k$",
              "drift_penalty_rel_error": "relative error of the penalty"}
    for ax, key in zip(axes.flat, DRIFT_QUANTITIES):
        for lr_name, name in drift_runs.items():
            arrays = results[name][0].arrays
            ax.plot(arrays["drift_step"], arrays[key], marker="o", ms=2.5, color=lr_colours[lr_name], label=lr_name)
        ax.set_ylabel(labels[key])
        if key.startswith("drift_angle"):
            ax.set_ylim(-3, 93)
        else:
            ax.set_yscale("log")
    ax_penalty = axes.flat[5]
    for lr_name, name in drift_runs.items():
        arrays = results[name][0].arrays
        ax_penalty.plot(arrays["drift_step"], arrays["drift_penalty_stale"], marker="o", ms=2.5,
                        color=lr_colours[lr_name], label=f"{lr_name}, stale basis")
        ax_penalty.plot(arrays["drift_step"], arrays["drift_penalty_true"], ls="--", color=lr_colours[lr_name],
                        label=f"{lr_name}, true eigenvalues")
    ax_penalty.set_ylabel(r"penalty $R / \beta$")
    ax_penalty.set_yscale("log")
    ax_penalty.legend(fontsize=6)
    steps_per_epoch = int(results[next(iter(drift_runs.values()))][0].meta["steps_per_epoch"])
    for ax in axes.flat:
        _epoch_boundaries(ax, epochs, steps_per_epoch)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.legend(*axes[0, 0].get_legend_handles_labels(), title="learning rate", loc="upper center", ncol=3)
    return fig


def late_penalty_ratio(arrays: Mapping[str, np.ndarray]) -> float:
    """Median over epochs of the stale-basis penalty over the true one at the last measurement of each epoch."""
    epochs = arrays["drift_epoch"]
    late = [np.flatnonzero(epochs == e)[-1] for e in np.unique(epochs)]
    return float(np.median(arrays["drift_penalty_stale"][late] / arrays["drift_penalty_true"][late]))


def refresh_summary(results: Results, pairs: Mapping[str, tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Per run of ``pairs`` (learning rate -> (basis per epoch, refreshed)): fitted exponent, clean accuracy and PGD
    accuracy at the largest radius, means over seeds."""
    return {name: {"alpha": fitted_alpha(results[name]),
                   "clean": float(mean_over_seeds(results[name], "clean_accuracy")),
                   "pgd": float(mean_over_seeds(results[name], "acc_pgd")[-1])}
            for pair in pairs.values() for name in pair}


def refresh_table(summary: Mapping[str, Mapping[str, float]]) -> Table:
    """:func:`refresh_summary` as a table."""
    rows = [[name, f"{row['alpha']:.3f}", f"{100 * row['clean']:.1f}", f"{100 * row['pgd']:.1f}"]
            for name, row in summary.items()]
    return Table(["network", "fitted α", "clean acc. (%)", f"PGD ε={EPS[-1]:g} (%)"], rows,
                 caption="Basis once per epoch against a refresh every few steps (means over seeds)")


def refresh_figure(results: Results, pairs: Mapping[str, tuple[str, str]], refresh_every: int,
                   vanilla_alpha: float) -> Figure:
    """Left: the exponent of the training spectrum after each epoch, per run of ``pairs`` (means over seeds); right:
    clean and PGD accuracy at the largest radius."""
    summary = refresh_summary(results, pairs)
    fig, (ax_alpha, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    for index, (lr_name, (per_epoch, refreshed)) in enumerate(pairs.items()):
        for name, style, label in ((per_epoch, "--", "basis per epoch"),
                                   (refreshed, "-", f"basis every {refresh_every} steps")):
            alphas = np.mean([[a[0] for a in r.meta["history"]["alphas"]] for r in results[name]], axis=0)
            ax_alpha.plot(np.arange(1, alphas.size + 1), alphas, ls=style, marker="o", color=PALETTE[index],
                          label=f"{lr_name}, {label}")
    ax_alpha.axhline(1.0, color="k", lw=0.8, ls=":")
    ax_alpha.axhline(vanilla_alpha, color="0.5", lw=0.8, ls="-.", label=f"Vanilla on test images ({vanilla_alpha:.2f})")
    ax_alpha.set_xlabel("epoch")
    ax_alpha.set_ylabel(f"exponent α of the training spectrum (ranks {FIT_RANKS[0]}-{FIT_RANKS[1]})")
    ax_alpha.legend(fontsize=7)
    names = list(summary)
    x = np.arange(len(names))
    ax_acc.bar(x - 0.2, [100 * summary[n]["clean"] for n in names], 0.4, color=PALETTE[0], label="clean")
    ax_acc.bar(x + 0.2, [100 * summary[n]["pgd"] for n in names], 0.4, color=PALETTE[3], label=f"PGD ε={EPS[-1]:g}")
    ax_acc.set_xticks(x, [n.replace(", basis", ",\nbasis") for n in names], fontsize=7)
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend()
    fig.tight_layout()
    return fig


def median_rel_error(estimate: np.ndarray, truth: np.ndarray, tau: int) -> float:
    """Median over the penalized ranks k > tau (0-based) of |estimate_k / truth_k - 1|."""
    return float(np.median(np.abs(estimate[tau + 1:] / truth[tau + 1:] - 1)))


def penalty_of(values: np.ndarray, tau: int, alpha: float) -> float:
    """Eq. 2 without beta of one set of eigenvalue estimates (sorted by the penalty itself)."""
    return float(spectral_penalty(torch.from_numpy(np.ascontiguousarray(values)), tau, alpha))


def mean_penalty(draws: np.ndarray, tau: int, alpha: float) -> float:
    """:func:`penalty_of` of each batch [draws, N], averaged over batches."""
    return float(np.mean([penalty_of(values, tau, alpha) for values in draws]))


def batch_table(study: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> Table:
    """Per batch size of the batch-size study (``settings``: its :func:`~onen.runs.regularizer_runs.
    batch_study_settings`): rank of one batch covariance, bias and one-batch error of its eigenvalues and of the
    fixed-basis estimates over the penalized ranks, and the mean penalty of one batch of each."""
    truth, tau, alpha = study["spectrum"], settings["tau"], settings["alpha"]
    rows = []
    for batch in settings["batch_sizes"]:
        eig, fixed = study[f"batch_eig_{batch}"], study[f"fixed_basis_{batch}"]
        rank = int((eig[0] > eig[0, 0] * 1e-10).sum())
        errors = [eig.mean(0), fixed.mean(0), eig[0], np.sort(fixed[0])[::-1]]
        rows.append([str(batch), str(rank), *[f"{median_rel_error(e, truth, tau):.3f}" for e in errors],
                     f"{mean_penalty(eig, tau, alpha):.3f}", f"{mean_penalty(fixed, tau, alpha):.3f}"])
    return Table(["B", "rank of C_B", "bias: eig(C_B)", "bias: fixed basis", "one batch: eig(C_B)",
                  "one batch: fixed basis", "penalty: eig(C_B)", "penalty: fixed basis"], rows,
                 caption=f"N = {settings['width']}, population spectrum 1/n, {settings['draws']} batches per size; "
                         f"the population spectrum's own penalty is {penalty_of(truth, tau, alpha):.3f}")


def batch_figure(study: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> Figure:
    """Per batch size: the population spectrum, one batch's eigenvalues, one batch's fixed-basis estimates sorted,
    and their mean over batches rank by rank."""
    width, sizes = settings["width"], settings["batch_sizes"]
    fig, axes = plt.subplots(1, len(sizes), figsize=(13, 3.8), sharey=True)
    ranks = np.arange(1, width + 1)
    for ax, batch in zip(axes, sizes):
        eig, fixed = study[f"batch_eig_{batch}"], study[f"fixed_basis_{batch}"]
        ax.loglog(ranks, study["spectrum"], "k--", lw=1, label="population $1/n$")
        positive = eig[0] > 1e-12
        ax.loglog(ranks[positive], eig[0][positive], color=PALETTE[5], label="eigenvalues of $C_B$ (one batch)")
        ax.loglog(ranks, np.sort(fixed[0])[::-1], color=PALETTE[0], label=r"$q_n^\top C_B q_n$ sorted (one batch)")
        ax.loglog(ranks, fixed.mean(0), ".", ms=2, color=PALETTE[2],
                  label=rf"$q_n^\top C_B q_n$, mean of {settings['draws']} batches")
        if batch < width:
            ax.axvline(batch - 1, color=PALETTE[5], lw=0.8, ls=":")
        ax.set_title(f"B = {batch}, N = {width}")
        ax.set_xlabel("rank $n$")
    axes[0].set_ylabel("eigenvalue (population units)")
    axes[0].set_ylim(1e-5, 2)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def basis_summary(runs: Mapping[tuple[str, str], tuple[TrainConfig, CachedResult]]) -> dict[tuple[str, str], dict]:
    """Per (strategy, learning rate) of :func:`onen.runs.regularizer_runs.basis_error_runs`: median, maximum and
    floor over steps of the median eigenvalue error on held-out images, the median penalty error, the target score
    of the final spectrum (``alpha``, ``log_ratio``, ``reached``), clean accuracy and the first and last epoch's
    penalty."""
    summary = {}
    for key, (config, result) in runs.items():
        arrays, meta = result.arrays, result.meta
        score: TargetScore = target_score(arrays["spectrum"], config.tau, config.alpha)
        summary[key] = {"median": float(np.median(arrays["error_median_rel_error"])),
                        "max": float(np.max(arrays["error_median_rel_error"])),
                        "floor": float(np.median(arrays["error_floor_median_rel_error"])),
                        "penalty": float(np.median(arrays["error_penalty_rel_error"])),
                        "alpha": score.fitted_alpha, "log_ratio": score.median_abs_log_ratio,
                        "reached": score.reached, "clean": meta["clean_accuracy"],
                        "penalty_first": meta["history"]["penalty"][0],
                        "penalty_last": meta["history"]["penalty"][-1]}
    return summary


def basis_table(summary: Mapping[tuple[str, str], Mapping[str, Any]], caption: str) -> Table:
    """:func:`basis_summary` as a table, one row per (learning rate, strategy)."""
    rows = [[lr_name, strategy, f"{s['median']:.3f}", f"{s['max']:.3f}", f"{s['floor']:.3f}", f"{s['penalty']:.3f}",
             f"{s['penalty_first']:.2f} → {s['penalty_last']:.2f}", f"{s['alpha']:.2f}", f"{s['log_ratio']:.2f}",
             "yes" if s["reached"] else "no", f"{100 * s['clean']:.1f}"]
            for (strategy, lr_name), s in summary.items()]
    return Table(["learning rate", "basis", "median error", "max error", "floor", "penalty error",
                  "penalty (per epoch)", "α fitted", "median |log λ/γ|", "reached", "clean acc. (%)"], rows,
                 caption=caption)


def basis_error_figure(runs: Mapping[tuple[str, str], tuple[TrainConfig, CachedResult]],
                       strategies: Sequence[str], lrs: Sequence[str], floor_of: str) -> Figure:
    """Per learning rate (columns): the median eigenvalue error (top) and the penalty error (bottom) of each
    strategy after every step, with the floor of the run ``floor_of`` (dotted) and 5% (dashed)."""
    strategy_colours = colours(list(strategies))
    fig, axes = plt.subplots(2, 2, figsize=(12, 6.5), sharex="col")
    quantities = (("median_rel_error", r"median $|\hat e_k / e_k - 1|$, $k > \tau$"),
                  ("penalty_rel_error", "relative error of the penalty"))
    for column, lr_name in enumerate(lrs):
        for row, (key, label) in enumerate(quantities):
            ax = axes[row, column]
            for strategy in strategies:
                arrays = runs[(strategy, lr_name)][1].arrays
                ax.plot(arrays["error_step"], arrays[f"error_{key}"], color=strategy_colours[strategy], lw=1.2,
                        label=strategy)
            floor = runs[(floor_of, lr_name)][1].arrays
            ax.plot(floor["error_step"], floor[f"error_floor_{key}"], color="0.4", ls=":", lw=1.2,
                    label="floor: exact training basis")
            ax.axhline(0.05, color="k", lw=0.8, ls="--")
            ax.set_yscale("log")
            ax.set_ylabel(label)
            ax.set_title(lr_name if row == 0 else "")
        axes[1, column].set_xlabel("optimiser step")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def load_bench(path: Path) -> dict[str, Any] | None:
    """The record of ``benchmarks/bench_spectral.py`` at ``path``, or None where it is absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def tracked_ks(bench: Mapping[str, Any]) -> list[int]:
    """The schedules k (an eigendecomposition every k steps) the benchmark timed the tracked basis at."""
    return sorted(int(name.split("=")[1]) for name in bench["summary_seconds"] if name.startswith("tracked step k="))


def cost_table(bench: Mapping[str, Any] | None) -> Table:
    """Milliseconds per training step of the benchmark's network and their ratios to the paper's step and to the
    Vanilla step (no rows where ``bench`` is None)."""
    rows = []
    if bench is not None:
        sec, ratio = bench["summary_seconds"], bench["ratios"]
        rows = [["Vanilla step", f"{1e3 * sec['vanilla step']:.0f}",
                 f"{sec['vanilla step'] / sec['paper step']:.2f}", "1.00"],
                ["paper's step: penalty + refresh once per epoch", f"{1e3 * sec['paper step']:.0f}", "1.00",
                 f"{sec['paper step'] / sec['vanilla step']:.2f}"]]
        rows += [[f"tracked basis, eigendecomposition every {k} step(s)", f"{1e3 * sec[f'tracked step k={k}']:.0f}",
                  f"{ratio[f'tracked k={k} / paper']:.2f}", f"{ratio[f'tracked k={k} / vanilla']:.2f}"]
                 for k in tracked_ks(bench)]
    return Table(["step", "ms per step", "× paper's step", "× Vanilla step"], rows,
                 caption="Cost of one training step of 784-2000-10 at batch 3500, median over repeats "
                         "(benchmarks/bench_spectral.py)")


def search_rows(scores: Mapping[tuple[float, float], Point]) -> list[list[str]]:
    """One table row per point of the search, by learning rate then beta (Vanilla first)."""
    return [[f"{lr:.0e}", "Vanilla" if p.beta == 0 else f"{p.beta:g}", f"{p.score.fitted_alpha:.2f}",
             f"{p.score.median_abs_log_ratio:.2f}", "yes" if p.score.reached else "no",
             f"{100 * p.clean_accuracy:.1f}"] for (lr, _), p in sorted(scores.items())]


def search_figure(scores: Mapping[tuple[float, float], Point]) -> Figure:
    """Left: fitted exponent against clean accuracy, one line per learning rate, one point per beta (open squares:
    Vanilla); right: the median log-ratio to the target against beta."""
    fig, (ax_front, ax_log) = plt.subplots(1, 2, figsize=(11, 4))
    for index, lr in enumerate(sorted({lr for lr, _ in scores})):
        points = [p for (at, _), p in sorted(scores.items()) if at == lr]
        vanilla, regularized = points[0], points[1:]
        ax_front.plot([p.score.fitted_alpha for p in regularized], [100 * p.clean_accuracy for p in regularized],
                      "-o", color=PALETTE[index], label=f"tracked basis, lr={lr:.0e}")
        ax_front.plot([vanilla.score.fitted_alpha], [100 * vanilla.clean_accuracy], "s", color=PALETTE[index],
                      mfc="none", ms=9, label=f"Vanilla, lr={lr:.0e}")
        for p in regularized:
            ax_front.annotate(f"β={p.beta:g}", (p.score.fitted_alpha, 100 * p.clean_accuracy), fontsize=7,
                              xytext=(3, 3), textcoords="offset points")
        ax_log.plot([p.beta for p in regularized], [p.score.median_abs_log_ratio for p in regularized], "-o",
                    color=PALETTE[index], label=f"lr={lr:.0e}")
    ax_front.axvspan(0.9, 1.1, color="0.9", label="|α - 1| ≤ 0.1")
    ax_front.set_xlabel("fitted α over the penalized ranks (test images)")
    ax_front.set_ylabel("clean test accuracy (%)")
    ax_front.legend(fontsize=7)
    ax_log.axhline(np.log(2), color="k", ls="--", lw=0.8, label="log 2")
    ax_log.set_xscale("log")
    ax_log.set_xlabel("β")
    ax_log.set_ylabel(r"median $|\log(\lambda_k / \gamma_k)|$")
    ax_log.legend(fontsize=7)
    fig.tight_layout()
    return fig


def settings_table(base: TrainConfig, settings: RegularizerSettings, seeds: Sequence[int],
                   extra: Sequence[tuple[str, str]] = ()) -> Table:
    """The settings every network of a regularizer chapter shares (``base``: :func:`~onen.runs.regularizer_runs.
    base_config`, ``settings``: the profile's regularizer settings), then the rows of ``extra``."""
    images = base.train_subset or 60000
    rows = [("network", f"784-{base.widths[0]}-10, {base.activation} units, MNIST"),
            ("training", f"Adam (AMSGrad), learning rate {base.lr:.0e} unless stated, batch {base.batch_size}, "
                         f"{base.epochs} epochs on {images} training images"),
            ("penalty", f"Eq. 2 with τ = {base.tau}; eigenbasis from {base.eigen_subset or images} training images, "
                        "once per epoch unless stated"),
            ("attacks", f"FGSM and PGD ({settings.pgd_steps} steps of max(0.01, 2.5 ε / steps), one random "
                        f"start) at ε = {', '.join(f'{e:g}' for e in EPS)} on "
                        f"{settings.attack_images or 10000} test images"),
            ("spectra", f"hidden layer over {settings.spectrum_images or 10000} test images; exponent fitted "
                        f"over ranks {FIT_RANKS[0]}-{FIT_RANKS[1]} (1/n-weighted)"),
            ("seeds", ", ".join(str(s) for s in seeds)), *extra]
    return Table(["setting", "value"], [list(row) for row in rows])


def basis_findings(summary: Mapping[tuple[str, str], Mapping[str, Any]], tracked: str, sparse: str,
                   paper: str) -> dict[str, Any]:
    """What the basis-error comparison finds, from :func:`basis_summary` and the names of the tracked strategy, its
    sparser schedule and the paper's basis: ``meets_aim`` (the tracked basis's error under 5% at every step, every
    rate), ``floor_above_aim`` (every floor at 5% or more), ``floor_gap`` (the smallest ratio of the tracked basis's
    median error to its floor), ``sparse_worse`` (per rate: the sparser schedule ends further from alpha = 1),
    ``best`` (the tracked basis has the smallest median error of every strategy that is not tracked, at every rate)
    and ``closer`` (it ends closer to alpha = 1 than the paper's basis at every rate)."""
    lrs = list(dict.fromkeys(lr for _, lr in summary))
    track = {lr: summary[(tracked, lr)] for lr in lrs}
    untracked = [strategy for strategy, _ in summary if strategy not in (tracked, sparse)]
    return {"meets_aim": all(row["max"] < 0.05 for row in track.values()),
            "floor_above_aim": all(row["floor"] >= 0.05 for row in summary.values()),
            "floor_gap": min(row["median"] / row["floor"] for row in track.values()),
            "sparse_worse": [abs(summary[(sparse, lr)]["alpha"] - 1) > abs(track[lr]["alpha"] - 1) for lr in lrs],
            "best": all(track[lr]["median"] < min(summary[(s, lr)]["median"] for s in untracked) for lr in lrs),
            "closer": all(abs(track[lr]["alpha"] - 1) < abs(summary[(paper, lr)]["alpha"] - 1) for lr in lrs)}
