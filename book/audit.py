# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # An attack audit: is the robustness real?
#
# Every robustness number so far comes from FGSM {cite}`goodfellow2015` and a 40-step PGD {cite}`madry2018`, the
# attacks of {cite}`nassar2020`. A regularizer can look robust under those without being robust: if it flattens
# the loss surface locally, saturates the softmax or otherwise makes the input gradient uninformative, a gradient
# attack stalls while the decision boundary is as close as before. This is *gradient masking*, and the literature on
# evaluating defences gives a checklist against it: Athalye, Carlini and Wagner ("Obfuscated gradients give a false
# sense of security", 2018) and Carlini et al. ("On evaluating adversarial robustness", 2019) ask for restarts,
# stronger and differently built attacks, a gradient-free attack and transfer from an undefended model; Croce and
# Hein's AutoAttack (2020) packages the strongest of them into a parameter-free ensemble and reads robustness as the
# per-image worst case over it.
#
# This chapter applies that checklist to every network of sections 4.1-4.3 (the previous three chapters), every
# variant and every seed of the profile, and asks one question of the result: **does the spectral regularizer's
# advantage over Vanilla survive the strongest attack, or is it, in whole or in part, an artefact of the attack?**
# The attacks, the budgets, the images and the rule that raises a masking flag are all stated before any result.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %%
import dataclasses
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from matplotlib.colors import ListedColormap
from myst_nb import glue

from onen.analysis import profiles
from onen.robustness.audit import audit_run, masking_flags
from onen.analysis.plotting import PALETTE, use_style
from onen.analysis.stats import outcome_term, paired_contrast
from onen.analysis.tables import Table

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seeds, device, evaluation = setup.results_dir, setup.seeds, setup.device, setup.evaluation
audit = profiles.audit_config(profile)
networks = profiles.book_networks(profile)
families = {"shallow": "shallow", "MLP": "MLP 3x1000", "CNN": "CNN"}
betas = profiles.deep_betas(profile)
use_style()

# %% [markdown]
# ## The attacks
#
# All attacks are $L_\infty$ with radius $\epsilon$ in pixel units (pixels in $[0, 1]$), untargeted unless said, and
# are run on the same {glue:text}`audit-n-images` test images for every network (a fixed random subset of the MNIST
# test set), at $\epsilon \in$ {glue:text}`audit-eps`. An image counts as robust at $\epsilon$ only if the network
# classifies it correctly both clean and under the attack.
#
# - **PGD-1**: the paper's PGD, {glue:text}`audit-pgd-steps` signed steps of {glue:text}`audit-pgd-step` from one
#   random start in the ball {cite}`madry2018`. (The chapters of this profile used {glue:text}`audit-eval-steps`
#   steps; the audit uses the paper's budget.)
# - **PGD-{glue:text}`audit-restarts`**: the same with {glue:text}`audit-restarts` random starts, an image counting
#   as broken if any start breaks it. The first start is PGD-1's, so it is never weaker than PGD-1 on any image.
# - **APGD-CE**: Croce and Hein's auto-PGD on the cross-entropy, which adapts its step size and uses momentum, so it
#   does not depend on a hand-set step.
# - **APGD-T**: auto-PGD *targeted*, in turn, at each of the {glue:text}`audit-apgd-targets` most likely wrong
#   class(es), on the difference-of-logits-ratio (DLR) loss. That loss is invariant to the scale of the logits, so a
#   saturated softmax, which blinds the cross-entropy's gradient, does not blind it.
# - **Square**: a random search that only reads the network's outputs (black-box), with the margin loss. It never
#   sees a gradient, so it is immune to masking by construction.
# - **Transfer**: PGD-1 examples crafted on the **Vanilla network of the same architecture** (same seed) and tried on
#   the audited one. It takes its gradients from a network whose gradients are not in question. It is not run on the
#   Vanilla networks themselves: crafted on the same network it would only repeat PGD-1.
# - **Worst case**: per image, the minimum over all the attacks above that were run on the network; an image
#   counts as robust only if every attack failed on it. This is AutoAttack's robust accuracy, extended with the
#   transfer attack, and it is the number this chapter treats as the network's robustness.
#
# The attacks are taken from `torchattacks` (APGD-CE, APGD-T, Square) and from the book's own PGD (`onen.attacks`),
# not re-implemented for the audit.
#
# **Budgets, and how they depart from AutoAttack's standard version.** AutoAttack runs APGD-CE and APGD-T for 100
# iterations each, APGD-T against all 9 wrong classes, and Square with 5000 queries. This audit has to run on a CPU
# for every network of the book, and the cost of an attack is its budget times the share of images it has not yet
# broken, so the budgets are smaller:

