"""Shared by the LTI integration tests: a small OLX course, a stack with LTI settings, signed launches."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from oauthlib.oauth1 import SIGNATURE_TYPE_BODY, Client

from functions.dal.access_repo import AccessRepository
from functions.dal.clients import client
from functions.dal.lti_repo import LtiRepository
from functions.logic.usage_keys import usage_key
from functions.models.access import Role, RoleGrant
from functions.models.lti import Passback, PassbackStatus
from functions.settings import Settings
from itask.local.event_delivery import EventDelivery
from itask.local.http_adapter import build_event
from tests.helpers.api import course_path
from tests.helpers.lti_standins import tls_files
from tests.helpers.olx import tar_gz
from tests.integration.conftest import Stack

COURSE = "course-v1:LtiX+L101+2026"
HOST = "lti.test"
CHOICES = (
    '<multiplechoiceresponse><choicegroup type="MultipleChoice">'
    '<choice correct="false">a</choice><choice correct="true">b</choice>'
    "</choicegroup></multiplechoiceresponse>"
)
FILES = {
    "course.xml": '<course url_name="2026" org="LtiX" course="L101"/>',
    "course/2026.xml": f"""<course display_name="LTI course">
  <chapter url_name="week1" display_name="Week 1">
    <sequential url_name="hw1" display_name="Homework 1" format="Homework" graded="true">
      <vertical url_name="unit1" display_name="Unit 1">
        <problem url_name="q1" display_name="Q1">{CHOICES}</problem>
        <problem url_name="q2" display_name="Q2">{CHOICES}</problem>
        <problem url_name="q3" display_name="Q3">{CHOICES}</problem>
      </vertical>
    </sequential>
  </chapter>
