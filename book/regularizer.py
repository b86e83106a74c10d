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
# # The spectral regularizer
#
# The method of {cite}`nassar2020` adds to the training loss a penalty that pulls the covariance eigenspectrum of a
# hidden layer towards a power law $n^{-\alpha}$. Every later chapter trains networks with this penalty, so before
# asking whether a $1/n$ spectrum makes a network robust we need to know what the penalty is and what it does to the
# spectrum it acts on. This chapter writes the penalty out with every choice an implementation has to make, and then
# asks two questions of it:
#
# 1. What does the penalty look like, as a function of one eigenvalue and as a target spectrum?
# 2. What do its three knobs, the weight $\beta$, the exponent $\alpha$ and the anchor $\tau$, do to a trained
#    network's spectrum, accuracy and robustness?
#
# The penalty reads the spectrum through an eigenbasis that is computed once per epoch. Why the paper needed a batch
# at least as wide as the layer and how stale that basis gets are the subject of {doc}`eigenbasis`; what a basis
# that follows the network changes, and where the spectrum actually reaches $1/n$, that of {doc}`tracked`.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown
from myst_nb import glue

from onen.analysis import profiles
from onen.analysis import regularizer_report as report
from onen.analysis.plotting import PALETTE, colours, plot_spectra, use_style
from onen.runs import regularizer_runs as runs

settings = profiles.regularizer_settings(profile)
setup = profiles.chapter_setup(profile, results_dir, seeds, device, default_seeds=settings.seeds)
use_style()

# %% [markdown]
# ## The penalty
#
# Take a hidden layer with $N$ units and the centred covariance
# $C = \frac{1}{B-1}\sum_b (h_b - \bar h)(h_b - \bar h)^\top$ of its responses, with eigenvalues
# $e_0 \ge e_1 \ge \dots \ge e_{N-1}$ indexed from 0. The target spectrum is a power law that passes through the
# eigenvalue of index $\tau$,
#
# $$\gamma_k = e_\tau \left(\frac{\tau + 1}{k + 1}\right)^{\alpha},$$
#
# and the penalty (Eq. 2 of {cite}`nassar2020`) is
#
# $$R = \frac{\beta}{N} \sum_{k > \tau} \left[\left(\frac{e_k}{\gamma_k} - 1\right)^2 +
# \operatorname{relu}\left(\frac{e_k}{\gamma_k} - 1\right)\right].$$
#
# The choices this book makes, each of which the paper leaves to its code:
#
# - **Indexing.** $\tau$ is a 0-based index: with $\tau = 10$ the anchor is the 11th largest eigenvalue and the
#   penalty covers ranks 12 to $N$ (1-based). The first eleven eigenvalues are free, so the network can put as much
#   variance as it needs into a few leading directions.
# - **The anchor carries no gradient.** $e_\tau$ is treated as a constant in the backward pass, so the penalty
#   shapes the decay of the spectrum relative to its 11th eigenvalue; it cannot lower the penalty by shrinking or
#   inflating the whole spectrum through the anchor.
# - **Centred covariance**, divided by $B - 1$; eigenvalues that are not positive (zero up to rounding) are left out
#   of the sum.
# - **A fixed basis per epoch.** The eigenvectors $v_n$ come from the covariance over the training set (here a fixed
#   subset of it), recomputed once per epoch with the network in evaluation mode. Each minibatch then estimates
#   $\lambda_n = v_n^\top C_\text{batch} v_n$ and the penalty is computed on those estimates, sorted in decreasing
#   order. {ref}`sec-regularizer-drift` and {ref}`sec-regularizer-batch`, in the next chapter, test both halves of
#   this design.
# - **Batch $\ge$ width.** `onen` refuses a minibatch smaller than the layer's width unless told otherwise
#   (`allow_small_batch=True`); {ref}`sec-regularizer-batch` shows why.
#
# {numref}`fig-regularizer-shape` shows one term of the sum as a function of the ratio $r = e_k / \gamma_k$: an
# eigenvalue below its target costs $(r-1)^2$, one above it costs $(r-1)^2 + (r-1)$, so a tail heavier than the
# target (the non-smooth direction) is punished more than a lighter one. The right panel shows the target for
# several $\alpha$.

# %% tags=["hide-input"]
ratio = np.linspace(0, 3, 301)
quadratic, hinge = (ratio - 1) ** 2, np.maximum(ratio - 1, 0)

