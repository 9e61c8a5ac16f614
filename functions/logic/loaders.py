"""Bulk data loads by administrators, one loader per kind of data (``POST /courses/{id}/data/{kind}``).

A loader takes the run context, the course id and the body's lines (JSON lines) and returns a
summary. Modules register theirs with ``@loader("kind")``; new kinds go in ``functions/logic/data/``,
which is imported whole.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from functions.errors import BadRequest
from functions.logic.registry import RunContext

Loader = Callable[[RunContext, str, list[str]], dict[str, Any]]
_LOADERS: dict[str, Loader] = {}
# Importing these registers every loader: learner state here, the other kinds in the data package.
LOADER_MODULES = ("functions.logic.content", "functions.logic.data")


def loader(kind: str) -> Callable[[Loader], Loader]:
    def register(function: Loader) -> Loader:
        if kind in _LOADERS:
            raise ValueError(f"loader {kind} registered twice")
        _LOADERS[kind] = function
        return function

    return register


def kinds() -> list[str]:
    _load_modules()
    return sorted(_LOADERS)


def run(ctx: RunContext, course_id: str, kind: str, lines: list[str]) -> dict[str, Any]:
    _load_modules()
    found = _LOADERS.get(kind)
    if found is None:
        raise BadRequest(f"Unknown data kind {kind!r}. Known kinds: {', '.join(sorted(_LOADERS))}")
    return found(ctx, course_id, lines)


def _load_modules() -> None:
    for name in LOADER_MODULES:
        importlib.import_module(name)
