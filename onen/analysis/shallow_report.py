"""Section 4.1's chapter: the shallow network's settings, training curves, whitened layer, and the claims at the
paper's scale read from the committed networks (:func:`onen.runs.experiments.stored_seeds`).

``results`` and ``paper_results`` map a variant's display name to its cached runs, one per seed
(:data:`onen.analysis.report.Results`); the sentences are Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen.analysis import report
from onen.analysis.plotting import PALETTE, colours, plot_spectra
from onen.analysis.tables import Table
from onen.runs.config import EvalConfig
from onen.runs.training import TrainConfig
from onen.spectrum import fit_power_law, white_reference_alpha

NO_PAPER_NETWORK = "no paper-profile network computed yet"


def settings_table(base: TrainConfig, evaluation: EvalConfig, seeds: Sequence[int], profile: str) -> Table:
    """The shallow network's training and evaluation settings in this profile."""
    train_images = base.train_subset or 60000
    rows = [["profile, seeds", f"{profile}; {', '.join(str(s) for s in seeds)}"],
            ["network", f"784-{base.widths[0]}-10, {base.activation}"],
            ["optimiser", f"Adam (AMSGrad), learning rate {base.lr:g}, batch {base.batch_size}"],
            ["training", f"{base.epochs} epochs on {train_images} training images"],
            ["eigenbasis", f"from {base.eigen_subset or train_images} training images; τ = {base.tau}, "
                           f"α = {base.alpha:g}"],
            ["attacked test images", f"{evaluation.test_subset or 10000}"],
            ["PGD", f"{evaluation.pgd_steps} steps of max(0.01, 2.5 ε / steps), {evaluation.pgd_restarts} "
                    "restart(s)"],
            ["ε grid", ", ".join(f"{e:g}" for e in evaluation.eps_pgd)]]
    return Table(["setting", "value"], rows, caption=f"Settings of the {profile} profile's shallow networks")


def batchnorm_words(recalibrate: bool) -> str:
    """Whether BatchNorm's running statistics are recomputed after training in this profile."""
    if recalibrate:
        return ("BatchNorm's running statistics are recomputed in the same way in this profile, whose few hundred "
                "steps leave them averaging earlier weights.")
    return "BatchNorm keeps the running statistics it trained with, as in the paper."


def whitened_values(runs: Sequence, images: int, width: int) -> dict[str, float | int]:
    """The whitened layer's exponent over ranks 11-500 (mean over seeds), that of an exactly white layer of the same
    width measured on as many images, and that number of images, by glue key."""
    return {"shallow-white-alpha": float(np.mean([fit_power_law(r.arrays["spectrum_0"], (11, 500)) for r in runs])),
            "shallow-white-reference": white_reference_alpha(images, width, (11, 500)),
            "shallow-white-images": images}


def training_figure(results: report.Results) -> Figure:
    """Training cross-entropy, penalty and fitted exponent per epoch (first seed), the target 1 dashed."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for name, runs in results.items():
        history = runs[0].meta["history"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        axes[0].plot(epochs, history["cross_entropy"], label=name)
        axes[1].plot(epochs, history["penalty"], label=name)
        axes[2].plot(epochs, [a[0] for a in history["alphas"]], label=name)
    axes[0].set_ylabel("training cross-entropy (nats)")
    axes[1].set_ylabel("spectral penalty (with β)")
    axes[2].set_ylabel("fitted α (ranks 11-500)")
    axes[2].axhline(1.0, color="k", ls="--", lw=1)
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[0].legend()
    fig.tight_layout()
    return fig


def paper_figure(paper_results: report.Results) -> Figure:
    """Left: the hidden layer's spectrum of each computed variant (first seed); right: FGSM and PGD curves."""
    fig, (ax_spec, ax_rob) = plt.subplots(1, 2, figsize=(12, 4.2))
    if paper_results:
        colour_of = colours(list(paper_results))
        labels = {name: f"{name} (α={np.mean(report.layer_alphas(runs, 0)):.2f})"
                  for name, runs in paper_results.items()}
        plot_spectra(ax_spec, {labels[name]: runs[0].arrays["spectrum_0"] for name, runs in paper_results.items()},
                     colour_of={labels[name]: colour_of[name] for name in paper_results})
        ax_spec.legend(fontsize=6)
        report.robustness_figure(paper_results, attacks=("fgsm", "pgd"), ax=ax_rob)
    else:
        for ax in (ax_spec, ax_rob):
            ax.text(0.5, 0.5, NO_PAPER_NETWORK, ha="center", transform=ax.transAxes)
    ax_spec.set_title("hidden layer (2000 tanh units), test images")
    fig.tight_layout()
    return fig


def basis_words(basis: str, label: str, variants: Mapping[str, TrainConfig], paper_results: report.Results,
                claims: report.Claims) -> str:
    """What SpecReg with this eigenbasis, at the paper's learning rate and without BatchNorm, did to the hidden
    layer's exponent and to PGD's eps50 against Vanilla, over every beta computed and paired with Vanilla."""
    names = [name for name, config in variants.items() if config.regularizer == "spectral"
             and config.basis == basis and not config.batchnorm and config.lr == variants["Vanilla"].lr
             and name in claims.effects]
    if not names:
        return f"{label} at the paper's learning rate is not computed yet"
    scores = [report.target_scores(paper_results[name])[0] for name in names]
    alphas = [score.fitted_alpha for score in scores]
    vanilla = report.target_scores(paper_results["Vanilla"], [0])[0]
    gains = [claims.effects[name].mean for name in names]
    nearer = [abs(a - vanilla.target_alpha) < abs(vanilla.fitted_alpha - vanilla.target_alpha) for a in alphas]
    where = ("nearer the target than Vanilla's" if all(nearer) else
             "further from the target than Vanilla's" if not any(nearer) else
             "some nearer the target than Vanilla's, some further")
    return (f"with {label} at the paper's learning rate (β = {', '.join(f'{variants[n].beta:g}' for n in names)}) "
            f"the hidden layer's exponent over the penalized ranks is {min(alphas):.2f}-{max(alphas):.2f}, against "
            f"{vanilla.fitted_alpha:.2f} for Vanilla: {where}, and "
            + ("none" if not any(score.reached for score in scores) else "some")
            + f" reached it; their PGD ε50 is {min(gains):+.3f} to {max(gains):+.3f} above Vanilla's")


