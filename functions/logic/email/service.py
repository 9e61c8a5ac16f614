"""What the email routes do (spec §6, §3.4), and what other capabilities call.

* ``send_email``: write a course email and send it now (the ``bulk_course_email`` task) or at a set
  time (``schedule``: the schedules capability). Everything is checked before anything is written;
  an email whose task could not be created is removed again, so a refusal leaves nothing behind.
* ``preview``: one recipient's message exactly as it would be sent (nothing written, nothing sent).
* ``email_tasks`` / ``email_contents``: the email task history and the sent-email content list.
* ``update_email`` / ``describe_email``: the scheduled-email REST API (spec §6.7) edits and shows
  the email of a scheduled send through these.
* ``opt_out``: the public unsubscribe link's action.
* ``send_one``: a single message through the same SES path (notices of other capabilities).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.dal.email_repo import EmailRepository
from functions.dal.secrets import SecretStore
from functions.dal.ses_mail import Answer, SendResult, SesMail
from functions.errors import ApiError, BadRequest, Conflict, NotFound
from functions.logic import permissions, registry, status, submit
from functions.logic.anonymity import anonymized_id
from functions.logic.email import render
from functions.logic.email import targets as target_rules
from functions.logic.email.unsubscribe import Unsubscribe, read_token, unsubscribe_url
from functions.models.access import Principal
from functions.models.email import MESSAGE_MAX, SUBJECT_MAX, CourseEmail, Recipient, Target
from functions.models.tasks import Task
from functions.observability import logger, metrics
from functions.settings import Settings

TASK_TYPE = "bulk_course_email"
SCHEDULE_ERROR = (
    "Error occurred creating a scheduled bulk email task. Schedule provided: '{schedule}'. Error: {detail}"
)
PREVIEW_TOKEN = "preview"


class SendRequest(BaseModel):
    """``POST /courses/{course_id}/emails``: upstream's send_email form, as JSON."""

    model_config = ConfigDict(extra="forbid")

    send_to: list[str] | str
    subject: str
    message: str
    schedule: str | None = None
    template_name: str | None = Field(default=None, max_length=64)
    # Recurring sends and notices belong to the schedules capability; passed on as given.
    recurrence: str | None = Field(default=None, max_length=100)
    time_zone: str | None = Field(default=None, max_length=64)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str
    message: str
    template_name: str | None = Field(default=None, max_length=64)
    # Whose message to show: a learner's user id, username or email; default the caller.
    user: str | None = Field(default=None, max_length=254)


def _parse(model: type[BaseModel], body: Any, shape: str) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise BadRequest(f"Body must be {shape}: {problems}") from error


@dataclass
class EmailContent:
    """Checked content of an email (subject, HTML, derived text, targets, template)."""

    subject: str
    html_message: str
    text_message: str
    targets: list[Target]
    template_name: str | None


def _require_email_permission(ctx: registry.RunContext, principal: Principal, course_id: str) -> None:
    submit.require_course(ctx, course_id)
    permissions.require(ctx.settings, principal, course_id, permissions.Permission.EMAIL)


def check_subject(subject: str) -> str:
    if not isinstance(subject, str) or not subject.strip():
        raise BadRequest("The subject is required (it is empty)")
    if len(subject) > SUBJECT_MAX:
        raise BadRequest(f"The subject is {len(subject)} characters long; at most {SUBJECT_MAX} are allowed")
    if any(ch in subject for ch in "\r\n"):
        raise BadRequest("The subject must be one line")
    return subject.strip()


def check_message(html: str) -> str:
    if not isinstance(html, str) or not html.strip():
        raise BadRequest("The message is required (it is empty)")
    if len(html) > MESSAGE_MAX:
        raise BadRequest(f"The message is {len(html)} characters long; at most {MESSAGE_MAX} are allowed")
    render.check_keywords(html)
    return html


def check_content(
    ctx: registry.RunContext,
    course_id: str,
    *,
    subject: str,
    html_message: str,
    send_to: Any,
    template_name: str | None,
) -> EmailContent:
    """Every check of an email's content, in the order a writer fixes them; 400 at the first failure."""
    subject = check_subject(subject)
    html_message = check_message(html_message)
    targets = target_rules.parse_targets(send_to)
    cohorts, modes = ctx.courses.course_groups(course_id)
    target_rules.check_against_course(targets, cohorts, modes, course_id)
    if template_name is not None:
        render.check_template(template_name)
    return EmailContent(subject, html_message, render.html_to_text(html_message), targets, template_name)


