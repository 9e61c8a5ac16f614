"""Emails of batch enrollment: to learners (when asked) and the completion email to the requester.

Each is sent at most once per task, however often a chunk or Finalize runs: a marker object under
the task's scratch space is claimed with an S3 conditional write before sending (and given back if
SES refuses, so a retry sends it). Through SES, the service's mailer port.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from functions.logic.registry import RunContext
from functions.observability import logger, metrics

# What the learner is told (upstream's enrollment message types).
ENROLLED = "enrolled_enroll"
ALLOWED = "allowed_enroll"
UNENROLLED = "enrolled_unenroll"
ALLOWED_REMOVED = "allowed_unenroll"


@dataclass(frozen=True)
class CourseFacts:
    course_id: str
    course_name: str
    course_url: str
    platform_name: str


def course_url(site_name: str, course_id: str, secure: bool) -> str:
    return f"{'https' if secure else 'http'}://{site_name}/courses/{course_id}/"


def learner_message(kind: str, course: CourseFacts, auto_enroll: bool) -> tuple[str, str]:
    """(subject, text) of a learner notification."""
    name, url, platform = course.course_name, course.course_url, course.platform_name
    if kind == ENROLLED:
        return (
            f"You have enrolled in {name}",
            f"Dear learner,\n\nYou have been enrolled in {name} at {platform} by a member of the course "
            f"staff. This course will now appear on your {platform} dashboard.\n\n"
            f"To start accessing course materials, visit {url}\n",
        )
    if kind == ALLOWED:
        then = (
            "Once you have registered and activated your account, you will see the course on your dashboard."
            if auto_enroll
            else f"Once you have registered and activated your account, visit {url} to join the course."
        )
        return (
            f"You have been invited to register for {name}",
            f"Dear learner,\n\nYou have been invited to join {name} at {platform} by a member of the "
            f"course staff.\n\n{then}\n",
        )
    if kind == UNENROLLED:
        return (
            f"You have been unenrolled from {name}",
            f"Dear learner,\n\nYou have been unenrolled from {name} at {platform} by a member of the "
            "course staff. The course will no longer appear on your dashboard.\n",
        )
    return (
        f"Your invitation to {name} has been withdrawn",
        f"Dear learner,\n\nYour invitation to join {name} at {platform} has been withdrawn by a member "
        "of the course staff.\n",
    )


def completion_message(
    action: str, course: CourseFacts, requester: str, total: int, successful: int, failed: int
) -> tuple[str, str]:
    """(subject, text) of the email to the requester (spec §7.3's batch enrollment message)."""
    action_name = "enrollment" if action == "enroll" else "unenrollment"
    return (
        f"Batch {action_name} completed for {course.course_name}",
        f"Hello {requester},\n\n"
        f"The batch {action_name} you started in {course.course_name} ({course.course_id}) has finished.\n\n"
        f"Processed: {total}\nSuccessful: {successful}\nFailed: {failed}\n\n"
        f"The results are in the course's reports. Course: {course.course_url}\n\n"
        f"{course.platform_name}\n",
    )


def send_once(ctx: RunContext, task_id: str, marker: str, to: str, subject: str, text: str) -> bool:
    """Send unless this task already sent the message named ``marker``; True when sent now."""
    key = ctx.work_key(task_id, f"mail/{marker}")
    if not ctx.objects.put_if_absent(key, to.encode("utf-8"), "text/plain"):
        return False
    try:
        ctx.mailer.send(to, subject, text)
    except (ClientError, BotoCoreError):
        ctx.objects.delete(key)  # not sent: let a retry send it
        logger.exception("email not sent", extra={"task_id": task_id, "marker": marker})
        metrics.add_metric(name="EnrollmentEmailsFailed", unit="Count", value=1)
        raise
    metrics.add_metric(name="EnrollmentEmailsSent", unit="Count", value=1)
    return True
