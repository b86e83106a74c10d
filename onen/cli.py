"""The command line that computes (and caches) the book's networks: ``python -m onen.experiments``.

    python -m onen.experiments shallow deep_last_layer deep_all_layers --profile paper --device cuda
    python -m onen.experiments search --profile paper --device cpu

Every finished network is printed with an ETA for the rest (and, when the output is not a terminal, every
finished epoch with an ETA for its network); training resumes from per-epoch checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from . import profiles, search
from .experiments import interactive, run
from .training import resolve_device


def main(argv: Sequence[str] | None = None) -> None:
    """Compute (and cache) every network a chapter needs, e.g. on a GPU before executing the book elsewhere.
    ``search`` computes the grid of :func:`onen.profiles.search_grid` (the search for the 1/n point)."""
    parser = argparse.ArgumentParser(prog="python -m onen.experiments", description=main.__doc__)
    parser.add_argument("chapters", nargs="+", choices=[*sorted(profiles.CHAPTER_VARIANTS), "search"])
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--results-dir", default=None,
                        help="default: results/<profile> beside the onen package (the repository's, in a checkout)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (display names)")
    parser.add_argument("--seed-major", action="store_true",
                        help="run every variant of the first seed before any of the second (default: seeds inner)")
    args = parser.parse_args(argv)
    try:
        resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if not interactive():  # a log file, not a terminal: one line per finished epoch instead of progress bars
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    results_dir = args.results_dir or str(profiles.committed_results(args.profile))
    seeds = args.seeds if args.seeds is not None else profiles.seeds(args.profile)
    jobs = []
    for chapter in args.chapters:
        if chapter == "search":
            points, spectrum_images = profiles.search_grid(args.profile)
            points.update(profiles.search_longer(args.profile))  # after the grid: they extend its checkpoints
            variants: dict[str, Any] = {name: (config, spectrum_images) for name, config in points.items()}
            chapter_seeds = seeds[:1]  # the search is one seed per point
        else:
            variants = profiles.chapter_variants(chapter, args.profile)
            chapter_seeds = seeds
        unknown = sorted(set(args.variants or []) - set(variants))
        if args.variants and len(unknown) == len(args.variants):
            raise SystemExit(f"no variant {unknown} in {chapter}; it has {sorted(variants)}")
        chosen = [(n, v) for n, v in variants.items() if not args.variants or n in args.variants]
        order = ([(s, n, v) for s in chapter_seeds for n, v in chosen] if args.seed_major
                 else [(s, n, v) for n, v in chosen for s in chapter_seeds])
        jobs += [(chapter, name, seed, *pair) for seed, name, pair in order]
    began = time.perf_counter()
    computed_seconds, computed = 0.0, 0
    for index, (chapter, name, seed, config, evaluation) in enumerate(jobs, 1):
        start = time.perf_counter()
        config = dataclasses.replace(config, seed=int(seed))
        if chapter == "search":
            result = search.search_point(config, evaluation, results_dir, args.device)
        else:
            result = run(config, evaluation, results_dir, args.device)
        seconds = time.perf_counter() - start
        fresh = seconds > 1.0 and result.provenance.get("wall_time_s", 0) > 0.5 * seconds
        if fresh:
            computed_seconds, computed = computed_seconds + seconds, computed + 1
        left = len(jobs) - index
        eta = f"ETA {left * computed_seconds / computed / 60:.0f} min" if computed and left else ""
        print(f"[{index}/{len(jobs)}] {chapter} {name} seed {seed}: {'computed' if fresh else 'cached'} in "
              f"{seconds:.0f} s; elapsed {(time.perf_counter() - began) / 60:.1f} min {eta}", flush=True)


if __name__ == "__main__":
    main()
