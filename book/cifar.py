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
# # Natural images: CIFAR-10
#
# Every network of the chapters before this one reads MNIST digits: nearly binary images whose pixel covariance already
# decays fast. Reviewers asked whether what the paper finds holds on natural images, and in their rebuttal the authors
# trained a small convolutional network on CIFAR-10 {cite}`krizhevsky2009` with and without the spectral
# regularizer. This chapter repeats that experiment and asks three questions:
#
# 1. Does a spectral penalty on every block of a CIFAR-10 CNN bring each block's spectrum to the $1/n$ target?
# 2. Does it change the network's accuracy under FGSM {cite}`goodfellow2015` and PGD {cite}`madry2018` at the radii
#    used for natural images (a few grey levels, $\epsilon = k/255$), under Gaussian noise and under common
#    corruptions, measured against its own clean accuracy and against Vanilla at the same clean accuracy?
# 3. Does that robustness survive stronger attacks (the attack audit of {doc}`audit`) at one radius?
#
# Jacobian regularization {cite}`hoffman2019` is the reference defence, as in {doc}`deep_all_layers`.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown
from myst_nb import glue

from onen.analysis import cifar_report, profiles, report
from onen.analysis.plotting import use_style
from onen.runs.experiments import dataset, run_seeds

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seeds, device = setup.results_dir, setup.seeds, setup.device
variants = profiles.cifar_variants(profile)
evaluation = profiles.cifar_evaluation(profile)
audit = profiles.cifar_audit(profile)
corruption = profiles.cifar_corruption_config(profile)
base = variants["Vanilla"]
use_style()

# %% tags=["remove-cell"]
values = cifar_report.setting_values(profile, variants, evaluation, audit, corruption, seeds)
for key, value in values.items():
    glue(key, value, display=False)
for key, words in cifar_report.setting_words(profile, base).items():
    glue(key, Markdown(words), display=False)

# %% [markdown]
# ## Set-up
#
# **Data.** {glue:md}`cifar-source` (`onen.cifar`: torchvision's lossless original where it is on disk or can be
# downloaded, otherwise a third party's re-encoding of all 60000 images as JPEG at quality 75, each checksummed).
# The JPEG copy's channel means agree with the original's to about $10^{-4}$, but its pixels differ by a few grey
# levels, so numbers on it are close to, not identical with, numbers on the original; the source is part of every
# network's cache key, so results from the two are never mixed.
#
# **Network.** The authors' rebuttal CNN: three blocks, each a 3x3 convolution (padding 1), tanh, a second 3x3
# convolution, tanh and 2x2 max-pooling, with {glue:text}`cifar-channels` channels, then one linear layer to the 10
# classes. A fixed first layer subtracts the per-channel mean and divides by the standard deviation of the CIFAR-10
# training pixels, so the network's inputs, and every attack's $\epsilon$-ball and clipping, stay in $[0, 1]$ pixels.
# The three block outputs, flattened ({glue:text}`cifar-widths` units wide), are the hidden representations whose
# spectra are measured and regularized, as for the MNIST CNN of {doc}`deep_all_layers`.
#
# **Variants.** *Vanilla* (cross-entropy only); *SpecReg (all)*: the spectral penalty of {doc}`regularizer` on every
# block ($\tau = 10$, $\alpha = 1$, $\beta = 1$), read through the tracked eigenbasis of {doc}`eigenbasis`, which
# serves minibatches narrower than the layer (running covariance with momentum {glue:text}`cifar-track-momentum`, its
# eigendecomposition refreshed every {glue:text}`cifar-track-every` steps); *Jacobian*: the Jacobian penalty with weight 0.01. All use Adam with the
# AMSGrad correction at learning rate {glue:text}`cifar-lr`, batch {glue:text}`cifar-batch`,
# {glue:text}`cifar-epochs` epochs on {glue:text}`cifar-train-images` training images, {glue:text}`cifar-seeds`
# seed(s).
#
# {glue:md}`cifar-scale`
#
# **Evaluation.** Clean accuracy on all 10000 test images; FGSM, PGD ({glue:text}`cifar-pgd-steps` steps, one
# random start) and Gaussian noise on the first {glue:text}`cifar-attack-images` test images of a fixed permutation,
# with $\epsilon \in \{0, 1, 2, 4, 8, 16\}/255$. PGD's step is the book's $\max(0.01, 2.5\,\epsilon/\text{steps})$, so
# at the smallest radii one step reaches the edge of the ball and PGD is an iterated FGSM that can still move between
# corners. Every robustness number below stands next to the clean accuracy of the same network on the same images.

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
cifar_report.settings_table(base, evaluation, seeds, profile)

