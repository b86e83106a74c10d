"""The background chapter's tables and figures, drawn from the numbers of :mod:`onen.analysis.background`.

``config`` below is the chapter's settings (:class:`onen.analysis.settings.BackgroundSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen import manifolds
from onen.analysis.background import FLOOR, PIXEL_LABELS, Networks, Pixels, Stretch, expected_slope
from onen.analysis.plotting import PALETTE
from onen.analysis.settings import BackgroundSettings
from onen.analysis.tables import Table


def circle_table(config: BackgroundSettings, fitted: list[float], seed: int) -> Table:
    """The circle's designed exponents against those fitted to its sampled spectra."""
    ranks = config.fit_ranks
    return Table(["designed α", "fitted α"], [[f"{d:.2f}", f"{f:.2f}"] for d, f in zip(config.alphas, fitted)],
                 caption=f"The circle code: {config.circle_points} points, K = {config.n_freq} frequencies, "
                         f"seed {seed}; α fitted over ranks {ranks[0]}-{ranks[1]}")


def stretch_table(stretch: Stretch) -> Table:
    """The stretch at three steps, its fitted and expected slopes and, above alpha = 3, its limit."""
    steps = (1e-1, 1e-3, 1e-5)
    rows = [[f"{alpha:.0f}", *(f"{stretch.at(alpha, d):.3g}" for d in steps), f"{stretch.slopes[alpha]:.2f}",
             f"{expected_slope(alpha):.2f}", f"{stretch.limits[alpha]:.4f}" if alpha in stretch.limits else "—"]
            for alpha in stretch.values]
    return Table(["α", *(f"stretch at δ = {d:g}" for d in steps), "slope", "expected slope", "limit √ζ(α − 2)"],
                 rows, caption="Stretch of the code under a small input change δ",
                 notes=[f"At α = 3 the squared stretch grows by {stretch.log_growth:.3f} from δ = 1e-3 to 1e-4 "
                        f"(ln 10 = {np.log(10):.3f}). —: no finite limit."])


def network_table(nets: Networks, sigma_b2: float) -> Table:
    """Mean-field fixed point and slope, regime, curve length and exponent by layer of every random network."""
    rows = [[f"{sigma_w2:.1f}", f"{q_star:.3f}", f"{chi:.3f}", "ordered" if chi < 1 else "chaotic",
             f"{nets.arrays[sigma_w2]['lengths'][0]:.2f} → {nets.arrays[sigma_w2]['lengths'][-1]:.2f}",
             " ".join(f"{a:.2f}" for a in nets.layer_alphas[sigma_w2])]
            for sigma_w2, (q_star, chi) in nets.mean_field.items()]
    return Table(["σ_w²", "q*", "χ₁", "regime", "curve length, input → last layer", "α by layer"], rows,
                 caption=f"Random tanh networks: the order-to-chaos transition at σ_b² = {sigma_b2} is at "
                         f"σ_w² = {nets.critical:.3f}")


def pixel_table(pixels: Pixels, images: Mapping[str, int | None], ranks: tuple[int, int]) -> Table:
    """Width, images and fitted exponent of each dataset's raw pixels; a row per dataset that is not available."""
    rows = [[PIXEL_LABELS[name], f"{pixels.spectra[name].size}", f"{images[name] or 'all'}", f"{alpha:.2f}"]
            for name, alpha in pixels.alphas.items()]
    rows += [[PIXEL_LABELS[name], "—", "not available", "—"] for name in pixels.missing]
    return Table(["dataset", "pixels", "training images", "fitted α"], rows,
                 caption=f"Spectra of the raw pixels, α fitted over ranks {ranks[0]}-{ranks[1]}",
                 notes=["Not available: no files under $ONEN_DATA or the system data folder, and no download."]
                 if pixels.missing else ())


def alpha_colours(alphas: list[float]) -> dict[float, str]:
    """One colour per designed exponent, shared by the circle's figures."""
    return dict(zip(alphas, PALETTE))


def circle_spectra_figure(config: BackgroundSettings, spectra: np.ndarray, fitted: list[float]) -> Figure:
    """(a) The circle's sampled spectra against the design; (b) the smoothness bound 1 + 2/d."""
    colour = alpha_colours(config.alphas)
    fig, (ax, ax_bound) = plt.subplots(1, 2, figsize=(9, 3.6))
    rank = np.arange(1, 2 * config.n_freq + 1)
    for alpha, spectrum, fit in zip(config.alphas, spectra, fitted):
        keep = spectrum > 0
        ax.loglog(rank[keep], spectrum[keep], color=colour[alpha], label=fr"$\alpha={alpha:g}$: fit {fit:.2f}")
        designed = manifolds.fourier_variances(config.n_freq, alpha).repeat(2) / 2
        ax.loglog(rank, designed, ":", color="k", lw=0.8)
    ax.axvspan(*config.fit_ranks, color="0.9", zorder=0, label="fit window")
    ax.set_xlabel("rank $n$")
    ax.set_ylabel(r"eigenvalue $\lambda_n$")
    ax.set_title("(a) spectra of the embedded circle")
    ax.legend(loc="lower left")
    d_grid = np.arange(1, 31)
    ax_bound.plot(d_grid, manifolds.smoothness_bound(d_grid), "o-", ms=3, color=PALETTE[0], label=r"$1 + 2/d$")
    ax_bound.axhline(1, color="k", ls="--", lw=1, label=r"$\alpha = 1$")
    ax_bound.set_xlabel("manifold dimension $d$")
    ax_bound.set_ylabel(r"smallest smooth exponent $\alpha$")
    ax_bound.set_title("(b) the smoothness bound")
    ax_bound.legend()
    fig.tight_layout()
    return fig


