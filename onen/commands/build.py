"""Execute the book's chapters and build it.

The chapters are Jupytext percent-format files ``book/<name>.py``. ``execute`` converts each into
``book/<name>.ipynb`` and runs it in place with papermill, with the parameters ``profile``, ``device``, ``seeds`` and
``results_dir`` injected after the chapter's cell tagged ``parameters``. ``html`` builds the book from those executed
notebooks with Jupyter Book (which executes nothing itself). ``all`` does both. ``convert`` only writes the notebooks,
for running papermill by hand::

    python -m onen.commands.build execute --profile paper --device cuda --chapter shallow
    python -m onen.commands.build html
    python -m onen.commands.build convert && papermill book/shallow.ipynb book/shallow.ipynb -p profile paper -p device cuda

Chapters run with the repository root as working directory. ``results_dir`` is passed as an absolute path, so a
notebook re-executed elsewhere (nbval starts its kernel in ``book/``) still finds the cached results.

The module is also the Sphinx extension ``_config.yml`` names (:func:`setup`): each chapter's page offers its
Jupytext source ``book/<name>.py`` beside the executed notebook among its download buttons.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from onen.analysis.profiles import PROFILES

if TYPE_CHECKING:
    from sphinx.application import Sphinx

KERNEL = "python3"
# The inline backend makes figures (and glued figures) render as PNG outputs; a non-interactive MPLBACKEND such as Agg,
# set for scripts and tests, would otherwise leave the notebooks without images.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class ChapterFailed(RuntimeError):
    pass


def repo_root() -> Path:
    """The book's root: the working directory if it holds ``_toc.yml``, else the checkout this package lives in."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "_toc.yml").is_file():
            return candidate
    raise SystemExit("no _toc.yml in the working directory or above the onen package: run from the repository root")


