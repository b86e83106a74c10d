"""The command line that computes (and caches) the book's networks: ``python -m onen``.

    python -m onen shallow deep_last_layer deep_all_layers --profile paper --device cuda
    python -m onen shallow --profile paper --device cuda --workers 12
    python -m onen search --profile paper --device cpu

Every finished network is printed with an ETA for the rest (and, when the output is not a terminal, every
finished epoch with an ETA for its network); training resumes from per-epoch checkpoints.

``--workers N`` trains N networks at once, each in its own process (a small network does not fill a GPU, so several
share one). The networks are then started longest first, by epochs times steps per epoch, so that the last to finish
is a short one. A network that fails is reported with its traceback while the others go on, and the command exits
with an error naming every failed network. With the same CPU thread count (``--threads``), each result is bitwise the
one a single process computes: every network is seeded by its own configuration, and workers share nothing but the
results and checkpoint folders (written atomically, and under a lock while a network trains).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import logging
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Sequence
from typing import Any

from onen.analysis import profiles
from onen.runs import search
from onen.robustness.audit import AuditConfig, audit_run, stored_audit
from onen.runs.config import CIFAR_DATASET, EvalConfig, TrainConfig
from onen.runs.experiments import NotCached, interactive, run, stored
from onen.runs.training import resolve_device
from onen.commands.reproduce import main as reproduce_main
from onen.runs.calibration_run import calibration_result


@dataclasses.dataclass(frozen=True)
class Job:
    """One network of one chapter: what :func:`compute` trains (or loads) and evaluates."""

    chapter: str
    name: str
    seed: int
    config: TrainConfig  # already carrying ``seed``
    evaluation: EvalConfig | int | None  # for the search: the number of test images its spectrum uses (None: all)
    # the attack audit computed right after training, while the weights exist (checkpoints do not move between
    # machines), and the network whose PGD examples its transfer attack tries
    audit: AuditConfig | None = None
    transfer_source: TrainConfig | None = None

    @property
    def label(self) -> str:
        return f"{self.chapter} {self.name} seed {self.seed}"

    def steps(self) -> float:
        """Epochs times minibatches per epoch: the order in which ``--workers`` starts networks (largest first)."""
        images = self.config.train_subset or (50000 if self.config.dataset == CIFAR_DATASET else 60000)
        return self.config.epochs * math.ceil(images / self.config.batch_size)


def compute(job: Job, results_dir: str, device: str, progress: bool | None = None) -> tuple[float, bool]:
    """Train (or load) and evaluate ``job``; returns its wall time and whether it was computed rather than loaded."""
    start = time.perf_counter()
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        fresh = search.stored_point(job.config, job.evaluation, results_dir) is None
        search.search_point(job.config, job.evaluation, results_dir, device, progress)
    else:
        assert isinstance(job.evaluation, EvalConfig), job.label
        fresh = stored(job.config, job.evaluation, results_dir) is None
        run(job.config, job.evaluation, results_dir, device, progress)
        if job.audit is not None:
            fresh = fresh or stored_audit(job.config, job.audit, results_dir,
                                          transfer_source=job.transfer_source) is None
            audit_run(job.config, job.audit, results_dir, device, transfer_source=job.transfer_source,
                      progress=progress)
    return time.perf_counter() - start, fresh


def _worker_init(threads: int, log: bool) -> None:
    import torch

    torch.set_num_threads(threads)
    if log:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


def _worker(job: Job, results_dir: str, device: str) -> tuple[float, bool]:
    return compute(job, results_dir, device, progress=False)  # several bars from several processes would garble


def _report(index: int, total: int, job: Job, seconds: float, fresh: bool, began: float, eta_s: float | None) -> None:
    eta = f" ETA {eta_s / 60:.0f} min" if eta_s is not None else ""
    print(f"[{index}/{total}] {job.label}: {'computed' if fresh else 'cached'} in {seconds:.0f} s; elapsed "
          f"{(time.perf_counter() - began) / 60:.1f} min{eta}", flush=True)


def start_order(jobs: Sequence[Job]) -> list[Job]:
    """The order in which several workers start ``jobs``: most steps first (:meth:`Job.steps`), equal sizes in
    their given order, so that the last network to finish is a short one."""
    return sorted(jobs, key=lambda job: -job.steps())


def run_jobs(jobs: Sequence[Job], results_dir: str, device: str, workers: int = 1,
             threads: int | None = None) -> list[str]:
    """Compute ``jobs``; returns the labels of those that failed (always empty with one worker, which raises).

    One worker runs them in order in this process. More start them longest first in ``workers`` spawned processes.
    ``threads``: CPU threads of each process (None: this process's own with one worker, else
    ``os.cpu_count() // workers``, at least one). On a CPU the thread count changes the order of floating-point sums,
    so a network trained with 1 thread and with 2 differs in the last bits; with equal thread counts, results are
    bitwise equal whatever the number of workers."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    began = time.perf_counter()
    computed_seconds, computed = 0.0, 0
    if workers == 1:
        import torch

        own = torch.get_num_threads()
        torch.set_num_threads(threads or own)
        try:
            for index, job in enumerate(jobs, 1):
                seconds, fresh = compute(job, results_dir, device)
                if fresh:
                    computed_seconds, computed = computed_seconds + seconds, computed + 1
                left = len(jobs) - index
                _report(index, len(jobs), job, seconds, fresh, began,
                        left * computed_seconds / computed if computed and left else None)
        finally:
            torch.set_num_threads(own)
        return []
    ordered = start_order(jobs)
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    failed: list[str] = []
    context = multiprocessing.get_context("spawn")  # fork would copy this process's torch (and CUDA) state
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                                  initargs=(threads, not interactive()))
    try:
        pending = {pool.submit(_worker, job, results_dir, device): job for job in ordered}
        for index, future in enumerate(concurrent.futures.as_completed(pending), 1):
            job = pending[future]
            try:
                seconds, fresh = future.result()
            except Exception as error:  # report it and let the other networks finish
                failed.append(job.label)
                detail = "".join(traceback.format_exception(error))
                print(f"[{index}/{len(jobs)}] {job.label}: FAILED\n{detail}", flush=True)
                continue
            if fresh:
                computed_seconds, computed = computed_seconds + seconds, computed + 1
            left = len(jobs) - index
            eta = left * computed_seconds / computed / min(workers, left) if computed and left else None
            _report(index, len(jobs), job, seconds, fresh, began, eta)
    finally:  # on an interrupt, start nothing more (the running networks keep their per-epoch checkpoints)
        pool.shutdown(wait=True, cancel_futures=True)
    return failed


