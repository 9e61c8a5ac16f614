"""Certificate generation on moto through the real ASL (spec §7.1): records, counts, verification.

The course is the hand-made one (cutoffs A >= 0.8, Pass >= 0.5): full marks is 1.0 (passing), every
answer wrong is 0.0 (attempted, not passing). Expected outcomes are worked out from the rules:
an active enrollment and (an allowlist entry, or a passing grade in a verified-type mode).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from functions.dal.certificates_repo import CertificateRepository, VerifyItem
from functions.dal.course_repo import CourseRepository
from functions.dal.learner_records import LearnerRecords
from functions.dal.object_store import ObjectStore
from functions.models.course import Certificate
from functions.models.tasks import TaskState
from tests.helpers.api import api_event, course_path, response_json
from tests.helpers.course import COURSE_ID
from tests.helpers.staff import (
    Redelivery,
    add_learner,
    full_marks,
    newest_report,
    report_rows,
    submit,
    zero_marks,
)

PASS_VERIFIED = 2001
FAIL_VERIFIED = 2002
ALLOW_FAIL_AUDIT = 2003
PASS_AUDIT = 2004
NOTHING_AUDIT = 2005
UNENROLLED_PASS = 2006
HAS_CERT = 2007
UNAVAILABLE_CERT = 2008
PASS_PROFESSIONAL = 2009
EARLIER = datetime(2026, 10, 1, tzinfo=UTC)


def seed_course(stack) -> None:
    settings = stack.settings
    add_learner(settings, PASS_VERIFIED, mode="verified", scores=full_marks(), name="Ada <Lovelace> & Co")
    add_learner(settings, FAIL_VERIFIED, mode="verified", scores=zero_marks())
    add_learner(settings, ALLOW_FAIL_AUDIT, mode="audit", scores=zero_marks())
    add_learner(settings, PASS_AUDIT, mode="audit", scores=full_marks())
    add_learner(settings, NOTHING_AUDIT, mode="audit")
    add_learner(settings, UNENROLLED_PASS, mode="verified", active=False, scores=full_marks())
    add_learner(
        settings,
        HAS_CERT,
        mode="verified",
        scores=full_marks(),
        certificate=Certificate(
            status="notpassing", mode="verified", grade="0.3", created=EARLIER, modified=EARLIER
        ),
    )
    add_learner(
        settings,
        UNAVAILABLE_CERT,
        mode="verified",
        scores=full_marks(),
        certificate=Certificate(status="unavailable", mode="verified", created=EARLIER, modified=EARLIER),
    )
    add_learner(settings, PASS_PROFESSIONAL, mode="professional", scores=full_marks())
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "certificates/allowlist"),
        "instructor",
        {"user": f"u{ALLOW_FAIL_AUDIT}@example.org", "notes": "extenuating circumstances"},
    )
    assert status == 201, body


def expected(user_id: int, mode: str, *cells: str) -> list[str]:
    """A result CSV row: the learner's identity, then the given cells (reason empty unless given)."""
    filled = [*cells, ""] if len(cells) == 6 else list(cells)
    return [str(user_id), f"u{user_id}", f"u{user_id}@example.org", mode, *filled]


def certificates(stack) -> dict[int, Certificate | None]:
    found = CourseRepository(stack.settings).get_enrollments(COURSE_ID, range(2001, 2010))
    return {user_id: enrollment.certificate for user_id, enrollment in found.items()}


def verify(stack, verify_id: str, suffix: str = "") -> tuple[int, dict | str]:
    response = stack.router.invoke(
        "certificate-verify", api_event("GET", f"/certificates/{verify_id}{suffix}", None)
    )
    body = response_json(response) if "json" in response["headers"]["Content-Type"] else response["body"]
    return int(response["statusCode"]), body


