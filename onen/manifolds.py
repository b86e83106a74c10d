"""Synthetic manifolds with a designed spectrum, and circles pushed through deep random tanh networks.

Two toy settings behind the 1/n argument of Stringer et al. (2019):

- a circle embedded with Fourier features whose variances decay as k^-alpha: its covariance spectrum is a power law
  by construction, and whether the embedding is differentiable can be read off the local stretch
  ||f(theta + delta) - f(theta)|| / delta as delta -> 0;
- a circle fed to a deep tanh network with random Gaussian weights, in the ordered or the chaotic regime of the
  mean-field theory of Poole et al. (2016) and Schoenholz et al. (2017).
"""

from __future__ import annotations

import numpy as np
import torch

from onen.spectrum import eigenvalues_descending


def fourier_variances(n_freq: int, alpha: float) -> np.ndarray:
    """lambda_k = k^-alpha for frequencies k = 1..n_freq: [n_freq] float64."""
    return np.arange(1, n_freq + 1, dtype=np.float64) ** -float(alpha)


def random_rotation(n_dims: int, seed: int) -> np.ndarray:
    """A fixed random orthogonal matrix [n_dims, n_dims] (Haar distributed: QR of a Gaussian, signs fixed)."""
    gaussian = torch.randn(n_dims, n_dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return (q * torch.sign(torch.diagonal(r))).numpy()


def circle_angles(n_points: int) -> np.ndarray:
    """n_points uniformly spaced angles theta_j = 2 pi j / n_points in [0, 2 pi): [n_points]."""
    return 2 * np.pi * np.arange(n_points) / n_points


def circle_embedding(n_points: int, alpha: float, n_freq: int, seed: int | None = 0) -> np.ndarray:
    """The circle f(theta) = sum_k sqrt(lambda_k) [cos(k theta) e_{2k-1} + sin(k theta) e_{2k}], lambda_k = k^-alpha.

    Evaluated at ``n_points`` uniformly spaced angles: [n_points, 2 n_freq] float64. With a ``seed`` the embedding is
    rotated by a fixed random orthogonal matrix, so no coordinate axis is special; ``seed=None`` keeps the Fourier axes.
    For n_points > 2 n_freq the covariance of the points has eigenvalues lambda_k / 2, each twice.
    """
    theta = circle_angles(n_points)
    phase = theta[:, None] * np.arange(1, n_freq + 1)[None, :]  # [n_points, n_freq]
    amplitude = np.sqrt(fourier_variances(n_freq, alpha))
    features = np.stack([np.cos(phase), np.sin(phase)], axis=2) * amplitude[None, :, None]
    features = features.reshape(n_points, 2 * n_freq)  # columns cos 1, sin 1, cos 2, sin 2, ...
    if seed is None:
        return features
    # the product goes through torch, like everything heavy in this module: one thread pool, not numpy's as well
    rotation = torch.from_numpy(random_rotation(2 * n_freq, seed))
    return (torch.from_numpy(features) @ rotation.T).numpy()


def local_stretch(alpha: float, deltas: np.ndarray, n_freq: int) -> np.ndarray:
    """||f(theta + delta) - f(theta)|| / delta of :func:`circle_embedding` for each delta: [len(deltas)].

    Exact for the n_freq-term embedding and the same for every theta (rotations leave it unchanged):
    ||f(theta + delta) - f(theta)||^2 = sum_k lambda_k |e^{ik delta} - 1|^2 = sum_k lambda_k 4 sin^2(k delta / 2).
    As delta -> 0 the squared stretch tends to sum_k lambda_k k^2, finite for an infinite series only if alpha > 3.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    k = np.arange(1, n_freq + 1, dtype=np.float64)
    lam = fourier_variances(n_freq, alpha)
    squared = (lam[None, :] * 4 * np.sin(np.outer(deltas, k) / 2) ** 2).sum(axis=1)
    return np.sqrt(squared) / deltas


def smoothness_bound(d: np.ndarray | float) -> np.ndarray | float:
    """Stringer et al.'s bound: a power-law code of a d-dimensional manifold can be smooth only if alpha > 1 + 2/d."""
    return 1 + 2 / np.asarray(d, dtype=np.float64)


def tanh_mean_field(sigma_w2: float, sigma_b2: float, n_iter: int = 500, n_quad: int = 101) -> tuple[float, float]:
    """Fixed point q* of the pre-activation variance map and the slope chi_1 there, for a deep tanh network.

    q* = sigma_w^2 E[tanh(sqrt(q*) z)^2] + sigma_b^2 and chi_1 = sigma_w^2 E[tanh'(sqrt(q*) z)^2], z ~ N(0, 1)
    (Poole et al. 2016). chi_1 < 1: ordered (nearby inputs converge); chi_1 > 1: chaotic (they diverge).
    Expectations by Gauss-Hermite quadrature.
    """
    z, w = np.polynomial.hermite_e.hermegauss(n_quad)
    w = w / w.sum()
    q = 1.0
    for _ in range(n_iter):  # iterations of a contraction to its fixed point, not a loop over data
        q = sigma_w2 * float(w @ np.tanh(np.sqrt(q) * z) ** 2) + sigma_b2
    chi = sigma_w2 * float(w @ (1 - np.tanh(np.sqrt(q) * z) ** 2) ** 2)
    return q, chi


def critical_sigma_w2(sigma_b2: float, low: float = 0.5, high: float = 10.0, tol: float = 1e-6) -> float:
    """The weight variance where chi_1 = 1 (order-to-chaos transition) at bias variance sigma_b2, by bisection."""
    while high - low > tol:
        mid = 0.5 * (low + high)
        if tanh_mean_field(mid, sigma_b2)[1] < 1:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


@torch.no_grad()
def random_tanh_network_spectra(sigma_w2: float, sigma_b2: float = 0.05, depth: int = 10, width: int = 1000,
                                n_points: int = 2048, input_scale: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Push a circle through a deep tanh network with random weights and measure each layer's representation.

    Input: x^0(theta) = sqrt(width * input_scale) (u cos theta + v sin theta) in R^width, u, v orthonormal, at
    ``n_points`` uniformly spaced angles. Layers: x^l = tanh(W^l x^{l-1} + b^l), W^l_ij ~ N(0, sigma_w2 / width),
    b^l_i ~ N(0, sigma_b2). All in float64.

    Returns (numpy) arrays:
      spectra [depth, width]: descending covariance eigenvalues of x^l over the circle's points, l = 1..depth;
      lengths [depth + 1]: length of the closed curve x^l(theta) per sqrt(width) (l = 0 is the input circle);
      neighbour_correlation [depth + 1]: correlation between the centred representations of adjacent angles;
      projections [depth + 1, n_points, 2]: each layer's centred points projected on 2 random unit directions.
    """
    gen = torch.Generator().manual_seed(seed)
    theta = torch.from_numpy(circle_angles(n_points))
    frame, _ = torch.linalg.qr(torch.randn(width, 2, generator=gen, dtype=torch.float64))
    x = (width * input_scale) ** 0.5 * torch.stack([theta.cos(), theta.sin()], 1) @ frame.T  # [n_points, width]
    directions, _ = torch.linalg.qr(torch.randn(width, 2, generator=gen, dtype=torch.float64))
    spectra, lengths, correlations, projections = [], [], [], []

    def measure(h: torch.Tensor) -> None:
        centred = h - h.mean(0)
        step = centred.roll(-1, 0) - centred
        lengths.append(float(step.norm(dim=1).sum()) / width**0.5)
        correlations.append(float(torch.nn.functional.cosine_similarity(centred, centred.roll(-1, 0), dim=1).mean()))
        projections.append((centred @ directions / width**0.5).numpy())

    measure(x)
    for _ in range(depth):
        weight = torch.randn(width, width, generator=gen, dtype=torch.float64) * (sigma_w2 / width) ** 0.5
        bias = torch.randn(width, generator=gen, dtype=torch.float64) * sigma_b2**0.5
        x = torch.tanh(x @ weight.T + bias)
        centred = x - x.mean(0)
        cov = centred.T @ centred / (n_points - 1)
        spectra.append(eigenvalues_descending(cov))
        measure(x)
    return {
        "spectra": np.stack(spectra),
        "lengths": np.array(lengths),
        "neighbour_correlation": np.array(correlations),
        "projections": np.stack(projections),
    }


def intrinsic_dimension(points: np.ndarray | torch.Tensor, k: int = 20, chunk: int = 1000) -> float:
    """The dimension d of the manifold ``points`` [M, D] lie on, by Levina & Bickel's (2004) maximum-likelihood
    estimator over each point's ``k`` nearest neighbours, averaged over points as MacKay & Ghahramani's correction
    does (the mean of the inverse local estimates, inverted): 1 / mean_i [ (1 / (k - 1)) sum_{j<k} log(T_k(i) /
    T_j(i)) ], T_j(i) the distance from point i to its j-th nearest neighbour among the others. Duplicate points
    (zero distances) are left out of the average."""
    x = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] <= k or k < 2:
        raise ValueError(f"need points [M, D] with M > k >= 2, got shape {tuple(x.shape)} and k={k}")
    inverse = []
    for start in range(0, x.shape[0], chunk):
        dist = torch.cdist(x[start:start + chunk], x)
        dist[torch.arange(dist.shape[0]), torch.arange(start, start + dist.shape[0])] = float("inf")  # not itself
        near = torch.topk(dist, k, dim=1, largest=False).values  # ascending T_1..T_k
        usable = near[:, 0] > 0
        logs = torch.log(near[usable, -1:] / near[usable, :-1])
        inverse.append(logs.mean(dim=1))
    return float(1.0 / torch.cat(inverse).mean())
