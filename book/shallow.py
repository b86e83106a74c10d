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
# # A shallow network with a 1/n hidden layer
#
# Section 4.1 of {cite}`nassar2020` asks the simplest version of the question: in a network with a single hidden
# layer, does imposing a $1/n$ covariance spectrum on that layer make the network more robust to adversarial inputs?
# The network is the paper's 784-2000-10 multilayer perceptron with tanh units (784-1000-10 in the quick profile,
# which halves the width so that the book runs on a CPU), trained on MNIST {cite}`lecun1998` in twelve variants:
#
# - **Vanilla**: cross-entropy only;
# - **Vanilla-BN**: BatchNorm {cite}`ioffe2015` after the hidden activation;
# - **SpecReg-BN β=1**: the same with the spectral regularizer, the pair the authors' note on section 4.1 describes
#   (BatchNorm on for both);
# - **Whitened**: the hidden layer whitened (a flat spectrum, the opposite extreme of a fast decay);
# - **SpecReg β=1, 2, 5**: cross-entropy plus the spectral regularizer of {doc}`regularizer` on the hidden layer,
#   with the paper's eigenbasis (recomputed once per epoch);
# - **SpecReg β=1, 2, 5 tracked**: the same penalty read through the tracked eigenbasis of
#   {ref}`sec-regularizer-tracked`, which follows the network after every step;
# - **Vanilla lr=1e-02** and **SpecReg β=20 tracked lr=1e-02**: the pair at the setting where the search at the
#   paper's scale comes closest to $1/n$ ({ref}`sec-shallow-paper`): learning rate $10^{-2}$, β = 20, the tracked
#   basis, and (in the paper profile) 100 epochs, with Vanilla trained at the same rate for as long.
#
# For each we show the hidden layer's eigenspectrum, accuracy under FGSM {cite}`goodfellow2015` and PGD
# {cite}`madry2018` on one axis with $\epsilon$ extended until every model is at zero, accuracy under Gaussian noise,
# and input-sensitivity maps.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown
from myst_nb import glue

from onen.analysis import profiles
from onen.analysis import report
from onen.runs import search
from onen.runs.experiments import run_seeds, stored_seeds
from onen.analysis.plotting import PALETTE, colours, plot_spectra, sensitivity_grid, use_style
from onen.runs.search import stored_point
from onen.spectrum import (REACHED_ALPHA_TOLERANCE, fit_power_law, target_ratio,
                           white_reference_alpha)
from onen.analysis.tables import Table

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seeds, device, evaluation = setup.results_dir, setup.seeds, setup.device, setup.evaluation
variants = profiles.shallow_variants(profile)
use_style()
glue("shallow-profile", profile, display=False)
glue("shallow-track-momentum", profiles.TRACKED["track_momentum"], display=False)
glue("shallow-bn-recalibrated", Markdown(
    "BatchNorm's running statistics are recomputed in the same way in this profile, whose few hundred steps leave "
    "them averaging earlier weights." if variants["Vanilla-BN"].recalibrate else
    "BatchNorm keeps the running statistics it trained with, as in the paper."), display=False)

# %% [markdown]
# ## Set-up
#
# Pixels are in $[0, 1]$ without normalisation and every $\epsilon$ is an $L_\infty$ radius in those pixel units.
# Training uses Adam with the AMSGrad correction {cite}`kingma2015,reddi2018`. The regularizer's anchor is the
# eigenvalue of 0-based index $\tau = 10$ (the 11th largest) and the target exponent is $\alpha = 1$. The
# paper's variants refresh the eigenbasis once per epoch; the tracked ones update it after every step from a running
# covariance (momentum {glue:text}`shallow-track-momentum`). BatchNorm and whitening come *after* the tanh, so the representation that
# the spectrum describes is the one the output layer reads. Whitening uses the batch covariance in training and
# running estimates at test time (Cholesky whitening of the centred activations, with the authors' jitter
# $10^{-5}$), so no prediction depends on the rest of its batch. After the last epoch the whitened net's running
# estimates are recomputed from its training images at the final weights (`recalibrate`): running averages left as
# trained still carry the covariance of earlier weights, and the layer then measures far from white.
# {glue:md}`shallow-bn-recalibrated` Batches that do not fill a whole minibatch at the end of an epoch are dropped, so
# every batch covariance of the hidden layer has full rank (the batch is at least as large as the layer). The settings of this run:

# %% tags=["nbval-check-output"]
base = variants["Vanilla"]
print(f"profile {profile}: seeds {seeds}")
print(f"network 784-{base.widths[0]}-10 {base.activation}; Adam (AMSGrad) lr {base.lr}, batch {base.batch_size}, "
      f"{base.epochs} epochs on {base.train_subset or 60000} training images")
