"""The cached runs of the three chapters on the regularizer's mechanics (regularizer, eigenbasis, tracked), computed
from the command line as the chapters compute them: ``python -m onen regularizer eigenbasis tracked --profile P``.
Each uses :func:`onen.analysis.profiles.regularizer_settings` and the functions of :mod:`onen.runs.regularizer_runs`
with the same arguments as its chapter, so the chapter then loads every result from the cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from onen.analysis import profiles
from onen.analysis.settings import RegularizerSettings
from onen.runs import regularizer_runs as runs


def _regularizer(settings: RegularizerSettings, seeds: Sequence[int], results_dir: str, device: str) -> int:
    return len(runs.run_variants(runs.sweep_variants(settings), settings, seeds, results_dir, device))


def _eigenbasis(settings: RegularizerSettings, seeds: Sequence[int], results_dir: str, device: str) -> int:
    runs.batch_size_study(runs.batch_study_settings(settings.batch_study_draws), results_dir)
    return 1 + len(runs.run_variants(runs.staleness_variants(settings), settings, seeds, results_dir, device))


def _tracked(settings: RegularizerSettings, seeds: Sequence[int], results_dir: str, device: str) -> int:
    return len(runs.basis_error_runs(settings, profiles.TRACKED, seeds[0], results_dir, device))


MECHANICS: dict[str, Callable[[RegularizerSettings, Sequence[int], str, str], int]] = {
    "regularizer": _regularizer, "eigenbasis": _eigenbasis, "tracked": _tracked}


def compute(chapter: str, profile: str, seeds: Sequence[int] | None, results_dir: str, device: str) -> int:
    """Compute (or load) every cached run of ``chapter`` for ``profile``; returns how many results it holds."""
    return MECHANICS[chapter](profiles.regularizer_settings(profile), list(seeds or profiles.seeds(profile)),
                              results_dir, device)
