"""Batch enrollment (spec §7.3) on moto through the real ASL: enrollments, invitations, audit, emails.

Before: u4001 enrolled; u4002 enrolled but inactive; u4003 and u4004 have accounts, no enrollment
(u4003 was pre-assigned to cohort Beta by email; u4004@example.org and invited@example.org hold
allowed-to-enroll records). The enroll list, worked by hand (row: transition):

    1 u4001                ENROLLED_TO_ENROLLED
    2 u4002                UNENROLLED_TO_ENROLLED (re-activated)
    3 U4003@Example.org    UNENROLLED_TO_ENROLLED (email in any case; Beta applied)
    4 fresh@example.org    UNENROLLED_TO_ALLOWEDTOENROLL (no account: invited)
    5 invited@example.org  N/A (already invited)
    6 not-an-email         invalid_identifier
    7 u4004                ALLOWEDTOENROLL_TO_ENROLLED
    8 bad@@x               invalid_identifier
    9 u4003                ENROLLED_TO_ENROLLED (row 3 enrolled them)

9 attempted, 7 succeeded, 2 failed. Chunks of 3 people: [u4001, u4002, u4003 (rows 3, 9)],
[fresh, invited, not-an-email], [u4004, bad@@x]: the CSV lists rows chunk by chunk.
"""

from __future__ import annotations

import json
import threading

from functions.dal.access_repo import AccessRepository
from functions.dal.cohort_repo import CohortRepository
from functions.dal.course_repo import CourseRepository
from functions.dal.enrollment_audit_repo import EnrollmentAuditRepository
from functions.dal.people_repo import PeopleRepository
from functions.logic.tasktypes.enrollment_batch import StudentEnrollmentBatch
from functions.models.access import Principal, Role, RoleGrant
from functions.models.cohorts import Cohort, PendingCohort
from functions.models.people import EnrollmentAllowed
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.staff import Redelivery, add_learner, add_profiles, report_rows, sent_emails

IDENTIFIERS = "\n".join(
    [
        "u4001, u4002",
        "U4003@Example.org  fresh@example.org,,invited@example.org\tnot-an-email",
        "u4004 bad@@x u4003",
    ]
)
HEADER = ["identifier", "success", "state_transition", "error_type", "error_message"]
ENROLL_ROWS = [
    HEADER,
    ["u4001", "True", "ENROLLED_TO_ENROLLED", "", ""],
    ["u4002", "True", "UNENROLLED_TO_ENROLLED", "", ""],
    ["U4003@Example.org", "True", "UNENROLLED_TO_ENROLLED", "", ""],
    ["u4003", "True", "ENROLLED_TO_ENROLLED", "", ""],
    ["fresh@example.org", "True", "UNENROLLED_TO_ALLOWEDTOENROLL", "", ""],
    ["invited@example.org", "True", "N/A", "", ""],
    ["not-an-email", "False", "", "invalid_identifier", "Invalid email address"],
    ["u4004", "True", "ALLOWEDTOENROLL_TO_ENROLLED", "", ""],
    ["bad@@x", "False", "", "invalid_identifier", "Invalid email address"],
]
ENROLLER = "enroller@example.org"


def seed(stack) -> None:
    add_learner(stack.settings, 4001)
    add_learner(stack.settings, 4002, active=False)
    add_profiles(
        stack.settings,
        [(4003, "u4003", "u4003@example.org", None), (4004, "u4004", "u4004@example.org", None)],
    )
    PeopleRepository(stack.settings).put_allowed(
        COURSE_ID,
        [EnrollmentAllowed(email="u4004@example.org"), EnrollmentAllowed(email="invited@example.org")],
    )
    CohortRepository(stack.settings).create(COURSE_ID, Cohort(name="Beta"))
    CohortRepository(stack.settings).put_pending(
        COURSE_ID, [PendingCohort(email="u4003@example.org", cohort="Beta")]
    )
    AccessRepository(stack.settings).put_principal(
        Principal(
            subject="enroller",
            user_id=9,
            username="enroller",
            email=ENROLLER,
            grants=[RoleGrant(scope=COURSE_ID, role=Role.STAFF)],
        )
    )


def enroll(stack, body: dict, subject: str = "enroller") -> dict:
    status, answer = stack.api("POST", course_path(COURSE_ID, "enrollments/batch"), subject, body)
    assert status == 202, answer
    return answer


