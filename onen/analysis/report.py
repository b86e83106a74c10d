"""Figures and tables shared by the chapters that compare trained variants (sections 4.1-4.3 and the verdicts).

Every function takes ``results``: a mapping from a variant's display name to its list of cached runs (one per seed),
as returned by :func:`onen.runs.experiments.run_seeds`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen.cache import CachedResult
from onen.analysis.stats import PairedContrast, Term, eps_at_half, mean_and_spread, outcome_term, paired_contrast
from onen.analysis.plotting import colours, plot_curve, plot_spectra
from onen.regularizers import layer_indices
from onen.analysis.tables import Table
from onen.spectrum import REACHED_ALPHA_TOLERANCE, REACHED_LOG_RATIO, TargetScore, fit_power_law, target_score
from onen.runs.training import TrainConfig

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


# Layers that a variant does not regularize (all layers of a non-spectral variant) are scored against the paper's
# 1/n target, anchored at 0-based index tau = 10, so that they can be compared with the regularized ones.
REFERENCE_TARGET: tuple[int, float] = (10, 1.0)  # (tau, alpha)


def train_config(run: CachedResult) -> TrainConfig:
    """The TrainConfig of a cached run: ``provenance["config"]["train"]`` (from :func:`onen.runs.experiments.run`), or
    ``provenance["config"]`` itself where it is a bare TrainConfig dict."""
    config = run.provenance["config"]
    return TrainConfig.from_dict(dict(config.get("train", config)))


def regularized_layers(config: TrainConfig, n_blocks: int) -> list[int]:
    """0-based indices of the hidden blocks that ``config``'s spectral penalty acts on (none without one)."""
    if config.regularizer != "spectral":
        return []
    return layer_indices(config.spectral_layers, n_blocks)


@dataclass(frozen=True)
class LayerTarget:
    """How close one hidden layer's test-image spectrum came to its power-law target, over the seeds of one variant.

    layer: 0-based block index; regularized: whether the variant's penalty acts on it (if not, tau and target_alpha
    are :data:`REFERENCE_TARGET`); ranks: the 1-based window tau + 2 .. N of both numbers; fitted_alpha and
    fitted_alpha_sd: mean and standard deviation (ddof 1; NaN with one seed) of the exponent over that window;
    median_abs_log_ratio: mean over seeds of the median |log(lambda_k / gamma_k)|; reached: every seed reached the
    target (:attr:`onen.spectrum.TargetScore.reached`); per_seed: each seed's score, in the order of the runs.
    """

    layer: int
    regularized: bool
    tau: int
    target_alpha: float
    ranks: tuple[int, int]
    fitted_alpha: float
    fitted_alpha_sd: float
    median_abs_log_ratio: float
    reached: bool
    per_seed: tuple[TargetScore, ...]


def n_blocks(run: CachedResult) -> int:
    """Number of hidden blocks whose final spectrum a run stores (``spectrum_0``, ``spectrum_1``, ...)."""
    count = 0
    while f"spectrum_{count}" in run.arrays:
        count += 1
    return count


def target_scores(runs: Sequence[CachedResult], layers: Sequence[int] | None = None,
                  reference: tuple[int, float] = REFERENCE_TARGET) -> list[LayerTarget]:
    """:func:`onen.spectrum.target_score` of hidden layers of one variant, summarised over its seeds.

    ``layers``: 0-based blocks to score (None: the ones the variant regularizes, none for a non-spectral variant). A
    regularized layer is scored against the variant's own tau and alpha, any other against ``reference`` (tau, alpha).
    The runs must be seeds of one configuration.
    """
    if not runs:
        raise ValueError("target_scores needs at least one run")
    config = train_config(runs[0])
    for r in runs[1:]:
        if {**train_config(r).to_dict(), "seed": config.seed} != config.to_dict():
            raise ValueError("target_scores needs runs of one configuration (they may differ only in the seed)")
    blocks = n_blocks(runs[0])
    regularized = regularized_layers(config, blocks)
    out = []
    for layer in regularized if layers is None else layers:
        if not 0 <= layer < blocks:
            raise ValueError(f"layer {layer} out of range: the runs store spectra of {blocks} hidden blocks")
        own = layer in regularized
        tau, alpha = (config.tau, config.alpha) if own else reference
        scores = tuple(target_score(r.arrays[f"spectrum_{layer}"], tau=tau, alpha=alpha) for r in runs)
        fitted = np.array([s.fitted_alpha for s in scores])
        out.append(LayerTarget(
            layer=int(layer), regularized=own, tau=int(tau), target_alpha=float(alpha), ranks=scores[0].ranks,
            fitted_alpha=float(fitted.mean()),
            fitted_alpha_sd=float(fitted.std(ddof=1)) if len(scores) > 1 else float("nan"),
            median_abs_log_ratio=float(np.mean([s.median_abs_log_ratio for s in scores])),
            reached=all(s.reached for s in scores), per_seed=scores))
    return out


