"""A guard on the results cache: the code that computes cached results may not change while
``onen.cache.CODE_VERSION`` stays the same.

The fingerprint is a sha256 over the syntax trees (docstrings and comments left out) of the modules that compute
what the cache stores. When this test fails, either the change alters results (bump ``CODE_VERSION`` so that old
entries become misses, then record the new fingerprint) or it does not (record the new fingerprint only). Run
``python tests/test_code_version.py`` to print the record.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

from onen.cache import CODE_VERSION

ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("result_code_fingerprint.json")
# every module whose code decides a number that the cache stores
MODULES = ("attacks", "cache", "calibration", "cifar", "data", "drift", "features", "jacobian", "models",
           "regularizers", "shaping", "spectrum", "whiten",
           "runs/config", "runs/training", "runs/experiments", "runs/search", "runs/calibration_run",
           "runs/regularizer_runs",
           "robustness/audit", "robustness/masking", "robustness/selection", "robustness/mnist_c",
           "robustness/mnist_c_eval", "robustness/cifar_c",
           "analysis/background")


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in MODULES:
        tree = _without_docstrings(ast.parse((ROOT / "onen" / f"{name}.py").read_text(encoding="utf-8")))
        digest.update(name.encode() + ast.unparse(tree).encode())  # normalised source: stable across Python versions
    return digest.hexdigest()


def test_result_code_changes_only_with_a_cache_version_change() -> None:
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    current = {"code_version": CODE_VERSION, "fingerprint": fingerprint()}
    assert current == record, (
        "code that computes cached results changed. If results change, bump onen.cache.CODE_VERSION; either way "
        f"record the new state in {RECORD.name}: {json.dumps(current)}")


def test_the_fingerprint_ignores_docstrings_and_comments_but_not_code() -> None:
    plain = _without_docstrings(ast.parse("def f(x):\n    return x + 1\n"))
    documented = _without_docstrings(ast.parse('def f(x):\n    """Add one."""\n    # a comment\n    return x + 1\n'))
    changed = _without_docstrings(ast.parse("def f(x):\n    return x + 2\n"))
    assert ast.dump(plain) == ast.dump(documented) != ast.dump(changed)


if __name__ == "__main__":
    print(json.dumps({"code_version": CODE_VERSION, "fingerprint": fingerprint()}))
