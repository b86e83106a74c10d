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
# # Common corruptions
#
# The paper measures robustness against worst-case perturbations: FGSM and PGD inside a small $L_\infty$ ball.
# Reviewers asked whether what it finds extends to the corruptions images meet without an adversary: noise, blur,
# small changes of geometry, changes of contrast, occluding marks {cite}`hendrycks2019`. For MNIST these are collected
# in MNIST-C {cite}`mu2019`. This chapter scores every network of sections 4.1-4.3 on them and asks, corruption by
# corruption, whether a spectral regularizer helps or hurts against the Vanilla network of the same architecture.
#
# MNIST-C's files cannot be downloaded where this book is built, so its corruptions are computed on the MNIST test
# images by `onen.robustness.mnist_c`, written from MNIST-C's published definitions with torchvision, kornia and scipy. They
# follow those definitions closely but are not bit-identical to the published files (another random generator, and
# small departures each function's documentation lists); the numbers here are therefore comparable between the
# networks of this book, not digit for digit with published MNIST-C results.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = None
results_dir = None  # None: results/<profile>

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from myst_nb import glue

from onen.analysis import claims, corruption_frontier, profiles
from onen.analysis.control import fmt_interval
from onen.analysis.names import family_of, variant_of
from onen.robustness.mnist_c_eval import corruption_run, dataset_available, scored_images
from onen.robustness.mnist_c import CORRUPTIONS, FAMILIES, PARAMETERS, corrupt
from onen.analysis.plotting import PALETTE, use_style
from onen.analysis.stats import Term, paired_contrast
from onen.analysis.tables import Table

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seeds, device = setup.results_dir, setup.seeds, setup.device
networks = profiles.book_networks(profile)
setting = profiles.corruption_config(profile)
use_style()
glue("corr-images", setting.test_subset or 10000, display=False)
glue("corr-n", len(setting.corruptions), display=False)
glue("corr-networks", len(networks), display=False)
glue("corr-severities", ", ".join(str(s) for s in setting.severities), display=False)

# %% [markdown]
# ## Set-up
#
# Each network is scored on the same {glue:text}`corr-images` test images (the subset the attacks use) under each of
# {glue:text}`corr-n` corruptions, at severities {glue:text}`corr-severities` on a scale of 1 to 5 where 3 is
# MNIST-C's own setting. Every corruption draws its randomness from one fixed seed, so every network sees the same
# corrupted images, and every comparison between two networks is paired image by image. The
# {glue:text}`corr-networks` networks are those the previous chapters trained, loaded from their final weights.
# {numref}`fig-corr-examples` shows one test digit under each corruption.

