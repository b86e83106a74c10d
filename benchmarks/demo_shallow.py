"""Train the paper's shallow net (784-2000-10 tanh) on all of MNIST, with and without the spectral penalty, on CPU.

Three runs share every setting but the penalty: vanilla; the spectral penalty with the paper's once-per-epoch
eigenbasis; and the spectral penalty with the eigenbasis also refreshed every ``--refresh-every`` steps. Prints clean
test accuracy and the hidden layer's fitted exponent after every epoch, the final spectrum's ratio to the 1/n target
at a few ranks, and (with ``--figure``) saves the three final spectra and the per-epoch curves. Usage::

    ONEN_DATA=../shared/data python benchmarks/demo_shallow.py --figure demo_shallow.png

Batch 2000 is the smallest batch the penalty accepts for a 2000-wide layer unless told otherwise (a smaller batch
covariance is rank-deficient; ``TrainConfig.allow_small_batch`` opts in), so an epoch of 60000 images is only 30
steps; a learning rate of 5e-3 (the paper uses 1e-3 for 50 epochs) gets there in a few epochs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from onen.data import load_mnist
from onen.spectrum import fit_power_law, layer_spectra
from onen.runs.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--eigen-subset", type=int, default=10000,
                        help="training images the eigenbasis is computed from (default 10000)")
    parser.add_argument("--refresh-every", type=int, default=5,
                        help="steps between eigenbasis refreshes in the third run (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None, help="save spectra and per-epoch curves to this image file")
    args = parser.parse_args()
    train_split, test_split = load_mnist("train"), load_mnist("test")
    ranks = np.array([11, 20, 50, 100, 200, 500, 1000])
    runs = {
        "vanilla": dict(regularizer="none"),
        f"spectral beta={args.beta:g}, basis per epoch": dict(regularizer="spectral"),
        f"spectral beta={args.beta:g}, basis every {args.refresh_every} steps": dict(
            regularizer="spectral", refresh_every=args.refresh_every),
    }
    results = {}
    for name, overrides in runs.items():
        config = TrainConfig(widths=[2000], beta=args.beta, lr=args.lr, epochs=args.epochs,
                             batch_size=args.batch_size, eigen_subset=args.eigen_subset, seed=args.seed, **overrides)
        began = time.perf_counter()
        model, history = train(config, train_split, test_split, progress=False)
        seconds = time.perf_counter() - began
        spectrum = layer_spectra(model, list(model.blocks), test_split.images)[0]
        alpha = fit_power_law(spectrum)
        results[name] = (history, spectrum, alpha)
        print(f"{name}: {seconds:.0f} s")
        print("  test accuracy per epoch:", " ".join(f"{a:.4f}" for a in history.test_accuracy))
        print("  fitted alpha per epoch (eigen subset, ranks 11-500):", " ".join(f"{a[0]:.3f}" for a in history.alphas))
        print(f"  final alpha on the 10000 test images: {alpha:.3f}")
        target = spectrum[10] * 11 / ranks
        ratios = spectrum[ranks - 1] / target
        print("  lambda_n / (1/n target):", ", ".join(f"n={n} {r:.3f}" for n, r in zip(ranks, ratios)))
    print("summary: first epoch above 95% clean accuracy; final test-set alpha and its distance from 1")
    for name, (history, _, alpha) in results.items():
        above = [epoch + 1 for epoch, acc in enumerate(history.test_accuracy) if acc > 0.95]
        print(f"  {name:<40} {above[0] if above else 'never':>5}   alpha {alpha:.3f}   |alpha - 1| {abs(alpha - 1):.3f}")
    if args.figure:
        save_figure(results, args.figure)
        print(f"figure: {args.figure}")


def save_figure(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from onen.analysis.plotting import plot_spectra, use_style

    use_style()
    fig, (ax_spec, ax_alpha, ax_acc) = plt.subplots(1, 3, figsize=(13, 3.8))
    plot_spectra(ax_spec, {name: spectrum for name, (_, spectrum, _) in results.items()})
    ax_spec.set_title("hidden-layer spectrum on the test set")
    for name, (history, _, _) in results.items():
        epochs = np.arange(1, len(history.test_accuracy) + 1)
        ax_alpha.plot(epochs, [a[0] for a in history.alphas], marker="o", label=name)
        ax_acc.plot(epochs, history.test_accuracy, marker="o", label=name)
    ax_alpha.axhline(1.0, color="grey", linestyle=":")
    ax_alpha.set(xlabel="epoch", ylabel="fitted alpha (ranks 11-500)", title="decay exponent")
    ax_acc.axhline(0.95, color="grey", linestyle=":")
    ax_acc.set(xlabel="epoch", ylabel="clean test accuracy", title="accuracy")
    ax_acc.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