print(f"eigenbasis from {base.eigen_subset or base.train_subset or 60000} training images; tau {base.tau}, alpha {base.alpha}")
print(f"attacks on {evaluation.test_subset or 10000} test images; PGD {evaluation.pgd_steps} steps, "
      f"step max(0.01, 2.5 eps / steps), {evaluation.pgd_restarts} restart(s)")
print("eps grid:", evaluation.eps_pgd)

# %%
results = {name: run_seeds(config, evaluation, seeds, results_dir, device) for name, config in variants.items()}

# %% [markdown]
# ## The hidden layer's spectrum
#
# {numref}`fig-shallow-spectra` shows the eigenspectrum of the hidden layer's covariance over test images, each
# divided by its 11th eigenvalue (the regularizer's anchor), against $n^{-1}$. The exponent in each legend is a
# least-squares fit in log-log coordinates over ranks 11-500, weighted by $1/n$ as in {cite}`stringer2019`.
#
# The summary table in the next section scores the same test-image spectrum $\lambda$ against the regularizer's own
# target $\gamma_k = \lambda_\tau \left((\tau + 1)/(k + 1)\right)^\alpha$: it fits the exponent in the same way but
# over exactly the eigenvalues the penalty acts on, $k > \tau$ (0-based; ranks $\tau + 2 = 12$ to $N$, the layer's
# width), and gives the median over them of $|\log(\lambda_k / \gamma_k)|$. The layer has *reached* its target when,
# in every seed, the fitted exponent is within 0.1 of $\alpha$ and that median is at most $\log 2$ (the typical
# penalized eigenvalue within a factor 2 of its target); the variants without the regularizer are scored against the
# same $1/n$ target, in parentheses, for comparison.