def test_generation_for_all_learners_decides_each_learner_and_counts_exactly(small_chunks_stack):
    stack = small_chunks_stack
    seed_course(stack)
    # When the instructor generates certificates for all learners (8 active: 3 chunks of 3)
    body = submit(stack, "generate_certificates_all_student", {})
    assert body["status"].startswith(
        "Certificate generation task for all students of this course has been started."
    )
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    # Then: active 8 = total; HAS_CERT skipped (has a certificate); generated: passing verified,
    # allowlisted audit, unavailable-before, professional; not passing: failing verified; audit: 2
    assert {k: output[k] for k in ("total", "attempted", "succeeded", "skipped", "failed")} == {
        "total": 8,
        "attempted": 7,
        "succeeded": 4,
        "skipped": 1,
        "failed": 0,
    }
    assert (output["generated"], output["not_passing"], output["audit"]) == (4, 1, 2)
    assert output["action_name"] == "certificates generated"
    status, shown = stack.api("GET", f"/tasks/{task.task_id}")
    assert shown["message"] == "Status: certificates generated 4 of 7 (skipping 1) (out of 8)"
    records = certificates(stack)
    statuses = {user_id: (c.status, c.mode) if c else None for user_id, c in records.items()}
    assert statuses == {
        PASS_VERIFIED: ("downloadable", "verified"),
        FAIL_VERIFIED: ("notpassing", "verified"),
        ALLOW_FAIL_AUDIT: ("downloadable", "audit"),
        PASS_AUDIT: ("audit_passing", "audit"),
        NOTHING_AUDIT: ("audit_notpassing", "audit"),
        UNENROLLED_PASS: None,
        HAS_CERT: ("notpassing", "verified"),
        UNAVAILABLE_CERT: ("downloadable", "verified"),
        PASS_PROFESSIONAL: ("downloadable", "professional"),
    }
    # the skipped learner's record is untouched
    assert records[HAS_CERT] == Certificate(
        status="notpassing", mode="verified", grade="0.3", created=EARLIER, modified=EARLIER
    )
    # grades as the grade report computes them; downloadable ones carry an unguessable id
    assert (records[PASS_VERIFIED].grade, records[FAIL_VERIFIED].grade) == ("1.0", "0.0")
    ids = [
        records[u].verify_uuid for u in (PASS_VERIFIED, ALLOW_FAIL_AUDIT, UNAVAILABLE_CERT, PASS_PROFESSIONAL)
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i or "") for i in ids) and len(set(ids)) == 4
    assert records[FAIL_VERIFIED].verify_uuid is None
    # the result CSV: one row per learner of the population, by user id, the outcome of each
    rows = report_rows(stack, output["report_name"])
    assert rows[0] == [
        "Student ID", "Username", "Email", "Enrollment Track", "Allowlisted", "Grade",
        "Previous Status", "Status", "Verification ID", "Outcome", "Reason",
    ]  # fmt: skip
    assert rows[1:] == [
        expected(PASS_VERIFIED, "verified", "N", "1.0", "", "downloadable", ids[0], "generated"),
        expected(FAIL_VERIFIED, "verified", "N", "0.0", "", "notpassing", "", "not_passing"),
        expected(ALLOW_FAIL_AUDIT, "audit", "Y", "0.0", "", "downloadable", ids[1], "generated",
                 "allowlisted"),
        expected(PASS_AUDIT, "audit", "N", "1.0", "", "audit_passing", "", "audit"),
        expected(NOTHING_AUDIT, "audit", "N", "0.0", "", "audit_notpassing", "", "audit"),
        expected(HAS_CERT, "verified", "N", "", "notpassing", "notpassing", "", "skipped",
                 "already has a certificate (notpassing)"),
        expected(UNAVAILABLE_CERT, "verified", "N", "1.0", "unavailable", "downloadable", ids[2],
                 "generated"),
        expected(PASS_PROFESSIONAL, "professional", "N", "1.0", "", "downloadable", ids[3], "generated"),
    ]  # fmt: skip
    # and the generation history records who started what
    status, history = stack.api("GET", course_path(COURSE_ID, "certificates/history"))
    assert status == 200
    assert [
        (h["task_id"], h["generated_by"], h["is_regeneration"], h["learners"]) for h in history["history"]
    ] == [(task.task_id, "instructor", False, "All learners")]