def _closed_curve(ax: plt.Axes, points: np.ndarray, colour: str) -> None:
    """Consecutive points joined, the last back to the first; no ticks, equal aspect."""
    closed = np.vstack([points, points[:1]])
    ax.plot(closed[:, 0], closed[:, 1], lw=0.5, color=colour)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])


def circle_projections_figure(alphas: list[float], projections: np.ndarray) -> Figure:
    """The embedded circle on two random directions, one panel per exponent."""
    colour = alpha_colours(alphas)
    fig, axes = plt.subplots(1, len(alphas), figsize=(2.1 * len(alphas), 2.3))
    for ax, alpha, projected in zip(axes, alphas, projections):
        _closed_curve(ax, projected, colour[alpha])
        ax.set_title(fr"$\alpha = {alpha:g}$")
    axes[0].set_ylabel("random projection 2")
    axes[len(axes) // 2].set_xlabel("random projection 1 (unit variance)")
    fig.tight_layout()
    return fig


def stretch_figure(stretch: Stretch, alphas: list[float], n_freq: int) -> Figure:
    """The local stretch against the step, with the slope window and the cutoff 1/K."""
    colour = alpha_colours(alphas)
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for alpha, values in stretch.values.items():
        ax.loglog(stretch.deltas, values, color=colour[alpha],
                  label=fr"$\alpha={alpha:g}$: slope {stretch.slopes[alpha]:.2f} "
                        fr"(theory {expected_slope(alpha):.2f})")
    window = stretch.deltas[stretch.window]
    ax.axvspan(window.min(), window.max(), color="0.92", zorder=0, label="slope window")
    ax.axvline(1 / n_freq, color="k", ls=":", lw=1, label="$1/K$")
    ax.invert_xaxis()
    ax.set_xlabel(r"step $\delta$ (radians)")
    ax.set_ylabel(r"$\|f(\theta+\delta) - f(\theta)\| / \delta$")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def networks_figure(nets: Networks, depth: int, width: int) -> Figure:
    """(a) The last layer's spectrum per weight variance; (b) the exponent by layer; (c) the circle's length."""
    colour = dict(zip(nets.arrays, PALETTE))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for sigma_w2, r in nets.arrays.items():
        last = r["spectra"][-1]
        last = last[last > FLOOR * last[0]]
        axes[0].loglog(np.arange(1, last.size + 1), last / last[0], color=colour[sigma_w2],
                       label=fr"$\sigma_w^2={sigma_w2:g}$ ($\chi_1={nets.mean_field[sigma_w2][1]:.2f}$)")
        axes[1].plot(np.arange(1, depth + 1), nets.layer_alphas[sigma_w2], "o-", ms=3, color=colour[sigma_w2])
        axes[2].semilogy(np.arange(depth + 1), r["lengths"], "o-", ms=3, color=colour[sigma_w2],
                         label=fr"$\sigma_w^2={sigma_w2:g}$")
    n = np.arange(1, width + 1)
    axes[0].loglog(n, 1 / n, "k--", lw=1, label="$1/n$")
    axes[0].set_ylim(1e-12, 2)
    axes[0].set_xlabel("rank $n$")
    axes[0].set_ylabel(r"$\lambda_n / \lambda_1$ (layer 10)")
    axes[0].set_title("(a) last layer's spectrum")
    axes[0].legend(loc="lower left")
    axes[1].axhline(1, color="k", ls="--", lw=1)
    axes[1].set_xlabel("layer")
    axes[1].set_ylabel(r"fitted exponent $\alpha$ (ranks 11-500)")
    axes[1].set_title("(b) exponent by depth")
    axes[2].set_xlabel("layer (0 = input circle)")
    axes[2].set_ylabel(r"curve length / $\sqrt{N}$")
    axes[2].set_title("(c) length of the circle's image")
    axes[2].legend()
    fig.tight_layout()
    return fig


def network_circles_figure(nets: Networks, layers: list[int]) -> Figure:
    """The circle's image after each of ``layers`` (0: the input), one row per weight variance."""
    colour = dict(zip(nets.arrays, PALETTE))
    fig, axes = plt.subplots(len(nets.arrays), len(layers), figsize=(1.9 * len(layers), 1.9 * len(nets.arrays)),
                             squeeze=False)
    for row, (sigma_w2, arrays) in enumerate(nets.arrays.items()):
        for col, layer in enumerate(layers):
            _closed_curve(axes[row, col], arrays["projections"][layer], colour[sigma_w2])
            if row == 0:
                axes[row, col].set_title(f"layer {layer}")
        axes[row, 0].set_ylabel(fr"$\sigma_w^2 = {sigma_w2:g}$")
    fig.tight_layout()
    return fig


def pixels_figure(pixels: Pixels, ranks: tuple[int, int]) -> Figure:
    """Each dataset's raw-pixel spectrum divided by its eigenvalue at rank ``ranks[0]``, against 1/n."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    anchor = ranks[0]
    for (name, spectrum), line_colour in zip(pixels.spectra.items(), PALETTE):
        kept = spectrum[spectrum > FLOOR * spectrum[0]]
        ax.loglog(np.arange(1, kept.size + 1), kept / kept[anchor - 1], color=line_colour,
                  label=fr"{PIXEL_LABELS[name]}: $\alpha$ = {pixels.alphas[name]:.2f}")
    n = np.arange(1, max(s.size for s in pixels.spectra.values()) + 1)
    ax.loglog(n, anchor / n, "k--", lw=1, label="$1/n$")
    ax.axvspan(*ranks, color="0.92", zorder=0, label="fit window")
    ax.set_ylim(1e-6, None)
    ax.set_xlabel("rank $n$")
    ax.set_ylabel(r"eigenvalue $\lambda_n / \lambda_{%d}$" % anchor)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
