"""Secrets come from Secrets Manager, never from a default in the code (issue #8.9).

On AWS the stack creates the anonymization secret and gives its ARN to the functions that read it;
the local stack and these tests create it on moto. A function that needs it and has none refuses
to start with a clear error.
"""

from __future__ import annotations

import pytest

from functions.models.tasks import TaskState
from functions.settings import Settings
from itask.local.lambda_router import FunctionError
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID

ANON_IDS = {"task_type": "generate_anonymous_ids_for_course"}


def test_without_its_secret_a_function_refuses_to_start(stack, monkeypatch):
    # Given the process-chunk function's environment names no anonymization secret
    monkeypatch.delenv("ITASK_ANONYMIZATION_SECRET_ARN", raising=False)
    monkeypatch.delenv("ITASK_ANONYMIZATION_SECRET", raising=False)
    # Then it refuses to run anything, saying which setting is missing
    with pytest.raises(FunctionError, match="ITASK_ANONYMIZATION_SECRET_ARN is not set"):
        stack.router.invoke(
            "process-chunk",
            {"task_id": "any", "group": {"index": 0, "chunks": [{"index": 0, "user_ids": [1001]}]}},
        )
    # and a report that prints anonymized ids fails instead of using some default key
    status, body = stack.api("POST", course_path(COURSE_ID, "tasks"), "instructor", ANON_IDS)
    assert status == 202, body
    assert stack.wait(body["task_id"]).state is TaskState.FAILURE
    assert stack.api("GET", course_path(COURSE_ID, "reports"), "instructor")[1] == {"downloads": []}


def test_an_unreadable_secret_is_refused_too(stack, monkeypatch):
    # Given the ARN names a secret that does not exist
    monkeypatch.setenv(
        "ITASK_ANONYMIZATION_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone"
    )
    with pytest.raises(FunctionError, match="could not be read"):
        stack.router.invoke(
            "process-chunk",
            {"task_id": "any", "group": {"index": 0, "chunks": [{"index": 0, "user_ids": [1001]}]}},
        )


def test_settings_hold_no_secret_value():
    # The settings name where secrets live; no field holds (or defaults to) a secret's value
    fields = Settings.model_fields
    assert "anonymization_secret" not in fields
    assert fields["anonymization_secret_arn"].default == ""
