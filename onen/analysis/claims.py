"""The paper's claims as the chapter "What reproduced" judges them on one profile's networks: each claim a signed sum
of networks' PGD eps50 (a contrast or an interaction), judged raw and above each architecture's accuracy-robustness
frontier (Vanilla stopped early: :func:`onen.analysis.profiles.frontier_variants`), with the gates that make a claim
"not tested".

Networks are named as the chapter loads them: "shallow <variant>", "MLP <variant>", "CNN <variant>".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from onen.analysis import control, profiles, report
from onen.analysis.names import family_of
from onen.analysis.stats import PairedContrast, paired_contrast
from onen.cache import CachedResult
from onen.runs.config import EvalConfig
from onen.runs.experiments import run_seeds

Nets = Mapping[str, Sequence[CachedResult]]
PREFIXES = {"shallow": "shallow", "mlp": "MLP", "cnn": "CNN"}


@dataclass(frozen=True)
class Claim:
    """One claim in one setting: ``terms`` are (sign, network name); ``sign`` the claimed sign of their sum."""

    claim: str
    setting: str
    terms: tuple[tuple[int, str], ...]
    sign: int


def book_claims(nets: Nets, profile: str) -> list[Claim]:
    """Sections 4.1-4.3's claims: SpecReg (both bases, each beta) and the point nearest 1/n against Vanilla,
    whitening; per deep architecture the four deep claims, each at the beta the deep chapters' rule picks from the
    spectra alone (:func:`onen.analysis.report.closest_beta`)."""
    claims = [Claim("A 1/n hidden layer makes a shallow net more robust", f"shallow, β={beta}, {basis}",
                    ((+1, f"shallow SpecReg β={beta}{suffix}"), (-1, "shallow Vanilla")), +1)
              for suffix, basis in (("", "paper's basis"), (" tracked", "tracked basis")) for beta in (1, 2, 5)]
    near_vanilla, near = profiles.nearest_pair(profile)
    near_config = profiles.shallow_variants(profile)[near]
    claims.append(Claim("A 1/n hidden layer makes a shallow net more robust",
                        f"shallow, β={near_config.beta:g}, tracked basis, lr {near_config.lr:.0e}",
                        ((+1, f"shallow {near}"), (-1, f"shallow {near_vanilla}")), +1))
    claims.append(Claim("Whitening the hidden layer hurts robustness", "shallow",
                        ((+1, "shallow Whitened"), (-1, "shallow Vanilla")), -1))
    for arch in ("MLP", "CNN"):
        own = {name[len(arch) + 1:]: runs for name, runs in nets.items() if name.startswith(f"{arch} ")}
        last, _ = report.closest_beta(own, "SpecReg (last)")
        every, _ = report.closest_beta(own, "SpecReg (all)")
        beta_last, beta_all = float(last.split("β=")[1]), float(every.split("β=")[1])
        last_wh = profiles.beta_name("SpecReg-Wh (last)", beta_last)
        claims += [
            Claim("A 1/n last layer alone is not enough in a deep net", f"{arch} (last) vs shallow gain, β={beta_last:g}",
                  ((+1, f"{arch} {last}"), (-1, f"{arch} Vanilla"), (-1, f"shallow SpecReg β={beta_last:g}"),
                   (+1, "shallow Vanilla")), -1),
            Claim("Whitening an earlier layer cancels a 1/n last layer", f"{arch}, interaction, β={beta_last:g}",
                  ((+1, f"{arch} {last_wh}"), (-1, f"{arch} Vanilla-Wh"), (-1, f"{arch} {last}"),
                   (+1, f"{arch} Vanilla")), -1),
            Claim("Regularizing every layer helps", f"{arch}, β={beta_all:g}",
                  ((+1, f"{arch} {every}"), (-1, f"{arch} Vanilla")), +1),
            Claim("Jacobian regularization is stronger still", f"{arch}, Jacobian vs SpecReg (all) β={beta_all:g}",
                  ((+1, f"{arch} Jacobian"), (-1, f"{arch} {every}")), +1)]
    return claims


def frontier(arch: str, vanilla: Sequence[CachedResult], profile: str, evaluation: EvalConfig,
             seeds: Sequence[int], results_dir: str, device: str) -> control.Frontier:
    """Vanilla's frontier for ``arch`` ("shallow", "mlp", "cnn"): Vanilla stopped after the profile's frontier epochs
    (trained here where the cache lacks it) and the full-length ``vanilla``."""
    points = {config.epochs: run_seeds(config, evaluation, seeds, results_dir, device)
              for config in profiles.frontier_variants(arch, profile).values()}
    points[report.train_config(vanilla[0]).epochs] = list(vanilla)
    return control.Frontier(points)


def frontiers(nets: Nets, profile: str, evaluation: EvalConfig, seeds: Sequence[int], results_dir: str,
              device: str) -> dict[str, control.Frontier]:
    """:func:`frontier` of every architecture, by its prefix in ``nets`` ("shallow", "MLP", "CNN")."""
    return {prefix: frontier(arch, nets[f"{prefix} Vanilla"], profile, evaluation, seeds, results_dir, device)
            for arch, prefix in PREFIXES.items()}


@dataclass(frozen=True)
class Judged:
    """A claim's raw contrast (:func:`onen.analysis.stats.paired_contrast`), its effect above the frontiers
    (:func:`onen.analysis.control.above_frontiers`; None where a network stores no per-image outcomes) and both
    verdicts."""

    claim: Claim
    raw: PairedContrast
    above: control.Effect | None
    verdict: str
    verdict_above: str


def judge(claims: Sequence[Claim], nets: Nets, found: Mapping[str, control.Frontier],
          gate: Callable[[Sequence[str]], str | None], n_boot: int = 400) -> list[Judged]:
    """Each claim judged raw and above the frontier of each network's architecture. ``gate(names)`` returns why a
    contrast of these networks cannot be tested (its verdict, both ways), or None."""
    judged = []
    for c in claims:
        names = [name for _, name in c.terms]
        blocked = gate(names)
        raw = paired_contrast([report.eps50_term(s, nets[name]) for s, name in c.terms], n_boot=n_boot, seed=0)
        stores = all("correct_pgd" in r.arrays for name in names for r in nets[name])
        above = control.above_frontiers([(float(s), nets[name], found[family_of(name)]) for s, name in c.terms],
                                        n_boot=n_boot) if stores else None
        verdict = "not tested: a curve never falls to half" if raw.n_seeds == 0 else blocked or raw.verdict(c.sign)
        verdict_above = ("not computed: no per-image outcomes" if above is None else
                         blocked or above.verdict(c.sign))
        judged.append(Judged(c, raw, above, verdict, verdict_above))
    return judged


def rows(judged: Sequence[Judged]) -> list[list[str]]:
    """One table row per claim: claim, setting, claimed sign, effect, interval, image SE, seeds, verdict, effect
    above the frontier with its interval, and its verdict."""
    out = []
    for j in judged:
        r = j.raw
        interval = f"[{r.low:+.3f}, {r.high:+.3f}]" if np.isfinite(r.low) else "—"
        above = "—" if j.above is None or not math.isfinite(j.above.mean) else j.above.text(3)
        out.append([j.claim.claim, j.claim.setting, "+" if j.claim.sign > 0 else "−", f"{r.mean:+.3f}", interval,
                    f"{r.image_se:.3f}" if np.isfinite(r.image_se) else "not stored", str(r.n_seeds), j.verdict,
                    above, j.verdict_above])
    return out
