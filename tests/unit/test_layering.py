"""Layering that import-linter contracts cannot express without listing every module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "ggwatch"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_simulator_imports_nothing_else_from_ggwatch() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in (PACKAGE / "sim").rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] == "ggwatch" and not name.startswith("ggwatch.sim")
    }
    assert not offenders


def test_only_the_shell_imports_the_simulator() -> None:
    allowed = {"cli.py", "cliargs.py", "demo.py"}  # the shell, and the command line it parses
    offenders = {
        path.name
        for path in PACKAGE.rglob("*.py")
        if "sim" not in path.relative_to(PACKAGE).parts[:1]
        and path.name not in allowed
        and any(name.startswith("ggwatch.sim") for name in _imports(path))
    }
    assert not offenders
