"""The pieces agree: ASL placeholders, exception names, handler paths, permissions, the registry."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from functions import errors
from functions.catalog import ASL_FUNCTION_TOKENS, FUNCTIONS, RULES
from functions.errors import BadRequest, Forbidden
from functions.logic import permissions, registry
from functions.models.access import Principal, Role, RoleGrant
from functions.settings import Settings
from itask.local.resources import ASL_FILE, asl_tokens


def _asl() -> dict:
    return json.loads(ASL_FILE.read_text())


def _states(definition: dict):
    for name, state in definition["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


def test_every_asl_placeholder_has_a_function_and_vice_versa():
    assert asl_tokens(ASL_FILE.read_text()) == set(ASL_FUNCTION_TOKENS)
    assert set(ASL_FUNCTION_TOKENS.values()) <= set(FUNCTIONS)


def test_error_names_in_retry_and_catch_exist_in_code():
    names = {
        name
        for _, state in _states(_asl())
        for rule in state.get("Retry", []) + state.get("Catch", [])
        for name in rule["ErrorEquals"]
    }
    ours = {name for name in names if not name.startswith(("States.", "Lambda."))}
    assert ours, "expected at least one of our exception classes in the ASL"
    for name in ours:
        assert isinstance(getattr(errors, name, None), type), (
            f"{name} is not an exception class in functions.errors"
        )


def test_asl_keeps_to_what_runs_on_aws_and_on_moto():
    text = ASL_FILE.read_text()
    assert "ItemBatcher" not in text and "ResultWriter" not in text and "JSONata" not in text
    assert 'ToleratedFailurePercentage"' not in text
    assert re.search(r"arn:aws:(lambda|s3|dynamodb):[a-z]", text) is None, "no real ARNs in the ASL"


@pytest.mark.parametrize("spec", list(FUNCTIONS.values()), ids=lambda spec: spec.name)
def test_every_handler_path_imports(spec):
    module, _, attribute = spec.handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_rules_target_known_functions():
    assert all(rule.target in FUNCTIONS for rule in RULES)


def _principal(*grants: tuple[str, Role], staff: bool = False) -> Principal:
    return Principal(
        subject="u",
        user_id=1,
        username="u",
        global_staff=staff,
        grants=[RoleGrant(scope=scope, role=role) for scope, role in grants],
    )


COURSE = "course-v1:Org+Num+Run"


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (_principal(staff=True), True),
        (_principal((COURSE, Role.DATA_RESEARCHER)), True),
        (_principal(("org:Org", Role.DATA_RESEARCHER)), True),
        (_principal(("org:Other", Role.DATA_RESEARCHER)), False),
        (_principal((COURSE, Role.INSTRUCTOR)), False),  # upstream: research needs global staff or researcher
        (_principal((COURSE, Role.STAFF)), False),
        (_principal(("course-v1:Org+Num+Other", Role.DATA_RESEARCHER)), False),
    ],
)
def test_research_permission(principal, allowed):
    assert permissions.allowed(Settings(), principal, COURSE, permissions.Permission.RESEARCH) is allowed


def test_permission_rules_can_be_overridden_by_settings():
    settings = Settings(permission_overrides=json.dumps({"research": ["global_staff", "instructor"]}))
    permissions.require(
        settings, _principal((COURSE, Role.INSTRUCTOR)), COURSE, permissions.Permission.RESEARCH
    )
    with pytest.raises(Forbidden):
        permissions.require(
            Settings(), _principal((COURSE, Role.INSTRUCTOR)), COURSE, permissions.Permission.RESEARCH
        )


def test_registry_rejects_unknown_types_and_bad_input():
    with pytest.raises(BadRequest, match="Unknown task type"):
        registry.require("nope")
    grade = registry.require("grade_course")
    assert grade.task_key(grade.parse_input({})) == ""
    with pytest.raises(BadRequest, match="Invalid input for grade_course"):
        grade.parse_input({"surprise": True})
    assert grade.already_running_message.startswith("The grade report is being created.")
