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
# # Background: why $1/n$
#
# {cite:t}`stringer2019` recorded about ten thousand neurons of mouse V1 responding to natural images and found
# that the eigenvalues of the population covariance decay as a power law, $\lambda_n \propto n^{-\alpha}$ with
# $\alpha \approx 1$. They proved that a code for inputs on a $d$-dimensional manifold can be smooth (differentiable)
# only if $\alpha > 1 + 2/d$; natural images have large $d$, so the bound approaches 1, and a $1/n$ spectrum is the
# most expressive (highest-dimensional) code that is still smooth. {cite:t}`nassar2020` carry this idea to artificial
# networks. This chapter makes the argument concrete, with every number computed:
#
# 1. a circle ($d = 1$, bound $\alpha > 3$) embedded with a designed power-law spectrum: its spectrum, what it looks
#    like, and whether its local stretch stays finite as the step shrinks;
# 2. the same circle pushed through deep random tanh networks on either side of the order-to-chaos transition
#    {cite}`poole2016,schoenholz2017`: how depth reshapes the spectrum;
# 3. the spectra of the raw pixels of MNIST {cite}`lecun1998`, Fashion-MNIST {cite}`xiao2017` and CIFAR-10
#    {cite}`krizhevsky2009`, against the $1/n$ line.

# %% tags=["parameters"]
profile = "quick"
device = "auto"
seeds = [0]
results_dir = None  # None: results/<profile>

# %%

import matplotlib.pyplot as plt
from IPython.display import Markdown
import numpy as np
import torch
from myst_nb import glue

from onen import data
from onen import manifolds
from onen.analysis import profiles
from onen.cache import cached
from onen.cifar import load_cifar10_jpeg
from onen.analysis.plotting import PALETTE, use_style
from onen.spectrum import covariance, eigenvalues_descending, fit_power_law
from onen.analysis.tables import Table

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seed = setup.results_dir, setup.seeds[0]
# circle: points, frequencies K (2K dimensions), exponents; stretch: frequencies of the analytic sum
# networks: depth, width, points on the circle, weight variances, bias variance; pixels: images per dataset
settings = dict(profiles.background_settings(profile), n_freq=500, alphas=[1.0, 2.0, 3.0, 4.0, 5.0],
                stretch_freq=100_000, depth=10, width=1000, sigma_w2=[0.5, 1.5, 4.0, 16.0], sigma_b2=0.05,
                fit_ranks=(11, 500))
ranks = settings["fit_ranks"]
# everything here runs on the CPU whatever `device` says (the largest products are 3072 x 3072); the linear algebra
# goes through torch alone, so that numpy's and torch's thread pools never wait for each other
use_style()

# %% [markdown]
# ## A circle with a designed spectrum
#
# The input manifold is a circle, $\theta \in [0, 2\pi)$, so $d = 1$. It is embedded in $\mathbb{R}^{2K}$ with
# Fourier features whose variances decay as a power law,
#
# $$f(\theta) = \sum_{k=1}^{K} \sqrt{\lambda_k}\,\big[\cos(k\theta)\,e_{2k-1} + \sin(k\theta)\,e_{2k}\big],
# \qquad \lambda_k = k^{-\alpha},$$
#
# then rotated by a fixed random orthogonal matrix, so that no coordinate axis is special. For uniformly spaced
# angles each feature $\cos(k\theta)$, $\sin(k\theta)$ has variance exactly $1/2$, so the covariance eigenvalues are
# $\lambda_k/2$, each twice: the $n$-th largest is $\lambda_{\lceil n/2 \rceil}/2 \propto n^{-\alpha}$. The spectrum is
# estimated from the sampled points (not from the design), and its exponent fitted by least squares in log-log
# coordinates over ranks 11 to 500 with weights $1/n$, as {cite:t}`stringer2019` do.

