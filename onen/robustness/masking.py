"""AutoAttack-style warnings that a robustness curve is an artefact of gradient masking (Croce & Hein 2020; Carlini
et al. 2019), read from the curves of :func:`onen.robustness.audit.audit_curves` and
:func:`onen.robustness.audit.transfer_curve`.

Each check is a bool (True = suspicious) with one sentence saying what was found, or why it could not be made:

- ``"black_box_beats_white_box"``: at some eps, Square or a transfer attack leaves lower accuracy than the strongest
  white-box attack run (the per-eps minimum over pgd, pgd_restarts, apgd_ce, apgd_t) by more than ``z`` standard
  errors of the paired difference. A gradient-based attack with gradients that mean something is never beaten by a
  gradient-free one with a small budget, or by gradients of another network.
- ``"restarts_matter"``: the extra PGD starts lower PGD's accuracy by more than ``restart_gap`` (2 points) at some
  eps, counted in images: a loss surface so rugged that the starting point decides the outcome.
- ``"not_zero_at_largest_eps"``: at the largest eps the ensemble ("worst") leaves more than ``zero_level`` (1%) plus
  ``z`` binomial standard errors. An eps that large should break every image; only meaningful when the grid ends at
  a large radius (0.5 for MNIST).
- ``"any"``: any of the three.

The noise threshold. Both accuracies of a comparison are measured on the same N images, so their difference is a mean
of paired differences d_i = a_i - b_i in {-1, 0, 1}; its standard error sd(d) / sqrt(N) is estimated from the
per-image outcomes (``correct_*``), which is McNemar's test in its normal form. z = 2 is a two-sided 5% level per
comparison; with no per-image arrays the standard error is bounded from the marginals (the discordant fraction is at
most min(p + q, 2 - p - q)). A check on attacks that were not run is False, with a reason that says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

WHITE_BOX: tuple[str, ...] = ("pgd", "pgd_restarts", "apgd_ce", "apgd_t")
BLACK_BOX: tuple[str, ...] = ("square", "transfer")
Curves = Mapping[str, np.ndarray]


class MaskingFlags(dict[str, bool]):
    """``dict[str, bool]`` of the masking checks (see :func:`masking_flags`), with ``reasons[name]``: one sentence
    saying what was found, or why the check could not be made."""

    reasons: dict[str, str]

    def __init__(self, flags: dict[str, bool], reasons: dict[str, str]) -> None:
        super().__init__(flags)
        self.reasons = dict(reasons)


def _paired_se(a: np.ndarray, b: np.ndarray) -> float:
    """Standard error of mean(a) - mean(b) for paired 0/1 outcomes a, b [N]: sd of d_i = a_i - b_i over sqrt(N)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    n = d.size
    return float(math.sqrt(max(np.mean(d * d) - np.mean(d) ** 2, 0.0) / n))


def _marginal_se(p: float, q: float, n: int) -> float:
    """Largest possible standard error of a paired difference of two accuracies p and q on n images when only the
    marginals are known: the discordant fraction is at most min(p + q, 2 - p - q)."""
    discordant = min(p + q, 2.0 - p - q)
    return float(math.sqrt(max(discordant - (p - q) ** 2, 0.0) / n))


def _accuracy(curves: Curves, name: str) -> np.ndarray:
    return np.asarray(curves[name], dtype=np.float64)


def black_box_beats_white_box(curves: Curves, n_images: int, z: float) -> tuple[bool, str]:
    """Check (a): does Square or the transfer attack beat the strongest white-box attack beyond ``z`` paired SE?"""
    white = [a for a in WHITE_BOX if a in curves]
    black = [a for a in BLACK_BOX if a in curves]
    if not white or not black:
        return False, "not checked: needs a white-box attack and square or transfer"
    eps = np.asarray(curves["eps"], dtype=np.float64)
    found: list[str] = []
    for k in range(eps.size):
        strongest = min(white, key=lambda a: _accuracy(curves, a)[k])
        for b in black:
            p, q = _accuracy(curves, strongest)[k], _accuracy(curves, b)[k]
            if f"correct_{strongest}" in curves and f"correct_{b}" in curves:
                se = _paired_se(np.asarray(curves[f"correct_{strongest}"])[k], np.asarray(curves[f"correct_{b}"])[k])
            else:
                se = _marginal_se(p, q, n_images)
            if p - q > 0 and p - q > z * se:
                found.append(f"eps={eps[k]:g}: {b} {q:.1%} < {strongest} {p:.1%} "
                             f"(gap {p - q:.1%} > {z:g} SE = {z * se:.1%})")
    if found:
        return True, "; ".join(found)
    return False, f"{', '.join(black)} never beat the best of {', '.join(white)} beyond {z:g} paired SE"


