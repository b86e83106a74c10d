"""The two chapters on deep networks (sections 4.2 and 4.3): both train every variant on the MLP 3x1000 and on the
CNN, and show the same figures and tables per architecture. This module holds what they share; each chapter keeps its
own text and its own choice of variants and contrasts.

``results`` below maps an architecture ("mlp", "cnn") to that architecture's :data:`onen.analysis.report.Results`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from onen.analysis import control, profiles, report
from onen.cache import CachedResult
from onen.runs.experiments import run_seeds, stored_seeds
from onen.analysis.profiles import ChapterSetup
from onen.analysis.stats import PairedContrast
from onen.analysis.tables import Table
from onen.runs.training import TrainConfig

ARCHS: dict[str, str] = {"mlp": "MLP 3x1000", "cnn": "CNN"}  # architecture -> display name

ArchResults = Mapping[str, report.Results]


def variants(maker: Callable[[str, str], dict[str, TrainConfig]], profile: str) -> dict[str, dict[str, TrainConfig]]:
    """``maker(arch, profile)`` (e.g. :func:`onen.analysis.profiles.last_layer_variants`) for each architecture."""
    return {arch: maker(arch, profile) for arch in ARCHS}


def stored_paper(maker: Callable[[str, str], dict[str, TrainConfig]]) -> tuple[dict[str, dict[str, list[CachedResult]]],
                                                                                list[list[str]]]:
    """The paper-profile networks of ``maker`` committed under ``results/paper``; never trains.

    Returns, per architecture that has any, the stored results of each variant with at least one seed, and a status
    row for every variant of every architecture ("MLP 3x1000 Vanilla", then "GPU", "CPU" or "missing" per seed)."""
    evaluation, seeds = profiles.evaluation("paper"), profiles.seeds("paper")
    folder = str(profiles.committed_results("paper"))
    results, rows = {}, []
    for arch, by_name in variants(maker, "paper").items():
        found, arch_rows = stored_seeds(by_name, evaluation, seeds, folder)
        if found:
            results[arch] = found
        rows += [[f"{ARCHS[arch]} {name}", *status] for name, *status in arch_rows]
    return results, rows


def paper_tables(maker: Callable[[str, str], dict[str, TrainConfig]],
                 section: str) -> tuple[dict[str, dict[str, list[CachedResult]]], list[Table], str]:
    """:func:`stored_paper` of ``maker``, its tables and a sentence saying what is computed. The tables: the status
    of every network (:func:`report.status_table`), then, per architecture with any computed network, the summary
    of those networks over the seeds each has."""
    results, rows = stored_paper(maker)
    seeds = profiles.seeds("paper")
    tables = [report.status_table(rows, seeds, section)]
    tables += [report.summary_table(report.with_seed_counts(runs), layers=_layers(runs),
                                    caption=f"{ARCHS[arch]}, paper profile: the computed networks (mean ± sd over "
                                            "the seeds in brackets)")
               for arch, runs in results.items()]
    total = len(rows) * len(seeds)
    computed = [f"{ARCHS[arch]} {name} ({len(runs)} seed{'s' if len(runs) != 1 else ''})"
                for arch, by_name in results.items() for name, runs in by_name.items()]
    done = sum(len(runs) for by_name in results.values() for runs in by_name.values())
    sentence = (f"None of its {total} networks is computed yet." if not computed else
                f"So far {done} of its {total} networks are computed: {', '.join(computed)}.")
    return results, tables, sentence


def load(configs: Mapping[str, Mapping[str, TrainConfig]],
         setup: ChapterSetup) -> dict[str, dict[str, list[CachedResult]]]:
    """Every variant of every architecture, trained or loaded from the cache for each of the set-up's seeds."""
    return {arch: {name: run_seeds(config, setup.evaluation, setup.seeds, setup.results_dir, setup.device)
                   for name, config in by_name.items()}
            for arch, by_name in configs.items()}


def _layers(results: report.Results) -> list[int]:
    return list(range(report.n_blocks(next(iter(results.values()))[0])))


def frontier_figure(results: ArchResults, frontiers: Mapping[str, control.Frontier]) -> Figure:
    """Per architecture, :func:`onen.analysis.control.frontier_panel`: PGD eps50 against clean accuracy on the
    attacked images, Vanilla's frontier (Vanilla stopped early and trained to the end, mean over seeds) dashed and
    every variant's mean over seeds a labelled point."""
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
    for ax, arch in zip(axes[0], results):
        control.frontier_panel(ax, results[arch], frontiers[arch])
        ax.set(title=ARCHS[arch], ylabel=r"PGD $\epsilon_{50}$")
    fig.tight_layout()
    return fig


def robustness_panels(results: ArchResults, attacks: Sequence[str] = ("fgsm", "pgd"),
                      height: float = 4.2) -> Figure:
    """:func:`onen.analysis.report.robustness_figure` of each architecture, side by side, titled with its display name."""
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), height), squeeze=False)
    for ax, arch in zip(axes[0], results):
        report.robustness_figure(results[arch], attacks=attacks, title=ARCHS[arch], ax=ax)
    fig.tight_layout()
    return fig


def spectra_figures(results: ArchResults) -> dict[str, Figure]:
    """Per architecture, :func:`onen.analysis.report.spectra_figure` of every hidden layer."""
    return {arch: report.spectra_figure(runs, layers=_layers(runs),
                                        layer_names=[f"{ARCHS[arch]}, hidden layer {l + 1}" for l in _layers(runs)])
            for arch, runs in results.items()}


def summary_tables(results: ArchResults) -> list[Table]:
    """Per architecture, :func:`onen.analysis.report.summary_table` over every hidden layer, captioned with its name."""
    return [report.summary_table(runs, layers=_layers(runs), caption=ARCHS[arch]) for arch, runs in results.items()]


def chosen_contrasts(results: report.Results, family: str, pairs: Sequence[tuple[str, str, str]],
                     ) -> tuple[str, dict[str, PairedContrast]]:
    """The beta that :func:`onen.analysis.report.closest_beta` chooses for ``family`` (spectra only), and the eps50 contrast
    (:func:`onen.analysis.report.paired_effect`) of each (label, better, worse) pair, where ``{chosen}`` in a name stands for
    the chosen variant and ``{beta}`` for its beta, e.g. ("specwh", "SpecReg-Wh (last) β={beta}", "Vanilla-Wh")."""
    chosen, _ = report.closest_beta(results, family)
    beta = chosen.split("β=")[1]
    effects = {label: report.paired_effect(results, better.format(chosen=chosen, beta=beta),
                                           worse.format(chosen=chosen, beta=beta))
               for label, better, worse in pairs}
    return beta, effects


def chosen_glue(results: Mapping[str, report.Results], prefix: str, family: str,
                pairs: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """The values a deep chapter glues for each architecture of ``results``: ``<prefix>-<arch>-beta`` (the chosen
    beta) and ``<prefix>-<arch>-<label>`` (the mean eps50 contrast of each pair of :func:`chosen_contrasts`)."""
    values: dict[str, Any] = {}
    for arch, runs in results.items():
        beta, effects = chosen_contrasts(runs, family, pairs)
        values[f"{prefix}-{arch}-beta"] = beta
        values.update({f"{prefix}-{arch}-{label}": effect.mean for label, effect in effects.items()})
    return values