# %%
def circle_result():
    spectra, projections = [], []
    directions = torch.from_numpy(manifolds.random_rotation(2 * settings["n_freq"], seed + 1)[:, :2].copy())
    for alpha in settings["alphas"]:
        points = torch.from_numpy(manifolds.circle_embedding(settings["circle_points"], alpha, settings["n_freq"],
                                                             seed=seed))
        spectra.append(eigenvalues_descending(covariance(points)))
        projected = ((points - points.mean(0)) @ directions).numpy()
        projections.append(projected / projected.std())
    return {"spectra": np.stack(spectra), "projections": np.stack(projections)}, {}


circle_config = {key: settings[key] for key in ("circle_points", "n_freq", "alphas")} | {"seed": seed}
circle = cached("background_circle", circle_config, circle_result, results_dir, seed=seed).arrays
circle_alphas = [fit_power_law(s, ranks) for s in circle["spectra"]]

# %% tags=["nbval-check-output"]
Table(["designed α", "fitted α"], [[f"{d:.2f}", f"{f:.2f}"] for d, f in zip(settings["alphas"], circle_alphas)],
      caption=f"The circle code: {settings['circle_points']} points, K = {settings['n_freq']} frequencies, "
              f"seed {seed}; α fitted over ranks {ranks[0]}-{ranks[1]}")

# %% tags=["hide-input"]
colour = dict(zip(settings["alphas"], PALETTE))
d_grid = np.arange(1, 31)
fig, (ax, ax_bound) = plt.subplots(1, 2, figsize=(9, 3.6))
rank = np.arange(1, 2 * settings["n_freq"] + 1)
for alpha, spectrum, fitted in zip(settings["alphas"], circle["spectra"], circle_alphas):
    keep = spectrum > 0
    ax.loglog(rank[keep], spectrum[keep], color=colour[alpha], label=fr"$\alpha={alpha:g}$: fit {fitted:.2f}")
    designed = manifolds.fourier_variances(settings["n_freq"], alpha).repeat(2) / 2
    ax.loglog(rank, designed, ":", color="k", lw=0.8)