def test_grade_report_certificate_columns_agree_with_the_records(small_chunks_stack):
    stack = small_chunks_stack
    seed_course(stack)
    stack.wait(submit(stack, "generate_certificates_all_student", {})["task_id"])
    task = stack.wait(submit(stack, "grade_course", {})["task_id"])
    rows = report_rows(stack, json.loads(task.task_output)["report_name"])
    # Certificate Eligible, Delivered, Type, Enrollment Status (the course ended: delivered shows)
    columns = {int(row[0]): row[-4:] for row in rows[1:]}
    assert columns == {
        PASS_VERIFIED: ["Y", "Y", "verified", "enrolled"],
        FAIL_VERIFIED: ["N", "N", "N/A", "enrolled"],
        ALLOW_FAIL_AUDIT: ["Y", "Y", "audit", "enrolled"],
        PASS_AUDIT: ["N", "N", "N/A", "enrolled"],
        NOTHING_AUDIT: ["N", "N", "N/A", "enrolled"],
        UNENROLLED_PASS: ["Y", "N", "N/A", "unenrolled"],  # would earn one, but is not enrolled
        HAS_CERT: [
            "Y",
            "N",
            "N/A",
            "enrolled",
        ],  # passing now: its notpassing record is stale until regenerated
        UNAVAILABLE_CERT: ["Y", "Y", "verified", "enrolled"],
        PASS_PROFESSIONAL: ["Y", "Y", "professional", "enrolled"],
    }
    # every learner eligible and enrolled got a downloadable certificate, and no one else did
    records = certificates(stack)
    delivered = {u for u, row in columns.items() if row[1] == "Y"}
    assert delivered == {u for u, c in records.items() if c is not None and c.status == "downloadable"}


def test_regeneration_touches_only_the_chosen_statuses(small_chunks_stack):
    stack = small_chunks_stack
    seed_course(stack)
    stack.wait(submit(stack, "generate_certificates_all_student", {})["task_id"])
    before = certificates(stack)
    # When the instructor regenerates notpassing certificates
    body = submit(stack, "regenerate_certificates_all_student", {"statuses_to_regenerate": ["notpassing"]})
    assert body["status"].startswith("Certificate regeneration task has been started.")
    task = stack.wait(body["task_id"])
    output = json.loads(task.task_output)
    # Then the two notpassing learners were decided again: HAS_CERT passes now, FAIL_VERIFIED not
    assert {k: output[k] for k in ("total", "attempted", "succeeded", "skipped", "failed")} == {
        "total": 8,
        "attempted": 2,
        "succeeded": 1,
        "skipped": 6,
        "failed": 0,
    }
    assert (output["generated"], output["not_passing"], output["audit"]) == (1, 1, 0)
    after = certificates(stack)
    assert after[HAS_CERT].status == "downloadable" and after[HAS_CERT].created == EARLIER
    assert after[FAIL_VERIFIED].status == "notpassing" and after[FAIL_VERIFIED].task_id == task.task_id
    # and every other record is exactly as it was
    for user_id in set(before) - {HAS_CERT, FAIL_VERIFIED}:
        assert after[user_id] == before[user_id], user_id
    _, history = stack.api("GET", course_path(COURSE_ID, "certificates/history"))
    newest = history["history"][0]
    assert (newest["task_id"], newest["is_regeneration"], newest["learners"]) == (
        task.task_id,
        True,
        "Regenerated: notpassing",
    )