# %% tags=["nbval-check-output"]
flag_defaults = {k: p.default for k, p in inspect.signature(masking_flags).parameters.items()
                 if p.default is not inspect.Parameter.empty}
budget_rows = [
    ["PGD-1", f"{audit.pgd_steps} steps of {audit.pgd_step_size:g}, 1 random start", "(not in AutoAttack)"],
    [f"PGD-{audit.restarts}", f"{audit.pgd_steps} steps of {audit.pgd_step_size:g}, {audit.restarts} random starts",
     "(not in AutoAttack)"],
    ["APGD-CE", f"{audit.apgd_steps} iterations, 1 restart", "100 iterations, 1 restart"],
    ["APGD-T", f"{audit.apgd_steps} iterations, {audit.apgd_t_targets} target class(es)",
     "100 iterations, 9 target classes"],
    ["Square", f"{audit.square_queries} queries, 1 restart", "5000 queries, 1 restart"],
    ["Transfer", f"PGD on Vanilla: {audit.pgd_steps} steps of {audit.pgd_step_size:g}, "
                 f"{audit.transfer_restarts} start(s)", "(not in AutoAttack)"],
]
glue("audit-n-images", f"{audit.n_images}", display=False)
glue("audit-eps", ", ".join(f"{e:g}" for e in audit.eps), display=False)
glue("audit-eps-max", f"{audit.eps[-1]:g}", display=False)
glue("audit-pgd-steps", f"{audit.pgd_steps}", display=False)
glue("audit-pgd-step", f"{audit.pgd_step_size:g}", display=False)
glue("audit-eval-steps", f"{evaluation.pgd_steps}", display=False)
glue("audit-restarts", f"{audit.restarts}", display=False)
glue("audit-apgd-steps", f"{audit.apgd_steps}", display=False)
glue("audit-apgd-targets", f"{audit.apgd_t_targets}", display=False)
glue("audit-square-queries", f"{audit.square_queries}", display=False)
glue("audit-binomial-se", f"{100 * math.sqrt(0.25 / audit.n_images):.1f}", display=False)
glue("audit-z", f"{flag_defaults['z']:g}", display=False)
glue("audit-restart-gap", f"{100 * flag_defaults['restart_gap']:g}", display=False)
glue("audit-zero-level", f"{100 * flag_defaults['zero_level']:g}", display=False)
zero_threshold = flag_defaults["zero_level"] + flag_defaults["z"] * math.sqrt(
    flag_defaults["zero_level"] * (1 - flag_defaults["zero_level"]) / audit.n_images)
glue("audit-zero-threshold", f"{100 * zero_threshold:.1f}", display=False)
glue("audit-n-networks", f"{len(networks)}", display=False)
glue("audit-n-seeds", f"{len(seeds)}", display=False)
Table(["attack", "this audit", "AutoAttack (standard)"], budget_rows,
      caption=f"Attack budgets of the {profile} profile's audit ({audit.n_images} images, eps "
              f"{', '.join(f'{e:g}' for e in audit.eps)}, attack seed {audit.seed})")

# %% [markdown]
# APGD's step-size schedule is defined by fractions of its budget, so {glue:text}`audit-apgd-steps` iterations are a
# compressed schedule, not a truncated one. APGD-T needs few targets for the job it does here, which is the DLR
# loss's immunity to a saturated softmax, not a search over every wrong class. Square with
# {glue:text}`audit-square-queries` queries is not a tight bound on robustness. It is a witness: a network whose
# gradients are useless falls to it at moderate $\epsilon$ within a few hundred queries, while a network with
# informative gradients is not beaten by it beyond noise. The worst case over this ensemble is therefore an *upper*
# bound on true robust accuracy, tighter than PGD-1's, but possibly looser than the full AutoAttack's.
#
# **Images.** {glue:text}`audit-n-images` test images give a binomial standard error of about
# {glue:text}`audit-binomial-se` points on an accuracy near 50%. Differences between attacks, or between networks, on
# the same images are paired, and their noise is much smaller when the two mostly agree image by image. That is how
# they are judged below.