def closest_beta(results: Results, family: str) -> tuple[str, dict[str, float]]:
    """The variant of ``family`` (names "<family> β=<b>") whose regularized layers come closest to their target, and
    each candidate's distance.

    The rule, fixed before any robustness number is looked at: a variant's distance is the mean, over its regularized
    layers, of the median |log(lambda_k / gamma_k)| (:func:`target_scores`, on test images, averaged over seeds); the
    smallest distance wins, ties going to the smaller beta. It reads spectra only, so choosing "the best beta" cannot
    favour the robustness it is then used to test.
    """
    prefix = f"{family} β="
    candidates = {name: float(name[len(prefix):]) for name in results if name.startswith(prefix)}
    if not candidates:
        raise ValueError(f"no variant named {prefix!r}<beta> among {sorted(results)}")
    distance = {name: float(np.mean([t.median_abs_log_ratio for t in target_scores(results[name])]))
                for name in candidates}
    best = min(candidates, key=lambda name: (distance[name], candidates[name]))
    return best, distance


def _fmt_target(score: LayerTarget) -> list[str]:
    """Table cells of one layer's score: target, fitted exponent, median |log ratio|, reached. Parentheses mark a
    layer the variant does not regularize (scored against the reference target)."""
    fitted = f"{score.fitted_alpha:.2f}"
    if len(score.per_seed) > 1:
        fitted += f" ± {score.fitted_alpha_sd:.2f}"
    target, reached = f"{score.target_alpha:g}", "yes" if score.reached else "no"
    if not score.regularized:
        target, reached = f"({target})", f"({reached})"
    return [target, fitted, f"{score.median_abs_log_ratio:.2f}", reached]


def summary_table(results: Results, layers: Sequence[int] = (0,), ranks: tuple[int, int] = (11, 500),
                  reference: tuple[int, float] = REFERENCE_TARGET, caption: str | None = None) -> Table:
    """A :class:`~onen.analysis.tables.Table` (HTML in the book): clean accuracy, robustness scores (FGSM, PGD, noise), PGD's
    :func:`eps50`, eps where PGD accuracy reaches <= 1%; for
    every layer that some variant regularizes, its :func:`target_scores` (target exponent, fitted exponent over the
    penalized ranks, median |log(lambda_k / gamma_k)|, reached); and for the other ``layers`` the exponent fitted
    over ``ranks``. Fitted exponents are mean ± sd over seeds. A legend under the table explains the columns."""
    scored = sorted({l for runs in results.values()
                     for l in regularized_layers(train_config(runs[0]), n_blocks(runs[0]))})
    plain = [l for l in layers if l not in scored]
    header = ["model", "clean acc", "FGSM score", "PGD score", "noise score", "PGD ε50", "PGD→0 at eps"]
    header += [f"alpha L{l + 1}" for l in plain]
    for l in scored:
        header += [f"L{l + 1} target α", f"L{l + 1} α fit", f"L{l + 1} med|log λ/γ|", f"L{l + 1} reached"]
    rows, windows, unregularized = [], {l: set() for l in scored}, False
    for name, runs in results.items():
        zeros = [zero_crossing(r.arrays["eps_pgd"], r.arrays["acc_pgd"]) for r in runs]
        row = [name, _fmt(np.array([r.meta["clean_accuracy"] for r in runs]), 3)]
        row += [_fmt(np.array([robustness_score(r, a) for r in runs]), 3) for a in ("fgsm", "pgd", "noise")]
        half = np.array([eps50(r) for r in runs])
        row.append("never" if np.all(np.isnan(half)) else _fmt(half[np.isfinite(half)], 3)
                   + (f" ({int(np.isnan(half).sum())} never)" if np.any(np.isnan(half)) else ""))
        row.append("never" if np.all(np.isnan(zeros)) else f"{np.nanmax(zeros):g}")
        row += [_fmt(layer_alphas(runs, l, ranks), 2) for l in plain]
        for score in target_scores(runs, scored, reference):
            row += _fmt_target(score)
            windows[score.layer].add(score.ranks)
            unregularized |= not score.regularized
        rows.append(row)
    lines = ["PGD ε50: the eps at which PGD accuracy falls to half of the clean accuracy, interpolated on the grid "
             "(never: not on the grid)"]
    if plain:
        lines.append(f"alpha: exponent fitted over ranks {ranks[0]}-{ranks[1]}")
    if scored:
        spans = "; ".join(f"L{l + 1} {a}-{b}" for l in scored for a, b in sorted(windows[l]))
        lines += [f"α fit: exponent over the penalized ranks τ+2..N of the test-image spectrum ({spans})",
                  "med|log λ/γ|: median over those ranks of |log(λ_k/γ_k)|, γ_k the target anchored at rank τ+1 "
                  "(mean over seeds)",
                  f"reached: |α fit - target| <= {REACHED_ALPHA_TOLERANCE:g} and med|log λ/γ| <= "
                  f"{REACHED_LOG_RATIO:.2f} (a factor {np.exp(REACHED_LOG_RATIO):.3g}), in every seed"]
        if unregularized:
            lines.append(f"(...): layer not regularized in that variant; scored against α = {reference[1]:g} with "
                         f"τ = {reference[0]} for comparison")
    return Table(header, rows, caption=caption, notes=lines)


