"""Attack sanity flags on constructed curves (no MNIST needed)."""

from __future__ import annotations

import numpy as np

from onen.cache import CachedResult
from onen.analysis.sanity import attack_sanity

EPS = np.array([0.0, 0.1, 0.2, 0.3])


def fake(fgsm, pgd, clean=0.95, test_subset=None, clean_attacked=None) -> CachedResult:
    arrays = {"acc_fgsm": np.array(fgsm, float), "acc_pgd": np.array(pgd, float), "eps_fgsm": EPS, "eps_pgd": EPS}
    meta = {"clean_accuracy": clean} | ({} if clean_attacked is None else {"clean_accuracy_attacked": clean_attacked})
    return CachedResult(arrays, meta, {"config": {"eval": {"test_subset": test_subset}}})


def test_a_well_behaved_net_is_not_flagged() -> None:
    sanity = attack_sanity(fake([0.95, 0.5, 0.2, 0.05], [0.95, 0.3, 0.02, 0.0]))
    assert not sanity.flagged and sanity.problems == [] and sanity.attack_images == 10000


def test_each_failure_is_named() -> None:
    assert attack_sanity(fake([0.94, 0.5, 0.2, 0.05], [0.94, 0.3, 0.02, 0.0])).problems == ["eps=0 ≠ clean"]
    assert attack_sanity(fake([0.95, 0.3, 0.1, 0.0], [0.95, 0.5, 0.1, 0.0])).problems == ["PGD > FGSM"]
    assert attack_sanity(fake([0.95, 0.5, 0.6, 0.05], [0.95, 0.3, 0.4, 0.0])).problems == ["rises with eps"]
    assert attack_sanity(fake([0.95, 0.5, 0.3, 0.2], [0.95, 0.3, 0.1, 0.05])).problems == ["PGD > 1% at largest eps"]


def test_differences_within_sampling_error_of_a_subset_are_not_flagged() -> None:
    # 500 images: two standard errors at 50% accuracy are 4.5 points, at 95% about 2 points
    sanity = attack_sanity(fake([0.96, 0.50, 0.20, 0.0], [0.96, 0.53, 0.21, 0.0], clean=0.95, test_subset=500))
    assert not sanity.flagged
    assert attack_sanity(fake([0.96, 0.50, 0.2, 0.0], [0.96, 0.60, 0.2, 0.0], test_subset=500)).problems == [
        "PGD > FGSM"]


def test_eps0_on_a_subset_is_exact_against_the_same_images() -> None:
    # the subset's own clean accuracy is known: any difference is an attack defect, however small
    curves = ([0.912, 0.5, 0.2, 0.0], [0.912, 0.3, 0.02, 0.0])
    assert not attack_sanity(fake(*curves, clean=0.938, test_subset=500, clean_attacked=0.912)).flagged
    assert attack_sanity(fake(*curves, clean=0.912, test_subset=500, clean_attacked=0.914)).problems == [
        "eps=0 ≠ clean"]
    # without it, the 500 images are compared with all 10000 within two standard errors (2.1 points here)
    assert attack_sanity(fake(*curves, clean=0.938, test_subset=500)).problems == ["eps=0 ≠ clean"]
    assert not attack_sanity(fake(*curves, clean=0.925, test_subset=500)).flagged


def test_fgsm_alone_rising_at_large_eps_is_reported_not_flagged() -> None:
    # single-step FGSM saturates: past the point where PGD is at zero, its accuracy may creep up
    sanity = attack_sanity(fake([0.95, 0.3, 0.002, 0.06], [0.95, 0.1, 0.0, 0.0]))
    assert sanity.fgsm_rises and not sanity.flagged
    # while the stronger attack at each eps rising is flagged, and so is PGD rising on its own
    assert "rises with eps" in attack_sanity(fake([0.95, 0.3, 0.1, 0.2], [0.95, 0.1, 0.05, 0.2])).problems
    assert attack_sanity(fake([0.95, 0.6, 0.4, 0.1], [0.95, 0.1, 0.0, 0.0])).fgsm_rises is False
