"""The package's folders are its layers: the core modules at the top of ``onen/``, then ``runs``, ``robustness``,
``analysis`` and ``commands``. Every import, at module level or inside a function, goes to the same layer or one
below, and no set of modules imports itself in a circle. The graph is read from the syntax trees, independently of
what Python happens to have imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "onen"
LAYERS = {"": 0, "runs": 1, "robustness": 2, "analysis": 3, "commands": 4}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from a import b`` counts ``a.b`` when that is a module)."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            # the most specific module named: "from onen.runs import experiments" is onen.runs.experiments
            found = [c for c in candidates if c in modules]
            specific = [c for c in found if c != base] or found
            targets.update(c for c in specific if c != name)
        graph[name] = targets
    return graph


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS[parts[1]] if len(parts) > 2 and parts[1] in LAYERS else 0


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_every_import_goes_to_the_same_layer_or_below() -> None:
    graph = import_graph()
    upward = [(a, b) for a, targets in graph.items() if a not in ("onen", "onen.__main__")
              for b in targets if layer(b) > layer(a)]
    assert upward == []


def test_no_module_imports_the_package_facade() -> None:
    """``onen/__init__`` re-exports the public API from every layer, so a module importing it would import upwards."""
    graph = import_graph()
    assert [a for a, targets in graph.items() if "onen" in targets and a != "onen.__main__"] == []


def test_the_checks_see_a_circle_and_an_upward_import(tmp_path: Path) -> None:
    package = tmp_path / "onen"
    (package / "runs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "runs" / "__init__.py").write_text("")
    (package / "spectrum.py").write_text("def f():\n    from onen.runs import training\n")
    (package / "runs" / "training.py").write_text("from onen.spectrum import f\n")
    graph = import_graph(package)
    assert cycles(graph) == [["onen.runs.training", "onen.spectrum"]]
    assert layer("onen.runs.training") > layer("onen.spectrum")


def test_every_folder_is_a_layer() -> None:
    """A new sub-package must be placed in LAYERS, or it would count as core and escape the check."""
    folders = {p.parent.name for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert folders == set(LAYERS) - {""}
