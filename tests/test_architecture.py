"""Imports run one way: sd <- inversion, suppression, presence <- editor <- web <- cli; benchmarks and tests sit on top of them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> top-level packages of ours it must never import
FORBIDDEN = {
    "sd": {"inversion", "suppression", "presence", "editor", "cli", "web", "benchmarks"},
    "inversion": {"editor", "cli", "web", "benchmarks"},
    "suppression": {"editor", "cli", "web", "benchmarks"},
    "presence": {"inversion", "suppression", "editor", "cli", "web", "benchmarks"},
    "editor": {"click", "gradio", "cli", "web", "benchmarks"},
    "web": {"click", "cli", "benchmarks"},  # a front over editor, as cli is; cli starts it
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every import in a file, those inside functions included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_run_one_way(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {file: names for file, names in offenders.items() if names} == {}


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from editor.errors import UnwantError\nimport click\n")
    assert imported_packages(bad) == {"editor", "click"}
