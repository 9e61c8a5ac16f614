"""Scheduled course emails (spec §6.7) on moto through the real ASL and handlers: the minute rule
sends a scheduled email at its due time (advanced local clock), each recipient gets exactly one
message (counted in what moto's SES kept), and upstream's REST routes read, move, edit and cancel it
- in the course of the URL only, with the permission of sending the email.

Who each target reaches is spec §6.1's, worked out by hand in ``email_support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest

from functions.models.tasks import TaskState
from tests.integration.conftest import Stack
from tests.integration.email_support import (
    ALPHA,
    BETA,
    INSTRUCTOR,
    OPTED_OUT,
    MailCourse,
    address,
    email_settings,
    start_stack,
)
from tests.integration.schedule_support import CLOCK, advance_to, fire, iso

PAST = "Error occurred creating a scheduled bulk email task"


@pytest.fixture(scope="module")
def mail_stack() -> Iterator[Stack]:
    yield from start_stack(email_settings())


def datetime_of(text: str) -> datetime:
    return datetime.fromisoformat(text)


def scheduled_path(course_id: str, schedule_id: str | None = None) -> str:
    base = f"/api/instructor_task/v1/schedules/{quote(course_id, safe='')}/bulk_email/"
    return base + quote(schedule_id, safe="") if schedule_id else base


def schedule_email(course: MailCourse, send_to: list[str], hours: int = 1, **extra) -> tuple[dict, str]:
    """Write an email due ``hours`` from the scheduling clock's now; its schedule id and due time."""
    due = iso(CLOCK.now() + timedelta(hours=hours))
    status, written = course.send(send_to, schedule=due, **extra)
    assert status == 202, written
    assert written["task_state"] == "SCHEDULED"
    listed = course.stack.api("GET", scheduled_path(course.course_id), course.instructor)[1]
    (item,) = [row for row in listed["results"] if row["task"] == written["task_id"]]
    return {**written, "schedule_id": item["id"]}, due


