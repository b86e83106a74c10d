"""One figure style for the whole book: colour-blind-safe colours (Okabe & Ito), labelled axes, shared helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Okabe-Ito palette, black last
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
ATTACK_STYLES = {"fgsm": "--", "pgd": "-", "noise": ":"}


def use_style() -> None:
    """Apply the book's matplotlib style (call once per chapter)."""
    mpl.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.size": 10,
        "legend.frameon": False,
        "legend.fontsize": 8,
        "lines.linewidth": 1.6,
    })


def colours(names: Sequence[str]) -> dict[str, str]:
    """A fixed colour per name, in order."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def plot_spectra(ax: Axes, spectra: Mapping[str, np.ndarray], alpha: float = 1.0, anchor_rank: int = 11,
                 colour_of: Mapping[str, str] | None = None, normalise: bool = True) -> Axes:
    """Log-log eigenspectra (rank n from 1) with a dashed n^-alpha reference.

    With ``normalise`` each spectrum is divided by its eigenvalue at ``anchor_rank`` (1-based), so shapes can be
    compared on one axis and the reference passes through 1 at the anchor, as the regularizer's target does.
    """
    for name, spectrum in spectra.items():
        values = np.asarray(spectrum, dtype=np.float64)
        values = values[values > 0]
        if normalise and values.size >= anchor_rank:
            values = values / values[anchor_rank - 1]
        ranks = np.arange(1, values.size + 1)
        ax.loglog(ranks, values, label=name, color=None if colour_of is None else colour_of.get(name))
    longest = max(len(s) for s in spectra.values())
    ranks = np.arange(1, longest + 1)
    ax.loglog(ranks, (ranks / anchor_rank) ** -alpha, "k--", lw=1, label=f"$n^{{-{alpha:g}}}$")
    ax.set_xlabel("rank $n$")
    ax.set_ylabel(r"eigenvalue $\lambda_n / \lambda_{%d}$" % anchor_rank if normalise else r"eigenvalue $\lambda_n$")
    return ax


def plot_curve(ax: Axes, eps: np.ndarray, mean: np.ndarray, spread: np.ndarray | None = None, *, label: str,
               colour: str | None = None, attack: str = "pgd") -> Axes:
    """Accuracy (%) against eps with a shaded band of +- one standard deviation over seeds."""
    style = ATTACK_STYLES.get(attack, "-")
    (line,) = ax.plot(eps, 100 * mean, style, marker="o", ms=3, label=label, color=colour)
    if spread is not None and np.any(spread > 0):
        ax.fill_between(eps, 100 * (mean - spread), 100 * (mean + spread), color=line.get_color(), alpha=0.2, lw=0)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("accuracy (%)")
    return ax


def sensitivity_grid(images: np.ndarray, maps: Mapping[str, np.ndarray], n_show: int = 6) -> Figure:
    """Rows: the input digits, then one row of |d loss / d x| per model (each map scaled to its own maximum).

    images: [K, 1, 28, 28]; maps: name -> [K, 1, 28, 28].
    """
    n_show = min(n_show, images.shape[0])
    rows = 1 + len(maps)
    fig, axes = plt.subplots(rows, n_show, figsize=(1.3 * n_show + 1.2, 1.3 * rows), squeeze=False)
    for col in range(n_show):
        axes[0, col].imshow(images[col, 0], cmap="gray_r", vmin=0, vmax=1)
        for row, (name, grads) in enumerate(maps.items(), start=1):
            g = np.abs(grads[col, 0])
            axes[row, col].imshow(g / max(g.max(), 1e-12), cmap="magma", vmin=0, vmax=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    axes[0, 0].set_ylabel("input", rotation=0, ha="right", va="center")
    for row, name in enumerate(maps, start=1):
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig
