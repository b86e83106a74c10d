"""The search for the setting whose spectrum reaches 1/n, read back from the stored points
(:func:`onen.runs.search.stored_point`; never trains): its table, the point nearest the target, where each spectrum
misses its target, and what training on for longer bought.

A point's key is (learning rate, beta, epochs, seed); beta 0 is the unregularized network at that rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from onen.analysis.plotting import PALETTE, colours
from onen.analysis.tables import Table
from onen.cache import CachedResult
from onen.runs import search
from onen.runs.search import Point
from onen.runs.training import TrainConfig
from onen.spectrum import REACHED_ALPHA_TOLERANCE, target_ratio

Key = tuple[float, float, int, int]  # (lr, beta, epochs, seed)
# rank bands (1-based, inclusive) over which the median of lambda_k / gamma_k is read
BANDS = {"head": (12, 20), "middle": (50, 200), "tail": (500, 2000)}


@dataclass(frozen=True)
class Search:
    """The stored points: ``found`` holds every point of the grid, then the longer runs (None where not computed),
    ``scored`` the computed ones (:func:`onen.runs.search.score` against the target tau, alpha); ``epochs`` and
    ``seed`` are the grid's."""

    found: dict[Key, CachedResult | None]
    scored: dict[Key, Point]
    epochs: int
    seed: int
    tau: int
    alpha: float

    def regularized(self) -> dict[Key, Point]:
        """The scored points with a penalty (beta > 0), by key."""
        return {key: p for key, p in self.scored.items() if p.beta > 0}

    def nearest(self) -> tuple[Key, Point] | None:
        """The regularized point closest to its target (:func:`onen.runs.search.closest`) and its key; None if no
        regularized point is computed."""
        regularized = self.regularized()
        if not regularized:
            return None
        best = search.closest(regularized.values())
        return next(key for key, p in regularized.items() if p is best), best


def load(grid: Mapping[str, TrainConfig], longer: Mapping[str, TrainConfig], images: int | None, results_dir: str,
         tau: int, alpha: float) -> Search:
    """The points of ``grid`` and ``longer`` (:func:`onen.analysis.profiles.search_grid`,
    :func:`~onen.analysis.profiles.search_longer`) stored under ``results_dir``, scored over ``images`` test
    images against the target of exponent ``alpha`` anchored at index ``tau``."""
    first = next(iter(grid.values()))
    found = {(c.lr, c.beta, c.epochs, c.seed): search.stored_point(c, images, results_dir)
             for c in {**grid, **longer}.values()}
    scored = {key: search.score({key[:2]: result}, tau, alpha)[0]
              for key, result in found.items() if result is not None}
    return Search(found, scored, first.epochs, first.seed, tau, alpha)


def table(points: Search) -> Table:
    """One row per point: its setting, fitted exponent, median log-ratio, whether it reached the target, accuracy."""
    rows = []
    for key in points.found:  # the grid's order, then the longer runs
        lr, beta, epochs, seed = key
        p = points.scored.get(key)
        rows.append([f"{lr:.0e}", "Vanilla" if beta == 0 else f"{beta:g}", f"{epochs}", f"{seed}",
                     *(["missing", "", "", ""] if p is None else
                       [f"{p.score.fitted_alpha:.2f}", f"{p.score.median_abs_log_ratio:.2f}",
                        "yes" if p.score.reached else "no", f"{100 * p.clean_accuracy:.2f}"])])
    header = ["learning rate", "β", "epochs", "seed", "α fitted", "median |log λ/γ|", "reached", "clean acc. (%)"]
    return Table(header, rows, caption="The search at the paper's scale (784-2000-10, tracked basis, one seed per point)",
                 notes=["reached: fitted exponent within 0.1 of 1 and median |log λ/γ| at most log 2"])


def nearest_words(points: Search) -> str:
    """The regularized point closest to 1/n, its exponent, median log-ratio and clean accuracy (Markdown)."""
    found = points.nearest()
    if found is None:
        return "not available: no regularized point of the search is computed yet"
    key, p = found
    return (f"β = {p.beta:g} at learning rate {p.lr:.0e} after {key[2]} epochs"
            + ("" if key[3] == points.seed else f" (seed {key[3]})") + ": fitted exponent "
            f"{p.score.fitted_alpha:.2f}, median log-ratio {p.score.median_abs_log_ratio:.2f}, clean accuracy "
            f"{100 * p.clean_accuracy:.2f}%")


