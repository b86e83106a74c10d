"""The book runner (onen.commands.build): a failed or interrupted chapter never replaces the last good executed notebook, the published
page hides the injected parameters, and html() refuses a notebook that did not run to the end."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from onen.commands import build


def write_chapter(root: Path, name: str, body: str) -> None:
    (root / "book").mkdir(exist_ok=True)
    (root / "book" / f"{name}.py").write_text(
        '# %% tags=["parameters"]\nprofile = "quick"\n\n# %%\n' + body + "\n", encoding="utf-8")


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))
    build.use_this_interpreter(tmp_path / "kernel")


def test_a_failed_chapter_keeps_the_last_good_notebook(tmp_path: Path, kernel: None) -> None:
    root = tmp_path / "root"
    root.mkdir()
    write_chapter(root, "ch", "print('good', profile)")
    build._execute_one(root, "ch", {"profile": "paper", "results_dir": "/somewhere/results/paper"})
    notebook = root / "book" / "ch.ipynb"
    good = notebook.read_bytes()
    assert build.completed(notebook)
    nb = nbformat.reads(good.decode(), as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert ["injected-parameters", "remove-cell"] in tags and ["parameters", "hide-cell"] in tags
    assert "good paper" in str(nb.cells[-1].outputs)

    write_chapter(root, "ch", "raise RuntimeError('broken')")
    with pytest.raises(build.ChapterFailed):
        build._execute_one(root, "ch", {"profile": "paper"})
    assert notebook.read_bytes() == good
    assert not build.completed(root / "book" / "ch.failed.ipynb")
    assert sorted(p.name for p in (root / "book").iterdir()) == ["ch.failed.ipynb", "ch.ipynb", "ch.py"]


def test_completed_needs_an_end_time_and_every_cell_completed(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("2")]
    path = tmp_path / "x.ipynb"

    def save(end_time: str | None, statuses: list[str]) -> bool:
        nb.metadata["papermill"] = {"end_time": end_time, "exception": None}
        for cell, status in zip(nb.cells, statuses):
            cell.metadata["papermill"] = {"status": status}
        nbformat.write(nb, path)
        return build.completed(path)

    assert save("2026-01-01T00:00:00", ["completed", "completed"])
    assert not save(None, ["completed", "completed"])  # killed before papermill finished
    assert not save("2026-01-01T00:00:00", ["completed", "running"])
    nb.metadata.pop("papermill")
    nbformat.write(nb, path)
    assert not build.completed(path)  # never executed by papermill


def test_several_jobs_run_chapters_at_once_with_one_thread_and_the_last_ones_after(
        tmp_path: Path, kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs: both chapters run (each kernel with OMP_NUM_THREADS=1), and "reproduced" starts only after both
    finished (it records the others' end stamps, which must exist when it runs)."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/reproduced\n"
                                   "  - file: book/a\n  - file: book/b\n", encoding="utf-8")
    stamp = "import os, pathlib, time\nout = pathlib.Path(os.environ['STAMPS'])\n"
    for name in ("a", "b"):
        write_chapter(root, name, stamp + f"time.sleep(1)\n(out / '{name}').write_text(os.environ['OMP_NUM_THREADS'])")
    write_chapter(root, "reproduced", stamp + "print(sorted(p.name for p in out.iterdir()))")
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    monkeypatch.setenv("STAMPS", str(stamps))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    build.execute(root, None, "quick", "cpu", None, str(tmp_path / "results"), jobs=2)
    assert (stamps / "a").read_text() == (stamps / "b").read_text() == "1"
    last = nbformat.read(root / "book" / "reproduced.ipynb", as_version=4)
    assert "['a', 'b']" in str(last.cells[-1].outputs)
    with pytest.raises(ValueError):
        build.execute(root, None, "quick", "cpu", None, None, jobs=0)


def test_chapter_times_are_kept_for_the_end_of_make_test(tmp_path, capsys) -> None:
    """execute records each chapter's wall time; `times` prints them again later, in order, with the total."""
    build.print_times(tmp_path)
    assert "no chapter times recorded" in capsys.readouterr().out
    build._save_times(tmp_path, [("shallow", 12.5, "ok"), ("audit", 30.25, "FAILED")])
    saved = capsys.readouterr().out
    build.print_times(tmp_path)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["shallow", "audit", "total"]
    assert lines[2].split()[1:] == ["30.2", "s", "FAILED"] and lines[3].split()[1] == "42.8"
    assert saved.strip() == "\n".join(lines)  # the same table execute printed