def check_enrolled(stack, task) -> None:
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert {k: output[k] for k in ("total", "attempted", "succeeded", "failed", "skipped")} == {
        "total": 9,
        "attempted": 9,
        "succeeded": 7,
        "failed": 2,
        "skipped": 0,
    }
    assert (output["total_processed"], output["successful"]) == (9, 7)
    assert output["step"] == "Completed enroll batch processing"
    assert report_rows(stack, output["report_name"]) == ENROLL_ROWS
    enrollments = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [4001, 4002, 4003, 4004])
    assert {u: (e.is_active, e.mode, e.cohort) for u, e in enrollments.items()} == {
        4001: (True, "audit", None),
        4002: (True, "audit", None),
        4003: (True, "audit", "Beta"),
        4004: (True, "audit", None),
    }
    assert CohortRepository(stack.settings).get_pending(COURSE_ID, ["u4003@example.org"]) == {}
    people = PeopleRepository(stack.settings)
    allowed = people.get_allowed(COURSE_ID, ["fresh@example.org", "invited@example.org", "u4004@example.org"])
    assert sorted(allowed) == ["fresh@example.org", "invited@example.org", "u4004@example.org"]
    assert people.pending_courses(["fresh@example.org", "invited@example.org"]) == {
        "fresh@example.org": {COURSE_ID},
        "invited@example.org": {COURSE_ID},
    }
    audit = EnrollmentAuditRepository(stack.settings).list(COURSE_ID, task_id=task.task_id)
    assert sorted((r.row, r.identifier, r.email, r.user_id, r.state_transition) for r in audit) == [
        (1, "u4001", "u4001@example.org", 4001, "ENROLLED_TO_ENROLLED"),
        (2, "u4002", "u4002@example.org", 4002, "UNENROLLED_TO_ENROLLED"),
        (3, "U4003@Example.org", "u4003@example.org", 4003, "UNENROLLED_TO_ENROLLED"),
        (4, "fresh@example.org", "fresh@example.org", None, "UNENROLLED_TO_ALLOWEDTOENROLL"),
        (5, "invited@example.org", "invited@example.org", None, "N/A"),
        (7, "u4004", "u4004@example.org", 4004, "ALLOWEDTOENROLL_TO_ENROLLED"),
        (9, "u4003", "u4003@example.org", 4003, "ENROLLED_TO_ENROLLED"),
    ]
    assert {(r.enrolled_by, r.reason) for r in audit} == {("enroller", "Term start")}
    # one email per person and kind: four "enrolled", two invitations; and the completion email
    learners = sorted(
        (m.destinations["ToAddresses"][0], m.subject)
        for m in sent_emails()
        if ENROLLER not in m.destinations["ToAddresses"]
    )
    assert learners == [
        ("fresh@example.org", "You have been invited to register for Grading test course"),
        ("invited@example.org", "You have been invited to register for Grading test course"),
        ("u4001@example.org", "You have enrolled in Grading test course"),
        ("u4002@example.org", "You have enrolled in Grading test course"),
        ("u4003@example.org", "You have enrolled in Grading test course"),
        ("u4004@example.org", "You have enrolled in Grading test course"),
    ]
    completion = sent_emails(ENROLLER)
    assert len(completion) == 1
    assert completion[0].subject == "Batch enrollment completed for Grading test course"
    body = completion[0].body
    assert "Processed: 9\nSuccessful: 7\nFailed: 2" in body
    assert f"https://courses.example.com/courses/{COURSE_ID}/" in body and "Hello enroller" in body


def test_enroll_then_unenroll_a_mixed_list(small_chunks_stack):
    stack = small_chunks_stack
    seed(stack)
    answer = enroll(
        stack,
        {"action": "enroll", "identifiers": IDENTIFIERS, "email_students": True, "reason": "Term start"},
    )
    assert {k: v for k, v in answer.items() if k != "task_id"} == {
        "action": "enroll",
        "auto_enroll": True,
        "async_processing": True,
        "task_state": "QUEUING",
        "message": "Async enroll task submitted for 9 students",
        "total_students": 9,
    }
    check_enrolled(stack, stack.wait(answer["task_id"]))
    # Unenroll: an enrolled learner, an invitation, a stranger, a re-activated learner
    answer = enroll(
        stack, {"action": "unenroll", "identifiers": ["u4001 fresh@example.org", "nobody@example.org,u4002"]}
    )
    task = stack.wait(answer["task_id"])
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["failed"]) == (4, 4, 0)
    assert output["step"] == "Completed unenroll batch processing"
    assert report_rows(stack, output["report_name"]) == [
        HEADER,
        ["u4001", "True", "ENROLLED_TO_UNENROLLED", "", ""],
        ["fresh@example.org", "True", "ALLOWEDTOENROLL_TO_UNENROLLED", "", ""],
        ["nobody@example.org", "True", "UNENROLLED_TO_UNENROLLED", "", ""],
        ["u4002", "True", "ENROLLED_TO_UNENROLLED", "", ""],
    ]
    enrollments = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [4001, 4002])
    assert {u: e.is_active for u, e in enrollments.items()} == {4001: False, 4002: False}
    people = PeopleRepository(stack.settings)
    assert people.get_allowed(COURSE_ID, ["fresh@example.org"]) == {}
    assert people.pending_courses(["fresh@example.org"]) == {}
    assert len(sent_emails(ENROLLER)) == 2  # a completion email per batch
    # An invited person whose account is loaded later is enrolled then
    status, summary = stack.api(
        "POST",
        course_path(COURSE_ID, "data/profiles"),
        "admin",
        raw_body=b'{"id": 4100, "username": "invitee", "email": "Invited@example.org"}\n',
    )
    assert (status, summary["enrolled_from_invitations"]) == (200, 1), summary
    invitee = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [4100])[4100]
    assert (invitee.username, invitee.email, invitee.is_active) == ("invitee", "Invited@example.org", True)
    assert people.pending_courses(["invited@example.org"]) == {}
    # loading it again changes nothing more
    status, summary = stack.api(
        "POST",
        course_path(COURSE_ID, "data/profiles"),
        "admin",
        raw_body=b'{"id": 4100, "username": "invitee", "email": "Invited@example.org"}\n',
    )
    assert (status, summary["enrolled_from_invitations"]) == (200, 0)