# %% [markdown]
# ## The rule for a masking flag
#
# Three checks, each a flag on one network and seed (`onen.robustness.audit.masking_flags`), stated here before the results:
#
# 1. **Black box beats white box.** At some $\epsilon$, Square or the transfer attack leaves a *lower* accuracy than
#    the strongest of the four white-box attacks (PGD-1, PGD-{glue:text}`audit-restarts`, APGD-CE, APGD-T) by more
#    than {glue:text}`audit-z` standard errors of the paired difference. The standard error comes from the per-image
#    outcomes (McNemar's test in its normal form): a few images that only one attack breaks are noise, a consistent
#    majority of them is not. An attack that uses the network's own gradients should never lose to one that uses no
#    gradient, or another network's, unless those gradients are misleading.
# 2. **Restarts matter.** {glue:text}`audit-restarts` random starts lower PGD's accuracy by more than
#    {glue:text}`audit-restart-gap` points at some $\epsilon$: a loss surface so rugged that where PGD starts decides
#    whether it succeeds.
# 3. **Not zero at the largest $\epsilon$.** At $\epsilon$ = {glue:text}`audit-eps-max` the worst case over every
#    attack still leaves
#    more than {glue:text}`audit-zero-level`% plus {glue:text}`audit-z` binomial standard errors
#    ({glue:text}`audit-zero-threshold`% on these images). No network here is adversarially trained, and a radius of
#    {glue:text}`audit-eps-max` on MNIST allows perturbations that can erase or redraw a stroke, so an unbroken image
#    there points at the attack, not the network.
#
# A flag is a reason to distrust that network's PGD curve, not a proof of masking; the worst-case curve, which
# includes the black-box attacks, is the number to use either way.

# %% [markdown]
# ## The audit

# %%
def vanilla_name(name):
    return name.split(" ", 1)[0] + " Vanilla"


audits = {}
for name, config in networks.items():
    audits[name] = []
    for seed in seeds:
        source = dataclasses.replace(profiles.transfer_source(name, profile), seed=seed)
        audits[name].append(audit_run(dataclasses.replace(config, seed=seed), audit, results_dir, device,
                                      transfer_source=None if name == vanilla_name(name) else source,
                                      progress=False))

ATTACK_NAMES = {"pgd": "PGD-1", "pgd_restarts": f"PGD-{audit.restarts}", "apgd_ce": "APGD-CE", "apgd_t": "APGD-T",
                "square": "Square", "transfer": "transfer", "worst": "worst case"}
eps = np.asarray(audit.eps)


def correct(run, attack):
    """Per-image outcomes [n_eps, N] of one audit: robust under ``attack``. The worst case ("worst") is the
    per-image minimum over every attack run on the network, the transfer attack included."""
    return run.arrays[f"correct_{attack}"]


def accuracy(runs, attack):
    """Accuracy curve [n_eps], mean over seeds (None if the attack was not run on these networks)."""
    if f"correct_{attack}" not in runs[0].arrays and attack != "worst":
        return None
    return np.mean([correct(r, attack).mean(axis=1) for r in runs], axis=0)


def family_of(name):
    return name.split(" ", 1)[0]


by_family = {f: [n for n in networks if family_of(n) == f] for f in families}

# %% tags=["nbval-check-output"]
print(f"profile {profile}: {len(networks)} networks x {len(seeds)} seed(s) {seeds}, "
      f"{audit.n_images} images each")
for family, names in by_family.items():
    print(f"{families[family]}: " + ", ".join(
        f"{n.split(' ', 1)[1]} ({100 * np.mean([r.meta['clean_accuracy'] for r in audits[n]]):.1f}% clean)"
        for n in names))

# %% [markdown]
# ## Accuracy under the strongest attack

# %% tags=["hide-input"]
def style_of(names):
    """A colour per network (the book's palette) and, beyond its eight colours, a marker to tell repeats apart."""
    return {n: (PALETTE[i % len(PALETTE)], "o" if i < len(PALETTE) else "s") for i, n in enumerate(names)}


fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), sharey=True)
for ax, (family, title) in zip(axes, families.items()):
    styles = style_of(by_family[family])
    for name in by_family[family]:
        colour, marker = styles[name]
        label = name.split(" ", 1)[1]
        ax.plot(eps, 100 * accuracy(audits[name], "worst"), "-", marker=marker, ms=3.5, color=colour, label=label)
        ax.plot(eps, 100 * accuracy(audits[name], "pgd"), "--", marker=marker, ms=2.5, color=colour, alpha=0.6, lw=1.1)
    ax.plot([], [], "-", color="#999999", label="worst case (solid)")
    ax.plot([], [], "--", color="#999999", lw=1.1, label="PGD-1 (dashed)")
    ax.set_title(title)
    ax.set_xlabel(r"$\epsilon$ ($L_\infty$, pixel units, pixels in [0, 1])")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7, loc="upper right")