# %% tags=["hide-input"]
test = scored_images(setting)
example = test.images[:1]
fig, axes = plt.subplots(2, (len(setting.corruptions) + 2) // 2, figsize=(13, 3.6))
panels = [("clean", example)] + [(name, corrupt(example, name, severity=3, seed=setting.seed))
                                 for name in setting.corruptions]
for ax, (name, image) in zip(axes.flat, panels):
    ax.imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(name.replace("_", " "), fontsize=8)
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout()
glue("corr-examples", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} corr-examples
# :name: "fig-corr-examples"
#
# One test digit, clean and under each corruption at severity 3 (MNIST-C's setting). Families: noise (Gaussian, shot,
# impulse), blur (glass, motion), geometry (shear, scale, rotate, translate) and others (brightness, stripe, fog,
# spatter, dotted line, zigzag, Canny edges).
# ```

# %%
results = {name: [corruption_run(dataclasses.replace(config, seed=seed), setting, results_dir,
                                 device, progress=False)
                  for seed in seeds] for name, config in networks.items()}
severity_index = (setting.severities.index(3) if 3 in setting.severities
                  else len(setting.severities) // 2)
glue("corr-severity", setting.severities[severity_index], display=False)


def accuracy_at(runs, severity=severity_index):
    """[seeds, corruptions] accuracy at one severity."""
    return np.stack([r.arrays["accuracy"][:, severity] for r in runs])


clean = {name: np.array([r.meta["clean_accuracy"] for r in runs]) for name, runs in results.items()}
mean_acc = {name: accuracy_at(runs).mean(axis=1)  # per seed: mean corruption acc.
            for name, runs in results.items()}
drop = {name: 1 - mean_acc[name] / clean[name] for name in results}

# %% [markdown]
# ## Accuracy under each corruption
#
# {numref}`fig-corr-heatmap` gives each network's accuracy under each corruption at severity
# {glue:text}`corr-severity`, averaged over seeds. The table after it summarises each network by its clean accuracy
# on the same images, its mean accuracy over the corruptions (mCA) and the relative drop
# $1 - \mathrm{mCA}/\mathrm{clean}$, which separates robustness to corruption from plain accuracy.

# %% tags=["hide-input"]
names = list(results)
grid = np.stack([accuracy_at(results[name]).mean(axis=0) for name in names])
fig, ax = plt.subplots(figsize=(11, 0.32 * len(names) + 1.6))
image = ax.imshow(100 * grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
ax.set_xticks(range(len(setting.corruptions)), [c.replace("_", " ") for c in setting.corruptions],
              rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(len(names)), names, fontsize=7.5)
for i in range(grid.shape[0]):
    for j in range(grid.shape[1]):
        ax.text(j, i, f"{100 * grid[i, j]:.0f}", ha="center", va="center", fontsize=6,
                color="white" if grid[i, j] < 0.6 else "black")
fig.colorbar(image, ax=ax, label="accuracy (%)", fraction=0.025)
fig.tight_layout()
glue("corr-heatmap", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} corr-heatmap
# :name: "fig-corr-heatmap"
#
# Accuracy (%) of every network (rows) under every corruption (columns) at severity {glue:text}`corr-severity`,
# mean over seeds, on the same corrupted test images.
# ```

# %% tags=["nbval-check-output"]
Table(["network", "clean (%)", "mCA (%)", "relative drop (%)", "worst corruption"],
      [[name, f"{100 * clean[name].mean():.1f}", f"{100 * mean_acc[name].mean():.1f}",
        f"{100 * drop[name].mean():.1f}",
        setting.corruptions[int(np.argmin(
            accuracy_at(results[name]).mean(axis=0)))].replace("_", " ")]
       for name in names],
      caption=f"Clean accuracy, mean corruption accuracy (mCA) and relative drop at severity "
              f"{setting.severities[severity_index]} ({profile} profile, mean over seeds)")

# %% [markdown]
# ## Does the spectral regularizer help against corruptions?
#
# **The rule, stated before the results.** For each regularized network and each corruption the effect is its
# accuracy minus the accuracy of the Vanilla network of the same architecture (Vanilla-BN for the BatchNorm pair,
# and the Vanilla trained at the same learning rate for the pair at the point closest to $1/n$), paired by seed. Its
# interval combines
# the spread between seeds (Student $t$, $n - 1$ degrees of freedom) with a paired bootstrap over the test images
# (the same resample for both networks and every seed), as in {doc}`reproduced`. The regularizer **helps** (or
# **hurts**) against a corruption when the 95% interval lies above (or below) zero; otherwise the difference is **not
# resolved**; with one seed the verdict is **not enough seeds** whatever the interval. The comparison says nothing
# about $1/n$ unless the regularized layers reached their target, which the chapters before report.

# %%
def effects(better, worse, column):
    ("Mean, interval and verdict of accuracy(better) - accuracy(worse) under corruption "
     "``column`` (severity 3).")
    def term(sign, name):
        runs = results[name]
        return Term(sign, [r.arrays["accuracy"][column, severity_index] for r in runs],
                    [r.arrays["correct"][column, severity_index] for r in runs], summary=np.mean)

    result = paired_contrast([term(+1, better), term(-1, worse)], n_boot=400, seed=0)
    return result.mean, result.low, result.high, corruption_frontier.effect_words(result.verdict(+1))


regularized = [name for name, config in networks.items()
               if config.regularizer == "spectral" or config.whiten_after is not None]
contrasts = {name: profiles.reference_network(name, profile) for name in regularized}
table = {name: [effects(name, base, j) for j in range(len(setting.corruptions))]
         for name, base in contrasts.items()}
counts = {name: {v: sum(e[3] == v for e in row) for v in ("helps", "hurts")}
          for name, row in table.items()}
spectral = [n for n in regularized if networks[n].regularizer == "spectral"]
glue("corr-help-total", sum(counts[n]["helps"] for n in spectral), display=False)
glue("corr-hurt-total", sum(counts[n]["hurts"] for n in spectral), display=False)
glue("corr-cells", len(spectral) * len(setting.corruptions), display=False)
glue("corr-seeds", len(seeds), display=False)
mean_effect = {n: float(np.mean([e[0] for e in table[n]])) for n in regularized}
glue("corr-mean-effect-range", Markdown(
    f"from {100 * min(mean_effect[n] for n in spectral):+.1f} "
    f"to {100 * max(mean_effect[n] for n in spectral):+.1f} points"), display=False)
glue("corr-verdict-words", Markdown(
    "With one seed every verdict is \"not enough seeds\": the intervals below say how precisely "
    "the images measure these particular networks, not whether a network trained again would "
    "agree." if len(seeds) < 2 else
    f"Of the {len(spectral) * len(setting.corruptions)} pairs of a spectrally regularized "
    f"network and a corruption, the regularizer helps in "
    f"{sum(counts[n]['helps'] for n in spectral)} and hurts in "
    f"{sum(counts[n]['hurts'] for n in spectral)}; the rest are not resolved."), display=False)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(11, 0.32 * len(regularized) + 1.6))
effect_grid = np.array([[e[0] for e in table[name]] for name in regularized])
limit = max(0.05, float(np.abs(effect_grid).max()))
image = ax.imshow(100 * effect_grid, cmap="RdBu", vmin=-100 * limit, vmax=100 * limit,
                  aspect="auto")
for i, name in enumerate(regularized):
    for j, (mean, low, high, words) in enumerate(table[name]):
        excludes = np.isfinite(low) and (low > 0 or high < 0)
        ax.text(j, i, f"{100 * mean:+.0f}" + ("*" if excludes else ""), ha="center", va="center",
                fontsize=6)
ax.set_xticks(range(len(setting.corruptions)), [c.replace("_", " ") for c in setting.corruptions],
              rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(len(regularized)),
              [f"{n}  − {variant_of(contrasts[n])}" for n in regularized], fontsize=7.5)
fig.colorbar(image, ax=ax, label="accuracy difference (points)", fraction=0.025)
fig.tight_layout()
glue("corr-effects", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} corr-effects
# :name: "fig-corr-effects"
#
# Accuracy of each regularized or whitened network minus that of its architecture's Vanilla network (Vanilla-BN for
# the BatchNorm pair, Vanilla at learning rate $10^{-2}$ for the pair closest to $1/n$), per corruption at severity {glue:text}`corr-severity`, in percentage points, mean over seeds.
# Blue: better than Vanilla. An asterisk marks a 95% interval (seeds and test images) that excludes zero.
# ```
#
# Averaged over the corruptions, the spectrally regularized networks differ from their Vanilla networks by
# {glue:md}`corr-mean-effect-range`. {glue:md}`corr-verdict-words`

# %% tags=["nbval-check-output"]
Table(["network", "against", "mean effect (points)", "helps", "hurts", "clean difference (points)"],
      [[name, variant_of(contrasts[name]), f"{100 * mean_effect[name]:+.1f}",
        str(counts[name]["helps"]), str(counts[name]["hurts"]),
        f"{100 * (clean[name].mean() - clean[contrasts[name]].mean()):+.1f}"]
       for name in regularized],
      caption="Per network: the mean over corruptions of the accuracy difference to Vanilla, and "
              "in how many corruptions the 95% interval lies above (helps) or below (hurts) zero. "
              "The clean difference shows how much of it is plain accuracy.")

# %% [markdown]
# ## Above Vanilla's frontier
#
# Robustness moves with clean accuracy {cite}`tsipras2019`: a network that is less accurate can look more robust for
# free. Vanilla stopped early traces what each clean accuracy buys without a regularizer: per architecture, its
# *frontier* of mCA against clean accuracy on the same images, from Vanilla stopped after
# {glue:text}`corr-frontier-epochs` epochs and trained to the end, linear in clean accuracy between those points
# (`onen.analysis.corruption_frontier`; the same construction as the PGD frontier of {doc}`control`).
#
# **The rule, stated before the results.** A network's mCA *above the frontier* is its mCA minus the frontier's mCA
# at its own clean accuracy, each seed against the frontier of the same seed. The effect of a regularized network is
# the difference between its value and that of its Vanilla network (the same pairs as above, the reference placed
# against the same frontier, on which only the full-length Vanilla lies by construction), paired by seed; the raw
# effect is the plain difference of mCA. Both intervals combine the spread between seeds (Student $t$) with a
# paired bootstrap over the test images (every network and every point of the frontier resampled alike). An effect
# **helps** (or **hurts**) when its 95% interval lies above (or below) zero, is **not resolved** otherwise, and reads
# **not enough seeds** with one seed; above the frontier it reads **outside the frontier** where a network is more
# accurate than every Vanilla point, or less accurate than the earliest, so that no point of the frontier matches it.
# An effect *survives* the comparison when both verdicts are the same "helps" or "hurts".

# %%
severity = setting.severities[severity_index]
early = {prefix: profiles.frontier_variants(arch, profile) for arch, prefix in claims.PREFIXES.items()}
frontiers = {prefix: corruption_frontier.frontier(
    [[corruption_run(dataclasses.replace(config, seed=seed), setting, results_dir, device, progress=False)
      for seed in seeds] for config in configs.values()] + [results[f"{prefix} Vanilla"]], severity)
    for prefix, configs in early.items()}
scored = {name: corruption_frontier.scored(runs, severity) for name, runs in results.items()}
mca_effects = {}
for name, base in contrasts.items():
    front = frontiers[family_of(name)]
    mca_effects[name] = (
        corruption_frontier.raw_effect([(+1.0, scored[name]), (-1.0, scored[base])]),
        corruption_frontier.above_frontier([(+1.0, scored[name], front), (-1.0, scored[base], front)]))
frontier_verdicts = {name: tuple(corruption_frontier.effect_words(e.verdict(+1)) for e in pair)
                     for name, pair in mca_effects.items()}
glue("corr-frontier-epochs", "; ".join(f"{prefix}: {', '.join(str(c.epochs) for c in configs.values())}"
                                       for prefix, configs in early.items()), display=False)
glue("corr-frontier-finding", Markdown(corruption_frontier.survival_sentence(frontier_verdicts)),
     display=False)

# %% tags=["hide-input"]
def marker(name):
    """Marker, colour and legend label of a book network's kind."""
    config = networks[name]
    if config.regularizer == "spectral":
        return "o", PALETTE[0], "spectral penalty"
    if config.regularizer == "jacobian":
        return "D", PALETTE[2], "Jacobian"
    if config.whiten_after is not None:
        return "^", PALETTE[1], "whitened"
    return "s", "0.35", "no regularizer"


fig, axes = plt.subplots(1, len(frontiers), figsize=(13, 4.8))
for ax, (prefix, front) in zip(axes, frontiers.items()):
    acc, mca = front.mean_curve()
    ax.plot(100 * acc, 100 * mca, "--.", color="black", lw=1.2, label="Vanilla's frontier")
    for name in [n for n in names if family_of(n) == prefix]:
        shape, colour, label = marker(name)
        x, y = 100 * scored[name].clean_accuracy.mean(), 100 * scored[name].mca.mean()
        ax.scatter([x], [y], marker=shape, color=colour, s=30, zorder=3, label=label)
        ax.annotate(variant_of(name), (x, y), fontsize=5.5, xytext=(3, 2), textcoords="offset points")
    ax.set(title=prefix, xlabel="clean accuracy (%)", ylabel="mCA (%)")
handles = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles))
fig.tight_layout(rect=(0, 0.07, 1, 1))
glue("corr-frontier", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} corr-frontier
# :name: "fig-corr-frontier"
#
# Mean corruption accuracy (mCA, severity {glue:text}`corr-severity`) against clean accuracy on the same test images,
# mean over seeds, per architecture. Dashed: Vanilla's frontier (Vanilla stopped after
# {glue:text}`corr-frontier-epochs` epochs and trained to the end). A network above the line is more robust to the
# corruptions than Vanilla at the same clean accuracy; one beyond either end of the line is outside the frontier.
# ```
#
# {numref}`fig-corr-frontier` places every network against its architecture's frontier, and the table after it gives
# each effect raw and above the frontier. {glue:md}`corr-frontier-finding`

