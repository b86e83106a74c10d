"""A whitening layer: decorrelates features to unit covariance, like BatchNorm for the full covariance.

In training it whitens with the batch's own mean and covariance (differentiably, so the network learns through it)
and updates running estimates; in eval mode it uses those running estimates, so that a prediction never depends on
what else is in the batch. Whitening uses the Cholesky factor of the covariance (y = (x - mu) L^-T with C = L L^T):
its backward pass is stable where an eigendecomposition's is not (near-degenerate eigenvalues), and any whitening
matrix gives the flat spectrum that matters here.

The jitter added to the covariance's diagonal sets how white the layer really is: a direction whose variance is below
the jitter is shrunk rather than scaled to 1. The default, 1e-5, is the authors'. With ``momentum=None`` the running
statistics are a cumulative average over every batch seen since they were reset (as BatchNorm's), which
:func:`onen.runs.training.recalibrate` uses to recompute them exactly for the final weights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Whiten(nn.Module):
    """Whiten [B, D] features (or [B, ...], flattened) to zero mean and identity covariance.

    Args:
        num_features: D.
        eps: jitter added to the covariance diagonal (keeps it invertible when B is small or features collinear).
        momentum: weight of the new batch in the running mean/covariance; None: a cumulative average of all batches
            since :meth:`reset_running_stats`.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__()
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"eps must be finite and >= 0, got {eps}")
        if momentum is not None and not 0 < momentum <= 1:
            raise ValueError(f"momentum must be None or in (0, 1], got {momentum}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_cov", torch.eye(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def reset_running_stats(self) -> None:
        """Zero mean, identity covariance, no batch seen."""
        with torch.no_grad():
            self.running_mean.zero_()
            self.running_cov.copy_(torch.eye(self.num_features, dtype=self.running_cov.dtype))
            self.num_batches_tracked.zero_()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # state saved before the counter existed: no batch counted
        state_dict.setdefault(prefix + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    def _flat(self, x: Tensor) -> Tensor:
        """x as [B, num_features]; in training mode also at least 2 finite samples (ValueError otherwise, before any
        running statistic changes)."""
        name = type(self).__name__
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.num_features:
            raise ValueError(f"{name} expects {self.num_features} features, got {flat.shape[1]}")
        if self.training:
            if flat.shape[0] < 2:
                raise ValueError(f"{name} needs a batch of at least 2 samples in training mode")
            if not torch.isfinite(flat).all():
                raise ValueError(f"{name} got NaN or inf features; its running statistics are left unchanged")
        return flat

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = self._flat(x)
        if self.training:
            mean = flat.mean(0)
            centred = flat - mean
            cov = centred.T @ centred / (flat.shape[0] - 1)
            chol = self._cholesky(cov)  # before the running statistics change: a failure leaves them as they were
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                weight = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), weight)
                self.running_cov.lerp_(cov.detach(), weight)
            # y^T = L^-1 (x - mu)^T, i.e. y = (x - mu) L^-T
            white = torch.linalg.solve_triangular(chol, centred.T, upper=False).T
            return white.reshape(shape)
        else:
            # eval: one fixed matrix, recomputed only when the running statistics change (an attack runs hundreds of
            # forward passes through the same layer)
            return ((flat - self.running_mean) @ self._eval_matrix().T).reshape(shape)

    def _cholesky(self, cov: Tensor) -> Tensor:
        """Cholesky factor of cov + eps I, factorised in float64 (a small jitter leaves a condition number that float32
        rounding can break) and returned in cov's dtype."""
        wide = cov.double()
        eye = torch.eye(self.num_features, dtype=wide.dtype, device=wide.device)
        return torch.linalg.cholesky(wide + self.eps * eye).to(cov.dtype)

    def _eval_matrix(self) -> Tensor:
        """L^-1 of the running covariance, [D, D], cached by the buffers' identity and version."""
        key = (self.running_cov.data_ptr(), self.running_cov._version, self.running_cov.device, self.running_cov.dtype)
        if getattr(self, "_cached_key", None) != key:
            with torch.no_grad():
                chol = self._cholesky(self.running_cov)
                eye = torch.eye(self.num_features, dtype=chol.dtype, device=chol.device)
                self._cached_matrix = torch.linalg.solve_triangular(chol, eye, upper=False)
            self._cached_key = key
        return self._cached_matrix