def rule_words(points: Search) -> str:
    """How the search's rule (:func:`onen.runs.search.closest`: smallest |fitted alpha - 1|, the median
    |log lambda/gamma| only breaking ties) compares with the best-beta rule of the other chapters
    (:func:`onen.analysis.report.closest_beta`: smallest median |log lambda/gamma| alone), applied to the same
    regularized points (Markdown)."""
    found = points.nearest()
    if found is None:
        return "not available: no regularized point of the search is computed yet"
    regularized = points.regularized()
    by_median = min(regularized, key=lambda k: (regularized[k].score.median_abs_log_ratio, regularized[k].beta))
    if by_median == found[0]:
        return "the median log-ratio alone picks the same point"
    p = regularized[by_median]
    return (f"the median log-ratio alone would pick another point, {_label(points, by_median)} (fitted exponent "
            f"{p.score.fitted_alpha:.2f}, median log-ratio {p.score.median_abs_log_ratio:.2f})")


def band_ratios(points: Search) -> dict[Key, dict[str, float]]:
    """Per regularized point, the median of lambda_k / gamma_k over each of :data:`BANDS` and the share of penalized
    ranks more than a factor 2 under their target ("under half")."""
    out = {}
    for key, p in points.scored.items():
        if p.beta == 0:
            continue
        ranks, ratio = target_ratio(points.found[key].arrays["spectrum"], points.tau, points.alpha)
        out[key] = {band: float(np.median(ratio[(ranks >= a) & (ranks <= b)])) for band, (a, b) in BANDS.items()}
        out[key]["under half"] = float(np.mean(ratio < 0.5))
    return out


def _label(points: Search, key: Key) -> str:
    lr, beta, epochs, seed = key
    return (f"lr={lr:.0e} " + ("Vanilla" if beta == 0 else f"β={beta:g}") + f", {epochs} ep."
            + ("" if seed == points.seed else f", seed {seed}"))


def _frontier(ax: Axes, points: Search, point_colour: Mapping[str, str]) -> None:
    """Fitted exponent against clean accuracy, one marker per point, the band |alpha - 1| <= 0.1 shaded."""
    for (lr, beta, epochs, seed), p in points.scored.items():
        ax.scatter(100 * p.clean_accuracy, p.score.fitted_alpha, color=point_colour[f"{lr:.0e}"],
                   marker="s" if beta == 0 else "o" if epochs == points.epochs else "D", s=36)
        ax.annotate(("Vanilla" if beta == 0 else f"β={beta:g}") + ("" if epochs == points.epochs else f", {epochs}")
                    + ("" if seed == points.seed else f" (s{seed})"),
                    (100 * p.clean_accuracy, p.score.fitted_alpha), textcoords="offset points", xytext=(5, 3),
                    fontsize=7)
    ax.axhspan(1 - REACHED_ALPHA_TOLERANCE, 1 + REACHED_ALPHA_TOLERANCE, color="0.85", zorder=0)
    ax.axvline(95, color="0.4", ls=":", lw=1)
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("α fitted over ranks 12-2000")
    ax.set_title(f"frontier (■ Vanilla, ● SpecReg, ◆ longer than {points.epochs} epochs)", fontsize=9)
    for lr_name, colour in point_colour.items():
        ax.scatter([], [], color=colour, label=f"lr={lr_name}")
    ax.legend(fontsize=7)