axes[0].set_ylabel("accuracy (%)")
fig.tight_layout()
glue("audit-curves", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} audit-curves
# :name: "fig-audit-curves"
#
# Accuracy against $\epsilon$ under the worst case over every attack (solid) and under PGD-1 alone, the attack of
# the previous chapters (dashed, same colour), for every network of sections 4.1 (left), 4.2-4.3 MLP (middle) and CNN
# (right); mean over seeds. The gap between a dashed line and its solid line is what the stronger attacks add.
# ```

# %% tags=["hide-input"]
pairs = {"shallow": ("shallow Vanilla", "shallow SpecReg β=1"),
         "MLP": ("MLP Vanilla", f"MLP {profiles.beta_name('SpecReg (all)', betas[0])}"),
         "CNN": ("CNN Vanilla", f"CNN {profiles.beta_name('SpecReg (all)', betas[0])}")}
fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True, sharey=True)
attack_colour = {"pgd": PALETTE[0], "pgd_restarts": PALETTE[4], "apgd_ce": PALETTE[2], "apgd_t": PALETTE[3],
                 "square": PALETTE[1], "transfer": PALETTE[5], "worst": "k"}
for col, (family, (vanilla, spec)) in enumerate(pairs.items()):
    for row, name in enumerate((vanilla, spec)):
        ax = axes[row, col]
        for attack, label in ATTACK_NAMES.items():
            acc = accuracy(audits[name], attack)
            if acc is None:
                continue
            ax.plot(eps, 100 * acc, "-", marker="o", ms=3, lw=1.3 if attack != "worst" else 2.4,
                    alpha=0.85 if attack != "worst" else 0.5, color=attack_colour[attack], label=label)
        ax.set_title(f"{families[family]}: {name.split(' ', 1)[1]}")
        ax.set_ylim(-2, 102)
        if col == 0:
            ax.set_ylabel("accuracy (%)")
        if row == 1:
            ax.set_xlabel(r"$\epsilon$ ($L_\infty$, pixel units)")
axes[1, 0].legend(fontsize=8, loc="upper right")
fig.tight_layout()
glue("audit-attacks", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} audit-attacks
# :name: "fig-audit-attacks"
#
# Each attack separately, for the Vanilla network (top) and the spectrally regularized one (bottom; SpecReg β=1 in
# the shallow net, SpecReg on all layers at the profile's first β in the deep nets) of each architecture; mean over
# seeds. Thick black: the per-image worst case. The Vanilla networks have no transfer curve (it would repeat PGD-1).
# ```

# %% [markdown]
# ## Masking flags

# %% tags=["hide-input"]
CHECKS = {"black_box_beats_white_box": "black box beats white box", "restarts_matter": "restarts matter",
          "not_zero_at_largest_eps": "not zero at largest ε"}
WHITE = ("pgd", "pgd_restarts", "apgd_ce", "apgd_t")


def check_values(run):
    """What each check measures, in points: the largest lead of a black-box attack over the strongest white-box
    attack (over eps > 0; negative: it never leads), the largest gain of the restarts over PGD-1, and the worst-case
    accuracy at the largest eps."""
    a = {k: run.arrays[k] for k in (*WHITE, "square", "transfer") if k in run.arrays}
    white = np.min([a[k] for k in WHITE], axis=0)
    black = np.min([a[k] for k in ("square", "transfer") if k in a], axis=0)
    lead = (white - black)[1:].max()
    return [100 * lead, 100 * (a["pgd"] - a["pgd_restarts"]).max(), 100 * run.arrays["worst"][-1]]


names = list(networks)
share = np.array([[np.mean([r.meta["flags"][c] for r in audits[n]]) for c in CHECKS] for n in names])
values = np.array([np.mean([check_values(r) for r in audits[n]], axis=0) for n in names])
flagged = [n for n in names if any(r.meta["flags"]["any"] for r in audits[n])]
glue("audit-n-flagged", f"{len(flagged)}", display=False)
glue("audit-flagged-list", Markdown(", ".join(flagged) if flagged else "none"), display=False)
for c, key in zip(CHECKS, ("bb", "restarts", "zero")):
    glue(f"audit-n-flag-{key}", f"{sum(any(r.meta['flags'][c] for r in audits[n]) for n in names)}", display=False)

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
glue("audit-flags", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} audit-flags
# :name: "fig-audit-flags"
#
# The three masking checks for every network. Vermilion: flagged in every seed (pale: in some seeds); grey: not
# flagged. Numbers, in points and averaged over seeds: the largest lead of Square or the transfer attack over the
# strongest white-box attack (negative: the white-box attacks were always ahead), the largest gain of
# {glue:text}`audit-restarts` restarts over PGD-1, and the worst-case accuracy (%) at the largest $\epsilon$. A lead
# or a gain is flagged only beyond the thresholds of the rule above, so a small positive number can stay grey.
# ```

