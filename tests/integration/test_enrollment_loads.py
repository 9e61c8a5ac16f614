"""Enrollments and course settings loaded through the API (issue #15.1) fill what only the seeders
could fill before: the grade report's Cohort Name, Team Name, Enrollment Track and Verification
Status columns, and the inactive-enrolled report."""

from __future__ import annotations

import json
from urllib.parse import quote

from functions.dal.course_repo import CourseRepository
from functions.models.course import Enrollment
from functions.models.tasks import TaskState
from tests.helpers.olx import export_of
from tests.helpers.staff import newest_report

COURSE = "course-v1:ScoreX+Blocks101+2026"
PATH = "/courses/" + quote(COURSE, safe="")


def load(stack, kind: str, *lines: dict) -> tuple[int, dict]:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return stack.api("POST", f"{PATH}/data/{kind}", "admin", raw_body=body)


def run(stack, task_type: str) -> None:
    status, body = stack.api("POST", f"{PATH}/tasks", "admin", {"task_type": task_type})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output


def test_enrollments_and_settings_fill_the_report_columns(stack):
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    assert stack.api("POST", f"{PATH}/cohorts", "admin", {"name": "Night owls"})[0] == 201
    # The settings: cohorts and teams on
    status, summary = load(stack, "course_settings", {"cohorted": True, "teams_enabled": True})
    assert (status, summary["settings"]) == (200, ["cohorted", "teams_enabled"]), summary
    # Three learners: verified and ID-verified in a cohort and team; honor with an inactive account;
    # audit, enrollment inactive
    person = {"username": "v501", "email": "v501@example.org"}
    status, summary = load(
        stack,
        "enrollments",
        {"user_id": 501, **person, "mode": "verified", "id_verified": True, "cohort": "Night owls",
         "team": "Red"},
        {"user_id": 502, "username": "h502", "email": "h502@example.org", "mode": "honor",
         "user_is_active": False, "created": "2026-01-15T09:00:00+00:00"},
        {"user_id": 503, "username": "a503", "email": "a503@example.org", "is_active": False},
    )  # fmt: skip
    assert (status, summary["created"], summary["inactive_accounts"]) == (200, 3, 1), summary
    # A second load changes one field and keeps the others
    status, summary = load(stack, "enrollments", {"user_id": 501, "team": None})
    assert (status, summary["created"], summary["updated"]) == (200, 0, 1), summary
    enrollment = CourseRepository(stack.settings).get_enrollments(COURSE, [501, 502])
    assert (enrollment[501].mode, enrollment[501].cohort, enrollment[501].team) == (
        "verified",
        "Night owls",
        None,
    )
    assert (
        enrollment[502].created is not None
        and enrollment[502].created.isoformat() == "2026-01-15T09:00:00+00:00"
    )
    # The grade report shows them (the inactive enrollment too, with its Enrollment Status, as upstream)
    run(stack, "grade_course")
    rows = newest_report(stack, "grade_report")
    header = rows[0]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert {user: row["Enrollment Status"] for user, row in by_id.items()} == {
        "501": "enrolled", "502": "enrolled", "503": "unenrolled",
    }  # fmt: skip
    columns = ("Cohort Name", "Team Name", "Enrollment Track", "Verification Status")
    assert {k: by_id["501"][k] for k in columns} == {
        "Cohort Name": "Night owls", "Team Name": "", "Enrollment Track": "verified",
        "Verification Status": "ID Verified",
    }  # fmt: skip
    assert (by_id["502"]["Enrollment Track"], by_id["502"]["Verification Status"]) == ("honor", "N/A")
    # The inactive-enrolled report lists the learner whose account is inactive
    run(stack, "inactive_enrolled_students_info_csv")
    inactive = newest_report(stack, "inactive_enrolled_students_info")
    assert inactive[1:] == [["h502@example.org"]]  # upstream's one column: the email


def test_bad_enrollment_and_settings_lines_are_refused_whole(stack):
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    good = {"user_id": 601, "username": "u601", "email": "u601@example.org"}
    for bad, message in [
        ({"user_id": 602}, "line 2: user 602 is not enrolled in course-v1:ScoreX+Blocks101+2026: "
                           "a new enrollment needs username and email"),
        ({**good, "user_id": 603, "cohort": "Nobody"}, "line 2: the course has no cohort 'Nobody'"),
        ({**good, "user_id": 604, "mode": None}, "line 2: mode cannot be null"),
        ({**good, "user_id": 605, "is_active": "yes"}, "line 2: Input should be a valid boolean"),
        (good, "line 2: user 601's enrollment is also on line 1"),
    ]:  # fmt: skip
        status, answer = load(stack, "enrollments", good, bad)
        assert (status, answer["error"][: len(message)]) == (400, message), answer
    assert CourseRepository(stack.settings).get_enrollments(COURSE, [601, 603, 604, 605]) == {}
    status, answer = load(stack, "course_settings", {"cohorted": True}, {"teams_enabled": True})
    assert status == 400 and "At most 1 lines" in answer["error"], answer
    status, answer = load(stack, "course_settings", {"certificates_display_behavior": "never"})
    assert status == 400 and "line 1" in answer["error"], answer
    assert (
        stack.api("POST", f"{PATH}/data/enrollments", "instructor", raw_body=json.dumps(good).encode())[0]
        == 403
    )