def _misses(ax_ratio: Axes, ax_pen: Axes, points: Search, lrs: list[float]) -> None:
    """Each regularized spectrum over its target rank by rank, and its penalty per epoch divided by beta."""
    line_colour = dict(zip([key for key in points.found if key[1] > 0], PALETTE[len(lrs):] * 2))
    regularized = [key for key, p in points.scored.items() if p.beta > 0]
    for key in regularized:
        ranks, ratio = target_ratio(points.found[key].arrays["spectrum"], points.tau, points.alpha)
        line = dict(ls="-" if key[0] == max(lrs) else "--", color=line_colour[key], lw=1.1, label=_label(points, key))
        ax_ratio.plot(ranks, ratio, **line)
        penalty = np.asarray(points.found[key].meta["history"]["penalty"]) / key[1]
        ax_pen.plot(np.arange(1, penalty.size + 1), penalty, **line)
    ax_ratio.axhspan(0.5, 2.0, color="0.9", zorder=0)
    ax_ratio.axhline(1.0, color="k", lw=0.8, ls="--")
    ax_ratio.set_xscale("log")
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylim(0.02, 5)  # the last few ranks (a covariance all but singular there) fall far below
    ax_ratio.set_xlabel("rank k")
    ax_ratio.set_ylabel(r"$\lambda_k / \gamma_k$ (test images)")
    ax_ratio.set_title("where the spectrum misses its target")
    ax_pen.set_xlabel("epoch")
    ax_pen.set_ylabel(r"penalty / $\beta$ (training, per epoch)")
    ax_pen.set_title("is it still falling?")
    for ax in (ax_ratio, ax_pen):
        if regularized:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no regularized point computed yet", ha="center", transform=ax.transAxes)


def figure(points: Search) -> Figure:
    """The frontier the search has measured, where each spectrum misses its target, and whether its penalty was
    still falling (solid: the largest learning rate, dashed: the others)."""
    fig, (ax_front, ax_ratio, ax_pen) = plt.subplots(1, 3, figsize=(15, 4.2))
    lrs = sorted({key[0] for key in points.found})
    _frontier(ax_front, points, colours([f"{lr:.0e}" for lr in lrs]))
    _misses(ax_ratio, ax_pen, points, lrs)
    fig.tight_layout()
    return fig


def why_words(points: Search) -> str:
    """Where the nearest point's spectrum sits against its target, band by band, and how far its penalty fell over
    its last epochs (Markdown)."""
    found = points.nearest()
    if found is None:
        return "No regularized point is computed yet, so where the spectra miss their target is not measured"
    key, nearest = found
    near = band_ratios(points)[key]
    history = np.asarray(points.found[key].meta["history"]["penalty"]) / nearest.beta
    last = min(5, history.size - 1)
    drop = 100 * (1 - history[-1] / history[-1 - last])
    return (f"For that point the spectrum sits at {near['head']:.2f} of its target over ranks 12-20, "
            f"{near['middle']:.2f} over ranks 50-200 and {near['tail']:.2f} over ranks 500-2000 (medians of "
            "λ_k / γ_k): the penalty holds the ranks next to its anchor on target, and the rest of the spectrum "
            + ("stays below it, which steepens the fit" if max(near["middle"], near["tail"]) < 1 else
               "does not stay below it")
            + f"; {100 * near['under half']:.0f}% of the penalized ranks sit more than a factor of 2 under their "
              f"target. Its penalty fell by {drop:.1f}% over its last {last} epochs"
            + (": it was still moving towards the target when training stopped" if drop > 0.5 else
               ": it had nearly stopped moving"))


def longer_words(points: Search) -> str:
    """For each network trained on from a shorter point of the search (same rate, beta and seed), what the extra
    epochs did to its exponent, median log-ratio and clean accuracy (Markdown)."""
    sentences = []
    for long_ in points.found:
        shorter = [key for key in points.found if key[:2] == long_[:2] and key[3] == long_[3] and key[2] < long_[2]]
        if not shorter:
            continue
        short = max(shorter, key=lambda key: key[2])
        if short not in points.scored or long_ not in points.scored:
            missing = " and ".join(f"{key[2]}" for key in (short, long_) if key not in points.scored)
            sentences.append(f"The seed-{long_[3]} network at β = {long_[1]:g} and learning rate {long_[0]:.0e} is "
                             f"not computed yet at {missing} epochs.")
            continue
        a, b = points.scored[short], points.scored[long_]
        sentences.append(
            f"Trained on from {short[2]} to {long_[2]} epochs, the seed-{long_[3]} network at β = {b.beta:g} and "
            f"learning rate {b.lr:.0e} moves its fitted exponent from {a.score.fitted_alpha:.3f} to "
            f"{b.score.fitted_alpha:.3f} and its median log-ratio from {a.score.median_abs_log_ratio:.2f} to "
            f"{b.score.median_abs_log_ratio:.2f}, at clean accuracy {100 * a.clean_accuracy:.2f}% and "
            f"{100 * b.clean_accuracy:.2f}%; after {long_[2]} epochs it "
            + ("reaches its target" if b.score.reached else "still misses its target") + ".")
    return " ".join(sentences)