# %% [markdown]
# {glue:text}`audit-n-flagged` of the {glue:text}`audit-n-networks` networks raise a flag in at least one seed:
# {glue:md}`audit-flagged-list`. The checks raised: black box beats white box {glue:text}`audit-n-flag-bb` times,
# restarts matter {glue:text}`audit-n-flag-restarts` times, not zero at the largest $\epsilon$
# {glue:text}`audit-n-flag-zero` times. What each flag found:

# %% tags=["nbval-check-output"]
flag_rows = [[n, str(s), CHECKS[c], r.meta["reasons"][c]] for n in names for s, r in zip(seeds, audits[n])
             for c in CHECKS if r.meta["flags"][c]]
Table(["network", "seed", "check", "finding"], flag_rows or [["none", "", "", "no check raised on any network"]],
      caption=f"Masking flags raised ({profile} profile)")

# %% [markdown]
# ## Every attack at two radii
#
# For each architecture the table reads every network at two radii of the grid: the one closest to Vanilla's PGD-1
# $\epsilon_{50}$ (where Vanilla keeps about half of its clean accuracy; interpolated on this audit's grid and
# images), where differences between networks and attacks are largest, and the smallest at which Vanilla's PGD-1
# accuracy is down to {glue:text}`audit-zero-level`% (the largest of the grid if it never is), where a network that
# still stands either is robust or hides its gradients.

# %%
def eps50_term(sign, runs, attack):
    """One network's eps50 under ``attack`` (per seed: where its curve on the audited images falls to half of their
    clean accuracy, NaN if never) as a term of a paired contrast, with its per-image outcomes for the bootstrap."""
    return outcome_term(sign, eps, [correct(r, attack) for r in runs])


radii = {}
for family, names_f in by_family.items():
    vanilla = audits[f"{family} Vanilla"]
    half = float(np.nanmean(eps50_term(+1, vanilla, "pgd").values))
    k_half = 1 + int(np.argmin(np.abs(eps[1:] - half)))
    down = np.flatnonzero(accuracy(vanilla, "pgd") <= flag_defaults["zero_level"])
    k_zero = int(down[0]) if down.size else len(eps) - 1
    radii[family] = (half, k_half, k_zero)
    glue(f"audit-{family}-vanilla-eps50", f"{half:.3f}", display=False)
    glue(f"audit-{family}-eps-half", f"{eps[k_half]:g}", display=False)
    glue(f"audit-{family}-eps-zero", f"{eps[k_zero]:g}", display=False)

# %% tags=["nbval-check-output"]
header = ["network", "ε", *ATTACK_NAMES.values(), "PGD-1 − worst"]
for family, names_f in by_family.items():
    half, k_half, k_zero = radii[family]
    rows = []
    for k in (k_half, k_zero):
        for name in names_f:
            accs = {a: accuracy(audits[name], a) for a in ATTACK_NAMES}
            rows.append([name.split(" ", 1)[1], f"{eps[k]:g}",
                         *("—" if v is None else f"{100 * v[k]:.1f}" for v in accs.values()),
                         f"{100 * (accs['pgd'][k] - accs['worst'][k]):+.1f}"])
    display(Table(header, rows,
                  caption=f"{families[family]}: accuracy (%) under each attack at ε = {eps[k_half]:g} (closest to "
                          f"Vanilla's PGD-1 ε50 = {half:.3f}) and at ε = {eps[k_zero]:g} (Vanilla's PGD-1 at "
                          f"{100 * accuracy(audits[f'{family} Vanilla'], 'pgd')[k_zero]:.1f}%)",
                  notes=["Mean over seeds. Worst case: per image, over every attack run on the network. "
                         "—: not run (transfer from Vanilla to itself)."]))

# %% [markdown]
# The radii: ε = {glue:text}`audit-shallow-eps-half` and {glue:text}`audit-shallow-eps-zero` for the shallow net
# (Vanilla's PGD-1 $\epsilon_{50}$ = {glue:text}`audit-shallow-vanilla-eps50`), {glue:text}`audit-MLP-eps-half` and
# {glue:text}`audit-MLP-eps-zero` for the MLP ({glue:text}`audit-MLP-vanilla-eps50`), {glue:text}`audit-CNN-eps-half`
# and {glue:text}`audit-CNN-eps-zero` for the CNN ({glue:text}`audit-CNN-vanilla-eps50`). The last column shows how
# many points the stronger attacks take off PGD-1's accuracy.