# %% [markdown]
# {numref}`fig-cifar-examples` shows test images, clean and under the corruptions of the last section.

# %% tags=["hide-input"]
test = dataset("cifar10", "test", "cpu", source=base.cifar_source)
fig = cifar_report.examples_figure(test.subset(corruption.test_subset, seed=0), corruption)
glue("cifar-examples", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} cifar-examples
# :name: "fig-cifar-examples"
#
# Test images (one per class for the first four classes), clean and under each corruption at
# severity {glue:text}`cifar-top-severity`.
# ```

# %% tags=["hide-input"]
# Vanilla stopped early first: a full-length Vanilla not yet trained then resumes the longest one's checkpoint
early = cifar_report.frontier_runs(profile, evaluation, seeds, results_dir, device)
results = {name: run_seeds(config, evaluation, seeds, results_dir, device, progress=False)
           for name, config in variants.items()}
frontier = cifar_report.frontier(early, results["Vanilla"])

# %% tags=["remove-cell"]
for key, value in cifar_report.result_values(results).items():
    glue(key, value, display=False)
words = cifar_report.interval_words(results, evaluation.test_subset or 10000, len(seeds))
glue("cifar-interval-words", Markdown(words), display=False)
contrasts = cifar_report.contrasts(results, frontier)
glue("cifar-effect-words", Markdown(cifar_report.effect_words(results, contrasts)), display=False)
glue("cifar-verdict-words", Markdown(cifar_report.verdict_words(contrasts)), display=False)

# %% [markdown]
# ## Clean and adversarial accuracy
#
# The table gives each network's clean accuracy on the whole test set and on the attacked images, then its accuracy
# under FGSM and PGD at each radius and under Gaussian noise, in percent. {glue:md}`cifar-interval-words`

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
cifar_report.accuracy_table(results, evaluation.test_subset or 10000, profile)

# %% tags=["hide-input"]
fig = cifar_report.robustness_figure(results)
glue("cifar-robustness", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} cifar-robustness
# :name: "fig-cifar-robustness"
#
# Left: accuracy under FGSM (dashed) and PGD (solid) against the radius in grey levels; the point at 0 is the clean
# accuracy on the attacked images. Right: accuracy under Gaussian noise. Mean over seeds (band: ± one standard
# deviation where there is more than one seed).
# ```
#
# Clean accuracy is {glue:text}`cifar-clean-vanilla`% for Vanilla, {glue:text}`cifar-clean-specreg`% for SpecReg
# and {glue:text}`cifar-clean-jacobian`% for Jacobian. At $\epsilon = 2/255$ PGD leaves them
# {glue:text}`cifar-pgd2-vanilla`%, {glue:text}`cifar-pgd2-specreg`% and {glue:text}`cifar-pgd2-jacobian`%; at
# $8/255$, {glue:text}`cifar-pgd8-vanilla`%, {glue:text}`cifar-pgd8-specreg`% and {glue:text}`cifar-pgd8-jacobian`%.
#
# ## Robustness against clean accuracy
#
# Robustness moves with clean accuracy: a network that is less accurate clean has less to lose, and looks more robust
# for free. Each regularized network is therefore compared with Vanilla twice, in $\epsilon_{50}$, the radius at which
# PGD leaves half of the clean accuracy (as in {doc}`reproduced`): raw, and *above Vanilla's frontier*, against Vanilla
# at the same clean accuracy. The frontier is Vanilla stopped after {glue:text}`cifar-frontier-epochs` epochs and
# trained to the end, linear in clean accuracy (on the attacked images) between these points; an effect above it is
# what the network gains over what that clean accuracy buys Vanilla, and a network whose clean accuracy lies outside
# the frontier's range cannot be placed on it ("outside the frontier").
#
# **The verdict rule** (`onen.analysis.stats`). Each effect's 95% interval adds the spread over seeds (Student $t$)
# and a paired bootstrap over the attacked test images. An effect is "reproduced" when its interval excludes zero on
# the side the paper claims (both penalties raise $\epsilon_{50}$), "contradicted" when it excludes zero on the other
# side, and "not resolved" when it holds zero; with one seed it reads "not enough seeds" whatever its interval, which
# then measures the images alone. A contrast is "not tested" where a network is at chance level clean, or where the
# spectral penalty's blocks did not reach the $1/n$ target (a claim about a $1/n$ code needs one).

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
cifar_report.contrast_table(contrasts, profile)

