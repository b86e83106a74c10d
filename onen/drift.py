"""How stale is the once-per-epoch eigenbasis of the spectral regularizer?

The regularizer computes a layer's eigenbasis V from the training set at the start of an epoch and, for the rest of
the epoch, estimates the spectrum as lambda_n = v_n^T C v_n while the network (and so the true covariance C) moves
under it. This module measures that gap against the fresh covariance C of the current network:

- :func:`principal_angles`: angles between the top-k stale and fresh eigenspaces (0 = same subspace, 90 = orthogonal);
- :func:`stale_basis_error`: error of the stale-basis eigenvalue estimates diag(V^T C V) against the eigenvalues of C,
  and of the Eq. 2 penalty computed from each;
- :class:`DriftRecorder`: both, every few optimiser steps, as an ``after_step`` callback of :func:`onen.runs.training.train`.

By default C is the covariance over the same inputs the basis came from, so only the basis is stale and sampling noise
does not enter. Given ``heldout`` images, C is their covariance instead: the error then also holds the sampling
difference between the two image sets, which ``floor=True`` measures separately as the error of a basis computed
fresh from the training images at the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from onen.regularizers import SpectralRegularizer, spectral_penalty
from onen.spectrum import eigh_descending, layer_covariances


def principal_angles(V: Tensor, U: Tensor, k: int) -> Tensor:
    """Principal angles (degrees, ascending) between span(V[:, :k]) and span(U[:, :k]); V, U: [N, >=k] orthonormal.

    The cosines are the singular values of V_k^T U_k; the sines are those of U_k - V_k V_k^T U_k. Taking the angle as
    atan2(sin, cos) keeps small angles accurate, where arccos of a cosine within rounding of 1 would not. Returns [k].
    """
    if not 1 <= k <= min(V.shape[1], U.shape[1]):
        raise ValueError(f"k={k} must be between 1 and the number of columns ({V.shape[1]}, {U.shape[1]})")
    v, u = V[:, :k].double(), U[:, :k].to(device=V.device, dtype=torch.float64)
    overlap = v.T @ u
    cosines = torch.linalg.svdvals(overlap).clamp(max=1.0)  # descending: smallest angle first
    sines = torch.linalg.svdvals(u - v @ overlap).clamp(max=1.0).flip(0)  # ascending: smallest angle first
    return torch.rad2deg(torch.atan2(sines, cosines))


def stale_basis_error(V: Tensor, C: Tensor, tau: int = 10, alpha: float = 1.0,
                      eigenvalues: Tensor | None = None) -> dict[str, float]:
    """How well the basis V [N, N] (columns, descending order when it was computed) reads the spectrum of C [N, N].

    The estimates diag(V^T C V) are sorted descending, as the penalty sorts them, and compared with the eigenvalues of
    C rank by rank over the regularized ranks k > tau (0-based). Returns:

    - ``median_rel_error``, ``max_rel_error``: median and maximum over k > tau of |estimate_k / true_k - 1|;
    - ``penalty_stale``, ``penalty_true``: Eq. 2 without beta from the estimates and from the true eigenvalues;
    - ``penalty_rel_error``: |penalty_stale / penalty_true - 1|;
    - ``tail_mass_ratio``: sum_{k > tau} estimate_k / sum_{k > tau} true_k.

    By the Schur-Horn theorem the diagonal of V^T C V is majorized by the eigenvalues of C: any basis other than the
    eigenbasis reads a flatter spectrum, and the variance it reports in the ranks after tau is never less than the
    truth (tail_mass_ratio >= 1). A tail direction tilted by an angle theta towards the leading eigenvector picks up
    sin(theta)^2 * e_0, which is large next to a tail eigenvalue many decades below e_0.

    ``eigenvalues``: the descending eigenvalues of C, if already computed.
    """
    C = C.double()
    V = V.to(device=C.device, dtype=torch.float64)
    true = eigh_descending(C)[0] if eigenvalues is None else eigenvalues.to(device=C.device, dtype=torch.float64)
    estimates = ((C @ V) * V).sum(0)  # v_n^T C v_n for every n without forming V^T C V
    sorted_estimates = torch.sort(estimates, descending=True).values
    tail_true, tail_est = true[tau + 1 :], sorted_estimates[tau + 1 :]
    keep = tail_true > tail_true.abs().max() * 1e-12  # ranks where C has variance at all
    rel = (tail_est[keep] / tail_true[keep] - 1).abs()
    penalty_stale = float(spectral_penalty(estimates, tau, alpha))
    penalty_true = float(spectral_penalty(true, tau, alpha))
    return {
        "median_rel_error": float(torch.quantile(rel, 0.5)),  # the mean of the middle two for an even count
        "max_rel_error": float(rel.max()),
        "penalty_stale": penalty_stale,
        "penalty_true": penalty_true,
        "penalty_rel_error": abs(penalty_stale / penalty_true - 1) if penalty_true > 0 else float("nan"),
        "tail_mass_ratio": float(tail_est.sum() / tail_true.sum()),
    }


class DriftRecorder:
    """``after_step`` callback of :func:`onen.runs.training.train` measuring the staleness of a regularizer's basis.

    It measures after the first step of every epoch and then after every ``every``-th step of the epoch (steps
    counted from 1), so the first point of an epoch shows a basis one step old and the last one the oldest. Each
    measurement computes the fresh covariance of the regularized layer over ``inputs`` (the eigen subset the
    regularizer refreshes from) and records, per ``ks``, the largest principal angle between the top-k stale and fresh
    eigenspaces, plus everything :func:`stale_basis_error` returns.

    Args:
        inputs: [M, ...] images the basis is computed from (``TrainConfig.eigen_subset`` of the training subset).
        every: measure every this many optimiser steps within an epoch.
        ks: subspace dimensions of the principal angles.
        layer: index into ``regularizer.layers`` of the layer to follow.
        heldout: [M', ...] images whose covariance the basis is checked against (None: ``inputs``).
        floor: also record ``floor_median_rel_error`` and ``floor_penalty_rel_error``, the errors of the exact
            eigenbasis of ``inputs`` at the current weights read on ``heldout`` (the part of the error that no basis
            computed from training images can remove); needs ``heldout``.
    """

    def __init__(self, inputs: Tensor, every: int = 1, ks: Sequence[int] = (10, 50), layer: int = 0,
                 chunk_size: int = 2000, heldout: Tensor | None = None, floor: bool = False) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if floor and heldout is None:
            raise ValueError("floor=True compares a fresh training basis with held-out images: pass heldout")
        self.inputs = inputs
        self.heldout = heldout
        self.floor = floor
        self.every = every
        self.ks = tuple(int(k) for k in ks)
        self.layer = layer
        self.chunk_size = chunk_size
        self.steps_seen = 0
        self.records: list[dict[str, float]] = []

    def __call__(self, model: nn.Module, regularizer: SpectralRegularizer | None, epoch: int, step: int) -> None:
        self.steps_seen += 1
        if step != 0 and (step + 1) % self.every != 0:
            return
        if regularizer is None or regularizer.bases is None:
            raise ValueError("DriftRecorder follows a spectral regularizer; this run has none (or no basis yet)")
        module = regularizer.layers[self.layer]
        target = self.inputs if self.heldout is None else self.heldout
        (cov,) = layer_covariances(model, [module], target.to(_device(model)), self.chunk_size)
        stale = regularizer.bases[self.layer].to(device=cov.device, dtype=torch.float64)
        values, fresh = eigh_descending(cov)
        record = {"step": float(self.steps_seen), "epoch": float(epoch), "step_in_epoch": float(step + 1)}
        for k in self.ks:
            record[f"angle_top{k}"] = float(principal_angles(stale, fresh, k).max())
        record.update(stale_basis_error(stale, cov, regularizer.tau, regularizer.alpha, eigenvalues=values))
        if self.floor:
            (train_cov,) = layer_covariances(model, [module], self.inputs.to(_device(model)), self.chunk_size)
            best = stale_basis_error(eigh_descending(train_cov)[1], cov, regularizer.tau, regularizer.alpha,
                                     eigenvalues=values)
            record["floor_median_rel_error"] = best["median_rel_error"]
            record["floor_penalty_rel_error"] = best["penalty_rel_error"]
        self.records.append(record)

    def arrays(self) -> dict[str, np.ndarray]:
        """The records as one float64 array per measured quantity, in measurement order."""
        if not self.records:
            return {}
        return {key: np.array([r[key] for r in self.records], dtype=np.float64) for key in self.records[0]}


def _device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (where its inputs must go)."""
    return next(model.parameters()).device
