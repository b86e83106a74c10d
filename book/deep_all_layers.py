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
# # Every layer, and the Jacobian baseline
#
# If a $1/n$ last layer is not enough, the natural next step (section 4.3 of {cite}`nassar2020`) is to regularize
# *every* hidden layer. This chapter compares, for the MLP 3x1000 and the CNN of the previous chapter:
#
# - **Vanilla**;
# - **SpecReg (all)**: the spectral regularizer on each hidden layer, the same $\beta$ for each, at every weight of
#   the profile (the paper sweeps 1, 2 and 5); the contrasts use the one chosen by the rule stated below;
# - **Jacobian**: Jacobian regularization {cite}`hoffman2019`, penalising the squared Frobenius norm of
#   $\partial\,\mathrm{logits} / \partial x$ with weight 0.01, estimated with one random projection per step;
# - **Vanilla-BN**: BatchNorm {cite}`ioffe2015` in every block, trained only to show its spectra. In the CNN it sits
#   where the authors put it, between each convolution and its tanh (conv, BN, tanh, pool), and after the tanh of
#   the fully connected block; in the MLP it follows each tanh.
#
# Reviewers doubted that the Jacobian-regularized network's accuracy ever reaches zero, and asked which spectra
# Jacobian regularization and BatchNorm produce. Both questions are answered below from the trained networks.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
import numpy as np
from myst_nb import glue

from onen.analysis import claims
from onen.analysis import deep
from onen.analysis import profiles
from onen.analysis import report
from onen.analysis.deep import ARCHS as archs
from onen.analysis.plotting import use_style

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seeds, device, evaluation = (setup.results_dir, setup.seeds, setup.device,
                                          setup.evaluation)
variants = deep.variants(profiles.all_layer_variants, profile)
use_style()

# %% [markdown]
# ## Set-up
#
# Pixels in $[0, 1]$, $\epsilon$ an $L_\infty$ radius in pixel units, Adam with AMSGrad. The Jacobian penalty is
# $\frac{\lambda}{2}\,\lVert J \rVert_F^2$ averaged over the batch with $\lambda = 0.01$, where
# $\lVert J \rVert_F^2 \approx C\,\lVert v^\top J \rVert^2$ for $v$ uniform on the unit sphere of the $C = 10$ logits
# {cite}`hoffman2019`. The networks named Vanilla are the same configurations as in the previous chapter, so they are
# loaded from its cache rather than retrained. {glue:md}`deep-all-bn-recalibrated`

# %% tags=["nbval-check-output"]
glue("deep-all-bn-recalibrated", Markdown(
    "In this profile BatchNorm's running statistics are recomputed from the training images at the "
    "final weights (`recalibrate`), since a few dozen steps at momentum 0.1 leave them averaging "
    "earlier weights."
    if variants["mlp"]["Vanilla-BN"].recalibrate else
    "BatchNorm keeps the running statistics it trained with, as in the paper."), display=False)
print(f"profile {profile}: seeds {seeds}")
for arch, name in archs.items():
    c = variants[arch]["Jacobian"]
    print(f"{name}: Adam (AMSGrad) lr {c.lr}, batch {c.batch_size}, {c.epochs} epochs on "
          f"{c.train_subset or 60000} training images; Jacobian weight {c.jacobian_weight}, "
          f"{c.jacobian_projections} projection(s)")
print(f"attacks on {evaluation.test_subset or 10000} test images; "
      f"PGD {evaluation.pgd_steps} steps; eps grid {evaluation.eps_pgd}")

# %%
results = deep.load(variants, setup)
attacked = {arch: {k: v for k, v in r.items() if k != "Vanilla-BN"} for arch, r in results.items()}

# %% [markdown]
# ## Robustness, until accuracy reaches zero

# %% tags=["hide-input"]
fig = deep.robustness_panels(attacked, attacks=("fgsm", "pgd"))
glue("deep-all-robustness", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} deep-all-robustness
# :name: "fig-deep-all-robustness"
#
# Accuracy under FGSM (dashed) and PGD (solid) against $\epsilon$ ($L_\infty$, pixel units) for Vanilla, SpecReg on
# all layers and Jacobian regularization; MLP left, CNN right. Bands: ± one standard deviation over seeds.
# ```

