"""Publishing the book: the GitHub Actions workflow builds it as ``make book`` does and deploys it to Pages, and
``_config.yml`` gives every page its repository, issues, download and Binder buttons from one repository URL.

The workflow is read as YAML and compared with the Makefile (build command, interpreter, torch pins) rather than with
copies of its own strings; the buttons are checked in the HTML Jupyter Book writes for a small book with this
``_config.yml``, against Binder's documented URL scheme."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def makefile_recipe(target: str) -> list[str]:
    """The command lines of ``target`` in the Makefile, with ``$(PY)`` as the plain ``python`` a runner has."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}\s*:", line))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().replace("$(PY)", "python"))
    return recipe


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"\b(torch|torchvision)==([0-9][0-9.]*)", text))


def makefile_extras() -> set[str]:
    install = next(line for line in makefile_recipe("$(STAMP)") if "-e '." in line)
    return set(re.search(r"\.\[([^\]]+)\]", install).group(1).split(","))


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(job: str) -> list[dict[str, Any]]:
    return workflow()["jobs"][job]["steps"]


def run_lines(job: str) -> list[str]:
    return [line.strip() for step in steps(job) for line in step.get("run", "").splitlines()]


def step_index(job: str, predicate: Any) -> int:
    found = [i for i, step in enumerate(steps(job)) if predicate(step)]
    assert len(found) == 1, f"{job}: {len(found)} steps match"
    return found[0]


def uses(action: str) -> Any:
    return lambda step: step.get("uses", "").split("@")[0] == action


def test_the_workflow_runs_on_pushes_to_main_and_by_hand() -> None:
    triggers = workflow().get("on", workflow().get(True))  # YAML 1.1 reads a bare `on` key as True
    assert triggers["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in triggers


def test_the_workflow_builds_the_book_with_the_makefiles_command() -> None:
    book = makefile_recipe("book")
    assert len(book) == 1 and book[0].startswith("python -m onen.commands.build"), book
    lines = run_lines("build")
    assert book[0] in lines
    assert not any("--path-output" in line for line in lines)  # so the site is where the upload takes it from
    build = step_index("build", lambda s: book[0] in s.get("run", ""))
    install = step_index("build", lambda s: "pip install -e" in s.get("run", ""))
    upload = step_index("build", uses("actions/upload-pages-artifact"))
    assert install < build < upload
    assert steps("build")[upload]["with"]["path"] == "_build/html"
    assert step_index("build", uses("actions/configure-pages")) < upload


def test_the_workflow_uses_the_makefiles_python_and_torch_pins_with_cpu_wheels() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    python = re.search(r"^PYTHON \?= python(\d+\.\d+)$", makefile, re.M).group(1)
    setup = steps("build")[step_index("build", uses("actions/setup-python"))]
    assert str(setup["with"]["python-version"]) == python
    torch_line = next(line for line in run_lines("build") if "torch==" in line)
    assert pins(torch_line) == pins(makefile) and set(pins(makefile)) == {"torch", "torchvision"}
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line
    install = next(line for line in run_lines("build") if "pip install -e" in line)
    extras = set(re.search(r"\.\[([^\]]+)\]", install).group(1).split(","))
    assert {"book", "audit"} <= extras <= makefile_extras()  # the chapters use the audit extra's torchattacks


def test_the_workflow_deploys_to_pages_with_the_permissions_it_needs() -> None:
    flow = workflow()
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert flow["concurrency"]["group"] and flow["concurrency"]["cancel-in-progress"] is False
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    (step,) = deploy["steps"]
    assert step["uses"].split("@")[0] == "actions/deploy-pages"
    assert deploy["environment"]["url"] == f"${{{{ steps.{step['id']}.outputs.page_url }}}}"


def test_the_workflow_checks_the_repository_url_against_the_repository_it_runs_in() -> None:
    check = steps("build")[step_index("build", lambda s: "repository.url" in s.get("run", ""))]
    script = check["run"].split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
    for here, fails in (("https://github.com/someone/else", True), (config()["repository"]["url"], False)):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "HERE": here},
                              capture_output=True, text=True)
        assert (done.returncode != 0) == fails, done.stderr
        assert ("error: _config.yml has repository.url" in done.stderr) == fails


