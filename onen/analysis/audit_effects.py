"""Does a regularizer's eps50 advantage over its baseline survive the strongest attack? Each regularized network of
the audit (:mod:`onen.analysis.audit_report`) is set against its baseline, paired by seed, on eps50 under PGD-1 and
under the per-image worst case over every attack, with 95% intervals over seeds and a paired bootstrap over the
audited images; the gap closed is the first difference minus the second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from onen.analysis import profiles
from onen.analysis.audit_report import FAMILIES, Audits, Radii, accuracy, eps50_term
from onen.analysis.names import variant_of
from onen.analysis.stats import PairedContrast, paired_contrast
from onen.analysis.tables import Table

BOOTSTRAP = 400  # image resamples of every interval
VERDICT_WORDS = ("reproduced", "contradicted", "not resolved", "not enough seeds", "not tested")


def contrasts(profile: str) -> list[tuple[str, str]]:
    """(architecture, regularized network) of every contrast the audit reads: section 4.1's SpecReg at each beta and
    basis, SpecReg-BN and the pair nearest 1/n; the deep networks' SpecReg on the last and on all layers at each beta
    of the profile, and Jacobian regularization."""
    out = []
    for b in (1, 2, 5):
        out += [("shallow", f"shallow SpecReg β={b}"), ("shallow", f"shallow SpecReg β={b} tracked")]
    out.append(("shallow", "shallow SpecReg-BN β=1"))
    out.append(("shallow", f"shallow {profiles.nearest_pair(profile)[1]}"))
    for family in ("MLP", "CNN"):
        for b in profiles.deep_betas(profile):
            out += [(family, f"{family} {profiles.beta_name('SpecReg (last)', b)}"),
                    (family, f"{family} {profiles.beta_name('SpecReg (all)', b)}")]
        out.append((family, f"{family} Jacobian"))
    return out


@dataclass(frozen=True)
class Effect:
    """One regularized network against its ``baseline``: the paired contrasts of eps50 under PGD-1 (``pgd``) and
    under the worst case (``worst``), the gap closed (``closed``: the first minus the second), the accuracy
    difference in points at the radius ``eps_half`` under each (``acc``, keys "pgd" and "worst") and the number of
    paired seeds ``n`` (finite under the worst case)."""

    baseline: str
    pgd: PairedContrast
    worst: PairedContrast
    closed: PairedContrast
    acc: dict[str, float]
    eps_half: float
    n: int

    @property
    def share_closed(self) -> float:
        """The gap closed as a share of the PGD-1 advantage (NaN where PGD-1 shows none)."""
        return self.closed.mean / self.pgd.mean if self.pgd.mean > 0 else math.nan

    @property
    def verdict(self) -> str:
        """The verdict of the chapter "What reproduced" on the worst-case difference, claimed sign positive."""
        return self.worst.verdict(+1) if np.isfinite(self.worst.mean) else "not tested"


def effect(audits: Audits, name: str, baseline: str, eps: np.ndarray, k_half: int) -> Effect:
    """:class:`Effect` of ``name`` against ``baseline`` over the seeds both have (the first of each)."""
    n = min(len(audits[name]), len(audits[baseline]))
    runs, base_runs = audits[name][:n], audits[baseline][:n]
    net = {a: eps50_term(+1, runs, a, eps) for a in ("pgd", "worst")}
    ref = {a: eps50_term(-1, base_runs, a, eps) for a in ("pgd", "worst")}
    worst = paired_contrast([net["worst"], ref["worst"]], n_boot=BOOTSTRAP)
    # the part of the PGD-1 gap the worst case takes away: (net - base under PGD-1) - (net - base, worst case)
    closed = paired_contrast([net["pgd"], ref["pgd"], eps50_term(-1, runs, "worst", eps),
                              eps50_term(+1, base_runs, "worst", eps)], n_boot=BOOTSTRAP)
    acc = {a: 100 * (np.mean([r.arrays[f"correct_{a}"][k_half].mean() for r in runs])
                     - np.mean([r.arrays[f"correct_{a}"][k_half].mean() for r in base_runs])) for a in ("pgd", "worst")}
    return Effect(baseline, paired_contrast([net["pgd"], ref["pgd"]], n_boot=BOOTSTRAP), worst, closed, acc,
                  float(eps[k_half]), worst.n_seeds)


def effects(audits: Audits, eps: np.ndarray, at: Mapping[str, Radii], profile: str) -> dict[str, Effect]:
    """:func:`effect` of every contrast of :func:`contrasts`, read at its architecture's radius ``k_half``, against
    :func:`onen.analysis.profiles.reference_network`."""
    return {name: effect(audits, name, profiles.reference_network(name, profile), eps, at[family].k_half)
            for family, name in contrasts(profile)}


def _cell(v: PairedContrast) -> str:
    if not np.isfinite(v.mean):
        return "—"
    return f"{v.mean:+.4f}" + ("" if not np.isfinite(v.low) else f" [{v.low:+.4f}, {v.high:+.4f}]")


def effects_table(found: Mapping[str, Effect], n_images: int, profile: str) -> Table:
    """Every contrast: the accuracy difference at its radius, the eps50 differences under PGD-1 and the worst case,
    the gap closed and its share, the seeds and the verdict."""
    rows = [[name, variant_of(e.baseline), f"{e.eps_half:g}", f"{e.acc['pgd']:+.1f} → {e.acc['worst']:+.1f}",
             _cell(e.pgd), _cell(e.worst), _cell(e.closed),
             "—" if not np.isfinite(e.share_closed) else f"{round(100 * e.share_closed):d}%", str(e.n), e.verdict]
            for name, e in found.items()]
    return Table(["network", "against", "ε½", "Δ accuracy at ε½, PGD-1 → worst", "Δε50 under PGD-1",
                  "Δε50 under worst case", "gap closed", "share closed", "seeds", "verdict (worst case)"], rows,
                 caption=f"Regularized minus baseline ε50 (pixel units), {profile} profile, with 95% intervals",
                 notes=[f"Intervals: seeds (t) combined with a paired bootstrap over the {n_images} audited images "
                        f"({BOOTSTRAP} resamples); with one seed, images only.",
                        "Gap closed: Δε50 under PGD-1 minus Δε50 under the worst case; share closed: that over "
                        "Δε50 under PGD-1 (only where PGD-1 shows an advantage).",
                        "ε½: the grid radius closest to the architecture's Vanilla PGD-1 ε50; Δ accuracy in points, "
                        "mean over seeds."])


def pair_values(found: Mapping[str, Effect], pairs: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """The numbers of the network shown attack by attack in each architecture (:func:`onen.analysis.audit_report.
    shown_pairs`), by glue key."""
    values = {}
    for family, (_, spec) in pairs.items():
        e, key = found[spec], family.lower()
        values.update({
            f"audit-{key}-spec-name": spec, f"audit-{key}-d-pgd": f"{e.pgd.mean:+.4f}",
            f"audit-{key}-d-worst": f"{e.worst.mean:+.4f}",
            f"audit-{key}-d-worst-ci": f"[{e.worst.low:+.4f}, {e.worst.high:+.4f}]",
            f"audit-{key}-closed": f"{e.closed.mean:+.4f}",
            f"audit-{key}-closed-ci": f"[{e.closed.low:+.4f}, {e.closed.high:+.4f}]",
            f"audit-{key}-acc": f"{e.acc['pgd']:+.1f} → {e.acc['worst']:+.1f}",
            f"audit-{key}-share": "—" if not np.isfinite(e.share_closed) else f"{100 * e.share_closed:.0f}%"})
    return values


def count_values(found: Mapping[str, Effect], audits: Audits) -> dict[str, str]:
    """How many spectrally regularized networks lead under PGD-1, still lead under the worst case, and do so with an
    interval that excludes zero; the largest drop from PGD-1 to the worst case over every network, by glue key."""
    spectral = [n for n in found if "SpecReg" in n]
    positive = [n for n in spectral if found[n].pgd.mean > 0]
    survive = [n for n in positive if found[n].worst.mean > 0]
    excluded = [n for n in survive if found[n].worst.low > 0]
    gap = {n: (accuracy(audits[n], "pgd") - accuracy(audits[n], "worst")).max() for n in audits}
    largest = max(gap, key=gap.get)
    return {"audit-n-spectral": f"{len(spectral)}", "audit-n-positive": f"{len(positive)}",
            "audit-n-survive": f"{len(survive)}", "audit-n-excluded": f"{len(excluded)}",
            "audit-largest-gap": f"{100 * gap[largest]:.1f}", "audit-largest-gap-name": largest}


def in_words(family: str, e: Effect) -> str:
    """One plain sentence on whether an advantage under PGD-1 survives the worst case."""
    d_pgd, d_worst, low = e.pgd.mean, e.worst.mean, e.worst.low
    if not (np.isfinite(d_pgd) and np.isfinite(d_worst)):
        return f"in the {family} net a curve never falls to half, so ε50 cannot be compared"
    if d_pgd <= 0:
        return f"in the {family} net there is no advantage under PGD-1 to begin with ({d_pgd:+.4f})"
    closed = 100 * (d_pgd - d_worst) / d_pgd
    if low > 0:
        return (f"in the {family} net the advantage survives the worst case ({d_pgd:+.4f} → {d_worst:+.4f}, "
                f"{closed:.0f}% of it closed; its interval excludes zero)")
    if d_worst > 0:
        return (f"in the {family} net the advantage shrinks ({d_pgd:+.4f} → {d_worst:+.4f}, {closed:.0f}% closed) "
                f"and its interval now includes zero")
    return f"in the {family} net the advantage vanishes under the worst case ({d_pgd:+.4f} → {d_worst:+.4f})"


def plain_words(found: Mapping[str, Effect], pairs: Mapping[str, tuple[str, str]]) -> str:
    """:func:`in_words` for each architecture's shown network, as one capitalised sentence (Markdown)."""
    text = "; ".join(in_words(FAMILIES[f], found[pairs[f][1]]) for f in pairs)
    return text[0].upper() + text[1:] + "."


def verdict_words(found: Mapping[str, Effect]) -> str:
    """How many contrasts got each verdict, e.g. "2 not resolved, 11 not enough seeds" (Markdown)."""
    verdicts = [e.verdict for e in found.values()]
    return ", ".join(f"{sum(v.startswith(w) for v in verdicts)} {w}" for w in VERDICT_WORDS
                     if any(v.startswith(w) for v in verdicts))


def seed_words(n_seeds: int, n_images: int) -> str:
    """What the intervals cover (Markdown)."""
    if n_seeds < 2:
        return ("With one seed every verdict is \"not enough seeds\": the intervals measure how precisely these "
                f"{n_images} images measure these networks, and say nothing about another training run.")
    return f"The intervals cover {n_seeds} seeds and the test images."
