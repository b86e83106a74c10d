"""Train the paper's shallow net (784-2000-10 tanh) on all of MNIST, with and without the spectral penalty, on CPU.

Prints clean test accuracy and the hidden layer's fitted exponent after every epoch, then the final spectra's ratio to
the 1/n target at a few ranks. Usage::

    ONEN_DATA=../shared/data python benchmarks/demo_shallow.py --epochs 10 --batch-size 2000 --beta 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from onen.data import load_mnist
from onen.spectrum import fit_power_law, layer_spectra
from onen.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--beta", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eigen-subset", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train_split, test_split = load_mnist("train"), load_mnist("test")
    ranks = np.array([11, 20, 50, 100, 200, 500, 1000])
    for regularizer in ("none", "spectral"):
        config = TrainConfig(widths=[2000], regularizer=regularizer, beta=args.beta, lr=args.lr, epochs=args.epochs,
                             batch_size=args.batch_size, eigen_subset=args.eigen_subset, seed=args.seed)
        began = time.perf_counter()
        model, history = train(config, train_split, test_split, progress=False)
        spectrum = layer_spectra(model, list(model.blocks), test_split.images)[0]
        print(f"{regularizer:>8}: {time.perf_counter() - began:.0f} s")
        print("  test accuracy per epoch:", " ".join(f"{a:.4f}" for a in history.test_accuracy))
        print("  fitted alpha per epoch (eigen subset, ranks 11-500):", " ".join(f"{a[0]:.3f}" for a in history.alphas))
        print(f"  final alpha on the 10000 test images: {fit_power_law(spectrum):.3f}")
        target = spectrum[10] * 11 / ranks
        print("  lambda_n / (1/n target) at n =", dict(zip(ranks.tolist(), np.round(spectrum[ranks - 1] / target, 3))))


if __name__ == "__main__":
    main()
