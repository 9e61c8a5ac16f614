"""Bulk course email on moto through the real ASL and handlers: who each target reaches (checked by
address against the roster worked out by hand in ``email_support``), keywords and the unsubscribe
link in a delivered message, the opt-out it records, and bad input refused with nothing written."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.email_repo import EmailItem, EmailRepository, email_pk
from functions.dal.tasks_repo import TaskRepository
from functions.logic.anonymity import anonymized_id
from itask.local.http_adapter import build_event
from tests.helpers.api import course_path
from tests.helpers.mailbox import parts
from tests.integration.conftest import ANONYMIZATION_SECRET, Stack
from tests.integration.email_support import (
    ALPHA,
    BETA,
    HONOR,
    INSTRUCTOR,
    OPTED_OUT,
    STAFF,
    STAFF_DISABLED,
    STAFF_NOT_ENROLLED,
    SUPPRESSED,
    MailCourse,
    address,
    deliver_ses_event,
    email_settings,
    ses_bounce,
    ses_complaint,
    start_stack,
)


@pytest.fixture(scope="module")
def mail_stack() -> Iterator[Stack]:
    yield from start_stack(email_settings())


@pytest.fixture(scope="module")
def course(mail_stack: Stack) -> MailCourse:
    """One course for the target tests; its suppressed learner bounced through the real handler."""
    course = MailCourse.create(mail_stack)
    deliver_ses_event(
        mail_stack,
        ses_bounce(address(course.uid(SUPPRESSED)), "an-earlier-send", course.uid(SUPPRESSED)),
        "Email Bounced",
    )
    return course


def _send_and_count(course: MailCourse, send_to: list[str]) -> tuple[dict[str, int], dict]:
    course.mailbox.mark()
    task_id = course.send_ok(send_to)
    task = course.wait(task_id)
    assert task.state.value in ("SUCCESS", "FAILURE"), task.task_output
    return dict(course.mailbox.counts(course.every_address())), course.output(task_id)


@pytest.mark.parametrize(
    ("send_to", "receivers", "skipped"),
    [
        # Active learners, staff and instructors left out; the opted-out and suppressed ones skipped.
        (["learners"], [*ALPHA, *BETA, *HONOR], {"opted_out": 1, "suppressed": 1}),
        # Cohort members (staff included) with an active enrollment and account.
        (["cohort:Alpha"], [*ALPHA, INSTRUCTOR], {}),
        (["cohort:Beta"], [*BETA], {"opted_out": 1}),
        # A track leaves staff out (the staff member in verified is not reached).
        (["track:verified"], [*BETA], {"suppressed": 1}),
        (["track:audit"], [*ALPHA], {"opted_out": 1}),
        # Staff and instructors, enrolled or not; the one whose account is disabled skipped.
        (["staff"], [INSTRUCTOR, STAFF, STAFF_NOT_ENROLLED], {"disabled": 1}),
        (["myself"], [INSTRUCTOR], {}),
        # Overlapping targets: one message per person.
        (
            ["cohort:Alpha", "track:audit", "myself", "learners"],
            [*ALPHA, *BETA, *HONOR, INSTRUCTOR],
            {"opted_out": 1, "suppressed": 1},
        ),
    ],
)
def test_each_target_reaches_exactly_its_recipients_once(course, send_to, receivers, skipped):
    counts, output = _send_and_count(course, send_to)
    assert counts == {address: 1 for address in course.addresses(receivers)}
    assert output["succeeded"] == len(receivers)
    assert output.get("skipped_reasons", {}) == skipped
    assert output["skipped"] == sum(skipped.values())
    assert output["failed"] == 0 and output["in_doubt"] == 0
    # Never the unenrolled, the inactive account, the opted-out or the suppressed learner.
    never = {address(course.uid(offset)) for offset in (21, 22, OPTED_OUT, SUPPRESSED, STAFF_DISABLED)}
    assert not never & set(counts)


def test_keywords_and_unsubscribe_link_in_a_delivered_message_and_following_it_opts_out(mail_stack):
    course = MailCourse.create(mail_stack)
    learner = course.uid(ALPHA[0])
    message = (
        "<p>Dear %%USER_FULLNAME%%, your id is %%USER_ID%%.</p>"
        "<p>%%COURSE_DISPLAY_NAME%% (%%COURSE_ID%%) runs %%COURSE_START_DATE%% to %%COURSE_END_DATE%%.</p>"
    )
    task_id = course.send_ok(["cohort:Alpha"], subject="Week 1 <news>", message=message)
    course.wait(task_id)
    [delivered] = course.mailbox.messages_to(address(learner))
    text, body = parts(delivered)
    anonymous = anonymized_id(ANONYMIZATION_SECRET, learner)
    course_title = "Mail {} <Course>".format(course.course_id.split("+")[1][1:])
    # Keywords: filled in; HTML-escaped in the HTML part, as is in the text part.
    assert f"Dear Learner Ü{learner}, your id is {anonymous}." in text
    assert f"{course_title} ({course.course_id}) runs Sep 07, 2026 to Dec 18, 2026." in text
    assert f"Dear Learner Ü{learner}, your id is {anonymous}." in body
    assert f"{html.escape(course_title)} ({course.course_id})" in body
    assert "<Course>" not in body
    assert delivered["Subject"] == "Week 1 <news>"
    [sender] = delivered["From"].addresses
    assert sender.display_name == f"{course_title} Course Staff"
    assert sender.addr_spec == f"{course.course_id.split('+')[1]}-course-mail@example.org"
    # RFC 8058 one-click headers, and the same link in both parts.
    link = re.fullmatch(r"<(.+)>", str(delivered["List-Unsubscribe"])).group(1)
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith("https://api.test/email/unsubscribe/")
    assert link in text and html.escape(link) in body
    # Another learner's link is another token.
    [other] = course.mailbox.messages_to(address(course.uid(ALPHA[1])))
    assert other["List-Unsubscribe"] != delivered["List-Unsubscribe"]

    # Following the link: a page with a button (a GET changes nothing), the button's POST opts out.
    path = urlsplit(link).path
    page = _public(mail_stack, "GET", path)
    assert page["statusCode"] == 200 and '<form method="post"' in page["body"]
    repo = EmailRepository(mail_stack.settings)
    assert not repo.is_opted_out(course.course_id, learner)
    done = _public(mail_stack, "POST", path, b"")
    assert done["statusCode"] == 200 and "no longer receive" in done["body"]
    assert repo.is_opted_out(course.course_id, learner)
    # The next email skips them.
    course.mailbox.mark()
    again = course.send_ok(["cohort:Alpha"])
    course.wait(again)
    assert course.mailbox.counts([address(learner)]) == {}
    assert course.output(again)["skipped_reasons"] == {"opted_out": 1}


def test_one_click_unsubscribe_and_forged_or_altered_links(mail_stack):
    course = MailCourse.create(mail_stack)
    learner = course.uid(BETA[0])
    task_id = course.send_ok(["cohort:Beta"])
    course.wait(task_id)
    [delivered] = course.mailbox.messages_to(address(learner))
    path = urlsplit(re.fullmatch(r"<(.+)>", str(delivered["List-Unsubscribe"])).group(1)).path
    token = path.rsplit("/", 1)[1]
    repo = EmailRepository(mail_stack.settings)
    payload, signature = token.split(".")
    forged = [
        f"{payload}.{signature[:-2]}AA",  # signature altered
        f"{payload[:-2]}AA.{signature}",  # learner or course altered
        payload,  # signature missing
        "not-a-token",
    ]
    for bad in forged:
        for method in ("GET", "POST"):
            answer = _public(mail_stack, method, f"/email/unsubscribe/{bad}", b"List-Unsubscribe=One-Click")
            assert answer["statusCode"] == 400, (bad, answer)
    assert not repo.is_opted_out(course.course_id, learner)
    # The mailbox provider's one-click POST (RFC 8058): no bearer token, the form body it sends.
    answer = _public(mail_stack, "POST", path, b"List-Unsubscribe=One-Click")
    assert answer["statusCode"] == 200
    assert repo.is_opted_out(course.course_id, learner)
    # Twice is fine.
    assert _public(mail_stack, "POST", path, b"List-Unsubscribe=One-Click")["statusCode"] == 200


def _public(stack: Stack, method: str, path: str, body: bytes = b"") -> dict:
    event = build_event(
        method, path, {"host": "api.test", "content-type": "application/x-www-form-urlencoded"}, body, {}
    )
    del event["requestContext"]["authorizer"]
    return stack.router.invoke("email-unsubscribe", event)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"send_to": ["everyone"], "subject": "S", "message": "<p>m</p>"}, 400, "unrecognized target"),
        ({"send_to": [], "subject": "S", "message": "<p>m</p>"}, 400, "non-empty list of targets"),
        ({"send_to": ["learners"], "subject": "  ", "message": "<p>m</p>"}, 400, "subject is required"),
        ({"send_to": ["learners"], "subject": "x" * 129, "message": "<p>m</p>"}, 400, "at most 128"),
        ({"send_to": ["learners"], "subject": "S", "message": ""}, 400, "message is required"),
        (
            {"send_to": ["cohort:Gamma"], "subject": "S", "message": "<p>m</p>"},
            400,
            "cohort 'Gamma' does not exist",
        ),
        (
            {"send_to": ["track:masters"], "subject": "S", "message": "<p>m</p>"},
            400,
            "track 'masters' does not exist",
        ),
        (
            {"send_to": ["learners"], "subject": "S", "message": "<p>Hi %%FIRST_NAME%%</p>"},
            400,
            "Unknown keyword %%FIRST_NAME%%",
        ),
        (
            {"send_to": ["learners"], "subject": "S", "message": "<p>m</p>", "template_name": "fancy"},
            400,
            "Unknown email template",
        ),
        (
            {
                "send_to": ["learners"],
                "subject": "S",
                "message": "<p>m</p>",
                "schedule": "2020-01-01T00:00:00Z",
            },
            400,
            "Error occurred creating a scheduled bulk email task. Schedule provided: '2020-01-01T00:00:00Z'",
        ),
        (
            {"send_to": ["learners"], "subject": "S", "message": "<p>m</p>", "schedule": "next tuesday"},
            400,
            "Schedule provided: 'next tuesday'",
        ),
        ({"send_to": ["learners"], "subject": "S"}, 400, "message"),
    ],
)
def test_bad_input_is_4xx_with_a_clear_message_and_writes_nothing(mail_stack, body, status, words):
    course = MailCourse.create(mail_stack)
    code, answer = mail_stack.api("POST", course_path(course.course_id, "emails"), course.instructor, body)
    assert code == status, answer
    assert words in answer["error"]
    _nothing_written(mail_stack, course)


def test_a_cohort_of_another_course_is_refused(mail_stack):
    course = MailCourse.create(mail_stack)
    other = MailCourse.create(mail_stack)
    from functions.dal.course_repo import CourseRepository
    from functions.models.course import Enrollment

    CourseRepository(mail_stack.settings).put_enrollments(
        [
            Enrollment(
                course_id=other.course_id,
                user_id=other.uid(300),
                username="x",
                email="x@mail.example.org",
                cohort="Elsewhere",
            )
        ]
    )
    code, answer = course.send(["cohort:Elsewhere"])
    assert code == 400 and "cohort 'Elsewhere' does not exist" in answer["error"]
    _nothing_written(mail_stack, course)


def test_only_course_staff_may_email(mail_stack):
    course = MailCourse.create(mail_stack)
    body = {"send_to": ["myself"], "subject": "S", "message": "<p>m</p>"}
    for subject, status in ((course.outsider, 403), ("learner", 403), ("researcher", 403), (None, 401)):
        for method, path in (
            ("POST", "emails"),
            ("POST", "emails/preview"),
            ("GET", "emails"),
            ("GET", "email_tasks"),
            ("GET", "emails/1"),
        ):
            code, _ = mail_stack.api(
                method, course_path(course.course_id, path), subject, body if method == "POST" else None
            )
            assert code == status, (subject, method, path)
    _nothing_written(mail_stack, course)
    # Course staff (not only instructors) may.
    assert course.send(["myself"], as_subject=course.staff)[0] == 202


def _nothing_written(stack: Stack, course: MailCourse) -> None:
    code, listed = stack.api("GET", course_path(course.course_id, "email_tasks"), course.instructor)
    assert code == 200 and listed == {"tasks": []}
    assert list(EmailItem.query(email_pk(course.course_id))) == []
    assert TaskRepository(stack.settings).list_course(course.course_id) == []


def test_hard_bounces_and_complaints_suppress_and_show_in_the_history(mail_stack):
    course = MailCourse.create(mail_stack)
    bounced, complained, soft = (course.uid(BETA[0]), course.uid(BETA[1]), course.uid(BETA[2]))
    task_id = course.send_ok(["cohort:Beta"])
    course.wait(task_id)
    # SES reports them on the default bus; the rule's queue hands them to the real handler.
    deliver_ses_event(mail_stack, ses_bounce(address(bounced), task_id, bounced), "Email Bounced")
    complaint = ses_complaint(address(complained), task_id, complained)
    deliver_ses_event(mail_stack, complaint, "Email Complaint Received")
    deliver_ses_event(mail_stack, complaint, "Email Complaint Received")  # delivered twice: counted once
    deliver_ses_event(mail_stack, ses_bounce(address(soft), task_id, soft, "Transient"), "Email Bounced")
    suppressed = EmailRepository(mail_stack.settings).suppressions([bounced, complained, soft])
    assert suppressed == {
        bounced: (address(bounced), "bounce"),
        complained: (address(complained), "complaint"),
    }
    code, history = mail_stack.api("GET", course_path(course.course_id, "email_tasks"), course.instructor)
    assert code == 200
    [row] = history["tasks"]
    assert row["counts"]["bounced"] == 1 and row["counts"]["complained"] == 1
    code, contents = mail_stack.api("GET", course_path(course.course_id, "emails"), course.instructor)
    assert contents["emails"][0]["counts"]["bounced"] == 1
    # The next email to them skips the two suppressed addresses, not the soft bounce.
    course.mailbox.mark()
    again = course.send_ok(["cohort:Beta"])
    course.wait(again)
    reached = set(course.mailbox.counts(course.every_address()))
    assert reached == course.addresses(BETA) - {address(bounced), address(complained)}
    assert course.output(again)["skipped_reasons"] == {"opted_out": 1, "suppressed": 2}


def test_history_and_content_lists_have_upstreams_shapes(mail_stack):
    course = MailCourse.create(mail_stack)
    first = course.send_ok(["cohort:Alpha", "cohort:Beta", "track:verified"], subject="First")
    course.wait(first)
    second = course.send_ok(["myself"], subject="Second")
    course.wait(second)
    code, history = mail_stack.api("GET", course_path(course.course_id, "email_tasks"), course.instructor)
    assert code == 200
    assert [row["task_id"] for row in history["tasks"]] == [second, first]  # newest first
    row = history["tasks"][1]
    assert set(row) >= {
        "task_type",
        "task_input",
        "task_id",
        "requester",
        "task_state",
        "created",
        "duration_sec",
        "status",
        "task_message",
    }
    assert row["task_type"] == "bulk_course_email" and row["requester"] == f"u{course.uid(INSTRUCTOR)}"
    assert json.loads(row["task_input"])["to_option"] == ["2 cohort", "track"]
    assert row["status"] == "Complete"
    # Alpha (8 and the instructor) + Beta (6; the opted-out one skipped) + verified (Beta again, and the
    # roster's SUPPRESSED learner, who has not bounced in this course).
    assert row["task_message"] == "Message successfully emailed for 16 recipients (skipping 1) (out of 17)"
    code, contents = mail_stack.api("GET", course_path(course.course_id, "emails"), course.instructor)
    assert code == 200
    newest, oldest = contents["emails"]
    assert newest["email"]["subject"] == "Second" and newest["sent_to"] == ["Myself"]
    assert newest["number_sent"] == "1 sent"
    assert oldest["sent_to"] == ["Cohort: Alpha", "Cohort: Beta", "Course mode: Verified Certificate"]
    assert oldest["number_sent"] == "16 sent" and oldest["requester"] == f"u{course.uid(INSTRUCTOR)}"
    assert set(oldest["email"]) == {"subject", "html_message", "id"}
    email_id = oldest["email"]["id"]
    code, one = mail_stack.api("GET", course_path(course.course_id, f"emails/{email_id}"), course.instructor)
    assert code == 200
    assert one["targets"] == ["cohort-Alpha", "cohort-Beta", "track-verified"]
    assert one["text_message"].strip() == "Hello %%USER_FULLNAME%%"
    # Another course's email id is not found here.
    other = MailCourse.create(mail_stack)
    assert (
        mail_stack.api("GET", course_path(other.course_id, f"emails/{email_id}"), other.instructor)[0] == 404
    )


def test_describe_and_update_email_for_the_schedules_api(mail_stack):
    """The two calls the schedules capability's §6.7 routes make: the ``course_email`` object, and an
    edit checked as when written (text derived again, targets replaced whole, nothing changed on bad
    input, 404 for another course's email, course staff only)."""
    from functions.errors import ApiError, BadRequest, Forbidden, NotFound
    from functions.logic.email import service
    from functions.logic.registry import RunContext

    course = MailCourse.create(mail_stack)
    other = MailCourse.create(mail_stack)
    code, written = course.send(["cohort:Alpha", "cohort:Beta", "track:honor"], subject="Week 1")
    assert code == 202, written
    course.wait(written["task_id"])
    ctx = RunContext.create(mail_stack.settings)
    access = AccessRepository(mail_stack.settings)
    instructor = access.get_principal(course.instructor)
    assert instructor is not None
    email_id = written["email_id"]
    assert service.describe_email(ctx, course.course_id, email_id) == {
        "id": email_id,
        "subject": "Week 1",
        "html_message": "<p>Hello %%USER_FULLNAME%%</p>",
        "text_message": "Hello %%USER_FULLNAME%%\n",
        "course_id": course.course_id,
        "to_option": ["2 cohort", "track"],
        "sender": f"u{course.uid(INSTRUCTOR)}",
        "targets": ["cohort-Alpha", "cohort-Beta", "track-honor"],
    }
    # An edit: new subject and HTML (text derived again), targets replaced as a whole
    edited = service.update_email(
        ctx,
        instructor,
        course.course_id,
        email_id,
        subject="Week 1, moved",
        html_message="<p>Now on <b>Friday</b></p>",
        targets=["learners"],
    )
    assert edited["subject"] == "Week 1, moved"
    assert edited["text_message"].split() == ["Now", "on", "Friday"]
    assert edited["targets"] == ["learners"] and edited["to_option"] == ["learners"]
    assert service.describe_email(ctx, course.course_id, email_id) == edited
    # Bad input is refused with the creation's messages, and changes nothing
    for change, words in (
        ({"subject": ""}, "subject is required"),
        ({"subject": "x" * 129}, "at most 128"),
        ({"targets": ["cohort:Nowhere"]}, "cohort 'Nowhere' does not exist"),
        ({"targets": []}, "non-empty"),
        ({"html_message": "<p>%%NOPE%%</p>"}, "Unknown keyword %%NOPE%%"),
    ):
        with pytest.raises(BadRequest, match=words):
            service.update_email(ctx, instructor, course.course_id, email_id, **change)
    assert service.describe_email(ctx, course.course_id, email_id) == edited
    # Another course's email is not found through this course; other staff may not edit
    for missing in (email_id, "12x"):
        with pytest.raises(NotFound):
            service.describe_email(ctx, other.course_id, missing)
    outsider = access.get_principal(course.outsider)
    assert outsider is not None
    with pytest.raises(Forbidden):
        service.update_email(ctx, outsider, course.course_id, email_id, subject="Mine")
    with pytest.raises(ApiError):
        service.update_email(ctx, instructor, other.course_id, email_id, subject="Lost")
    assert service.describe_email(ctx, course.course_id, email_id)["subject"] == "Week 1, moved"