# %% [markdown]
# A network that is less accurate is "more robust" by $\epsilon_{50}$ for free {cite}`tsipras2019`. Vanilla stopped
# after {glue:text}`deep-all-frontier-epochs` epochs traces how $\epsilon_{50}$ moves with clean accuracy alone
# (its accuracy-robustness frontier); {numref}`fig-deep-all-frontier` places every variant against it, and
# {doc}`reproduced` judges each claim above it as well as raw.

# %% tags=["hide-input"]
frontiers = {arch: claims.frontier(arch, results[arch]["Vanilla"], profile, setup.evaluation,
                                   setup.seeds, setup.results_dir, setup.device) for arch in archs}
glue("deep-all-frontier-epochs", ", ".join(
    str(c.epochs) for c in profiles.frontier_variants("mlp", profile).values()), display=False)
fig = deep.frontier_figure(attacked, frontiers)
glue("deep-all-frontier", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} deep-all-frontier
# :name: "fig-deep-all-frontier"
#
# PGD $\epsilon_{50}$ against clean accuracy on the attacked images, mean over seeds. Dashed: Vanilla's frontier
# (Vanilla stopped early, and trained to the end); points: each variant. A point above the line is more robust than
# Vanilla at the same clean accuracy.
# ```

# %% [markdown]
# The summary table gives, besides the robustness scores, how close each hidden layer came to the regularizer's target
# $\gamma_k = \lambda_\tau \left((\tau + 1)/(k + 1)\right)^\alpha$ on its test-image spectrum $\lambda$: the exponent
# fitted over exactly the eigenvalues the penalty acts on, $k > \tau$ (0-based; ranks $\tau + 2 = 12$ to the layer's
# width $N$), and the median over them of $|\log(\lambda_k / \gamma_k)|$. A layer has *reached* its target when, in
# every seed, the fitted exponent is within 0.1 of $\alpha$ and that median is at most $\log 2$. Vanilla, Vanilla-BN
# and Jacobian regularization have no spectral target; their layers are scored against the same $1/n$ target, in
# parentheses, for comparison.

# %% tags=["nbval-check-output"]
for table in deep.summary_tables(results):
    display(table)

# %% [markdown]
# **Which $\beta$.** The contrasts use the best $\beta$ by the book's one rule ({doc}`baselines`), read from this
# table's spectra alone, averaged over the regularized layers and seeds.

# %%
for key, value in deep.chosen_glue(results, "deep-all", "SpecReg (all)", [
        ("spec", "{chosen}", "Vanilla"), ("jac", "Jacobian", "Vanilla"),
        ("jacspec", "Jacobian", "{chosen}")]).items():
    glue(key, value, display=False)
for arch in archs:
    zero = [report.zero_crossing(r.arrays["eps_pgd"], r.arrays["acc_pgd"])
            for r in results[arch]["Jacobian"]]
    glue(f"deep-all-{arch}-jaczero",
         "never within the grid" if np.any(np.isnan(zero)) else f"at ε = {max(zero):g}",
         display=False)

# %% [markdown]
# The rule picks $\beta$ = {glue:text}`deep-all-mlp-beta` (MLP) and {glue:text}`deep-all-cnn-beta` (CNN).
# Regularizing every layer changes PGD's $\epsilon_{50}$ (pixel units, as in {doc}`reproduced`) by
# {glue:text}`deep-all-mlp-spec:+.3f` (MLP) and
# {glue:text}`deep-all-cnn-spec:+.3f` (CNN) over Vanilla; Jacobian regularization by {glue:text}`deep-all-mlp-jac:+.3f`
# and {glue:text}`deep-all-cnn-jac:+.3f`. The Jacobian-regularized networks' PGD accuracy reaches 1% or less
# {glue:text}`deep-all-mlp-jaczero` (MLP) and {glue:text}`deep-all-cnn-jaczero` (CNN).

# %% [markdown]
# ## The spectra that Jacobian regularization and BatchNorm produce

