"""Where a chapter's networks are computed, and how far they have got.

Every network of a chapter is one :class:`Job`: :func:`chapter_jobs` lists them, :func:`compute` trains (or loads) and
evaluates one into the content-addressed results cache. Two launchers run them:

- local (:func:`run_jobs`): in this process, in order, or ``workers`` at once in spawned processes, longest first;
- submitit (:func:`submit_jobs`): one submitit job per network, on SLURM or as local subprocesses
  (``cluster="local"``). Each job writes its cache entry; the launcher waits for the jobs and reports each as it ends.
  The cache is where they meet: a network already cached is not submitted, and one trained elsewhere at the same time
  is waited for on its checkpoint lock (:func:`onen.runs.experiments.checkpoint_lock`).

:func:`network_status` says, for every network of a chapter, whether it is done (a valid cache entry), running (its
checkpoint lock is held), failed (its last submitit job ended in an error; its log folder is named), submitted (a
submitit job with no result yet: queued, evaluating, or lost) or missing; ``python -m onen status`` prints it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import math
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from onen.analysis import profiles
from onen.cache import config_hash
from onen.robustness.audit import AuditConfig, audit_run, stored_audit
from onen.runs import search
from onen.runs.config import CIFAR_DATASET, EvalConfig, TrainConfig
from onen.runs.experiments import _run_key, checkpoint_path, interactive, run, stored


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
    fresh = not is_done(job, results_dir)
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        search.search_point(job.config, job.evaluation, results_dir, device, progress)
    else:
        assert isinstance(job.evaluation, EvalConfig), job.label
        run(job.config, job.evaluation, results_dir, device, progress)
        if job.audit is not None:
            audit_run(job.config, job.audit, results_dir, device, transfer_source=job.transfer_source,
                      progress=progress)
    return time.perf_counter() - start, fresh


def is_done(job: Job, results_dir: str) -> bool:
    """Whether the cache holds a valid entry of ``job`` (and of its attack audit, where it has one); never trains."""
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        return search.stored_point(job.config, job.evaluation, results_dir) is not None
    assert isinstance(job.evaluation, EvalConfig), job.label
    if stored(job.config, job.evaluation, results_dir) is None:
        return False
    return job.audit is None or stored_audit(job.config, job.audit, results_dir,
                                             transfer_source=job.transfer_source) is not None


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


def baseline_jobs(profile: str, seeds: Sequence[int] | None = None, variants: Sequence[str] | None = None,
                  seed_major: bool = False) -> tuple[list[Job], set[str]]:
    """The baselines chapter's networks (:func:`onen.analysis.profiles.baseline_variants`), each group at its seeds
    (:func:`onen.analysis.profiles.baseline_seeds`; ``seeds`` None: the profile's), evaluated as the chapter does;
    only the ``variants`` named, if any. Seeds inner, or outer with ``seed_major``. Returns the jobs and every
    variant name the chapter has."""
    evaluation = profiles.baseline_evaluation(profile)
    jobs, known = [], set()
    for group, nets in profiles.baseline_variants(profile).items():
        known.update(nets)
        jobs += [Job("baselines", name, seed, dataclasses.replace(config, seed=seed), evaluation)
                 for name, config in nets.items() if not variants or name in variants
                 for seed in profiles.baseline_seeds(profile, group, seeds)]
    return (sorted(jobs, key=lambda job: job.seed) if seed_major else jobs), known


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
        if chapter == "baselines":  # groups at their own seeds (the depth study at fewer)
            found_jobs, names = baseline_jobs(profile, seeds, variants, seed_major)
            if variants and not set(variants) & names:
                raise SystemExit(f"no variant {sorted(variants)} in baselines; it has {sorted(names)}")
            jobs += found_jobs
            known.update(names)
            continue
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


# ---------------------------------------------------------------------------------------------------------------------
# submitit: one job per network

CLUSTERS = ("slurm", "local", "debug")
DEFAULT_SUBMITIT_FOLDER = Path.home() / ".onen" / "submitit"
JOBS_INDEX = "jobs.jsonl"  # in the submitit folder: one line per submitted job (its id, network, cache key, log folder)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """What ``--launcher submitit`` asks for each job.

    ``cluster``: submitit's ``AutoExecutor(cluster=...)``: "slurm", "local" (real subprocesses on this machine) or
    "debug" (in this process, when its result is asked for); None lets submitit pick (SLURM where it finds it, else
    local). ``folder``: the logs, one folder per job (``<folder>/<job id>``), and the index of submitted jobs that
    :func:`network_status` reads. ``timeout_min``: minutes a job may run (SLURM's ``--time``; the local cluster's
    timeout too); a network cut off resumes from its last epoch's checkpoint when launched again.
    ``gpus_per_node``, ``cpus_per_task``: what each job asks for (None: the cluster's default)."""

    cluster: str | None = None
    folder: Path = DEFAULT_SUBMITIT_FOLDER
    slurm_partition: str | None = None
    timeout_min: int = 240
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None and self.cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}")
        if self.timeout_min < 1:
            raise ValueError(f"the time limit must be at least 1 minute, got {self.timeout_min}")
        if self.gpus_per_node is not None and self.gpus_per_node < 0:
            raise ValueError(f"gpus per node must be 0 or more, got {self.gpus_per_node}")
        if self.cpus_per_task is not None and self.cpus_per_task < 1:
            raise ValueError(f"cpus per task must be at least 1, got {self.cpus_per_task}")
        if self.slurm_partition is not None and not self.slurm_partition.strip():
            raise ValueError("the SLURM partition must not be empty")

    def parameters(self) -> dict[str, Any]:
        """The keyword arguments of ``AutoExecutor.update_parameters`` (generic ones apply to every cluster; the
        partition only to SLURM)."""
        found = {"timeout_min": self.timeout_min, "gpus_per_node": self.gpus_per_node,
                 "cpus_per_task": self.cpus_per_task, "slurm_partition": self.slurm_partition}
        return {key: value for key, value in found.items() if value is not None}


def import_submitit() -> Any:
    """The submitit module; SystemExit with a one-line message naming the extra to install where it is missing."""
    try:
        import submitit
    except ImportError:
        raise SystemExit("error: --launcher submitit needs submitit: pip install -e '.[cluster]'") from None
    return submitit


def make_executor(cluster: Cluster) -> Any:
    """submitit's ``AutoExecutor`` for ``cluster``, each job's log folder ``<folder>/<job id>`` and its limits set.
    SystemExit with one line where the cluster asked for is not here (SLURM on a machine without ``srun``)."""
    submitit = import_submitit()
    folder = Path(cluster.folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster.cluster)
    except RuntimeError as err:  # no SLURM here, or no executor at all
        raise SystemExit(f"error: submitit cannot launch here: {err} (--cluster local runs the jobs on this machine)"
                         ) from None
    executor.update_parameters(**cluster.parameters())
    return executor


def job_key(job: Job) -> str:
    """The cache key of ``job``'s network: the ``<hash>`` of its entry ``<results_dir>/<runs or
    regularizer_search>/<hash>.npz`` (the keys are those of :func:`onen.runs.experiments.run` and
    :func:`onen.runs.search.search_point`)."""
    if job.chapter == "search":
        assert not isinstance(job.evaluation, EvalConfig), job.label
        return config_hash(search._key(job.config, job.evaluation))
    assert isinstance(job.evaluation, EvalConfig), job.label
    return config_hash(_run_key(job.config, job.evaluation))


def run_submitted(job: Job, results_dir: str, device: str, threads: int | None) -> tuple[float, bool]:
    """What one submitit job runs: :func:`compute` of ``job`` with ``threads`` CPU threads (None: the job's default),
    logging every finished epoch to the job's log."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    return compute(job, results_dir, device, progress=False)


def submit_jobs(jobs: Sequence[Job], results_dir: str, device: str, cluster: Cluster, threads: int | None = None,
                poll_s: float = 10.0) -> list[str]:
    """Submit every network of ``jobs`` that is not in the cache as its own submitit job, wait for them all and report
    each as it ends; returns the labels of those that failed (each printed with its error and log folder).

    ``threads``: CPU threads of each job (None: ``cluster.cpus_per_task``, else the job's default). With equal thread
    counts a network is bitwise the one :func:`run_jobs` computes. ``poll_s``: seconds between looks at the jobs.
    Interrupted, the launcher stops waiting, and the jobs go on (``python -m onen status`` follows them)."""
    submitit = import_submitit()
    results_dir = str(Path(results_dir).resolve())  # a job may start in another working directory
    threads = threads if threads is not None else cluster.cpus_per_task
    began = time.perf_counter()
    cached = [is_done(job, results_dir) for job in jobs]
    for index, job in enumerate([job for job, hit in zip(jobs, cached) if hit], 1):
        print(f"[{index}/{len(jobs)}] {job.label}: cached", flush=True)
    pending = [job for job, hit in zip(jobs, cached) if not hit]
    if not pending:
        return []
    folder = Path(cluster.folder).expanduser().resolve()
    executor = make_executor(cluster)
    submitted = []
    with open(folder / JOBS_INDEX, "a", encoding="utf-8") as index_file:
        for job in start_order(pending):
            key = job_key(job)
            executor.update_parameters(name=f"onen-{job.chapter}-{key}")
            handle = executor.submit(run_submitted, job, results_dir, device, threads)
            logs = folder / str(handle.job_id)
            index_file.write(json.dumps({"job_id": str(handle.job_id), "key": key, "label": job.label,
                                         "folder": str(logs), "submitted": _now()}) + "\n")
            index_file.flush()
            submitted.append((handle, job, logs))
            print(f"submitted {job.label} as job {handle.job_id} ({executor.cluster}; logs in {logs})", flush=True)
    failed: list[str] = []
    done = len(jobs) - len(pending)
    by_handle = {id(handle): (job, logs) for handle, job, logs in submitted}
    try:
        for handle in submitit.helpers.as_completed([h for h, _, _ in submitted], poll_frequency=poll_s):
            job, logs = by_handle[id(handle)]
            done += 1
            try:
                seconds, fresh = handle.result()
            except Exception as error:  # a failed job: report it and wait for the others
                failed.append(job.label)
                print(f"[{done}/{len(jobs)}] {job.label}: FAILED (logs in {logs})\n{error}", flush=True)
                continue
            _report(done, len(jobs), job, seconds, fresh, began, None)
    except KeyboardInterrupt:
        print("stopped waiting; the submitted jobs go on (python -m onen status shows them)", flush=True)
        raise
    return failed


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------------------------------
# status

STATES = ("done", "running", "failed", "submitted", "missing")


@dataclasses.dataclass(frozen=True)
class NetworkStatus:
    """One network's state (one of :data:`STATES`) and what explains it: a failed or submitted job's log folder."""

    job: Job
    key: str
    state: str
    detail: str = ""


def lock_held(checkpoint: Path) -> bool:
    """Whether a process holds the lock :func:`onen.runs.experiments.checkpoint_lock` takes on ``checkpoint`` (that
    network is training). Looked at without waiting; False where ``fcntl`` does not exist (nothing is locked there)."""
    lock = checkpoint.with_name(checkpoint.name + ".lock")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        handle = open(lock, "rb")
    except FileNotFoundError:  # never trained here
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def submitted_jobs(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The last submitit job :func:`submit_jobs` recorded in ``folder`` for each cache key (empty if none)."""
    index = Path(folder).expanduser() / JOBS_INDEX
    if not index.is_file():
        return {}
    records: dict[str, dict[str, Any]] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["key"]] = record
    return records


def job_outcome(record: dict[str, Any]) -> str | None:
    """"success" or "error" as the submitit job of ``record`` wrote it in its result file; None while it has none.

    The result file is a pickle that the job itself wrote in the launcher's log folder (submitit's format: a tuple
    whose first item is the outcome)."""
    result = Path(record["folder"]) / f"{record['job_id']}_0_result.pkl"
    if not result.is_file():
        return None
    with open(result, "rb") as handle:
        outcome = pickle.load(handle)
    return str(outcome[0])


def network_status(jobs: Sequence[Job], results_dir: str,
                   submitit_folder: str | os.PathLike = DEFAULT_SUBMITIT_FOLDER) -> list[NetworkStatus]:
    """The state of every network of ``jobs``: done, running, failed, submitted or missing (see the module)."""
    records = submitted_jobs(submitit_folder)
    statuses = []
    for job in jobs:
        key = job_key(job)
        record = records.get(key)
        outcome = job_outcome(record) if record else None
        if is_done(job, results_dir):
            state, detail = "done", ""
        elif lock_held(checkpoint_path(job.config)):
            state, detail = "running", ""
        elif record and outcome == "error":
            state, detail = "failed", f"job {record['job_id']}: {record['folder']}"
        elif record and outcome is None:
            state, detail = "submitted", f"job {record['job_id']}: {record['folder']}"
        else:
            state, detail = "missing", f"job {record['job_id']} ended without it" if record else ""
        statuses.append(NetworkStatus(job, key, state, detail))
    return statuses


def status_table(statuses: Sequence[NetworkStatus]) -> str:
    """An aligned table of ``statuses`` (name, seed, cache key, state, detail) and a count of each state."""
    rows = [("name", "seed", "key", "state", "detail")]
    rows += [(s.job.name, str(s.job.seed), s.key, s.state, s.detail) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) if i == 1 else cell.ljust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    counts = ", ".join(f"{sum(s.state == state for s in statuses)} {state}" for state in STATES)
    return "\n".join(lines + [f"{counts} ({len(statuses)} networks)"])


def status_main(argv: Sequence[str]) -> None:
    """``python -m onen status CHAPTER --profile P``: which networks of the chapter are done, running, failed,
    submitted or missing."""
    parser = argparse.ArgumentParser(prog="python -m onen status", description=status_main.__doc__)
    parser.add_argument("chapters", nargs="+", choices=[*sorted(profiles.CHAPTER_VARIANTS), "baselines", "search"])
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the profile's seeds")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (display names)")
    parser.add_argument("--results-dir", default=None, help="default: results/<profile> beside the onen package")
    parser.add_argument("--submitit-folder", default=str(DEFAULT_SUBMITIT_FOLDER),
                        help="where --launcher submitit kept its logs (default %(default)s)")
    args = parser.parse_args(argv)
    if args.seeds is not None and any(s < 0 for s in args.seeds):
        parser.error(f"--seeds must be non-negative, got {args.seeds}")
    if args.seeds is not None and "search" in args.chapters:
        parser.error("--seeds does not apply to the search: each of its points has the seed its profile gives it")
    results_dir = args.results_dir or str(profiles.committed_results(args.profile))
    jobs = chapter_jobs(args.chapters, args.profile, args.seeds, args.variants)
    print(f"{', '.join(args.chapters)}, profile {args.profile}, results {results_dir}")
    print(status_table(network_status(jobs, results_dir, args.submitit_folder)), flush=True)