def near_score_words(runs: Sequence) -> str:
    """Whether the hidden layer of the network nearest 1/n reached its target, over its computed seeds."""
    if not runs:
        return "it is not computed yet"
    score = report.target_scores(runs)[0]
    return (f"over {len(runs)} seed{'s' if len(runs) > 1 else ''} its hidden layer fits α = "
            f"{score.fitted_alpha:.2f} over ranks {score.ranks[0]}-{score.ranks[1]}, median "
            f"|log λ/γ| = {score.median_abs_log_ratio:.2f}, so it "
            + ("reached" if score.reached else "did not reach") + " its target")


def near_attack_words(paper_results: report.Results, near: str, vanilla: str) -> str:
    """The robustness scores of the network nearest 1/n and of its Vanilla under FGSM and PGD, and whether the gap
    between the one-step and the 40-step attack points at gradient masking."""
    if not paper_results.get(near) or vanilla not in paper_results:
        return "Its attack curves are not computed yet"
    score = {(name, attack): float(np.mean([report.robustness_score(r, attack) for r in paper_results[name]]))
             for name in (near, vanilla) for attack in ("fgsm", "pgd")}
    gap = {name: score[name, "fgsm"] - score[name, "pgd"] for name in (near, vanilla)}
    masking = gap[near] > gap[vanilla] + 0.05
    return (f"Its robustness scores are {score[near, 'fgsm']:.3f} under FGSM and {score[near, 'pgd']:.3f} "
            f"under PGD, against {score[vanilla, 'fgsm']:.3f} and {score[vanilla, 'pgd']:.3f} for its Vanilla"
            + (": FGSM leaves it far more accuracy than PGD does, much more so than its Vanilla. A network that "
               "resists one gradient step but not forty has a loss surface that misleads a single step, the mark "
               "of gradient masking rather than of robustness (the attack audit chapter tests for it)" if masking else
               ": the gap between the one-step and the 40-step attack is about the same as for Vanilla"))


def distances(paper_results: report.Results) -> tuple[dict[str, report.LayerTarget], dict[str, np.ndarray]]:
    """Per variant, the hidden layer's score against the 1/n target (:func:`onen.analysis.report.target_scores`) and
    PGD's eps50 of each seed."""
    scores = {name: report.target_scores(runs, [0])[0] for name, runs in paper_results.items()}
    eps50s = {name: np.array([report.eps50(r) for r in runs]) for name, runs in paper_results.items()}
    return scores, eps50s


def distance_figure(paper_results: report.Results, variants: Mapping[str, TrainConfig]) -> Figure:
    """Distance of each seed's hidden layer from the 1/n target against its PGD eps50; hollow markers for networks
    trained at another learning rate than Vanilla's."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    if paper_results:
        markers = "os^Dv<>p"
        scores, eps50s = distances(paper_results)
        for i, name in enumerate(paper_results):
            hollow = variants[name].lr != variants["Vanilla"].lr
            colour = PALETTE[i % len(PALETTE)]
            ax.scatter([score.median_abs_log_ratio for score in scores[name].per_seed], eps50s[name],
                       marker=markers[i // len(PALETTE) % len(markers)], s=42,
                       facecolors="none" if hollow else colour, edgecolors=colour, label=name)
        ax.axvline(np.log(2), color="grey", ls="--", lw=1)
        ax.text(np.log(2), 1.0, " reached ←", transform=ax.get_xaxis_transform(), va="top", ha="right", fontsize=8)
        ax.legend(fontsize=7, ncol=2, loc="best")
    else:
        ax.text(0.5, 0.5, NO_PAPER_NETWORK, ha="center", transform=ax.transAxes)
    ax.set_xlabel("median |log(λ_k / γ_k)| over ranks 12-2000 (0: exactly on the 1/n target)")
    ax.set_ylabel("PGD ε50 (pixel units)")
    fig.tight_layout()
    return fig


def distance_words(paper_results: report.Results) -> str:
    """Whether the network closest to the 1/n target is also the most robust."""
    if not paper_results:
        return "No paper-profile network is computed yet."
    scores, eps50s = distances(paper_results)
    closeness = {name: score.median_abs_log_ratio for name, score in scores.items()}
    robust = {name: float(np.nanmean(values)) for name, values in eps50s.items()}
    closest = min(closeness, key=closeness.get)
    above = sum(robust[name] > robust[closest] for name in robust)
    n_seeds = len(paper_results[closest])
    return (f"The network closest to the target is {closest} (median |log λ/γ| {closeness[closest]:.2f}); its PGD "
            f"ε50, {robust[closest]:.3f}, is below that of {above} of the other {len(robust) - 1} variants, over "
            f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
            + (" (not enough seeds for a verdict)." if n_seeds < 2 else "."))