# %% [markdown]
# ## Does the regularizer's advantage survive?
#
# Each regularized network is set against the Vanilla network of its architecture (paired by seed) on
# $\epsilon_{50}$, the radius at which its accuracy falls to half of its clean accuracy, the summary used in
# {doc}`reproduced`, once on the PGD-1 curve, the attack the paper and the previous chapters used, and once on the
# worst-case curve. If the advantage were gradient masking, the regularized network's curve would fall under the
# stronger attacks and the Vanilla's would not, and the difference would shrink toward zero. The **gap closed** is the
# PGD-1 difference minus the worst-case difference; its share is that, divided by the PGD-1 difference.
#
# The intervals follow {doc}`reproduced`: 95%, from the spread over seeds (Student $t$) combined with a paired
# bootstrap over the audited images (`onen.analysis.stats.bootstrap_se`, the same resample of images for every network,
# seed and attack, so the gap closed has an interval of its own; `onen.analysis.stats.combined_interval`). With one seed the
# interval holds the image error alone, which says how precisely these images measure *these* networks, not
# whether another training run would agree, and the verdict is "not enough seeds" whatever the interval says. The
# verdict on the worst-case difference uses the rule of {doc}`reproduced` with the claimed sign positive (the
# regularizer helps). The deep networks are compared at each β of the profile ({glue:text}`audit-betas`); Jacobian
# regularization, the baseline of section 4.3, is audited the same way.

# %%
BOOTSTRAP = 400
glue("audit-betas", ", ".join(f"β={b:g}" for b in betas), display=False)

contrasts = []  # (architecture, regularized network)
for b in (1, 2, 5):
    contrasts += [("shallow", f"shallow SpecReg β={b}"), ("shallow", f"shallow SpecReg β={b} tracked")]
contrasts.append(("shallow", "shallow SpecReg-BN β=1"))
contrasts.append(("shallow", f"shallow {profiles.nearest_pair(profile)[1]}"))
for family in ("MLP", "CNN"):
    for b in betas:
        contrasts += [(family, f"{family} {profiles.beta_name('SpecReg (last)', b)}"),
                      (family, f"{family} {profiles.beta_name('SpecReg (all)', b)}")]
    contrasts.append((family, f"{family} Jacobian"))


def baseline_of(name):
    """Vanilla of the same architecture; the BatchNorm pair of section 4.1 is set against Vanilla-BN, and the pair at
    the search's point closest to 1/n against its own Vanilla (`onen.analysis.profiles.reference_network`)."""
    return profiles.reference_network(name, profile)


n_images = audit.n_images
effect_rows, effects = [], {}


for family, name in contrasts:
    base = baseline_of(name)
    n = min(len(audits[name]), len(audits[base]))
    runs, base_runs = audits[name][:n], audits[base][:n]
    net, ref = {a: eps50_term(+1, runs, a) for a in ("pgd", "worst")}, \
        {a: eps50_term(-1, base_runs, a) for a in ("pgd", "worst")}
    result = {
        "pgd": paired_contrast([net["pgd"], ref["pgd"]], n_boot=BOOTSTRAP),
        "worst": paired_contrast([net["worst"], ref["worst"]], n_boot=BOOTSTRAP),
        # the part of the PGD-1 gap the worst case takes away: (net - base under PGD-1) - (net - base, worst case)
        "closed": paired_contrast([net["pgd"], ref["pgd"], eps50_term(-1, runs, "worst"),
                                   eps50_term(+1, base_runs, "worst")], n_boot=BOOTSTRAP),
    }
    k_half = radii[family][1]
    result["acc"] = {a: 100 * (np.mean([correct(r, a)[k_half].mean() for r in runs])
                               - np.mean([correct(r, a)[k_half].mean() for r in base_runs])) for a in ("pgd", "worst")}
    result["n"] = result["worst"].n_seeds
    effects[name] = result
    pgd, worst, closed = result["pgd"], result["worst"], result["closed"]
    share_closed = closed.mean / pgd.mean if pgd.mean > 0 else np.nan
    words = worst.verdict(+1) if np.isfinite(worst.mean) else "not tested"

    def cell(v):
        if not np.isfinite(v.mean):
            return "—"
        return f"{v.mean:+.4f}" + ("" if not np.isfinite(v.low) else f" [{v.low:+.4f}, {v.high:+.4f}]")

    effect_rows.append([name, base.split(" ", 1)[1], f"{eps[k_half]:g}",
                        f"{result['acc']['pgd']:+.1f} → {result['acc']['worst']:+.1f}", cell(pgd), cell(worst),
                        cell(closed),
                        "—" if not np.isfinite(share_closed) else f"{round(100 * share_closed):d}%", str(result["n"]),
                        words])