ax.axvspan(*ranks, color="0.9", zorder=0, label="fit window")
ax.set_xlabel("rank $n$")
ax.set_ylabel(r"eigenvalue $\lambda_n$")
ax.set_title("(a) spectra of the embedded circle")
ax.legend(loc="lower left")
ax_bound.plot(d_grid, manifolds.smoothness_bound(d_grid), "o-", ms=3, color=PALETTE[0], label=r"$1 + 2/d$")
ax_bound.axhline(1, color="k", ls="--", lw=1, label=r"$\alpha = 1$")
ax_bound.set_xlabel("manifold dimension $d$")
ax_bound.set_ylabel(r"smallest smooth exponent $\alpha$")
ax_bound.set_title("(b) the smoothness bound")
ax_bound.legend()
fig.tight_layout()
glue("background-circle-spectra", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} background-circle-spectra
# :name: "fig-background-circle-spectra"
#
# (a) Covariance eigenspectra of the circle embedded with $\lambda_k = k^{-\alpha}$, estimated from the sampled
# points (solid) against the design $\lambda_{\lceil n/2 \rceil}/2$ (dotted); the legend gives the exponent fitted
# over ranks 11-500 (shaded). (b) Stringer et al.'s bound $\alpha > 1 + 2/d$ for a $d$-dimensional manifold: 3 for a
# curve, 2 for a surface, and towards 1 as $d$ grows.
# ```
#
# The fitted exponents recover the designed ones to within the staircase of the paired eigenvalues (the fit reads a
# line through steps of two). Where the bound comes from: on a $d$-dimensional manifold the number of eigenfunctions
# of frequency below $m$ grows as $m^d$, so the $n$-th has frequency $|k| \sim n^{1/d}$, and a differentiable code
# needs $\sum_n \lambda_n |k_n|^2 \sim \sum_n n^{-\alpha + 2/d} < \infty$, that is $\alpha > 1 + 2/d$. For $d = 1$
# this is $\alpha > 3$, the threshold the circle should show.
#
# ## What the embeddings look like
#
# A random 2-D projection of each embedding ({numref}`fig-background-circle-projections`) shows the difference at
# once: with $\alpha = 1$ the high frequencies carry so much variance that the curve is a scribble; with $\alpha = 5$
# it is a smooth loop.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(settings["alphas"]), figsize=(2.1 * len(settings["alphas"]), 2.3))
for ax, alpha, projected in zip(axes, settings["alphas"], circle["projections"]):
    closed = np.vstack([projected, projected[:1]])
    ax.plot(closed[:, 0], closed[:, 1], lw=0.5, color=colour[alpha])
    ax.set_title(fr"$\alpha = {alpha:g}$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
axes[0].set_ylabel("random projection 2")
axes[len(axes) // 2].set_xlabel("random projection 1 (unit variance)")
fig.tight_layout()
glue("background-circle-projections", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} background-circle-projections
# :name: "fig-background-circle-projections"
#
# The embedded circle projected onto two random orthonormal directions of $\mathbb{R}^{2K}$ (scaled so that its
# coordinates have unit standard deviation; consecutive angles joined). Small exponents give a rough curve, large exponents a smooth one.
# ```
#
# ## The local stretch
#
# Smoothness is a statement about small steps: $f$ is differentiable if $\|f(\theta + \delta) - f(\theta)\|/\delta$
# has a finite limit as $\delta \to 0$. For the Fourier embedding the stretch is the same at every $\theta$ and has a
# closed form,
#
# $$\frac{\|f(\theta+\delta) - f(\theta)\|^2}{\delta^2} = \frac{1}{\delta^2}\sum_k \lambda_k\, 4\sin^2\!\frac{k\delta}{2}
# \;\approx\; \sum_{k \lesssim 1/\delta} \lambda_k k^2 \;+\; \frac{2}{\delta^2}\sum_{k \gtrsim 1/\delta}\lambda_k ,$$
#
# so the squared stretch sums $\lambda_k k^2 = k^{2-\alpha}$ over the frequencies up to about $1/\delta$. For
# $1 < \alpha < 3$ that sum grows as $\delta^{\alpha - 3}$, so the stretch grows with slope $(\alpha - 3)/2$ on a
# log-log plot; for $\alpha \le 1$ the second term (the variance above $1/\delta$) alone makes it grow as
# $1/\delta$ (slope $-1$; at $\alpha = 1$ times $\sqrt{2\ln(K\delta)}$, which makes the fitted slope a little
# shallower); at $\alpha = 3$ it grows like $\sqrt{\ln(1/\delta)}$; for $\alpha > 3$ it converges to
# $\sqrt{\sum_k k^{2-\alpha}} = \sqrt{\zeta(\alpha - 2)}$. With a finite number of frequencies $K$ every curve
# flattens once $\delta < 1/K$, so the stretch is computed with $K = 10^5$ frequencies, where the divergence spans
# several decades.

# %%
deltas = np.logspace(0, -5, 51)
stretch = {alpha: manifolds.local_stretch(alpha, deltas, settings["stretch_freq"]) for alpha in settings["alphas"]}
window = (deltas <= 10**-1.5) & (deltas >= 10**-3.5)  # away from delta ~ 1 and from the cutoff 1/K
slopes = {alpha: np.polyfit(np.log(deltas[window]), np.log(s[window]), 1)[0] for alpha, s in stretch.items()}


def expected_slope(alpha: float) -> float:
    return -1.0 if alpha <= 1 else min(0.0, (alpha - 3) / 2)


k = np.arange(1, 10**6 + 1, dtype=np.float64)
limits = {alpha: float(np.sqrt(np.sum(k ** (2 - alpha)))) for alpha in settings["alphas"] if alpha > 3}
decade = np.argmin(np.abs(deltas - 1e-3)), np.argmin(np.abs(deltas - 1e-4))
log_growth = stretch[3.0][decade[1]] ** 2 - stretch[3.0][decade[0]] ** 2

# %% tags=["nbval-check-output"]
glue("stretch-log-growth", float(log_growth), display=False)
Table(["α", *(f"stretch at δ = {d:g}" for d in (1e-1, 1e-3, 1e-5)), "slope", "expected slope", "limit √ζ(α − 2)"],
      [[f"{alpha:.0f}", *(f"{stretch[alpha][np.argmin(np.abs(deltas - d))]:.3g}" for d in (1e-1, 1e-3, 1e-5)),
        f"{slopes[alpha]:.2f}", f"{expected_slope(alpha):.2f}",
        f"{limits[alpha]:.4f}" if alpha in limits else "—"] for alpha in settings["alphas"]],
      caption="Stretch of the code under a small input change δ",
      notes=[f"At α = 3 the squared stretch grows by {log_growth:.3f} from δ = 1e-3 to 1e-4 "
             f"(ln 10 = {np.log(10):.3f}). —: no finite limit."])

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5.6, 3.8))
for alpha, values in stretch.items():
    ax.loglog(deltas, values, color=colour[alpha],
              label=fr"$\alpha={alpha:g}$: slope {slopes[alpha]:.2f} (theory {expected_slope(alpha):.2f})")