def chapter_jobs(chapters: Sequence[str], profile: str, seeds: Sequence[int] | None = None,
                 variants: Sequence[str] | None = None, seed_major: bool = False) -> list[Job]:
    """The networks of ``chapters`` (or only the ``variants`` named) at ``seeds`` (None: the profile's), in the
    order they run: seeds inner, or outer with ``seed_major``. The search's points each run once, at the seed
    their configuration carries (the profile's first seed; a longer point may name its own); ``seeds`` must then
    be None. Raises SystemExit where no variant named exists in a chapter."""
    if seeds is not None and "search" in chapters:
        raise ValueError("seeds do not apply to the search: each of its points has the seed its profile gives it")
    jobs: list[Job] = []
    known: set[str] = set()
    for chapter in chapters:
        chosen_seeds: list[int | None]
        if chapter == "search":
            points, spectrum_images = profiles.search_grid(profile)
            points.update(profiles.search_longer(profile))  # after the grid: they extend its checkpoints
            found: dict[str, Any] = {name: (config, spectrum_images) for name, config in points.items()}
            chosen_seeds = [None]  # one run per point, at its own seed
            audited: dict[str, TrainConfig] = {}
        else:
            found = profiles.chapter_variants(chapter, profile)
            chosen_seeds = list(seeds if seeds is not None else profiles.seeds(profile))
            audited = profiles.control_audited(profile) if chapter == "control" else {}
        known.update(found)
        if variants and not set(variants) & set(found):
            raise SystemExit(f"no variant {sorted(variants)} in {chapter}; it has {sorted(found)}")
        chosen = [(n, v) for n, v in found.items() if not variants or n in variants]
        order = ([(s, n, v) for s in chosen_seeds for n, v in chosen] if seed_major
                 else [(s, n, v) for n, v in chosen for s in chosen_seeds])
        for seed, name, (config, evaluation) in order:
            config = config if seed is None else dataclasses.replace(config, seed=int(seed))
            audit, source = None, None
            if name in audited:
                audit = profiles.control_audit(profile)
                source = dataclasses.replace(profiles.transfer_source("shallow Vanilla", profile), seed=config.seed)
            jobs.append(Job(chapter, name, config.seed, config, evaluation, audit, source))
    unknown = sorted(set(variants or []) - known)
    if unknown:  # a misspelled name beside valid ones would otherwise be dropped silently
        raise SystemExit(f"no variant {unknown} in {', '.join(chapters)}")
    return jobs


def main(argv: Sequence[str] | None = None) -> None:
    """Compute (and cache) every network a chapter needs, e.g. on a GPU before executing the book elsewhere.
    ``search`` computes the grid of :func:`onen.analysis.profiles.search_grid` (the search for the 1/n point);
    ``reproduce HASH`` trains a committed network again and compares its numbers (:mod:`onen.commands.reproduce`)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reproduce"]:

        reproduce_main(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m onen", description=main.__doc__)
    parser.add_argument("chapters", nargs="+", choices=[*sorted(profiles.CHAPTER_VARIANTS), "search", "calibration"])
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default: the profile's seeds (the search's points carry their own, set by the profile)")
    parser.add_argument("--results-dir", default=None,
                        help="default: results/<profile> beside the onen package (the repository's, in a checkout)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (display names)")
    parser.add_argument("--seed-major", action="store_true",
                        help="run every variant of the first seed before any of the second (default: seeds inner)")
    parser.add_argument("--workers", type=int, default=1,
                        help="networks trained at once, each in its own process, longest first (default 1: in order)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of each process (default: all cores with one worker, cores / workers with more)")
    args = parser.parse_args(argv)
    try:
        resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.seeds is not None and any(s < 0 for s in args.seeds):
        parser.error(f"--seeds must be non-negative, got {args.seeds}")
    if args.seeds is not None and "search" in args.chapters:
        parser.error("--seeds does not apply to the search: each of its points has the seed its profile gives it")
    if not interactive():  # a log file, not a terminal: one line per finished epoch instead of progress bars
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    results_dir = args.results_dir or str(profiles.committed_results(args.profile))
    if "calibration" in args.chapters:  # synthetic layers, no network: computed here, before any network

        began = time.perf_counter()
        calibration_result(profiles.calibration_config(args.profile), results_dir)
        print(f"calibration: {time.perf_counter() - began:.0f} s", flush=True)
        args.chapters = [c for c in args.chapters if c != "calibration"]
        if not args.chapters:
            return
    jobs = chapter_jobs(args.chapters, args.profile, args.seeds, args.variants, args.seed_major)
    try:
        failed = run_jobs(jobs, results_dir, args.device, args.workers, args.threads)
    except NotCached as err:  # ONEN_CACHE_ONLY=1 and a network is missing: one line, not a traceback
        raise SystemExit(f"error: {err}") from None
    if failed:
        raise SystemExit(f"{len(failed)} of {len(jobs)} networks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