def test_the_rule_sends_a_scheduled_email_once_to_each_recipient_at_its_due_time(mail_stack):
    course = MailCourse.create(mail_stack)
    written, due = schedule_email(course, ["cohort:Alpha"], subject="Due soon")
    everyone = course.every_address()
    # Not due: the rule fires and nothing is sent
    assert fire(mail_stack) == {}
    assert mail_stack.task(written["task_id"]).state is TaskState.SCHEDULED
    assert sum(course.mailbox.counts(everyone).values()) == 0
    # Past its due time, one tick submits it and the task sends it
    advance_to(datetime_of(due))
    assert fire(mail_stack) == {"submitted": 1}
    task = course.wait(written["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    expected = course.addresses([*ALPHA, INSTRUCTOR])  # cohort members, staff included (spec §6.1)
    assert dict(course.mailbox.counts(everyone)) == dict.fromkeys(expected, 1)
    (message,) = course.mailbox.messages_to(address(course.uid(ALPHA[0])))
    assert message["Subject"] == "Due soon"
    assert course.output(written["task_id"])["succeeded"] == len(expected)
    # The rule firing again sends nothing more; the schedule is no longer listed
    assert fire(mail_stack) == {}
    assert dict(course.mailbox.counts(everyone)) == dict.fromkeys(expected, 1)
    listed = mail_stack.api("GET", scheduled_path(course.course_id), course.instructor)[1]
    assert listed["count"] == 0 and listed["results"] == []
    # Sent: it can be neither moved nor cancelled (409, upstream's words)
    one = scheduled_path(course.course_id, written["schedule_id"])
    later = {"schedule": iso(CLOCK.now() + timedelta(hours=3))}
    for method, body in (("PATCH", later), ("DELETE", None)):
        status, refused = mail_stack.api(method, one, course.instructor, body)
        assert status == 409, refused
        assert refused["detail"] == (
            f"Cannot update instructor task '{written['task_id']}' for course '{course.course_id}', "
            "this task has already been processed"
        )


def test_the_routes_list_move_edit_and_cancel_a_scheduled_email_of_their_course_only(mail_stack):
    course = MailCourse.create(mail_stack)
    other = MailCourse.create(mail_stack)
    written, due = schedule_email(course, ["cohort:Alpha"], subject="Week 1", hours=2)
    kept, _ = schedule_email(course, ["learners"], subject="Kept", hours=5)
    elsewhere, _ = schedule_email(other, ["learners"], subject="Other course", hours=2)
    one = scheduled_path(course.course_id, written["schedule_id"])

    # The list: upstream's item shape, by schedule id, paginated
    status, listed = mail_stack.api("GET", scheduled_path(course.course_id), course.staff)
    assert status == 200, listed
    assert (listed["count"], listed["num_pages"], listed["current_page"]) == (2, 1, 1)
    assert [row["id"] for row in listed["results"]] == sorted([written["schedule_id"], kept["schedule_id"]])
    first = next(row for row in listed["results"] if row["id"] == written["schedule_id"])
    assert first["task"] == written["task_id"]
    assert datetime_of(first["task_due"]) == datetime_of(due)
    assert first["course_email"] == {
        "id": written["email_id"],
        "subject": "Week 1",
        "html_message": "<p>Hello %%USER_FULLNAME%%</p>",
        "text_message": "Hello %%USER_FULLNAME%%\n",
        "course_id": course.course_id,
        "to_option": ["cohort"],
        "sender": f"u{course.uid(INSTRUCTOR)}",
        "targets": ["cohort-Alpha"],
    }
    status, paged = mail_stack.api("GET", scheduled_path(course.course_id), course.staff, query="page_size=1")
    assert (status, paged["num_pages"], len(paged["results"])) == (200, 2, 1)
    assert paged["next"].endswith("page=2&page_size=1") and paged["previous"] is None
    assert mail_stack.api("GET", scheduled_path(course.course_id), course.staff, query="page=3")[0] == 404
    assert mail_stack.api("GET", one, course.staff)[1] == first

    # Another course's schedule (and its email) is 404 here, even for staff of both paths' courses
    foreign = scheduled_path(course.course_id, elsewhere["schedule_id"])
    for method, body in (
        ("GET", None),
        ("PATCH", {"schedule": iso(CLOCK.now() + timedelta(hours=3))}),
        ("DELETE", None),
    ):
        status, refused = mail_stack.api(method, foreign, course.instructor, body)
        assert status == 404, (method, refused)
        assert "a schedule with this ID does not exist" in refused["detail"]
    status, refused = mail_stack.api(
        "PATCH", one, course.instructor, {"email": {"id": elsewhere["email_id"]}}
    )
    assert status == 404 and "does not exist" in refused["error"], refused
    # Not staff of this course: 403 on every route (the other course's instructor included)
    for method, path, body in (
        ("GET", scheduled_path(course.course_id), None),
        ("GET", one, None),
        ("PATCH", one, {"schedule": iso(CLOCK.now() + timedelta(hours=3))}),
        ("DELETE", one, None),
    ):
        for who in (course.outsider, other.instructor):
            assert mail_stack.api(method, path, who, body)[0] == 403, (method, path, who)

    # Bad edits: 400 with a clear message, and nothing changed
    for body, words in (
        ({"schedule": iso(CLOCK.now() - timedelta(hours=1))}, "the updated schedule occurs in the past"),
        ({"schedule": "next tuesday"}, "Invalid"),
        ({"email": {"id": kept["email_id"], "subject": "x"}}, "does not match the email of this task"),
        ({"email": {"id": written["email_id"], "subject": ""}}, "subject is required"),
        (
            {"email": {"id": written["email_id"], "targets": ["cohort:Nowhere"]}},
            "cohort 'Nowhere' does not exist",
        ),
        ({"email": {"id": written["email_id"], "message": "<p>%%NOPE%%</p>"}}, "Unknown keyword %%NOPE%%"),
        ({"when": "soon"}, "Body must be"),
        ([], "Body must be"),
    ):
        status, refused = mail_stack.api("PATCH", one, course.instructor, body)
        assert status == 400, (body, refused)
        assert words in refused["detail"], (body, refused)
    assert mail_stack.api("GET", one, course.staff)[1] == first

    # Move it and change its content: new subject, HTML (text derived again), targets replaced whole
    moved_to = CLOCK.now() + timedelta(hours=3)
    status, changed = mail_stack.api(
        "PATCH",
        one,
        course.staff,
        {
            "schedule": iso(moved_to),
            "email": {
                "id": written["email_id"],
                "subject": "Week 1, moved",
                "message": "<p>Now on <b>Friday</b>, %%USER_FULLNAME%%</p>",
                "targets": ["cohort:Beta"],
            },
        },
    )
    assert status == 200, changed
    assert datetime_of(changed["task_due"]) == moved_to.replace(microsecond=moved_to.microsecond)
    assert changed["course_email"]["subject"] == "Week 1, moved"
    assert changed["course_email"]["text_message"].split()[:3] == ["Now", "on", "Friday,"]
    assert changed["course_email"]["targets"] == ["cohort-Beta"]
    assert mail_stack.api("GET", one, course.staff)[1] == changed
    assert mail_stack.api("GET", f"/tasks/{written['task_id']}", course.staff)[1]["task_state"] == "SCHEDULED"

    # Cancel the kept one: 204, its run REVOKED, the schedule gone (404 after)
    kept_path = scheduled_path(course.course_id, kept["schedule_id"])
    assert mail_stack.api("DELETE", kept_path, course.instructor) == (204, None)
    assert mail_stack.task(kept["task_id"]).state is TaskState.REVOKED
    assert mail_stack.api("DELETE", kept_path, course.instructor)[0] == 404
    assert mail_stack.api("PATCH", kept_path, course.instructor, {"schedule": iso(moved_to)})[0] == 404

    # At the moved time the rule sends the edited email, to the new targets only, once each
    advance_to(moved_to)
    assert fire(mail_stack).get("submitted", 0) >= 1
    assert course.wait(written["task_id"]).state is TaskState.SUCCESS
    receivers = course.addresses(BETA)  # cohort Beta; its opted-out member skipped
    assert address(course.uid(OPTED_OUT)) not in receivers
    counts = dict(course.mailbox.counts(course.every_address()))
    assert counts == dict.fromkeys(receivers, 1)
    (message,) = course.mailbox.messages_to(address(course.uid(BETA[0])))
    assert message["Subject"] == "Week 1, moved"
    # The cancelled one never goes, and nothing more is sent on later ticks
    advance_to(CLOCK.now() + timedelta(hours=6))
    fire(mail_stack)
    assert mail_stack.task(kept["task_id"]).state is TaskState.REVOKED
    assert dict(course.mailbox.counts(course.every_address())) == counts
    # Sent: editing it now is 409 with upstream's words
    status, refused = mail_stack.api(
        "PATCH", one, course.instructor, {"schedule": iso(CLOCK.now() + timedelta(hours=1))}
    )
    assert status == 409 and "this task has already been processed" in refused["detail"], refused