# %% tags=["nbval-check-output"]
def points(e):
    """An effect and its interval in percentage points ("n/a" outside the frontier)."""
    return fmt_interval(100 * e.mean, 100 * e.low, 100 * e.high, 1)


Table(["network", "against", "seeds", "Δ mCA [95%]", "verdict", "Δ above frontier [95%]", "verdict above frontier"],
      [[name, variant_of(contrasts[name]), str(raw.n_seeds), points(raw), frontier_verdicts[name][0],
        points(above), frontier_verdicts[name][1]] for name, (raw, above) in mca_effects.items()],
      caption=f"Mean corruption accuracy (severity {severity}) of each regularized or whitened network minus its "
              f"Vanilla network's, raw and above Vanilla's frontier ({profile} profile)",
      notes=["Δ: in percentage points, paired by seed; intervals over seeds (t) and the test images (paired "
             "bootstrap).", "above frontier: each network's mCA minus that of its architecture's Vanilla "
             "frontier at its clean accuracy; n/a where a network lies outside the frontier's range."])

# %% [markdown]
# ## Fashion-MNIST
#
# Whether these effects are particular to MNIST can be asked of Fashion-MNIST {cite}`xiao2017`, where
# it is installed (Debian's package `dataset-fashion-mnist`). {glue:md}`corr-fashion`

