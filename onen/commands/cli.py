"""The command line that computes (and caches) the book's networks: ``python -m onen``.

    python -m onen shallow deep_last_layer deep_all_layers --profile paper --device cuda
    python -m onen shallow --profile paper --device cuda --workers 12
    python -m onen search --profile paper --device cpu
    python -m onen baselines --profile paper --device cuda --workers 8
    python -m onen cifar --profile paper --device cuda
    python -m onen corruptions --profile paper --device cuda

``cifar`` trains the CIFAR-10 chapter's networks and, in the job of each variant, its attack audit and its scoring on
the corrupted CIFAR-10 test images; ``corruptions`` trains (or loads) every network the common-corruptions chapter
scores, with the evaluation of the chapter that trains it, and scores it on the MNIST-C-style corruptions in the same
job. Named beside that chapter (``python -m onen shallow corruptions``), the scoring joins that chapter's job of the
network: one job per network (:mod:`onen.commands.launch`).

Every finished network is printed with an ETA for the rest (and, when the output is not a terminal, every
finished epoch with an ETA for its network); training resumes from per-epoch checkpoints.

``--workers N`` trains N networks at once, each in its own process (a small network does not fill a GPU, so several
share one). The networks are then started longest first, by epochs times steps per epoch, so that the last to finish
is a short one. A network that fails is reported with its traceback while the others go on, and the command exits
with an error naming every failed network. With the same CPU thread count (``--threads``), each result is bitwise the
one a single process computes: every network is seeded by its own configuration, and workers share nothing but the
results and checkpoint folders (written atomically, and under a lock while a network trains).

``--launcher submitit`` makes every network not yet cached its own submitit job instead, on SLURM or as local
subprocesses, and waits for them; ``python -m onen status CHAPTER`` says which networks are done, running, failed or
missing. Both are in :mod:`onen.commands.launch`, with the jobs themselves; this module reads the command line.

    python -m onen shallow --profile paper --device cuda --launcher submitit --slurm-partition gpu --slurm-time 120 \
        --gpus-per-node 1 --cpus-per-task 4
    python -m onen status shallow --profile paper
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from onen.analysis import profiles
from onen.commands.launch import (CLUSTERS, DEFAULT_SUBMITIT_FOLDER, NETWORK_CHAPTERS, Cluster, chapter_jobs,
                                  import_submitit, run_jobs, status_main, submit_jobs)
from onen.commands.reproduce import main as reproduce_main
from onen.commands.mechanics import MECHANICS
from onen.commands.mechanics import compute as compute_mechanics
from onen.runs.calibration_run import calibration_result
from onen.runs.experiments import NotCached, interactive
from onen.runs.training import resolve_device


SUBMITIT_OPTIONS = ("cluster", "slurm_partition", "slurm_time", "gpus_per_node", "cpus_per_task", "submitit_folder")


def main(argv: Sequence[str] | None = None) -> None:
    """Compute (and cache) every network a chapter needs, e.g. on a GPU before executing the book elsewhere.
    ``search`` computes the grid of :func:`onen.analysis.profiles.search_grid` (the search for the 1/n point);
    ``cifar`` the CIFAR-10 chapter's networks with their audits and corruption scores; ``corruptions`` every network
    the common-corruptions chapter scores, scored in the job that trains it;
    ``reproduce HASH`` trains a committed network again and compares its numbers (:mod:`onen.commands.reproduce`);
    ``status CHAPTER`` lists which of its networks are done, running, failed or missing
    (:func:`onen.commands.launch.status_main`)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reproduce"]:
        reproduce_main(argv[1:])
        return
    if argv[:1] == ["status"]:
        status_main(argv[1:])
        return
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    settings = _cluster(parser, args) if args.launcher == "submitit" else None
    if not interactive():  # a log file, not a terminal: one line per finished epoch instead of progress bars
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    results_dir = args.results_dir or str(profiles.committed_results(args.profile))
    if "calibration" in args.chapters:  # synthetic layers, no network: computed here, before any network
        began = time.perf_counter()
        calibration_result(profiles.calibration_config(args.profile), results_dir)
        print(f"calibration: {time.perf_counter() - began:.0f} s", flush=True)
        args.chapters = [c for c in args.chapters if c != "calibration"]
    for chapter in [c for c in args.chapters if c in MECHANICS]:  # the mechanics chapters' runs, in this process
        began = time.perf_counter()
        count = compute_mechanics(chapter, args.profile, args.seeds, results_dir, args.device)
        print(f"{chapter}: {count} results in {time.perf_counter() - began:.0f} s", flush=True)
    args.chapters = [c for c in args.chapters if c not in MECHANICS]
    if not args.chapters:
        return
    jobs = chapter_jobs(args.chapters, args.profile, args.seeds, args.variants, args.seed_major)
    try:
        if args.launcher == "submitit":
            failed = submit_jobs(jobs, results_dir, args.device, settings, args.threads)
        else:
            failed = run_jobs(jobs, results_dir, args.device, args.workers, args.threads)
    except NotCached as err:  # ONEN_CACHE_ONLY=1 and a network is missing: one line, not a traceback
        raise SystemExit(f"error: {err}") from None
    if failed:
        raise SystemExit(f"{len(failed)} of {len(jobs)} networks failed: {', '.join(failed)}")




