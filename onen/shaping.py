"""A layer whose covariance spectrum is set exactly: the target of Eq. 2 imposed by construction.

The spectral penalty of Eq. 2 pulls a layer's eigenvalues towards gamma_n = lambda_{tau+1} ((tau + 1) / n)^alpha for
ranks n > tau and leaves the first tau alone; whether the trained layer gets there is an empirical question (the book
finds that it does not). :class:`SpectrumShaping` answers it by construction. It maps the features x of a layer to

    y = (x - mu) V diag(sqrt(gamma_n / lambda_n)) V^T,

with C = V diag(lambda) V^T the covariance of x (eigenvalues descending). Then cov(y) = V diag(gamma) V^T: the
principal directions and their order are x's own, the first tau eigenvalues are kept, and every later one is on the
target. ``alpha = 0, tau = 0`` maps every eigenvalue to lambda_1, a whitened layer up to scale (the paper's Whitened
network is the alpha = 0 end of this family).

Like BatchNorm and :class:`~onen.whiten.Whiten`, it uses the batch's own mean and covariance in training and running
estimates in eval mode, so a prediction never depends on the rest of its batch; :func:`onen.runs.training.recalibrate`
recomputes the running estimates exactly for the final weights.

Cost. The map is exact for every training batch: one float64 eigendecomposition of the batch covariance per step.
``benchmarks/shaping_cost.py`` times a training step of the paper's shallow net with and without the layer
(``benchmarks/results/shaping_cost_cpu.json``: 11 times Vanilla's step on one core of a loaded 2-core CPU). Reusing
the eigenvectors of an earlier step does not work: the tail eigenvectors of a 3500-sample covariance of 2000
features change from batch to batch, and gains that span decades turn the small off-diagonal terms of a stale basis
into eigenvalues off the target by more than a factor 20 (the same benchmark measures it).

Stability. The gradient of an eigendecomposition has 1 / (lambda_i - lambda_j) factors, and a 2000-wide tanh layer
has many nearly equal eigenvalues, so backpropagating through ``eigh`` diverges. Here the map M = V diag(.) V^T is
computed without gradient (like the tracked basis of the spectral penalty): the gradient flows through x - mu
linearly, and the statistics are treated as constants of the step, as BatchNorm's are in its "no gradient through
the statistics" variant. The eigendecomposition runs in float64 (the target spans several decades below lambda_1,
where float32 rounding would dominate the decomposition) and a direction whose variance is below ``eps`` times the
mean variance (numerically dead or saturated units) is scaled as if its variance were that floor, so it is shrunk
rather than amplified without bound and no division by zero occurs on a rank-deficient input.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from onen.whiten import Whiten


def target_spectrum(values: Tensor, tau: int, alpha: float) -> Tensor:
    """Eq. 2's target for descending eigenvalues [N]: the first ``tau`` as they are, then
    gamma_n = values[tau] ((tau + 1) / n)^alpha for 1-based ranks n = tau + 1 .. N (gamma_{tau+1} = lambda_{tau+1})."""
    n = torch.arange(1, values.numel() + 1, dtype=values.dtype, device=values.device)
    gamma = values[tau] * ((tau + 1) / n) ** alpha
    return torch.where(n <= tau, values, gamma)


class SpectrumShaping(Whiten):
    """Map [B, D] features (or [B, ...], flattened) so that their covariance spectrum is Eq. 2's target.

    Args:
        num_features: D.
        alpha: the target's exponent (>= 0).
        tau: eigenvalues of ranks 1..tau keep their values (0 <= tau < D).
        eps: variance floor, relative to the mean eigenvalue: a direction below it is treated as having that
            variance (see the module's docstring).
        momentum: weight of the new batch in the running mean/covariance; None: cumulative average.
    """

    def __init__(self, num_features: int, alpha: float = 1.0, tau: int = 10, eps: float = 1e-7,
                 momentum: float | None = 0.1) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        if isinstance(tau, bool) or not isinstance(tau, int) or not 0 <= tau < num_features:
            raise ValueError(f"tau must be an integer in 0..{num_features - 1}, got {tau!r}")
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.alpha = float(alpha)
        self.tau = tau

    def extra_repr(self) -> str:
        return f"{self.num_features}, alpha={self.alpha:g}, tau={self.tau}, eps={self.eps}, momentum={self.momentum}"

    def shaping_matrix(self, cov: Tensor) -> Tensor:
        """M [D, D] (cov's dtype, no gradient) such that M^T cov M has the target spectrum of cov's eigenvalues."""
        with torch.no_grad():
            values, vectors = torch.linalg.eigh(cov.double())
            values, vectors = values.flip(0), vectors.flip(1)
            floor = self.eps * values.clamp(min=0).mean().clamp(min=torch.finfo(torch.float64).tiny)
            values = values.clamp(min=floor)
            gain = (target_spectrum(values, self.tau, self.alpha) / values).sqrt()
            # the product in cov's dtype: rounding the float64 factors first costs each entry of M a relative 1e-7,
            # and the float64 product of two 2000-wide matrices takes a third of a step on a CPU
            vectors = vectors.to(cov.dtype)
            return (vectors * gain.to(cov.dtype)) @ vectors.T

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = self._flat(x)
        if not self.training:
            return ((flat - self.running_mean) @ self._eval_matrix()).reshape(shape)
        mean = flat.mean(0)
        centred = flat - mean
        with torch.no_grad():
            detached = centred.detach()
            cov = detached.T @ detached / (flat.shape[0] - 1)
            matrix = self.shaping_matrix(cov)  # before the running statistics change: a failure leaves them as they were
            self.num_batches_tracked.add_(1)
            weight = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean.lerp_(mean.detach(), weight)
            self.running_cov.lerp_(cov, weight)
        return (centred @ matrix).reshape(shape)

    def _eval_matrix(self) -> Tensor:
        """The shaping matrix of the running covariance, cached by the buffers' identity and version."""
        key = (self.running_cov.data_ptr(), self.running_cov._version, self.running_cov.device, self.running_cov.dtype)
        if getattr(self, "_cached_key", None) != key:
            self._cached_matrix = self.shaping_matrix(self.running_cov)
            self._cached_key = key
        return self._cached_matrix