def test_a_repeated_or_late_enrollment_change_never_overwrites_a_newer_one(stack):
    """Issue #15.2: the same change delivered twice, and changes out of order, end in the newest."""
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    courses = CourseRepository(stack.settings)
    new = {"user_id": 701, "username": "u701", "email": "u701@example.org"}

    def stored() -> tuple[str, bool, int | None]:
        enrollment = courses.get_enrollments(COURSE, [701])[701]
        return enrollment.mode, enrollment.is_active, enrollment.source_version

    status, summary = load(stack, "enrollments", {**new, "mode": "verified", "source_version": 200})
    assert (status, summary["created"], summary["stale"]) == (200, 1, 0), summary
    # A late change (version 100) and the same change again (200): nothing changes
    for late in ({"user_id": 701, "mode": "audit", "source_version": 100},
                 {"user_id": 701, "mode": "verified", "source_version": 200}):  # fmt: skip
        status, summary = load(stack, "enrollments", late)
        assert (status, summary["enrollments"], summary["stale"]) == (200, 0, 1), summary
        assert stored() == ("verified", True, 200)
    # A batch holding two changes out of order: the newest wins, whatever its place
    status, summary = load(
        stack,
        "enrollments",
        {"user_id": 701, "mode": "honor", "is_active": False, "source_version": 300},
        {"user_id": 701, "mode": "audit", "source_version": 250},
    )
    assert (status, summary["enrollments"]) == (200, 1), summary
    assert stored() == ("honor", False, 300)
    # The write itself is conditional: a change prepared before a newer one was stored is not applied
    enrollment = courses.get_enrollments(COURSE, [701])[701]
    older = enrollment.model_copy(update={"mode": "audit", "source_version": 299})
    assert courses.put_enrollments_if_newer([older]) == 0
    assert stored() == ("honor", False, 300)
    newer = enrollment.model_copy(update={"mode": "audit", "is_active": True, "source_version": 301})
    assert courses.put_enrollments_if_newer([newer, newer]) == 1  # applied once, the repeat skipped
    assert stored() == ("audit", True, 301)


def test_a_row_delete_leaves_a_tombstone_that_older_changes_do_not_pass(stack):
    """Issue #15.2: deletes row by row with a version; a late upsert does not resurrect the enrollment,
    a late delete does not remove a newer one, and a bad delete line refuses the whole load."""
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    courses = CourseRepository(stack.settings)
    person = {"username": "u801", "email": "u801@example.org"}
    keep = {"user_id": 802, "username": "u802", "email": "u802@example.org", "source_version": 10}
    status, summary = load(stack, "enrollments", {"user_id": 801, **person, "source_version": 100}, keep)
    assert (status, summary["created"]) == (200, 2), summary
    # A delete line takes only user_id and source_version, and needs the version: nothing written
    for bad, message in [
        ({"user_id": 801, "op": "delete"}, "line 2: a delete needs a source_version"),
        ({"user_id": 801, "op": "delete", "source_version": 300, "mode": "audit"},
         "line 2: a delete takes only user_id and source_version, not mode"),
        ({"user_id": 801, "op": "remove", "source_version": 300},
         "line 2: Input should be 'upsert' or 'delete'"),
    ]:  # fmt: skip
        status, answer = load(stack, "enrollments", {**keep, "source_version": 11, "mode": "honor"}, bad)
        assert (status, answer["error"][: len(message)]) == (400, message), answer
    assert courses.get_enrollments(COURSE, [802])[802].mode == "audit"
    # The delete (version 200) removes the enrollment; a late upsert (150) and a late delete (50) of the
    # same learner, and the same delete again, change nothing
    status, summary = load(stack, "enrollments", {"user_id": 801, "op": "delete", "source_version": 200})
    assert (status, summary["deleted"], summary["stale"]) == (200, 1, 0), summary
    assert courses.get_enrollments(COURSE, [801]) == {}
    for late in ({"user_id": 801, **person, "mode": "verified", "source_version": 150},
                 {"user_id": 801, "op": "delete", "source_version": 200}):  # fmt: skip
        status, summary = load(stack, "enrollments", late)
        assert (status, summary["enrollments"], summary["deleted"], summary["stale"]) == (200, 0, 0, 1), (
            summary
        )
        assert courses.get_enrollments(COURSE, [801]) == {}
    # A delete older than the stored upsert changes nothing
    status, summary = load(stack, "enrollments", {"user_id": 802, "op": "delete", "source_version": 5})
    assert (status, summary["stale"]) == (200, 1) and 802 in courses.get_enrollments(COURSE, [802])
    # A newer upsert (300) re-creates it; a batch with a delete and an upsert keeps the newest
    status, summary = load(
        stack, "enrollments", {"user_id": 801, **person, "mode": "honor", "source_version": 300}
    )
    assert (status, summary["created"]) == (200, 1), summary
    status, summary = load(
        stack,
        "enrollments",
        {"user_id": 801, "op": "delete", "source_version": 400},
        {"user_id": 801, **person, "mode": "audit", "source_version": 350},
    )
    assert (status, summary["deleted"], summary["enrollments"]) == (200, 1, 0), summary
    assert courses.get_enrollments(COURSE, [801]) == {}
    # The write itself checks the tombstone: an upsert prepared before the delete is not applied
    stale = Enrollment(course_id=COURSE, user_id=801, **person, source_version=399)
    assert courses.put_enrollments_if_newer([stale]) == 0
    assert courses.delete_enrollments_if_newer(COURSE, [(801, 390)]) == 0
    assert courses.enrollment_tombstones(COURSE, [801, 802]) == {801: 400}
    # The deleted enrollment is gone from the reports
    run(stack, "grade_course")
    assert {row[0] for row in newest_report(stack, "grade_report")[1:]} == {"802"}