# %% tags=["hide-input"]
fig = cifar_report.frontier_figure(results, frontier)
glue("cifar-frontier", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} cifar-frontier
# :name: "fig-cifar-frontier"
#
# PGD $\epsilon_{50}$ in grey levels against clean accuracy, both on the attacked images (the radius where PGD leaves
# half of their clean accuracy, as the frontier measures it; the contrasts' raw $\epsilon_{50}$ halves the accuracy on
# all 10000 test images, the same where every test image is attacked), mean over seeds. Dashed: Vanilla's frontier,
# Vanilla stopped after {glue:text}`cifar-frontier-epochs` epochs and trained to the end; each point is one network.
# ```
#
# {glue:md}`cifar-effect-words` {numref}`fig-cifar-frontier` places each network against the frontier.

# %% [markdown]
# ## Spectra of the three blocks
#
# {numref}`fig-cifar-spectra` shows each block's covariance spectrum on test images, and the table scores it: for the
# blocks SpecReg regularizes, the exponent fitted over the penalized ranks and the median distance to the target
# $\gamma_k$ (`onen.spectrum.target_score`); Vanilla's and Jacobian's blocks are scored against the same target for
# comparison. Clean accuracy stands in the table beside them.

# %% tags=["hide-input"]
ranks = tuple(base.fit_ranks)
block_names = [f"block {l + 1} ({w} units)" for l, w in enumerate(base.widths)]
fig = report.spectra_figure(results, [0, 1, 2], block_names, ranks=ranks)
glue("cifar-spectra", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} cifar-spectra
# :name: "fig-cifar-spectra"
#
# Eigenspectra of the three block outputs on test images (first seed), normalised at rank 11, with the $1/n$ line.
# The legend gives each network's fitted exponent.
# ```

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
caption = (f"Clean accuracy, robustness scores (mean accuracy over the nonzero radii, fractions) "
           f"and the spectrum of each block, {profile} profile")
report.summary_table(results, layers=(0, 1, 2), ranks=ranks, caption=caption)

# %% tags=["remove-cell"]
targets = report.target_scores(results["SpecReg (all)"])
vanilla_alphas = [report.layer_alphas(results["Vanilla"], l, ranks).mean() for l in range(3)]
glue("cifar-reached", sum(t.reached for t in targets), display=False)
glue("cifar-alphas-specreg", ", ".join(f"{t.fitted_alpha:.2f}" for t in targets), display=False)
glue("cifar-alphas-vanilla", ", ".join(f"{a:.2f}" for a in vanilla_alphas), display=False)

# %% [markdown]
# SpecReg's blocks have fitted exponents {glue:text}`cifar-alphas-specreg` over their penalized ranks (target 1);
# {glue:text}`cifar-reached` of the 3 reached the target by the book's rule. {numref}`fig-cifar-training` shows how
# training went: the cross-entropy and the penalty per epoch.

# %% tags=["hide-input"]
fig = cifar_report.training_figure(results)
glue("cifar-training", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} cifar-training
# :name: "fig-cifar-training"
#
# Mean training cross-entropy (left) and penalty (right) per epoch, first seed.
# ```
#
# ## An attack audit at one radius
#
# FGSM and a short PGD can overstate robustness when a network's gradients are uninformative. With `onen.robustness.audit`, each
# network is attacked again at $\epsilon$ = {glue:text}`cifar-audit-eps` on {glue:text}`cifar-audit-images` test
# images with PGD, PGD with restarts, APGD-CE, APGD-T and the gradient-free Square attack (the last three from
# `torchattacks`), and "worst" counts an image as robust only if every attack failed. The budgets are those of the
# profile (smaller than AutoAttack's), and with this few images each accuracy carries a test-image error of several
# points (binomial, 95%: ±{glue:text}`cifar-audit-half-width` points at Vanilla's clean accuracy on these images).
# Of `onen.robustness.audit`'s masking checks, two apply at a single radius: the gradient-free Square attack beating
# every gradient attack, and PGD restarts gaining more than noise. The third, accuracy not reaching zero at the largest
# radius, needs a grid that extends to large radii, which a one-radius audit does not have, so it is left out.

