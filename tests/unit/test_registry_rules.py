"""The task-type registry's own rules: one declaration per name, bounded stored inputs."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from functions.errors import BadRequest
from functions.logic import registry


def test_a_task_type_cannot_be_registered_twice():
    grade_course = registry.require("grade_course")
    with pytest.raises(ValueError, match=r"^Task type grade_course registered twice$"):
        registry.register(type(grade_course))
    assert registry.get("grade_course") is grade_course  # the first declaration stands


def test_unknown_task_types_are_refused_naming_the_known_ones():
    with pytest.raises(BadRequest) as raised:
        registry.require("no_such_type")
    message = str(raised.value)
    assert message.startswith("Unknown task type: 'no_such_type'. Known types: ")
    assert "grade_course" in message.split("Known types: ")[1].split(", ")


class Note(BaseModel):
    text: str
    extra: str | None = None


def test_a_task_input_is_stored_as_sorted_json_without_nulls_and_refused_past_the_limit():
    assert registry.task_input_json(Note(text="hi")) == '{"text": "hi"}'
    fits = registry.TASK_INPUT_LIMIT - len('{"text": ""}')
    assert len(registry.task_input_json(Note(text="x" * fits))) == registry.TASK_INPUT_LIMIT
    with pytest.raises(BadRequest, match=r"^An error has occurred\. Task was not created\.$"):
        registry.task_input_json(Note(text="x" * (fits + 1)))
