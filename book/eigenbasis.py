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
# # The eigenbasis: staleness, tracking and batch size
#
# The penalty of the previous chapter does not read the eigenvalues of each minibatch's covariance. It projects the
# batch on an eigenbasis $V$, computed once per epoch over a fixed subset of the training images, and penalizes the
# variances $\lambda_n = v_n^\top C_\text{batch} v_n$ along it. That design answers one problem, the collapse of a
# small batch's own spectrum, and opens another: during an epoch the network moves and $V$ does not. How close a
# trained spectrum gets to its target ({numref}`fig-regularizer-readout`) may then depend on the basis as much as on
# $\beta$, $\alpha$ and $\tau$. This chapter asks:
#
# 1. How stale is the once-per-epoch basis by the end of an epoch, and does its error grow with the learning rate?
# 2. Does refreshing the basis every few steps bring the spectrum closer to its target?
# 3. Can a basis that follows the network, tracked from a running covariance of the minibatch features, read the
#    spectrum better, and how close does it get?
# 4. With that basis, which penalty weight and learning rate bring the spectrum to $1/n$, if any?
# 5. Why did the paper need a minibatch at least as wide as the layer, and is that limit real?
#
# The network, its training and its evaluation are those of {doc}`regularizer`: 784-$N$-10 with tanh units on MNIST
# {cite}`lecun1998`, Adam with the AMSGrad correction {cite}`kingma2015,reddi2018`, $\tau = 10$ and $\alpha = 1$,
# and $\beta = 10$ except in the search. The runs that chapter shares with this one are loaded from the same cache.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %%
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown
from myst_nb import glue

from onen.analysis import profiles
from onen.runs import search
from onen.attacks import robustness_curve
from onen.cache import cached
from onen.drift import DriftRecorder
from onen.runs.experiments import dataset
from onen.analysis.plotting import PALETTE, colours, use_style
from onen.regularizers import spectral_penalty
from onen.spectrum import TargetScore, fit_power_law, layer_spectra, power_law_spectrum, target_score
from onen.analysis.tables import Table
from onen.runs.training import TrainConfig, eigen_inputs, evaluate_accuracy, train

# The small net of the regularizer chapter: 784-[width]-10 tanh, Adam (AMSGrad) as in the paper, batch >= width.
settings = profiles.regularizer_settings(profile)
setup = profiles.chapter_setup(profile, results_dir, seeds, device, default_seeds=settings["seeds"])
results_dir, seeds, device, dev = setup.results_dir, setup.seeds, setup.device, setup.torch_device
EPS = [0.05, 0.1]  # L-infinity radii in pixel units (pixels in [0, 1])
FIT_RANKS = (11, 500)  # 1-based rank window of the fitted exponent, as in Stringer et al. (2019)
DRIFT_KS = (10, 50)
REFERENCE_BETA = 10.0  # every regularized run of this chapter but the search uses this weight
REFRESH_EVERY = settings["refresh_every"]
HELDOUT_IMAGES = settings["heldout_images"]
use_style()

# %% [markdown]
# ## The runs
#
# The $eta = 10$, $lpha = 1$ network is trained at three learning rates, $10^{-4}$, $10^{-3}$ and $10^{-2}$,
# with the paper's basis once per epoch, recording the basis drift as it trains (for {ref}`sec-regularizer-drift`),
# and at $10^{-3}$ and $10^{-2}$ with the basis also refreshed every few steps (for {ref}`sec-regularizer-refresh`).
# The Vanilla network (no penalty) is the reference. The later sections add their own runs. The settings:

# %%
base = TrainConfig(arch="mlp", activation="tanh", regularizer="spectral", tau=10, alpha=1.0, fit_ranks=FIT_RANKS,
                   **settings["train"])
variants = {"Vanilla": dataclasses.replace(base, regularizer="none", beta=0.0)}
variants["β=10"] = dataclasses.replace(base, beta=REFERENCE_BETA)
variants.update({f"β=10, lr={lr:.0e}": dataclasses.replace(base, beta=REFERENCE_BETA, lr=lr) for lr in (1e-4, 1e-2)})
# the learning-rate sweep of the stale-basis study: these runs also record the basis drift
drift_runs = {"lr=1e-04": "β=10, lr=1e-04", "lr=1e-03": "β=10", "lr=1e-02": "β=10, lr=1e-02"}
# the same runs at the two larger rates with the basis also refreshed every few steps
refresh_pairs = {"lr=1e-03": ("β=10", f"β=10, basis every {REFRESH_EVERY} steps"),
                 "lr=1e-02": ("β=10, lr=1e-02", f"β=10, lr=1e-02, basis every {REFRESH_EVERY} steps")}
for per_epoch, refreshed in refresh_pairs.values():
    variants[refreshed] = dataclasses.replace(variants[per_epoch], refresh_every=REFRESH_EVERY)
evaluation = {"attack_images": settings["attack_images"], "eps": EPS, "pgd_steps": settings["pgd_steps"],
              "spectrum_images": settings["spectrum_images"]}

# %% tags=["nbval-check-output"]
print(f"profile {profile}: seeds {seeds}, device type {'cuda' if dev.type == 'cuda' else 'cpu'}")
print(f"network 784-{base.widths[0]}-10 {base.activation}; Adam (AMSGrad), batch {base.batch_size}, "
      f"{base.epochs} epochs on {base.train_subset or 60000} training images")
print(f"eigenbasis from {base.eigen_subset or base.train_subset or 60000} training images, once per epoch "
      f"unless stated; tau {base.tau}")
print(f"attacks on {settings['attack_images'] or 10000} test images: FGSM and PGD ({settings['pgd_steps']} steps, "
      f"step max(0.01, 2.5 eps / steps), 1 random start) at eps {EPS}")
print(f"spectra over {settings['spectrum_images'] or 10000} test images; exponent fitted over ranks {FIT_RANKS}")
print(f"basis drift measured every {settings['drift_every']} steps; held-out error over {HELDOUT_IMAGES} test images")
name_width = max(map(len, variants))
for name, config in variants.items():
    basis = f"every {config.refresh_every} steps" if config.refresh_every else "per epoch"
    print(f"  {name:<{name_width}} regularizer {config.regularizer:<8} beta {config.beta:<5g} alpha {config.alpha:<4g} "
          f"lr {config.lr:.0e}" + (f", basis {basis}" if config.regularizer == "spectral" else ""))


# %%
def train_and_measure(config: TrainConfig, drift: bool) -> tuple[dict[str, np.ndarray], dict]:
    """Train one network; measure its spectrum, clean accuracy, FGSM and PGD accuracy, and (drift) the stale basis."""
    train_split, test_split = dataset(config.dataset, "train", dev), dataset(config.dataset, "test", dev)
    recorder = None
    if drift:
        recorder = DriftRecorder(eigen_inputs(config, train_split), every=settings["drift_every"], ks=DRIFT_KS)
    began = time.perf_counter()
    model, history = train(config, train_split, test_split, progress=False, after_step=recorder)
    seconds = time.perf_counter() - began
    attack_set = test_split.subset(evaluation["attack_images"], seed=0)
    spectrum_set = test_split.subset(evaluation["spectrum_images"], seed=0)
    arrays = {
        "spectrum": layer_spectra(model, list(model.blocks), spectrum_set.images)[0],
        "acc_fgsm": robustness_curve(model, attack_set.images, attack_set.labels, EPS, attack="fgsm", seed=config.seed,
                                     progress=False),
        "acc_pgd": robustness_curve(model, attack_set.images, attack_set.labels, EPS, attack="pgd",
                                    steps=evaluation["pgd_steps"], seed=config.seed, progress=False),
    }
    if recorder is not None:
        arrays.update({f"drift_{key}": value for key, value in recorder.arrays().items()})
    steps_per_epoch = len(train_split.subset(config.train_subset, seed=config.seed)) // config.batch_size
    meta = {"clean_accuracy": evaluate_accuracy(model, test_split), "history": history.to_dict(),
            "steps_per_epoch": steps_per_epoch, "train_seconds": seconds}
    return arrays, meta