# %% tags=["hide-input"]
audits = cifar_report.audit_runs(variants, audit, seeds, results_dir, device)
for key, value in cifar_report.audit_values(audits, audit).items():
    glue(key, Markdown(value) if key == "cifar-audit-flags" else value, display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
cifar_report.audit_table(audits, audit)

# %% [markdown]
# Under the worst case of all attacks Vanilla keeps {glue:text}`cifar-audit-worst-vanilla`% and SpecReg
# {glue:text}`cifar-audit-worst-specreg`%. {glue:md}`cifar-audit-flags`
#
# ## Common corruptions
#
# CIFAR-10-C {cite}`hendrycks2019` corrupts the test images with noise, blur, weather and digital distortions. Five
# of them keep their meaning at 32x32 and are computed here by `onen.robustness.cifar_c` with CIFAR-10-C's parameters:
# Gaussian noise, Gaussian blur (torchvision), contrast (torchvision), brightness (in HSV, kornia) and JPEG
# compression (Pillow), on {glue:text}`cifar-corr-images` test images at severities
# {glue:text}`cifar-corr-severities`. Every corruption is drawn from one fixed seed, so all networks see the same
# images. Since the images are already JPEG at quality 75, the mildest JPEG levels (quality 80 and 65) change little.

# %% tags=["hide-input"]
corrupted = cifar_report.corruption_runs(variants, corruption, seeds, results_dir, device)
mca = cifar_report.mean_corruption_accuracy(corrupted)
for name, key in cifar_report.KEYS.items():
    glue(f"cifar-mca-{key}", cifar_report.interval_cell(mca[name]), display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
cifar_report.corruption_table(corrupted, corruption)

# %% tags=["hide-input"]
fig = cifar_report.corruption_figure(corrupted, corruption)
glue("cifar-corruptions", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} cifar-corruptions
# :name: "fig-cifar-corruptions"
#
# Accuracy against severity for each corruption (severity 0: clean, on the same images), mean over seeds.
# ```
#
# ## Summary
#
# - Data: {glue:text}`cifar-source-short` of CIFAR-10; network: the authors' three-block tanh CNN with
#   {glue:text}`cifar-channels` channels, normalisation folded into its first layer; profile
#   {glue:text}`cifar-profile`, {glue:text}`cifar-seeds` seed(s).
# - Clean accuracy: Vanilla {glue:text}`cifar-clean-vanilla`%, SpecReg (all blocks) {glue:text}`cifar-clean-specreg`%,
#   Jacobian {glue:text}`cifar-clean-jacobian`%. PGD at 8/255: {glue:text}`cifar-pgd8-vanilla`%,
#   {glue:text}`cifar-pgd8-specreg`% and {glue:text}`cifar-pgd8-jacobian`%.
# - Robustness: {glue:md}`cifar-verdict-words`
# - Spectra: SpecReg's blocks fit exponents {glue:text}`cifar-alphas-specreg` (Vanilla's
#   {glue:text}`cifar-alphas-vanilla`); {glue:text}`cifar-reached` of 3 reached the $1/n$ target.
# - Audit at {glue:text}`cifar-audit-eps`: worst-case accuracy Vanilla {glue:text}`cifar-audit-worst-vanilla`%,
#   SpecReg {glue:text}`cifar-audit-worst-specreg`%. {glue:md}`cifar-audit-flags`
# - Corruptions: mean corruption accuracy Vanilla {glue:text}`cifar-mca-vanilla`%, SpecReg
#   {glue:text}`cifar-mca-specreg`%, Jacobian {glue:text}`cifar-mca-jacobian`%.
# - {glue:md}`cifar-interval-words`
