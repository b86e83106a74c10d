"""What a shaped layer costs, and why it recomputes its eigenbasis every step.

1. One training step of the paper's shallow net (784-2000-10 tanh, batch 3500, Adam with AMSGrad): Vanilla, and with
   a :class:`onen.SpectrumShaping` layer (alpha 1, tau 10) after the hidden tanh. The two are timed interleaved, so
   both see the same machine load, and reported as a ratio.
2. The error of a stale eigenbasis: shaping the next batch with the eigenvectors of the previous one (the gains
   taken from the new batch's variances along them) instead of its own. Reported as the range of
   lambda_n(shaped) / gamma_n over the ranks.

Run: PYTHONPATH=. python benchmarks/shaping_cost.py [--repeats 5] [--threads 1] [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from onen.shaping import SpectrumShaping, target_spectrum


def net(shaped: bool) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(784, 2000), nn.Tanh()]
    if shaped:
        layers.append(SpectrumShaping(2000, alpha=1.0, tau=10))
    return nn.Sequential(*layers, nn.Linear(2000, 10))


def step_time(model: nn.Module, optimiser: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    began = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return time.perf_counter() - began


def stale_basis_error(x0: torch.Tensor, x1: torch.Tensor) -> tuple[float, float]:
    """(min, max) of lambda_n / gamma_n when x1 is shaped with x0's eigenvectors and x1's own variances."""
    def cov(h: torch.Tensor) -> torch.Tensor:
        c = h.double() - h.double().mean(0)
        return c.T @ c / (h.shape[0] - 1)

    basis = torch.linalg.eigh(cov(x0))[1]
    variances = ((cov(x1) @ basis) * basis).sum(0)  # x1's variances along x0's eigenvectors, ranked afresh
    order = torch.argsort(variances, descending=True)
    variances, basis = variances[order], basis[:, order]
    gain = (target_spectrum(variances, 10, 1.0) / variances).sqrt()
    stale = (x1.double() - x1.double().mean(0)) @ ((basis * gain) @ basis.T)
    shaped = torch.linalg.eigvalsh(cov(stale)).flip(0)
    gamma = target_spectrum(torch.linalg.eigvalsh(cov(x1)).flip(0), 10, 1.0)
    ratio = (shaped / gamma).numpy()
    return float(ratio.min()), float(ratio.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.rand(3500, 784), torch.randint(0, 10, (3500,))
    models = {name: net(name == "shaped") for name in ("vanilla", "shaped")}
    optimisers = {name: torch.optim.Adam(m.parameters(), lr=1e-3, amsgrad=True) for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for name in models:  # warm-up
        step_time(models[name], optimisers[name], x, y)
    for _ in range(args.repeats):
        for name in models:
            times[name].append(step_time(models[name], optimisers[name], x, y))
    median = {name: statistics.median(t) for name, t in times.items()}
    with torch.no_grad():
        hidden = models["vanilla"][:2]
        low, high = stale_basis_error(hidden(torch.rand(3500, 784)), hidden(torch.rand(3500, 784)))
    result = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
              "torch": torch.__version__, "date": datetime.date.today().isoformat(),
              "step_seconds": median, "ratio_shaped_to_vanilla": median["shaped"] / median["vanilla"],
              "stale_basis_ratio_range": [low, high]}
    print(f"step (median of {args.repeats}, {args.threads} thread(s)): vanilla {median['vanilla']:.3f} s, "
          f"shaped {median['shaped']:.3f} s, ratio {result['ratio_shaped_to_vanilla']:.1f}")
    print(f"stale basis (previous batch's eigenvectors): lambda/gamma from {low:.3g} to {high:.3g}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