ax.axvspan(deltas[window].min(), deltas[window].max(), color="0.92", zorder=0, label="slope window")
ax.axvline(1 / settings["stretch_freq"], color="k", ls=":", lw=1, label="$1/K$")
ax.invert_xaxis()
ax.set_xlabel(r"step $\delta$ (radians)")
ax.set_ylabel(r"$\|f(\theta+\delta) - f(\theta)\| / \delta$")
ax.legend(loc="upper left")
fig.tight_layout()
glue("background-circle-stretch", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} background-circle-stretch
# :name: "fig-background-circle-stretch"
#
# Local stretch of the embedded circle as the step $\delta$ shrinks (right), $K = 10^5$ frequencies. Slopes are
# fitted over the shaded window and compared with the theory: $-1$ for $\alpha \le 1$, $(\alpha-3)/2$ for
# $1 < \alpha < 3$, logarithmic growth at $\alpha = 3$, and a finite limit for $\alpha > 3$. Every curve flattens
# below $\delta = 1/K$, where the finite embedding runs out of frequencies.
# ```
#
# The printed table above gives the numbers: for $\alpha = 1, 2$ the stretch grows without bound as $\delta \to 0$
# (until the cutoff $1/K$), at $\alpha = 3$ its square grows by {glue:text}`stretch-log-growth:.3f` per decade of
# $\delta$, close to $\ln 10$, and for $\alpha = 4, 5$ it settles at $\sqrt{\zeta(\alpha - 2)}$. The embedding is
# differentiable exactly when $\alpha > 3 = 1 + 2/d$.
#
# ## Deep random tanh networks: order and chaos
#
# A network with random weights $W^l_{ij} \sim \mathcal{N}(0, \sigma_w^2/N)$ and biases
# $b^l_i \sim \mathcal{N}(0, \sigma_b^2)$ maps nearby inputs either closer together (the *ordered* regime) or further
# apart (the *chaotic* regime). Mean-field theory {cite}`poole2016,schoenholz2017` locates the transition: the
# pre-activation variance converges to a fixed point
# $q^* = \sigma_w^2\,\mathbb{E}_z[\tanh(\sqrt{q^*}z)^2] + \sigma_b^2$, and the slope
# $\chi_1 = \sigma_w^2\,\mathbb{E}_z[\tanh'(\sqrt{q^*}z)^2]$ says whether small perturbations shrink ($\chi_1 < 1$)
# or grow ($\chi_1 > 1$) from layer to layer. The circle
# $x^0(\theta) = \sqrt{N}\,(u\cos\theta + v\sin\theta)$ ($u, v$ random orthonormal, $N$ the width) is fed to
# networks of 10 tanh layers of width 1000, at several $\sigma_w^2$ with $\sigma_b^2 = 0.05$, and the spectrum of
# each layer's activations over the points of the circle is measured. All weights come from one seeded generator.

# %%
critical = manifolds.critical_sigma_w2(settings["sigma_b2"])
mean_field = {s: manifolds.tanh_mean_field(s, settings["sigma_b2"]) for s in settings["sigma_w2"]}
networks = {}
for sigma_w2 in settings["sigma_w2"]:
    config = {"sigma_w2": sigma_w2, "sigma_b2": settings["sigma_b2"], "depth": settings["depth"],
              "width": settings["width"], "n_points": settings["network_points"], "seed": seed}
    networks[sigma_w2] = cached("background_network", config,
                                lambda config=config: (manifolds.random_tanh_network_spectra(**config), {}),
                                results_dir, seed=seed).arrays

