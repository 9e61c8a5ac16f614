"""What the schedule tests share: callers with addresses, the rule, the clock, paths."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from moto.ses.models import ses_backends

from functions.dal.access_repo import AccessRepository
from functions.models.access import Principal, Role, RoleGrant
from itask.local.clock import LocalClock
from itask.local.rule_firer import RuleFirer
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID, OTHER_COURSE_ID
from tests.integration.conftest import Stack

CLOCK = LocalClock()
PARIS = ZoneInfo("Europe/Paris")
GRADE = {"task_type": "grade_course", "input": {}}
GRADE_WAIT = (
    "The grade report is being created. To view the status of the report, see Pending Tasks below. "
    "You will be able to download the report when it is complete."
)
# Callers with addresses (the shared PRINCIPALS have none): who reports may be mailed to.
MAILABLE = [
    Principal(
        subject="teacher",
        user_id=21,
        username="teacher",
        email="teacher@example.org",
        grants=[
            RoleGrant(scope=COURSE_ID, role=Role.INSTRUCTOR),
            RoleGrant(scope=COURSE_ID, role=Role.DATA_RESEARCHER),
        ],
    ),
    Principal(
        subject="analyst",
        user_id=22,
        username="analyst",
        email="Analyst@Example.org",
        grants=[RoleGrant(scope="org:TestX", role=Role.DATA_RESEARCHER)],
    ),
    Principal(
        subject="assistant",
        user_id=23,
        username="assistant",
        email="assistant@example.org",
        grants=[RoleGrant(scope=COURSE_ID, role=Role.STAFF)],
    ),
    Principal(
        subject="elsewhere",
        user_id=24,
        username="elsewhere",
        email="elsewhere@example.org",
        grants=[RoleGrant(scope=OTHER_COURSE_ID, role=Role.DATA_RESEARCHER)],
    ),
]


def with_mailable(stack: Stack) -> Stack:
    access = AccessRepository(stack.settings)
    for principal in MAILABLE:
        access.put_principal(principal)
    return stack


# ---- helpers ----
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def schedules_path(course: str = COURSE_ID, schedule_id: str | None = None) -> str:
    return course_path(course, "schedules" + (f"/{quote(schedule_id, safe='')}" if schedule_id else ""))


def create(stack: Stack, body: dict, subject: str = "teacher", course: str = COURSE_ID) -> dict:
    status, created = stack.api("POST", schedules_path(course), subject, body)
    assert status == 201, created
    return created


def fire(stack: Stack) -> dict:
    """One tick of the schedule rules, as the local stack's firer does it."""
    results = RuleFirer(stack.router, interval_s=3600).fire_all()
    assert "error" not in results["scheduler"], results
    return results["scheduler"]["outcomes"]


def advance_to(moment: datetime) -> None:
    """Move the scheduling clock just past ``moment``."""
    ahead = (moment - CLOCK.now()).total_seconds()
    if ahead > -1:
        CLOCK.advance(int(ahead) + 2)


def course_tasks(stack: Stack, course: str = COURSE_ID) -> list[dict]:
    status, body = stack.api("GET", course_path(course, "tasks"), "admin", query="state=all")
    assert status == 200, body
    return body["tasks"]


def mails_to(address: str) -> list:
    return [
        message
        for message in ses_backends["123456789012"]["us-east-1"].sent_messages
        if address in message.destinations["ToAddresses"]
    ]