def run(name: str, seed: int):
    config = dataclasses.replace(variants[name], seed=seed)
    drift = name in drift_runs.values()
    drift_key = {"every": settings["drift_every"], "ks": list(DRIFT_KS), "measures": "v2"} if drift else None
    key = {"train": config.to_dict(), "evaluation": evaluation, "drift": drift_key}
    return cached("regularizer_runs", key, lambda: train_and_measure(config, drift), results_dir, seed=seed,
                  device=str(dev))


results = {name: [run(name, seed) for seed in seeds] for name in variants}


def mean_over_seeds(name: str, key: str) -> np.ndarray:
    return np.mean([np.asarray(r.arrays[key] if key in r.arrays else r.meta[key], dtype=np.float64)
                    for r in results[name]], axis=0)


def fitted_alpha(name: str) -> float:
    return float(np.mean([fit_power_law(r.arrays["spectrum"], FIT_RANKS) for r in results[name]]))


vanilla_alpha = fitted_alpha("Vanilla")
glue("reg-beta10-alpha", fitted_alpha("β=10"), display=False)
glue("reg-eps-large", EPS[-1], display=False)

# %% tags=["nbval-check-output"]
# each run's readout, means over seeds: fitted exponent of the hidden spectrum on test images, clean accuracy, and
# accuracy under FGSM and PGD at each radius on the attack subset
header = ["configuration", "fitted α", "clean acc"] + [f"{a} {e:g}" for a in ("FGSM", "PGD") for e in EPS]
rows = [[name, f"{fitted_alpha(name):.3f}", f"{mean_over_seeds(name, 'clean_accuracy'):.3f}"]
        + [f"{v:.3f}" for a in ("fgsm", "pgd") for v in mean_over_seeds(name, f"acc_{a}")] for name in variants]
widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
for row in [header, *rows]:
    print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))

# %% [markdown]
# (sec-regularizer-drift)=
# ## How stale is the once-per-epoch eigenbasis?
#
# The basis $V$ is computed at the start of an epoch; during the epoch the network moves and its covariance $C$
# with it, while the minibatch estimates keep reading $C$ through the old $V$. A reviewer asked whether this error
# limits the learning rate. During the three $\beta = 10$ runs at learning rates $10^{-4}$, $10^{-3}$ and
# $10^{-2}$, after the first step of every epoch and then every few steps, we recompute the fresh covariance $C$ of
# the hidden layer over the same training images the basis came from (so minibatch noise does not enter) and
# measure (code in `onen.drift`):
#
# - the largest **principal angle** between the stale and fresh top-$k$ eigenspaces, for $k = 10$ and $50$ (the
#   singular values of $V_k^\top U_k$ are the cosines of the angles; 0° is the same subspace, 90° means some direction
#   of one is orthogonal to the other);
# - the median over the penalized ranks $k > \tau$ of $|\hat e_k / e_k - 1|$, where $\hat e$ are the stale-basis
#   estimates $\operatorname{diag}(V^\top C V)$ sorted as the penalty sorts them and $e$ the eigenvalues of $C$;
# - the **tail mass ratio** $\sum_{k>\tau} \hat e_k / \sum_{k>\tau} e_k$. The diagonal of $V^\top C V$ is majorized by
#   the eigenvalues of $C$ (the Schur-Horn theorem), so this ratio is at least 1 for any orthonormal basis, and 1
#   for the eigenbasis: a stale basis never reports less variance in the penalized ranks than there is. The reason
#   is leakage: a tail
#   direction tilted by an angle $\theta$ towards the leading eigenvector picks up $\sin^2\theta \, e_0$, which is
#   large next to an eigenvalue several decades below $e_0$;
# - the penalty computed from $\hat e$ against the penalty computed from $e$.

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 3, figsize=(13, 7))
lr_colours = colours(list(drift_runs))
steps_per_epoch = results["β=10"][0].meta["steps_per_epoch"]
quantities = [("drift_angle_top10", "largest angle, top 10 (degrees)", False),
              ("drift_angle_top50", "largest angle, top 50 (degrees)", False),
              ("drift_median_rel_error", r"median $|\hat e_k / e_k - 1|$, $k > \tau$", True),
              ("drift_tail_mass_ratio", r"tail mass ratio $\sum \hat e_k / \sum e_k$", True),
              ("drift_penalty_rel_error", "relative error of the penalty", True)]
for ax, (key, label, log_scale) in zip(axes.flat, quantities):
    for lr_name, run_name in drift_runs.items():
        arrays = results[run_name][0].arrays
        ax.plot(arrays["drift_step"], arrays[key], marker="o", ms=2.5, color=lr_colours[lr_name], label=lr_name)
    ax.set_ylabel(label)
    if log_scale:
        ax.set_yscale("log")
    else:
        ax.set_ylim(-3, 93)
ax_penalty = axes.flat[5]
for lr_name, run_name in drift_runs.items():
    arrays = results[run_name][0].arrays
    ax_penalty.plot(arrays["drift_step"], arrays["drift_penalty_stale"], marker="o", ms=2.5,
                    color=lr_colours[lr_name], label=f"{lr_name}, stale basis")
    ax_penalty.plot(arrays["drift_step"], arrays["drift_penalty_true"], ls="--", color=lr_colours[lr_name],
                    label=f"{lr_name}, true eigenvalues")
