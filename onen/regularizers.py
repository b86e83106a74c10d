"""The spectral regularizer of Nassar et al. (2020), Eq. 2.

For a hidden layer with N units and covariance eigenvalues e_0 >= e_1 >= ... (0-based), the target spectrum is a power
law anchored at the tau-th eigenvalue, gamma_k = e_tau * ((tau + 1) / (k + 1))^alpha, and the penalty is

    R = beta / N * sum_{k > tau, e_k > 0} [ (e_k / gamma_k - 1)^2 + relu(e_k / gamma_k - 1) ].

The relu term punishes eigenvalues above the target more than those below it: a heavy tail is what makes a code
non-smooth. No gradient flows through the anchor e_tau, so the penalty shapes the decay, not the overall scale.

Eigenvalues of a minibatch covariance are noisy and their eigenvectors unstable, so, as in the paper, the eigenbasis V
is computed once per epoch from the whole training set, and each minibatch estimates lambda_n = v_n^T C_batch v_n.

That basis goes stale within an epoch (chapter "The spectral regularizer"): the network moves, V no longer diagonalises
its covariance, and the estimates of the tail pick up leakage from the leading eigenvalues. ``basis="tracked"`` keeps
it current at little cost: every minibatch the penalty sees (features the training step computes anyway) updates an
exponential moving average of each layer's covariance, and every ``track_every`` steps V is recomputed from that
average. The average over many batches has full rank, so minibatches narrower than the layer are served too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from onen.spectrum import eigh_descending, layer_covariances


def spectral_penalty(lam: Tensor, tau: int = 10, alpha: float = 1.0, hinge: bool = True) -> Tensor:
    """Eq. 2 without beta: lam [N] (any order) -> scalar.

    Sorts lam descending into e, anchors a = e[tau] (detached), targets gamma_k = a * ((tau+1)/(k+1))^alpha for
    k = tau+1 .. N-1 and returns (1/N) * sum over those k with e_k > 0 of (e_k/gamma_k - 1)^2 + relu(e_k/gamma_k - 1).
    ``hinge=False`` leaves out the second (relu) term: the ablation of the reviewers' question whether it is needed.
    """
    if lam.ndim != 1:
        raise ValueError(f"lam must be 1-D, got shape {tuple(lam.shape)}")
    if not torch.isfinite(lam).all():
        raise ValueError("eigenvalue estimates must be finite: the features hold NaN or inf")
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
    terms = ratio_minus_one.square() + torch.relu(ratio_minus_one) if hinge else ratio_minus_one.square()
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


BASES = ("epoch", "tracked")


def layer_indices(which: str | Sequence[int], n_blocks: int) -> list[int]:
    """0-based indices of the blocks that "last", "all" or a list of indices (negative ones count from the end)
    names among ``n_blocks`` blocks, ascending and without repeats."""
    if which == "last":
        return [n_blocks - 1]
    if which == "all":
        return list(range(n_blocks))
    if isinstance(which, str):
        raise ValueError(f"layers must be 'last', 'all' or a list of indices, got {which!r}")
    bad = [i for i in which if not -n_blocks <= i < n_blocks]
    if bad:
        raise ValueError(f"layer indices {bad} out of range for {n_blocks} blocks")
    return sorted({i % n_blocks for i in which})


def select_layers(model: nn.Module, which: str | Sequence[int]) -> list[nn.Module]:
    """Modules of ``model.blocks`` to regularize: "last", "all", or a list of block indices."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise ValueError("select_layers needs a model with .blocks; for other models pass the modules themselves")
    return [blocks[i] for i in layer_indices(which, len(blocks))]