fig, (ax_term, ax_target) = plt.subplots(1, 2, figsize=(10, 3.6))
ax_term.plot(ratio, quadratic + hinge, color=PALETTE[0], label=r"$(r-1)^2 + \mathrm{relu}(r-1)$")
ax_term.plot(ratio, quadratic, "--", color=PALETTE[1], label=r"$(r-1)^2$ alone")
ax_term.axvline(1, color="k", lw=0.8, ls=":")
ax_term.set_xlabel(r"ratio $r = e_k / \gamma_k$ (dimensionless)")
ax_term.set_ylabel("penalty per eigenvalue")
ax_term.legend()

# the target anchored on an example spectrum: e_tau = 1 at tau = 10 (rank 11)
tau_example, width_example = 10, 500
ranks = np.arange(1, width_example + 1)
for index, alpha in enumerate([0.5, 1.0, 1.5, 2.0]):
    target = ((tau_example + 1) / ranks) ** alpha
    ax_target.loglog(ranks[tau_example + 1 :], target[tau_example + 1 :], color=PALETTE[index],
                     label=rf"$\alpha = {alpha:g}$")
ax_target.axvspan(1, tau_example + 1, color="0.85", lw=0, label=r"free ranks $k \leq \tau$")
ax_target.plot([tau_example + 1], [1.0], "ko", ms=4, label=r"anchor $e_\tau$")
ax_target.set_xlabel("rank $k + 1$ (1-based)")
ax_target.set_ylabel(r"target $\gamma_k / e_\tau$")
ax_target.legend()
fig.tight_layout()
glue("regularizer-shape", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} regularizer-shape
# :name: "fig-regularizer-shape"
#
# Left: one term of Eq. 2 against the ratio of an eigenvalue to its target; the relu term makes the penalty steeper
# above the target than below it. Right: the target spectrum $\gamma_k$ relative to the anchor for four exponents,
# with $\tau = 10$; ranks up to and including the anchor (shaded) are not penalized.
# ```

# %% [markdown]
# ## What $\beta$, $\alpha$ and $\tau$ do: the setup
#
# $\tau$ decides how many leading eigenvalues are left free and where the power law is pinned; $\alpha$ sets how
# fast the target decays, and so how much variance the tail may carry; $\beta$ trades the penalty against the
# cross-entropy. We train a small network, 784-$N$-10 with tanh units, on MNIST {cite}`lecun1998` and regularize its
# hidden layer:
#
# - a sweep of $\beta$ wider than the paper's $\{1, 2, 5\}$: 0 (Vanilla, no penalty), 0.5, 2, 10 and 50, with
#   $\alpha = 1$;
# - a sweep of $\alpha$ beyond 1 (1, 1.5 and 2) at $\beta = 10$.
#
# All use $\tau = 10$ and the paper's eigenbasis, recomputed once per epoch. The optimiser is Adam with the AMSGrad
# correction {cite}`kingma2015,reddi2018`; pixels are in $[0, 1]$ without normalisation, and $\epsilon$ is an
# $L_\infty$ radius in pixel units. For each network we record the hidden layer's spectrum over test images, the
# exponent fitted to it, clean accuracy on all 10000 test images, and accuracy under FGSM {cite}`goodfellow2015` and
# PGD {cite}`madry2018` at two radii. The $\beta = 10$, $\alpha = 1$ network is also a run of the next chapter,
# which records the drift of its eigenbasis while it trains: both chapters read that one cached run. The settings
# of the {glue:text}`reg-profile` profile:

# %% tags=["hide-input"]
base = runs.base_config(settings)
variants = runs.sweep_variants(settings)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
report.settings_table(base, settings, setup.seeds)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
report.variants_table(variants, caption="The networks of this chapter")

# %% tags=["hide-input"]
results = runs.run_variants(variants, settings, setup.seeds, setup.results_dir, setup.device)
alpha_of = {n: runs.fitted_alpha(r) for n, r in results.items()}
accuracy_of = {n: float(runs.mean_over_seeds(r, "clean_accuracy")) for n, r in results.items()}
pgd_large = {n: float(runs.mean_over_seeds(r, "acc_pgd")[-1]) for n, r in results.items()}

# %% [markdown]
# ## Results
#
# {numref}`fig-regularizer-spectra` shows the hidden spectra, each divided by its 11th eigenvalue (the anchor) so
# that only their shapes are compared, against the target $n^{-\alpha}$ through the anchor.

