"""Request bodies as JSON, refusing what would otherwise end in a 500 (issue #8.4): nesting deeper
than any request needs (Python's parser would raise RecursionError near 1,000 levels), numbers JSON
does not have (NaN, Infinity, 1e999) and integers too long to convert."""

from __future__ import annotations

import json
import math
from typing import Any

from functions.errors import BadRequest

MAX_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise BadRequest(f"Malformed JSON body: {name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BadRequest(f"Malformed JSON body: {text} is out of range")
    return number


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse(text: str) -> Any:
    """The JSON value of a request body; ``BadRequest`` (400) with a clear message otherwise."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError as error:
        raise BadRequest(f"The JSON body nests deeper than {MAX_DEPTH} levels") from error
    except ValueError as error:  # JSONDecodeError, and integers longer than Python converts
        raise BadRequest(f"Malformed JSON body: {error}") from error
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(f"The JSON body nests deeper than {MAX_DEPTH} levels")
    return value
