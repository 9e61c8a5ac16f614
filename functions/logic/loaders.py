"""Bulk data loads by administrators, one loader per kind of data (``POST /courses/{id}/data/{kind}``).

A loader takes the run context, the course id and the body's lines (JSON lines), checks every line
and everything it will write, and returns the rows to write and the summary to answer
(``load_journal.Prepared``): it writes nothing itself. ``run`` hands it to ``load_journal``, which
calls it under the course's load lock and applies the rows all or nothing with the applier the kind
registered (``@load_journal.applier``). Modules register loaders with ``@loader("kind")``; new kinds
go in ``functions/logic/data/``, which is imported whole.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from functions.errors import BadRequest
from functions.logic import load_journal
from functions.logic.load_journal import Prepared
from functions.logic.registry import RunContext

Loader = Callable[[RunContext, str, list[str]], Prepared]
_LOADERS: dict[str, Loader] = {}
_LINE_MODELS: dict[str, type[BaseModel]] = {}
# Importing these registers every loader: learner state here, the other kinds in the data package.
LOADER_MODULES = ("functions.logic.content", "functions.logic.data")


Row = TypeVar("Row", bound=BaseModel)


def split_lines(text: str) -> list[str]:
    """The body's physical lines: split on "\\n" only (a "\\r" before it is dropped).

    Not ``str.splitlines``: it also splits on U+2028, U+2029, U+0085 and other characters that
    JSON allows unescaped inside strings, which would cut a valid line in two and shift every
    line number after it.
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_lines(
    model: type[Row], lines: Sequence[str], max_rows: int, what: str = "rows", allow_empty: bool = False
) -> list[tuple[int, Row]]:
    """(line number, row) of every non-blank line; a 400 naming the first line that does not validate.

    ``lines`` are the body's physical lines (``split_lines``): numbers count them, blank ones too.
    """
    rows: list[tuple[int, Row]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(rows) == max_rows:
            raise BadRequest(f"At most {max_rows} {what} per load")
        try:
            rows.append((number, model.model_validate_json(line)))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "line"
            raise BadRequest(f"line {number}: {first['msg']} at {where}") from error
    if not rows and not allow_empty:
        raise BadRequest("The body holds no rows (JSON lines expected)")
    return rows


def loader(kind: str, line: type[BaseModel] | None = None) -> Callable[[Loader], Loader]:
    """Register the loader of ``kind``; ``line`` is the model of one JSON line, from which the kind's
    published schema is generated (``docs/loads/<kind>.schema.json``, ``make schemas``)."""

    def register(function: Loader) -> Loader:
        if kind in _LOADERS:
            raise ValueError(f"loader {kind} registered twice")
        _LOADERS[kind] = function
        if line is not None:
            _LINE_MODELS[kind] = line
        return function

    return register


def kinds() -> list[str]:
    load_modules()
    return sorted(_LOADERS)


def line_models() -> dict[str, type[BaseModel]]:
    """kind -> the model of one of its JSON lines (every kind registers one: a test holds it)."""
    load_modules()
    return dict(sorted(_LINE_MODELS.items()))


def loader_for(kind: str) -> Loader:
    """The loader of ``kind``; 400 naming the known kinds otherwise."""
    load_modules()
    found = _LOADERS.get(kind)
    if found is None:
        raise BadRequest(f"Unknown data kind {kind!r}. Known kinds: {', '.join(sorted(_LOADERS))}")
    return found


def run(ctx: RunContext, course_id: str, kind: str, lines: list[str], requester: str) -> dict[str, Any]:
    """Load ``lines`` of ``kind`` into the course, all or nothing; the loader's summary."""
    found = loader_for(kind)
    return load_journal.run(ctx, course_id, kind, requester, lambda: found(ctx, course_id, lines))


def refuse_unstorable(found: tuple[int, str] | None, line_of: Callable[[int], int], what: str) -> None:
    """400 naming the line whose item DynamoDB would refuse (``found``: position and reason)."""
    if found is not None:
        position, reason = found
        raise BadRequest(f"line {line_of(position)}: the {what} cannot be stored: {reason}")


def load_modules() -> None:
    """Import every module that registers a loader (and its applier)."""
    for name in LOADER_MODULES:
        importlib.import_module(name)