# %% tags=["hide-input"]
fig = report.spectra_figure(results, layers=[0], layer_names=[f"hidden layer ({base.widths[0]} tanh units)"])
glue("shallow-spectra", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-spectra
# :name: "fig-shallow-spectra"
#
# Covariance eigenspectra of the hidden layer of each variant (first seed), normalised at rank 11, with the $1/n$
# target (dashed). Fitted exponents over ranks 11-500 in the legend (mean over seeds).
# ```

# %%
white_images = evaluation.spectrum_subset or 10000
white_alpha = float(np.mean([fit_power_law(r.arrays["spectrum_0"], (11, 500)) for r in results["Whitened"]]))
glue("shallow-white-alpha", white_alpha, display=False)
glue("shallow-white-reference", white_reference_alpha(white_images, base.widths[0], (11, 500)), display=False)
glue("shallow-white-images", white_images, display=False)

# %% [markdown]
# How white is the whitened layer? Its exponent over ranks 11-500 is {glue:text}`shallow-white-alpha:.2f` on the
# {glue:text}`shallow-white-images` test images. Zero is not the right yardstick: an exactly white layer of the same
# width, measured on as many samples, fits {glue:text}`shallow-white-reference:.2f`, because a sample covariance's
# eigenvalues spread over the Marchenko-Pastur law around their common value (`onen.spectrum.white_reference_alpha`).
# The difference is what the layer lacks of white on images it was not whitened on.

# %% [markdown]
# ## Robustness to adversarial perturbations
#
# {numref}`fig-shallow-robustness` puts FGSM (dashed) and PGD (solid) on one axis, as a reviewer asked, with the
# $\epsilon$ grid running until every model is at zero accuracy. The table below the figure summarises each curve by
# its *robustness score*, the mean accuracy over the nonzero $\epsilon$ of the grid (a normalised area under the
# curve), and by PGD's $\epsilon_{50}$, the radius at which PGD accuracy falls to half of the network's own clean
# accuracy (interpolated on the grid; the summary that {doc}`reproduced` tests the claims on), gives the smallest
# $\epsilon$ at which PGD accuracy is at or below 1%, and scores the hidden layer's spectrum against its target as
# described in the previous section.

# %% tags=["hide-input"]
fig = report.robustness_figure(results, attacks=("fgsm", "pgd"))
glue("shallow-robustness", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-robustness
# :name: "fig-shallow-robustness"
#
# Test accuracy under FGSM (dashed) and PGD (solid) against the $L_\infty$ radius $\epsilon$ (pixels in [0, 1]).
# Bands: ± one standard deviation over seeds (absent with one seed).
# ```

# %% tags=["nbval-check-output"]
report.summary_table(results, layers=[0])

# %%
spec_effect = report.paired_effect(results, "SpecReg β=5", "Vanilla")
whiten_effect = report.paired_effect(results, "Whitened", "Vanilla")
glue("shallow-spec-gain", spec_effect.mean, display=False)
glue("shallow-whiten-gain", whiten_effect.mean, display=False)
glue("shallow-spec-verdict", spec_effect.verdict(+1), display=False)
glue("shallow-whiten-verdict", whiten_effect.verdict(-1), display=False)

# %% [markdown]
# Against Vanilla, SpecReg at β = 5 changes PGD's $\epsilon_{50}$ by {glue:text}`shallow-spec-gain:+.3f` (pixel
# units; the paper's claim that it helps: {glue:text}`shallow-spec-verdict`), and whitening changes it by
# {glue:text}`shallow-whiten-gain:+.3f` (the paper's claim that it hurts: {glue:text}`shallow-whiten-verdict`). The
# verdicts follow the rule of {doc}`reproduced`: a 95% interval over seeds and the attacked test images.

# %% [markdown]
# ## Gaussian noise
#
# Reviewers asked whether the effect extends beyond worst-case perturbations. {numref}`fig-shallow-noise` adds
# i.i.d. Gaussian noise of standard deviation $\sigma$ to every pixel (clipped to $[0, 1]$), the simplest of the
# common corruptions {cite}`hendrycks2019,mu2019`.

# %% tags=["hide-input"]
fig = report.robustness_figure(results, attacks=("noise",))
glue("shallow-noise", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-noise
# :name: "fig-shallow-noise"
#
# Test accuracy under additive Gaussian noise of standard deviation $\sigma$ (pixel units), mean ± sd over seeds.
# ```

# %% [markdown]
# ## Input sensitivity
#
# The gradient of the loss with respect to the input shows which pixel changes move the prediction most. A smooth
# code should give maps that look like the digit's strokes rather than scattered high-frequency speckle.
# {numref}`fig-shallow-sensitivity` shows $|\partial L / \partial x|$ for the same test digits under each model
# (first seed), each map scaled to its own maximum.

# %% tags=["hide-input"]
first = {name: runs[0] for name, runs in results.items()}
images = next(iter(first.values())).arrays["sensitivity_images"]
fig = sensitivity_grid(images, {name: r.arrays["sensitivity"] for name, r in first.items()})
glue("shallow-sensitivity", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-sensitivity
# :name: "fig-shallow-sensitivity"
#
# Input-sensitivity maps $|\partial L/\partial x|$ of the same test digits (top row) under each variant.
# ```

# %% [markdown]
# ## Clean accuracy and training
#
# The table above lists clean accuracy on all 10000 test images. The regularizer trades some fit for its spectrum:
# {numref}`fig-shallow-training` shows the cross-entropy, the penalty and the fitted exponent over training.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for name, runs in results.items():
    history = runs[0].meta["history"]
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, history["cross_entropy"], label=name)
    axes[1].plot(epochs, history["penalty"], label=name)
    axes[2].plot(epochs, [a[0] for a in history["alphas"]], label=name)
axes[0].set_ylabel("training cross-entropy (nats)")
axes[1].set_ylabel("spectral penalty (with β)")
axes[2].set_ylabel("fitted α (ranks 11-500)")
axes[2].axhline(1.0, color="k", ls="--", lw=1)
for ax in axes:
    ax.set_xlabel("epoch")
axes[0].legend()
fig.tight_layout()
glue("shallow-training", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-training
# :name: "fig-shallow-training"
#
# Training curves (first seed): mean training cross-entropy, mean spectral penalty and the hidden layer's fitted
# exponent on the eigenbasis subset after each epoch. Dashed: the target $\alpha = 1$.
# ```

# %% [markdown]
# (sec-shallow-paper)=
# ## Section 4.1 at the paper's scale
#
# Everything above comes from the {glue:text}`shallow-profile` profile. This section shows the networks of the
# **paper** profile that ship with the book under `results/paper/`: the paper's own settings (784-2000-10 tanh, all
# 60000 training images, batch 3500, Adam with AMSGrad at learning rate $10^{-3}$, 50 epochs, seeds 0-2), evaluated
# on all 10000 test images with FGSM and 40-step PGD over an $\epsilon$ grid that runs until every model is at zero.
# To the paper's variants it adds the pair at the setting of the search below that comes closest to $1/n$: Vanilla
# and the tracked basis at β = {glue:text}`shallow-paper-near-beta`, learning rate
# {glue:text}`shallow-paper-near-lr`, {glue:text}`shallow-paper-near-epochs` epochs. Each stored result carries its
# provenance (commit, library versions, device and wall time); networks were trained either on one NVIDIA H200 GPU
# or on a 2-core CPU, and the table says which. The two give different floating-point results for the same seed,
# so a seed trained on each is two samples of the same configuration, not one. The chapter only loads these
# networks: one that has not been computed yet is listed as missing, never trained on the fly.
# `python -m onen shallow --profile paper` computes the missing ones and resumes any that was
# interrupted; on a GPU, `--device cuda --workers 12` trains twelve at once.

# %%
paper_dir = profiles.committed_results("paper")
paper_variants, paper_eval, paper_seeds = (profiles.shallow_variants("paper"), profiles.evaluation("paper"),
                                           profiles.seeds("paper"))
paper_results, status_rows = stored_seeds(paper_variants, paper_eval, paper_seeds, str(paper_dir))
paper_done = sum(len(runs) for runs in paper_results.values())
near_vanilla, near_name = profiles.nearest_pair("paper")
near = paper_variants[near_name]
glue("shallow-paper-done", paper_done, display=False)
glue("shallow-paper-total", len(paper_variants) * len(paper_seeds), display=False)
glue("shallow-paper-near-beta", f"{near.beta:g}", display=False)
glue("shallow-paper-near-lr", f"{near.lr:.0e}", display=False)
glue("shallow-paper-near-epochs", near.epochs, display=False)

# %% tags=["nbval-check-output"]
report.status_table(status_rows, paper_seeds, "4.1")

# %% [markdown]
# {glue:text}`shallow-paper-done` of the {glue:text}`shallow-paper-total` networks are computed so far.
# {numref}`fig-shallow-paper` shows them: the hidden layer's spectrum on test images and the attack curves, and the
# table below the figure summarises each variant over the seeds it has. The verdicts that follow use the rule of
# {doc}`reproduced`, fixed before these numbers were looked at: PGD's $\epsilon_{50}$ of the two networks, paired by
# seed over the seeds both have, with a 95% interval over those seeds and the attacked test images; an interval
# that excludes zero on the claimed side reproduces the claim, on the other side contradicts it; one paired seed is
# not enough. A claim about a $1/n$ layer is tested only on a network whose hidden layer reached its target; for the
# others the table still shows which way the difference goes.

# %% tags=["hide-input"]
fig, (ax_spec, ax_rob) = plt.subplots(1, 2, figsize=(12, 4.2))
if paper_results:
    colour_of = colours(list(paper_results))
    labels = {name: f"{name} (α={np.mean(report.layer_alphas(runs, 0)):.2f})" for name, runs in paper_results.items()}
    plot_spectra(ax_spec, {labels[name]: runs[0].arrays["spectrum_0"] for name, runs in paper_results.items()},
                 colour_of={labels[name]: colour_of[name] for name in paper_results})
    ax_spec.legend(fontsize=6)
    report.robustness_figure(paper_results, attacks=("fgsm", "pgd"), ax=ax_rob)
else:
    for ax in (ax_spec, ax_rob):
        ax.text(0.5, 0.5, "no paper-profile network computed yet", ha="center", transform=ax.transAxes)
ax_spec.set_title("hidden layer (2000 tanh units), test images")
fig.tight_layout()
glue("shallow-paper", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-paper
# :name: "fig-shallow-paper"
#
# Paper profile. Left: the hidden layer's covariance spectrum over all 10000 test images (first computed seed),
# normalised at rank 11, with the $1/n$ target (dashed); exponents fitted over ranks 11-500, mean over seeds. Right:
# accuracy under FGSM (dashed) and PGD-40 (solid) on all 10000 test images, mean ± sd over the computed seeds.
# ```

# %% tags=["nbval-check-output"]
report.summary_table(report.with_seed_counts(paper_results), layers=[0],
                     caption="Paper profile, computed networks (mean ± sd over the seeds in brackets)") \
    if paper_results else Markdown("No paper-profile network is computed yet.")

# %%
paper_claims = report.claims_table(
    paper_results, profiles.shallow_claims("paper"),
    caption="The paper's claims at the paper's scale: PGD ε50 of the first network minus the second (pixel units)")
def basis_sentence(basis: str, label: str) -> Markdown:
    """What SpecReg with this eigenbasis, at the paper's learning rate and without BatchNorm, did to the hidden
    layer's exponent and to PGD's eps50 against Vanilla, over every beta computed."""
    names = [name for name, config in paper_variants.items() if config.regularizer == "spectral"
             and config.basis == basis and not config.batchnorm and config.lr == paper_variants["Vanilla"].lr
             and name in paper_claims.effects]  # computed, and paired with Vanilla by seed
    if not names:
        return Markdown(f"{label} at the paper's learning rate is not computed yet")
    scores = [report.target_scores(paper_results[name])[0] for name in names]
    alphas = [score.fitted_alpha for score in scores]
    vanilla = report.target_scores(paper_results["Vanilla"], [0])[0]
    gains = [paper_claims.effects[name].mean for name in names]
    nearer = [abs(a - vanilla.target_alpha) < abs(vanilla.fitted_alpha - vanilla.target_alpha) for a in alphas]
    return Markdown(
        f"with {label} at the paper's learning rate (β = {', '.join(f'{paper_variants[n].beta:g}' for n in names)}) "
        f"the hidden layer's exponent over the penalized ranks is {min(alphas):.2f}-{max(alphas):.2f}, against "
        f"{vanilla.fitted_alpha:.2f} for Vanilla: " + ("nearer the target than Vanilla's" if all(nearer) else
                                                        "further from the target than Vanilla's" if not any(nearer)
                                                        else "some nearer the target than Vanilla's, some further")
        + ", and " + ("none" if not any(score.reached for score in scores) else "some")
        + f" reached it; their PGD ε50 is {min(gains):+.3f} to {max(gains):+.3f} above Vanilla's")


glue("shallow-paper-epoch", basis_sentence("epoch", "the paper's once-per-epoch basis"), display=False)
glue("shallow-paper-tracked", basis_sentence("tracked", "the tracked basis"), display=False)
glue("shallow-paper-near-verdict", paper_claims.verdicts[near_name], display=False)
near_runs = paper_results.get(near_name, [])
if near_runs:
    near_score = report.target_scores(near_runs)[0]
    glue("shallow-paper-near-score", Markdown(
        f"over {len(near_runs)} seed{'s' if len(near_runs) > 1 else ''} its hidden layer fits α = "
        f"{near_score.fitted_alpha:.2f} over ranks {near_score.ranks[0]}-{near_score.ranks[1]}, median "
        f"|log λ/γ| = {near_score.median_abs_log_ratio:.2f}, so it "
        + ("reached" if near_score.reached else "did not reach") + " its target"), display=False)
else:
    glue("shallow-paper-near-score", Markdown("it is not computed yet"), display=False)
if near_runs and near_vanilla in paper_results:
    score = {(name, attack): float(np.mean([report.robustness_score(r, attack) for r in paper_results[name]]))
             for name in (near_name, near_vanilla) for attack in ("fgsm", "pgd")}
    gap = {name: score[name, "fgsm"] - score[name, "pgd"] for name in (near_name, near_vanilla)}
    glue("shallow-paper-near-attacks", Markdown(
        f"Its robustness scores are {score[near_name, 'fgsm']:.3f} under FGSM and {score[near_name, 'pgd']:.3f} "
        f"under PGD, against {score[near_vanilla, 'fgsm']:.3f} and {score[near_vanilla, 'pgd']:.3f} for its Vanilla"
        + (": FGSM leaves it far more accuracy than PGD does, much more so than its Vanilla. A network that resists "
           "one gradient step but not forty has a loss surface that misleads a single step, the mark of gradient "
           "masking rather than of robustness (the attack audit chapter tests for it)"
           if gap[near_name] > gap[near_vanilla] + 0.05 else
           ": the gap between the one-step and the 40-step attack is about the same as for Vanilla")),
         display=False)
else:
    glue("shallow-paper-near-attacks", Markdown("Its attack curves are not computed yet"), display=False)

# %% tags=["nbval-check-output"]
paper_claims.table

# %% [markdown]
# Across the paper's values of β, {glue:md}`shallow-paper-epoch`; {glue:md}`shallow-paper-tracked`. A difference
# measured on a network whose spectrum did not reach $1/n$ cannot be credited to a $1/n$ spectrum.
#
# At the setting closest to $1/n$ (β = {glue:text}`shallow-paper-near-beta`, learning rate
# {glue:text}`shallow-paper-near-lr`, {glue:text}`shallow-paper-near-epochs` epochs),
# {glue:md}`shallow-paper-near-score`; against Vanilla at the same learning
# rate and epochs the verdict is: {glue:text}`shallow-paper-near-verdict`.
# {glue:md}`shallow-paper-near-attacks`.

# %% [markdown]
# {numref}`fig-shallow-paper-distance` puts the two questions of this section on one plot: how far each network's
# hidden layer is from the $1/n$ target, and how robust it is. If robustness came from the $1/n$ spectrum, the
# networks closest to the target would be the most robust.

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7.5, 4.6))
if paper_results:
    markers = "os^Dv<>p"
    scores = {name: report.target_scores(runs, [0])[0] for name, runs in paper_results.items()}
    eps50s = {name: np.array([report.eps50(r) for r in runs]) for name, runs in paper_results.items()}
    for i, name in enumerate(paper_results):
        hollow = paper_variants[name].lr != paper_variants["Vanilla"].lr
        colour = PALETTE[i % len(PALETTE)]
        ax.scatter([score.median_abs_log_ratio for score in scores[name].per_seed], eps50s[name],
                   marker=markers[i // len(PALETTE) % len(markers)], s=42, facecolors="none" if hollow else colour,
                   edgecolors=colour, label=name)
    ax.axvline(np.log(2), color="grey", ls="--", lw=1)
    ax.text(np.log(2), 1.0, " reached ←", transform=ax.get_xaxis_transform(), va="top", ha="right", fontsize=8)
    ax.legend(fontsize=7, ncol=2, loc="best")
    closeness = {name: score.median_abs_log_ratio for name, score in scores.items()}
    robust = {name: float(np.nanmean(values)) for name, values in eps50s.items()}
    closest = min(closeness, key=closeness.get)
    above = sum(robust[name] > robust[closest] for name in robust)
    glue("shallow-paper-distance-text", Markdown(
        f"The network closest to the target is {closest} (median |log λ/γ| {closeness[closest]:.2f}); its PGD ε50, "
        f"{robust[closest]:.3f}, is below that of {above} of the other {len(robust) - 1} variants, over "
        f"{len(paper_results[closest])} seed{'s' if len(paper_results[closest]) != 1 else ''}"
        + (" (not enough seeds for a verdict)." if len(paper_results[closest]) < 2 else ".")), display=False)
else:
    glue("shallow-paper-distance-text", Markdown("No paper-profile network is computed yet."), display=False)
    ax.text(0.5, 0.5, "no paper-profile network computed yet", ha="center", transform=ax.transAxes)
ax.set_xlabel("median |log(λ_k / γ_k)| over ranks 12-2000 (0: exactly on the 1/n target)")
ax.set_ylabel("PGD ε50 (pixel units)")
fig.tight_layout()
glue("shallow-paper-distance", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} shallow-paper-distance
# :name: "fig-shallow-paper-distance"
#
# Paper profile: distance of the hidden layer's test-image spectrum from the $1/n$ target (median over the penalized
# ranks of $|\log(\lambda_k/\gamma_k)|$, the target anchored at rank 11; the unregularized networks are scored
# against the same target) against PGD's $\epsilon_{50}$, one point per seed. Filled: learning rate $10^{-3}$, the
# paper's; hollow: $10^{-2}$. Left of the dashed line (a factor 2) the median criterion for "reached" holds; the
# fitted exponent must also be within 0.1 of 1.
# ```

# %% [markdown]
# {glue:md}`shallow-paper-distance-text`

# %% [markdown]
# ### Where the tracked basis reaches 1/n at this scale
#
# The eigenbasis chapter searches the penalty weight and the learning rate for a setting whose spectrum reaches
# its target ({ref}`sec-regularizer-search`). At the paper's scale the same search trains the 784-2000-10 network
# for {glue:text}`shallow-paper-search-epochs` epochs with the tracked basis at each (learning rate, $\beta$) of the
# table below, and scores the hidden layer on all 10000 test images over the penalized ranks 12-2000. Where a
# point's penalty was still falling at the end, the search also trains it on for longer (from its checkpoint, so
# the longer run continues the same network: `onen.runs.training.extend_checkpoint`). Every point has the grid's seed
# except where the table's seed column says otherwise: there, section 4.1's network of another seed at the closest
# setting is shown at the epochs it trained there and continued further, so that the two differ only in how long
# they trained.

# %%
search_grid, search_images = profiles.search_grid("paper")
search_configs = {**search_grid, **profiles.search_longer("paper")}
search_epochs = next(iter(search_grid.values())).epochs
glue("shallow-paper-search-epochs", search_epochs, display=False)
search_seed = next(iter(search_grid.values())).seed
search_found = {(c.lr, c.beta, c.epochs, c.seed): stored_point(c, search_images, str(paper_dir))
                for c in search_configs.values()}
scored = {key: search.score({key[:2]: result}, base.tau, base.alpha)[0]
          for key, result in search_found.items() if result is not None}
search_rows = []
for lr, beta, epochs, seed in search_found:  # the grid's order, then the longer runs
    p = scored.get((lr, beta, epochs, seed))
    search_rows.append([f"{lr:.0e}", "Vanilla" if beta == 0 else f"{beta:g}", f"{epochs}", f"{seed}",
                        *(["missing", "", "", ""] if p is None else
                          [f"{p.score.fitted_alpha:.2f}", f"{p.score.median_abs_log_ratio:.2f}",
                           "yes" if p.score.reached else "no", f"{100 * p.clean_accuracy:.2f}"])])
regularized = {key: p for key, p in scored.items() if p.beta > 0}
if regularized:
    nearest = search.closest(regularized.values())
    nearest_key = next(key for key, p in regularized.items() if p is nearest)
    glue("shallow-paper-nearest", Markdown(
        f"β = {nearest.beta:g} at learning rate {nearest.lr:.0e} after {nearest_key[2]} epochs"
        + ("" if nearest_key[3] == search_seed else f" (seed {nearest_key[3]})") + ": fitted exponent "
        f"{nearest.score.fitted_alpha:.2f}, median log-ratio {nearest.score.median_abs_log_ratio:.2f}, clean accuracy "
        f"{100 * nearest.clean_accuracy:.2f}%"), display=False)
else:
    glue("shallow-paper-nearest", Markdown("not available: no regularized point of the search is computed yet"),
         display=False)
glue("shallow-paper-search-done", len(scored), display=False)
glue("shallow-paper-search-total", len(search_found), display=False)

# %% tags=["nbval-check-output"]
Table(["learning rate", "β", "epochs", "seed", "α fitted", "median |log λ/γ|", "reached", "clean acc. (%)"],
      search_rows, caption="The search at the paper's scale (784-2000-10, tracked basis, one seed per point)",
      notes=["reached: fitted exponent within 0.1 of 1 and median |log λ/γ| at most log 2"])

# %% [markdown]
# {glue:text}`shallow-paper-search-done` of the {glue:text}`shallow-paper-search-total` points of this search are
# computed. The regularized point closest to $1/n$ so far: {glue:md}`shallow-paper-nearest`.
# {numref}`fig-shallow-paper-search` shows the frontier the search has measured and where each spectrum misses its
# target.

# %% tags=["hide-input"]
BANDS = {"head": (12, 20), "middle": (50, 200), "tail": (500, 2000)}
fig, (ax_front, ax_ratio, ax_pen) = plt.subplots(1, 3, figsize=(15, 4.2))
search_lrs = sorted({key[0] for key in search_found})
point_colour = colours([f"{lr:.0e}" for lr in search_lrs])
line_colour = dict(zip([key for key in search_found if key[1] > 0], PALETTE[len(search_lrs):] * 2))
band_ratios = {}
for key, p in scored.items():
    lr, beta, epochs, seed = key
    label = (f"lr={lr:.0e} " + ("Vanilla" if beta == 0 else f"β={beta:g}") + f", {epochs} ep."
             + ("" if seed == search_seed else f", seed {seed}"))
    ax_front.scatter(100 * p.clean_accuracy, p.score.fitted_alpha, color=point_colour[f"{lr:.0e}"],
                     marker="s" if beta == 0 else "o" if epochs == search_epochs else "D", s=36)
    ax_front.annotate(("Vanilla" if beta == 0 else f"β={beta:g}") + ("" if epochs == search_epochs else f", {epochs}")
                      + ("" if seed == search_seed else f" (s{seed})"),
                      (100 * p.clean_accuracy, p.score.fitted_alpha), textcoords="offset points", xytext=(5, 3),
                      fontsize=7)
    if beta == 0:
        continue
    ranks, ratio = target_ratio(search_found[key].arrays["spectrum"], base.tau, base.alpha)
    band_ratios[key] = {band: float(np.median(ratio[(ranks >= a) & (ranks <= b)])) for band, (a, b) in BANDS.items()}
    band_ratios[key]["under half"] = float(np.mean(ratio < 0.5))
    line = dict(ls="-" if lr == max(search_lrs) else "--", color=line_colour[key], lw=1.1, label=label)
    ax_ratio.plot(ranks, ratio, **line)
    penalty = np.asarray(search_found[key].meta["history"]["penalty"]) / beta
    ax_pen.plot(np.arange(1, penalty.size + 1), penalty, **line)
ax_front.axhspan(1 - REACHED_ALPHA_TOLERANCE, 1 + REACHED_ALPHA_TOLERANCE, color="0.85", zorder=0)
ax_front.axvline(95, color="0.4", ls=":", lw=1)
ax_front.set_xlabel("clean accuracy (%)")
ax_front.set_ylabel("α fitted over ranks 12-2000")
ax_front.set_title(f"frontier (■ Vanilla, ● SpecReg, ◆ longer than {search_epochs} epochs)", fontsize=9)
for lr_name, colour in point_colour.items():
    ax_front.scatter([], [], color=colour, label=f"lr={lr_name}")
ax_front.legend(fontsize=7)
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
    if band_ratios:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no regularized point computed yet", ha="center", transform=ax.transAxes)
fig.tight_layout()
glue("shallow-paper-search", fig, display=False)
plt.close(fig)

if band_ratios:
    near = band_ratios[nearest_key]
    history = np.asarray(search_found[nearest_key].meta["history"]["penalty"]) / nearest.beta
    last = min(5, history.size - 1)
    drop = 100 * (1 - history[-1] / history[-1 - last])
    glue("shallow-paper-why", Markdown(
        f"For that point the spectrum sits at {near['head']:.2f} of its target over ranks 12-20, {near['middle']:.2f} "
        f"over ranks 50-200 and {near['tail']:.2f} over ranks 500-2000 (medians of λ_k / γ_k): the "
        "penalty holds the ranks next to its anchor on target, and the rest of the spectrum "
        + ("stays below it, which steepens the fit" if max(near["middle"], near["tail"]) < 1 else
           "does not stay below it")
        + f"; {100 * near['under half']:.0f}% of the penalized ranks sit more than a factor of 2 under their target"
        + f". Its penalty fell by {drop:.1f}% over its last {last} epochs"
        + (": it was still moving towards the target when training stopped" if drop > 0.5 else
           ": it had nearly stopped moving")), display=False)
else:
    glue("shallow-paper-why", Markdown("No regularized point is computed yet, so where the spectra miss their target "
                                       "is not measured"), display=False)

# each network trained on from a shorter point of the search (same rate, beta and seed): what the extra epochs bought
pair_text = []
for long_ in search_found:
    shorter = [key for key in search_found if key[:2] == long_[:2] and key[3] == long_[3] and key[2] < long_[2]]
    if not shorter:
        continue
    short = max(shorter, key=lambda key: key[2])
    if short in scored and long_ in scored:
        a, b = scored[short], scored[long_]
        pair_text.append(
            f"Trained on from {short[2]} to {long_[2]} epochs, the seed-{long_[3]} network at β = {b.beta:g} and "
            f"learning rate {b.lr:.0e} moves its fitted exponent from {a.score.fitted_alpha:.3f} to "
            f"{b.score.fitted_alpha:.3f} and its median log-ratio from {a.score.median_abs_log_ratio:.2f} to "
            f"{b.score.median_abs_log_ratio:.2f}, at clean accuracy {100 * a.clean_accuracy:.2f}% and "
            f"{100 * b.clean_accuracy:.2f}%; after {long_[2]} epochs it "
            + ("reaches its target" if b.score.reached else "still misses its target") + ".")
    else:
        missing = " and ".join(f"{key[2]}" for key in (short, long_) if key not in scored)
        pair_text.append(f"The seed-{long_[3]} network at β = {long_[1]:g} and learning rate {long_[0]:.0e} is "
                         f"not computed yet at {missing} epochs.")
glue("shallow-paper-longer", Markdown(" ".join(pair_text)), display=False)

# %% [markdown]
# ```{glue:figure} shallow-paper-search
# :name: "fig-shallow-paper-search"
#
# The search at the paper's scale (one seed per point). Left: fitted exponent against clean accuracy; the grey
# band is $|\alpha - 1| \le 0.1$, the dotted line 95% clean accuracy (the goal is a point inside the band, right of the
# line). Middle: each regularized spectrum over all 10000 test images divided by its target
# $\gamma_k = \lambda_{11} (11 / k)$, rank by rank; the grey band is a factor of 2 either way (the median
# log-ratio's limit); the last few ranks, where the covariance is all but singular, fall below the panel.
# Right: the penalty per epoch, divided by $\beta$ so that weights compare. Solid: learning rate
# $10^{-2}$; dashed: $10^{-3}$.
# ```
#
# {glue:md}`shallow-paper-why`. {glue:md}`shallow-paper-longer`

# %% [markdown]
# ## Summary
#
# - In the {glue:text}`shallow-profile` profile, SpecReg at β = 5 with the paper's once-per-epoch basis changes the
#   PGD's $\epsilon_{50}$ by {glue:text}`shallow-spec-gain:+.3f` (pixel units) against Vanilla
#   ({glue:text}`shallow-spec-verdict`); whitening changes it by {glue:text}`shallow-whiten-gain:+.3f`
#   ({glue:text}`shallow-whiten-verdict`). The summary table says whether each regularized hidden layer reached its
#   $1/n$ target; a robustness difference between networks that did not reach it is not evidence about $1/n$.
# - At the paper's scale, {glue:text}`shallow-paper-done` of {glue:text}`shallow-paper-total` networks are computed
#   ({ref}`sec-shallow-paper`): {glue:md}`shallow-paper-epoch`; {glue:md}`shallow-paper-tracked`. On networks
#   that are not $1/n$, such differences cannot be credited to a $1/n$ spectrum.
# - The point of the tracked-basis search closest to $1/n$ so far is {glue:md}`shallow-paper-nearest`. Section
#   4.1's tracked network at β = {glue:text}`shallow-paper-near-beta`, learning rate
#   {glue:text}`shallow-paper-near-lr` and {glue:text}`shallow-paper-near-epochs` epochs:
#   {glue:md}`shallow-paper-near-score`; its robustness against Vanilla at the same learning rate and epochs:
#   {glue:text}`shallow-paper-near-verdict`.
# - Distance from the target against robustness ({numref}`fig-shallow-paper-distance`):
#   {glue:md}`shallow-paper-distance-text`