def toc_chapters(root: Path) -> list[str]:
    """Names of the executable chapters (``book/<name>.py``) in table-of-contents order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries = toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part.get("chapters", [])]
    files: list[str] = []
    while entries:
        entry = entries.pop(0)
        files += [entry["file"]] if "file" in entry else []
        entries[:0] = entry.get("sections", [])
    names = []
    for file in files:
        path = (root / file).with_suffix("") if Path(file).suffix in (".py", ".ipynb", ".md") else root / file
        if path.with_suffix(".py").is_file() or not path.with_suffix(".md").is_file():  # a markdown page runs nothing
            names.append(path.name)
    return names


def chapter_paths(root: Path, name: str) -> tuple[Path, Path]:
    return root / "book" / f"{name}.py", root / "book" / f"{name}.ipynb"


def select(root: Path, chapters: Sequence[str] | None) -> list[str]:
    known = toc_chapters(root)
    if not chapters:
        return known
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise SystemExit(f"unknown chapter(s) {unknown}; the table of contents has {known}")
    return [c for c in known if c in chapters]


def convert(root: Path, chapters: Sequence[str] | None = None) -> list[Path]:
    """Write ``book/<name>.ipynb`` from ``book/<name>.py`` (percent format; cell tags and metadata kept)."""
    import jupytext

    written = []
    for name in select(root, chapters):
        source, notebook = chapter_paths(root, name)
        if not source.is_file():
            raise SystemExit(f"chapter {name}: {source} does not exist")
        nb = jupytext.read(source, fmt="py:percent")
        nb.metadata.setdefault("kernelspec", {"name": KERNEL, "display_name": "Python 3", "language": "python"})
        jupytext.write(nb, notebook, fmt="ipynb")
        written.append(notebook)
    return written


def use_this_interpreter(scratch: Path) -> None:
    """Make the kernel ``python3`` run this interpreter, whatever ``python3`` kernels the machine has registered.

    A kernel spec written under ``scratch`` is put first on ``JUPYTER_PATH`` for this process and its children, so a
    user-wide ``python3`` kernel of another environment cannot take the chapters.
    """
    from ipykernel.kernelspec import write_kernel_spec

    write_kernel_spec(scratch / "kernels" / KERNEL, overrides={"display_name": "Python 3", "name": KERNEL})
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(scratch)] + [p for p in [os.environ.get("JUPYTER_PATH")] if p])


# Chapters that only read what the others computed: with several jobs they run after every other chapter has finished.
LAST = ("reproduced",)
# Seconds each chapter took in the quick profile on a 2-core CPU (the order in which several jobs start them, longest
# first, so that the last to finish is a short one; a chapter not listed counts as 100 s)
QUICK_SECONDS = {"audit": 593, "deep_last_layer": 359, "deep_all_layers": 323, "control": 250, "shallow": 170,
                 "tracked": 166, "corruptions": 64, "baselines": 68, "cifar": 80, "background": 27,
                 "regularizer": 24, "eigenbasis": 23}


def execute(root: Path, chapters: Sequence[str] | None, profile: str, device: str, seeds: Sequence[int] | None,
            results_dir: str | None, jobs: int = 1) -> None:
    """Convert and execute each chapter in place; print a table of wall times; stop at the first failure.

    ``jobs`` > 1 executes that many chapters at once, each kernel with one CPU thread (``OMP_NUM_THREADS=1``), the
    chapters of :data:`LAST` after all others. Chapters that need the same network share it: its training holds a
    lock on its checkpoint (:func:`onen.runs.experiments.checkpoint_lock`), so the second waits and loads it. With one
    thread per kernel every result is bitwise the one a single-threaded run computes."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    names = select(root, chapters)
    results = Path(results_dir or f"results/{profile}")
    results = results if results.is_absolute() else (root / results)
    parameters: dict[str, Any] = {"profile": profile, "device": device, "results_dir": str(results.resolve())}
    if seeds is not None:
        parameters["seeds"] = [int(s) for s in seeds]

    # The kernel inherits this environment: import onen from this checkout, and draw figures inline.
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in [os.environ.get("PYTHONPATH")] if p])

    print(f"executing {len(names)} chapter(s), parameters {parameters}"
          + (f", {jobs} at once with one thread each" if jobs > 1 else ""), flush=True)
    times: list[tuple[str, float, str]] = []

    def timed(name: str) -> None:
        began = time.perf_counter()
        try:
            _execute_one(root, name, parameters)
        except ChapterFailed:
            times.append((name, time.perf_counter() - began, "FAILED"))
            raise
        times.append((name, time.perf_counter() - began, "ok"))

    with tempfile.TemporaryDirectory(prefix="onen-kernel-") as scratch:
        use_this_interpreter(Path(scratch))
        try:
            if jobs == 1:
                for name in names:
                    timed(name)
            else:
                saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
                os.environ.update({k: "1" for k in saved})  # the kernels inherit it
                first = sorted((n for n in names if n not in LAST), key=lambda n: -QUICK_SECONDS.get(n, 100))
                pool = concurrent.futures.ThreadPoolExecutor(jobs)
                try:
                    for future in concurrent.futures.as_completed([pool.submit(timed, n) for n in first]):
                        future.result()  # the first failure stops the build (running chapters finish first)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                    for key, value in saved.items():
                        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
                for name in names:
                    if name in LAST:
                        timed(name)
        except ChapterFailed:
            _save_times(root, times)
            raise
    _save_times(root, times)


TIMES = Path("_build") / "chapter_times.json"  # the last execution's wall times, for `times` at the end of make test


def _save_times(root: Path, times: list[tuple[str, float, str]]) -> None:
    """Print the wall-time table and keep it for :func:`print_times`."""
    _table(times)
    path = root / TIMES
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"chapter": n, "seconds": s, "status": st} for n, s, st in times], indent=1))


def print_times(root: Path) -> None:
    """The wall-time table of the last ``execute`` (one line if there was none)."""
    path = root / TIMES
    if not path.is_file():
        print(f"no chapter times recorded: {TIMES} is written by `execute`")
        return
    _table([(r["chapter"], float(r["seconds"]), r["status"]) for r in json.loads(path.read_text())])


