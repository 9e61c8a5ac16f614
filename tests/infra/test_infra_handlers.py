"""Every handler of the catalog points at a function that exists in the source (without importing it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from functions.catalog import FUNCTIONS

REPO_ROOT = Path(__file__).resolve().parents[2]


def _module_file(dotted_module: str) -> Path:
    """``functions.handlers.api`` -> functions/handlers/api.py (or the package's __init__.py)."""
    base = REPO_ROOT.joinpath(*dotted_module.split("."))
    module = base.with_suffix(".py")
    return module if module.is_file() else base / "__init__.py"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_handler_module_exists_under_functions(name: str) -> None:
    # Given a catalog entry's handler "package.module.function"
    module, _, function = FUNCTIONS[name].handler.rpartition(".")
    # Then the module is a file of the functions package (what the code asset ships)
    assert module.split(".")[0] == "functions", f"{name}: handler outside the functions package"
    path = _module_file(module)
    assert path.is_file(), f"{name}: no module file for {module}"
    # And it defines the handler function at top level
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    } | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert function in defined, f"{name}: {path.relative_to(REPO_ROOT)} defines no {function}"