# eigenvalues below 1e-12 of the largest are float64 rounding of the covariance, not signal: left out of the fits
FLOOR = 1e-12


def fit_above_floor(spectrum: np.ndarray) -> float:
    kept = spectrum[spectrum > FLOOR * spectrum[0]]
    return fit_power_law(kept, ranks) if kept.size > ranks[0] else float("nan")


layer_alphas = {s: [fit_above_floor(x) for x in r["spectra"]] for s, r in networks.items()}
ordered_w2, chaotic_w2 = min(settings["sigma_w2"]), max(settings["sigma_w2"])
glue("net-critical", critical, display=False)
glue("net-alpha-ordered", layer_alphas[ordered_w2][-1], display=False)
glue("net-alpha-chaotic-first", layer_alphas[chaotic_w2][0], display=False)
glue("net-alpha-chaotic", layer_alphas[chaotic_w2][-1], display=False)
glue("net-sigma-ordered", ordered_w2, display=False)
glue("net-sigma-chaotic", chaotic_w2, display=False)

# %% tags=["nbval-check-output"]
Table(["σ_w²", "q*", "χ₁", "regime", "curve length, input → last layer", "α by layer"],
      [[f"{sigma_w2:.1f}", f"{q_star:.3f}", f"{chi:.3f}", "ordered" if chi < 1 else "chaotic",
        f"{networks[sigma_w2]['lengths'][0]:.2f} → {networks[sigma_w2]['lengths'][-1]:.2f}",
        " ".join(f"{a:.2f}" for a in layer_alphas[sigma_w2])] for sigma_w2, (q_star, chi) in mean_field.items()],
      caption=f"Random tanh networks: the order-to-chaos transition at σ_b² = {settings['sigma_b2']} is at "
              f"σ_w² = {critical:.3f}")

# %% tags=["hide-input"]
regime_colour = dict(zip(settings["sigma_w2"], PALETTE))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
ax = axes[0]
for sigma_w2, r in networks.items():
    last = r["spectra"][-1]
    last = last[last > FLOOR * last[0]]
    ax.loglog(np.arange(1, last.size + 1), last / last[0], color=regime_colour[sigma_w2],
              label=fr"$\sigma_w^2={sigma_w2:g}$ ($\chi_1={mean_field[sigma_w2][1]:.2f}$)")
n = np.arange(1, settings["width"] + 1)
ax.loglog(n, 1 / n, "k--", lw=1, label="$1/n$")
ax.set_ylim(1e-12, 2)
ax.set_xlabel("rank $n$")
ax.set_ylabel(r"$\lambda_n / \lambda_1$ (layer 10)")
ax.set_title("(a) last layer's spectrum")
ax.legend(loc="lower left")
layers = np.arange(1, settings["depth"] + 1)
for sigma_w2 in settings["sigma_w2"]:
    axes[1].plot(layers, layer_alphas[sigma_w2], "o-", ms=3, color=regime_colour[sigma_w2])
    axes[2].semilogy(np.arange(settings["depth"] + 1), networks[sigma_w2]["lengths"], "o-", ms=3,
                     color=regime_colour[sigma_w2], label=fr"$\sigma_w^2={sigma_w2:g}$")
