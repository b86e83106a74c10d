"""The attack audit's figures: accuracy under the worst case against PGD-1, each attack separately, the masking
checks and the regularizers' eps50 advantage (:mod:`onen.analysis.audit_report`, :mod:`onen.analysis.audit_effects`).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from onen.analysis.audit_effects import Effect
from onen.analysis.audit_report import CHECKS, FAMILIES, Audits, accuracy, attack_names, by_family, check_values
from onen.analysis.names import variant_of
from onen.analysis.plotting import PALETTE

ATTACK_COLOURS = {"pgd": PALETTE[0], "pgd_restarts": PALETTE[4], "apgd_ce": PALETTE[2], "apgd_t": PALETTE[3],
                  "square": PALETTE[1], "transfer": PALETTE[5], "worst": "k"}
EPS_LABEL = r"$\epsilon$ ($L_\infty$, pixel units, pixels in [0, 1])"


def style_of(names: list[str]) -> dict[str, tuple[str, str]]:
    """A colour per network (the book's palette) and, beyond its eight colours, a marker to tell repeats apart."""
    return {n: (PALETTE[i % len(PALETTE)], "o" if i < len(PALETTE) else "s") for i, n in enumerate(names)}


def curves_figure(audits: Audits, eps: np.ndarray) -> Figure:
    """One panel per architecture: each network's worst-case curve (solid) and PGD-1 curve (dashed)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), sharey=True)
    members = by_family(list(audits))
    for ax, (family, title) in zip(axes, FAMILIES.items()):
        styles = style_of(members[family])
        for name in members[family]:
            colour, marker = styles[name]
            ax.plot(eps, 100 * accuracy(audits[name], "worst"), "-", marker=marker, ms=3.5, color=colour,
                    label=variant_of(name))
            ax.plot(eps, 100 * accuracy(audits[name], "pgd"), "--", marker=marker, ms=2.5, color=colour, alpha=0.6,
                    lw=1.1)
        ax.plot([], [], "-", color="#999999", label="worst case (solid)")
        ax.plot([], [], "--", color="#999999", lw=1.1, label="PGD-1 (dashed)")
        ax.set_title(title)
        ax.set_xlabel(EPS_LABEL)
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("accuracy (%)")
    fig.tight_layout()
    return fig


def attacks_figure(audits: Audits, eps: np.ndarray, pairs: Mapping[str, tuple[str, str]], restarts: int) -> Figure:
    """Each attack's curve for the Vanilla (top) and the regularized (bottom) network of each architecture."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True, sharey=True)
    for col, (family, shown) in enumerate(pairs.items()):
        for row, name in enumerate(shown):
            ax = axes[row, col]
            for attack, label in attack_names(restarts).items():
                acc = accuracy(audits[name], attack)
                if acc is None:
                    continue
                ax.plot(eps, 100 * acc, "-", marker="o", ms=3, lw=1.3 if attack != "worst" else 2.4,
                        alpha=0.85 if attack != "worst" else 0.5, color=ATTACK_COLOURS[attack], label=label)
            ax.set_title(f"{FAMILIES[family]}: {variant_of(name)}")
            ax.set_ylim(-2, 102)
            if col == 0:
                ax.set_ylabel("accuracy (%)")
            if row == 1:
                ax.set_xlabel(r"$\epsilon$ ($L_\infty$, pixel units)")
    axes[1, 0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def flags_figure(audits: Audits) -> Figure:
    """The three checks for every network: shaded by the share of seeds flagged, annotated with what each check
    measures (:func:`onen.analysis.audit_report.check_values`, mean over seeds)."""
    names = list(audits)
    share = np.array([[np.mean([r.meta["flags"][c] for r in audits[n]]) for c in CHECKS] for n in names])
    values = np.array([np.mean([check_values(r) for r in audits[n]], axis=0) for n in names])
    fig, ax = plt.subplots(figsize=(7.5, 0.3 * len(names) + 1.4))
    ax.imshow(share, cmap=ListedColormap(["#F2F2F2", "#F5C6A5", PALETTE[5]]), vmin=0, vmax=1, aspect="auto")
    for i in range(len(names)):
        for j in range(len(CHECKS)):
            ax.text(j, i, f"{values[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(CHECKS)), list(CHECKS.values()), fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.xaxis.tick_top()
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


def effects_figure(found: Mapping[str, Effect]) -> Figure:
    """Each regularized network's eps50 advantage under PGD-1 and under the worst case, with its 95% interval."""
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(found) + 1.3))
    y = np.arange(len(found))[::-1]
    for yi, e in zip(y, found.values()):
        for offset, contrast, colour, label in ((0.17, e.pgd, PALETTE[0], "PGD-1"),
                                                (-0.17, e.worst, PALETTE[5], "worst case")):
            mean, low, high = contrast.mean, contrast.low, contrast.high
            if not np.isfinite(mean):
                continue
            err = None if not np.isfinite(low) else [[mean - low], [high - mean]]
            ax.barh(yi + offset, mean, height=0.32, color=colour, alpha=0.85, xerr=err, capsize=2,
                    label=label if yi == y[0] else None)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, list(found), fontsize=7.5)
    ax.set_xlabel(r"regularized $-$ baseline $\epsilon_{50}$ (pixel units)")
    ax.legend(ncol=2, loc="lower left", bbox_to_anchor=(0.0, 1.0))
    fig.tight_layout()
    return fig
