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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from myst_nb import glue

from onen.analysis import audit_effects, audit_figures, audit_report, profiles
from onen.analysis.plotting import use_style

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seeds, device, evaluation = (setup.results_dir, setup.seeds, setup.device,
                                          setup.evaluation)
audit = profiles.audit_config(profile)
networks = profiles.book_networks(profile)
eps = np.asarray(audit.eps)
use_style()

# %% tags=["remove-cell"]
for key, value in audit_report.setting_values(audit, evaluation, len(networks), len(seeds)).items():
    glue(key, value, display=False)

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

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
audit_report.budget_table(audit, profile)

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
#
# Every network of {doc}`shallow`, {doc}`deep_last_layer` and {doc}`deep_all_layers` is attacked in every seed of
# the profile, on the same test images; the table lists them with their clean accuracy on those images.

# %% tags=["hide-input"]
audits = audit_report.audit_runs(networks, audit, seeds, results_dir, device, profile)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
audit_report.networks_table(audits, audit.n_images, profile)

# %% [markdown]
# ## Accuracy under the strongest attack

# %% tags=["hide-input"]
fig = audit_figures.curves_figure(audits, eps)
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
pairs = audit_report.shown_pairs(profile)
fig = audit_figures.attacks_figure(audits, eps, pairs, audit.restarts)
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
fig = audit_figures.flags_figure(audits)
glue("audit-flags", fig, display=False)
plt.close(fig)
for key, value in audit_report.flag_values(audits).items():
    glue(key, Markdown(value) if key == "audit-flagged-list" else value, display=False)

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

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
audit_report.flag_table(audits, seeds, profile)

# %% [markdown]
# ## Every attack at two radii
#
# For each architecture the table reads every network at two radii of the grid: the one closest to Vanilla's PGD-1
# $\epsilon_{50}$ (where Vanilla keeps about half of its clean accuracy; interpolated on this audit's grid and
# images), where differences between networks and attacks are largest, and the smallest at which Vanilla's PGD-1
# accuracy is down to {glue:text}`audit-zero-level`% (the largest of the grid if it never is), where a network that
# still stands either is robust or hides its gradients.

# %% tags=["remove-cell"]
radii = audit_report.radii(audits, eps)
for family, r in radii.items():
    glue(f"audit-{family}-vanilla-eps50", f"{r.half:.3f}", display=False)
    glue(f"audit-{family}-eps-half", f"{eps[r.k_half]:g}", display=False)
    glue(f"audit-{family}-eps-zero", f"{eps[r.k_zero]:g}", display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
for table in audit_report.attack_tables(audits, eps, radii, audit.restarts):
    display(table)

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

# %% tags=["hide-input"]
effects = audit_effects.effects(audits, eps, radii, profile)
glue("audit-betas", ", ".join(f"β={b:g}" for b in profiles.deep_betas(profile)), display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
audit_effects.effects_table(effects, audit.n_images, profile)

# %% tags=["hide-input"]
fig = audit_figures.effects_figure(effects)
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

# %% tags=["remove-cell"]
pair_values = audit_effects.pair_values(effects, pairs)
for key, value in {**pair_values, **audit_effects.count_values(effects, audits)}.items():
    glue(key, value, display=False)
glue("audit-plain", Markdown(audit_effects.plain_words(effects, pairs)), display=False)
glue("audit-verdicts", Markdown(audit_effects.verdict_words(effects)), display=False)
words = audit_effects.seed_words(len(seeds), audit.n_images)
glue("audit-seed-note", Markdown(words), display=False)

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
