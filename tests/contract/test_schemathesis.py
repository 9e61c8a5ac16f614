"""Schemathesis against the local stack over HTTP: every operation of the published contract, valid
tokens of several roles, generated positive and negative data (and the OpenAPI links from a
submitted task to its status, cancel and resume, followed by the stateful run).

Fails on any 5xx, any status code or body the contract does not document, and any traceback text
in a body. The example budget is bounded (CONTRACT_MAX_EXAMPLES) so the suite stays near a minute;
the counts are printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from functions.handlers.api import openapi_document
from itask.seed import DEMO_COURSE
from tests.contract.conftest import ContractStack, course_path

# Roles whose tokens every generated request is sent with: the one who may do everything, a course
# instructor, course staff, and a learner who may do nothing.
FUZZ_ROLES = ("global_staff", "instructor", "staff", "learner")
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "12"))
# How long one request may take before the run counts it as failed. Schemathesis waits 10 s by
# default, which a loaded 2-core machine exceeds (the local stack answers every request, only
# later): a hung server still fails here, a slow one does not.
REQUEST_TIMEOUT_S = 120
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+|/site-packages/")

# The bodies the service reads raw: JSON lines (text) and course exports (bytes).
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/gzip", "application/octet-stream")

TALLY: Counter[str] = Counter()
FAILURES: list[str] = []


@schemathesis.check
def no_traceback_text(ctx: Any, response: Any, case: Any) -> bool | None:
    """No answer shows a traceback, a source path or an installed library's path."""
    if TRACEBACK.search(response.text or ""):
        raise AssertionError(f"traceback text in the body: {response.text[:300]}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    no_traceback_text,
]


def _worth_mapping(value: Any) -> bool:
    """Half of the schema-valid values (a value generated to break the schema stays as it is)."""
    if not isinstance(value, str) or not 1 <= len(value) <= 1024:
        return False
    return zlib.crc32(value.encode("utf-8", "replace")) % 2 == 0


# The document is static, so the schema loads at collection (schemathesis' lazy fixture loading
# does not work with pytest 9); what is known only once the stack runs comes through KNOWN.
schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            "phases": {"coverage": {"enabled": False}},
        }
    ),
)
KNOWN: dict[str, str] = {}


@schema.hook  # type: ignore[misc]
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    # Half the generated course ids and task ids name real ones, so requests reach the service's
    # checks beyond "not found" (which one depends on the generated value: reproducible).
    if not path_parameters:
        return path_parameters
    if _worth_mapping(path_parameters.get("course_id")):
        path_parameters["course_id"] = DEMO_COURSE
    if _worth_mapping(path_parameters.get("task_id")) and "grade_task" in KNOWN:
        path_parameters["task_id"] = KNOWN["grade_task"]
    if _worth_mapping(path_parameters.get("report_type")):
        path_parameters["report_type"] = "pending_enrollments"  # a cheap report of the demo course
    if _worth_mapping(path_parameters.get("key")) and "consumer" in KNOWN:
        path_parameters["key"] = KNOWN["consumer"]
    if _worth_mapping(path_parameters.get("verify_uuid")) and "verify_id" in KNOWN:
        path_parameters["verify_uuid"] = KNOWN["verify_id"]
    if _worth_mapping(path_parameters.get("user")) and "learner" in KNOWN:
        path_parameters["user"] = KNOWN["learner"]
    if _worth_mapping(path_parameters.get("email_id")) and "email_id" in KNOWN:
        path_parameters["email_id"] = KNOWN["email_id"]
    if _worth_mapping(path_parameters.get("schedule_id")):
        # Spec §6.7's routes take a scheduled email's schedule; the generic ones any schedule.
        known = (
            "email_schedule" if "bulk_email" in str(getattr(context.operation, "path", "")) else "schedule"
        )
        if known in KNOWN:
            path_parameters["schedule_id"] = KNOWN[known]
    return path_parameters