# %% tags=["hide-input"]
beta_sweep = ["Vanilla", "β=0.5", "β=2", "β=10", "β=50"]
alpha_sweep = {"β=10": 1.0, "β=10, α=1.5": 1.5, "β=10, α=2": 2.0}
anchor = base.tau + 1
fig, (ax_beta, ax_alpha) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
spectrum = {name: result[0].arrays["spectrum"] for name, result in results.items()}
plot_spectra(ax_beta, {f"{n} (fit {alpha_of[n]:.2f})": spectrum[n] for n in beta_sweep},
             alpha=1.0, anchor_rank=anchor)
ax_beta.set_title(r"$\beta$ sweep, $\alpha = 1$")
alpha_colours = colours(list(alpha_sweep))
labels = {n: f"α={a:g} (fit {alpha_of[n]:.2f})" for n, a in alpha_sweep.items()}
plot_spectra(ax_alpha, {labels[n]: spectrum[n] for n in alpha_sweep}, alpha=1.0, anchor_rank=anchor,
             colour_of={labels[n]: alpha_colours[n] for n in alpha_sweep})
reference_ranks = np.arange(anchor, base.widths[0] + 1)
for n, a in list(alpha_sweep.items())[1:]:
    ax_alpha.loglog(reference_ranks, (reference_ranks / anchor) ** -a, ls="--", lw=1,
                    color=alpha_colours[n])
ax_alpha.set_title(r"$\alpha$ sweep, $\beta = 10$ (dashed: targets)")
for ax in (ax_beta, ax_alpha):
    ax.set_ylim(1e-4, None)
    ax.legend(fontsize=7)
fig.tight_layout()
glue("regularizer-spectra", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} regularizer-spectra
# :name: "fig-regularizer-spectra"
#
# Covariance eigenspectra of the hidden layer over test images (first seed), normalised at rank 11, the anchor.
# Left: $\beta$ sweep at $\alpha = 1$ (dashed: $n^{-1}$); right: $\alpha$ sweep at $\beta = 10$ (dashed: each
# target). The legend gives the exponent fitted over ranks 11-500 (mean over seeds).
# ```
#
# The table and {numref}`fig-regularizer-readout` put each configuration's fitted exponent next to its target and
# report clean accuracy and robustness. "penalty R/β" is the last epoch's mean of $R/\beta$ (the unweighted Eq. 2),
# so configurations with different $\beta$ can be compared; values are means over seeds.

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
report.readout_table(variants, results, caption="Fitted exponent, penalty, clean accuracy and "
                     "accuracy under attack of every network of this chapter (means over seeds)")

# %% tags=["hide-input"]
names = list(variants)
palette = colours(names)
x_pos = np.arange(len(names))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
targets = [variants[n].alpha if variants[n].regularizer == "spectral" else np.nan for n in names]
axes[0].scatter(x_pos, [alpha_of[n] for n in names], c=[palette[n] for n in names], zorder=3,
                label="fitted")
axes[0].scatter(x_pos, targets, marker="_", s=300, color="k", label="target")
axes[0].set_ylabel(f"exponent α (ranks {runs.FIT_RANKS[0]}-{runs.FIT_RANKS[1]})")
axes[0].legend()
axes[1].bar(x_pos, [100 * accuracy_of[n] for n in names], color=[palette[n] for n in names])
axes[1].set_ylabel("clean test accuracy (%)")
axes[1].set_ylim(50, 100)
bars = [(attack, index, eps) for attack in ("fgsm", "pgd") for index, eps in enumerate(runs.EPS)]
for j, (attack, index, eps) in enumerate(bars):
    accuracy = [100 * runs.mean_over_seeds(results[n], f"acc_{attack}")[index] for n in names]
    axes[2].bar(x_pos + (j - 1.5) * 0.2, accuracy, 0.2, color=PALETTE[j],
                label=f"{attack.upper()} ε={eps:g}")
axes[2].set_ylabel("adversarial accuracy (%)")
axes[2].legend(ncol=2)
for ax in axes:
    ax.set_xticks(x_pos, names, rotation=60, ha="right", fontsize=7)
fig.tight_layout()
glue("regularizer-readout", fig, display=False)
plt.close(fig)

# %% tags=["remove-cell"]
most_robust = max(pgd_large, key=pgd_large.get)
near_target = [name for name, config in variants.items()
               if config.regularizer == "spectral" and abs(alpha_of[name] - config.alpha) <= 0.1]
glue("reg-profile", profile, display=False)
glue("reg-vanilla-alpha", alpha_of["Vanilla"], display=False)
glue("reg-vanilla-side", Markdown("steeper" if alpha_of["Vanilla"] > 1 else "flatter"),
     display=False)
