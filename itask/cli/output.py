"""What the CLI prints: results on stdout (JSON stays plain JSON for pipes), Rich tables for people."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_PIPE_WIDTH = 320  # a pipe or a log file has no width; 80 columns would cut report previews


@cache
def console() -> Console:
    wide = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(width=wide, highlight=False, soft_wrap=False)


@cache
def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(text: str = "") -> None:
    """A plain line on stdout (no markup: course keys and messages are full of brackets)."""
    console().print(text, markup=False, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if console().is_terminal:
        console().print_json(text)
    else:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    # Text(), not str: a str cell is read as Rich markup, and course data is full of brackets.
    grid = Table(title=title, title_justify="left", header_style="bold", show_edge=False)
    for name in columns:
        grid.add_column(Text(name))
    for row in rows:
        grid.add_row(*(Text(str(cell)) for cell in row))
    console().print(grid)


def csv_preview(data: bytes, rows: int, columns: int = 9) -> None:
    """The first rows of a CSV as a table, then its size."""
    reader = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not reader:
        say("(empty file)")
        return
    header, body = reader[0], reader[1:]
    shown = header[:columns] + (["..."] if len(header) > columns else [])
    grid = Table(show_edge=False, header_style="bold")
    for name in shown:
        grid.add_column(
            Text(name), min_width=min(len(name), 12), max_width=28, overflow="ellipsis", no_wrap=True
        )
    for row in body[:rows]:
        cells = row[:columns] + (["..."] if len(row) > columns else [])
        grid.add_row(*(Text(cell) for cell in cells))
    console().print(grid)
    say(f"({len(body)} rows, {len(header)} columns)")