def restarts_matter(curves: Curves, n_images: int, restart_gap: float) -> tuple[bool, str]:
    """Check (b): do the extra PGD starts break more than ``restart_gap`` of the images at some eps? Counted in images
    (comparing a difference of two floats with the gap would flag 10 images of 500 in one net and not in another, by
    rounding)."""
    if "pgd" not in curves or "pgd_restarts" not in curves:
        return False, "not checked: needs pgd and pgd_restarts"
    eps = np.asarray(curves["eps"], dtype=np.float64)
    gained = np.rint((_accuracy(curves, "pgd") - _accuracy(curves, "pgd_restarts")) * n_images).astype(np.int64)
    k = int(np.argmax(gained))
    flag = bool(gained[k] > restart_gap * n_images + 1e-9)
    return flag, (f"largest gain of restarts over one PGD start: {gained[k] / n_images:.1%} at eps={eps[k]:g} "
                  f"({'>' if flag else '<='} {restart_gap:.0%})")


def not_zero_at_largest_eps(curves: Curves, n_images: int, z: float, zero_level: float) -> tuple[bool, str]:
    """Check (c): does the ensemble (else the first attack run) leave more than ``zero_level`` + ``z`` binomial SE
    at the grid's largest eps?"""
    final = "worst" if "worst" in curves else next((a for a in (*WHITE_BOX, *BLACK_BOX) if a in curves), None)
    if final is None:
        return False, "not checked: no attack curve"
    eps = np.asarray(curves["eps"], dtype=np.float64)
    level = zero_level + z * math.sqrt(zero_level * (1 - zero_level) / n_images)
    last = float(_accuracy(curves, final)[-1])
    return last > level, (f"{final} accuracy at the largest eps={eps[-1]:g}: {last:.1%} "
                          f"({'>' if last > level else '<='} {zero_level:.0%} + {z:g} SE = {level:.1%})")


def masking_flags(curves: Curves, n_images: int, *, z: float = 2.0, restart_gap: float = 0.02,
                  zero_level: float = 0.01) -> MaskingFlags:
    """The three checks of this module's docstring on ``curves`` (the output of
    :func:`onen.robustness.audit.audit_curves`, optionally merged with :func:`onen.robustness.audit.transfer_curve`'s,
    or the arrays of :func:`onen.robustness.audit.audit_run`); ``n_images`` the number of images behind them
    (checked against the per-image arrays)."""
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise ValueError(f"n_images must be an integer >= 1, got {n_images!r}")
    if not (math.isfinite(z) and z >= 0 and math.isfinite(restart_gap) and restart_gap >= 0
            and 0 <= zero_level < 1):
        raise ValueError(f"need z >= 0, restart_gap >= 0 and 0 <= zero_level < 1, got {z}, {restart_gap}, "
                         f"{zero_level}")
    if "eps" not in curves:
        raise ValueError("curves must hold the eps grid under 'eps' (the output of audit_curves)")
    size = np.asarray(curves["eps"]).size
    for key, value in curves.items():
        if key.startswith("correct_") and key != "correct_clean" and np.asarray(value).shape != (size, n_images):
            raise ValueError(f"{key} has shape {np.asarray(value).shape}, expected ({size}, {n_images})")
    checks = {"black_box_beats_white_box": black_box_beats_white_box(curves, int(n_images), z),
              "restarts_matter": restarts_matter(curves, int(n_images), restart_gap),
              "not_zero_at_largest_eps": not_zero_at_largest_eps(curves, int(n_images), z, zero_level)}
    flags = {name: flag for name, (flag, _) in checks.items()}
    reasons = {name: reason for name, (_, reason) in checks.items()}
    flags["any"] = any(flags.values())
    reasons["any"] = ", ".join(k for k, v in flags.items() if v and k != "any") or "no check raised"
    return MaskingFlags(flags, reasons)