for name, key in (("β=10", "beta10"), ("β=50", "beta50"), ("β=10, α=2", "alpha2")):
    glue(f"reg-{key}-alpha", alpha_of[name], display=False)
for name, key in (("Vanilla", "vanilla"), ("β=10", "beta10"), ("β=50", "beta50")):
    glue(f"reg-{key}-acc", 100 * accuracy_of[name], display=False)
    glue(f"reg-{key}-pgd", 100 * pgd_large[name], display=False)
glue("reg-most-robust", Markdown(most_robust), display=False)
glue("reg-most-robust-pgd", 100 * pgd_large[most_robust], display=False)
glue("reg-eps-large", runs.EPS[-1], display=False)
glue("reg-reached-target", Markdown(
    "No configuration brings the fitted exponent within 0.1 of its target." if not near_target
    else "Within 0.1 of its target: " + ", ".join(near_target) + "."), display=False)

# %% [markdown]
# ```{glue:figure} regularizer-readout
# :name: "fig-regularizer-readout"
#
# Per configuration (means over seeds): fitted exponent of the hidden spectrum against the target $\alpha$ (black
# bars; none for Vanilla), clean accuracy on the 10000 test images, and accuracy under FGSM and PGD at two
# $L_\infty$ radii on the attack subset.
# ```
#
# In this run the Vanilla network's spectrum has a fitted exponent of {glue:text}`reg-vanilla-alpha:.2f`, already
# {glue:md}`reg-vanilla-side` than the target $n^{-1}$. With $\alpha = 1$ and the largest weight, $\beta = 50$, the
# fit is {glue:text}`reg-beta50-alpha:.2f`; with $\alpha = 2$ at $\beta = 10$ it is
# {glue:text}`reg-alpha2-alpha:.2f`. The shape of the penalty explains part of the pattern: an eigenvalue above its
# target pays the relu term as well, so a target steeper than the network's own spectrum is approached quickly,
# whereas a tail below the target pays only the quadratic term, and raising it means putting variance into
# directions the data barely excite. The next chapter ({ref}`sec-regularizer-drift`) adds a
# second reason. Clean accuracy goes from
# {glue:text}`reg-vanilla-acc:.1f`% (Vanilla) to {glue:text}`reg-beta10-acc:.1f`% at $\beta = 10$ and
# {glue:text}`reg-beta50-acc:.1f`% at $\beta = 50$; PGD accuracy at $\epsilon =$ {glue:text}`reg-eps-large:g` goes
# from {glue:text}`reg-vanilla-pgd:.1f`% to {glue:text}`reg-beta10-pgd:.1f`% and {glue:text}`reg-beta50-pgd:.1f`%.
# The most PGD-robust configuration at that radius is {glue:md}`reg-most-robust`
# ({glue:text}`reg-most-robust-pgd:.1f`%).

# %% [markdown]
# ## Summary
#
# - Eq. 2 leaves the $\tau + 1$ leading eigenvalues free, anchors a power law on the eigenvalue of index $\tau$ and
#   charges an eigenvalue above its target more than one below it ({numref}`fig-regularizer-shape`).
# - The Vanilla network's hidden spectrum already decays with a fitted exponent of
#   {glue:text}`reg-vanilla-alpha:.2f`. With a target of $\alpha = 1$ the fitted exponent is
#   {glue:text}`reg-beta10-alpha:.2f` at $\beta = 10$ and {glue:text}`reg-beta50-alpha:.2f` at $\beta = 50$; with
#   $\alpha = 2$ it is {glue:text}`reg-alpha2-alpha:.2f`. {glue:md}`reg-reached-target`
# - Clean accuracy goes from {glue:text}`reg-vanilla-acc:.1f`% for Vanilla to {glue:text}`reg-beta10-acc:.1f`% at
#   $\beta = 10$ and {glue:text}`reg-beta50-acc:.1f`% at $\beta = 50$; PGD accuracy at $\epsilon =$
#   {glue:text}`reg-eps-large:g` from {glue:text}`reg-vanilla-pgd:.1f`% to {glue:text}`reg-beta10-pgd:.1f`% and
#   {glue:text}`reg-beta50-pgd:.1f`%. The most PGD-robust configuration is {glue:md}`reg-most-robust`
#   ({glue:text}`reg-most-robust-pgd:.1f`%).
# - What the once-per-epoch eigenbasis does to the penalty is the question of {doc}`eigenbasis`; a basis that
#   follows the network, and where the spectrum does reach $1/n$, that of {doc}`tracked`.