def with_seed_counts(results: Results) -> Results:
    """The same results, each name followed by its number of seeds: "Vanilla (3 seeds)", "Jacobian (1 seed)"."""
    return {f"{name} ({len(runs)} seed{'s' if len(runs) != 1 else ''})": runs for name, runs in results.items()}


def status_table(rows: Sequence[Sequence[str]], seeds: Sequence[int], section: str) -> Table:
    """The networks of a section at the paper's scale, one row per variant ("GPU", "CPU" or "missing" per seed, as
    :func:`onen.runs.experiments.stored_seeds` gives them), captioned with how many are computed."""
    done = sum(cell != "missing" for row in rows for cell in row[1:])
    return Table(["network", *(f"seed {s}" for s in seeds)], rows,
                 caption=f"The section-{section} networks of the paper profile: {done} of {len(rows) * len(seeds)} "
                         "computed, and where each was trained")


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


def eps50(run: CachedResult, attack: str = "pgd") -> float:
    """The radius at which ``attack``'s accuracy falls to half of the run's clean accuracy (``meta["clean_accuracy"]``),
    interpolated on the eps grid (:func:`onen.analysis.stats.eps_at_half`); NaN if it never does on the grid."""
    return eps_at_half(run.arrays[f"eps_{attack}"], run.arrays[f"acc_{attack}"], run.meta["clean_accuracy"])


def eps50_term(sign: float, runs: Sequence[CachedResult], attack: str = "pgd") -> Term:
    """One variant's part in an eps50 contrast (:func:`onen.analysis.stats.paired_contrast`): its per-seed :func:`eps50`, and
    where every run stores its per-image outcomes (``correct_<attack>``) those too, re-summarised on resampled images
    with the clean accuracy of the attacked images (the curve at eps 0)."""
    values = [eps50(r, attack) for r in runs]
    if not all(f"correct_{attack}" in r.arrays for r in runs):
        return Term(sign, values)
    resampled = outcome_term(sign, runs[0].arrays[f"eps_{attack}"], [r.arrays[f"correct_{attack}"] for r in runs])
    return dataclasses.replace(resampled, values=values)  # as reported: half of the clean accuracy on every image


def seed_of(run: CachedResult) -> int:
    """The seed a cached run was trained with (from its stored configuration)."""
    return int(train_config(run).seed)


def common_seeds(results: Results, names: Sequence[str]) -> Results:
    """The runs of ``names`` restricted to the seeds that all of them have, each list in ascending seed order, so
    that a contrast pairs the same seed (where some seeds of some variants are missing, pairing by position would
    not). Raises KeyError for a name not in ``results``, ValueError for a variant that holds a seed twice."""
    by_seed = {}
    for name in names:
        if name not in results:
            raise KeyError(f"no variant {name!r}; have {sorted(results)}")
        seeds = [seed_of(r) for r in results[name]]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"variant {name!r} holds a seed twice: {seeds}")
        by_seed[name] = dict(zip(seeds, results[name]))
    shared = sorted(set.intersection(*(set(runs) for runs in by_seed.values())))
    return {name: [by_seed[name][s] for s in shared] for name in names}