# %% tags=["nbval-check-output"]
Table(["network", "against", "ε½", "Δ accuracy at ε½, PGD-1 → worst", "Δε50 under PGD-1",
       "Δε50 under worst case", "gap closed", "share closed", "seeds", "verdict (worst case)"], effect_rows,
      caption=f"Regularized minus baseline ε50 (pixel units), {profile} profile, with 95% intervals",
      notes=[f"Intervals: seeds (t) combined with a paired bootstrap over the {n_images} audited images "
             f"({BOOTSTRAP} resamples); with one seed, images only.",
             "Gap closed: Δε50 under PGD-1 minus Δε50 under the worst case; share closed: that over Δε50 under "
             "PGD-1 (only where PGD-1 shows an advantage).",
             "ε½: the grid radius closest to the architecture's Vanilla PGD-1 ε50; Δ accuracy in points, mean over "
             "seeds."])

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(8, 0.42 * len(effects) + 1.3))
y = np.arange(len(effects))[::-1]
for yi, (name, r) in zip(y, effects.items()):
    for offset, key, colour, label in ((0.17, "pgd", PALETTE[0], "PGD-1"), (-0.17, "worst", PALETTE[5], "worst case")):
        mean, low, high = r[key].mean, r[key].low, r[key].high
        if not np.isfinite(mean):
            continue
        err = None if not np.isfinite(low) else [[mean - low], [high - mean]]
        ax.barh(yi + offset, mean, height=0.32, color=colour, alpha=0.85, xerr=err, capsize=2,
                label=label if yi == y[0] else None)
ax.axvline(0, color="k", lw=0.8)
ax.set_yticks(y, list(effects), fontsize=7.5)
ax.set_xlabel(r"regularized $-$ baseline $\epsilon_{50}$ (pixel units)")
ax.legend(ncol=2, loc="lower left", bbox_to_anchor=(0.0, 1.0))
fig.tight_layout()
glue("audit-effects", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} audit-effects
# :name: "fig-audit-effects"
#
# Each regularized network's $\epsilon_{50}$ advantage over its baseline (Vanilla; Vanilla-BN for SpecReg-BN) under
# PGD-1 (blue) and under the worst case over every attack (vermilion). Error bars: the 95% intervals of the table
# (with one seed, the test images' error only).
# ```

# %%
for family, name in pairs.items():
    spec = name[1]
    r = effects[spec]
    key = family.lower()
    glue(f"audit-{key}-spec-name", spec, display=False)
    glue(f"audit-{key}-d-pgd", f"{r['pgd'].mean:+.4f}", display=False)
    glue(f"audit-{key}-d-worst", f"{r['worst'].mean:+.4f}", display=False)
    glue(f"audit-{key}-d-worst-ci", f"[{r['worst'].low:+.4f}, {r['worst'].high:+.4f}]", display=False)
    glue(f"audit-{key}-closed", f"{r['closed'].mean:+.4f}", display=False)
    glue(f"audit-{key}-closed-ci", f"[{r['closed'].low:+.4f}, {r['closed'].high:+.4f}]", display=False)
    glue(f"audit-{key}-acc", f"{r['acc']['pgd']:+.1f} → {r['acc']['worst']:+.1f}", display=False)
    share_closed = r["closed"].mean / r["pgd"].mean if r["pgd"].mean > 0 else np.nan
    glue(f"audit-{key}-share", "—" if not np.isfinite(share_closed) else f"{100 * share_closed:.0f}%", display=False)
spectral = [n for _, n in contrasts if "SpecReg" in n]
positive_pgd = [n for n in spectral if effects[n]["pgd"].mean > 0]
survive = [n for n in positive_pgd if effects[n]["worst"].mean > 0]
excluded = [n for n in survive if effects[n]["worst"].low > 0]
glue("audit-n-spectral", f"{len(spectral)}", display=False)
glue("audit-n-positive", f"{len(positive_pgd)}", display=False)
glue("audit-n-survive", f"{len(survive)}", display=False)
glue("audit-n-excluded", f"{len(excluded)}", display=False)
largest = max((accuracy(audits[n], "pgd") - accuracy(audits[n], "worst")).max() for n in names)
largest_name = max(names, key=lambda n: (accuracy(audits[n], "pgd") - accuracy(audits[n], "worst")).max())
glue("audit-largest-gap", f"{100 * largest:.1f}", display=False)
glue("audit-largest-gap-name", largest_name, display=False)


def in_words(family, r):
    """One plain sentence on whether an advantage under PGD-1 survives the worst case (image error only with one
    seed, seeds and images otherwise)."""
    d_pgd, d_worst, low, high = r["pgd"].mean, r["worst"].mean, r["worst"].low, r["worst"].high
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


