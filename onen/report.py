"""Figures and tables shared by the chapters that compare trained variants (sections 4.1-4.3 and the verdicts).

Every function takes ``results``: a mapping from a variant's display name to its list of cached runs (one per seed),
as returned by :func:`onen.experiments.run_seeds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .cache import CachedResult
from .experiments import mean_and_spread
from .plotting import colours, plot_curve, plot_spectra
from .spectrum import fit_power_law

Results = Mapping[str, Sequence[CachedResult]]


def robustness_score(run: CachedResult, attack: str = "pgd") -> float:
    """Mean accuracy over the nonzero eps of an attack's grid: a normalised area under the robustness curve."""
    eps, acc = run.arrays[f"eps_{attack}"], run.arrays[f"acc_{attack}"]
    return float(acc[eps > 0].mean())


def zero_crossing(eps: np.ndarray, acc: np.ndarray, threshold: float = 0.01) -> float:
    """Smallest eps whose accuracy is at or below ``threshold`` (NaN if the grid never gets there)."""
    below = np.flatnonzero(acc <= threshold)
    return float(eps[below[0]]) if below.size else float("nan")


def layer_alphas(runs: Sequence[CachedResult], layer: int, ranks: tuple[int, int] = (11, 500)) -> np.ndarray:
    """Fitted exponent of one hidden layer's final spectrum, per seed."""
    return np.array([fit_power_law(r.arrays[f"spectrum_{layer}"], ranks) for r in runs])


def _fmt(values: np.ndarray, digits: int) -> str:
    mean = float(np.mean(values))
    if len(values) > 1:
        return f"{mean:.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"
    return f"{mean:.{digits}f}"


def summary_table(results: Results, layers: Sequence[int] = (0,), ranks: tuple[int, int] = (11, 500)) -> str:
    """Text table: clean accuracy, robustness scores (FGSM, PGD, noise), eps where PGD accuracy reaches <= 1%, and
    the fitted exponent of the given layers (mean ± sd over seeds)."""
    header = ["model", "clean acc", "FGSM score", "PGD score", "noise score", "PGD→0 at eps"]
    header += [f"alpha L{l + 1}" for l in layers]
    rows = []
    for name, runs in results.items():
        zeros = [zero_crossing(r.arrays["eps_pgd"], r.arrays["acc_pgd"]) for r in runs]
        row = [name, _fmt(np.array([r.meta["clean_accuracy"] for r in runs]), 3)]
        row += [_fmt(np.array([robustness_score(r, a) for r in runs]), 3) for a in ("fgsm", "pgd", "noise")]
        row.append("never" if np.all(np.isnan(zeros)) else f"{np.nanmax(zeros):g}")
        row += [_fmt(layer_alphas(runs, l, ranks), 2) for l in layers]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def robustness_figure(results: Results, attacks: Sequence[str] = ("fgsm", "pgd"), title: str | None = None,
                      ax=None) -> Figure:
    """Accuracy against eps for every variant, one line style per attack, mean ± sd over seeds."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    colour_of = colours(list(results))
    for name, runs in results.items():
        for attack in attacks:
            mean, spread = mean_and_spread(runs, f"acc_{attack}")
            label = f"{name} ({attack.upper()})" if len(attacks) > 1 else name
            plot_curve(ax, runs[0].arrays[f"eps_{attack}"], mean, spread, label=label, colour=colour_of[name],
                       attack=attack)
    noise_only = tuple(attacks) == ("noise",)
    ax.set_xlabel(r"Gaussian noise $\sigma$ (pixel units, pixels in [0, 1])" if noise_only
                  else r"$\epsilon$ ($L_\infty$, pixel units, pixels in [0, 1])")
    if title:
        ax.set_title(title)
    ax.legend(ncol=2 if len(results) * len(attacks) > 6 else 1)
    fig.tight_layout()
    return fig


def spectra_figure(results: Results, layers: Sequence[int], layer_names: Sequence[str] | None = None,
                   ranks: tuple[int, int] = (11, 500), alpha: float = 1.0) -> Figure:
    """One log-log panel per layer: each variant's spectrum (first seed), normalised at rank 11, against n^-alpha.
    Legends give the fitted exponent (mean over seeds)."""
    fig, axes = plt.subplots(1, len(layers), figsize=(4.6 * len(layers), 3.8), squeeze=False)
    colour_of = colours(list(results))
    for ax, layer, title in zip(axes[0], layers, layer_names or [f"hidden layer {l + 1}" for l in layers]):
        spectra, names = {}, {}
        for name, runs in results.items():
            label = f"{name} (α={np.mean(layer_alphas(runs, layer, ranks)):.2f})"
            spectra[label] = runs[0].arrays[f"spectrum_{layer}"]
            names[label] = colour_of[name]
        plot_spectra(ax, spectra, alpha=alpha, colour_of=names)
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def paired_effect(results: Results, better: str, worse: str, attack: str = "pgd") -> tuple[float, float, int]:
    """Robustness score of ``better`` minus ``worse``, paired by seed: (mean, standard error, number of seeds)."""
    a = np.array([robustness_score(r, attack) for r in results[better]])
    b = np.array([robustness_score(r, attack) for r in results[worse]])
    n = min(len(a), len(b))
    diff = a[:n] - b[:n]
    stderr = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(diff.mean()), stderr, n


def verdict(effect: float, stderr: float, n_seeds: int, expected_sign: int = 1) -> str:
    """Words for an effect: the claimed direction with |mean| > 2 standard errors is 'reproduced'; the claimed
    direction within noise is 'direction agrees, not significant'; the opposite direction is 'not reproduced'.
    With one seed there is no spread, which the verdict says."""
    agrees = np.sign(effect) == expected_sign and effect != 0
    if n_seeds < 2:
        return "direction agrees (1 seed, no spread)" if agrees else "not reproduced (1 seed, no spread)"
    if agrees and abs(effect) > 2 * stderr:
        return "reproduced"
    if agrees:
        return "direction agrees, not significant"
    if abs(effect) > 2 * stderr:
        return "not reproduced (significant opposite effect)"
    return "not reproduced (no significant effect)"
