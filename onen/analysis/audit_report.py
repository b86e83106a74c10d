"""The attack audit of every network of sections 4.1-4.3: the budgets, the audited runs, accuracy per attack, the
masking checks, and whether each regularizer's eps50 advantage over its baseline survives the worst case over
every attack.

``audits`` maps a book network's name ("shallow SpecReg β=1", "MLP Vanilla", ...; :func:`onen.analysis.profiles.
book_networks`) to its :func:`onen.robustness.audit.audit_run` results, one per seed; ``eps`` is the audit's grid.
The figures are in :mod:`onen.analysis.audit_figures`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from onen.analysis import profiles
from onen.analysis.names import family_of, variant_of
from onen.analysis.stats import Term, outcome_term
from onen.analysis.tables import Table
from onen.cache import CachedResult
from onen.robustness.audit import AuditConfig, audit_run, masking_flags
from onen.runs.config import EvalConfig
from onen.runs.training import TrainConfig

Audits = Mapping[str, Sequence[CachedResult]]
FAMILIES = {"shallow": "shallow", "MLP": "MLP 3x1000", "CNN": "CNN"}  # architecture -> display name
CHECKS = {"black_box_beats_white_box": "black box beats white box", "restarts_matter": "restarts matter",
          "not_zero_at_largest_eps": "not zero at largest ε"}
WHITE_BOX = ("pgd", "pgd_restarts", "apgd_ce", "apgd_t")


def attack_names(restarts: int) -> dict[str, str]:
    """Each attack's key in an audit's arrays and its display name; "worst" is the per-image worst case."""
    return {"pgd": "PGD-1", "pgd_restarts": f"PGD-{restarts}", "apgd_ce": "APGD-CE", "apgd_t": "APGD-T",
            "square": "Square", "transfer": "transfer", "worst": "worst case"}


def flag_defaults() -> dict[str, float]:
    """The thresholds :func:`onen.robustness.audit.masking_flags` uses by default (``z``, ``restart_gap``,
    ``zero_level``)."""
    return {k: p.default for k, p in inspect.signature(masking_flags).parameters.items()
            if p.default is not inspect.Parameter.empty}


def zero_threshold(n_images: int) -> float:
    """The worst-case accuracy above which the largest-eps check flags a network: the zero level plus z binomial
    standard errors at that level."""
    d = flag_defaults()
    return d["zero_level"] + d["z"] * math.sqrt(d["zero_level"] * (1 - d["zero_level"]) / n_images)


def vanilla_of(name: str) -> str:
    """The Vanilla network of the same architecture."""
    return family_of(name) + " Vanilla"


def by_family(names: Sequence[str]) -> dict[str, list[str]]:
    """The networks of each architecture of :data:`FAMILIES`, in the order given."""
    return {f: [n for n in names if family_of(n) == f] for f in FAMILIES}


def setting_values(audit: AuditConfig, evaluation: EvalConfig, n_networks: int, n_seeds: int) -> dict[str, str]:
    """The audit's settings and flag thresholds that the text quotes, by glue key."""
    d = flag_defaults()
    return {"audit-n-images": f"{audit.n_images}", "audit-eps": ", ".join(f"{e:g}" for e in audit.eps),
            "audit-eps-max": f"{audit.eps[-1]:g}", "audit-pgd-steps": f"{audit.pgd_steps}",
            "audit-pgd-step": f"{audit.pgd_step_size:g}", "audit-eval-steps": f"{evaluation.pgd_steps}",
            "audit-restarts": f"{audit.restarts}", "audit-apgd-steps": f"{audit.apgd_steps}",
            "audit-apgd-targets": f"{audit.apgd_t_targets}", "audit-square-queries": f"{audit.square_queries}",
            "audit-binomial-se": f"{100 * math.sqrt(0.25 / audit.n_images):.1f}", "audit-z": f"{d['z']:g}",
            "audit-restart-gap": f"{100 * d['restart_gap']:g}", "audit-zero-level": f"{100 * d['zero_level']:g}",
            "audit-zero-threshold": f"{100 * zero_threshold(audit.n_images):.1f}",
            "audit-n-networks": f"{n_networks}", "audit-n-seeds": f"{n_seeds}"}