def _execute_one(root: Path, name: str, parameters: dict[str, Any]) -> None:
    """Execute one chapter into ``book/<name>.ipynb``; on failure print the cell's traceback and raise ChapterFailed.

    The notebook is executed under a temporary name and moved onto ``book/<name>.ipynb`` only when every cell has
    run, so an interrupted or failed run leaves the last good executed notebook in place (a failed one is kept as
    ``book/<name>.failed.ipynb`` for inspection).
    """
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source, notebook = chapter_paths(root, name)
    if not source.is_file():
        raise SystemExit(f"chapter {name}: {source} does not exist")
    pending, running = notebook.with_name(f".{name}.pending.ipynb"), notebook.with_name(f".{name}.running.ipynb")
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata.setdefault("kernelspec", {"name": KERNEL, "display_name": "Python 3", "language": "python"})
    jupytext.write(nb, pending, fmt="ipynb")
    print(f"  {name} ...", flush=True)
    began = time.perf_counter()
    try:
        papermill.execute_notebook(str(pending), str(running), parameters=parameters, kernel_name=KERNEL,
                                   cwd=str(root), progress_bar=False, log_output=False)
    except PapermillExecutionError as err:
        failed = notebook.with_name(f"{name}.failed.ipynb")
        os.replace(running, failed)
        print(f"  {name} FAILED after {time.perf_counter() - began:.1f} s", flush=True)
        traceback = "\n".join(err.traceback)
        if not sys.stderr.isatty():  # plain text for logs
            traceback = re.sub(r"\x1b\[[0-9;]*m", "", traceback)
        print(f"\nchapter {name} failed in cell {err.exec_count} ({failed}):\n{err.ename}: {err.evalue}\n"
              f"{traceback}", file=sys.stderr, flush=True)
        raise ChapterFailed(name) from err
    finally:
        pending.unlink(missing_ok=True)
    tidy(running)
    os.replace(running, notebook)
    notebook.with_name(f"{name}.failed.ipynb").unlink(missing_ok=True)
    print(f"  {name} done in {time.perf_counter() - began:.1f} s", flush=True)


def tidy(path: Path) -> None:
    """Keep the machinery off the published page: the cell papermill injects (it holds this machine's results path)
    is removed from the page and the chapter's own parameters cell is collapsed. Both still run when the notebook is
    re-executed (nbval, papermill)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        extra = "remove-cell" if "injected-parameters" in tags else "hide-cell" if "parameters" in tags else None
        if extra and extra not in tags:
            tags.append(extra)
    nbformat.write(nb, path)


def completed(notebook: Path) -> bool:
    """Whether papermill ran every cell of ``notebook`` to the end without an exception."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill", {})
    if not meta or meta.get("exception") or not meta.get("end_time"):
        return False
    return all(cell.metadata.get("papermill", {}).get("status") == "completed"
               for cell in nb.cells if cell.cell_type == "code")


def _table(times: list[tuple[str, float, str]]) -> None:
    width = max(len(n) for n, _, _ in times)
    print(f"\n{'chapter':<{width}}  {'wall time':>10}  status")
    for name, seconds, status in times:
        print(f"{name:<{width}}  {seconds:>8.1f} s  {status}")
    print(f"{'total':<{width}}  {sum(t for _, t, _ in times):>8.1f} s", flush=True)


def html(root: Path, output: str | None = None) -> None:
    """Build the HTML book from the executed notebooks (``-W -n --keep-going``: any warning fails the build)."""
    missing = []
    for name in toc_chapters(root):
        source, notebook = chapter_paths(root, name)
        if not notebook.is_file():
            missing.append(f"{name} (no {notebook.relative_to(root)})")
            continue
        if not completed(notebook):
            missing.append(f"{name} ({notebook.relative_to(root)} was not executed to the end)")
        elif source.is_file() and source.stat().st_mtime > notebook.stat().st_mtime:
            print(f"warning: {source.relative_to(root)} is newer than its executed notebook", file=sys.stderr)
    if missing:
        raise SystemExit("not executed: " + ", ".join(missing) + "\nrun `python -m onen.commands.build execute` first")
    command = [_jupyter_book(), "build", str(root), "-W", "-n", "--keep-going", "--all"]
    if output:
        command += ["--path-output", output]
    print(" ".join(command), flush=True)
    done = subprocess.run(command, cwd=root)
    if done.returncode != 0:
        raise SystemExit(f"jupyter-book build failed (exit {done.returncode})")
    print(f"book written to {Path(output or root / '_build') / 'html' / 'index.html'}")