def test_a_certificate_verifies_publicly_and_a_forged_id_does_not(small_chunks_stack):
    stack = small_chunks_stack
    seed_course(stack)
    stack.wait(submit(stack, "generate_certificates_all_student", {})["task_id"])
    records = certificates(stack)
    real = records[PASS_VERIFIED].verify_uuid
    # A real id verifies without any token
    status, body = verify(stack, real)
    assert status == 200
    assert body == {
        "valid": True,
        "verify_uuid": real,
        "course_id": COURSE_ID,
        "course_name": "Grading test course",
        "learner_name": "Ada <Lovelace> & Co",
        "mode": "verified",
        "status": "downloadable",
        "issued": records[PASS_VERIFIED].modified.isoformat(),
        "certificate_url": f"/certificates/{real}/view",
    }
    # and its rendered certificate is served, the learner's name escaped
    status, page = verify(stack, real, "/view")
    assert status == 200
    assert "Ada &lt;Lovelace&gt; &amp; Co" in page and "Ada <Lovelace>" not in page
    assert "Grading test course" in page and real in page
    # A forged id, a malformed one, and a notpassing learner's nothing: the same 404, no hints
    forged = "0" * 32 if real != "0" * 32 else "1" * 32
    answers = {
        verify(stack, candidate)[1]["error"] for candidate in (forged, "not-an-id", real.upper(), real[:-1])
    }
    assert answers == {"No valid certificate has this verification id."}
    assert verify(stack, forged)[0] == 404 and verify(stack, forged, "/view")[0] == 404
    # A certificate no longer downloadable stops verifying
    LearnerRecords(stack.settings).set_certificate(
        COURSE_ID, PASS_VERIFIED, records[PASS_VERIFIED].model_copy(update={"status": "notpassing"})
    )
    assert verify(stack, real)[0] == 404 and verify(stack, real, "/view")[0] == 404


def test_allowlist_sets_and_single_learner(small_chunks_stack):
    stack = small_chunks_stack
    seed_course(stack)
    # allowlist: listed with its notes; only the allowlisted learners are generated for
    status, listed = stack.api("GET", course_path(COURSE_ID, "certificates/allowlist"))
    assert status == 200
    assert [(e["user_id"], e["notes"], e["created_by"], e["username"]) for e in listed["allowlist"]] == [
        (ALLOW_FAIL_AUDIT, "extenuating circumstances", "instructor", f"u{ALLOW_FAIL_AUDIT}")
    ]
    task = stack.wait(
        submit(stack, "generate_certificates_student_set", {"student_set": "all_allowlisted"})["task_id"]
    )
    output = json.loads(task.task_output)
    assert (output["total"], output["attempted"], output["succeeded"], output["skipped"]) == (1, 1, 1, 0)
    records = certificates(stack)
    assert {u for u, c in records.items() if c and c.task_id == task.task_id} == {ALLOW_FAIL_AUDIT}
    # "allowlisted_not_generated" now finds no one
    task = stack.wait(
        submit(stack, "generate_certificates_student_set", {"student_set": "allowlisted_not_generated"})[
            "task_id"
        ]
    )
    assert json.loads(task.task_output)["total"] == 0
    # one learner, named by username: only that learner, whatever certificate it had
    task = stack.wait(
        submit(stack, "generate_certificates_certain_student", {"student": f"u{HAS_CERT}"})["task_id"]
    )
    output = json.loads(task.task_output)
    assert (output["total"], output["succeeded"]) == (1, 1)
    assert json.loads(task.task_input) == {"specific_student_id": HAS_CERT, "student_set": "specific_student"}
    assert certificates(stack)[HAS_CERT].status == "downloadable"
    # removing from the allowlist clears the flag the grade report reads
    status, _ = stack.api("DELETE", course_path(COURSE_ID, f"certificates/allowlist/u{ALLOW_FAIL_AUDIT}"))
    assert status == 200
    enrollment = CourseRepository(stack.settings).get_enrollments(COURSE_ID, [ALLOW_FAIL_AUDIT])[
        ALLOW_FAIL_AUDIT
    ]
    assert not enrollment.allowlisted
    assert list(CertificateRepository(stack.settings).iter_allowlist(COURSE_ID)) == []


