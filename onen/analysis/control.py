"""The control chapter's analysis: exponents with intervals from a calibrated estimator, the shaped layers' check,
Vanilla's accuracy-robustness frontier and the effects measured above it, the dose-response, and the audit.

Everything here reads cached results (:class:`onen.cache.CachedResult`); nothing trains. The verdict words are those
of :func:`onen.analysis.stats.verdict_from_interval`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen.cache import CachedResult
from onen.calibration import Estimator, bootstrap_interval, nonpositive_count
from onen.analysis.report import common_seeds, eps50, seed_of
from onen.spectrum import REACHED_ALPHA_TOLERANCE, REACHED_LOG_RATIO, target_ratio
from onen.analysis.stats import bootstrap_se, combined_interval, eps_at_half_of_outcomes, t_interval, verdict_from_interval
from onen.analysis.tables import Table
from onen.analysis import profiles
from onen.runs.experiments import stored_seeds
from onen.runs.calibration_run import calibration_result, gate_of, stored_calibration

Results = Mapping[str, Sequence[CachedResult]]

# rank bands of the figure of where each spectrum misses its target (1-based, inclusive; clipped to the width)
BANDS: tuple[tuple[int, int], ...] = ((12, 20), (50, 200), (500, 2000))


def fmt_interval(mean: float, low: float, high: float, digits: int = 3) -> str:
    """"m [l, h]", or "m" where the interval is undefined."""
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


# ----------------------------------------------------------------------------------------------------------------
# exponents


def exponent(run: CachedResult, estimator: Estimator, layer: int = 0) -> tuple[float, float, float]:
    """``estimator``'s exponent of a run's test-image spectrum and its 95% bootstrap interval over the test images
    (from the stored ``spectrum_boot_<layer>``; NaN where the run stores none)."""
    value = estimator.fit(run.arrays[f"spectrum_{layer}"])
    key = f"spectrum_boot_{layer}"
    low, high = bootstrap_interval(estimator, run.arrays[key], value) if key in run.arrays else (math.nan, math.nan)
    return value, low, high


def seed_exponents(runs: Sequence[CachedResult], estimator: Estimator, layer: int = 0) -> np.ndarray:
    """``estimator``'s exponent of each seed's test-image spectrum."""
    return np.array([estimator.fit(r.arrays[f"spectrum_{layer}"]) for r in runs])


def median_log_ratio(spectrum: np.ndarray, estimator: Estimator, tau: int, alpha: float) -> float:
    """Median of |log(lambda_n / gamma_n)| over the estimator's window (gamma anchored at rank tau + 1, as Eq. 2);
    inf where an eigenvalue there is not positive."""
    ranks, ratio = target_ratio(spectrum, tau, alpha)
    keep = (ranks >= estimator.lo) & (ranks <= estimator.hi)
    ratio = ratio[keep]
    if ratio.size == 0:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(ratio > 0, np.abs(np.log(np.where(ratio > 0, ratio, 1.0))), np.inf)
    return float(np.median(distance))


@dataclass(frozen=True)
class Check:
    """A layer's spectrum against a target exponent, by the gate's estimator: the fitted exponent per seed, the
    interval of their mean (t over seeds, or the first seed's bootstrap interval with one seed), the median
    |log lambda/gamma| per seed, unusable eigenvalues (NaN, negative, zero) summed over seeds, and whether every
    seed reached the target (|fitted - target| <= 0.1 and median <= log 2)."""

    target: float
    fitted: np.ndarray
    low: float
    high: float
    log_ratio: np.ndarray
    unusable: tuple[int, int, int]
    reached: bool

    @property
    def mean(self) -> float:
        return float(np.mean(self.fitted))


def check(runs: Sequence[CachedResult], estimator: Estimator, target: float, tau: int = 10, layer: int = 0) -> Check:
    """:class:`Check` of ``runs`` against the power law of exponent ``target`` anchored at rank tau + 1."""
    fitted = seed_exponents(runs, estimator, layer)
    ratios = np.array([median_log_ratio(r.arrays[f"spectrum_{layer}"], estimator, tau, target) for r in runs])
    counts = [nonpositive_count(r.arrays[f"spectrum_{layer}"]) for r in runs]
    unusable = tuple(int(sum(c[k] for c in counts)) for k in ("nan", "negative", "zero"))
    if len(runs) > 1 and np.all(np.isfinite(fitted)):
        _, low, high = t_interval(fitted)
    else:
        _, low, high = exponent(runs[0], estimator, layer)
    reached = bool(unusable[0] == 0 and np.all(np.abs(fitted - target) <= REACHED_ALPHA_TOLERANCE)
                   and np.all(ratios <= REACHED_LOG_RATIO))
    return Check(float(target), fitted, low, high, ratios, unusable, reached)  # type: ignore[arg-type]


def band_ratios(spectrum: np.ndarray, tau: int = 10, alpha: float = 1.0,
                bands: Sequence[tuple[int, int]] = BANDS) -> np.ndarray:
    """Median lambda_n / gamma_n in each rank band (NaN for a band past the spectrum's end)."""
    ranks, ratio = target_ratio(spectrum, tau, alpha)
    out = []
    for lo, hi in bands:
        keep = (ranks >= lo) & (ranks <= hi)
        out.append(float(np.median(ratio[keep])) if keep.any() else math.nan)
    return np.array(out)


# ----------------------------------------------------------------------------------------------------------------
# Vanilla's frontier


def _clean_and_eps50(correct: np.ndarray, eps: np.ndarray, images: np.ndarray | None = None) -> tuple[float, float]:
    """(clean accuracy, PGD eps50) of per-image outcomes [n_eps, N] (row 0 at eps 0: the clean outcome), optionally
    on a resample of the images."""
    o = correct if images is None else correct[:, images]
    return float(o[0].mean()), eps_at_half_of_outcomes(eps, o)


@dataclass(frozen=True)
class Frontier:
    """Vanilla's accuracy-robustness frontier: PGD eps50 as a function of clean accuracy, from Vanilla stopped after
    different numbers of epochs. ``points`` holds each training length's runs (the seeds it has)."""

    points: dict[int, list[CachedResult]]

    def curve(self, images: np.ndarray | None = None, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy, eps50) of each training length, sorted by accuracy: that of ``seed`` where the length has it,
        else the mean over its seeds (on a resample of the attacked images if given)."""
        acc, e50 = [], []
        for runs in self.points.values():
            own = [r for r in runs if seed is not None and seed_of(r) == seed]
            pairs = [_clean_and_eps50(r.arrays["correct_pgd"], r.arrays["eps_pgd"], images) for r in own or runs]
            acc.append(np.mean([p[0] for p in pairs]))
            e50.append(np.mean([p[1] for p in pairs]))
        order = np.argsort(acc)
        return np.asarray(acc)[order], np.asarray(e50)[order]

    @staticmethod
    def place(runs: Sequence[CachedResult]) -> tuple[float, float]:
        """Where ``runs`` (one network's seeds) sit on the frontier's axes: mean clean accuracy and mean PGD eps50,
        both on the attacked images as the frontier's own points are measured (seeds whose curve never falls to half
        left out of the eps50; NaN if none does)."""
        pairs = [_clean_and_eps50(r.arrays["correct_pgd"], r.arrays["eps_pgd"]) for r in runs]
        finite = [e for _, e in pairs if math.isfinite(e)]
        return float(np.mean([a for a, _ in pairs])), float(np.mean(finite)) if finite else math.nan

    def at(self, accuracy: float, images: np.ndarray | None = None) -> float:
        """The frontier's eps50 at ``accuracy`` (linear in accuracy between its points); NaN outside their range."""
        acc, e50 = self.curve(images)
        if not acc[0] <= accuracy <= acc[-1]:
            return math.nan
        return float(np.interp(accuracy, acc, e50))


def frontier_panel(ax: plt.Axes, results: Mapping[str, Sequence[CachedResult]], frontier: Frontier,
                   scale: float = 1.0, colour_of: Mapping[str, str] | None = None) -> None:
    """Draw on ``ax`` PGD eps50 (times ``scale``) against clean accuracy, both on the attacked images: ``frontier``
    dashed and each network of ``results`` as a labelled point (:meth:`Frontier.place`; a network whose curve never
    falls to half is left out)."""
    accuracy, e50 = frontier.curve()
    ax.plot(accuracy, scale * e50, "k--", marker="o", lw=1, label="Vanilla's frontier (stopped early)")
    for name, runs in results.items():
        x, y = Frontier.place(runs)
        if not math.isfinite(y):
            continue
        ax.scatter([x], [scale * y], s=30, color=None if colour_of is None else colour_of[name], zorder=3)
        ax.annotate(name, (x, scale * y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("clean accuracy (attacked images)")
    ax.legend(fontsize=8)


@dataclass(frozen=True)
class Effect:
    """An eps50 effect per seed, with its 95% interval over seeds and test images (NaN seeds left out)."""

    per_seed: np.ndarray
    mean: float
    low: float
    high: float

    @property
    def n_seeds(self) -> int:
        return int(np.isfinite(self.per_seed).sum())

    def verdict(self, expected_sign: int) -> str:
        """:func:`onen.analysis.stats.verdict_from_interval`, or "outside the frontier" where no seed could be placed."""
        if self.per_seed.size and self.n_seeds == 0:
            return "outside the frontier"
        return verdict_from_interval(self.n_seeds, self.mean, self.low, self.high, expected_sign)

    def text(self, digits: int = 4) -> str:
        return fmt_interval(self.mean, self.low, self.high, digits)


def _same_images(runs: Sequence[CachedResult]) -> int:
    """The number of attacked images every run stores outcomes for; ValueError if they differ (a paired bootstrap
    resamples the same images in every network)."""
    counts = {r.arrays["correct_pgd"].shape[1] for r in runs}
    if len(counts) != 1:
        raise ValueError(f"the networks of a contrast were attacked on different numbers of images: {sorted(counts)}")
    return counts.pop()


def above_frontier(terms: Sequence[tuple[float, Sequence[CachedResult]]], frontier: Frontier,
                   n_boot: int = 200, seed: int = 0) -> Effect:
    """:func:`above_frontiers` with one frontier for every term (networks of one architecture)."""
    return above_frontiers([(sign, runs, frontier) for sign, runs in terms], n_boot=n_boot, seed=seed)


def above_frontiers(terms: Sequence[tuple[float, Sequence[CachedResult], Frontier]],
                    n_boot: int = 200, seed: int = 0) -> Effect:
    """sum(sign * (eps50 - frontier(clean accuracy))) of networks paired by position (the caller pairs the seeds,
    :func:`onen.analysis.report.common_seeds`), each term against its own architecture's frontier: how much more
    robust than Vanilla at the same clean accuracy, each seed's network against the frontier of the same seed where
    it exists (so a Vanilla on it has exactly 0), and NaN for a seed whose accuracy lies outside the frontier's
    range. The interval adds the spread over seeds and a paired bootstrap over the attacked images (every network
    and every frontier's points resampled alike)."""
    n = min(len(runs) for _, runs, _ in terms)

    def contrast(images: np.ndarray | None) -> np.ndarray:
        total = np.zeros(n)
        for sign, runs, frontier in terms:
            for s, r in enumerate(runs[:n]):
                acc_f, e50_f = frontier.curve(images, seed_of(r))  # the frontier of the same seed where it exists
                acc, e50 = _clean_and_eps50(r.arrays["correct_pgd"], r.arrays["eps_pgd"], images)
                inside = acc_f[0] <= acc <= acc_f[-1]
                total[s] += sign * (e50 - float(np.interp(acc, acc_f, e50_f)) if inside else math.nan)
        return total

    frontiers = list({id(f): f for _, _, f in terms}.values())
    n_images = _same_images([r for _, runs, _ in terms for r in runs[:n]]
                            + [r for f in frontiers for runs in f.points.values() for r in runs])
    per_seed = contrast(None)
    finite = per_seed[np.isfinite(per_seed)]
    if finite.size == 0:
        return Effect(per_seed, math.nan, math.nan, math.nan)

    def statistic(images: np.ndarray) -> float:
        values = contrast(images)
        return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan

    image_se = bootstrap_se(statistic, n_images, n_boot=n_boot, seed=seed)
    mean, low, high = combined_interval(finite, image_se if np.isfinite(image_se) else 0.0)
    return Effect(per_seed, mean, low, high)


def raw_effect(terms: Sequence[tuple[float, Sequence[CachedResult]]], n_boot: int = 200, seed: int = 0) -> Effect:
    """sum(sign * eps50) of networks paired by position, with the same interval as :func:`above_frontier`."""
    n = min(len(runs) for _, runs in terms)

    def contrast(images: np.ndarray | None) -> np.ndarray:
        total = np.zeros(n)
        for sign, runs in terms:
            for s, r in enumerate(runs[:n]):
                total[s] += sign * _clean_and_eps50(r.arrays["correct_pgd"], r.arrays["eps_pgd"], images)[1]
        return total

    n_images = _same_images([r for _, runs in terms for r in runs[:n]])
    per_seed = contrast(None)
    finite = per_seed[np.isfinite(per_seed)]
    if finite.size == 0:
        return Effect(per_seed, math.nan, math.nan, math.nan)
    image_se = bootstrap_se(lambda i: float(np.nanmean(contrast(i))), n_images, n_boot=n_boot, seed=seed)
    mean, low, high = combined_interval(finite, image_se if np.isfinite(image_se) else 0.0)
    return Effect(per_seed, mean, low, high)


def contrast_pair(results: Results, treated: str, reference: str, frontier: Frontier) -> tuple[Effect, Effect]:
    """(raw eps50 effect, effect above the frontier) of ``treated`` minus ``reference``, paired by seed."""
    paired = common_seeds(results, [treated, reference])
    terms = [(+1.0, paired[treated]), (-1.0, paired[reference])]
    return raw_effect(terms), above_frontier(terms, frontier)


def claims_table(results: Results, claims: Sequence[tuple[str, str, int, str]], frontier: Frontier,
                 gate: Mapping[str, bool], caption: str) -> tuple[Table, dict[str, tuple[Effect, Effect]]]:
    """Each claim (treated, reference, claimed sign, its words) judged twice: on the raw eps50 contrast and above
    Vanilla's frontier. A claim about a 1/n layer (a name in ``gate``) is judged only where ``gate`` says the
    treated network's layer passed its spectrum check; otherwise its verdict reads "not tested". Returns the table
    and the effects by claim (its words: one network can be treated in several claims)."""
    rows, effects = [], {}
    for treated, reference, sign, words in claims:
        if treated not in results or reference not in results or not common_seeds(results, [treated, reference])[treated]:
            rows.append([words, treated, reference, "0", "—", "missing", "—", "missing"])
            continue
        raw, above = contrast_pair(results, treated, reference, frontier)
        effects[words] = (raw, above)
        gated = treated in gate and not gate[treated]
        verdict_raw = "not tested" if gated else raw.verdict(sign)
        verdict_above = "not tested" if gated else above.verdict(sign)
        rows.append([words, treated, reference, str(raw.n_seeds), raw.text(), verdict_raw, above.text(),
                     verdict_above])
    header = ["claim", "treated", "reference", "seeds", "Δ eps50 [95%]", "verdict", "Δ above frontier [95%]",
              "verdict above frontier"]
    notes = ["Δ: treated minus reference, PGD-40 eps50 in pixel units, paired by seed; intervals over seeds (t) and "
             "the attacked test images (paired bootstrap).",
             "above frontier: each network's eps50 minus Vanilla's eps50 at the same clean accuracy (its frontier); "
             "n/a where a network's accuracy is outside the frontier's range.",
             "not tested: the treated network's layer did not pass its spectrum check."]
    return Table(header, rows, caption=caption, notes=notes), effects


def dose_finding(effects: Mapping[str, tuple[Effect, Effect]], steps: Sequence[tuple[float, float, str]],
                 peak: Sequence[tuple[float, str]]) -> str:
    """The dose-response in one sentence, from the raw eps50 effects of ``claims_table``: whether eps50 rises at
    every step up in the shaped exponent (``steps``: (lower alpha, higher alpha, claim words)), and whether alpha = 1
    beats each neighbour (``peak``: (neighbour's alpha, claim words)); with the fewest seeds any effect rests on and,
    with one seed, that no verdict can be given yet."""
    done = [(a, b, effects[w][0]) for a, b, w in steps if w in effects and effects[w][0].n_seeds]
    if not done:
        return "not computed yet"
    falls = [f"{a:g} → {b:g}" for a, b, e in done if not e.mean > 0]
    chain = " → ".join(f"{a:g}" for a, _, _ in done) + f" → {done[-1][1]:g}"
    words = ([f"ε50 rises at every step of the shaped exponent ({chain})"] if not falls else
             [f"ε50 does not rise at every step of the shaped exponent ({chain}): it falls or stays at "
              + ", ".join(falls)])
    against = [(a, effects[w][0]) for a, w in peak if w in effects and effects[w][0].n_seeds]
    if against:
        won = [f"{'beats' if e.mean > 0 else 'loses to'} α = {a:g} by {abs(e.mean):.4f}" for a, e in against]
        is_peak = len(against) == 2 and all(e.mean > 0 for _, e in against)
        words.append(f"α = 1 {'is' if is_peak else 'is not'} a peak: it " + " and ".join(won))
    counts = [e.n_seeds for _, _, e in done] + [e.n_seeds for _, e in against]
    fewest, most = min(counts), max(counts)
    tail = ("one seed, so every verdict still reads \"not enough seeds\"" if most == 1 else
            f"at least {fewest} seeds per effect; the verdicts are in the table" if fewest > 1 else
            f"1 to {most} seeds per effect: those on one seed read \"not enough seeds\", the others' verdicts are "
            "in the table")
    return "; ".join(words) + f" ({tail})"


# ----------------------------------------------------------------------------------------------------------------
# the dose-response


@dataclass(frozen=True)
class Trend:
    """Least-squares line of eps50 on the measured exponent over every (network, seed) point, with the slope's 95%
    t-interval (n - 2 degrees of freedom)."""

    slope: float
    intercept: float
    low: float
    high: float
    n_points: int


def trend(alphas: np.ndarray, values: np.ndarray) -> Trend:
    """:class:`Trend` of ``values`` on ``alphas`` (finite pairs only; NaN slope with fewer than 3)."""
    from scipy import stats as _stats

    x, y = np.asarray(alphas, dtype=np.float64), np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0:
        return Trend(math.nan, math.nan, math.nan, math.nan, int(x.size))
    fit = _stats.linregress(x, y)
    half = float(_stats.t.ppf(0.975, x.size - 2) * fit.stderr)
    return Trend(float(fit.slope), float(fit.intercept), fit.slope - half, fit.slope + half, int(x.size))


def scatter_points(results: Results, estimator: Estimator) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per network: (measured exponent, clean accuracy, PGD eps50), one entry per seed."""
    out = {}
    for name, runs in results.items():
        alphas = seed_exponents(runs, estimator)
        acc = np.array([r.meta["clean_accuracy"] for r in runs])
        e50 = np.array([eps50(r) for r in runs])
        out[name] = (alphas, acc, e50)
    return out


def dose_in_words(points: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], names: Sequence[str]) -> str:
    """``names`` (those in ``points``) in order of their mean measured exponent, each as "name (α a): ε50 e", means
    over seeds with the seed count; a network without a finite exponent (Whitened's flat spectrum) comes first."""
    found = [n for n in names if n in points and len(points[n][2])]
    if not found:
        return "not computed yet"

    def mean(values: np.ndarray) -> float:
        finite = values[np.isfinite(values)]
        return float(np.mean(finite)) if finite.size else math.nan

    order = sorted(found, key=lambda n: (not math.isnan(mean(points[n][0])), mean(points[n][0])))
    words = []
    for name in order:
        alpha, e50 = mean(points[name][0]), mean(points[name][2])
        seeds = len(points[name][2])
        measured = "" if math.isnan(alpha) else f" (α {alpha:.2f})"
        words.append(f"{name}{measured}: ε50 {e50:.4f}" + (f" ({seeds} seeds)" if seeds > 1 else " (1 seed)"))
    return "; ".join(words)


def central_figure(points: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], colour_of: Mapping[str, str],
                   frontier: Frontier | None, fitted: Trend | None, bound: float, shaped: Sequence[str]) -> Figure:
    """Three panels: PGD eps50 and clean accuracy against the measured exponent (every seed a small dot, the mean
    over seeds a large marker with its t-interval where there are 2 seeds or more; the shaped networks' trend;
    the target 1 and the smoothness bound 1 + 2/d), then eps50 against clean accuracy with Vanilla's frontier."""

    fig, axes = plt.subplots(1, 3, figsize=(14, 5.2))
    for name, (alphas, acc, e50) in points.items():
        colour = colour_of[name]
        marker = "o" if name in shaped else "s"
        for ax, y in ((axes[0], e50), (axes[1], acc)):
            ax.scatter(alphas, y, s=10, color=colour, alpha=0.5)
            finite = np.isfinite(y) & np.isfinite(alphas)
            if finite.sum() >= 1:
                mean = float(np.mean(y[finite]))
                err = None
                if finite.sum() >= 2:
                    _, low, high = t_interval(y[finite])
                    err = [[mean - low], [high - mean]]
                ax.errorbar([np.mean(alphas[finite])], [mean], yerr=err, fmt=marker, color=colour, ms=7,
                            capsize=3, label=name if ax is axes[0] else None)
        axes[2].scatter(acc, e50, s=10, color=colour, alpha=0.5)
        axes[2].plot([np.mean(acc)], [np.nanmean(e50)], marker, color=colour, ms=7)
    if fitted is not None and np.isfinite(fitted.slope):
        xs = np.linspace(*axes[0].get_xlim(), 50)
        axes[0].plot(xs, fitted.intercept + fitted.slope * xs, color="0.3", lw=1, ls=":",
                     label=f"trend of shaped nets: slope {fitted.slope:+.4f} [{fitted.low:+.4f}, {fitted.high:+.4f}]")
    for ax in axes[:2]:
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.axvline(bound, color="tab:red", ls="-.", lw=1)
        ax.set_xlabel("measured α (gate estimator, test images)")
    axes[0].set_ylabel("PGD-40 ε50 (pixels)")
    axes[1].set_ylabel("clean accuracy")
    if frontier is not None:
        acc_f, e50_f = frontier.curve()
        axes[2].plot(acc_f, e50_f, "k-", lw=1.5, label="Vanilla's frontier (stopped early)")
        axes[2].legend(fontsize=7)
    axes[2].set_xlabel("clean accuracy")
    axes[2].set_ylabel("PGD-40 ε50 (pixels)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return fig


def band_figure(results: Results, colour_of: Mapping[str, str], targets: Mapping[str, float]) -> Figure:
    """Median lambda_n / gamma_n per rank band (first seed's test spectrum), one group of bars per band, against each
    network's own target exponent (``targets``)."""
    fig, ax = plt.subplots(figsize=(12, 3.8))
    names = list(results)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        ratios = band_ratios(results[name][0].arrays["spectrum_0"], 10, targets[name])
        ax.bar(np.arange(len(BANDS)) + i * width, ratios, width, color=colour_of[name], label=name)
    ax.axhline(1.0, color="k", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(BANDS)) + 0.4 - width / 2)
    ax.set_xticklabels([f"ranks {lo}-{hi}" for lo, hi in BANDS])
    ax.set_ylabel("median λ_n / γ_n")
    ax.legend(fontsize=6, ncol=4)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
# the audit


def audit_table(audits: Mapping[str, Sequence[CachedResult]], eps: float, caption: str) -> Table:
    """One row per audited network: seeds, clean accuracy, PGD-40 and the worst case over every attack at ``eps``
    (mean over seeds), the attack that was strongest most often at that radius, the largest gap between PGD-40 and
    the worst case over the grid, and the masking flags raised in any seed (with how many seeds raised each)."""
    rows = []
    for name, runs in audits.items():
        k = int(np.argmin(np.abs(runs[0].arrays["eps"] - eps)))
        clean = np.mean([r.meta["clean_accuracy"] for r in runs])
        pgd = np.mean([r.arrays["pgd"][k] for r in runs])
        worst = np.mean([r.arrays["worst"][k] for r in runs])
        gap = max(float(np.max(r.arrays["pgd"] - r.arrays["worst"])) for r in runs)
        attacks = [a for a in ("pgd", "pgd_restarts", "apgd_ce", "apgd_t", "square", "transfer")
                   if a in runs[0].arrays]
        strongest = [min(attacks, key=lambda a: float(r.arrays[a][k])) for r in runs]
        raised: dict[str, int] = {}
        for r in runs:
            for flag, on in r.meta["flags"].items():
                if on and flag != "any":
                    raised[flag] = raised.get(flag, 0) + 1
        flags = ", ".join(f"{f} ({c}/{len(runs)})" for f, c in sorted(raised.items())) or "none"
        rows.append([name, str(len(runs)), f"{clean:.3f}", f"{pgd:.3f}", f"{worst:.3f}",
                     max(set(strongest), key=strongest.count), f"{gap:.3f}", flags])
    header = ["network", "seeds", "clean", f"PGD-40 at ε={eps:g}", f"worst case at ε={eps:g}", "strongest there",
              "largest PGD − worst", "masking flags"]
    return Table(header, rows, caption=caption)


# ----------------------------------------------------------------------------------------------------------------
# the paper profile's committed networks, loaded once for the control chapter and the verdicts chapter


NEAR_SECTION = ("Vanilla", "Whitened", "SpecReg β=5", "SpecReg β=5 tracked", "SpecReg-BN β=1",
                "SpecReg β=20 tracked lr=1e-02")


@dataclass
class PaperControl:
    """What the paper profile has committed for the control chapter, and the claims judged on it.

    shallow: section 4.1's networks; shaped: the shaped networks (control evaluation); frontier_runs: Vanilla stopped
    early; status: one row per control network ("CPU"/"GPU"/"missing" per seed); frontier: Vanilla's frontier
    (None with fewer than two training lengths); passes: per shaped network and per penalized 4.1 network, whether
    its layer passes the check by ``gate`` against its own target; claims: the claims, each (treated, reference, sign,
    words); table, verdicts and effects: the claims table, and the (raw, above the frontier) verdicts and effects of
    each claim by its words."""

    gate: Estimator
    shallow: dict[str, list[CachedResult]]
    shaped: dict[str, list[CachedResult]]
    frontier_runs: dict[str, list[CachedResult]]
    status: list[list[str]]
    frontier: Frontier | None
    passes: dict[str, bool]
    claims: list[tuple[str, str, int, str]]
    table: Table | None
    verdicts: dict[str, tuple[str, str]]
    effects: dict[str, tuple[Effect, Effect]]


def paper_claims(shaped_name) -> list[tuple[str, str, int, str]]:  # noqa: ANN001 - profiles.shaped_name
    """The claims the control chapter judges: C1 on the shaped 1/n layer, 1/n against a smoother shaped layer, C2 on
    the flatter shaped layer, then every claim of section 4.1 (:func:`onen.analysis.profiles.shallow_claims`)."""

    return [(shaped_name(1.0), "Vanilla", +1, "C1: a 1/n layer is more robust than Vanilla"),
            (shaped_name(1.0), shaped_name(2.0), +1, "1/n rather than a smoother α=2"),
            (shaped_name(0.5), "Vanilla", -1, "C2 (shaped): a flatter α=0.5 layer hurts"),
            *[(t, r, sign, f"4.1: {t} {'beats' if sign > 0 else 'is below'} {r}")
              for t, r, sign in profiles.shallow_claims("paper")]]


def paper_control(gate: Estimator) -> PaperControl:
    """Load the committed paper-profile networks (never trains) and judge :func:`paper_claims` on them, raw and above
    Vanilla's frontier. A claim about a 1/n layer is gated on its layer's check by ``gate`` (a shaped layer against
    its own exponent, a penalized one against 1); the Whitened network is judged as whitening."""

    folder, seeds = str(profiles.committed_results("paper")), profiles.seeds("paper")
    shallow, _ = stored_seeds(profiles.shallow_variants("paper"), profiles.evaluation("paper"), seeds, folder)
    variants = profiles.control_variants("paper")
    shaped_cfg = {n: c for n, c in variants.items() if c.shape_after is not None}
    shaped, shaped_rows = stored_seeds(shaped_cfg, profiles.control_evaluation("paper"), seeds, folder)
    early = {n: c for n, c in variants.items() if c.shape_after is None}
    frontier_runs, frontier_rows = stored_seeds(early, profiles.evaluation("paper"), seeds, folder)
    points = {variants[n].epochs: runs for n, runs in frontier_runs.items()}
    if "Vanilla" in shallow:
        points[profiles.shallow_variants("paper")["Vanilla"].epochs] = list(shallow["Vanilla"])
    frontier = Frontier(points) if len(points) >= 2 else None
    passes = {n: check(runs, gate, shaped_cfg[n].shape_alpha, tau=shaped_cfg[n].tau).reached
              for n, runs in shaped.items()}
    passes.update({t: check(shallow[t], gate, 1.0).reached for t, _, _ in profiles.shallow_claims("paper")
                   if t in shallow and t != "Whitened"})
    claims = paper_claims(profiles.shaped_name)
    table, verdicts, effects = None, {}, {}
    if frontier is not None:
        everyone = {**shallow, **shaped, **{profiles.shaped_name(a): shaped.get(profiles.shaped_name(a), [])
                                            for a in (0.5, 1.0, 2.0)}}
        table, effects = claims_table(everyone, claims, frontier, passes,
                                      "The paper's claims, raw and above Vanilla's frontier (paper profile)")
        verdicts = {c[3]: (row[5], row[7]) for c, row in zip(claims, table.rows)}
    return PaperControl(gate, shallow, shaped, frontier_runs, shaped_rows + frontier_rows, frontier, passes, claims,
                        table, verdicts, effects)


def calibration_and_gate(profile: str, results_dir: str) -> tuple[object, CachedResult, Estimator, bool]:
    """The paper profile's committed calibration where it exists, else ``profile``'s own (computed under
    ``results_dir`` when missing), and the gate's estimator it chose: (config, result, gate, whether the rule found
    one; if not, the figures' 1/n-weighted fit over ranks 11-500 stands in)."""

    config = profiles.calibration_config("paper")
    result = stored_calibration(config, str(profiles.committed_results("paper")))
    if result is None:
        config = profiles.calibration_config(profile)
        result = calibration_result(config, results_dir)
    chosen = gate_of(result)
    return config, result, chosen or Estimator("1/n", 11, 500), chosen is not None
