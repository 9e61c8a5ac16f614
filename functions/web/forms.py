"""Forms generated from a task type's input schema (the JSON schema ``GET /task-types`` serves).

A new task type gets its form by declaring its input model: nothing here names a type. The form only
gathers values; the API validates them (``submit_task``) and its messages go beside the fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Values the browser sends for a checked checkbox.
_TRUE = frozenset({"on", "true", "1", "yes"})


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, number, integer, checkbox, select, lines, json
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    default: Any = None
    bounds: dict[str, Any] = field(default_factory=dict)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(schema.get("$defs", {}).get(ref.split("/")[-1], {}))
    return node


def _variant(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of ``X | None`` (``anyOf: [X, {type: null}]``)."""
    node = _resolve(schema, node)
    variants = [_resolve(schema, one) for one in node.get("anyOf", []) if one.get("type") != "null"]
    if len(variants) == 1:
        merged = {**node, **variants[0]}
        merged.pop("anyOf", None)
        return merged
    return node


def _kind(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "select"
    kind = node.get("type")
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return str(kind)
    if kind == "array" and node.get("items", {}).get("type") in ("string", "integer"):
        return "lines"
    if kind == "string" or (kind is None and not node.get("anyOf")):
        return "text"
    return "json"


def form_fields(schema: dict[str, Any]) -> list[Field]:
    """One field per property a user sets (``readOnly`` properties are filled in by the service)."""
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema.get("properties", {}).items():
        node = _variant(schema, raw)
        if node.get("readOnly") or raw.get("readOnly"):
            continue
        bounds: dict[str, Any] = {
            key: node[key]
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength")
            if key in node
        }
        fields.append(
            Field(
                name=name,
                label=str(raw.get("title") or node.get("title") or name.replace("_", " ").capitalize()),
                kind=_kind(node),
                required=name in required,
                help=str(raw.get("description") or node.get("description") or ""),
                choices=tuple(str(one) for one in node.get("enum", [])),
                default=raw.get("default"),
                bounds=bounds,
            )
        )
    return fields


def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text  # sent as given: the API says what is wrong with it, beside the field


def task_input(fields: list[Field], form: dict[str, str]) -> dict[str, Any]:
    """The input object from the submitted form: empty fields are left out (the model's default)."""
    values: dict[str, Any] = {}
    for one in fields:
        raw = form.get(one.name)
        if one.kind == "checkbox":
            if raw is not None and raw.lower() in _TRUE:
                values[one.name] = True
            continue
        if raw is None or not raw.strip():
            continue
        text = raw.strip()
        if one.kind in ("integer", "number"):
            values[one.name] = _number(text, one.kind)
        elif one.kind == "lines":
            values[one.name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif one.kind == "json":
            try:
                values[one.name] = json.loads(text)
            except ValueError:
                values[one.name] = text
        else:
            values[one.name] = text
    return values
