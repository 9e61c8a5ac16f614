"""Helpers of the infra tests: the synthesised app, and what the application source declares.

The application code is read with ``ast``, never imported: it needs the runtime dependencies, and the
infrastructure must follow the code, not the other way round.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from constructs import IConstruct

from infra.stack import InstructorTasksStack

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Synthesized:
    """The synthesised app: the stack object, its template (as dict and as ``Template``), the assembly."""

    app: App
    stack: InstructorTasksStack
    template: Template
    resources: dict[str, dict[str, Any]]
    template_file: Path
    assembly_dir: Path
    context: dict[str, Any]

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of an L2 construct's CloudFormation resource."""
        default_child = construct.node.default_child
        assert default_child is not None, f"{construct.node.path} has no CloudFormation resource"
        return Stack.of(construct).get_logical_id(default_child)  # type: ignore[arg-type]

    def resource(self, construct: IConstruct) -> dict[str, Any]:
        return self.resources[self.logical_id(construct)]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}


ATTRIBUTE_TYPES = {"UnicodeAttribute": "S", "NumberAttribute": "N", "BinaryAttribute": "B"}
PROJECTIONS = {"AllProjection": "ALL", "KeysOnlyProjection": "KEYS_ONLY", "IncludeProjection": "INCLUDE"}


@dataclass(frozen=True)
class Key:
    name: str
    type: str


@dataclass(frozen=True)
class DeclaredIndex:
    name: str
    hash_key: Key
    range_key: Key | None
    projection: str


@dataclass(frozen=True)
class DeclaredTable:
    setting: str  # the Settings field holding the table name, e.g. "tasks_table"
    hash_key: Key
    range_key: Key | None
    indexes: dict[str, DeclaredIndex]


def _call_name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _assignments(cls: ast.ClassDef) -> Iterator[tuple[str, ast.expr]]:
    for node in cls.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            yield node.targets[0].id, node.value


def _keys(cls: ast.ClassDef) -> tuple[Key, Key | None]:
    hash_key = range_key = None
    for name, value in _assignments(cls):
        kind = _call_name(value)
        if kind not in ATTRIBUTE_TYPES:
            continue
        assert isinstance(value, ast.Call)
        flags = {kw.arg for kw in value.keywords if isinstance(kw.value, ast.Constant) and kw.value.value}
        if "hash_key" in flags:
            hash_key = Key(name, ATTRIBUTE_TYPES[kind])
        if "range_key" in flags:
            range_key = Key(name, ATTRIBUTE_TYPES[kind])
    assert hash_key is not None, f"{cls.name} declares no hash key"
    return hash_key, range_key


def _bases(cls: ast.ClassDef) -> set[str]:
    names = set()
    for base in cls.bases:
        node = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(node, ast.Name):
            names.add(node.id)
    return names


def parse_tables(path: Path, owner: tuple[str, str] | None = None) -> dict[str, DeclaredTable]:
    """Settings field -> table declared by the PynamoDB models of ``functions/dal/tables.py`` (its
    ``TABLE_OWNERS``), or by the models of a module holding one table: ``owner`` = (settings field,
    owning model), with the indexes of every model of the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    indexes: dict[str, DeclaredIndex] = {}
    for name, cls in classes.items():
        if "GlobalSecondaryIndex" not in _bases(cls):
            continue
        meta = next(node for node in cls.body if isinstance(node, ast.ClassDef) and node.name == "Meta")
        settings = dict(_assignments(meta))
        index_name = settings["index_name"]
        assert isinstance(index_name, ast.Constant)
        hash_key, range_key = _keys(cls)
        projection = PROJECTIONS[_call_name(settings["projection"]) or ""]
        indexes[name] = DeclaredIndex(str(index_name.value), hash_key, range_key, projection)
    if owner is not None:
        setting, owner_name = owner
        hash_key, range_key = _keys(classes[owner_name])
        used = [
            indexes[kind]
            for cls in classes.values()
            if "Model" in _bases(cls)
            for _, call in _assignments(cls)
            if (kind := _call_name(call)) in indexes
        ]
        return {setting: DeclaredTable(setting, hash_key, range_key, {index.name: index for index in used})}
    owners = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign | ast.Assign)
        and "TABLE_OWNERS" in ast.unparse(node.target if isinstance(node, ast.AnnAssign) else node.targets[0])
    )
    assert isinstance(owners, ast.Dict)
    tables = {}
    for key, value in zip(owners.keys, owners.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(value, ast.Name)
        model = classes[value.id]
        hash_key, range_key = _keys(model)
        used = [indexes[kind] for _, call in _assignments(model) if (kind := _call_name(call)) in indexes]
        tables[str(key.value)] = DeclaredTable(
            str(key.value), hash_key, range_key, {index.name: index for index in used}
        )
    return tables


def parse_settings_fields(path: Path) -> set[str]:
    """The fields of ``class Settings`` in ``functions/settings.py``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings")
    fields = {
        node.target.id
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    return fields - {"model_config"}