def config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def test_one_repository_url_feeds_the_repository_issues_download_and_binder_buttons() -> None:
    from jupyter_book.config import get_final_config

    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    url = config()["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[^/\s]+/[^/\s]+", url), url
    assert len(re.findall(r"https?://(?:www\.)?github\.com", text)) == 1, "the repository URL is set in one place"
    sphinx, _ = get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                                 sourcedir=ROOT, validate=True, raise_on_invalid=True)
    theme = sphinx["html_theme_options"]
    assert theme["repository_url"] == url and theme["repository_branch"] == "main" and theme["path_to_docs"] == ""
    assert theme["use_repository_button"] and theme["use_issues_button"] and theme["use_download_button"]
    assert theme["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert "onen.commands.build" in sphinx["extensions"]


def test_binder_builds_the_root_environment_with_what_the_chapters_import() -> None:
    """repo2docker reads environment.yml and postBuild from the root unless a binder/ folder exists; the environment
    has every dependency of the package and of the extras the chapters use, the Makefile's torch pins, and the
    package itself; postBuild writes the notebooks the launch button opens."""
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    python = re.search(r"^PYTHON \?= python(\d+\.\d+)$", makefile, re.M).group(1)
    assert f"python={python}" in conda
    assert pins(" ".join(pip)) == pins(makefile)
    assert "-e ." in pip
    names = {re.split(r"[<>=!\[ ]", d.strip('"'))[0].lower() for d in conda + pip if not d.startswith("-")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = project["dependencies"] + project["optional-dependencies"]["book"] + \
        project["optional-dependencies"]["audit"]
    missing = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in needed} - names
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    post = ROOT / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    commands = [shlex.split(line) for line in post.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert ["python", "-m", "onen.commands.build", "convert"] in commands


TINY_CHAPTER = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tiny chapter

# %%
print(1 + 1)
'''


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-page book (a markdown introduction and a chapter from ``book/tiny.py``) with this repository's
    ``_config.yml``, built by Jupyter Book; returns its ``html`` folder."""
    import jupytext

    from onen.commands.build import _jupyter_book

    root = tmp_path_factory.mktemp("book")
    (root / "book").mkdir()
    (root / "_config.yml").write_text((ROOT / "_config.yml").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "book" / "references.bib").write_text((ROOT / "book" / "references.bib").read_text(encoding="utf-8"),
                                                  encoding="utf-8")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/tiny\n",
                                   encoding="utf-8")
    (root / "book" / "intro.md").write_text("# Introduction\n\nThe book.\n", encoding="utf-8")
    (root / "book" / "tiny.py").write_text(TINY_CHAPTER, encoding="utf-8")
    jupytext.write(jupytext.read(root / "book" / "tiny.py", fmt="py:percent"), root / "book" / "tiny.ipynb",
                   fmt="ipynb")
    done = subprocess.run([_jupyter_book(), "build", str(root), "-W", "-n", "--keep-going"], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "_build" / "html"


def links(page: Path) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8")))


def test_a_chapter_page_offers_its_notebook_and_jupytext_source_and_launches_on_binder(tiny_site: Path) -> None:
    repository = config()["repository"]
    org, repo = repository["url"].removeprefix("https://github.com/").split("/")
    found = links(tiny_site / "book" / "tiny.html")
    # mybinder.org's scheme: /v2/gh/<org>/<repo>/<ref>, then the file to open under ?urlpath=
    binder = f"https://mybinder.org/v2/gh/{org}/{repo}/{repository['branch']}?urlpath=tree/book/tiny.ipynb"
    assert binder in found
    assert {"../_sources/book/tiny.ipynb", "../_sources/book/tiny.py"} <= found
    assert repository["url"] in found
    assert any(link.startswith(f"{repository['url']}/issues/new") for link in found)
    source = tiny_site / "_sources" / "book"
    assert (source / "tiny.py").read_text(encoding="utf-8") == TINY_CHAPTER
    assert (source / "tiny.ipynb").is_file()


def test_a_markdown_page_has_no_notebook_to_download_or_launch(tiny_site: Path) -> None:
    found = links(tiny_site / "book" / "intro.html")
    assert "../_sources/book/intro.md" in found
    assert not any(link.endswith((".py", ".ipynb")) or "mybinder.org" in link for link in found)
