"""Planning a send: the snapshot every chunk reads, the recipients, the pace.

The snapshot fixes what the message is (subject, HTML, text, template, from address, course facts)
when the send starts, so every chunk - and a resume days later - sends the same message. The pace
comes from the account's SES quota: all chunks together stay under ``MaxSendRate`` (times the share
this service may use), so the Map runs ``ceil(rate / what one chunk can push)`` chunks at once and
each chunk sends at ``rate / concurrency`` messages per second.
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, Field

from functions.dal.access_repo import AccessRepository
from functions.dal.ses_mail import SesMail
from functions.errors import EmptyRecipientSet, TaskNotRunnable
from functions.logic.email import targets as target_rules
from functions.logic.email.render import from_address
from functions.logic.registry import RunContext
from functions.models.access import Role
from functions.models.email import CourseEmail, Recipient, Target, TargetType

STAFF_ROLES = (Role.STAFF, Role.INSTRUCTOR)
# A chunk must finish well within a chunk function's run (900 s): at most this long of sending.
CHUNK_SECONDS = 600.0
EMPTY_RECIPIENT_SET = "Bulk Email Task: Empty recipient set"


class EmailPlan(BaseModel):
    """The snapshot of a send (context.json): everything a chunk needs but the recipients' rows."""

    task_id: str
    email_id: int
    course_id: str
    course_title: str
    course_start: datetime | None = None
    course_end: datetime | None = None
    subject: str
    html_message: str
    text_message: str
    template: str
    from_address: str
    targets: list[Target]
    # Course staff and instructors (left out of learners and tracks).
    staff_ids: list[int] = Field(default_factory=list)
    # People chosen by myself / staff: who they are, read once here (they need not be enrolled).
    people: dict[int, Recipient] = Field(default_factory=dict)
    needs_profiles: bool = False
    last_login_months: int | None = None
    account_send_rate: float
    send_rate: float  # what this send may use, all chunks together
    concurrency: int
    chunk_rate: float  # messages per second per chunk
    chunk_size: int
    unsubscribe_base: str
    platform_name: str


def build_plan(ctx: RunContext, task_id: str, email: CourseEmail, template: str) -> EmailPlan:
    course = ctx.courses.get_course(email.course_id)
    if course is None:
        raise TaskNotRunnable(f"Course {email.course_id} no longer exists")
    settings = ctx.settings
    staff = AccessRepository(settings).members(email.course_id, STAFF_ROLES)
    people: dict[int, Recipient] = {}
    kinds = {target.type for target in email.targets}
    if TargetType.STAFF in kinds:
        for member in staff:
            people[member.user_id] = Recipient(
                user_id=member.user_id, email=member.email, username=member.username
            )
    if TargetType.MYSELF in kinds:
        people[email.sender_user_id] = Recipient(
            user_id=email.sender_user_id, email=email.sender_email, username=email.sender
        )
    quota = SesMail(settings).quota()
    account_rate = quota.max_send_rate
    ceiling = settings.email_max_send_rate or account_rate
    send_rate = min(account_rate, ceiling) * settings.email_send_rate_share
    concurrency = max(
        1, min(settings.max_concurrency, math.ceil(send_rate / settings.email_chunk_send_capacity))
    )
    chunk_rate = send_rate / concurrency
    # A chunk sends for at most CHUNK_SECONDS at its rate: slow accounts get smaller chunks.
    chunk_size = max(1, min(settings.email_recipients_per_chunk, int(chunk_rate * CHUNK_SECONDS)))
    return EmailPlan(
        task_id=task_id,
        email_id=email.id,
        course_id=email.course_id,
        course_title=course.display_name,
        course_start=course.start,
        course_end=course.end,
        subject=email.subject,
        html_message=email.html_message,
        text_message=email.text_message,
        template=template,
        from_address=from_address(
            settings.email_from,
            settings.email_from_course,
            email.course_id,
            course.display_name,
            email.from_addr,
        ),
        targets=email.targets,
        staff_ids=sorted(member.user_id for member in staff),
        people=people,
        needs_profiles="%%USER_FULLNAME%%" in email.html_message or settings.email_last_login_months > 0,
        last_login_months=settings.email_last_login_months or None,
        account_send_rate=account_rate,
        send_rate=send_rate,
        concurrency=concurrency,
        chunk_rate=chunk_rate,
        chunk_size=chunk_size,
        unsubscribe_base=settings.email_public_base_url,
        platform_name=settings.email_platform_name,
    )


def recipients(ctx: RunContext, plan: EmailPlan) -> list[int]:
    """Everyone the targets select, once each (one copy per person across overlapping targets),
    ascending: the learner sets from pages of the course's enrollments, plus myself / staff."""
    chosen = set(plan.people)
    if target_rules.has_learner_sets(plan.targets):
        staff_ids = frozenset(plan.staff_ids)
        for enrollment in ctx.courses.iter_audience(plan.course_id):
            if target_rules.selects(plan.targets, enrollment, staff_ids):
                chosen.add(enrollment.user_id)
    if not chosen:
        raise EmptyRecipientSet(EMPTY_RECIPIENT_SET)
    return sorted(chosen)