axes[1].axhline(1, color="k", ls="--", lw=1)
axes[1].set_xlabel("layer")
axes[1].set_ylabel(r"fitted exponent $\alpha$ (ranks 11-500)")
axes[1].set_title("(b) exponent by depth")
axes[2].set_xlabel("layer (0 = input circle)")
axes[2].set_ylabel(r"curve length / $\sqrt{N}$")
axes[2].set_title("(c) length of the circle's image")
axes[2].legend()
fig.tight_layout()
glue("background-networks", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} background-networks
# :name: "fig-background-networks"
#
# A circle through 10 random tanh layers of width 1000 ($\sigma_b^2 = 0.05$). (a) Covariance spectrum of the last
# layer over the circle's points, normalised by its largest eigenvalue (eigenvalues below $10^{-12}\lambda_1$, float64
# rounding, are not drawn), with $1/n$ for reference. (b) Fitted exponent at each layer. (c) Length of the curve
# traced by each layer's representation, per $\sqrt{N}$.
# ```
#
# The transition lies at $\sigma_w^2 =$ {glue:text}`net-critical:.2f` for $\sigma_b^2 = 0.05$. In the ordered regime
# ($\chi_1 < 1$) each layer is close to linear on the shrinking circle: the spectrum keeps two dominant eigenvalues
# for the two directions of the circle and falls off exponentially after them, far faster than any power law (the
# fitted exponent, {glue:text}`net-alpha-ordered:.1f` at layer 10 for $\sigma_w^2 =$
# {glue:text}`net-sigma-ordered:g`, mostly measures that cliff), and the curve contracts layer after layer. In the
# chaotic regime ($\chi_1 > 1$) each layer stretches the curve and folds it into new directions: its length grows
# exponentially with depth and the spectrum flattens layer by layer; for $\sigma_w^2 =$
# {glue:text}`net-sigma-chaotic:g` the exponent falls from {glue:text}`net-alpha-chaotic-first:.2f` after the first
# layer to {glue:text}`net-alpha-chaotic:.2f` after the tenth, towards the high-dimensional end where, by the argument
# above, a code of a curve is no longer smooth (below 3).
# {numref}`fig-background-network-circles` shows the same thing in two random directions.

# %% tags=["hide-input"]
shown_layers = [0, 2, 5, settings["depth"]]
fig, axes = plt.subplots(len(settings["sigma_w2"]), len(shown_layers),
                         figsize=(1.9 * len(shown_layers), 1.9 * len(settings["sigma_w2"])), squeeze=False)
for row, sigma_w2 in enumerate(settings["sigma_w2"]):
    for col, layer in enumerate(shown_layers):
        ax = axes[row, col]
        points = networks[sigma_w2]["projections"][layer]
        closed = np.vstack([points, points[:1]])
        ax.plot(closed[:, 0], closed[:, 1], lw=0.5, color=regime_colour[sigma_w2])
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        if row == 0:
            ax.set_title(f"layer {layer}")
    axes[row, 0].set_ylabel(fr"$\sigma_w^2 = {sigma_w2:g}$")
fig.tight_layout()
glue("background-network-circles", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} background-network-circles
# :name: "fig-background-network-circles"
#
# The circle's image at the input and after layers 2, 5 and 10, projected onto two fixed random directions
# (coordinates per $\sqrt{N}$, each panel on its own scale). Rows: weight variance, ordered at the top, chaotic at the
# bottom.
# ```
#
# ## The spectrum of raw pixels
#
# The spectra above belong to representations. For comparison, here are the covariance spectra of the inputs
# themselves, the raw pixels in $[0, 1]$: MNIST's 784 pixels, Fashion-MNIST's 784 if its files are present, and
# CIFAR-10's $32 \times 32 \times 3 = 3072$ RGB values per image. The CIFAR-10 used here is a third party's
# re-encoding of every image as JPEG at quality 75, loaded from `$ONEN_DATA/cifar10-jpeg`; it is not the lossless
# original, whose pixel values differ slightly (the lossless original comes from torchvision's `CIFAR10` download on
# a machine with a network connection). The covariance products of the 3072-dimensional CIFAR-10 pixels are taken in
# float32 (their rounding is about $10^{-6}$ of the eigenvalues fitted here) and the eigenvalues in float64.

# %%
def pixel_spectrum(images: torch.Tensor) -> np.ndarray:
    """Descending covariance eigenvalues of flattened images [N, ...] -> [D] float64."""
    x = images.reshape(images.shape[0], -1)
    centred = (x.double() - x.double().mean(0)).float()
    cov = (centred.T @ centred).double() / (x.shape[0] - 1)
    return eigenvalues_descending(cov)


def load_pixels(name: str, n_images: int | None) -> torch.Tensor:
    if name == "cifar10":
        return load_cifar10_jpeg("train", limit=n_images, seed=seed).images
    return data.load(name, "train").subset(n_images, seed=seed).images


