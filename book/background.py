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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown
from myst_nb import glue

from onen.analysis import background, background_report as figures, profiles
from onen.analysis.plotting import use_style
from onen.spectrum import fit_power_law

setup = profiles.chapter_setup(profile, results_dir, seeds, device)
results_dir, seed = setup.results_dir, setup.seeds[0]
# everything here runs on the CPU whatever `device` says (the largest products are 3072 x 3072)
settings = profiles.background_settings(profile)
ranks = settings.fit_ranks
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

# %% tags=["hide-input"]
circle = background.circle(settings, seed, results_dir)
circle_alphas = [fit_power_law(s, ranks) for s in circle["spectra"]]

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
figures.circle_table(settings, circle_alphas, seed)

# %% tags=["hide-input"]
fig = figures.circle_spectra_figure(settings, circle["spectra"], circle_alphas)
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
fig = figures.circle_projections_figure(settings.alphas, circle["projections"])
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

# %% tags=["hide-input"]
stretch = background.stretch(settings.alphas, settings.stretch_freq)
glue("stretch-log-growth", stretch.log_growth, display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
figures.stretch_table(stretch)

# %% tags=["hide-input"]
fig = figures.stretch_figure(stretch, settings.alphas, settings.stretch_freq)
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
# The table above gives the numbers: for $\alpha = 1, 2$ the stretch grows without bound as $\delta \to 0$
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

# %% tags=["hide-input"]
nets = background.networks(settings, seed, results_dir)
ordered_w2, chaotic_w2 = min(settings.sigma_w2), max(settings.sigma_w2)

# %% tags=["remove-cell"]
glue("net-critical", nets.critical, display=False)
glue("net-alpha-ordered", nets.layer_alphas[ordered_w2][-1], display=False)
glue("net-alpha-chaotic-first", nets.layer_alphas[chaotic_w2][0], display=False)
glue("net-alpha-chaotic", nets.layer_alphas[chaotic_w2][-1], display=False)
glue("net-sigma-ordered", ordered_w2, display=False)
glue("net-sigma-chaotic", chaotic_w2, display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
figures.network_table(nets, settings.sigma_b2)

# %% tags=["hide-input"]
fig = figures.networks_figure(nets, settings.depth, settings.width)
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
fig = figures.network_circles_figure(nets, [0, 2, 5, settings.depth])
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

# %% tags=["hide-input"]
pixels = background.pixels(settings.pixel_images.by_dataset(), ranks, seed, results_dir)
glue("pixel-alphas", Markdown(", ".join(f"{background.PIXEL_LABELS[name]} {alpha:.2f}"
                                        for name, alpha in pixels.alphas.items())), display=False)

# %% tags=["nbval-check-output"] mystnb={"remove_code_source": true}
figures.pixel_table(pixels, settings.pixel_images.by_dataset(), ranks)

# %% tags=["hide-input"]
fig = figures.pixels_figure(pixels, ranks)
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
# The table above the figure gives the fitted exponents. Raw pixels are not a neural code, and nothing in the argument
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
