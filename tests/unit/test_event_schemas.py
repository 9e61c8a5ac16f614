"""The published event schemas (docs/events/) are the models' and are listed in the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from functions.models.events import EVENTS, ScoreChanged, TaskCompleted, envelope_schema, schema_file_name
from itask import schemas

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_match_the_models():
    # Then `make schemas` would change nothing
    assert schemas.differences() == []


def test_a_stale_missing_or_orphan_schema_is_reported(tmp_path):
    schemas.write(tmp_path)
    assert schemas.differences(tmp_path) == []
    (tmp_path / "ScoreChanged.schema.json").write_text("{}\n")
    (tmp_path / "TaskCompleted.schema.json").unlink()
    (tmp_path / "Gone.schema.json").write_text("{}\n")
    assert schemas.differences(tmp_path) == [
        f"{tmp_path}/ScoreChanged.schema.json: differs from its model",
        f"{tmp_path}/TaskCompleted.schema.json: missing",
        f"{tmp_path}/Gone.schema.json: no event model has this name",
    ]
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1
    schemas.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ScoreChanged.schema.json",
        "TaskCompleted.schema.json",
    ]


@pytest.mark.parametrize("model", list(EVENTS.values()), ids=lambda m: m.detail_type)
def test_every_schema_is_valid_json_schema_and_fixes_source_and_detail_type(model):
    schema = json.loads((schemas.EVENTS_DIR / schema_file_name(model)).read_text())
    Draft202012Validator.check_schema(schema)
    assert schema == envelope_schema(model)
    validator = Draft202012Validator(schema)
    assert not validator.is_valid({"source": "other", "detail-type": model.detail_type, "detail": {}})


def test_the_published_events_are_what_the_code_emits():
    assert set(EVENTS) == {("itask", "TaskCompleted"), ("itask", "ScoreChanged")}
    assert EVENTS[("itask", "TaskCompleted")] is TaskCompleted
    assert EVENTS[("itask", "ScoreChanged")] is ScoreChanged


def test_optional_fields_never_set_are_left_out_of_the_detail():
    event = TaskCompleted(
        task_id="t",
        task_type="grade_course",
        course_id="course-v1:a+b+c",
        state="FAILURE",
        requester="r",
        attempted=0,
        succeeded=0,
        failed=0,
        skipped=0,
        total=None,
        duration_ms=5,
        exception="ChunkFailed",
    )
    detail = event.detail()
    assert "report_name" not in detail and detail["exception"] == "ChunkFailed" and detail["total"] is None


def test_the_readme_lists_every_event_with_its_schema():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Events", 1)[1].split("\n## ", 1)[0]
    for model in EVENTS.values():
        link = f"(docs/events/{schema_file_name(model)})"
        row = re.search(
            rf"^\| `{model.source}` \| `{model.detail_type}` \|.*{re.escape(link)}", section, re.M
        )
        assert row, f"README Events table has no row for {model.source}/{model.detail_type} linking {link}"
