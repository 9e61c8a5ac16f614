"""The published schemas of the data load kinds (docs/loads/) are their line models', one per kind,
and are listed in the README."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from functions.logic import loaders
from itask import load_schemas

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_registers_its_line_model():
    assert set(loaders.line_models()) == set(loaders.kinds())
    assert {"state", "block_scores", "profiles", "groups"} <= set(loaders.kinds())


def test_committed_schemas_match_the_models():
    # Then `make schemas` would change nothing
    assert load_schemas.differences() == []


def test_a_stale_missing_or_orphan_schema_is_reported(tmp_path):
    load_schemas.write(tmp_path)
    assert load_schemas.differences(tmp_path) == []
    (tmp_path / "state.schema.json").write_text("{}\n")
    (tmp_path / "profiles.schema.json").unlink()
    (tmp_path / "gone.schema.json").write_text("{}\n")
    assert load_schemas.differences(tmp_path) == [
        f"{tmp_path}/profiles.schema.json: missing",
        f"{tmp_path}/state.schema.json: differs from its model",
        f"{tmp_path}/gone.schema.json: no data kind has this name",
    ]
    assert load_schemas.main(["--check", "--dir", str(tmp_path)]) == 1


def test_every_kind_and_its_schema_are_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for kind in loaders.kinds():
        assert f"[`{kind}`](docs/loads/{kind}.schema.json)" in readme, kind


def test_the_block_scores_schema_judges_lines_as_the_loader_does():
    schema = json.loads((ROOT / "docs" / "loads" / "block_scores.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    model = loaders.line_models()["block_scores"]
    good = {
        "user_id": 7,
        "block": "ora1",
        "earned": 4,
        "possible": 5.0,
        "first_attempted": "2026-02-01T10:00:00Z",
    }
    assert validator.is_valid(good)
    model.model_validate_json(json.dumps(good))
    for bad in ({**good, "earned": "4"}, {**good, "colour": "red"}, {**good, "user_id": 0}, {"user_id": 7}):
        assert not validator.is_valid(bad), bad
