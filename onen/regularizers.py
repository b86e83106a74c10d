"""The spectral regularizer of Nassar et al. (2020), Eq. 2.

For a hidden layer with N units and covariance eigenvalues e_0 >= e_1 >= ... (0-based), the target spectrum is a power
law anchored at the tau-th eigenvalue, gamma_k = e_tau * ((tau + 1) / (k + 1))^alpha, and the penalty is

    R = beta / N * sum_{k > tau, e_k > 0} [ (e_k / gamma_k - 1)^2 + relu(e_k / gamma_k - 1) ].

The relu term punishes eigenvalues above the target more than those below it: a heavy tail is what makes a code
non-smooth. No gradient flows through the anchor e_tau, so the penalty shapes the decay, not the overall scale.

Eigenvalues of a minibatch covariance are noisy and their eigenvectors unstable, so, as in the paper, the eigenbasis V
is computed once per epoch from the whole training set, and each minibatch estimates lambda_n = v_n^T C_batch v_n.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .spectrum import eigh_descending, layer_covariances


def spectral_penalty(lam: Tensor, tau: int = 10, alpha: float = 1.0) -> Tensor:
    """Eq. 2 without beta: lam [N] (any order) -> scalar.

    Sorts lam descending into e, anchors a = e[tau] (detached), targets gamma_k = a * ((tau+1)/(k+1))^alpha for
    k = tau+1 .. N-1 and returns (1/N) * sum over those k with e_k > 0 of (e_k/gamma_k - 1)^2 + relu(e_k/gamma_k - 1).
    """
    if lam.ndim != 1:
        raise ValueError(f"lam must be 1-D, got shape {tuple(lam.shape)}")
    n = lam.shape[0]
    if not 0 <= tau < n - 1:
        raise ValueError(f"tau={tau} must satisfy 0 <= tau < len(lam) - 1 = {n - 1}")
    e = torch.sort(lam, descending=True).values
    anchor = e[tau].detach()
    k = torch.arange(tau + 1, n, device=lam.device, dtype=lam.dtype)
    # a non-positive anchor (rank <= tau) leaves nothing to compare with: a unit target keeps the masked terms finite,
    # since a 0 * inf in their backward pass would turn every gradient into NaN
    gamma = torch.where(anchor > 0, anchor, torch.ones_like(anchor)) * ((tau + 1) / (k + 1)) ** alpha
    tail = e[tau + 1 :]
    ratio_minus_one = tail / gamma - 1
    terms = ratio_minus_one.square() + torch.relu(ratio_minus_one)
    keep = (tail > 0) & (anchor > 0)
    return torch.where(keep, terms, torch.zeros_like(terms)).sum() / n


class ProjectedVariance(torch.autograd.Function):
    """lambda = diag(V^T C V) for h [B, N] and a fixed basis V [N, N] -> [N], C the centred batch covariance.

    Forward: the column sums of squares of P = (h - mean) V, over B - 1. Backward: dlambda/dh = (2 / (B - 1)) P
    diag(g) V^T, and because every column of P sums to zero, so does every column of that product, so the centring
    contributes nothing more to the gradient. Scaling the rows of V^T by g first ([N, N] work instead of [B, N]) leaves
    one [B, N] x [N, N] product for the backward pass, which autograd's generic chain (the square, the broadcast
    mean and its own elementwise passes over [B, N]) would not.
    No gradient flows to V (the basis is a fixed estimate of the eigenvectors).
    """

    @staticmethod
    def forward(ctx, h: Tensor, basis: Tensor) -> Tensor:  # type: ignore[override]
        projected = (h - h.mean(0)) @ basis  # [B, N]
        ctx.save_for_backward(projected, basis)
        return torch.linalg.vector_norm(projected, dim=0).square() / (h.shape[0] - 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        projected, basis = ctx.saved_tensors
        scaled_basis_t = basis.T * (grad * (2.0 / (projected.shape[0] - 1))).unsqueeze(1)  # [N, N]: row n scaled
        return projected @ scaled_basis_t, None


def select_layers(model: nn.Module, which: str | Sequence[int]) -> list[nn.Module]:
    """Modules of ``model.blocks`` to regularize: "last", "all", or a list of block indices."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise ValueError("select_layers needs a model with .blocks; for other models pass the modules themselves")
    if which == "last":
        return [blocks[-1]]
    if which == "all":
        return list(blocks)
    if isinstance(which, str):
        raise ValueError(f"layers must be 'last', 'all' or a list of indices, got {which!r}")
    return [blocks[i] for i in which]