class SpectralRegularizer:
    """Eq. 2 summed over chosen layers of any model, with the paper's once-per-epoch eigenbasis or a tracked one.

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
        basis: "epoch" (the paper: V changes only when ``refresh`` is called, once per epoch) or "tracked": each call of
            ``penalty`` in training mode also feeds the (detached) features into a running covariance, and every
            ``track_every`` such calls V is recomputed from it. ``refresh`` still sets the running covariance and V
            from scratch (call it once before training).
        track_every: steps between eigendecompositions of the running covariance ("tracked" only).
        track_momentum: weight of the old running covariance in each update, C <- m C + (1 - m) C_batch; the average
            spans about B / (1 - m) samples and lags by about m / (1 - m) steps ("tracked" only).
        allow_small_batch: accept minibatches smaller than a layer's width with the "epoch" basis. The tracked basis
            needs no such opt-in: its running covariance has full rank whatever the batch, and each v_n^T C_batch v_n
            is an unbiased estimate of v_n^T C v_n for any batch of at least 2.
        chunk_size: inputs per forward pass during ``refresh``.
        hinge: keep Eq. 2's second term, relu(e_k / gamma_k - 1) (the paper's); False drops it.
    """

    def __init__(self, model: nn.Module, layers: Sequence[nn.Module], beta: float = 1.0, tau: int = 10,
                 alpha: float = 1.0, allow_small_batch: bool = False, chunk_size: int = 2000,
                 basis: str = "epoch", track_every: int = 1, track_momentum: float = 0.5, hinge: bool = True) -> None:
        if not layers:
            raise ValueError("SpectralRegularizer needs at least one layer")
        for name, value in (("beta", beta), ("alpha", alpha), ("track_momentum", track_momentum)):
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if beta < 0 or alpha <= 0 or tau < 0:
            raise ValueError(f"need beta >= 0, alpha > 0, tau >= 0; got beta={beta}, alpha={alpha}, tau={tau}")
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        if track_every < 1 or not 0 <= track_momentum < 1:
            raise ValueError(f"need track_every >= 1 and 0 <= track_momentum < 1; got {track_every}, {track_momentum}")
        self.model = model
        self.layers = list(layers)
        self.beta = beta
        self.tau = tau
        self.alpha = alpha
        self.allow_small_batch = allow_small_batch
        self.chunk_size = chunk_size
        self.basis = basis
        self.track_every = track_every
        self.track_momentum = track_momentum
        self.hinge = hinge
        self.bases: list[Tensor] | None = None  # per layer: [N_l, N_l] eigenvectors (columns), descending eigenvalues
        self.running: list[Tensor] | None = None  # "tracked": per layer, the running covariance [N_l, N_l] (float64)
        self.updates = 0  # "tracked": running-covariance updates since the last eigendecomposition

    def refresh(self, inputs: Tensor) -> list[np.ndarray]:
        """Recompute each layer's eigenbasis from ``inputs`` [M, ...] (the training set), in eval mode and float64.

        Returns each layer's descending eigenvalues (numpy float64), useful as a spectrum summary.
        """
        covs = layer_covariances(self.model, self.layers, inputs, self.chunk_size)
        spectra = self._decompose(covs)
        if self.basis == "tracked":
            self.running = covs
            self.updates = 0
        return spectra

    def _decompose(self, covs: Sequence[Tensor]) -> list[np.ndarray]:
        """Set each layer's basis to the eigenvectors of ``covs``; return the descending eigenvalues."""
        spectra, bases = [], []
        for cov in covs:
            values, vectors = eigh_descending(cov)
            spectra.append(values.cpu().numpy())
            bases.append(vectors.to(dtype=torch.get_default_dtype()))
        self.bases = bases
        return spectra

    @torch.no_grad()
    def track(self, features: Sequence[Tensor]) -> None:
        """Fold one minibatch's features (one [B, N_l] per layer) into the running covariances; every
        ``track_every``-th call recompute the bases from them. Called by ``penalty`` in training mode when
        ``basis="tracked"``; call it yourself only if you compute the penalty some other way."""
        if self.running is None:
            raise RuntimeError("call refresh(train_inputs) before training: the running covariance starts from it")
        m = self.track_momentum
        for index, h in enumerate(features):
            h = h.detach().reshape(h.shape[0], -1)
            if h.shape[0] < 2:
                raise ValueError("tracking a covariance needs a batch of at least 2")
            centred = h - h.mean(0)
            batch_cov = (centred.T @ centred).double() / (h.shape[0] - 1)  # the product in the features' own precision
            running = self.running[index]
            if running.device != batch_cov.device:
                running = self.running[index] = running.to(batch_cov.device)
            running.mul_(m).add_(batch_cov, alpha=1 - m)
        self.updates += 1
        if self.updates >= self.track_every:
            self._decompose(self.running)
            self.updates = 0

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
        if batch < 2:
            raise ValueError(f"a batch covariance needs at least 2 samples, got a batch of {batch}")
        if width != basis.shape[0]:
            raise ValueError(f"layer {layer} has width {width} but its eigenbasis is {basis.shape[0]} wide")
        if batch < width and not self.allow_small_batch and self.basis == "epoch":
            raise ValueError(
                f"batch of {batch} is smaller than layer {layer}'s width {width}: the batch covariance is rank-deficient "
                "and the spectrum estimate is biased. Use a batch >= width, basis='tracked', or allow_small_batch=True to accept "
                "it."
            )
        return ProjectedVariance.apply(h, basis)

    def penalty(self, features: Sequence[Tensor]) -> Tensor:
        """beta * sum over layers of spectral_penalty(estimated eigenvalues); features: one [B, N_l] per layer.

        With ``basis="tracked"`` and the model in training mode, the features first update the tracked basis (see
        :meth:`track`); the penalty of this batch is then read through the basis as it stands after that update.
        """
        if len(features) != len(self.layers):
            raise ValueError(f"got {len(features)} feature tensors for {len(self.layers)} layers")
        if self.basis == "tracked" and self.model.training:
            self.track(features)
        total = features[0].new_zeros(())
        for index, h in enumerate(features):
            lam = self.estimated_eigenvalues(h.reshape(h.shape[0], -1), index)
            total = total + spectral_penalty(lam, self.tau, self.alpha, self.hinge)
        return self.beta * total