def test_a_chunk_delivered_twice_at_once_enrolls_and_mails_once(small_chunks_stack, monkeypatch):
    stack = small_chunks_stack
    seed(stack)
    redelivery = Redelivery(stack, monkeypatch)
    answer = enroll(
        stack,
        {"action": "enroll", "identifiers": IDENTIFIERS, "email_students": True, "reason": "Term start"},
    )
    task = stack.wait(answer["task_id"])
    redelivery.assert_each_chunk_counted_once(3)
    check_enrolled(stack, task)  # seven audit records, six learner emails, one completion email


def test_a_list_uploaded_instead_of_inline(small_chunks_stack):
    import requests

    stack = small_chunks_stack
    seed(stack)
    status, form = stack.api(
        "POST", course_path(COURSE_ID, "uploads"), "enroller", {"purpose": "enrollment_identifiers"}
    )
    assert status == 201, form
    answer = requests.post(
        form["url"], data=form["fields"], files={"file": ("list.txt", b"u4003\r\nu4004\r\n")}, timeout=30
    )
    assert answer.status_code in (200, 201, 204)
    answer = enroll(stack, {"action": "enroll", "upload_id": form["upload_id"]})
    assert answer["total_students"] == 2
    task = stack.wait(answer["task_id"])
    assert json.loads(task.task_output)["succeeded"] == 2


def test_bad_batches_are_400_and_queue_nothing(small_chunks_stack):
    stack = small_chunks_stack
    seed(stack)
    either = "Give either identifiers (usernames or emails) or the upload_id of a list"
    missing = f"No list of learners was uploaded as {'0' * 32} for this course (or it has expired)"
    cases = [
        ({"action": "transfer", "identifiers": "u4001"}, "Unknown action 'transfer': use enroll or unenroll"),
        ({"action": "enroll", "identifiers": " , \n"},
         "No identifiers given: usernames or emails, separated by commas or new lines"),
        ({"action": "enroll", "identifiers": ",".join(["u4001"] * 100_001)},
         "At most 100,000 identifiers per batch (got 100,001)"),
        ({"action": "enroll"}, either),
        ({"action": "enroll", "identifiers": "a", "upload_id": "0" * 32}, either),
        ({"action": "enroll", "upload_id": "0" * 32}, missing),
    ]  # fmt: skip
    for body, message in cases:
        status, answer = stack.api("POST", course_path(COURSE_ID, "enrollments/batch"), "enroller", body)
        assert (status, answer["error"]) == (400, message)
    _, tasks = stack.api("GET", course_path(COURSE_ID, "tasks"), query="state=all")
    assert tasks["tasks"] == []
    # 100,000 is accepted
    answer = enroll(stack, {"action": "unenroll", "identifiers": ",".join(["nobody@example.org"] * 100_000)})
    assert answer["total_students"] == 100_000
    status, _ = stack.api("POST", f"/tasks/{answer['task_id']}/cancel", "enroller")  # (not run: it is long)
    assert status == 200
    status, answer = stack.api(
        "POST",
        course_path(COURSE_ID, "enrollments/batch"),
        "outsider",
        {"action": "enroll", "identifiers": "u4001"},
    )
    assert status == 403


def test_a_similar_batch_running_is_refused_with_the_spec_message(small_chunks_stack, monkeypatch):
    stack = small_chunks_stack
    seed(stack)
    release = threading.Event()
    planning = threading.Event()
    original = StudentEnrollmentBatch.prepare

    def held(self, ctx, task, task_input):
        planning.set()
        assert release.wait(60)
        return original(self, ctx, task, task_input)

    monkeypatch.setattr(StudentEnrollmentBatch, "prepare", held)
    first = enroll(stack, {"action": "enroll", "identifiers": "u4003"})
    assert planning.wait(60)
    status, answer = stack.api(
        "POST",
        course_path(COURSE_ID, "enrollments/batch"),
        "enroller",
        {"action": "unenroll", "identifiers": "u4001"},
    )
    assert (status, answer["error"]) == (
        409,
        "A similar enrollment task is already running. Please wait for it to complete.",
    )
    release.set()
    assert stack.wait(first["task_id"]).state is TaskState.SUCCESS
    status, answer = stack.api("GET", course_path(COURSE_ID, "enrollments/audit"), "enroller")
    assert status == 200 and [r["identifier"] for r in answer["records"]] == ["u4003"]
