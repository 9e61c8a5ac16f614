"""Shared by the course email integration tests: a stack, a course with cohorts, tracks, staff,
opted-out, disabled and suppressed learners, and who each target must reach - worked out by hand
from spec §6.1, not by the code under test.

Each test takes its own course (``MailCourse.create``) with its own user ids and addresses, so the
messages moto's SES keeps can be counted per address without other tests' messages in the way.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.dal.access_repo import AccessRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.email_repo import EmailRepository
from functions.dal.people_repo import PeopleRepository
from functions.models.access import Principal, Role, RoleGrant
from functions.models.course import Enrollment
from functions.models.people import UserProfile
from functions.models.tasks import Task
from functions.settings import Settings
from tests.helpers.api import course_path
from tests.helpers.course import hand_course
from tests.helpers.mailbox import Mailbox
from tests.integration.conftest import Stack

_courses = itertools.count(1)
START = datetime(2026, 9, 7, tzinfo=UTC)
END = datetime(2026, 12, 18, tzinfo=UTC)

# The roster, as offsets from the course's base user id: (cohort, mode, enrollment active, account active)
ALPHA = range(1, 9)  # cohort Alpha, audit
BETA = range(9, 15)  # cohort Beta, verified
HONOR = range(15, 21)  # no cohort, honor
UNENROLLED = 21  # cohort Alpha, verified, enrollment not active
INACTIVE_ACCOUNT = 22  # no cohort, audit, account not active
OPTED_OUT = 23  # cohort Beta, audit, opted out of the course's email
SUPPRESSED = 24  # no cohort, verified, address hard-bounced before
GHOST = 25  # the only member of cohort Ghost, enrollment not active: the cohort exists, selects nobody
INSTRUCTOR = 90  # enrolled: cohort Alpha, audit (the sender)
STAFF = 91  # enrolled: verified, no cohort
STAFF_NOT_ENROLLED = 92
STAFF_DISABLED = 93  # enrolled with an account that is not active


def address(user_id: int) -> str:
    return f"u{user_id}@mail.example.org"


@dataclass
class MailCourse:
    stack: Stack
    course_id: str
    base: int
    instructor: str  # token subjects
    staff: str
    outsider: str
    extra: int = 0  # learners 200.. (audit, no cohort) beyond the roster
    mailbox: Mailbox = field(default_factory=Mailbox)

    @classmethod
    def create(cls, stack: Stack, learners_extra: int = 0) -> MailCourse:
        number = next(_courses)
        course_id = f"course-v1:MailX+M{number}+2026"
        base = 100_000 * number
        settings = stack.settings
        courses = CourseRepository(settings)
        course = hand_course(course_id).model_copy(
            update={"display_name": f"Mail {number} <Course>", "start": START, "end": END, "cohorted": True}
        )
        courses.put_course(course)
        rows: list[tuple[int, str | None, str, bool, bool]] = []
        rows += [(base + i, "Alpha", "audit", True, True) for i in ALPHA]
        rows += [(base + i, "Beta", "verified", True, True) for i in BETA]
        rows += [(base + i, None, "honor", True, True) for i in HONOR]
        rows += [
            (base + UNENROLLED, "Alpha", "verified", False, True),
            (base + INACTIVE_ACCOUNT, None, "audit", True, False),
            (base + OPTED_OUT, "Beta", "audit", True, True),
            (base + SUPPRESSED, None, "verified", True, True),
            (base + GHOST, "Ghost", "audit", False, True),
            (base + INSTRUCTOR, "Alpha", "audit", True, True),
            (base + STAFF, None, "verified", True, True),
            (base + STAFF_DISABLED, None, "audit", True, False),
        ]
        rows += [(base + 200 + i, None, "audit", True, True) for i in range(learners_extra)]
        courses.put_enrollments(
            Enrollment(
                course_id=course_id,
                user_id=uid,
                username=f"u{uid}",
                email=address(uid),
                mode=mode,
                is_active=active,
                user_is_active=account,
                cohort=cohort,
            )
            for uid, cohort, mode, active, account in rows
        )
        PeopleRepository(settings).put_profiles(
            UserProfile(id=uid, username=f"u{uid}", email=address(uid), name=f"Learner Ü{uid}")
            for uid, *_ in rows
        )
        access = AccessRepository(settings)
        subjects = {}
        for offset, role in (
            (INSTRUCTOR, Role.INSTRUCTOR),
            (STAFF, Role.STAFF),
            (STAFF_NOT_ENROLLED, Role.STAFF),
            (STAFF_DISABLED, Role.STAFF),
        ):
            subject = f"m{number}-{offset}"
            subjects[offset] = subject
            access.put_principal(
                Principal(
                    subject=subject,
                    user_id=base + offset,
                    username=f"u{base + offset}",
                    email=address(base + offset),
                    grants=[RoleGrant(scope=course_id, role=role)],
                )
            )
        outsider = f"m{number}-outsider"
        access.put_principal(
            Principal(
                subject=outsider,
                user_id=base + 99,
                username=f"u{base + 99}",
                email=address(base + 99),
                grants=[RoleGrant(scope="course-v1:OtherX+Z9+2026", role=Role.INSTRUCTOR)],
            )
        )
        EmailRepository(settings).put_opt_out(course_id, base + OPTED_OUT, "test")
        mail = cls(stack, course_id, base, subjects[INSTRUCTOR], subjects[STAFF], outsider, learners_extra)
        return mail

    def uid(self, offset: int) -> int:
        return self.base + offset

    def addresses(self, offsets: Iterator[int] | range | list[int]) -> set[str]:
        return {address(self.base + offset) for offset in offsets}

    def every_address(self) -> set[str]:
        offsets = [
            *ALPHA,
            *BETA,
            *HONOR,
            UNENROLLED,
            INACTIVE_ACCOUNT,
            OPTED_OUT,
            SUPPRESSED,
            GHOST,
            INSTRUCTOR,
            STAFF,
            STAFF_NOT_ENROLLED,
            STAFF_DISABLED,
            *range(200, 200 + self.extra),
        ]
        return self.addresses(offsets)

    # ---- requests ----
    def send(
        self,
        send_to: list[str],
        subject: str = "News",
        message: str = "<p>Hello %%USER_FULLNAME%%</p>",
        as_subject: str | None = None,
        **extra: Any,
    ) -> tuple[int, Any]:
        body = {"send_to": send_to, "subject": subject, "message": message, **extra}
        return self.stack.api(
            "POST", course_path(self.course_id, "emails"), as_subject or self.instructor, body
        )

    def send_ok(self, send_to: list[str], **extra: Any) -> str:
        status, body = self.send(send_to, **extra)
        assert status == 202, body
        return str(body["task_id"])

    def wait(self, task_id: str, timeout_s: float = 120.0) -> Task:
        return self.stack.wait(task_id, timeout_s)

    def output(self, task_id: str) -> dict[str, Any]:
        task = self.stack.task(task_id)
        assert task.task_output is not None
        return dict(json.loads(task.task_output))


def email_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "chunk_size": 100,
        "max_concurrency": 4,
        "email_recipients_per_chunk": 5,
        "email_claim_batch": 3,
        "email_throttle_base_seconds": 0.01,
        "email_public_base_url": "https://api.test",
        "email_from": "course-mail@example.org",
        "email_platform_name": "Test Platform",
        # Recipients are chosen from a sharded course (the roster index of every shard, merged).
        "learner_shards": 4,
    }
    values.update(overrides)
    return Settings(**values)


def start_stack(settings: Settings, send_rate: float = 500.0) -> Iterator[Stack]:
    from moto import mock_aws

    from itask.local.email_resources import ses_quota
    from itask.local.resources import provision
    from tests.helpers.gates import Hooks
    from tests.integration.conftest import AWS_FAULTS, COUNTER, ROUTER, SECRET_VALUES, exported, seed

    ses_quota(send_rate)
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
                while stack.executions_running() and time.monotonic() < deadline:
                    time.sleep(0.05)


def wait_for(condition: Any, timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ses_bounce(to: str, task_id: str, user_id: int, bounce_type: str = "Permanent") -> dict[str, Any]:
    """An SES event publishing record for a bounce, shaped as AWS documents it (EventBridge detail)."""
    now = datetime.now(UTC)
    return {
        "eventType": "Bounce",
        "bounce": {
            "feedbackId": "0100017d-bounce-feedback",
            "bounceType": bounce_type,
            "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": to,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": (now + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
            "reportingMTA": "dsn; a1-23.smtp-out.amazonses.com",
        },
        "mail": _mail(to, task_id, user_id, now),
    }


def ses_complaint(to: str, task_id: str, user_id: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "eventType": "Complaint",
        "complaint": {
            "feedbackId": "0100017d-complaint-feedback",
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": to}],
            "timestamp": (now + timedelta(seconds=5)).isoformat().replace("+00:00", "Z"),
            "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            "complaintFeedbackType": "abuse",
            "arrivalDate": now.isoformat().replace("+00:00", "Z"),
        },
        "mail": _mail(to, task_id, user_id, now),
    }


def _mail(to: str, task_id: str, user_id: int, now: datetime) -> dict[str, Any]:
    return {
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "source": "course-mail@example.org",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.org",
        "sendingAccountId": "123456789012",
        "messageId": f"0100017d-{task_id[:8]}-{user_id}",
        "destination": [to],
        "headersTruncated": False,
        "tags": {
            "ses:configuration-set": ["itask-course-email"],
            "ses:source-ip": ["192.0.2.1"],
            "itask_task": [task_id],
            "itask_user": [str(user_id)],
            "itask_kind": ["course_email"],
        },
    }


def eventbridge(detail: dict[str, Any], detail_type: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"evt-{time.monotonic_ns()}",
        "detail-type": detail_type,
        "source": "aws.ses",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/itask-course-email"],
        "detail": detail,
    }


def deliver_ses_event(stack: Stack, detail: dict[str, Any], detail_type: str) -> None:
    """Put an SES event on the account's default bus, as SES's EventBridge destination does, and let
    the local event delivery (the rule's queue -> the function) hand it to the real handler."""
    from functions.catalog import EVENT_RULES
    from functions.dal.clients import client
    from itask.local.event_delivery import EventDelivery

    answer = client("events", stack.settings.region).put_events(
        Entries=[
            {
                "Source": "aws.ses",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": "default",
                "Resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/itask-course-email"],
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0, answer
    rule = next(rule for rule in EVENT_RULES if rule.target == "email-events")
    delivery = EventDelivery(stack.router, stack.settings.region)
    wait_for(lambda: delivery.poll_once(rule), 10, "the SES event on its queue")
