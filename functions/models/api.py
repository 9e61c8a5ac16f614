"""What the HTTP API accepts and answers: the models of the published contract (docs/openapi.json).

Request models validate (Powertools' OpenAPI validation); response models describe the answers in
the OpenAPI document and are checked against the live service by the schemathesis suite. Response
models allow extra fields: a field added to an answer is not a break of the contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _task_type_names(schema: dict[str, Any]) -> None:
    # The registered task types, read when the document is generated (not at import time).
    from functions.logic import registry

    schema["enum"] = sorted(registry.all_types())


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- requests ----
class SubmitRequest(BaseModel):
    """Submit a task: its type and its input (each type's input schema: ``GET /task-types``)."""

    model_config = ConfigDict(extra="forbid")

    task_type: str = Field(min_length=1, max_length=64, json_schema_extra=_task_type_names)
    input: dict[str, Any] = Field(default_factory=dict)


# ---- answers ----
class ApiErrorBody(_Answer):
    """Every refusal: a clear message and a stable code."""

    error: str
    code: str
    error_id: str | None = Field(
        default=None, description="Set when the logs hold more about the error (500, 503): quote it."
    )


class GatewayError(_Answer):
    """What API Gateway itself answers when it refuses a request before the function runs (a
    missing or invalid token: 401; a body over the payload limit: 413)."""

    message: str


class TaskSubmitted(_Answer):
    task_id: str
    task_type: str
    course_id: str
    task_state: str
    status: str


class TaskAction(_Answer):
    """Someone cancelled or resumed the task."""

    action: Literal["cancel", "resume"]
    by: str
    at: str


class TaskStatus(_Answer):
    """The status of one task (spec §3.2), with ``eta_seconds`` while it runs."""

    task_id: str
    task_type: str
    course_id: str
    task_state: Literal["QUEUING", "SCHEDULED", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED"]
    in_progress: bool
    task_progress: dict[str, Any] | None = Field(
        default=None,
        description="Progress counters while it runs; then the stored output: progress, "
        "failure (exception, message, error_id) or revoked",
    )
    message: str | None = None
    succeeded: bool | None = None
    eta_seconds: int | None = None
    actions: list[TaskAction] = Field(default_factory=list)
    schedule_id: str | None = Field(default=None, description="A run of this schedule")
    task_due: str | None = Field(default=None, description="When the scheduled run is (was) due, UTC")


class TaskListRow(_Answer):
    """One row of a task list (spec §3.4)."""

    task_type: str
    task_input: str
    task_id: str
    requester: str
    task_state: str
    created: str
    duration_sec: int | Literal["unknown"]
    status: Literal["Complete", "Incomplete"]
    task_message: str
    actions: list[TaskAction] = Field(default_factory=list)
    schedule_id: str | None = None
    task_due: str | None = None


class TaskList(_Answer):
    tasks: list[TaskListRow]


class Download(_Answer):
    name: str
    url: str
    link: str
    report_type: str | None
    date_generated: str | None
    size: int


class Downloads(_Answer):
    downloads: list[Download]


class TaskTypeInfo(_Answer):
    task_type: str
    action_name: str
    permission: str
    input_schema: dict[str, Any]


class TaskTypes(_Answer):
    task_types: list[TaskTypeInfo]


class ImportSummary(_Answer):
    course_id: str
    display_name: str | None = None
    version: int
    blocks: int
    problems: int
    rescorable_problems: int
    removed_problems: int
    warnings: list[Any] = Field(default_factory=list)


class LoadSummary(_Answer):
    """What a bulk load stored; the counts depend on the kind."""

    course_id: str


# ---- LTI (functions/handlers/lti_routes.py) ----
class LtiConsumer(_Answer):
    """An LTI 1.1 consumer or 1.3 platform as routes show it: never its secret or private key."""

    key: str
    name: str
    lti_version: str


class LtiConsumers(_Answer):
    consumers: list[LtiConsumer]


class LtiConsumersLoaded(_Answer):
    consumers: int


class LtiPassbacks(_Answer):
    """Pass-back ledger records."""

    passbacks: list[dict[str, Any]]


class LtiResent(_Answer):
    resent: list[str]
    superseded: list[str]
    more: bool


# ---- certificates, cohorts, uploads, batch enrollment (functions/handlers/staff_routes.py) ----
class UploadRequest(BaseModel):
    """What a file is for: it decides the size limit and who may upload it."""

    model_config = ConfigDict(extra="forbid")

    purpose: Literal["cohorts", "enrollment_identifiers", "course_import", "data_load"]


class UploadForm(_Answer):
    """A pre-signed S3 POST form for one file: POST ``fields`` and the file to ``url``, then name
    ``upload_id`` in the task's input."""

    upload_id: str
    purpose: str
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires: str


class CohortList(_Answer):
    course_id: str
    is_cohorted: bool
    cohorts: list[dict[str, Any]]


class CohortCreated(_Answer):
    course_id: str
    cohort: dict[str, Any]


class CohortSettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_cohorted: bool


class CohortSettings(_Answer):
    course_id: str
    is_cohorted: bool


class Allowlist(_Answer):
    """Certificate exceptions of the course, with each learner's certificate status (or null)."""

    course_id: str
    allowlist: list[dict[str, Any]]


class AllowlistAdded(_Answer):
    course_id: str
    user_id: int
    user: str


class AllowlistRemoved(_Answer):
    course_id: str
    user_id: int
    removed: bool


class CertificateHistory(_Answer):
    """Certificate generation history: who, when, for which learners, regeneration or not."""

    course_id: str
    history: list[dict[str, Any]]


class BatchEnrollmentRequest(BaseModel):
    """Enroll or unenroll learners named inline (split on commas, whitespace, newlines) or in an
    uploaded file (purpose ``enrollment_identifiers``)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=32, description="enroll or unenroll")
    identifiers: str | list[str] | None = None
    upload_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    auto_enroll: bool = True
    email_students: bool = False
    reason: str | None = Field(default=None, max_length=255)
    secure: bool = True


class BatchEnrollmentSubmitted(_Answer):
    """Spec §7.3's answer for the asynchronous path."""

    action: str
    auto_enroll: bool
    async_processing: bool
    task_id: str
    task_state: str
    message: str
    total_students: int


class EnrollmentAudit(_Answer):
    """Manual enrollment audit records, newest first."""

    course_id: str
    records: list[dict[str, Any]]


class CertificateVerification(_Answer):
    """What a valid certificate says (public: no token)."""

    valid: bool
    verify_uuid: str
    course_id: str
    course_name: str
    learner_name: str
    mode: str
    status: str
    issued: str | None = None
    certificate_url: str


# ---- course email ----
class EmailSent(_Answer):
    """A course email written and its send task accepted (or scheduled)."""

    course_id: str
    success: bool
    email_id: int
    task_id: str
    task_state: str
    status: str


class EmailPreview(_Answer):
    """One recipient's message as it would be sent; nothing is sent or stored."""

    from_: str = Field(alias="from")
    to: str
    subject: str
    headers: dict[str, str]
    text: str
    html: str


class EmailCounts(_Answer):
    """Per send: sent, failed, skipped (opted out, disabled, suppressed), in doubt, bounced, complained."""

    sent: int
    failed: int
    skipped: dict[str, int] = Field(description="Recipients skipped, by reason (opted_out, disabled, ...)")
    in_doubt: int
    bounced: int
    complained: int


class EmailTaskRow(TaskListRow):
    """An email task history row (spec §3.4) with the email it sent and its counts."""

    email_id: int | None
    counts: EmailCounts


class EmailTasks(_Answer):
    tasks: list[EmailTaskRow]


class EmailContentSummary(_Answer):
    subject: str
    html_message: str
    id: int


class EmailContentRow(_Answer):
    """A sent-email content row (spec §3.4 ``list_email_content``) with its task and counts."""

    created: str
    sent_to: list[str]
    requester: str
    email: EmailContentSummary
    number_sent: str
    task_id: str
    task_state: str
    counts: EmailCounts


class EmailContents(_Answer):
    emails: list[EmailContentRow]


class CourseEmail(_Answer):
    """Spec §6.7's ``course_email`` object, with when it was written and changed."""

    id: int
    subject: str
    html_message: str
    text_message: str
    course_id: str
    to_option: list[str]
    sender: str
    targets: list[str]
    created: str
    modified: str
    template_name: str | None
    sent_to: list[str]


class ScheduleView(_Answer):
    """A schedule of a task of any type: its pending run and when it is due (UTC and local)."""

    schedule_id: str
    course_id: str
    task_type: str
    task_input: Any
    state: Literal["ACTIVE", "DONE", "STOPPED"]
    task_id: str | None = Field(description="The pending run (a SCHEDULED task) while ACTIVE")
    next_run: str | None
    next_run_local: str | None
    recurrence: str | None = Field(description="A 5-field cron expression in time_zone")
    recurrence_text: str | None
    time_zone: str
    notify: list[str]
    runs: int
    last_task_id: str | None
    last_run: str | None
    note: str | None = Field(description="Why the pending run waits, or why the schedule stopped")
    requester: str
    created: str | None
    modified: str | None


class ScheduleList(_Answer):
    schedules: list[ScheduleView]


class ScheduleDeleted(_Answer):
    schedule_id: str
    course_id: str
    deleted: bool
    revoked_task_id: str | None = Field(description="The pending run, now REVOKED (None if none waited)")


# ---- spec §6.7: scheduled course emails (functions/handlers/email_schedule_routes.py) ----
class ScheduledEmail(_Answer):
    """Spec §6.7's ``course_email`` object."""

    id: int
    subject: str
    html_message: str
    text_message: str
    course_id: str
    to_option: list[str]
    sender: str
    targets: list[str] = Field(
        description="Short display names: learners, staff, cohort-<name>, track-<mode>"
    )


class BulkEmailSchedule(_Answer):
    """One scheduled course email, as upstream serialises it."""

    id: str = Field(description="The schedule id")
    course_email: ScheduledEmail
    task: str = Field(description="The SCHEDULED task that will send it")
    task_due: str = Field(description="When it is sent (ISO-8601, UTC)")


class BulkEmailSchedulePage(_Answer):
    """One page of the course's scheduled emails (the platform's default pagination), by schedule id."""

    next: str | None = Field(description="The next page's URL (path and query), if any")
    previous: str | None = Field(description="The previous page's URL (path and query), if any")
    count: int
    num_pages: int
    current_page: int
    start: int
    results: list[BulkEmailSchedule]


# ---- Open edX instructor dashboard API v2 (functions/handlers/openedx_v2_routes.py) ----
# Field names from upstream's views and serializers (lms/djangoapps/instructor/views/api_v2.py,
# serializers_v2.py) and the front end's types (openedx/frontend-app-instruct).
class OpenedxError(_Answer):
    """Upstream's refusals: DRF's ``{"detail"}`` (401, 403, 404) and the views' ``{"error"}`` (400):
    both are given, with our stable ``code``."""

    detail: str
    error: str
    code: str


class OpenedxReport(_Answer):
    """ReportDownloadsView's item (and ours: name, url, link, size)."""

    report_name: str
    report_url: str
    date_generated: str | None
    report_type: str


class OpenedxReports(_Answer):
    downloads: list[OpenedxReport]


class OpenedxGenerateRequest(BaseModel):
    """GenerateReportView's body: a problem or section for problem_responses, else nothing."""

    model_config = ConfigDict(extra="allow")

    problem_location: str | None = Field(default=None, max_length=1024)
    problem_types_filter: list[str] | None = None


class OpenedxReportGenerated(_Answer):
    status: str
    task_id: str


class OpenedxTask(_Answer):
    """InstructorTaskSerializer's fields, and the front end's InstructorTask (task_name, updated)."""

    task_id: str
    task_type: str
    task_state: str
    status: str
    created: str
    duration_sec: str
    task_message: str
    requester: str
    task_input: str
    task_output: str | None
    task_name: str
    updated: str


class OpenedxTaskPage(_Answer):
    """Upstream's ``{"tasks"}`` and the front end's DataList page (count, num_pages, results)."""

    tasks: list[OpenedxTask]
    results: list[OpenedxTask]
    count: int
    num_pages: int
    next: int | None
    previous: int | None