def paired_effect(results: Results, better: str, worse: str, attack: str = "pgd",
                  n_boot: int = 400) -> PairedContrast:
    """eps50 of ``better`` minus eps50 of ``worse`` (pixel units), paired by seed (the seeds both have:
    :func:`common_seeds`), with its 95% interval over seeds
    and, where the runs store per-image outcomes, the paired bootstrap over the attacked images (the rule of the
    chapter "What reproduced"); ``.verdict(sign)`` gives that chapter's verdict words."""
    paired = common_seeds(results, [better, worse])
    if not paired[better]:
        raise ValueError(f"{better!r} and {worse!r} have no seed in common")
    return paired_contrast([eps50_term(+1, paired[better], attack), eps50_term(-1, paired[worse], attack)],
                           n_boot=n_boot, seed=0)


CLAIM_DIRECTION = {"reproduced": "as claimed", "contradicted": "against the claim"}


@dataclass(frozen=True)
class Claims:
    """What :func:`claims_table` returns: the table, the verdict per treated network, and per treated network with a
    seed in common with its reference the paired contrast itself (so a caller reads a mean or an interval without
    recomputing its bootstrap)."""
    table: Table
    verdicts: dict[str, str]
    effects: dict[str, PairedContrast]


def claims_table(results: Results, contrasts: Sequence[tuple[str, str, int]], caption: str) -> Claims:
    """The paper's claims as paired contrasts of PGD's eps50 (:func:`paired_effect`), and the verdict on each.

    ``contrasts``: (treated, reference, claimed sign of treated minus reference). A contrast whose networks share
    no seed is "not computed"; one paired seed is "not enough seeds". A treated network with a spectral target is
    tested only where every layer it regularizes reached that target (:func:`target_scores`) in every paired seed;
    otherwise its verdict is "not tested: spectrum not reached", and the table still shows which way the difference
    goes. Returns the table, the verdicts and the contrasts (:class:`Claims`)."""
    rows, verdicts, effects = [], {}, {}
    for treated, reference, sign in contrasts:
        claimed = "+" if sign > 0 else "−"
        have = treated in results and reference in results
        paired = common_seeds(results, [treated, reference])[treated] if have else []
        if not paired:
            rows.append([f"{treated} − {reference}", claimed, "0", "", "", "", "", "not computed"])
            verdicts[treated] = "not computed"
            continue
        effects[treated] = effect = paired_effect(results, treated, reference)
        verdicts[treated] = measured = effect.verdict(sign)
        reached = "—"
        scores = target_scores(paired)
        if scores:  # the treated network has a spectral target
            reached = "yes" if all(score.reached for score in scores) else "no"
            if reached == "no":
                verdicts[treated] = "not tested: spectrum not reached"
        rows.append([f"{treated} − {reference}", claimed, f"{effect.n_seeds}", f"{effect.mean:+.4f}",
                     f"[{effect.low:+.4f}, {effect.high:+.4f}]" if effect.n_seeds > 1 else "",
                     CLAIM_DIRECTION.get(measured, measured), reached, verdicts[treated]])
    images = sorted({int(r.arrays["correct_pgd"].shape[1]) for runs in results.values() for r in runs
                     if "correct_pgd" in r.arrays})
    table = Table(["contrast (PGD ε50)", "claimed sign", "paired seeds", "mean difference", "95% interval",
                   "difference", "target reached", "verdict on the claim"], rows, caption=caption,
                  notes=["difference: where the interval lies (as claimed, against the claim, not resolved), whatever "
                         "the spectrum",
                         "target reached: every layer the treated network regularizes reached its own target in "
                         "every paired seed",
                         "verdict on the claim: the difference, for a network whose spectrum reached its target; a "
                         "network that did not reach it is not tested, since its robustness says nothing about a 1/n "
                         "spectrum",
                         "the interval is over the paired seeds and a bootstrap over the "
                         + (f"{images[0]} attacked test images" if len(images) == 1 else "attacked test images")])
    return Claims(table, verdicts, effects)