@pytest.mark.parametrize(
    ("task_type", "task_input", "message"),
    [
        ("regenerate_certificates_all_student", {"statuses_to_regenerate": ["downloadable", "deleted"]},
         "Please select certificate statuses from the list only."),
        ("regenerate_certificates_all_student", {"statuses_to_regenerate": ["generating"]},
         "Please select certificate statuses from the list only."),
        ("regenerate_certificates_all_student", {"statuses_to_regenerate": []},
         "Please select one or more certificate statuses that require certificate regeneration."),
        ("generate_certificates_certain_student", {},
         "specific_student_id is required: the user id of the learner to generate a certificate for "
         "(or give student: their username or email)"),
        ("generate_certificates_certain_student", {"student": "nobody"}, "User does not exist."),
        ("generate_certificates_certain_student", {"specific_student_id": UNENROLLED_PASS},
         f"Learner {UNENROLLED_PASS} is not enrolled in this course."),
    ],
)  # fmt: skip
def test_bad_certificate_input_is_400_and_creates_nothing(small_chunks_stack, task_type, task_input, message):
    stack = small_chunks_stack
    seed_course(stack)
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": task_type, "input": task_input}
    )
    assert (status, body["error"]) == (400, message)
    status, tasks = stack.api("GET", course_path(COURSE_ID, "tasks"), query="state=all")
    assert tasks["tasks"] == []
    assert CertificateRepository(stack.settings).list_history(COURSE_ID) == []


def test_certificates_need_instructor_access(small_chunks_stack):
    stack = small_chunks_stack
    seed_course(stack)
    for path, method, body in (
        ("tasks", "POST", {"task_type": "generate_certificates_all_student"}),
        ("certificates/allowlist", "POST", {"user": "u2001"}),
        ("certificates/allowlist", "GET", None),
        ("certificates/history", "GET", None),
    ):
        status, answer = stack.api(method, course_path(COURSE_ID, path), "staff", body)
        assert status == 403, (path, answer)
        status, answer = stack.api(method, course_path(COURSE_ID, path), "outsider", body)
        assert status == 403, (path, answer)
    status, answer = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "admin", {"task_type": "generate_certificates_all_student"}
    )
    assert status == 202, answer
    stack.wait(answer["task_id"])
    # the allowlist refuses learners who are not (actively) enrolled, and removing a stranger is 409
    status, answer = stack.api(
        "POST",
        course_path(COURSE_ID, "certificates/allowlist"),
        "instructor",
        {"user": f"u{UNENROLLED_PASS}"},
    )
    assert (status, answer["error"]) == (
        400,
        f"u{UNENROLLED_PASS} is not enrolled in this course. Please check your spelling and retry.",
    )
    status, answer = stack.api("DELETE", course_path(COURSE_ID, f"certificates/allowlist/u{PASS_AUDIT}"))
    assert status == 409


def test_a_chunk_delivered_twice_at_once_generates_each_certificate_once(small_chunks_stack, monkeypatch):
    stack = small_chunks_stack
    seed_course(stack)
    redelivery = Redelivery(stack, monkeypatch)
    task = stack.wait(submit(stack, "generate_certificates_all_student", {})["task_id"])
    # Both deliveries of each of the 3 chunks did all their work before the ledger counted one
    redelivery.assert_each_chunk_counted_once(3)
    output = json.loads(task.task_output)
    assert task.state is TaskState.SUCCESS
    assert (output["attempted"], output["succeeded"], output["skipped"], output["generated"]) == (7, 4, 1, 4)
    # One decision per learner was applied: one verification id each, one page each, nothing else
    records = certificates(stack)
    ids = {
        records[u].verify_uuid for u in (PASS_VERIFIED, ALLOW_FAIL_AUDIT, UNAVAILABLE_CERT, PASS_PROFESSIONAL)
    }
    # (a scan reads the whole table: only the verification pointers are counted)
    pointers = {item.pk.removeprefix("CERTV#") for item in VerifyItem.scan() if item.pk.startswith("CERTV#")}
    assert pointers == ids
    pages = {info.key for info in ObjectStore(stack.settings).list(f"{stack.settings.certificates_prefix}/")}
    assert pages == {f"{stack.settings.certificates_prefix}/{i}.html" for i in ids}
    assert len(newest_report(stack, "certificate_results")) == 1 + 8