def _parser() -> argparse.ArgumentParser:
    """The command line of :func:`main` (``reproduce`` and ``status`` have their own)."""
    parser = argparse.ArgumentParser(prog="python -m onen", description=main.__doc__)
    parser.add_argument("chapters", nargs="+",
                        choices=[*NETWORK_CHAPTERS, *MECHANICS, "calibration"])
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default: the profile's seeds (the search's points carry their own, set by the profile)")
    parser.add_argument("--results-dir", default=None,
                        help="default: results/<profile> beside the onen package (the repository's, in a checkout)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (display names)")
    parser.add_argument("--seed-major", action="store_true",
                        help="run every variant of the first seed before any of the second (default: seeds inner)")
    parser.add_argument("--launcher", default="local", choices=("local", "submitit"),
                        help="local: on this machine (default); submitit: one submitit job per network")
    parser.add_argument("--workers", type=int, default=1,
                        help="local: networks trained at once, each in its own process, longest first (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of each process (default: all cores with one worker, cores / workers with "
                             "more; with submitit, --cpus-per-task)")
    cluster = parser.add_argument_group("submitit", "with --launcher submitit")
    cluster.add_argument("--cluster", choices=CLUSTERS, default=None,
                         help="submitit's executor: slurm, local (subprocesses here) or debug (default: SLURM where "
                              "submitit finds it, else local)")
    cluster.add_argument("--slurm-partition", default=None)
    cluster.add_argument("--slurm-time", type=int, default=None,
                         help=f"minutes each job may run (default {Cluster.timeout_min})")
    cluster.add_argument("--gpus-per-node", type=int, default=None)
    cluster.add_argument("--cpus-per-task", type=int, default=None)
    cluster.add_argument("--submitit-folder", default=None, help=f"logs (default {DEFAULT_SUBMITIT_FOLDER})")
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One-line errors (``parser.error``) for a bad device, count, seed or option combination."""
    try:
        if args.launcher == "local":
            resolve_device(args.device)
        elif args.device != "auto" and torch.device(args.device).type not in ("cpu", "cuda"):
            raise ValueError(f"device {args.device!r} is not supported: use auto, cpu, cuda or cuda:N")
    except RuntimeError:  # the jobs' machines may have a GPU this one lacks: only the name is checked here
        parser.error(f"unknown device {args.device!r}: use auto, cpu, cuda or cuda:N")
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
    if args.variants and "baselines" in args.chapters and len(args.chapters) > 1:
        parser.error("--variants with baselines: name the baselines chapter alone")
    given = [f"--{name.replace('_', '-')}" for name in SUBMITIT_OPTIONS if getattr(args, name) is not None]
    if args.launcher == "local" and given:
        parser.error(f"{', '.join(given)} needs --launcher submitit")


def _cluster(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Cluster:
    """The submitit settings of ``args``, checked; submitit imported (a one-line error naming the extra if absent)."""
    if args.workers != 1:
        parser.error("--workers applies to --launcher local; with submitit every network is its own job")
    if args.slurm_time is not None and args.slurm_time < 1:
        parser.error(f"--slurm-time must be at least 1 minute, got {args.slurm_time}")
    if args.gpus_per_node is not None and args.gpus_per_node < 0:
        parser.error(f"--gpus-per-node must be 0 or more, got {args.gpus_per_node}")
    if args.cpus_per_task is not None and args.cpus_per_task < 1:
        parser.error(f"--cpus-per-task must be at least 1, got {args.cpus_per_task}")
    if args.slurm_partition is not None and not args.slurm_partition.strip():
        parser.error("--slurm-partition must not be empty")
    settings = Cluster(cluster=args.cluster, slurm_partition=args.slurm_partition,
                       timeout_min=Cluster.timeout_min if args.slurm_time is None else args.slurm_time,
                       gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task,
                       folder=Path(args.submitit_folder or DEFAULT_SUBMITIT_FOLDER))
    if args.device.startswith("cuda") and not settings.gpus_per_node:
        parser.error(f"--device {args.device} needs --gpus-per-node 1 or more: a job sees only the GPUs it "
                     "asks for")
    import_submitit()  # before anything is computed: a one-line error naming the extra where it is missing
    return settings


if __name__ == "__main__":
    main()