pixel_spectra, missing = {}, []
for name, n_images in settings["pixel_images"].items():
    config = {"dataset": name, "split": "train", "n_images": n_images, "seed": seed,
              "source": "cifar10-jpeg q75" if name == "cifar10" else "idx"}
    try:
        result = cached("background_pixels", config,
                        lambda name=name, n_images=n_images: ({"spectrum": pixel_spectrum(load_pixels(name, n_images))},
                                                              {}), results_dir, seed=seed)
    except FileNotFoundError:  # reported below, without this machine's paths
        missing.append(name)
        continue
    pixel_spectra[name] = result.arrays["spectrum"]
pixel_alphas = {name: fit_power_law(s, ranks) for name, s in pixel_spectra.items()}
labels = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (JPEG q75)"}
glue("pixel-alphas", Markdown(", ".join(f"{labels[name]} {alpha:.2f}" for name, alpha in pixel_alphas.items())),
     display=False)

# %% tags=["nbval-check-output"]
Table(["dataset", "pixels", "training images", "fitted α"],
      [[labels[name], f"{pixel_spectra[name].size}", f"{settings['pixel_images'][name] or 'all'}", f"{alpha:.2f}"]
       for name, alpha in pixel_alphas.items()]
      + [[labels[name], "—", "not available", "—"] for name in missing],
      caption=f"Spectra of the raw pixels, α fitted over ranks {ranks[0]}-{ranks[1]}",
      notes=["Not available: no files under $ONEN_DATA or the system data folder, and no download."] if missing
      else ())

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5.6, 3.8))
anchor = ranks[0]
for (name, spectrum), line_colour in zip(pixel_spectra.items(), PALETTE):
    kept = spectrum[spectrum > FLOOR * spectrum[0]]
    ax.loglog(np.arange(1, kept.size + 1), kept / kept[anchor - 1], color=line_colour,
              label=fr"{labels[name]}: $\alpha$ = {pixel_alphas[name]:.2f}")
n = np.arange(1, max(s.size for s in pixel_spectra.values()) + 1)
ax.loglog(n, anchor / n, "k--", lw=1, label="$1/n$")
ax.axvspan(*ranks, color="0.92", zorder=0, label="fit window")
ax.set_ylim(1e-6, None)
ax.set_xlabel("rank $n$")
ax.set_ylabel(r"eigenvalue $\lambda_n / \lambda_{%d}$" % anchor)
ax.legend(loc="lower left")
fig.tight_layout()
glue("background-pixels", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} background-pixels
# :name: "fig-background-pixels"
#
# Covariance eigenspectra of raw training-set pixels in $[0, 1]$, each divided by its 11th eigenvalue, against
# $1/n$ through the same anchor; the legend gives the exponent fitted over ranks 11-500 (shaded). Eigenvalues below
# $10^{-12}$ of the largest (MNIST's pixels at the border never change) are not drawn.
# ```
#
# The fitted exponents are printed above the figure. Raw pixels are not a neural code, and nothing in the argument
# requires them to follow $1/n$; the comparison shows where the inputs start from, before the networks of the next
# chapters reshape their spectra.

# %% [markdown]
# ## Summary
#
# - The smoothness bound is visible in the simplest code: for a circle embedded with a power-law spectrum, the
#   stretch of the embedding stays bounded for $\alpha > 3$ and grows without limit at $\alpha = 3$, where its square
#   grows by {glue:text}`stretch-log-growth:.3f` per decade of scale ($\ln 10 \approx 2.303$).
# - Random tanh networks move between a fast and a slow spectral decay across the order-to-chaos transition at
#   $\sigma_w^2 =$ {glue:text}`net-critical:.2f`: deep in the ordered regime the tenth layer's exponent is
#   {glue:text}`net-alpha-ordered:.1f`, and in the chaotic regime it falls from
#   {glue:text}`net-alpha-chaotic-first:.2f` to {glue:text}`net-alpha-chaotic:.2f` over ten layers.
# - The raw pixels the networks start from have fitted exponents (ranks 11-500) of {glue:md}`pixel-alphas`.
