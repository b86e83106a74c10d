"""The input-output Jacobian penalty of Hoffman, Roberts & Yaida (2019), "Robust learning with Jacobian regularization".

For a classifier f: R^D -> R^C (logits), the penalty is the batch mean of ||J_b||_F^2 with J_b = d f(x_b) / d x_b
[C, D]. It is added to the training loss as CE + (lambda / 2) * jacobian_norm_sq(model, x).

Exact: ||J||_F^2 = sum_c ||e_c^T J||^2, one vector-Jacobian product per class (C backward passes).
Random projection: for v uniform on the unit sphere of R^C, E[v v^T] = I / C, so E[C ||v^T J||^2] = tr(J^T J) =
||J||_F^2; averaging n_proj independent draws gives an unbiased estimate at the cost of n_proj backward passes.
Each example draws its own v (rather than one v shared by the batch): the estimate stays unbiased and the batch mean
averages B independent draws, which lowers its variance at no extra cost.

Both use d(sum_b w_b^T f(x_b)) / dx = [w_b^T J_b]_b, which holds when each example's logits depend on that example's
input only: true in eval mode and for models without batch-coupled layers (e.g. BatchNorm in train mode couples them).
"""

from __future__ import annotations

import numbers

import torch
import torch.nn as nn
from torch import Tensor


def jacobian_norm_sq(
    model: nn.Module,
    x: Tensor,
    n_proj: int = 1,
    create_graph: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Batch mean of ||d logits_b / d x_b||_F^2, exact (n_proj == -1) or a random-projection estimate (n_proj >= 1).

    x: [B, ...] floating; model(x): [B, C]. Returns a scalar tensor, differentiable w.r.t. the model's parameters when
    create_graph is True (use it as a training penalty) and detached otherwise. The projections are drawn from
    ``generator`` (on x's device) as N(0, I) vectors normalised to unit length, shape [n_proj, B, C]. The model's
    train/eval mode is left as it is.
    """
    if not isinstance(n_proj, numbers.Integral) or n_proj == 0 or n_proj < -1:
        raise ValueError(f"n_proj must be -1 (exact) or a positive integer, got {n_proj!r}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    n_proj = int(n_proj)
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
        raise ValueError(f"model(x) must be logits [B, C] with B = {x.shape[0]}, got {tuple(logits.shape)}")
    batch, classes = logits.shape

    if n_proj == -1:
        # one-hot rows e_c, shared by the batch: C vector-Jacobian products
        vs = torch.eye(classes, device=logits.device, dtype=logits.dtype).unsqueeze(1).expand(classes, batch, classes)
        scale = 1.0
    else:
        vs = torch.randn((n_proj, batch, classes), generator=generator, device=logits.device, dtype=logits.dtype)
        vs = vs / vs.norm(dim=-1, keepdim=True)
        scale = classes / n_proj

    total = logits.new_zeros(())
    for i, v in enumerate(vs):  # v: [B, C]; a loop over classes or projections, never over samples
        last = i == len(vs) - 1
        (vjp,) = torch.autograd.grad(
            logits, x, grad_outputs=v, create_graph=create_graph, retain_graph=create_graph or not last
        )
        total = total + vjp.pow(2).sum()  # sum over the batch and input dims of (v_b^T J_b)^2
    return scale * total / batch