@pytest.fixture(autouse=True)
def _known(contract: ContractStack) -> None:
    KNOWN["grade_task"] = contract.grade_task
    KNOWN["consumer"] = contract.consumer
    KNOWN["verify_id"] = contract.verify_id
    KNOWN["learner"] = contract.learner
    KNOWN["email_id"] = contract.email_id
    if "schedule" not in KNOWN:  # a grade report a year ahead: moved, maybe deleted, never run here
        due = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0).isoformat()
        created = contract.client("global_staff").request(
            "POST", course_path(DEMO_COURSE, "schedules"), {"task_type": "grade_course", "schedule": due}
        )
        assert created.status == 201, created.body
        KNOWN["schedule"] = str(created.body["schedule_id"])
    if "email_schedule" not in KNOWN:  # a course email a year ahead: moved, edited, maybe cancelled
        due = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0).isoformat()
        admin = contract.client("global_staff")
        body = {"send_to": ["myself"], "subject": "Fuzz", "message": "<p>Later</p>", "schedule": due}
        written = admin.request("POST", course_path(DEMO_COURSE, "emails"), body)
        assert written.status == 202, written.body
        path = "/api/instructor_task/v1/schedules/" + quote(DEMO_COURSE, safe="") + "/bulk_email/"
        listed = admin.request("GET", path, query={"page_size": "100"})
        assert listed.status == 200, listed.body
        (item,) = [row for row in listed.body["results"] if row["task"] == written.body["task_id"]]
        KNOWN["email_schedule"] = str(item["id"])


def _credentials(contract: ContractStack, role: str, path: str) -> dict[str, str]:
    """Open edX's routes take the role's LMS JWT; every other route the role's bearer token."""
    if path.startswith("/api/instructor/v2/"):
        return {"Authorization": f"JWT {contract.openedx_token(role)}"}
    return {"Authorization": f"Bearer {contract.token(role)}"}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_the_contract_for_every_role(case: Any, contract: ContractStack) -> None:
    operation = f"{case.method} {case.path}"
    TALLY[f"operation:{operation}"] = 1
    for role in FUZZ_ROLES:
        headers = _credentials(contract, role, case.path)
        response = case.call(base_url=contract.url, headers=headers, timeout=REQUEST_TIMEOUT_S)
        TALLY["requests"] += 1
        TALLY[f"status:{response.status_code}"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as error:
            FAILURES.append(f"{operation} as {role}: {str(error)[:500]}")
            raise
    TALLY["examples"] += 1


STATEFUL_CHECKS = [check for check in CHECKS if check is not negative_data_rejection]


def test_following_the_links_from_a_submitted_task_keeps_the_contract(contract: ContractStack) -> None:
    """The stateful run: submit (as global staff), then status, cancel and resume of that task,
    in generated orders, through the document's OpenAPI links."""
    headers = {"Authorization": f"Bearer {contract.token('global_staff')}"}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": contract.url, "headers": headers, "timeout": REQUEST_TIMEOUT_S}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            TALLY["stateful steps"] += 1
            TALLY[f"stateful {case.operation.label}"] += 1
            case.validate_response(response, checks=STATEFUL_CHECKS, headers=headers)

    Workflow.run(
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The links were followed: some scenario went from a submit to the task it created
    followed = [key for key in TALLY if key.startswith("stateful ") and "{task_id}" in key]
    assert followed, dict(TALLY)


def test_zz_report_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Print what the run did (operations, examples, requests by status, failures)."""
    operations = sorted(key.split(":", 1)[1] for key in TALLY if key.startswith("operation:"))
    statuses = {key.split(":", 1)[1]: n for key, n in sorted(TALLY.items()) if key.startswith("status:")}
    with capsys.disabled():
        print(
            f"\nschemathesis: {len(operations)} operations, {TALLY['examples']} examples, "
            f"{TALLY['requests']} requests ({len(FUZZ_ROLES)} roles each), statuses {statuses}, "
            f"{TALLY['stateful steps']} stateful steps, {len(FAILURES)} failures"
        )
        for failure in FAILURES:
            print("  FAILURE", failure.replace("\n", " | ")[:600])
    assert len(operations) == sum(len(item) for item in openapi_document()["paths"].values())
    assert FAILURES == []
