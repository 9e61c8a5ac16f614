"""The issued certificates report (Open edX ``issued_certificates``) on moto through the real ASL.

Expected rows are counted by hand from the learners below: downloadable certificates by mode, every
enrollment (an unenrolled learner keeps an issued certificate), nothing else counted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from functions.models.course import Certificate
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.staff import add_learner, newest_report, submit

EARLIER = datetime(2026, 10, 1, tzinfo=UTC)


def cert(status: str, mode: str) -> Certificate:
    return Certificate(status=status, mode=mode, created=EARLIER, modified=EARLIER)


def test_counts_downloadable_certificates_by_mode_across_chunks(small_chunks_stack):
    stack = small_chunks_stack  # chunks of 3 learners: the nine below make three chunks
    settings = stack.settings
    add_learner(settings, 3001, mode="verified", certificate=cert("downloadable", "verified"))
    add_learner(settings, 3002, mode="verified", certificate=cert("downloadable", "verified"))
    add_learner(settings, 3003, mode="verified", active=False, certificate=cert("downloadable", "verified"))
    add_learner(settings, 3004, mode="honor", certificate=cert("downloadable", "honor"))
    add_learner(settings, 3005, mode="verified", certificate=cert("notpassing", "verified"))
    add_learner(settings, 3006, mode="audit", certificate=cert("audit_passing", "audit"))
    add_learner(settings, 3007, mode="professional", certificate=cert("unavailable", "professional"))
    add_learner(settings, 3008, mode="audit")
    add_learner(settings, 3009, mode="professional", certificate=cert("downloadable", "professional"))

    body = submit(stack, "issued_certificates_csv", {}, subject="staff")
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output

    rows = newest_report(stack, "issued_certificates")
    today = task.started.strftime("%B %d, %Y")
    assert rows == [
        ["CourseID", "Certificate Type", "Total Certificates Issued", "Date Report Run"],
        [COURSE_ID, "honor", "1", today],
        [COURSE_ID, "professional", "1", today],
        [COURSE_ID, "verified", "3", today],
    ]
    assert task.total == 9 and task.counters.attempted == 9 and task.counters.succeeded == 9


def test_a_course_without_issued_certificates_gives_the_header_only(small_chunks_stack):
    stack = small_chunks_stack
    add_learner(stack.settings, 3101, mode="verified", certificate=cert("notpassing", "verified"))
    body = submit(stack, "issued_certificates_csv", {}, subject="staff")
    assert stack.wait(body["task_id"]).state is TaskState.SUCCESS
    assert newest_report(stack, "issued_certificates") == [
        ["CourseID", "Certificate Type", "Total Certificates Issued", "Date Report Run"]
    ]


def test_a_learner_may_not_run_it(small_chunks_stack):
    status, answer = small_chunks_stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "learner",
        {"task_type": "issued_certificates_csv", "input": {}},
    )
    assert status == 403, answer