# %%
fashion = dataset_available("fashion_mnist")
if fashion:
    fashion_variants = {name: dataclasses.replace(config, dataset="fashion_mnist")
                        for name, config in profiles.shallow_variants(profile).items()
                        if name in ("Vanilla", "Whitened")
                        or (config.regularizer == "spectral" and config.basis == "epoch"
                            and not config.batchnorm)}
    from onen.runs.experiments import run_seeds

    fashion_results = {name: run_seeds(config, setup.evaluation, seeds, results_dir, device, False)
                       for name, config in fashion_variants.items()}
    glue("corr-fashion", Markdown(
        "It is installed on the machine that built this page: the figure below repeats section "
        "4.1's comparison on it, for the variants without BatchNorm and with the paper's "
        "eigenbasis."), display=False)
else:
    glue("corr-fashion", Markdown(
        "It is **not installed** on the machine that built this page, so this section shows no "
        "results; `apt install dataset-fashion-mnist` and a rebuild add them."), display=False)

# %% tags=["hide-input"]
if fashion:
    from onen.analysis import report

    fig = report.robustness_figure(fashion_results, attacks=("fgsm", "pgd"),
                                   title="Fashion-MNIST, shallow net: FGSM (dashed) and PGD "
                                         "(solid)")
    display(fig)
    plt.close(fig)

# %% [markdown]
# ## Summary
#
# - {glue:text}`corr-networks` networks were scored on {glue:text}`corr-n` corruptions of the MNIST family at
#   severity {glue:text}`corr-severity` ({glue:text}`corr-images` test images each,
#   {glue:text}`corr-seeds` seed(s)); the heat map and table give each network's accuracy, mean corruption accuracy
#   and relative drop.
# - Against the Vanilla network of the same architecture, the spectrally regularized networks differ by
#   {glue:md}`corr-mean-effect-range` on average over the corruptions. {glue:md}`corr-verdict-words`
# - Above Vanilla's frontier of mCA against clean accuracy ({numref}`fig-corr-frontier`):
#   {glue:md}`corr-frontier-finding`
# - These corruptions are recomputed from MNIST-C's definitions, not its published files; the comparison between the
#   book's networks is paired and exact, a comparison with published MNIST-C numbers is approximate.
