"""A whitening layer: decorrelates features to unit covariance, like BatchNorm for the full covariance.

In training it whitens with the batch's own mean and covariance (differentiably, so the network learns through it)
and updates running estimates; in eval mode it uses those running estimates, so that a prediction never depends on
what else is in the batch. Whitening uses the Cholesky factor of the covariance (y = (x - mu) L^-T with C = L L^T):
its backward pass is stable where an eigendecomposition's is not (near-degenerate eigenvalues), and any whitening
matrix gives the flat spectrum that matters here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Whiten(nn.Module):
    """Whiten [B, D] features (or [B, ...], flattened) to zero mean and identity covariance.

    Args:
        num_features: D.
        eps: jitter added to the covariance diagonal (keeps it invertible when B is small or features collinear).
        momentum: weight of the new batch in the running mean/covariance.
    """

    def __init__(self, num_features: int, eps: float = 1e-3, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_cov", torch.eye(num_features))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = x.reshape(shape[0], -1)
        if flat.shape[1] != self.num_features:
            raise ValueError(f"Whiten expects {self.num_features} features, got {flat.shape[1]}")
        if self.training:
            if flat.shape[0] < 2:
                raise ValueError("Whiten needs a batch of at least 2 samples in training mode")
            if not torch.isfinite(flat).all():
                raise ValueError("Whiten got NaN or inf features; its running statistics are left unchanged")
            mean = flat.mean(0)
            centred = flat - mean
            cov = centred.T @ centred / (flat.shape[0] - 1)
            chol = self._cholesky(cov)  # before the running statistics change: a failure leaves them as they were
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_cov.lerp_(cov.detach(), self.momentum)
            # y^T = L^-1 (x - mu)^T, i.e. y = (x - mu) L^-T
            white = torch.linalg.solve_triangular(chol, centred.T, upper=False).T
            return white.reshape(shape)
        else:
            # eval: one fixed matrix, recomputed only when the running statistics change (an attack runs hundreds of
            # forward passes through the same layer)
            return ((flat - self.running_mean) @ self._eval_matrix().T).reshape(shape)

    def _cholesky(self, cov: Tensor) -> Tensor:
        eye = torch.eye(self.num_features, dtype=cov.dtype, device=cov.device)
        return torch.linalg.cholesky(cov + self.eps * eye)

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