def budget_table(audit: AuditConfig, profile: str) -> Table:
    """Each attack's budget in this audit beside AutoAttack's standard one."""
    steps = f"{audit.pgd_steps} steps of {audit.pgd_step_size:g}"
    rows = [["PGD-1", f"{steps}, 1 random start", "(not in AutoAttack)"],
            [f"PGD-{audit.restarts}", f"{steps}, {audit.restarts} random starts", "(not in AutoAttack)"],
            ["APGD-CE", f"{audit.apgd_steps} iterations, 1 restart", "100 iterations, 1 restart"],
            ["APGD-T", f"{audit.apgd_steps} iterations, {audit.apgd_t_targets} target class(es)",
             "100 iterations, 9 target classes"],
            ["Square", f"{audit.square_queries} queries, 1 restart", "5000 queries, 1 restart"],
            ["Transfer", f"PGD on Vanilla: {steps}, {audit.transfer_restarts} start(s)", "(not in AutoAttack)"]]
    return Table(["attack", "this audit", "AutoAttack (standard)"], rows,
                 caption=f"Attack budgets of the {profile} profile's audit ({audit.n_images} images, eps "
                         f"{', '.join(f'{e:g}' for e in audit.eps)}, attack seed {audit.seed})")


def audit_runs(networks: Mapping[str, TrainConfig], audit: AuditConfig, seeds: Sequence[int], results_dir: str,
               device: str, profile: str) -> dict[str, list[CachedResult]]:
    """:func:`onen.robustness.audit.audit_run` of every network and seed, with the transfer attack from the Vanilla
    network of the same architecture and seed (none for the Vanilla networks themselves)."""
    audits = {}
    for name, config in networks.items():
        audits[name] = []
        for seed in seeds:
            source = dataclasses.replace(profiles.transfer_source(name, profile), seed=seed)
            audits[name].append(audit_run(dataclasses.replace(config, seed=seed), audit, results_dir, device,
                                          transfer_source=None if name == vanilla_of(name) else source,
                                          progress=False))
    return audits


def accuracy(runs: Sequence[CachedResult], attack: str) -> np.ndarray | None:
    """Accuracy curve [n_eps] under ``attack``, mean over seeds (None if the attack was not run on these networks).
    An image counts only if it is classified correctly both clean and under the attack; "worst" is the per-image
    minimum over every attack run on the network, the transfer attack included."""
    if f"correct_{attack}" not in runs[0].arrays and attack != "worst":
        return None
    return np.mean([r.arrays[f"correct_{attack}"].mean(axis=1) for r in runs], axis=0)


def networks_table(audits: Audits, n_images: int, profile: str) -> Table:
    """The audited networks of each architecture with their clean accuracy on the audited images."""
    rows = []
    for family, names in by_family(list(audits)).items():
        rows += [[FAMILIES[family], variant_of(name),
                  f"{100 * np.mean([r.meta['clean_accuracy'] for r in audits[name]]):.1f}"] for name in names]
    n_seeds = len(next(iter(audits.values())))
    return Table(["architecture", "network", "clean accuracy (%)"], rows,
                 caption=f"The audited networks of the {profile} profile: {len(audits)} networks x {n_seeds} "
                         f"seed(s), {n_images} test images each (clean accuracy on them, mean over seeds)")


def eps50_term(sign: float, runs: Sequence[CachedResult], attack: str, eps: np.ndarray) -> Term:
    """One network's eps50 under ``attack`` (per seed: where its curve on the audited images falls to half of their
    clean accuracy, NaN if never) as a term of a paired contrast, with its per-image outcomes for the bootstrap."""
    return outcome_term(sign, eps, [r.arrays[f"correct_{attack}"] for r in runs])


@dataclass(frozen=True)
class Radii:
    """Where an architecture's table reads every attack: Vanilla's PGD-1 eps50 on the audited images (``half``),
    the grid index closest to it (``k_half``, never the clean point) and the first index at which Vanilla's PGD-1
    accuracy is at or below the zero level (``k_zero``; the last if never)."""

    half: float
    k_half: int
    k_zero: int