ax_penalty.set_ylabel(r"penalty $R / \beta$")
ax_penalty.set_yscale("log")
ax_penalty.legend(fontsize=6)
for ax in axes.flat:
    for boundary in range(1, base.epochs):
        ax.axvline(boundary * steps_per_epoch + 0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("optimiser step")
fig.tight_layout(rect=(0, 0, 1, 0.95))
fig.legend(*axes[0, 0].get_legend_handles_labels(), title="learning rate", loc="upper center", ncol=3)
glue("regularizer-drift", fig, display=False)


def drift_at(lr_name: str, key: str, position: int) -> float:
    """Median over epochs of a quantity at the first (position 0) or last (-1) measurement of each epoch."""
    arrays = results[drift_runs[lr_name]][0].arrays
    epochs = arrays["drift_epoch"]
    picked = [np.flatnonzero(epochs == e)[position] for e in np.unique(epochs)]
    return float(np.median(arrays[key][picked]))


drift_table = {lr_name: {key: (drift_at(lr_name, key, 0), drift_at(lr_name, key, -1))
                         for key in ("drift_angle_top10", "drift_angle_top50", "drift_median_rel_error",
                                     "drift_tail_mass_ratio", "drift_penalty_rel_error")}
               for lr_name in drift_runs}
for lr_name, row in drift_table.items():
    tag = lr_name.replace("=", "").replace("-", "m")
    for key, (first, last) in row.items():
        short = key.removeprefix("drift_").replace("_", "-")
        glue(f"reg-{short}-first-{tag}", first, display=False)
        glue(f"reg-{short}-last-{tag}", last, display=False)
end_errors = [drift_table[lr]["drift_median_rel_error"][1] for lr in drift_runs]
glue("reg-drift-trend", Markdown("grows" if all(np.diff(end_errors) > 0) else "does not grow monotonically"),
     display=False)
steps_since_refresh = settings["drift_every"] * ((steps_per_epoch // settings["drift_every"]))
glue("reg-drift-last-step", steps_since_refresh, display=False)
slowest_error = drift_table["lr=1e-04"]["drift_median_rel_error"][1]
glue("reg-drift-slowest", Markdown(
    "even at the smallest rate the stale estimates of the tail are off by more than half their true value by the "
    "end of an epoch" if slowest_error > 0.5
    else "at the smallest rate the basis stays a fair reader of the tail through an epoch"), display=False)
late = [np.flatnonzero(results["β=10"][0].arrays["drift_epoch"] == e)[-1] for e in range(base.epochs)]
late_ratio = float(np.median(results["β=10"][0].arrays["drift_penalty_stale"][late]
                             / results["β=10"][0].arrays["drift_penalty_true"][late]))
glue("reg-drift-penalty-ratio", late_ratio, display=False)

# %%
# the numbers behind the figure: median over epochs at the first and the last measurement of an epoch
print("learning rate  " + "  ".join(f"{k.removeprefix('drift_'):>22}" for k in next(iter(drift_table.values()))))
for lr_name, row in drift_table.items():
    print(f"{lr_name:<13}  " + "  ".join(f"{first:>10.3g} -> {last:<8.3g}" for first, last in row.values()))

# %% [markdown]
# ```{glue:figure} regularizer-drift
# :name: "fig-regularizer-drift"
#
# Staleness of the once-per-epoch eigenbasis during training ($\beta = 10$, $\alpha = 1$, first seed), one line per
# learning rate; dotted lines mark epoch boundaries, where the basis is refreshed. Top: the largest principal angle
# between the stale and fresh top-10 and top-50 eigenspaces, and the median relative error of the stale-basis
# eigenvalue estimates over the penalized ranks. Bottom: the tail mass ratio (1 for the true basis), the relative
# error of the penalty, and the penalty itself from the stale-basis estimates (solid) and from the true eigenvalues
# (dashed).
# ```
#
# One step after a refresh, at learning rate $10^{-3}$, the median eigenvalue error is
# {glue:text}`reg-median-rel-error-first-lr1em03:.3f` (median over epochs). By the last measurement of an epoch,
# {glue:text}`reg-drift-last-step` steps after the refresh, it is {glue:text}`reg-median-rel-error-last-lr1em04:.2f`,
# {glue:text}`reg-median-rel-error-last-lr1em03:.2f` and {glue:text}`reg-median-rel-error-last-lr1em02:.2f` at
# learning rates $10^{-4}$, $10^{-3}$ and $10^{-2}$, the tail mass ratio is
# {glue:text}`reg-tail-mass-ratio-last-lr1em04:.2f`, {glue:text}`reg-tail-mass-ratio-last-lr1em03:.2f` and
# {glue:text}`reg-tail-mass-ratio-last-lr1em02:.2f`, the largest top-50 angle
# {glue:text}`reg-angle-top50-last-lr1em04:.0f`°, {glue:text}`reg-angle-top50-last-lr1em03:.0f`° and
# {glue:text}`reg-angle-top50-last-lr1em02:.0f`°, and the penalty is off by a relative
# {glue:text}`reg-penalty-rel-error-last-lr1em04:.2f`, {glue:text}`reg-penalty-rel-error-last-lr1em03:.2f` and
# {glue:text}`reg-penalty-rel-error-last-lr1em02:.2f`. So the end-of-epoch eigenvalue error
# {glue:md}`reg-drift-trend` with the learning rate, and {glue:md}`reg-drift-slowest`.
#
# Because a stale basis never understates the tail (tail mass ratio at least 1), its error is a bias, not noise: late
# in each epoch the penalty sees a heavier tail than the network has. Where the true tail lies above its target, the
# penalty pushes it further down than Eq. 2 asks; where it lies below, the inflated estimates look closer to the
# target and the penalty stops lifting it. At learning rate $10^{-3}$ the stale-basis penalty at the end of an epoch
# is {glue:text}`reg-drift-penalty-ratio:.2f` times the true one (median over epochs). Either way the bias favours
# a spectrum steeper than the target; compare the exponent fitted at $\beta = 10$, $\alpha = 1$ (table above),
# {glue:text}`reg-beta10-alpha:.2f`, with its target of 1.
# {ref}`sec-regularizer-refresh` tests the obvious remedy.

# %% [markdown]
# (sec-regularizer-refresh)=
# ## Refreshing the basis every few steps
#
# If a stale basis is what holds the spectrum back, refreshing it more often should let the penalty reach its
# target. `TrainConfig(refresh_every=k)` recomputes the basis after every $k$ optimiser steps as well as at the end of
# each epoch, at the cost of one forward pass over the eigen subset and one eigendecomposition per refresh. We repeat
# the $\beta = 10$, $\alpha = 1$ runs at learning rates $10^{-3}$ and $10^{-2}$ with $k =$
# {glue:text}`reg-refresh-every` and compare them with the once-per-epoch runs above: same seeds, same data order,
# same everything else.

# %% tags=["hide-input"]
fig, (ax_alpha, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
refresh_table = {}
for index, (lr_name, (per_epoch, refreshed)) in enumerate(refresh_pairs.items()):
    for name, style, label in ((per_epoch, "--", "basis per epoch"), (refreshed, "-", f"basis every {REFRESH_EVERY} steps")):
        alphas = np.mean([[a[0] for a in r.meta["history"]["alphas"]] for r in results[name]], axis=0)
        ax_alpha.plot(np.arange(1, alphas.size + 1), alphas, ls=style, marker="o", color=PALETTE[index],
                      label=f"{lr_name}, {label}")
        refresh_table[name] = {"alpha": fitted_alpha(name), "clean": float(mean_over_seeds(name, "clean_accuracy")),
                               "pgd": float(mean_over_seeds(name, "acc_pgd")[-1])}
ax_alpha.axhline(1.0, color="k", lw=0.8, ls=":")
ax_alpha.axhline(vanilla_alpha, color="0.5", lw=0.8, ls="-.", label=f"Vanilla on test images ({vanilla_alpha:.2f})")
ax_alpha.set_xlabel("epoch")
ax_alpha.set_ylabel(f"exponent α of the training spectrum (ranks {FIT_RANKS[0]}-{FIT_RANKS[1]})")
ax_alpha.legend(fontsize=7)
pair_names = [name for pair in refresh_pairs.values() for name in pair]
x_pair = np.arange(len(pair_names))
ax_acc.bar(x_pair - 0.2, [100 * refresh_table[n]["clean"] for n in pair_names], 0.4, color=PALETTE[0], label="clean")
ax_acc.bar(x_pair + 0.2, [100 * refresh_table[n]["pgd"] for n in pair_names], 0.4, color=PALETTE[3],
           label=f"PGD ε={EPS[-1]:g}")
ax_acc.set_xticks(x_pair, [n.replace(", basis", ",\nbasis") for n in pair_names], fontsize=7)
ax_acc.set_ylabel("test accuracy (%)")
ax_acc.legend()
fig.tight_layout()
glue("regularizer-refresh", fig, display=False)

glue("reg-refresh-every", REFRESH_EVERY, display=False)
for lr_name, (per_epoch, refreshed) in refresh_pairs.items():
    tag = lr_name.replace("=", "").replace("-", "m")
    for which, name in (("epoch", per_epoch), ("steps", refreshed)):
        for key, value in refresh_table[name].items():
            glue(f"reg-refresh-{key}-{which}-{tag}", 100 * value if key in ("clean", "pgd") else value, display=False)
closer = [abs(refresh_table[r]["alpha"] - 1) < abs(refresh_table[p]["alpha"] - 1) for p, r in refresh_pairs.values()]
glue("reg-refresh-verdict", Markdown(
    "brings the fitted exponent closer to the target at both learning rates" if all(closer)
    else "brings the fitted exponent closer to the target at one of the two learning rates" if any(closer)
    else "does not bring the fitted exponent closer to the target at either learning rate"), display=False)
glue("reg-refresh-conclusion", Markdown(
    "The paper's once-per-epoch basis is therefore not a neutral implementation detail: at these learning rates it "
    "limits how close to 1/n the penalty can bring the spectrum." if all(closer)
    else "The once-per-epoch basis thus limits the penalty at one of these learning rates but not at the other."
    if any(closer) else "At these settings the once-per-epoch basis is not what keeps the spectrum away from 1/n."),
    display=False)

# %% tags=["nbval-check-output"]
print("configuration                            fitted α  clean acc  PGD acc")
for name, row in refresh_table.items():
    print(f"{name:<40} {row['alpha']:>8.3f}  {row['clean']:>9.3f}  {row['pgd']:>7.3f}")

# %% [markdown]
# ```{glue:figure} regularizer-refresh
# :name: "fig-regularizer-refresh"
#
# The $\beta = 10$, $\alpha = 1$ network with the basis refreshed once per epoch (dashed) or also every few steps
# (solid), at two learning rates (means over seeds). Left: the exponent fitted to the hidden spectrum over the eigen
# subset of training images after each epoch (dotted: the target 1; dash-dotted: the Vanilla network's exponent on
# test images). Right: clean accuracy and PGD accuracy at the larger radius.
# ```
#
# Refreshing every {glue:text}`reg-refresh-every` steps {glue:md}`reg-refresh-verdict`. At learning rate $10^{-3}$
# the exponent fitted on test images goes from {glue:text}`reg-refresh-alpha-epoch-lr1em03:.2f` (basis per epoch)
# to {glue:text}`reg-refresh-alpha-steps-lr1em03:.2f`; at $10^{-2}$ from
# {glue:text}`reg-refresh-alpha-epoch-lr1em02:.2f` to {glue:text}`reg-refresh-alpha-steps-lr1em02:.2f`. Clean
# accuracy moves from {glue:text}`reg-refresh-clean-epoch-lr1em03:.1f`% to
# {glue:text}`reg-refresh-clean-steps-lr1em03:.1f`% and from {glue:text}`reg-refresh-clean-epoch-lr1em02:.1f`% to
# {glue:text}`reg-refresh-clean-steps-lr1em02:.1f`%, PGD accuracy at $\epsilon =$ {glue:text}`reg-eps-large:g`
# from {glue:text}`reg-refresh-pgd-epoch-lr1em03:.1f`% to {glue:text}`reg-refresh-pgd-steps-lr1em03:.1f`% and from
# {glue:text}`reg-refresh-pgd-epoch-lr1em02:.1f`% to {glue:text}`reg-refresh-pgd-steps-lr1em02:.1f`%.
# {glue:md}`reg-refresh-conclusion`
#
# A refresh costs one forward pass over the eigen subset and one eigendecomposition per regularized layer. We do not
# compare wall-clock times here, because the once-per-epoch runs also record the basis drift after every step. The
# remaining chapters keep the paper's schedule, so that they test the paper's method; `refresh_every` is there for
# anyone who wants the penalty to do what Eq. 2 says.

# %% [markdown]
# (sec-regularizer-tracked)=
# ## A basis that follows the network
#
# Refreshing from the eigen subset every few steps helps, but each refresh costs a forward pass over thousands of
# images and a full eigendecomposition, and between refreshes the basis still goes stale. `onen` therefore offers a
# second strategy, `SpectralRegularizer(..., basis="tracked")` (or `TrainConfig(basis="tracked")`): every minibatch
# the penalty sees updates an exponential moving average of the layer's covariance,
# $C \leftarrow m\,C + (1 - m)\,C_\text{batch}$ with $m =$ {glue:text}`reg-track-momentum`, from the features the
# training step has computed anyway, and the basis is recomputed from that average every
# {glue:text}`reg-track-every` step(s). The average spans many batches, so it has full rank even when a batch is
# narrower than the layer, and no opt-in is needed there. Its momentum and schedule were chosen by measurement: at
# this chapter's settings, an eigendecomposition every step with $m = 0.5$ brought the fitted exponent closest to 1;
# a longer average ($m = 0.8$, $0.95$) lags the network, a shorter one is noisier, and eigendecompositions every 3 or
# 5 steps leave the basis stale for longer.
#
# We compare the paper's basis once per epoch, a refresh from the eigen subset every
# {glue:text}`reg-refresh-every` steps and the tracked basis, with an eigendecomposition every step and every
# {glue:text}`reg-track-sparse` steps (the cheaper schedule: see the cost below), at $\beta = 10$ and learning
# rates $10^{-3}$ and $10^{-2}$ (same seed and data order). After **every** optimiser step we measure the basis against a fresh
# eigendecomposition of the hidden covariance over {glue:text}`reg-heldout-images` **held-out test images**: the
# median over the penalized ranks of $|\hat e_k / e_k - 1|$ and the relative error of the penalty, as in
# {ref}`sec-regularizer-drift`. Held-out images make the comparison honest, but they bring their own sampling error:
# even the exact eigenbasis of the training images at the same weights does not read the held-out spectrum exactly.
# That **floor** is measured at every step too.

# %%
TRACK = profiles.TRACKED
TRACK_SPARSE = 2  # the cheapest schedule within the cost aim of 1.5 times the paper's step (benchmark below)
basis_strategies = {"basis per epoch": {}, f"refresh every {REFRESH_EVERY} steps": {"refresh_every": REFRESH_EVERY},
                    "tracked basis": TRACK,
                    f"tracked basis, every {TRACK_SPARSE} steps": {**TRACK, "track_every": TRACK_SPARSE}}
basis_tags = dict(zip(basis_strategies, ("basis", "refresh", "tracked", "sparse")))
basis_lrs = {"lr=1e-03": 1e-3, "lr=1e-02": 1e-2}
glue("reg-track-momentum", TRACK["track_momentum"], display=False)
glue("reg-track-every", TRACK["track_every"], display=False)
glue("reg-track-sparse", TRACK_SPARSE, display=False)
glue("reg-heldout-images", HELDOUT_IMAGES, display=False)


def score_of(spectrum: np.ndarray, config: TrainConfig) -> TargetScore:
    return target_score(spectrum, config.tau, config.alpha)


def train_and_track_error(config: TrainConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Train with the basis error measured after every step on held-out images; spectrum and accuracy at the end."""
    train_split, test_split = dataset(config.dataset, "train", dev), dataset(config.dataset, "test", dev)
    heldout = test_split.subset(HELDOUT_IMAGES, seed=1).images
    recorder = DriftRecorder(eigen_inputs(config, train_split), every=1, ks=(10,), heldout=heldout, floor=True)
    model, history = train(config, train_split, None, progress=False, after_step=recorder)
    spectrum_set = test_split.subset(evaluation["spectrum_images"], seed=0)
    arrays = {f"error_{key}": value for key, value in recorder.arrays().items()}
    arrays["spectrum"] = layer_spectra(model, list(model.blocks), spectrum_set.images)[0]
    return arrays, {"clean_accuracy": evaluate_accuracy(model, test_split), "history": history.to_dict()}


def basis_run(strategy: str, lr_name: str, seed: int):
    config = dataclasses.replace(base, beta=REFERENCE_BETA, lr=basis_lrs[lr_name], seed=seed,
                                 **basis_strategies[strategy])
    key = {"train": config.to_dict(), "heldout_images": HELDOUT_IMAGES, "spectrum_images": evaluation["spectrum_images"],
           "measures": "heldout-every-step-v1"}
    return config, cached("regularizer_basis_error", key, lambda: train_and_track_error(config), results_dir,
                          seed=seed, device=str(dev))


basis_results = {(strategy, lr_name): basis_run(strategy, lr_name, seeds[0])
                 for lr_name in basis_lrs for strategy in basis_strategies}

# %% tags=["hide-input"]
strategy_colours = colours(list(basis_strategies))
fig, axes = plt.subplots(2, 2, figsize=(12, 6.5), sharex="col")
for column, lr_name in enumerate(basis_lrs):
    for row, (key, label) in enumerate((("median_rel_error", r"median $|\hat e_k / e_k - 1|$, $k > \tau$"),
                                        ("penalty_rel_error", "relative error of the penalty"))):
        ax = axes[row, column]
        for strategy in basis_strategies:
            arrays = basis_results[(strategy, lr_name)][1].arrays
            ax.plot(arrays["error_step"], arrays[f"error_{key}"], color=strategy_colours[strategy], lw=1.2,
                    label=strategy)
        floor = basis_results[("tracked basis", lr_name)][1].arrays[f"error_floor_{key}"]
        ax.plot(arrays["error_step"], floor, color="0.4", ls=":", lw=1.2, label="floor: exact training basis")
        ax.axhline(0.05, color="k", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_title(lr_name if row == 0 else "")
    axes[1, column].set_xlabel("optimiser step")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
glue("regularizer-basis-error", fig, display=False)
plt.close(fig)

basis_rows, basis_summary = [], {}
for (strategy, lr_name), (config, result) in basis_results.items():
    arrays = result.arrays
    score = score_of(arrays["spectrum"], config)
    summary = {"median": float(np.median(arrays["error_median_rel_error"])),
               "max": float(np.max(arrays["error_median_rel_error"])),
               "floor": float(np.median(arrays["error_floor_median_rel_error"])),
               "penalty": float(np.median(arrays["error_penalty_rel_error"])),
               "alpha": score.fitted_alpha, "log_ratio": score.median_abs_log_ratio,
               "clean": result.meta["clean_accuracy"], "reached": score.reached,
               "penalty_first": result.meta["history"]["penalty"][0],
               "penalty_last": result.meta["history"]["penalty"][-1]}
    basis_summary[(strategy, lr_name)] = summary
    basis_rows.append([lr_name, strategy, f"{summary['median']:.3f}", f"{summary['max']:.3f}",
                       f"{summary['floor']:.3f}", f"{summary['penalty']:.3f}",
                       f"{summary['penalty_first']:.2f} → {summary['penalty_last']:.2f}",
                       f"{summary['alpha']:.2f}", f"{summary['log_ratio']:.2f}", "yes" if score.reached else "no",
                       f"{100 * summary['clean']:.1f}"])
for (strategy, lr_name), summary in basis_summary.items():
    tag = f"{basis_tags[strategy]}-{lr_name.replace('=', '').replace('-', 'm')}"
    for key in ("median", "max", "floor", "penalty", "alpha", "log_ratio"):
        glue(f"reg-basis-{key.replace('_', '-')}-{tag}", summary[key], display=False)
best_gap = min(basis_summary[("tracked basis", lr)]["median"] / basis_summary[("tracked basis", lr)]["floor"]
               for lr in basis_lrs)
glue("reg-basis-goal", Markdown(
    "meets the 5% aim at every step" if all(s["max"] < 0.05 for (st, _), s in basis_summary.items()
                                            if st == "tracked basis")
    else "does not meet an aim of 5% at every step; at these image counts not even the floor does"
    if all(s["floor"] >= 0.05 for s in basis_summary.values())
    else "does not meet an aim of 5% at every step"), display=False)
glue("reg-basis-floor-gap", best_gap, display=False)
sparse_worse = [abs(basis_summary[(f"tracked basis, every {TRACK_SPARSE} steps", lr)]["alpha"] - 1)
                > abs(basis_summary[("tracked basis", lr)]["alpha"] - 1) for lr in basis_lrs]
glue("reg-sparse-verdict", Markdown(
    "at both learning rates it leaves the spectrum further from its target, so the book's tracked runs keep an "
    "eigendecomposition at every step" if all(sparse_worse) else
    "it leaves the spectrum further from its target at one learning rate, not at the other" if any(sparse_worse) else
    "it brings the spectrum at least as close to its target at both learning rates"), display=False)
tracked_best = all(basis_summary[("tracked basis", lr)]["median"] < min(
    basis_summary[(st, lr)]["median"] for st in basis_strategies if not st.startswith("tracked")) for lr in basis_lrs)
glue("reg-basis-best", Markdown("The tracked basis is the best reader of the spectrum at both learning rates"
                                if tracked_best else "The tracked basis is not the best reader at every learning rate"),
     display=False)
tracked_closer = all(abs(basis_summary[("tracked basis", lr)]["alpha"] - 1)
                     < abs(basis_summary[("basis per epoch", lr)]["alpha"] - 1) for lr in basis_lrs)
glue("reg-basis-closer", Markdown("the tracked basis brings the spectrum closer to its target than the paper's basis"
                                  if tracked_closer else
                                  "the tracked basis does not bring the spectrum closer to its target at every rate"),
     display=False)

# %%
Table(["learning rate", "basis", "median error", "max error", "floor", "penalty error", "penalty (per epoch)",
       "α fitted", "median |log λ/γ|", "reached", "clean acc. (%)"], basis_rows,
      caption=f"β = {REFERENCE_BETA:g}, α = 1, τ = 10. Errors: medians and maximum over steps of the median relative "
              "eigenvalue error on held-out images; the score is measured on test images over the penalized ranks.")

# %% [markdown]
# ```{glue:figure} regularizer-basis-error
# :name: "fig-regularizer-basis-error"
#
# Error of each eigenbasis strategy after every optimiser step, against a fresh eigendecomposition over held-out
# test images ($\beta = 10$, first seed). Top: median relative error of the eigenvalue estimates over the penalized
# ranks; bottom: relative error of the penalty. Dotted: the floor, the same errors for the exact eigenbasis of the
# training images at the same weights. Dashed: 5%.
# ```
#
# At learning rate $10^{-3}$ the median eigenvalue error over steps is {glue:text}`reg-basis-median-basis-lr1em03:.2f`
# with the paper's basis, {glue:text}`reg-basis-median-refresh-lr1em03:.2f` with a refresh every
# {glue:text}`reg-refresh-every` steps and {glue:text}`reg-basis-median-tracked-lr1em03:.2f` with the tracked basis,
# against a floor of {glue:text}`reg-basis-floor-tracked-lr1em03:.2f`; at $10^{-2}$ the three are
# {glue:text}`reg-basis-median-basis-lr1em02:.2f`, {glue:text}`reg-basis-median-refresh-lr1em02:.2f` and
# {glue:text}`reg-basis-median-tracked-lr1em02:.2f` (floor {glue:text}`reg-basis-floor-tracked-lr1em02:.2f`).
# Recomputing the tracked basis only every {glue:text}`reg-track-sparse` steps gives a median error of
# {glue:text}`reg-basis-median-sparse-lr1em03:.2f` and {glue:text}`reg-basis-median-sparse-lr1em02:.2f` at the two
# rates, with a worst step of {glue:text}`reg-basis-max-sparse-lr1em03:.2f` and
# {glue:text}`reg-basis-max-sparse-lr1em02:.2f` (every step: {glue:text}`reg-basis-max-tracked-lr1em03:.2f` and
# {glue:text}`reg-basis-max-tracked-lr1em02:.2f`), and the trained exponent is
# {glue:text}`reg-basis-alpha-sparse-lr1em03:.2f` and {glue:text}`reg-basis-alpha-sparse-lr1em02:.2f` (every step:
# {glue:text}`reg-basis-alpha-tracked-lr1em03:.2f` and {glue:text}`reg-basis-alpha-tracked-lr1em02:.2f`). The
# cheaper schedule is the one within the cost aim below; {glue:md}`reg-sparse-verdict`.
# {glue:md}`reg-basis-best`, yet it {glue:md}`reg-basis-goal`: its error is still at least
# {glue:text}`reg-basis-floor-gap:.1f` times the floor, because one Adam step moves the weak tail directions enough
# to matter. In the fitted exponent {glue:md}`reg-basis-closer`: {glue:text}`reg-basis-alpha-tracked-lr1em03:.2f`
# against {glue:text}`reg-basis-alpha-basis-lr1em03:.2f`
# with the paper's basis at $10^{-3}$, {glue:text}`reg-basis-alpha-tracked-lr1em02:.2f` against
# {glue:text}`reg-basis-alpha-basis-lr1em02:.2f` at $10^{-2}$ (fitted over the penalized ranks of test-image spectra).
#
# What the tracked basis costs is measured by `benchmarks/bench_spectral.py` on the paper's shallow net (784-2000-10,
# batch 3500): an eigendecomposition of a 2000-wide covariance every $k$ steps against the paper's refresh, which
# runs a forward pass over all 60000 training images, a float64 covariance and an eigendecomposition once per epoch
# (spread here over the epoch's steps). The steps are timed round-robin, so a change of the machine's load hits every
# row alike. The table below was measured on {glue:md}`reg-cost-machine`.

# %% tags=["hide-input"]
import json
from pathlib import Path

import onen

bench_file = Path(onen.__file__).resolve().parents[1] / "benchmarks" / "results" / "bench_spectral_cpu.json"
bench = json.loads(bench_file.read_text()) if bench_file.is_file() else None
if bench is not None:
    sec, ratio, machine = bench["summary_seconds"], bench["ratios"], bench["machine"]
    glue("reg-cost-machine", Markdown(
        f"{machine['cpu_count']} CPU cores ({machine['processor']}, {machine['threads']} threads, torch "
        f"{machine['torch']}) at a load average of {machine['load_average_start']:.1f}"), display=False)
    ks = sorted(int(name.split("=")[1]) for name in sec if name.startswith("tracked step k="))
    cost_rows = [["Vanilla step", f"{1e3 * sec['vanilla step']:.0f}", f"{sec['vanilla step'] / sec['paper step']:.2f}",
                  "1.00"],
                 ["paper's step: penalty + refresh once per epoch", f"{1e3 * sec['paper step']:.0f}", "1.00",
                  f"{sec['paper step'] / sec['vanilla step']:.2f}"]]
    cost_rows += [[f"tracked basis, eigendecomposition every {k} step(s)", f"{1e3 * sec[f'tracked step k={k}']:.0f}",
                   f"{ratio[f'tracked k={k} / paper']:.2f}", f"{ratio[f'tracked k={k} / vanilla']:.2f}"] for k in ks]
    for k in ks:
        glue(f"reg-cost-tracked-k{k}", ratio[f"tracked k={k} / paper"], display=False)
    glue("reg-cost-k1-aim", Markdown("within" if ratio["tracked k=1 / paper"] <= 1.5 else "above"), display=False)
    glue("reg-cost-cheapest-within", Markdown(", ".join(f"k = {k}" for k in ks
                                                        if ratio[f"tracked k={k} / paper"] <= 1.5) or "no k"),
         display=False)
else:
    glue("reg-cost-machine", Markdown("no machine: `benchmarks/results/bench_spectral_cpu.json` is absent"),
         display=False)
    glue("reg-cost-k1-aim", Markdown("not measured against"), display=False)
    glue("reg-cost-cheapest-within", Markdown("not measured"), display=False)
    for k in (1, 2, 5):
        glue(f"reg-cost-tracked-k{k}", float("nan"), display=False)
    cost_rows = []

# %%
Table(["step", "ms per step", "× paper's step", "× Vanilla step"], cost_rows,
      caption="Cost of one training step of 784-2000-10 at batch 3500, median over repeats "
              "(benchmarks/bench_spectral.py)")

# %% [markdown]
# With an eigendecomposition at every step the tracked basis costs {glue:text}`reg-cost-tracked-k1:.2f` times the
# paper's step on this CPU ({glue:md}`reg-cost-k1-aim` the aim of 1.5); every second step it costs
# {glue:text}`reg-cost-tracked-k2:.2f`
# times and every fifth {glue:text}`reg-cost-tracked-k5:.2f` times. Within the aim: {glue:md}`reg-cost-cheapest-within`.
# The chapter's runs use $k$ = {glue:text}`reg-track-every`, the most accurate setting; on a GPU the
# eigendecomposition is a smaller share of the step.

# %% [markdown]
# (sec-regularizer-search)=
# ## Where does the spectrum reach 1/n?
#
# A robustness verdict about "1/n" means something only for a network whose spectrum is $1/n$. We score a trained
# layer by two numbers on test images over the penalized ranks $\tau + 2, \dots, N$ (`onen.spectrum.target_score`):
# the fitted exponent, and the median $|\log(\lambda_k / \gamma_k)|$, the typical factor between the spectrum and
# Eq. 2's target $\gamma_k$. A layer has **reached** its target when the exponent is within 0.1 of $\alpha$ and the
# median log-ratio is at most $\log 2$. With the tracked basis we search the penalty weight $\beta$ and the learning
# rate, training {glue:text}`reg-search-epochs` epochs (more than the runs above: the tail rises slowly, since the
# penalty lifts a direction in proportion to the variance it already has).

# %%
search_grid, search_images = profiles.search_grid(profile)
search_results = {(c.lr, c.beta): search.search_point(dataclasses.replace(c, seed=seeds[0]), search_images,
                                                       results_dir, device) for c in search_grid.values()}
search_scores = {(p.lr, p.beta): p for p in search.score(search_results, base.tau, base.alpha)}
SEARCH_LRS = sorted({lr for lr, _ in search_scores})
SEARCH_BETAS = sorted({beta for _, beta in search_scores if beta > 0})
SEARCH_EPOCHS = next(iter(search_grid.values())).epochs
glue("reg-search-epochs", SEARCH_EPOCHS, display=False)

# %% tags=["hide-input"]
fig, (ax_front, ax_log) = plt.subplots(1, 2, figsize=(11, 4))
search_rows = []
for index, lr in enumerate(SEARCH_LRS):
    points = [search_scores[(lr, beta)] for beta in [0.0, *SEARCH_BETAS]]
    for p in points:
        search_rows.append([f"{lr:.0e}", "Vanilla" if p.beta == 0 else f"{p.beta:g}", f"{p.score.fitted_alpha:.2f}",
                            f"{p.score.median_abs_log_ratio:.2f}", "yes" if p.score.reached else "no",
                            f"{100 * p.clean_accuracy:.1f}"])
    vanilla, regularized = points[0], points[1:]
    ax_front.plot([p.score.fitted_alpha for p in regularized], [100 * p.clean_accuracy for p in regularized], "-o",
                  color=PALETTE[index], label=f"tracked basis, lr={lr:.0e}")
    ax_front.plot([vanilla.score.fitted_alpha], [100 * vanilla.clean_accuracy], "s", color=PALETTE[index],
                  mfc="none", ms=9, label=f"Vanilla, lr={lr:.0e}")
    for p in regularized:
        ax_front.annotate(f"β={p.beta:g}", (p.score.fitted_alpha, 100 * p.clean_accuracy), fontsize=7,
                          xytext=(3, 3), textcoords="offset points")
    ax_log.plot([p.beta for p in regularized], [p.score.median_abs_log_ratio for p in regularized], "-o",
                color=PALETTE[index], label=f"lr={lr:.0e}")
ax_front.axvspan(0.9, 1.1, color="0.9", label="|α - 1| ≤ 0.1")
ax_front.set_xlabel("fitted α over the penalized ranks (test images)")
ax_front.set_ylabel("clean test accuracy (%)")
ax_front.legend(fontsize=7)
ax_log.axhline(np.log(2), color="k", ls="--", lw=0.8, label="log 2")
ax_log.set_xscale("log")
ax_log.set_xlabel("β")
ax_log.set_ylabel(r"median $|\log(\lambda_k / \gamma_k)|$")
ax_log.legend(fontsize=7)
fig.tight_layout()
glue("regularizer-search", fig, display=False)
plt.close(fig)
closest = search.closest(search_scores.values())
reached_points = [p for p in search_scores.values() if p.beta > 0 and p.score.reached]
glue("reg-search-closest", Markdown(f"β = {closest.beta:g} at learning rate {closest.lr:.0e}"), display=False)
glue("reg-search-closest-alpha", closest.score.fitted_alpha, display=False)
glue("reg-search-closest-log", closest.score.median_abs_log_ratio, display=False)
glue("reg-search-closest-clean", 100 * closest.clean_accuracy, display=False)
glue("reg-search-verdict", Markdown(
    f"{len(reached_points)} of the {len(SEARCH_BETAS) * len(SEARCH_LRS)} settings reach the target"
    if reached_points else "no setting of the search reaches the target by both numbers"), display=False)

# %%
Table(["learning rate", "β", "α fitted", "median |log λ/γ|", "reached", "clean acc. (%)"], search_rows,
      caption=f"Tracked basis, α = 1, τ = 10, {SEARCH_EPOCHS} epochs; β = 0 is the Vanilla network.")

# %% [markdown]
# ```{glue:figure} regularizer-search
# :name: "fig-regularizer-search"
#
# The search with the tracked basis. Left: fitted exponent against clean accuracy, one line per learning rate,
# one point per $\beta$ (open squares: Vanilla); the grey band is $|\alpha - 1| \le 0.1$. Right: the median
# log-ratio to the target against $\beta$ (dashed: $\log 2$).
# ```
#
# In this search {glue:md}`reg-search-verdict`. The closest to $1/n$ is {glue:md}`reg-search-closest`, with a fitted
# exponent of {glue:text}`reg-search-closest-alpha:.2f`, a median log-ratio of
# {glue:text}`reg-search-closest-log:.2f` and a clean accuracy of {glue:text}`reg-search-closest-clean:.1f`%. Raising
# $\beta$ past the scale of the cross-entropy changes little: Adam normalises each parameter's step, so a larger
# weight re-balances the two losses but does not move the weights faster, and the weak tail directions rise
# slowly. More optimiser steps (a larger learning rate, more epochs) are what bring the spectrum down to its target.

# %% [markdown]
# (sec-regularizer-batch)=
# ## Why a batch must be at least as wide as the layer
#
# A covariance estimated from $B$ centred samples has rank at most $B - 1$. If the penalty read the eigenvalues of
# each minibatch's own covariance, every eigenvalue past rank $B - 1$ would be zero whatever the network does, and the
# penalty would push on them in vain; even below that rank, the sample eigenvalues of a batch are biased (the large
# ones up, the small ones down). Projecting the batch on a fixed basis instead gives $\lambda_n = v_n^\top
# C_\text{batch} v_n$, an unbiased estimate of the population variance along $v_n$ for any $B \ge 2$, but each such
# estimate has a relative standard deviation of about $\sqrt{2 / (B - 1)}$ for Gaussian data, and once sorted, as the
# penalty sorts them, the noise turns into bias again in the flat tail.
#
# To see both effects without a network, we draw Gaussian samples with a known population covariance: $N = 500$
# dimensions, eigenvalues exactly $1/n$, in a random orthonormal basis $Q$, and compare, for batches smaller than,
# equal to and larger than $N$, the eigenvalues of the batch covariance with the estimates $q_n^\top
# C_\text{batch} q_n$ in the true basis.

# %%
BATCH_STUDY = {"width": 500, "alpha": 1.0, "batch_sizes": [250, 500, 2000], "draws": settings["batch_study_draws"],
               "tau": 10, "seed": 0}


def batch_size_study() -> tuple[dict[str, np.ndarray], dict]:
    n_dims, draws = BATCH_STUDY["width"], BATCH_STUDY["draws"]
    spectrum = power_law_spectrum(n_dims, BATCH_STUDY["alpha"])
    gen = torch.Generator().manual_seed(BATCH_STUDY["seed"])
    basis, _ = torch.linalg.qr(torch.randn(n_dims, n_dims, generator=gen, dtype=torch.float64))
    scale = torch.from_numpy(np.sqrt(spectrum))
    arrays = {"spectrum": spectrum}
    for batch in BATCH_STUDY["batch_sizes"]:
        samples = (torch.randn(draws, batch, n_dims, generator=gen, dtype=torch.float64) * scale) @ basis.T
        centred = samples - samples.mean(1, keepdim=True)
        cov = centred.transpose(1, 2) @ centred / (batch - 1)  # [draws, N, N]
        arrays[f"batch_eig_{batch}"] = torch.linalg.eigvalsh(cov).flip(-1).numpy()  # [draws, N] descending
        arrays[f"fixed_basis_{batch}"] = ((centred @ basis).square().sum(1) / (batch - 1)).numpy()  # [draws, N]
    return arrays, {}


study = cached("regularizer_batch_size", BATCH_STUDY, batch_size_study, results_dir, seed=BATCH_STUDY["seed"]).arrays

# %% tags=["hide-input"]
true_spectrum = study["spectrum"]
tail = slice(BATCH_STUDY["tau"] + 1, None)


def median_rel_error(estimate: np.ndarray) -> float:
    return float(np.median(np.abs(estimate[tail] / true_spectrum[tail] - 1)))


def penalty_of(values: np.ndarray) -> float:
    return float(spectral_penalty(torch.from_numpy(np.ascontiguousarray(values)), BATCH_STUDY["tau"],
                                  BATCH_STUDY["alpha"]))


fig, axes = plt.subplots(1, len(BATCH_STUDY["batch_sizes"]), figsize=(13, 3.8), sharey=True)
ranks = np.arange(1, BATCH_STUDY["width"] + 1)
for ax, batch in zip(axes, BATCH_STUDY["batch_sizes"]):
    eig, fixed = study[f"batch_eig_{batch}"], study[f"fixed_basis_{batch}"]
    ax.loglog(ranks, true_spectrum, "k--", lw=1, label="population $1/n$")
    positive = eig[0] > 1e-12
    ax.loglog(ranks[positive], eig[0][positive], color=PALETTE[5], label="eigenvalues of $C_B$ (one batch)")
    ax.loglog(ranks, np.sort(fixed[0])[::-1], color=PALETTE[0], label=r"$q_n^\top C_B q_n$ sorted (one batch)")
    ax.loglog(ranks, fixed.mean(0), ".", ms=2, color=PALETTE[2],
              label=rf"$q_n^\top C_B q_n$, mean of {BATCH_STUDY['draws']} batches")
    if batch < BATCH_STUDY["width"]:
        ax.axvline(batch - 1, color=PALETTE[5], lw=0.8, ls=":")
    ax.set_title(f"B = {batch}, N = {BATCH_STUDY['width']}")
    ax.set_xlabel("rank $n$")
axes[0].set_ylabel("eigenvalue (population units)")
axes[0].set_ylim(1e-5, 2)
axes[0].legend(fontsize=7, loc="lower left")
fig.tight_layout()
glue("regularizer-batch", fig, display=False)

# %% [markdown]
# ```{glue:figure} regularizer-batch
# :name: "fig-regularizer-batch"
#
# Synthetic Gaussian data with a $1/n$ population spectrum in 500 dimensions. Eigenvalues of one batch's covariance
# (orange) against the estimates in the true basis, sorted as the penalty sorts them (blue), and their mean over
# batches at each rank (green dots), for a batch smaller than, equal to and larger than the width. The dotted line
# marks rank $B - 1$, past which a batch covariance has no variance at all.
# ```
#
# The table gives, per batch size: the rank of one batch covariance; the median relative error over the penalized
# ranks of the batch eigenvalues and of the fixed-basis estimates (each averaged over batches at each rank first, so
# this is the bias), the same for a single batch, sorted (bias and noise together, what one step of training sees),
# and the penalty (Eq. 2 without $\beta$, $\tau = 10$, $\alpha = 1$) of one batch's values, averaged over batches;
# it is exactly 0 for the population spectrum.

# %% tags=["nbval-check-output"]
print(f"N = {BATCH_STUDY['width']}, population spectrum 1/n, {BATCH_STUDY['draws']} batches per size, "
      f"penalty of the population spectrum {penalty_of(true_spectrum):.3f}")
header = ["B", "rank C_B", "bias eig(C_B)", "bias fixed basis", "one batch eig", "one batch fixed", "penalty eig",
          "penalty fixed"]
mean_penalty = lambda draws: float(np.mean([penalty_of(values) for values in draws]))  # one penalty per batch
rows = []
for batch in BATCH_STUDY["batch_sizes"]:
    eig, fixed = study[f"batch_eig_{batch}"], study[f"fixed_basis_{batch}"]
    rank = int((eig[0] > eig[0, 0] * 1e-10).sum())
    rows.append([str(batch), str(rank), f"{median_rel_error(eig.mean(0)):.3f}",
                 f"{median_rel_error(fixed.mean(0)):.3f}",
                 f"{median_rel_error(eig[0]):.3f}", f"{median_rel_error(np.sort(fixed[0])[::-1]):.3f}",
                 f"{mean_penalty(eig):.3f}", f"{mean_penalty(fixed):.3f}"])
widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
for row in [header, *rows]:
    print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))

# %%
small, large = min(BATCH_STUDY['batch_sizes']), max(BATCH_STUDY['batch_sizes'])
glue("reg-batch-small", small, display=False)
glue("reg-batch-large", large, display=False)
for size, tag in ((small, "small"), (large, "large")):
    glue(f"reg-batch-pen-eig-{tag}", mean_penalty(study[f"batch_eig_{size}"]), display=False)
    glue(f"reg-batch-pen-fixed-{tag}", mean_penalty(study[f"fixed_basis_{size}"]), display=False)

# %% [markdown]
# Past rank $B - 1$ a small batch's covariance has nothing to report, and below it its eigenvalues are biased, even
# for $B > N$. Read directly, they would give a batch drawn from a perfect $1/n$ population a penalty of
# {glue:text}`reg-batch-pen-eig-small:.3f` at $B =$ {glue:text}`reg-batch-small` and still
# {glue:text}`reg-batch-pen-eig-large:.3f` at $B =$ {glue:text}`reg-batch-large`, and the network would be pushed to
# "correct" a spectrum that is already on target. In the true basis the estimates are unbiased at every batch size;
# what is left is sampling noise, and the mean penalty of one batch is {glue:text}`reg-batch-pen-fixed-small:.3f` at
# $B =$ {glue:text}`reg-batch-small` and {glue:text}`reg-batch-pen-fixed-large:.3f` at
# $B =$ {glue:text}`reg-batch-large`. So it is the fixed basis, not the batch size, that removes the collapse: with an
# exact basis, a batch narrower than the layer still gives usable estimates. With the paper's basis `onen` keeps
# $B \ge N$ by default, as the paper's settings do (batches of 3500 for a 2000-unit layer):
# `SpectralRegularizer(..., allow_small_batch=True)` lifts the check. The tracked basis of
# {ref}`sec-regularizer-tracked` needs no such check: its running covariance averages many batches and has full rank
# whatever $B$ is, and each estimate $v_n^\top C_\text{batch} v_n$ stays unbiased; only its noise, falling as
# $1/\sqrt{B}$, is left to the user's choice of batch.

# %% [markdown]
# ## Summary
#
# - The paper's once-per-epoch basis goes stale within an epoch. At learning rate $10^{-3}$, by the last measurement
#   of an epoch the median error of its eigenvalue estimates over the penalized ranks is
#   {glue:text}`reg-median-rel-error-last-lr1em03:.2f` and its tail mass ratio
#   {glue:text}`reg-tail-mass-ratio-last-lr1em03:.2f`; the end-of-epoch error {glue:md}`reg-drift-trend` with the
#   learning rate ({glue:text}`reg-median-rel-error-last-lr1em04:.2f`,
#   {glue:text}`reg-median-rel-error-last-lr1em03:.2f` and {glue:text}`reg-median-rel-error-last-lr1em02:.2f` at
#   $10^{-4}$, $10^{-3}$ and $10^{-2}$). A stale basis never understates the tail, so the error is a bias towards a
#   steeper spectrum.
# - Refreshing the basis every {glue:text}`reg-refresh-every` steps {glue:md}`reg-refresh-verdict`: at $10^{-3}$
#   the exponent goes from {glue:text}`reg-refresh-alpha-epoch-lr1em03:.2f` to
#   {glue:text}`reg-refresh-alpha-steps-lr1em03:.2f`, at $10^{-2}$ from {glue:text}`reg-refresh-alpha-epoch-lr1em02:.2f`
#   to {glue:text}`reg-refresh-alpha-steps-lr1em02:.2f`.
# - Measured on held-out images after every step, the paper's basis has a median eigenvalue error of
#   {glue:text}`reg-basis-median-basis-lr1em03:.2f` at learning rate $10^{-3}$, and the trained exponent stays at
#   {glue:text}`reg-basis-alpha-basis-lr1em03:.2f` against a target of 1. A basis tracked from a running covariance
#   of the minibatch features cuts that error to {glue:text}`reg-basis-median-tracked-lr1em03:.2f` (floor
#   {glue:text}`reg-basis-floor-tracked-lr1em03:.2f`) and brings the exponent to
#   {glue:text}`reg-basis-alpha-tracked-lr1em03:.2f` in the same training; it {glue:md}`reg-basis-goal`. With an
#   eigendecomposition every {glue:text}`reg-track-sparse` steps, which keeps its cost within 1.5 times the paper's
#   step, the median error is {glue:text}`reg-basis-median-sparse-lr1em03:.2f`.
# - Searching $\beta$ and the learning rate with the tracked basis, {glue:md}`reg-search-verdict`; the closest is
#   {glue:md}`reg-search-closest` (α = {glue:text}`reg-search-closest-alpha:.2f`, clean accuracy
#   {glue:text}`reg-search-closest-clean:.1f`%).
# - Read directly, the eigenvalues of a batch from a perfect $1/n$ population would cost a penalty of
#   {glue:text}`reg-batch-pen-eig-small:.3f` at $B =$ {glue:text}`reg-batch-small`; read in the true basis,
#   {glue:text}`reg-batch-pen-fixed-small:.3f`. A batch narrower than the layer only makes the estimates noisier when
#   the basis is fixed, and the tracked basis serves such batches without an opt-in.