def _jupyter_book() -> str:
    beside = Path(sys.executable).with_name("jupyter-book")
    found = str(beside) if beside.is_file() else shutil.which("jupyter-book")
    if found is None:
        raise SystemExit("jupyter-book not found; pip install -e '.[book]'")
    return found


JUPYTEXT_BUTTON = "download-jupytext-button"


def setup(app: Sphinx) -> dict[str, Any]:
    """Sphinx extension (``sphinx: extra_extensions`` in ``_config.yml``): :func:`add_jupytext_download` on every page,
    after sphinx-book-theme has made its header buttons (priority 501)."""
    app.connect("html-page-context", add_jupytext_download, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def add_jupytext_download(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                          doctree: Any) -> None:
    """A page built from ``<page>.ipynb`` with a Jupytext source ``<page>.py`` beside it: copy the source to
    ``_sources/<page>.py`` of the site and list it after the notebook in the page's download buttons. Nothing happens
    where the page has another source, no such ``.py``, or no download buttons (``use_download_button: false``)."""
    source = Path(app.srcdir) / f"{pagename}.py"
    if context.get("page_source_suffix") != ".ipynb" or not source.is_file():
        return
    group = next((b for b in context.get("header_buttons", []) if b.get("label") == "download-buttons"), None)
    if group is None:
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    buttons = group["buttons"]
    after = next((i + 1 for i, b in enumerate(buttons) if b.get("label") == "download-source-button"), len(buttons))
    buttons.insert(after, {"type": "link", "url": f"{context['pathto']('_sources', 1)}/{pagename}.py", "text": ".py",
                           "tooltip": "Download the chapter's source (Jupytext percent format)",
                           "icon": "fas fa-file-code", "label": JUPYTEXT_BUTTON})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onen.commands.build", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = argparse.ArgumentParser(add_help=False)
    run.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    run.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the profile's seeds")
    run.add_argument("--results-dir", default=None, help="default: results/<profile>")
    run.add_argument("--chapter", nargs="+", default=None, help="default: every chapter in _toc.yml")
    run.add_argument("--jobs", type=int, default=1,
                     help="chapters executed at once, one CPU thread each (default 1: in order, every thread)")
    build = argparse.ArgumentParser(add_help=False)
    build.add_argument("--path-output", default=None, help="default: _build")
    commands.add_parser("execute", parents=[run], help="convert and execute the chapters")
    commands.add_parser("html", parents=[build], help="build the HTML from the executed notebooks")
    commands.add_parser("all", parents=[run, build], help="execute, then html")
    conv = commands.add_parser("convert", help="only write book/<name>.ipynb from book/<name>.py")
    conv.add_argument("--chapter", nargs="+", default=None)
    commands.add_parser("list", help="print the executed notebooks' paths in table-of-contents order")
    commands.add_parser("times", help="print the wall time of each chapter of the last execute")
    args = parser.parse_args(argv)

    root = repo_root()
    try:
        if args.command == "convert":
            for path in convert(root, args.chapter):
                print(path.relative_to(root))
        elif args.command == "list":
            print(" ".join(str(chapter_paths(root, n)[1].relative_to(root)) for n in toc_chapters(root)))
        elif args.command == "times":
            print_times(root)
        if args.command in ("execute", "all"):
            if args.jobs < 1:
                parser.error(f"--jobs must be at least 1, got {args.jobs}")
            execute(root, args.chapter, args.profile, args.device, args.seeds, args.results_dir, args.jobs)
        if args.command in ("html", "all"):
            html(root, args.path_output)
    except ChapterFailed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
