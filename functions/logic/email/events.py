"""Bounces and complaints from SES (beyond upstream): suppress the address, keep the event, count it.

SES publishes the events of the configuration set our messages carry to EventBridge (source
``aws.ses``, detail types ``Email Bounced`` / ``Email Complaint Received``; the detail is SES's
event publishing record: ``eventType``, ``bounce`` / ``complaint``, ``mail`` with our message tags).
Notifications in the older SNS format (``notificationType``) are read the same way.

* A permanent (hard) bounce or a complaint suppresses that learner's address: later course emails
  skip it (counted ``suppressed``) until the learner's address changes.
* Each is recorded with its send (``itask_task`` tag) and added to that send's counts, once (a
  redelivered event changes nothing twice).
* Transient bounces are only counted in the logs: SES retries those itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.dal.email_repo import EmailRepository
from functions.models.email import MailEvent, SuppressionReason
from functions.observability import logger, metrics
from functions.settings import Settings


class _Recipient(BaseModel):
    model_config = ConfigDict(extra="ignore")

    emailAddress: str = Field(min_length=1, max_length=320)
    diagnosticCode: str | None = None
    status: str | None = None


class _Bounce(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bounceType: str
    bounceSubType: str = ""
    bouncedRecipients: list[_Recipient]
    timestamp: datetime | None = None


class _Complaint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    complainedRecipients: list[_Recipient]
    complaintFeedbackType: str | None = None
    timestamp: datetime | None = None


class _Mail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messageId: str = ""
    timestamp: datetime | None = None
    destination: list[str] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)


class SesEvent(BaseModel):
    """SES's event publishing record (``eventType``) or notification (``notificationType``)."""

    model_config = ConfigDict(extra="ignore")

    eventType: str | None = None
    notificationType: str | None = None
    mail: _Mail
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None

    @property
    def kind(self) -> str:
        return self.eventType or self.notificationType or ""


class Handled(BaseModel):
    recorded: int = 0
    suppressed: int = 0
    ignored: int = 0


def _tag(mail: _Mail, name: str) -> str | None:
    values = mail.tags.get(name) or []
    return values[0] if values else None


def parse(detail: Any) -> SesEvent:
    """An SES event from an EventBridge detail (or an SNS message body); ValueError if it is not one."""
    try:
        return SesEvent.model_validate(detail)
    except ValidationError as error:
        raise ValueError(f"not an SES event: {error.errors()[0]['msg']}") from error


def mail_events(event: SesEvent) -> list[MailEvent]:
    """The hard bounces and complaints an SES event reports, one per address."""
    mail = event.mail
    task_id = _tag(mail, "itask_task")
    user = _tag(mail, "itask_user")
    user_id = int(user) if user and user.isdigit() else None
    if event.kind == "Bounce" and event.bounce is not None:
        if event.bounce.bounceType != "Permanent":
            return []
        occurred = event.bounce.timestamp or mail.timestamp or datetime.now(UTC)
        return [
            MailEvent(
                kind=SuppressionReason.BOUNCE,
                address=recipient.emailAddress,
                occurred=occurred,
                detail=" ".join(
                    part
                    for part in (
                        event.bounce.bounceType,
                        event.bounce.bounceSubType,
                        recipient.diagnosticCode,
                    )
                    if part
                ),
                message_id=mail.messageId,
                task_id=task_id,
                user_id=user_id,
            )
            for recipient in event.bounce.bouncedRecipients
        ]
    if event.kind == "Complaint" and event.complaint is not None:
        occurred = event.complaint.timestamp or mail.timestamp or datetime.now(UTC)
        return [
            MailEvent(
                kind=SuppressionReason.COMPLAINT,
                address=recipient.emailAddress,
                occurred=occurred,
                detail=event.complaint.complaintFeedbackType or "complaint",
                message_id=mail.messageId,
                task_id=task_id,
                user_id=user_id,
            )
            for recipient in event.complaint.complainedRecipients
        ]
    return []


def handle(settings: Settings, detail: Any) -> Handled:
    """Suppress and record what one SES event reports (idempotent)."""
    event = parse(detail)
    found = mail_events(event)
    handled = Handled()
    if not found:
        handled.ignored += 1
        if event.kind == "Bounce":
            logger.info("soft bounce (SES retries it)", extra={"message_id": event.mail.messageId})
        return handled
    repo = EmailRepository(settings)
    for mail_event in found:
        if mail_event.user_id is not None:
            repo.put_suppression(mail_event.user_id, mail_event)
            handled.suppressed += 1
            metrics.add_metric(
                name="CourseEmailBounces"
                if mail_event.kind is SuppressionReason.BOUNCE
                else "CourseEmailComplaints",
                unit="Count",
                value=1,
            )
        else:
            # Not one of our course emails (no tags): nothing to tie it to.
            logger.warning("SES event without our tags", extra={"message_id": mail_event.message_id})
            metrics.add_metric(name="CourseEmailEventsUnmatched", unit="Count", value=1)
        if mail_event.task_id and repo.add_event(mail_event.task_id, mail_event):
            handled.recorded += 1
    return handled