sentences = [in_words(families[f], effects[pairs[f][1]]) for f in pairs]
glue("audit-plain", Markdown("; ".join(sentences)[0].upper() + "; ".join(sentences)[1:] + "."), display=False)
verdicts = [row[-1] for row in effect_rows]
glue("audit-verdicts", Markdown(", ".join(f"{sum(v.startswith(w) for v in verdicts)} {w}" for w in
                                          ("reproduced", "contradicted", "not resolved", "not enough seeds",
                                           "not tested") if any(v.startswith(w) for v in verdicts))), display=False)
glue("audit-seed-note", Markdown(
    "With one seed every verdict is \"not enough seeds\": the intervals measure how precisely these "
    f"{n_images} images measure these networks, and say nothing about another training run."
    if len(seeds) < 2 else
    f"The intervals cover {len(seeds)} seeds and the test images."), display=False)

# %% [markdown]
# For the networks shown attack by attack above, the $\epsilon_{50}$ advantage over Vanilla is:
#
# - shallow ({glue:text}`audit-shallow-spec-name`): {glue:text}`audit-shallow-d-pgd` under PGD-1,
#   {glue:text}`audit-shallow-d-worst` {glue:text}`audit-shallow-d-worst-ci` under the worst case; gap closed
#   {glue:text}`audit-shallow-closed` {glue:text}`audit-shallow-closed-ci` ({glue:text}`audit-shallow-share`);
#   accuracy at ε½, PGD-1 → worst case: {glue:text}`audit-shallow-acc` points;
# - MLP ({glue:text}`audit-mlp-spec-name`): {glue:text}`audit-mlp-d-pgd` under PGD-1, {glue:text}`audit-mlp-d-worst`
#   {glue:text}`audit-mlp-d-worst-ci` under the worst case; gap closed {glue:text}`audit-mlp-closed`
#   {glue:text}`audit-mlp-closed-ci` ({glue:text}`audit-mlp-share`); accuracy at ε½, PGD-1 → worst case:
#   {glue:text}`audit-mlp-acc` points;
# - CNN ({glue:text}`audit-cnn-spec-name`): {glue:text}`audit-cnn-d-pgd` under PGD-1, {glue:text}`audit-cnn-d-worst`
#   {glue:text}`audit-cnn-d-worst-ci` under the worst case; gap closed {glue:text}`audit-cnn-closed`
#   {glue:text}`audit-cnn-closed-ci` ({glue:text}`audit-cnn-share`); accuracy at ε½, PGD-1 → worst case:
#   {glue:text}`audit-cnn-acc` points.
#
# In words: {glue:md}`audit-plain`
#
# Of the {glue:text}`audit-n-spectral` spectrally regularized networks, {glue:text}`audit-n-positive` are ahead of
# their baseline under PGD-1; {glue:text}`audit-n-survive` of those are still ahead under the worst case, and for
# {glue:text}`audit-n-excluded` the worst-case interval excludes zero. Verdicts: {glue:md}`audit-verdicts`.
# {glue:md}`audit-seed-note`

# %% [markdown]
# ## Summary
#
# - {glue:text}`audit-n-networks` networks of sections 4.1-4.3 were audited ({glue:text}`audit-n-seeds` seed(s),
#   {glue:text}`audit-n-images` test images) with PGD-1, PGD-{glue:text}`audit-restarts`, APGD-CE, APGD-T, Square
#   and transfer from Vanilla, and read by the per-image worst case over all of them.
# - {glue:text}`audit-n-flagged` networks raise a masking flag ({glue:md}`audit-flagged-list`). The largest drop
#   from PGD-1 to the worst case is {glue:text}`audit-largest-gap` points ({glue:text}`audit-largest-gap-name`).
# - The spectral regularizer's $\epsilon_{50}$ advantage over Vanilla, PGD-1 → worst case: shallow
#   {glue:text}`audit-shallow-d-pgd` → {glue:text}`audit-shallow-d-worst`, MLP {glue:text}`audit-mlp-d-pgd` →
#   {glue:text}`audit-mlp-d-worst`, CNN {glue:text}`audit-cnn-d-pgd` → {glue:text}`audit-cnn-d-worst` (pixel units).
#   {glue:text}`audit-n-survive` of the {glue:text}`audit-n-positive` networks ahead under PGD-1 stay ahead under the
#   worst case. {glue:md}`audit-plain` {glue:md}`audit-seed-note`
# - The budgets are smaller than AutoAttack's standard version, so the worst case is an upper bound on robust
#   accuracy, tighter than PGD-1's.
