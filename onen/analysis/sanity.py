"""Attack sanity: does a network's own robustness curve behave as a correct attack implies?

Checked from the stored curves of one run (:func:`onen.runs.experiments.run`), each within the sampling error of the
attacked test images (two binomial standard errors, at least one image):

- accuracy at eps = 0 equals clean accuracy on the same images, exactly (``meta["clean_accuracy_attacked"]``, a
  plain forward pass: a mismatch means the attack code changes the input or the model's mode at eps = 0). Results
  stored before that number was kept are compared with the accuracy on all test images, within sampling error;
- PGD accuracy is at most FGSM accuracy at every eps (PGD starts from the same gradient sign and iterates);
- the accuracy of the stronger attack at each eps (the lower of FGSM and PGD), and PGD's own, do not increase with
  eps;
- PGD accuracy reaches at most 1% at the largest eps of the grid.

FGSM on its own is not required to fall monotonically: it takes one step of length eps, and once eps is large the
clipped step turns every image into the same pattern of the gradient's signs, which the net classifies correctly
now and then (Goodfellow et al. 2015; Carlini et al. 2019 require monotonicity of the strongest attack). A rise of
FGSM alone is reported (:attr:`Sanity.fgsm_rises`) without a flag.

A net that fails any check gets no verdict until the failure is explained. Restarts are not in the stored curves;
a second PGD restart is checked by the attack audit, where it is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onen.cache import CachedResult

ZERO_ACCURACY = 0.01


@dataclass(frozen=True)
class Sanity:
    attack_images: int
    eps0_is_clean: bool
    pgd_at_most_fgsm: bool
    non_increasing: bool
    reaches_zero: bool
    fgsm_rises: bool = False

    @property
    def problems(self) -> list[str]:
        names = {"eps0_is_clean": "eps=0 ≠ clean", "pgd_at_most_fgsm": "PGD > FGSM",
                 "non_increasing": "rises with eps", "reaches_zero": f"PGD > {100 * ZERO_ACCURACY:g}% at largest eps"}
        return [words for field, words in names.items() if not getattr(self, field)]

    @property
    def flagged(self) -> bool:
        return bool(self.problems)


def _tolerance(accuracy: np.ndarray, n: int) -> np.ndarray:
    """Two binomial standard errors of an accuracy measured on n images, and never less than one image."""
    return np.maximum(2 * np.sqrt(accuracy * (1 - accuracy) / n), 1.0 / n)


def attack_sanity(run: CachedResult) -> Sanity:
    """The checks of this module on one cached run."""
    evaluation = run.provenance["config"]["eval"]
    n = int(evaluation["test_subset"] or 10000)
    fgsm, pgd = run.arrays["acc_fgsm"], run.arrays["acc_pgd"]
    eps_fgsm, eps_pgd = run.arrays["eps_fgsm"], run.arrays["eps_pgd"]
    clean = float(run.meta["clean_accuracy"])
    if evaluation["test_subset"] is None or "clean_accuracy_attacked" in run.meta:
        same_images = float(run.meta.get("clean_accuracy_attacked", clean))
        eps0 = bool(abs(pgd[0] - same_images) < 1e-9 and abs(fgsm[0] - same_images) < 1e-9)
    else:  # the attacked subset against all 10000 images: equal within the subset's sampling error
        eps0 = bool(abs(pgd[0] - clean) <= _tolerance(np.array(clean), n))
    shared = np.intersect1d(eps_fgsm, eps_pgd)
    at = lambda grid, acc: acc[np.searchsorted(grid, shared)]  # noqa: E731
    p, f = at(eps_pgd, pgd), at(eps_fgsm, fgsm)
    below = bool(np.all(p <= f + _tolerance(np.maximum(p, f), n)))
    rises = lambda acc: bool(np.any(np.diff(acc) > _tolerance(acc[:-1], n)))  # noqa: E731
    return Sanity(attack_images=n, eps0_is_clean=eps0, pgd_at_most_fgsm=below,
                  non_increasing=not (rises(pgd) or rises(np.minimum(p, f))),
                  reaches_zero=bool(pgd[-1] <= ZERO_ACCURACY), fgsm_rises=rises(fgsm))