</course>""",
    "policies/2026/grading_policy.json": json.dumps(
        {
            "GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "weight": 1.0}],
            "GRADE_CUTOFFS": {"Pass": 0.5},
        }
    ),
}


def key(category: str, block: str) -> str:
    return usage_key(COURSE, category, block)


def archive() -> bytes:
    return tar_gz(FILES)


def lti_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "chunk_size": 100,
        "max_concurrency": 4,
        "lti_outcome_allow_loopback": True,
        "lti_ca_bundle": tls_files().ca,
        "lti_composite_delay_seconds": 2,
        "lti_retry_base_seconds": 0,
        "lti_max_attempts": 5,
        "lti_content_url": "https://content.example/courses/{course_id}/jump_to/{usage_id}",
    }
    values.update(overrides)
    return Settings(**values)


def setup_course(stack: Stack, learners: range) -> None:
    """The course imported; ``learners`` enrolled, each with a q1 state (even ids right, scored 0)."""
    now = int(time.time())
    event = build_event(
        "POST",
        "/admin/courses/import",
        {"content-type": "application/gzip"},
        archive(),
        {"sub": "admin", "iat": now, "exp": now + 3600},  # tokens expire (functions/logic/tokens.py)
    )
    response = stack.router.invoke("api", event)
    assert response["statusCode"] == 201, response["body"]
    access = AccessRepository(stack.settings)
    access.grant("instructor", [RoleGrant(scope=COURSE, role=Role.INSTRUCTOR)])
    access.grant("staff", [RoleGrant(scope=COURSE, role=Role.STAFF)])
    lines = [
        json.dumps(
            {
                "user_id": user,
                "username": f"learner{user}",
                "email": f"learner{user}@example.org",
                "problem": key("problem", "q1"),
                # Even learners answered b (right) but were scored 0; odd ones a (wrong), scored 1.
                "answers": {"q1_2_1": "choice_1" if user % 2 == 0 else "choice_0"},
                "attempts": 1,
                "earned": 0.0 if user % 2 == 0 else 1.0,
                "possible": 1.0,
                "first_attempted": "2026-09-10T00:00:00+00:00",
            }
        )
        for user in learners
    ]
    status, body = stack.api(
        "POST", course_path(COURSE, "data/state"), "admin", raw_body="\n".join(lines).encode()
    )
    assert status == 200, body


def register_consumer(stack: Stack, consumer_key: str, secret: str, name: str | None = None) -> None:
    status, body = stack.api(
        "POST",
        "/lti/consumers",
        "admin",
        {"key": consumer_key, "name": name or consumer_key, "secret": secret},
    )
    assert status == 201, body


def load_assignments(stack: Stack, rows: list[dict[str, Any]]) -> dict[str, Any]:
    status, body = stack.api(
        "POST",
        course_path(COURSE, "data/lti_assignments"),
        "admin",
        raw_body="\n".join(json.dumps(row) for row in rows).encode(),
    )
    assert status == 200, body
    return dict(body)


def run_task(stack: Stack, task_type: str, task_input: dict[str, Any]) -> str:
    status, body = stack.api(
        "POST", course_path(COURSE, "tasks"), "instructor", {"task_type": task_type, "input": task_input}
    )
    assert status == 202, body
    return str(body["task_id"])


def override(stack: Stack, user: int, problem: str, score: float) -> str:
    return run_task(
        stack,
        "override_problem_score",
        {"problem_url": key("problem", problem), "student": f"learner{user}", "score": score},
    )


def wait_for(condition: Callable[[], Any], timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ledger(stack: Stack, course_id: str, user: int) -> list[Passback]:
    return list(LtiRepository(stack.settings).iter_course_ledger(course_id, user))


def wait_status(
    stack: Stack, user: int, version: int, *statuses: PassbackStatus, timeout_s: float = 60
) -> Passback:
    def settled() -> Passback | None:
        for record in ledger(stack, COURSE, user):
            if record.version == version and record.status in statuses:
                return record
        return None

    found: Passback = wait_for(settled, timeout_s, f"v{version} of {user} in {statuses}")
    return found


def passback_executions_running(stack: Stack) -> int:
    sfn = client("stepfunctions", stack.settings.region)
    return len(
        sfn.list_executions(stateMachineArn=stack.settings.lti_state_machine_arn, statusFilter="RUNNING")[
            "executions"
        ]
    )


@contextmanager
def delivering(stack: Stack) -> Iterator[EventDelivery]:
    """Bus events delivered to the ScoreChanged function while inside."""
    delivery = EventDelivery(stack.router, stack.settings.region, poll_interval_s=0.05)
    delivery.start()
    try:
        yield delivery
    finally:
        delivery.stop()


@dataclass
class Launch:
    status: int
    headers: dict[str, str]
    body: Any


def launch_url(course_id: str, usage: str) -> str:
    return f"https://{HOST}/lti/launch/{quote(course_id, safe='')}/{quote(usage, safe='')}"


def signed_launch(consumer_key: str, secret: str, url: str, params: dict[str, str], **oauth: Any) -> str:
    """A form body signed like an LMS signs it (oauthlib, HMAC-SHA1, parameters in the body)."""
    signer = Client(consumer_key, client_secret=secret, signature_type=SIGNATURE_TYPE_BODY, **oauth)
    _, _, body = signer.sign(
        url, http_method="POST", body=params, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    return str(body)


def post_launch(stack: Stack, url: str, body: str) -> Launch:
    path = url.split(HOST, 1)[1]
    event = build_event(
        "POST",
        path,
        {"host": HOST, "content-type": "application/x-www-form-urlencoded", "x-forwarded-proto": "https"},
        body.encode(),
        {},
    )
    del event["requestContext"]["authorizer"]
    response = stack.router.invoke("lti-launch", event)
    text = response.get("body") or ""
    return Launch(
        int(response["statusCode"]), response.get("headers") or {}, json.loads(text) if text else None
    )


def launch_params(user: str, sourcedid: str | None, outcome_url: str | None, **extra: str) -> dict[str, str]:
    params = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": "link-1",
        "user_id": user,
        "tool_consumer_instance_guid": "lms.example.edu",
        **extra,
    }
    if sourcedid is not None:
        params["lis_result_sourcedid"] = sourcedid
    if outcome_url is not None:
        params["lis_outcome_service_url"] = outcome_url
    return params


def start_stack(settings: Settings) -> Iterator[Stack]:
    """Like the conftest's stack, with LTI settings; waits for every execution before the mock ends."""
    from moto import mock_aws

    from itask.local.resources import provision
    from tests.helpers.gates import Hooks
    from tests.integration.conftest import AWS_FAULTS, COUNTER, ROUTER, SECRET_VALUES, exported, seed

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        provisioned = provision(settings, ROUTER, SECRET_VALUES)
        with exported(provisioned):
            seed(provisioned, 10)
            stack = Stack(provisioned, ROUTER, COUNTER, Hooks(ROUTER), AWS_FAULTS)
            try:
                yield stack
            finally:
                stack.hooks.close()
                AWS_FAULTS.clear()
                deadline = time.monotonic() + 60
                while (stack.executions_running() or passback_executions_running(stack)) and (
                    time.monotonic() < deadline
                ):
                    time.sleep(0.05)