def _schedule_time(raw: str, now: datetime) -> datetime:
    """ISO-8601, forced to UTC, in the future (spec §6.3's 400 otherwise)."""
    try:
        due = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise BadRequest(
            SCHEDULE_ERROR.format(schedule=raw, detail=f"Invalid isoformat string: '{raw}'")
        ) from error
    due = due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)
    if due <= now:
        raise BadRequest(SCHEDULE_ERROR.format(schedule=raw, detail="the requested schedule is in the past"))
    return due


def send_email(ctx: registry.RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    """Write the email and send it (202) or schedule it; 4xx before anything is written."""
    request: SendRequest = _parse(
        SendRequest,
        body,
        '{"send_to": [...], "subject": "...", "message": "<html>", "schedule"?: "<ISO time>"}',
    )
    _require_email_permission(ctx, principal, course_id)
    content = check_content(
        ctx,
        course_id,
        subject=request.subject,
        html_message=request.message,
        send_to=request.send_to,
        template_name=request.template_name,
    )
    due = _schedule_time(request.schedule, datetime.now(UTC)) if request.schedule else None
    scheduler = _scheduler() if due is not None or request.recurrence else None
    repo = EmailRepository(ctx.settings)
    now = datetime.now(UTC)
    email = CourseEmail(
        id=repo.next_email_id(),
        course_id=course_id,
        subject=content.subject,
        html_message=content.html_message,
        text_message=content.text_message,
        targets=content.targets,
        sender=principal.username,
        sender_user_id=principal.user_id,
        sender_email=principal.email,
        template_name=content.template_name,
        created=now,
        modified=now,
    )
    repo.put_email(email)
    raw_input = {"email_id": email.id, "to_option": target_rules.to_option(email.targets)}
    try:
        if scheduler is not None:
            task = scheduler(
                ctx,
                principal,
                course_id,
                TASK_TYPE,
                raw_input,
                due,
                request.recurrence,
                request.time_zone,
                None,
            )
            message = "The email is scheduled."
        else:
            submitted = submit.submit(ctx, principal, course_id, TASK_TYPE, raw_input)
            task, message = submitted.task, submitted.message
    except ApiError as error:
        if error.status < 500:  # refused: nothing is left behind
            repo.delete_email(course_id, email.id)
        raise
    metrics.add_metric(name="CourseEmailsWritten", unit="Count", value=1)
    logger.info(
        "course email written",
        extra={
            "course_id": course_id,
            "email_id": email.id,
            "task_id": task.task_id,
            "scheduled": due is not None,
        },
    )
    return {
        "course_id": course_id,
        "success": True,
        "email_id": email.id,
        "task_id": task.task_id,
        "task_state": task.state.value,
        "status": message,
    }


def _scheduler() -> Any:
    """The schedules capability's ``schedule_task`` (imported when used: schedules import submit)."""
    from functions.logic.schedules.service import schedule_task

    return schedule_task


def _email_or_404(repo: EmailRepository, course_id: str, email_id: int | str) -> CourseEmail:
    try:
        number = int(email_id)
    except (TypeError, ValueError):
        raise NotFound(f"Email {email_id!r} does not exist in {course_id}") from None
    email = repo.get_email(course_id, number)
    if email is None:
        raise NotFound(f"Email {email_id} does not exist in {course_id}")
    return email


def describe_email(ctx: registry.RunContext, course_id: str, email_id: int | str) -> dict[str, Any]:
    """Spec §6.7's ``course_email`` object."""
    email = _email_or_404(EmailRepository(ctx.settings), course_id, email_id)
    return {
        "id": email.id,
        "subject": email.subject,
        "html_message": email.html_message,
        "text_message": email.text_message,
        "course_id": email.course_id,
        "to_option": target_rules.to_option(email.targets),
        "sender": email.sender,
        "targets": [target.short_name for target in email.targets],
    }


def update_email(
    ctx: registry.RunContext,
    principal: Principal,
    course_id: str,
    email_id: int | str,
    *,
    subject: str | None = None,
    html_message: str | None = None,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    """Edit an email (a scheduled one): checked as when written, text derived again from the HTML,
    targets replaced as a whole (at least one). 4xx and nothing changed on bad input."""
    _require_email_permission(ctx, principal, course_id)
    repo = EmailRepository(ctx.settings)
    email = _email_or_404(repo, course_id, email_id)
    content = check_content(
        ctx,
        course_id,
        subject=email.subject if subject is None else subject,
        html_message=email.html_message if html_message is None else html_message,
        send_to=[target.request_string for target in email.targets] if targets is None else targets,
        template_name=email.template_name,
    )
    edited = email.model_copy(
        update={
            "subject": content.subject,
            "html_message": content.html_message,
            "text_message": content.text_message,
            "targets": content.targets,
            "modified": datetime.now(UTC),
        }
    )
    if not repo.replace_email(edited, expected_modified=email.modified):
        raise Conflict(f"Email {email.id} was changed meanwhile; read it again and retry")
    return describe_email(ctx, course_id, email.id)


def preview(ctx: registry.RunContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    """One recipient's message as it would be sent: headers, text and HTML (nothing sent or stored)."""
    _require_email_permission(ctx, principal, course_id)
    request: PreviewRequest = _parse(
        PreviewRequest, body, '{"subject": "...", "message": "<html>", "user"?: "..."}'
    )
    subject = check_subject(request.subject)
    html = check_message(request.message)
    template = render.check_template(request.template_name or ctx.settings.email_template)
    course = ctx.courses.get_course(course_id)
    assert course is not None  # require_course
    recipient = _preview_recipient(ctx, principal, course_id, request.user)
    settings = ctx.settings
    link = unsubscribe_url(settings.email_public_base_url, PREVIEW_TOKEN)
    rendered = render.render(
        template=template,
        subject=subject,
        html_message=html,
        text_message=render.html_to_text(html),
        course=render.CourseFacts(course_id, course.display_name, course.start, course.end),
        recipient=recipient,
        anonymous_id=anonymized_id(ctx.secrets.get("anonymization"), recipient.user_id),
        unsubscribe_link=link,
        platform_name=settings.email_platform_name,
    )
    return {
        "from": render.from_address(
            settings.email_from, settings.email_from_course, course_id, course.display_name
        ),
        "to": recipient.email,
        "subject": rendered.subject,
        "headers": {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        "text": rendered.text,
        "html": rendered.html,
    }


def _preview_recipient(
    ctx: registry.RunContext, principal: Principal, course_id: str, user: str | None
) -> Recipient:
    from functions.dal.people_repo import PeopleRepository

    if user is None:
        user_id, email, username = principal.user_id, principal.email, principal.username
    else:
        found = int(user) if user.isdigit() else ctx.courses.find_user_id(course_id, user)
        enrollment = ctx.courses.get_enrollments(course_id, [found]).get(found) if found is not None else None
        if enrollment is None:
            raise BadRequest(f"User {user!r} is not enrolled in {course_id}")
        user_id, email, username = enrollment.user_id, enrollment.email, enrollment.username
    profile = PeopleRepository(ctx.settings).get_profiles([user_id]).get(user_id)
    return Recipient(
        user_id=user_id, email=email, username=username, full_name=(profile.name or "") if profile else ""
    )


# ---- lists (spec §3.4) ----
def _email_tasks(ctx: registry.RunContext, course_id: str, limit: int) -> list[Task]:
    return ctx.tasks.list_course(course_id, task_type=TASK_TYPE, limit=limit)


def _email_id_of(task: Task) -> int | None:
    try:
        value = json.loads(task.task_input).get("email_id")
        return int(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def email_tasks(
    ctx: registry.RunContext, principal: Principal, course_id: str, limit: int = 100
) -> dict[str, Any]:
    """Email task history (``list_background_email_tasks``), newest first, with each send's counts."""
    _require_email_permission(ctx, principal, course_id)
    tasks = _email_tasks(ctx, course_id, limit)
    summaries = EmailRepository(ctx.settings).get_summaries(task.task_id for task in tasks)
    action = "emailed"
    rows = []
    for task in tasks:
        row = status.list_row(task, action)
        summary = summaries[task.task_id]
        row["email_id"] = _email_id_of(task)
        row["counts"] = {
            "sent": task.counters.succeeded,
            "failed": task.counters.failed,
            "skipped": summary.skipped,
            "in_doubt": summary.in_doubt,
            "bounced": summary.bounced,
            "complained": summary.complained,
        }
        rows.append(row)
    return {"tasks": rows}


def number_sent(task: Task) -> str:
    """Spec §3.4: "0 sent" by default, "{n} sent" and ", {m} failed" when there are some."""
    text = f"{task.counters.succeeded} sent" if task.counters.succeeded > 0 else "0 sent"
    if task.counters.failed > 0:
        text += f", {task.counters.failed} failed"
    return text


def email_contents(
    ctx: registry.RunContext, principal: Principal, course_id: str, limit: int = 100
) -> dict[str, Any]:
    """The sent-email content list (``list_email_content``), newest first."""
    _require_email_permission(ctx, principal, course_id)
    tasks = _email_tasks(ctx, course_id, limit)
    repo = EmailRepository(ctx.settings)
    emails = repo.get_emails(course_id, [eid for eid in map(_email_id_of, tasks) if eid is not None])
    summaries = repo.get_summaries(task.task_id for task in tasks)
    found = []
    for task in tasks:
        email = emails.get(_email_id_of(task) or 0)
        if email is None:
            continue
        summary = summaries[task.task_id]
        found.append(
            {
                "created": email.created.isoformat(),
                "sent_to": [target_rules.long_name(target) for target in email.targets],
                "requester": task.requester,
                "email": {"subject": email.subject, "html_message": email.html_message, "id": email.id},
                "number_sent": number_sent(task),
                "task_id": task.task_id,
                "task_state": task.state.value,
                "counts": {
                    "sent": task.counters.succeeded,
                    "failed": task.counters.failed,
                    "skipped": summary.skipped,
                    "in_doubt": summary.in_doubt,
                    "bounced": summary.bounced,
                    "complained": summary.complained,
                },
            }
        )
    return {"emails": found}


def get_email(
    ctx: registry.RunContext, principal: Principal, course_id: str, email_id: str
) -> dict[str, Any]:
    _require_email_permission(ctx, principal, course_id)
    described = describe_email(ctx, course_id, email_id)
    email = _email_or_404(EmailRepository(ctx.settings), course_id, email_id)
    described["created"] = email.created.isoformat()
    described["modified"] = email.modified.isoformat()
    described["template_name"] = email.template_name
    described["sent_to"] = [target_rules.long_name(target) for target in email.targets]
    return described


# ---- unsubscribe (public) ----
def read_unsubscribe(settings: Settings, token: str) -> Unsubscribe:
    return read_token(SecretStore(settings).get("email-unsubscribe"), token)


def opt_out(ctx: registry.RunContext, token: str, source: str) -> tuple[Unsubscribe, bool]:
    """Record the opt-out a signed link names; (who, whether it is new). 400 for a forged or altered link."""
    who = read_unsubscribe(ctx.settings, token)
    if not ctx.courses.course_exists(who.course_id):
        raise NotFound("This course no longer exists")
    created = EmailRepository(ctx.settings).put_opt_out(who.course_id, who.user_id, source)
    if created:
        metrics.add_metric(name="CourseEmailOptOuts", unit="Count", value=1)
    logger.info(
        "opt-out",
        extra={"course_id": who.course_id, "user_id": who.user_id, "source": source, "new": created},
    )
    return who, created


# ---- one message (for other capabilities' notices) ----
def send_one(
    settings: Settings,
    *,
    to: str,
    subject: str,
    html: str,
    text: str | None = None,
    from_address: str | None = None,
    unsubscribe: str | None = None,
    tags: dict[str, str] | None = None,
) -> SendResult:
    """One message through the course email path (MIME, SES v2 raw, classified answer), no ledger:
    the caller decides what a lost answer (``Answer.UNKNOWN``) means for it."""
    rendered = render.Rendered(
        subject=check_subject(subject), text=text or render.html_to_text(html), html=html
    )
    raw = render.mime_message(
        from_header=from_address or settings.email_from,
        to_address=to,
        rendered=rendered,
        unsubscribe_link=unsubscribe or "",
    )
    result = SesMail(settings).send_raw(from_address or settings.email_from, to, raw, tags)
    if result.answer is not Answer.SENT:
        logger.warning(
            "message not sent", extra={"to_domain": to.rpartition("@")[2], "answer": result.answer.value}
        )
    return result