# %%
for arch, fig in deep.spectra_figures(results).items():
    glue(f"deep-all-spectra-{arch}", fig, display=False)
    plt.close(fig)

# %% [markdown]
# ```{glue:figure} deep-all-spectra-mlp
# :name: "fig-deep-all-spectra-mlp"
#
# MLP 3x1000: spectra of each hidden layer under Vanilla, BatchNorm, SpecReg on all layers and Jacobian
# regularization (first seed), normalised at rank 11, with $n^{-1}$ dashed; fitted exponents in the legends.
# ```
#
# ```{glue:figure} deep-all-spectra-cnn
# :name: "fig-deep-all-spectra-cnn"
#
# CNN: the same for the two convolutional blocks and the fully connected layer.
# ```

# %% [markdown]
# The legends, and the parenthesized scores of the summary table, answer the reviewers' question with numbers: how
# steeply the Jacobian-regularized and the BatchNorm networks' spectra decay without any spectral target. A steeper
# decay than $1/n$ under Jacobian regularization would fit the paper's view that smoothness, which a fast spectral
# decay supports, underlies robustness; the chapter {doc}`reproduced` collects the effects.

# %% [markdown]
# ## Gaussian noise

# %% tags=["hide-input"]
fig = deep.robustness_panels(attacked, attacks=("noise",), height=4.0)
glue("deep-all-noise", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} deep-all-noise
# :name: "fig-deep-all-noise"
#
# Accuracy under additive Gaussian noise of standard deviation $\sigma$ (pixel units), MLP (left) and CNN (right).
# ```

# %% [markdown]
# (sec-deep-all-paper)=
# ## Section 4.3 at the paper's scale
#
# The paper trains these networks for 100 epochs on all 60000 training images (Adam with AMSGrad at learning rate
# $10^{-4}$; batch 1500 for the MLP, 6000 for the CNN), with three seeds, and attacks all 10000 test images. That is
# beyond the 2-core CPU the book is built on, so these networks are computed on a GPU
# (`python -m onen deep_all_layers --profile paper --device cuda --workers 12`) and stored with the book
# under `results/paper/`. This section shows the stored ones whatever profile built the rest of the chapter, and
# lists the others as missing; it never trains one. {glue:text}`deep-all-paper-status` The contrasts below use
# every $\beta$ of the paper and the verdict rule of {doc}`reproduced`; a spectrally regularized network is tested
# only where every layer it regularizes reached its target.

# %%
paper_results, paper_tables, paper_status = deep.paper_tables(profiles.all_layer_variants, "4.3")
glue("deep-all-paper-status", paper_status, display=False)
paper_flat = {f"{archs[arch]} {name}": runs
              for arch, by_name in paper_results.items() for name, runs in by_name.items()}
paper_contrasts = [(f"{archs[arch]} {treated}", f"{archs[arch]} Vanilla", +1) for arch in archs
                   for treated in [*(profiles.beta_name("SpecReg (all)", b)
                                     for b in profiles.deep_betas("paper")),
                                   "Jacobian"]]
paper_claims = report.claims_table(
    paper_flat, paper_contrasts,
    caption="Section 4.3's claims at the paper's scale: PGD ε50 of the first network minus the "
            "second (pixel units)"
).table

# %% tags=["nbval-check-output"]
for table in [*paper_tables, paper_claims]:
    display(table)

# %% [markdown]
# ## Summary
#
# - SpecReg on every hidden layer changes PGD's $\epsilon_{50}$ by {glue:text}`deep-all-mlp-spec:+.3f` (pixel
#   units, MLP) and {glue:text}`deep-all-cnn-spec:+.3f` (CNN); Jacobian regularization by {glue:text}`deep-all-mlp-jac:+.3f`
#   and {glue:text}`deep-all-cnn-jac:+.3f`.
# - The summary tables show whether each regularized layer reached its $1/n$ target; {doc}`reproduced` gates the
#   claims on it and gives their intervals over seeds.
# - At the paper's scale ({ref}`sec-deep-all-paper`): {glue:text}`deep-all-paper-status`