class SpectralRegularizer:
    """Eq. 2 summed over chosen layers of any model, with the once-per-epoch eigenbasis of the paper.

    Usage::

        reg = SpectralRegularizer(model, layers=[model.fc1], beta=2.0)
        for epoch in range(epochs):
            reg.refresh(train_x)                    # eigenbasis from the whole training set
            for x, y in batches:
                with onen.capture(reg.layers) as feats:
                    logits = model(x)
                loss = F.cross_entropy(logits, y) + reg.penalty(feats)

    Args:
        model: the network (only used to compute representations in ``refresh``).
        layers: modules whose outputs are regularized (flattened to [B, N_l]).
        beta, tau, alpha: Eq. 2's weight, anchor index (0-based) and target exponent.
        allow_small_batch: accept minibatches smaller than a layer's width. Such a batch covariance has rank < N_l, so
            its smallest estimated eigenvalues are pushed towards zero by sampling alone; off by default.
        chunk_size: inputs per forward pass during ``refresh``.
    """

    def __init__(self, model: nn.Module, layers: Sequence[nn.Module], beta: float = 1.0, tau: int = 10,
                 alpha: float = 1.0, allow_small_batch: bool = False, chunk_size: int = 2000) -> None:
        if not layers:
            raise ValueError("SpectralRegularizer needs at least one layer")
        if beta < 0 or alpha <= 0 or tau < 0:
            raise ValueError(f"need beta >= 0, alpha > 0, tau >= 0; got beta={beta}, alpha={alpha}, tau={tau}")
        self.model = model
        self.layers = list(layers)
        self.beta = beta
        self.tau = tau
        self.alpha = alpha
        self.allow_small_batch = allow_small_batch
        self.chunk_size = chunk_size
        self.bases: list[Tensor] | None = None  # per layer: [N_l, N_l] eigenvectors (columns), descending eigenvalues

    def refresh(self, inputs: Tensor) -> list[np.ndarray]:
        """Recompute each layer's eigenbasis from ``inputs`` [M, ...] (the training set), in eval mode and float64.

        Returns each layer's descending eigenvalues (numpy float64), useful as a spectrum summary.
        """
        covs = layer_covariances(self.model, self.layers, inputs, self.chunk_size)
        spectra, bases = [], []
        for cov in covs:
            values, vectors = eigh_descending(cov)
            spectra.append(values.cpu().numpy())
            bases.append(vectors.to(dtype=torch.get_default_dtype()))
        self.bases = bases
        return spectra

    def estimated_eigenvalues(self, h: Tensor, layer: int) -> Tensor:
        """lambda_n = v_n^T C_batch v_n for n = 0..N-1: h [B, N] -> [N], without forming V^T C V.

        v_n^T C v_n = ||(H - mean) v_n||^2 / (B - 1), so one [B, N] x [N, N] product gives all N estimates.
        """
        if self.bases is None:
            raise RuntimeError("call refresh(train_inputs) before penalty(): the eigenbasis is not computed yet")
        basis = self.bases[layer]
        if basis.device != h.device or basis.dtype != h.dtype:
            basis = self.bases[layer] = basis.to(device=h.device, dtype=h.dtype)
        batch, width = h.shape
        if width != basis.shape[0]:
            raise ValueError(f"layer {layer} has width {width} but its eigenbasis is {basis.shape[0]} wide")
        if batch < width and not self.allow_small_batch:
            raise ValueError(
                f"batch of {batch} is smaller than layer {layer}'s width {width}: the batch covariance is rank-deficient "
                "and the spectrum estimate is biased. Use a batch >= width, or allow_small_batch=True to accept it."
            )
        return ProjectedVariance.apply(h, basis)

    def penalty(self, features: Sequence[Tensor]) -> Tensor:
        """beta * sum over layers of spectral_penalty(estimated eigenvalues); features: one [B, N_l] per layer."""
        if len(features) != len(self.layers):
            raise ValueError(f"got {len(features)} feature tensors for {len(self.layers)} layers")
        total = features[0].new_zeros(())
        for index, h in enumerate(features):
            lam = self.estimated_eigenvalues(h.reshape(h.shape[0], -1), index)
            total = total + spectral_penalty(lam, self.tau, self.alpha)
        return self.beta * total
