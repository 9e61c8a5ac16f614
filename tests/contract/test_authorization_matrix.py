"""Every route x every role -> the answer spec §9.1 (and the README's API table) gives, over HTTP.

The matrix is generated from the route table: a route the api function registers without an entry
in CASES fails ``test_every_route_has_matrix_cases``. Expected answers are written here from the
spec, never read from the code's permission rules. Roles (tests/contract/conftest.py): global staff,
instructor, course staff, data researcher of the course, a learner with no role, a subject the
service does not know, another course's instructor (and data researcher), and an expired token.

To add a route: add its Case(s) below with, per role, the status the spec gives; an authorized role's
answer may be the success, or the conflict that proves the permission check passed (a 409 on a
task that is already running or finished).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from functions.handlers.api import PUBLIC_APPS, app
from itask.seed import DEMO_COURSE
from tests.contract.conftest import OTHER_COURSE, ROLES, ContractStack, course_path, olx_archive

REFUSED = {403}
UNAUTHENTICATED = {401}


def answers(allowed: Iterable[str], ok: set[int]) -> dict[str, set[int]]:
    """``ok`` for the allowed roles; 403 for every other role with a valid token; 401 when expired."""
    allowed = set(allowed)
    unknown = allowed - set(ROLES)
    assert not unknown, unknown
    return {
        role: (UNAUTHENTICATED if role == "expired" else ok if role in allowed else REFUSED) for role in ROLES
    }


Request = Callable[[ContractStack], tuple[str, str, dict[str, Any]]]  # method, path, request kwargs


@dataclass(frozen=True)
class Case:
    name: str
    route: tuple[str, str]  # (METHOD, OpenAPI path): the route table's key
    request: Request
    expected: dict[str, set[int]]
    # Optional check of an allowed answer's body (role, body) -> problem or None.
    body_check: Callable[[str, Any, ContractStack], str | None] | None = field(default=None)
    # Build the request again for each role (a delete needs something of its own to delete).
    per_role: bool = False
    # Open edX's routes: each role calls with its LMS JWT (Authorization: JWT ...), not a bearer token.
    openedx: bool = False


EVERYONE = (
    "global_staff",
    "instructor",
    "staff",
    "data_researcher",
    "learner",
    "unknown",
    "other_instructor",
)
COURSE_STAFF = ("global_staff", "instructor", "staff")
SHOW_TASKS = (*COURSE_STAFF, "data_researcher")  # instructor.show_tasks: course staff or data researcher
RESEARCH = ("global_staff", "data_researcher")  # instructor.research: not plain course staff
EMAIL = COURSE_STAFF  # instructor.email: course staff (send, email task history, email content)
LTI_PASSBACKS = COURSE_STAFF  # a course's pass-backs: course staff (README, LTI section)
INSTRUCTOR = ("global_staff", "instructor")  # "Requires instructor access."
CERTIFICATES = INSTRUCTOR  # §9.1: certificate start/regenerate/exceptions: global staff or instructor
ASSIGN_TO_COHORTS = COURSE_STAFF  # instructor.assign_to_cohorts: course staff
ENROLL = COURSE_STAFF  # instructor.enroll: course staff
# The public certificate verification takes no token (API Gateway routes it without the authorizer):
# every caller, even one whose token has expired, gets the answer.
PUBLIC = {role: {200} for role in ROLES}
SUBMITTED = {202, 409}  # accepted, or the same task is running (the permission check passed first)


def submit(task_type: str, task_input: Callable[[ContractStack], dict[str, Any]] | None = None) -> Request:
    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        body = {"task_type": task_type, "input": task_input(contract) if task_input else {}}
        return "POST", course_path(DEMO_COURSE, "tasks"), {"body": body}

    return request


def get(
    path: Callable[[ContractStack], str], query: Callable[[ContractStack], dict[str, str]] | None = None
) -> Request:
    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        return "GET", path(contract), {"query": query(contract)} if query else {}

    return request


def post(
    path: Callable[[ContractStack], str],
    raw_body: bytes | None = None,
    body: Any = None,
    method: str = "POST",
) -> Request:
    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        if raw_body is not None:
            return method, path(contract), {"raw_body": raw_body}
        return method, path(contract), {"body": body} if body is not None else {}

    return request


def post_with(path: Callable[[ContractStack], str], body: Callable[[ContractStack], Any]) -> Request:
    """A JSON body that names what only the running stack knows (a learner, an upload)."""

    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        return "POST", path(contract), {"body": body(contract)}

    return request


def delete(path: Callable[[ContractStack], str]) -> Request:
    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        return "DELETE", path(contract), {}

    return request


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def _new_schedule(contract: ContractStack, task_type: str = "grade_course") -> str:
    """A grade report scheduled a year ahead (by global staff), so it never runs here."""
    created = contract.client("global_staff").request(
        "POST", course_path(DEMO_COURSE, "schedules"), {"task_type": task_type, "schedule": _later(365)}
    )
    assert created.status == 201, created.body
    return str(created.body["schedule_id"])


_SCHEDULES: dict[int, str] = {}


def _schedule_path(contract: ContractStack) -> str:
    """The one schedule the read and edit cases share."""
    if id(contract) not in _SCHEDULES:
        _SCHEDULES[id(contract)] = _new_schedule(contract)
    return course_path(DEMO_COURSE, f"schedules/{_SCHEDULES[id(contract)]}")


def schedule_request(method: str, body: Callable[[], Any] | None = None, fresh: bool = False) -> Request:
    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        path = (
            course_path(DEMO_COURSE, f"schedules/{_new_schedule(contract)}")
            if fresh
            else _schedule_path(contract)
        )
        return method, path, {"body": body()} if body is not None else {}

    return request


def _new_scheduled_email(contract: ContractStack) -> tuple[str, int]:
    """A course email scheduled a year ahead (by global staff): its schedule id and email id."""
    admin = contract.client("global_staff")
    written = admin.request(
        "POST",
        course_path(DEMO_COURSE, "emails"),
        {"send_to": ["myself"], "subject": "Matrix", "message": "<p>Later</p>", "schedule": _later(365)},
    )
    assert written.status == 202, written.body
    listed = admin.request("GET", scheduled_emails_path(DEMO_COURSE), query={"page_size": "100"})
    assert listed.status == 200, listed.body
    (item,) = [row for row in listed.body["results"] if row["task"] == written.body["task_id"]]
    return str(item["id"]), int(written.body["email_id"])


def scheduled_emails_path(course_id: str, schedule_id: str | None = None) -> str:
    """Spec §6.7's paths (upstream's, with their trailing slash on the list)."""
    base = "/api/instructor_task/v1/schedules/" + course_path(course_id, "bulk_email/").removeprefix(
        "/courses/"
    )
    return base + schedule_id if schedule_id else base


_SCHEDULED_EMAILS: dict[int, tuple[str, int]] = {}


def scheduled_email_request(method: str, body: bool = False, fresh: bool = False) -> Request:
    """A request on the scheduled email the read and edit cases share (or a fresh one to delete)."""

    def request(contract: ContractStack) -> tuple[str, str, dict[str, Any]]:
        if fresh:
            schedule_id, email_id = _new_scheduled_email(contract)
        else:
            if id(contract) not in _SCHEDULED_EMAILS:
                _SCHEDULED_EMAILS[id(contract)] = _new_scheduled_email(contract)
            schedule_id, email_id = _SCHEDULED_EMAILS[id(contract)]
        kwargs: dict[str, Any] = {}
        if body:
            kwargs["body"] = {"schedule": _later(200), "email": {"id": email_id, "subject": "Matrix, moved"}}
        return method, scheduled_emails_path(DEMO_COURSE, schedule_id), kwargs

    return request


def shows_grade_task(role: str, body: Any, contract: ContractStack) -> str | None:
    visible = contract.grade_task in body
    should = role in SHOW_TASKS
    return None if visible == should else f"task visible={visible}, spec says {should}"


CASES: list[Case] = [
    Case(
        "import a course (global staff)",
        ("POST", "/admin/courses/import"),
        post(lambda c: "/admin/courses/import", olx_archive()),
        answers(["global_staff"], {201}),
    ),
    Case(
        "bulk-load course data (global staff)",
        ("POST", "/courses/{course_id}/data/{kind}"),
        post(
            lambda c: course_path(DEMO_COURSE, "data/enrollment_allowed"),
            json.dumps({"email": "invited@example.org"}).encode(),
        ),
        answers(["global_staff"], {200}),
    ),
    Case(
        "task types (any caller)",
        ("GET", "/task-types"),
        get(lambda c: "/task-types"),
        answers(EVERYONE, {200}),
    ),
    Case(
        "the contract (any caller)",
        ("GET", "/openapi.json"),
        get(lambda c: "/openapi.json"),
        answers(EVERYONE, {200}),
    ),
    Case(
        "submit a grade report (research)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("grade_course"),
        answers(RESEARCH, SUBMITTED),
    ),
    Case(
        "submit an all-learner reset (instructor access)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("reset_problem_attempts", lambda c: {"problem_url": c.problem_url}),
        answers(INSTRUCTOR, SUBMITTED),
    ),
    Case(
        "submit a one-learner reset (give_student_extension: course staff)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("reset_problem_attempts", lambda c: {"problem_url": c.problem_url, "student": c.learner}),
        answers(COURSE_STAFF, SUBMITTED),
    ),
    Case(
        "submit the survey report (enrollment_report: course staff or data researcher)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("course_survey_report"),
        answers(SHOW_TASKS, SUBMITTED),
    ),
    Case(
        "submit the proctored exam report (view_exam_results: course staff)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("proctored_exam_results_report"),
        answers(COURSE_STAFF, SUBMITTED),
    ),
    Case(
        "list the course's tasks (show_tasks)",
        ("GET", "/courses/{course_id}/tasks"),
        get(lambda c: course_path(DEMO_COURSE, "tasks"), lambda c: {"state": "all"}),
        answers(SHOW_TASKS, {200}),
    ),
    Case(
        "status of a task (show_tasks)",
        ("GET", "/tasks/{task_id}"),
        get(lambda c: f"/tasks/{c.grade_task}"),
        answers(SHOW_TASKS, {200}),
    ),
    Case(
        "status of tasks by id (visible to show_tasks only)",
        ("GET", "/tasks"),
        get(lambda c: "/tasks", lambda c: {"task_id": c.grade_task}),
        # Everyone known to the service gets 200; the task is in it only for show_tasks roles.
        {role: ({401} if role == "expired" else {403} if role == "unknown" else {200}) for role in ROLES},
        body_check=shows_grade_task,
    ),
    Case(
        "cancel a finished grade report (research; 409: nothing to cancel)",
        ("POST", "/tasks/{task_id}/cancel"),
        post(lambda c: f"/tasks/{c.grade_task}/cancel"),
        answers(RESEARCH, {409}),
    ),
    Case(
        "cancel a finished all-learner reset (instructor access)",
        ("POST", "/tasks/{task_id}/cancel"),
        post(lambda c: f"/tasks/{c.reset_task}/cancel"),
        answers(INSTRUCTOR, {409}),
    ),
    Case(
        "resume a finished grade report (research; 409: only failed or revoked tasks resume)",
        ("POST", "/tasks/{task_id}/resume"),
        post(lambda c: f"/tasks/{c.grade_task}/resume"),
        answers(RESEARCH, {409}),
    ),
    Case(
        "resume a finished all-learner reset (instructor access)",
        ("POST", "/tasks/{task_id}/resume"),
        post(lambda c: f"/tasks/{c.reset_task}/resume"),
        answers(INSTRUCTOR, {409}),
    ),
    Case(
        "list reports (research)",
        ("GET", "/courses/{course_id}/reports"),
        get(lambda c: course_path(DEMO_COURSE, "reports")),
        answers(RESEARCH, {200}),
    ),
    Case(
        "register an LTI consumer (global staff)",
        ("POST", "/lti/consumers"),
        post(
            lambda c: "/lti/consumers",
            body={"key": "matrix-new", "name": "Matrix LMS", "secret": "s3cret-key"},
        ),
        answers(["global_staff"], {201}),
    ),
    Case(
        "bulk-load LTI consumers (global staff)",
        ("POST", "/lti/consumers/load"),
        post(
            lambda c: "/lti/consumers/load",
            json.dumps({"key": "matrix-loaded", "name": "Loaded LMS", "secret": "s3cret-key"}).encode(),
        ),
        answers(["global_staff"], {200}),
    ),
    Case(
        "list LTI consumers (global staff)",
        ("GET", "/lti/consumers"),
        get(lambda c: "/lti/consumers"),
        answers(["global_staff"], {200}),
    ),
    Case(
        "one LTI consumer (global staff)",
        ("GET", "/lti/consumers/{key}"),
        get(lambda c: f"/lti/consumers/{c.consumer}"),
        answers(["global_staff"], {200}),
    ),
    Case(
        "re-send a consumer's pass-backs everywhere (global staff)",
        ("POST", "/lti/consumers/{key}/resend"),
        post(lambda c: f"/lti/consumers/{c.consumer}/resend"),
        answers(["global_staff"], {202}),
    ),
    Case(
        "a course's failed pass-backs (course staff)",
        ("GET", "/courses/{course_id}/lti/passbacks"),
        get(lambda c: course_path(DEMO_COURSE, "lti/passbacks")),
        answers(LTI_PASSBACKS, {200}),
    ),
    Case(
        "re-send a course's failed pass-backs (course staff)",
        ("POST", "/courses/{course_id}/lti/passbacks/resend"),
        post(lambda c: course_path(DEMO_COURSE, "lti/passbacks/resend"), body={}),
        answers(LTI_PASSBACKS, {202}),
    ),
    Case(
        "submit certificate generation for all learners (instructor)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("generate_certificates_all_student"),
        answers(CERTIFICATES, SUBMITTED),
    ),
    Case(
        "submit a cohort CSV (assign_to_cohorts: course staff)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("cohort_students", lambda c: {"upload_id": c.cohort_upload}),
        answers(ASSIGN_TO_COHORTS, SUBMITTED),
    ),
    Case(
        "submit a batch enrollment as a task (enroll: course staff)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("student_enrollment_batch", lambda c: {"action": "enroll", "identifiers": "m1@example.org"}),
        answers(ENROLL, SUBMITTED),
    ),
    Case(
        "an upload form for a cohort CSV (assign_to_cohorts: course staff)",
        ("POST", "/courses/{course_id}/uploads"),
        post(lambda c: course_path(DEMO_COURSE, "uploads"), body={"purpose": "cohorts"}),
        answers(ASSIGN_TO_COHORTS, {201}),
    ),
    Case(
        "an upload form for a list of learners (enroll: course staff)",
        ("POST", "/courses/{course_id}/uploads"),
        post(lambda c: course_path(DEMO_COURSE, "uploads"), body={"purpose": "enrollment_identifiers"}),
        answers(ENROLL, {201}),
    ),
    Case(
        "an upload form for a course export (an import: global staff)",
        ("POST", "/courses/{course_id}/uploads"),
        post(lambda c: course_path(DEMO_COURSE, "uploads"), body={"purpose": "course_import"}),
        answers(["global_staff"], {201}),
    ),
    Case(
        "an upload form for a data file (a bulk load: global staff)",
        ("POST", "/courses/{course_id}/uploads"),
        post(lambda c: course_path(DEMO_COURSE, "uploads"), body={"purpose": "data_load"}),
        answers(["global_staff"], {201}),
    ),
    # An upload that was never made: past the permission check, the submit is refused (400), so the
    # matrix does not lock the demo course with a real load while other cases write to it.
    Case(
        "load an uploaded data file as a task (global staff)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("data_load", lambda c: {"kind": "enrollment_allowed", "upload_id": "0" * 32}),
        answers(["global_staff"], {400}),
    ),
    Case(
        "import an uploaded course export as a task (global staff)",
        ("POST", "/courses/{course_id}/tasks"),
        submit("course_import", lambda c: {"upload_id": "0" * 32}),
        answers(["global_staff"], {400}),
    ),
    Case(
        "list cohorts (assign_to_cohorts: course staff)",
        ("GET", "/courses/{course_id}/cohorts"),
        get(lambda c: course_path(DEMO_COURSE, "cohorts")),
        answers(ASSIGN_TO_COHORTS, {200}),
    ),
    Case(
        "create a cohort (course staff; 409: the name is then in use)",
        ("POST", "/courses/{course_id}/cohorts"),
        post(lambda c: course_path(DEMO_COURSE, "cohorts"), body={"name": "Matrix created"}),
        answers(ASSIGN_TO_COHORTS, {201, 409}),
    ),
    Case(
        "turn cohorts on (course staff)",
        ("PUT", "/courses/{course_id}/cohorts/settings"),
        post(
            lambda c: course_path(DEMO_COURSE, "cohorts/settings"), body={"is_cohorted": True}, method="PUT"
        ),
        answers(ASSIGN_TO_COHORTS, {200}),
    ),
    Case(
        "list the certificate allowlist (instructor)",
        ("GET", "/courses/{course_id}/certificates/allowlist"),
        get(lambda c: course_path(DEMO_COURSE, "certificates/allowlist")),
        answers(CERTIFICATES, {200}),
    ),
    Case(
        "add a learner to the certificate allowlist (instructor)",
        ("POST", "/courses/{course_id}/certificates/allowlist"),
        post_with(
            lambda c: course_path(DEMO_COURSE, "certificates/allowlist"),
            lambda c: {"user": c.learner, "notes": "matrix"},
        ),
        answers(CERTIFICATES, {201}),
    ),
    Case(
        "remove a learner from the certificate allowlist (instructor; 409: no longer on it)",
        ("DELETE", "/courses/{course_id}/certificates/allowlist/{user}"),
        delete(lambda c: course_path(DEMO_COURSE, f"certificates/allowlist/{c.learner}")),
        answers(CERTIFICATES, {200, 409}),
    ),
    Case(
        "certificate generation history (instructor)",
        ("GET", "/courses/{course_id}/certificates/history"),
        get(lambda c: course_path(DEMO_COURSE, "certificates/history")),
        answers(CERTIFICATES, {200}),
    ),
    Case(
        "batch enrollment (enroll: course staff; 409: a similar batch is running)",
        ("POST", "/courses/{course_id}/enrollments/batch"),
        post(
            lambda c: course_path(DEMO_COURSE, "enrollments/batch"),
            body={"action": "enroll", "identifiers": "m2@example.org, m3@example.org"},
        ),
        answers(ENROLL, SUBMITTED),
    ),
    Case(
        "the manual enrollment audit trail (enroll: course staff)",
        ("GET", "/courses/{course_id}/enrollments/audit"),
        get(lambda c: course_path(DEMO_COURSE, "enrollments/audit")),
        answers(ENROLL, {200}),
    ),
    Case(
        "verify a certificate (public)",
        ("GET", "/certificates/{verify_uuid}"),
        get(lambda c: f"/certificates/{c.verify_id}"),
        PUBLIC,
    ),
    Case(
        "view a certificate (public)",
        ("GET", "/certificates/{verify_uuid}/view"),
        get(lambda c: f"/certificates/{c.verify_id}/view"),
        PUBLIC,
    ),
    Case(
        "send a course email to oneself (email: course staff)",
        ("POST", "/courses/{course_id}/emails"),
        post(
            lambda c: course_path(DEMO_COURSE, "emails"),
            body={"send_to": ["myself"], "subject": "Matrix", "message": "<p>Hello</p>"},
        ),
        answers(EMAIL, {202}),
    ),
    Case(
        "preview a course email (email: course staff)",
        ("POST", "/courses/{course_id}/emails/preview"),
        post(
            lambda c: course_path(DEMO_COURSE, "emails/preview"),
            body={"subject": "Matrix", "message": "<p>Hello %%USER_FULLNAME%%</p>"},
        ),
        answers(EMAIL, {200}),
    ),
    Case(
        "the course's sent-email contents (email: course staff)",
        ("GET", "/courses/{course_id}/emails"),
        get(lambda c: course_path(DEMO_COURSE, "emails")),
        answers(EMAIL, {200}),
    ),
    Case(
        "one course email (email: course staff)",
        ("GET", "/courses/{course_id}/emails/{email_id}"),
        get(lambda c: course_path(DEMO_COURSE, f"emails/{c.email_id}")),
        answers(EMAIL, {200}),
    ),
    Case(
        "the course's email task history (email: course staff)",
        ("GET", "/courses/{course_id}/email_tasks"),
        get(lambda c: course_path(DEMO_COURSE, "email_tasks")),
        answers(EMAIL, {200}),
    ),
    Case(
        "another course's email task history (course staff there only)",
        ("GET", "/courses/{course_id}/email_tasks"),
        get(lambda c: course_path(OTHER_COURSE, "email_tasks")),
        answers(["global_staff", "other_instructor"], {200}),
    ),
    Case(
        "the course's scheduled emails, spec §6.7 (email: course staff)",
        ("GET", "/api/instructor_task/v1/schedules/{course_id}/bulk_email/"),
        get(lambda c: scheduled_emails_path(DEMO_COURSE)),
        answers(EMAIL, {200}),
    ),
    Case(
        "one scheduled email (email: course staff)",
        ("GET", "/api/instructor_task/v1/schedules/{course_id}/bulk_email/{schedule_id}"),
        scheduled_email_request("GET"),
        answers(EMAIL, {200}),
    ),
    Case(
        "move a scheduled email and change its subject, spec §6.7 (email: course staff)",
        ("PATCH", "/api/instructor_task/v1/schedules/{course_id}/bulk_email/{schedule_id}"),
        scheduled_email_request("PATCH", body=True),
        answers(EMAIL, {200}),
    ),
    Case(
        "cancel a scheduled email, spec §6.7 (email: course staff)",
        ("DELETE", "/api/instructor_task/v1/schedules/{course_id}/bulk_email/{schedule_id}"),
        scheduled_email_request("DELETE", fresh=True),
        answers(EMAIL, {204}),
        per_role=True,
    ),
    Case(
        "another course's scheduled email under the course of the URL (404 for its staff, else 403)",
        ("PATCH", "/api/instructor_task/v1/schedules/{course_id}/bulk_email/{schedule_id}"),
        lambda c: (
            "PATCH",
            scheduled_emails_path(OTHER_COURSE, _new_scheduled_email(c)[0]),
            {"body": {"schedule": _later(200)}},
        ),
        # The schedule is the demo course's: under the other course nobody finds it (upstream's gap).
        {
            role: (
                {401}
                if role == "expired"
                else {404}
                if role in ("global_staff", "other_instructor")
                else {403}
            )
            for role in ROLES
        },
    ),
    Case(
        "list the course's schedules (show_tasks; each schedule shown by its type's permission)",
        ("GET", "/courses/{course_id}/schedules"),
        get(lambda c: course_path(DEMO_COURSE, "schedules"), lambda c: {"state": "all"}),
        answers(SHOW_TASKS, {200}),
    ),
    Case(
        "schedule a grade report (research, as submitting it)",
        ("POST", "/courses/{course_id}/schedules"),
        post(
            lambda c: course_path(DEMO_COURSE, "schedules"),
            body={"task_type": "grade_course", "schedule": _later(300)},
        ),
        answers(RESEARCH, {201}),
    ),
    Case(
        "schedule an all-learner reset (instructor access, as submitting it)",
        ("POST", "/courses/{course_id}/schedules"),
        lambda c: (
            "POST",
            course_path(DEMO_COURSE, "schedules"),
            {
                "body": {
                    "task_type": "reset_problem_attempts",
                    "input": {"problem_url": c.problem_url},
                    "schedule": _later(300),
                }
            },
        ),
        answers(INSTRUCTOR, {201}),
    ),
    Case(
        "a grade report's schedule (research, as submitting it)",
        ("GET", "/courses/{course_id}/schedules/{schedule_id}"),
        schedule_request("GET"),
        answers(RESEARCH, {200}),
    ),
    Case(
        "move a grade report's schedule (research, as submitting it)",
        ("PATCH", "/courses/{course_id}/schedules/{schedule_id}"),
        schedule_request("PATCH", lambda: {"schedule": _later(200)}),
        answers(RESEARCH, {200}),
    ),
    Case(
        "delete a grade report's schedule (research, as submitting it)",
        ("DELETE", "/courses/{course_id}/schedules/{schedule_id}"),
        schedule_request("DELETE", fresh=True),
        answers(RESEARCH, {200}),
        per_role=True,
    ),
    Case(
        "another course's schedule id under the course of the URL (404 for who may run it, else 403)",
        ("GET", "/courses/{course_id}/schedules/{schedule_id}"),
        lambda c: ("GET", course_path(OTHER_COURSE, f"schedules/{_new_schedule(c)}"), {}),
        # The schedule is the demo course's: under the other course nobody finds it. Who may not see
        # the other course's tasks is refused before the lookup.
        {
            role: (
                {401}
                if role == "expired"
                else {404}
                if role in ("global_staff", "other_instructor")
                else {403}
            )
            for role in ROLES
        },
    ),
    Case(
        "list another course's reports (research there only)",
        ("GET", "/courses/{course_id}/reports"),
        get(lambda c: course_path(OTHER_COURSE, "reports")),
        answers(["global_staff", "other_instructor"], {200}),
    ),
]


# Users and roles (upstream's "Membership": listing, granting and revoking course roles take
# EDIT_COURSE_ACCESS, the course's instructor or global staff; users and global staff are global staff's).
# The target is the learner (a beta tester role, which gives no right any other case reads) and a
# spare user nobody calls as.
SPARE = "m-spare"
EDIT_COURSE_ACCESS = INSTRUCTOR


def _spare_path(contract: ContractStack, prefix: str) -> str:
    made = contract.client("global_staff").request(
        "PUT", f"/admin/users/{SPARE}", {"user_id": 97, "username": SPARE, "email": "spare@example.org"}
    )
    assert made.status in (200, 201), made.body
    return f"{prefix}/{SPARE}"


CASES += [
    Case(
        "list the course's role members (edit course access: instructor)",
        ("GET", "/courses/{course_id}/roles"),
        get(lambda c: course_path(DEMO_COURSE, "roles")),
        answers(EDIT_COURSE_ACCESS, {200}),
    ),
    Case(
        "another course's role members (its instructor)",
        ("GET", "/courses/{course_id}/roles"),
        get(lambda c: course_path(OTHER_COURSE, "roles")),
        answers(["global_staff", "other_instructor"], {200}),
    ),
    Case(
        "grant a beta tester role (edit course access: instructor)",
        ("POST", "/courses/{course_id}/roles"),
        post(lambda c: course_path(DEMO_COURSE, "roles"), body={"user": "m-learner", "role": "beta"}),
        answers(EDIT_COURSE_ACCESS, {200}),
    ),
    Case(
        "revoke a beta tester role (edit course access: instructor)",
        ("DELETE", "/courses/{course_id}/roles/{role}/{user}"),
        delete(lambda c: course_path(DEMO_COURSE, "roles/beta/m-learner")),
        answers(EDIT_COURSE_ACCESS, {200}),
    ),
    Case(
        "the course's role changes (edit course access: instructor)",
        ("GET", "/courses/{course_id}/roles/audit"),
        get(lambda c: course_path(DEMO_COURSE, "roles/audit")),
        answers(EDIT_COURSE_ACCESS, {200}),
    ),
    Case(
        "a user record (global staff)",
        ("GET", "/admin/users/{subject}"),
        get(lambda c: "/admin/users/m-learner"),
        answers(["global_staff"], {200}),
    ),
    Case(
        "create or update a user (global staff)",
        ("PUT", "/admin/users/{subject}"),
        post(
            lambda c: f"/admin/users/{SPARE}",
            body={"user_id": 97, "username": SPARE, "email": "spare@example.org"},
            method="PUT",
        ),
        answers(["global_staff"], {200, 201}),
    ),
    Case(
        "list global staff (global staff)",
        ("GET", "/admin/global-staff"),
        get(lambda c: "/admin/global-staff"),
        answers(["global_staff"], {200}),
    ),
    Case(
        "make a user global staff (global staff)",
        ("PUT", "/admin/global-staff/{subject}"),
        lambda c: ("PUT", _spare_path(c, "/admin/global-staff"), {}),
        answers(["global_staff"], {200}),
    ),
    Case(
        "remove a user's global staff flag (global staff)",
        ("DELETE", "/admin/global-staff/{subject}"),
        lambda c: ("DELETE", _spare_path(c, "/admin/global-staff"), {}),
        answers(["global_staff"], {200}),
    ),
    Case(
        "the audit of users and global staff (global staff)",
        ("GET", "/admin/access/audit"),
        get(lambda c: "/admin/access/audit"),
        answers(["global_staff"], {200}),
    ),
    Case(
        # A user id nobody holds: the retirement records its tombstone and removes nothing, so the
        # shared stack's learners stay for the other cases.
        "retire a learner (global staff)",
        ("POST", "/admin/retirements"),
        post(lambda c: "/admin/retirements", body={"user_id": 999_999_000_001}),
        answers(["global_staff"], {200}),
    ),
    Case(
        "a learner's retirement record (global staff; 404 until retired)",
        ("GET", "/admin/retirements/{user_id}"),
        get(lambda c: "/admin/retirements/999999000001"),
        answers(["global_staff"], {200, 404}),
    ),
]

# Open edX's instructor dashboard API (upstream's permission per view, lms/djangoapps/instructor/
# views/api_v2.py): ReportDownloadsView ENROLLMENT_REPORT, GenerateReportView CAN_RESEARCH (course
# staff or researcher for issued_certificates), InstructorTaskListView SHOW_TASKS. The course key is
# in the path as the front end puts it (not encoded). An already-running report is upstream's 400.
V2 = f"/api/instructor/v2/courses/{DEMO_COURSE}"
ENROLLMENT_REPORT = (*COURSE_STAFF, "data_researcher")
GENERATED = {200, 400}

CASES += [
    Case(
        "Open edX v2: list reports (enrollment report)",
        ("GET", "/api/instructor/v2/courses/{course_id}/reports"),
        get(lambda c: f"{V2}/reports"),
        answers(ENROLLMENT_REPORT, {200}),
        openedx=True,
    ),
    Case(
        "Open edX v2: another course's reports (its instructor and researcher)",
        ("GET", "/api/instructor/v2/courses/{course_id}/reports"),
        get(lambda c: f"/api/instructor/v2/courses/{OTHER_COURSE}/reports"),
        answers(["global_staff", "other_instructor"], {200}),
        openedx=True,
    ),
    Case(
        "Open edX v2: generate a pending enrollments report (research)",
        ("POST", "/api/instructor/v2/courses/{course_id}/reports/{report_type}/generate"),
        post(lambda c: f"{V2}/reports/pending_enrollments/generate", body={}),
        answers(RESEARCH, GENERATED),
        openedx=True,
    ),
    Case(
        "Open edX v2: an unknown report type (research, then 400)",
        ("POST", "/api/instructor/v2/courses/{course_id}/reports/{report_type}/generate"),
        post(lambda c: f"{V2}/reports/no_such_report/generate", body={}),
        answers(RESEARCH, {400}),
        openedx=True,
    ),
    Case(
        "Open edX v2: instructor tasks (show tasks)",
        ("GET", "/api/instructor/v2/courses/{course_id}/instructor_tasks"),
        get(lambda c: f"{V2}/instructor_tasks"),
        answers(SHOW_TASKS, {200}),
        openedx=True,
    ),
]


def test_every_route_has_matrix_cases():
    registered = {
        (route.method.upper(), route.openapi_path)
        for resolver in (app, *PUBLIC_APPS)
        for route in resolver._static_routes + resolver._dynamic_routes
    }
    covered = {case.route for case in CASES}
    assert registered - covered == set(), "routes without an authorization matrix entry"
    assert covered - registered == set(), "matrix entries for routes that do not exist"
    for case in CASES:
        assert set(case.expected) == set(ROLES), case.name


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_route_answers_each_role_as_the_spec_says(contract, case):
    method, path, kwargs = case.request(contract)
    deviations = []
    for role in ROLES:
        if case.per_role:
            method, path, kwargs = case.request(contract)
        client = contract.openedx_client(role) if case.openedx else contract.client(role)
        response = client.request(method, path, **kwargs)
        if response.status not in case.expected[role]:
            deviations.append(
                f"{role}: {response.status} (spec: {sorted(case.expected[role])}) {response.body}"
            )
        elif case.body_check is not None and response.status == 200:
            problem = case.body_check(role, response.body, contract)
            if problem:
                deviations.append(f"{role}: {problem}")
    assert deviations == [], "\n".join(deviations)


def test_the_public_certificate_routes_need_no_token(contract):
    """No Authorization header at all: a valid id answers, a forged one is the same 404 as any."""
    with httpx.Client(base_url=contract.url, timeout=60) as http:
        valid = http.get(f"/certificates/{contract.verify_id}")
        assert valid.status_code == 200 and valid.json()["verify_uuid"] == contract.verify_id
        page = http.get(f"/certificates/{contract.verify_id}/view")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for forged in ("ab" * 16, "x" * 65):
            refused = http.get(f"/certificates/{forged}")
            assert refused.status_code == 404, refused.text
            assert refused.json()["error"] == "No valid certificate has this verification id."
        # The staff routes next to them do need one
        assert http.get(course_path(DEMO_COURSE, "certificates/history")).status_code == 401
