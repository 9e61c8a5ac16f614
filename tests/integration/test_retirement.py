"""Retiring a learner (issue #15.2, GDPR): the learner leaves every table and every later report, a
second retirement changes nothing, and a late load of the learner's old rows does not bring them back.

Two learners of the scored-blocks course, fed only through the API: ada (801) and bob (802). Each
report is run before and after ada's retirement; ada is in every one before, in none after, and bob
stays in all of them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from functions.dal.certificates_repo import CertificateRepository
from functions.dal.clients import client
from functions.dal.course_repo import CourseRepository
from functions.dal.email_repo import EmailRepository
from functions.dal.lti_repo import LtiRepository
from functions.dal.object_store import ObjectStore
from functions.dal.ora_repo import OraRepository
from functions.dal.people_repo import PeopleRepository
from functions.dal.retirement_repo import RetirementRepository
from functions.logic.registry import RunContext
from functions.logic.retirement import is_retired, retire_learner
from functions.models.course import Enrollment
from functions.models.email import MailEvent, SuppressionReason
from functions.models.lti import GradedAssignment, Passback, PassbackKind
from functions.models.ora import OraFile, OraSubmission
from functions.models.tasks import TaskState
from tests.helpers.course import COURSE_ID
from tests.helpers.olx import export_of
from tests.helpers.staff import newest_report

COURSE = "course-v1:ScoreX+Blocks101+2026"
PATH = "/courses/" + quote(COURSE, safe="")
OTHER_PATH = "/courses/" + quote(COURSE_ID, safe="")
ATTEMPTED = "2026-02-01T10:00:00+00:00"
ADA = {"user_id": 801, "username": "ada", "email": "Ada@Example.org"}
BOB = {"user_id": 802, "username": "bob", "email": "bob@example.org"}
# Report (csv name) -> how a row names its learner: (column index, ada's value, bob's value)
REPORTS = {
    "grade_course": ("grade_report", 0, "801", "802"),
    "grade_problems": ("problem_grade_report", 0, "801", "802"),
    "profile_info_csv": ("student_profile_info", 0, "801", "802"),
    "inactive_enrolled_students_info_csv": ("inactive_enrolled_students_info", 0, "ada@example.org",
                                            "bob@example.org"),
}  # fmt: skip


def load(stack, path: str, kind: str, *lines: dict) -> dict:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    status, answer = stack.api("POST", f"{path}/data/{kind}", "admin", raw_body=body)
    assert status == 200, answer
    return answer


def learners_in(stack, path: str, task_type: str) -> set[str]:
    csv_name, column, *_ = REPORTS.get(task_type, ("may_enroll_info", 0))
    status, body = stack.api("POST", f"{path}/tasks", "admin", {"task_type": task_type})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    return {row[column].lower() for row in newest_report(stack, csv_name)[1:]}


def everything_about(stack, user_id: int) -> dict[str, object]:
    """What the tables hold of a learner, read through the repositories."""
    courses = CourseRepository(stack.settings)
    people = PeopleRepository(stack.settings)
    return {
        "enrollment": courses.get_enrollments(COURSE, [user_id]),
        "scores": [learner.scores for learner in courses.read_learners(COURSE, [user_id])],
        "states": [s for p in courses.problem_ids(COURSE) if (s := courses.get_state(COURSE, p, user_id))],
        "profile": people.get_profiles([user_id]),
        "directory": people.find_users([f"user{user_id}", "ada", "ada@example.org"]),
        "allowlist": [
            entry
            for entry in CertificateRepository(stack.settings).iter_allowlist(COURSE)
            if entry.user_id == user_id
        ],
        "invited": people.get_allowed(COURSE_ID, ["ada@example.org"]),
        "surveys": people.read_surveys(COURSE, [user_id]),
    }


@pytest.fixture
def course(stack):
    status, summary = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201, summary
    assert stack.api("POST", f"{PATH}/cohorts", "admin", {"name": "Night owls"})[0] == 201
    load(stack, PATH, "course_settings", {"cohorted": True, "teams_enabled": True})
    load(stack, PATH, "profiles", {"id": 801, "username": "ada", "email": ADA["email"], "name": "Ada L"},
         {"id": 802, "username": "bob", "email": BOB["email"], "name": "Bob K"})  # fmt: skip
    load(stack, PATH, "enrollments",
         {**ADA, "mode": "verified", "cohort": "Night owls", "team": "Red", "user_is_active": False,
          "source_version": 10},
         {**BOB, "mode": "audit", "user_is_active": False})  # fmt: skip
    scored = {"earned": 1.0, "possible": 1.0, "first_attempted": ATTEMPTED}
    load(stack, PATH, "state", {"user_id": 801, "problem": "mc", **scored},
         {"user_id": 802, "problem": "mc", **scored, "earned": 0.0})  # fmt: skip
    load(stack, PATH, "block_scores", {"user_id": 801, "block": "lti1", **scored})
    load(stack, PATH, "surveys", {"user_id": 801, "answers": {"q1": "yes"}})
    # Invited (not enrolled) in the other course: the may-enroll report of that course lists them
    load(stack, OTHER_PATH, "enrollment_allowed", {"email": "ada@example.org"}, {"email": BOB["email"]})
    status, body = stack.api("POST", f"{PATH}/certificates/allowlist", "admin", {"user": "ada", "notes": "x"})
    assert status in (200, 201), body
    return stack


def test_a_retirement_removes_the_learner_from_every_later_report(course):
    stack = course
    before = {task_type: learners_in(stack, PATH, task_type) for task_type in REPORTS}
    for task_type, (_, _, ada, bob) in REPORTS.items():
        assert {ada, bob} <= before[task_type], (task_type, before[task_type])
    assert {"ada@example.org", "bob@example.org"} <= learners_in(stack, OTHER_PATH, "may_enroll_info_csv")
    held = everything_about(stack, 801)
    assert all(held.values()), held  # ada is in every table the test reads

    status, summary = stack.api("POST", "/admin/retirements", "admin", {"username": "ada"})
    assert status == 200, summary
    assert (summary["user_id"], summary["first_time"], summary["complete"]) == (801, True, True)
    removed = summary["removed"]
    assert {k: removed[k] for k in ("enrollments", "score_sheets", "states", "profiles", "allowlist",
                                    "surveys", "enrollment_allowed")} == {
        "enrollments": 1, "score_sheets": 1, "states": 1, "profiles": 1, "allowlist": 1, "surveys": 1,
        "enrollment_allowed": 1,
    }, removed  # fmt: skip
    assert removed["directory"] == 2  # username and email pointers

    for task_type, (_, _, ada, bob) in REPORTS.items():
        after = learners_in(stack, PATH, task_type)
        assert ada not in after and bob in after, (task_type, after)
    invited = learners_in(stack, OTHER_PATH, "may_enroll_info_csv")
    assert "ada@example.org" not in invited and "bob@example.org" in invited
    assert not any(everything_about(stack, 801).values()), everything_about(stack, 801)
    assert everything_about(stack, 802)["enrollment"]  # bob untouched

    # Audited: who and when; the same retirement again (by id) removes nothing and keeps the record
    status, record = stack.api("GET", "/admin/retirements/801", "admin")
    assert (status, record["requester"], record["source"], record["complete"]) == (200, "admin", "api", True)
    status, again = stack.api("POST", "/admin/retirements", "admin", {"user_id": 801})
    assert (status, again["first_time"], set(again["removed"].values())) == (200, False, {0}), again
    assert again["retired_at"] == summary["retired_at"]

    # A late load of ada's old rows (enrollment, state, profile, invitation) brings nothing back
    load(stack, PATH, "enrollments", {**ADA, "mode": "honor", "source_version": 5})
    load(stack, PATH, "state", {"user_id": 801, "problem": "mc", "earned": 1.0, "possible": 1.0, **{
        k: ADA[k] for k in ("username", "email")}})  # fmt: skip
    load(stack, PATH, "profiles", {"id": 801, "username": "ada", "email": ADA["email"]})
    load(stack, OTHER_PATH, "enrollment_allowed", {"email": "ADA@example.org"})
    assert not any(everything_about(stack, 801).values()), everything_about(stack, 801)
    assert RetirementRepository(stack.settings).retired([801, 802], ["ada@example.org"]) == (
        {801}, {"ada@example.org"},
    )  # fmt: skip


def ada_in_the_courses_table(stack) -> set[tuple[str, str]]:
    """(partition, sort key) of every item of the courses table keyed by ada's id or address, read
    with a plain scan (not through the repositories)."""
    uid = "000000000801"
    address = "EADEL#" + hashlib.sha256(b"ada@example.org").hexdigest()
    found = set()
    pages = client("dynamodb", stack.settings.region).get_paginator("scan")
    for page in pages.paginate(TableName=stack.settings.courses_table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if uid in pk or uid in sk or sk == address:
                found.add((pk.split("#L")[0].replace(uid, "<ada>"), sk.replace(uid, "<ada>")))
    return found


def test_a_retirement_erases_what_deletes_left_and_the_courses_they_name(course):
    stack = course
    # Given ada's certificate, allowlist entry, invitation and then enrollment deleted by incremental loads
    load(stack, PATH, "certificates", {"user_id": 801, "op": "delete", "source_version": 400})
    load(stack, PATH, "allowlist", {"user_id": 801, "op": "delete", "source_version": 300})
    load(
        stack,
        OTHER_PATH,
        "enrollment_allowed",
        {"email": "ada@example.org", "op": "delete", "source_version": 300},
    )
    load(stack, PATH, "enrollments", {"user_id": 801, "op": "delete", "source_version": 20})
    address = "EADEL#" + hashlib.sha256(b"ada@example.org").hexdigest()
    # Then each delete left its version (a tombstone), and ada's scores and state are still in the
    # course, though no enrollment of ada names it any more
    assert ada_in_the_courses_table(stack) == {
        (COURSE, "EDEL#<ada>"), (COURSE, "CDEL#<ada>"), (COURSE, "ADEL#<ada>"), (COURSE_ID, address),
        (COURSE, "L#<ada>#S"), (COURSE, "M#mc#<ada>"), (COURSE, "SURVEY#<ada>"), ("USER#<ada>", "PROFILE"),
    }  # fmt: skip
    # When ada is retired
    status, summary = stack.api("POST", "/admin/retirements", "admin", {"user_id": 801})
    assert status == 200, summary
    removed = summary["removed"]
    counts = {
        k: removed[k] for k in ("delete_tombstones", "score_sheets", "states", "surveys", "enrollments")
    }
    assert counts == {"delete_tombstones": 4, "score_sheets": 1, "states": 1, "surveys": 1, "enrollments": 0}
    # Then nothing keyed by ada is left but the retirement's own record
    assert ada_in_the_courses_table(stack) == {("RETIRED#U#<ada>", "RETIRED")}
    # and old changes arriving late (older than the erased deletes) bring nothing back
    load(stack, PATH, "enrollments", {**ADA, "mode": "honor", "source_version": 5})
    update = {"mode": "verified", "source_version": 30}  # an update names neither username nor email
    answer = load(stack, PATH, "enrollments", {"user_id": 801, **update}, {"user_id": 802, **update})
    assert (answer["enrollments"], answer["retired"]) == (1, 1), answer
    load(stack, OTHER_PATH, "enrollment_allowed", {"email": "ada@example.org", "source_version": 100})
    # lines of ada that need an enrollment are dropped beside bob's, not refused as unenrolled
    late = {"status": "downloadable", "source_version": 100}
    answer = load(stack, PATH, "certificates", {"user_id": 801, **late}, {"user_id": 802, **late})
    assert (answer["certificates"], answer["retired"]) == (1, 1), answer
    scored = {"block": "lti1", "earned": 1.0, "possible": 1.0, "first_attempted": ATTEMPTED}
    answer = load(stack, PATH, "block_scores", {"user_id": 801, **scored}, {"user_id": 802, **scored})
    assert (answer["scores"], answer["retired"]) == (1, 1), answer
    # and so are ada's survey, proctored attempt and experiment group lines (the retirement erased
    # her enrollment and profile; they were refused as "neither enrolled nor has a profile")
    answer = load(stack, PATH, "surveys", {"user_id": 801, "answers": {"q1": "no"}},
                  {"user_id": 802, "answers": {"q1": "yes"}})  # fmt: skip
    assert (answer["responses"], answer["retired"]) == (1, 1), answer
    attempt = {"exam_name": "Final", "provider": "proctortrack", "status": "verified"}
    answer = load(stack, PATH, "proctored_attempts", {"user_id": 801, "attempt_code": "a1", **attempt},
                  {"user_id": 802, "attempt_code": "b1", **attempt})  # fmt: skip
    assert (answer["attempts"], answer["retired"]) == (1, 1), answer
    experiment = "/courses/" + quote("course-v1:TestX+EXP101+2026", safe="")  # partition 50: groups 0, 1
    status, _ = stack.api("POST", "/admin/courses/import", "admin", raw_body=export_of("experiment_course"))
    assert status == 201
    load(stack, experiment, "enrollments", {**BOB, "mode": "audit"})
    answer = load(stack, experiment, "groups", {"user_id": 801, "partition": 50, "group": 1},
                  {"user_id": 802, "partition": 50, "group": 1})  # fmt: skip
    assert (answer["assignments"], answer["learners"], answer["retired"]) == (1, 1, 1), answer
    assert PeopleRepository(stack.settings).read_surveys(COURSE, [801]) == {}
    assert ada_in_the_courses_table(stack) == {("RETIRED#U#<ada>", "RETIRED")}
    again = stack.api("POST", "/admin/retirements", "admin", {"user_id": 801})[1]
    assert again["removed"]["delete_tombstones"] == 0


def test_retirement_refusals(course):
    stack = course
    assert stack.api("POST", "/admin/retirements", "instructor", {"user_id": 802})[0] == 403
    for body in ({}, {"user_id": 0}, {"user_id": 802, "username": "bob"}, {"user_id": "802"}, [1], {"x": 1}):
        status, answer = stack.api("POST", "/admin/retirements", "admin", body)
        assert status == 400 and answer["code"] == "bad_request", (body, answer)
    status, answer = stack.api("POST", "/admin/retirements", "admin", {"email": "nobody@example.org"})
    assert status == 404, answer
    assert stack.api("GET", "/admin/retirements/802", "admin")[0] == 404
    assert stack.api("GET", "/admin/retirements/802", "instructor")[0] == 403
    assert CourseRepository(stack.settings).get_enrollments(COURSE, [802])  # nothing was retired


def test_retirement_erases_ora_lti_and_email_records(small_chunks_stack):
    """The records other tasks keep of a learner (ORA submissions and their attachments, LTI graded
    assignments and pass-backs, email opt-outs and suppressions) go too: retire_learner, the function
    the route and the Open edX retirement event call."""
    stack = small_chunks_stack
    now = datetime.now(UTC)
    courses = CourseRepository(stack.settings)
    courses.put_enrollments(
        [Enrollment(course_id=COURSE_ID, user_id=42, username="u42", email="u42@example.org")]
    )
    attachment = "attachments/x/u42/essay.pdf"
    ObjectStore(stack.settings).put_bytes(attachment, b"%PDF", "application/pdf")
    ora = OraRepository(stack.settings)
    submission = OraSubmission(
        uuid="s42", course_id=COURSE_ID, block_id="ora", user_id=42, submitted_at=now, created_at=now,
        files=[OraFile(key=attachment, name="essay.pdf")],
    )  # fmt: skip
    ora.put_submissions([submission])
    lti = LtiRepository(stack.settings)
    assignment = GradedAssignment(
        assignment_id="a42", course_id=COURSE_ID, user_id=42, usage_key="block-v1:x", consumer_key="c"
    )
    lti.get_or_create_assignment(assignment)
    lti.add_passback(Passback(assignment_id="a42", version=1, course_id=COURSE_ID, user_id=42,
                              usage_key="block-v1:x", consumer_key="c", kind=PassbackKind.LEAF, created=now,
                              updated=now))  # fmt: skip
    email = EmailRepository(stack.settings)
    email.put_opt_out(COURSE_ID, 42, "test")
    email.put_suppression(
        42, MailEvent(kind=SuppressionReason.BOUNCE, address="u42@example.org", occurred=now)
    )
    ctx = RunContext.create(stack.settings)
    assert not is_retired(ctx, 42)

    summary = retire_learner(ctx, 42, requester="openedx", source="openedx-event")
    removed = summary.removed
    assert {k: removed[k] for k in ("enrollments", "ora_submissions", "ora_attachments", "lti_assignments",
                                    "lti_passbacks", "email_preferences")} == {
        "enrollments": 1, "ora_submissions": 1, "ora_attachments": 1, "lti_assignments": 1,
        "lti_passbacks": 1, "email_preferences": 2,
    }, removed  # fmt: skip
    assert is_retired(ctx, 42)
    assert ora.read_submissions(COURSE_ID, [42]) == []
    assert not ObjectStore(stack.settings).exists(attachment)
    assert lti.learner_assignments(COURSE_ID, 42) == [] and lti.assignment_passbacks("a42") == []
    assert lti.assignment_owner("a42") is None
    assert not email.is_opted_out(COURSE_ID, 42) and email.suppressions([42]) == {}
    again = retire_learner(ctx, 42, requester="someone else", source="api")
    assert (again.first_time, again.requester, sum(again.removed.values())) == (False, "openedx", 0)