def radii(audits: Audits, eps: np.ndarray) -> dict[str, Radii]:
    """:class:`Radii` of each architecture, from its Vanilla network."""
    out = {}
    for family in FAMILIES:
        vanilla = audits[f"{family} Vanilla"]
        half = float(np.nanmean(eps50_term(+1, vanilla, "pgd", eps).values))
        down = np.flatnonzero(accuracy(vanilla, "pgd") <= flag_defaults()["zero_level"])
        out[family] = Radii(half, 1 + int(np.argmin(np.abs(eps[1:] - half))),
                            int(down[0]) if down.size else len(eps) - 1)
    return out


def attack_tables(audits: Audits, eps: np.ndarray, at: Mapping[str, Radii], restarts: int) -> list[Table]:
    """Per architecture, every network's accuracy (%) under each attack at its two radii (:func:`radii`)."""
    names = attack_names(restarts)
    tables = []
    for family, members in by_family(list(audits)).items():
        r = at[family]
        rows = []
        for k in (r.k_half, r.k_zero):
            for name in members:
                accs = {a: accuracy(audits[name], a) for a in names}
                rows.append([variant_of(name), f"{eps[k]:g}",
                             *("—" if v is None else f"{100 * v[k]:.1f}" for v in accs.values()),
                             f"{100 * (accs['pgd'][k] - accs['worst'][k]):+.1f}"])
        vanilla_zero = 100 * accuracy(audits[f"{family} Vanilla"], "pgd")[r.k_zero]
        tables.append(Table(
            ["network", "ε", *names.values(), "PGD-1 − worst"], rows,
            caption=f"{FAMILIES[family]}: accuracy (%) under each attack at ε = {eps[r.k_half]:g} (closest to "
                    f"Vanilla's PGD-1 ε50 = {r.half:.3f}) and at ε = {eps[r.k_zero]:g} (Vanilla's PGD-1 at "
                    f"{vanilla_zero:.1f}%)",
            notes=["Mean over seeds. Worst case: per image, over every attack run on the network. "
                   "—: not run (transfer from Vanilla to itself)."]))
    return tables


def check_values(run: CachedResult) -> list[float]:
    """What each masking check measures, in points: the largest lead of a black-box attack over the strongest
    white-box attack (over eps > 0; negative: it never leads), the largest gain of the restarts over PGD-1, and the
    worst-case accuracy at the largest eps."""
    a = {k: run.arrays[k] for k in (*WHITE_BOX, "square", "transfer") if k in run.arrays}
    white = np.min([a[k] for k in WHITE_BOX], axis=0)
    black = np.min([a[k] for k in ("square", "transfer") if k in a], axis=0)
    lead = (white - black)[1:].max()
    return [100 * lead, 100 * (a["pgd"] - a["pgd_restarts"]).max(), 100 * run.arrays["worst"][-1]]


def flag_values(audits: Audits) -> dict[str, str]:
    """How many networks raise a flag in some seed, which, and how often each check fired, by glue key (the list of
    flagged networks is Markdown)."""
    flagged = [n for n in audits if any(r.meta["flags"]["any"] for r in audits[n])]
    values = {"audit-n-flagged": f"{len(flagged)}", "audit-flagged-list": ", ".join(flagged) if flagged else "none"}
    for check, key in zip(CHECKS, ("bb", "restarts", "zero")):
        values[f"audit-n-flag-{key}"] = f"{sum(any(r.meta['flags'][check] for r in audits[n]) for n in audits)}"
    return values


def flag_table(audits: Audits, seeds: Sequence[int], profile: str) -> Table:
    """Every flag raised, with the finding that raised it."""
    rows = [[n, str(s), CHECKS[c], r.meta["reasons"][c]] for n in audits for s, r in zip(seeds, audits[n])
            for c in CHECKS if r.meta["flags"][c]]
    return Table(["network", "seed", "check", "finding"], rows or [["none", "", "", "no check raised on any network"]],
                 caption=f"Masking flags raised ({profile} profile)")


def shown_pairs(profile: str) -> dict[str, tuple[str, str]]:
    """Per architecture, the (Vanilla, regularized) networks shown attack by attack: SpecReg β=1 in the shallow net,
    SpecReg on all layers at the profile's first beta in the deep ones."""
    first = profiles.beta_name("SpecReg (all)", profiles.deep_betas(profile)[0])
    return {"shallow": ("shallow Vanilla", "shallow SpecReg β=1"), "MLP": ("MLP Vanilla", f"MLP {first}"),
            "CNN": ("CNN Vanilla", f"CNN {first}")}
