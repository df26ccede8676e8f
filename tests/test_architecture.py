"""The tree shows the architecture: the asked top level (`cli.py`, `editor`, `inversion`, `suppression`) plus one
package of our own (`unwant`), imports that run one way, and the editor in folders by idea."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# our package -> packages of ours (and front-end libraries) it must never import:
# unwant.sd <- inversion, suppression, unwant.presence <- editor <- unwant.web <- cli
FORBIDDEN = {
    "unwant/sd": {"inversion", "suppression", "unwant.presence", "editor", "cli", "unwant.web", "benchmarks"},
    "inversion": {"editor", "cli", "unwant.web", "benchmarks"},
    "suppression": {"editor", "cli", "unwant.web", "benchmarks"},
    "unwant/presence": {"inversion", "suppression", "editor", "cli", "unwant.web", "benchmarks"},
    "editor": {"click", "gradio", "cli", "unwant.web", "benchmarks"},
    "unwant/web": {"click", "cli", "benchmarks"},  # a front over editor, as cli is; cli starts it
}
# the import names the wheel installs: the four the project was asked for, and its own name for the rest
INSTALLED = {"cli", "editor", "inversion", "suppression", "unwant"}


def our_name(module: str) -> str:
    """`unwant.sd.text` -> "unwant.sd"; `editor.files` -> "editor"; `torch.nn` -> "torch"."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "unwant" and len(parts) > 1 else parts[0]


def imported_packages(path: Path) -> set[str]:
    """Our package (or the library) of every import in a file, those inside functions included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(our_name(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(our_name(node.module))
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
    bad.write_text("def f():\n    from unwant.web.page import build_page\nimport click\nfrom editor.files import edit_file\n")
    assert imported_packages(bad) == {"unwant.web", "click", "editor"}


def test_the_wheel_installs_the_asked_names_and_one_of_its_own():
    """`web`, `sd` or `presence` at the top level would collide with other packages (web.py installs `web`)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in patterns} | set(setuptools["py-modules"]) == INSTALLED
    on_disk = {path.parent.name for path in ROOT.glob("*/__init__.py")} | {path.stem for path in ROOT.glob("*.py")}
    assert on_disk - {"benchmarks", "tests"} == INSTALLED  # nothing importable at the top that the wheel leaves out


def test_the_command_line_is_a_thin_front():
    """cli.py parses options and makes one API call per command: it imports the API's public modules only."""
    modules = {node.module for node in ast.walk(ast.parse((ROOT / "cli.py").read_text())) if isinstance(node, ast.ImportFrom)}
    ours = {module for module in modules if our_name(module) in INSTALLED}
    assert ours <= {"editor.files", "editor.dataset.folder", "editor.loading", "editor.settings", "editor.checks",
                    "unwant.presence.config", "suppression.config", "unwant.sd.errors", "unwant.web.server"}
    assert not (ROOT / "cli").exists()


def test_the_editor_is_in_folders_by_idea():
    """Each folder of the editor says what it holds, and the API's own file stays readable."""
    folders = [path for path in (ROOT / "editor").iterdir() if path.is_dir() and (path / "__init__.py").exists()]
    assert {path.name for path in folders} == {"removal", "photos", "dataset"}
    for folder in folders:
        assert ast.get_docstring(ast.parse((folder / "__init__.py").read_text())), folder
    assert len((ROOT / "editor" / "editor.py").read_text().splitlines()) < 400
    assert len(list((ROOT / "editor").glob("*.py"))) <= 10
