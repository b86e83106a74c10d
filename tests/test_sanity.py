"""Attack sanity flags on constructed curves (no MNIST needed)."""

from __future__ import annotations

import numpy as np

from onen.cache import CachedResult
from onen.sanity import attack_sanity

EPS = np.array([0.0, 0.1, 0.2, 0.3])


def fake(fgsm, pgd, clean=0.95, test_subset=None) -> CachedResult:
    arrays = {"acc_fgsm": np.array(fgsm, float), "acc_pgd": np.array(pgd, float), "eps_fgsm": EPS, "eps_pgd": EPS}
    return CachedResult(arrays, {"clean_accuracy": clean}, {"config": {"eval": {"test_subset": test_subset}}})


def test_a_well_behaved_net_is_not_flagged() -> None:
    sanity = attack_sanity(fake([0.95, 0.5, 0.2, 0.05], [0.95, 0.3, 0.02, 0.0]))
    assert not sanity.flagged and sanity.problems == [] and sanity.attack_images == 10000


def test_each_failure_is_named() -> None:
    assert attack_sanity(fake([0.94, 0.5, 0.2, 0.05], [0.94, 0.3, 0.02, 0.0])).problems == ["eps=0 ≠ clean"]
    assert attack_sanity(fake([0.95, 0.3, 0.1, 0.0], [0.95, 0.5, 0.1, 0.0])).problems == ["PGD > FGSM"]
    assert attack_sanity(fake([0.95, 0.5, 0.6, 0.05], [0.95, 0.3, 0.02, 0.0])).problems == ["rises with eps"]
    assert attack_sanity(fake([0.95, 0.5, 0.3, 0.2], [0.95, 0.3, 0.1, 0.05])).problems == ["PGD > 1% at largest eps"]


def test_differences_within_sampling_error_of_a_subset_are_not_flagged() -> None:
    # 500 images: two standard errors at 50% accuracy are 4.5 points, at 95% about 2 points
    sanity = attack_sanity(fake([0.96, 0.50, 0.20, 0.0], [0.96, 0.53, 0.21, 0.0], clean=0.95, test_subset=500))
    assert not sanity.flagged
    assert attack_sanity(fake([0.96, 0.50, 0.2, 0.0], [0.96, 0.60, 0.2, 0.0], test_subset=500)).problems == [
        "PGD > FGSM"]
