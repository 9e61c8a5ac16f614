"""Every report column that only the demo seeders could fill is filled from API loads (issue #15.1).

``SEEDER_ONLY_COLUMNS`` lists them, each with the load kind that now feeds it; the test loads each
kind through ``POST /courses/{id}/data/{kind}`` and reads every listed column back from the reports
as the tasks write them. Then the row deletes of the certificate and allowlist kinds empty them again.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from functions.models.tasks import TaskState
from tests.helpers.olx import export_of
from tests.helpers.staff import newest_report

COURSE = "course-v1:ScoreX+Blocks101+2026"
PATH = "/courses/" + quote(COURSE, safe="")
VERIFY = "0123456789abcdef0123456789abcdef"
# (report, column) -> the load kind(s) that fill it now (before: itask/seed.py writing to DynamoDB)
SEEDER_ONLY_COLUMNS = {
    ("grade_report", "Cohort Name"): "enrollments (cohort), course_settings (cohorted)",
    ("grade_report", "Team Name"): "enrollments (team), course_settings (teams_enabled)",
    ("grade_report", "Enrollment Track"): "enrollments (mode)",
    ("grade_report", "Verification Status"): "enrollments (id_verified)",
    ("grade_report", "Certificate Eligible"): "allowlist, certificates",
    (
        "grade_report",
        "Certificate Delivered",
    ): "certificates, course_settings (certificates_display_behavior)",
    ("grade_report", "Certificate Type"): "certificates",
    ("grade_report", "Enrollment Status"): "enrollments (is_active)",
    ("issued_certificates", "Certificate Type"): "certificates",
    ("issued_certificates", "Total Certificates Issued"): "certificates",
    ("inactive_enrolled_students_info", "email"): "enrollments (user_is_active)",
}


def load(stack, kind: str, *lines: dict) -> tuple[int, dict]:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return stack.api("POST", f"{PATH}/data/{kind}", "admin", raw_body=body)


def report(stack, task_type: str, csv_name: str) -> list[dict[str, str]]:
    status, body = stack.api("POST", f"{PATH}/tasks", "admin", {"task_type": task_type})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    rows = newest_report(stack, csv_name)
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def columns(stack) -> dict[tuple[str, str], dict[str, str]]:
    """(report, column) -> {learner or row key: value} for every listed column."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    grades = report(stack, "grade_course", "grade_report")
    issued = report(stack, "issued_certificates_csv", "issued_certificates")
    inactive = report(stack, "inactive_enrolled_students_info_csv", "inactive_enrolled_students_info")
    for report_name, column in SEEDER_ONLY_COLUMNS:
        if report_name == "grade_report":
            found[report_name, column] = {row["Student ID"]: row[column] for row in grades}
        elif report_name == "issued_certificates":
            found[report_name, column] = {row["Certificate Type"]: row[column] for row in issued}
        else:
            found[report_name, column] = {row[column]: row[column] for row in inactive}
    return found


def test_every_column_only_the_seeders_filled_is_filled_from_api_loads(stack):
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    assert stack.api("POST", f"{PATH}/cohorts", "admin", {"name": "Night owls"})[0] == 201
    status, answer = load(
        stack,
        "course_settings",
        {"cohorted": True, "teams_enabled": True, "certificates_display_behavior": "early_no_info"},
    )
    assert status == 200, answer
    people = [
        {"user_id": 901, "username": "v901", "email": "v901@example.org", "mode": "verified",
         "id_verified": True, "cohort": "Night owls", "team": "Red"},
        {"user_id": 902, "username": "a902", "email": "a902@example.org"},
        {"user_id": 903, "username": "h903", "email": "h903@example.org", "mode": "honor",
         "user_is_active": False},
        {"user_id": 904, "username": "a904", "email": "a904@example.org", "is_active": False},
    ]  # fmt: skip
    assert load(stack, "enrollments", *people)[0] == 200
    status, answer = load(
        stack,
        "certificates",
        {"user_id": 901, "status": "downloadable", "grade": "0.91", "verify_uuid": VERIFY,
         "download_url": "https://lms.example.org/certificates/" + VERIFY,
         "created": "2026-03-01T10:00:00+00:00"},
        {"user_id": 903, "status": "downloadable", "mode": "honor"},
        {"user_id": 904, "status": "notpassing", "grade": "0.2"},
    )  # fmt: skip
    assert (status, answer["by_status"]) == (200, {"downloadable": 2, "notpassing": 1}), answer
    status, answer = load(stack, "allowlist", {"user_id": 902, "notes": "Granted by the dean"})
    assert (status, answer["allowlist"]) == (200, 1), answer

    filled = columns(stack)
    assert filled["grade_report", "Cohort Name"]["901"] == "Night owls"
    assert filled["grade_report", "Team Name"]["901"] == "Red"
    assert filled["grade_report", "Enrollment Track"] == {"901": "verified", "902": "audit", "903": "honor",
                                                          "904": "audit"}  # fmt: skip
    assert filled["grade_report", "Verification Status"]["901"] == "ID Verified"
    # 901 and 903 hold a downloadable certificate; 902 is allowlisted (a certificate exception)
    assert filled["grade_report", "Certificate Eligible"] == {"901": "Y", "902": "Y", "903": "Y", "904": "N"}
    assert filled["grade_report", "Certificate Delivered"] == {"901": "Y", "902": "N", "903": "Y", "904": "N"}
    assert filled["grade_report", "Certificate Type"] == {"901": "verified", "902": "N/A", "903": "honor",
                                                          "904": "N/A"}  # fmt: skip
    assert filled["grade_report", "Enrollment Status"]["904"] == "unenrolled"
    assert filled["issued_certificates", "Total Certificates Issued"] == {"verified": "1", "honor": "1"}
    assert filled["inactive_enrolled_students_info", "email"] == {"h903@example.org": "h903@example.org"}
    assert {key for key, values in filled.items() if not any(values.values())} == set()
    status, listed = stack.api("GET", f"{PATH}/certificates/allowlist", "admin")
    assert status == 200 and [(e["user_id"], e["notes"]) for e in listed["allowlist"]] == [
        (902, "Granted by the dean")
    ], listed

    # Row deletes: the certificate of 901 and 902's allowlist entry go
    status, answer = load(stack, "certificates", {"user_id": 901, "op": "delete"})
    assert (status, answer["by_status"]) == (200, {"removed": 1}), answer
    status, answer = load(stack, "allowlist", {"user_id": 902, "op": "delete"})
    assert (status, answer["removed"]) == (200, 1), answer
    grades = {row["Student ID"]: row for row in report(stack, "grade_course", "grade_report")}
    assert {user: grades[user]["Certificate Eligible"] for user in ("901", "902")} == {"901": "N", "902": "N"}
    assert grades["901"]["Certificate Delivered"] == "N"
    assert stack.api("GET", f"{PATH}/certificates/allowlist", "admin")[1]["allowlist"] == []


def test_bad_certificate_and_allowlist_lines_are_refused_whole(stack):
    status, _ = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert status == 201
    learners = [
        {"user_id": 911, "username": "u911", "email": "u911@example.org"},
        {"user_id": 912, "username": "u912", "email": "u912@example.org", "is_active": False},
    ]
    assert load(stack, "enrollments", *learners)[0] == 200
    good = {"user_id": 911, "status": "downloadable"}
    for kind, bad, message in [
        ("certificates", {"user_id": 999, "status": "downloadable"}, "line 2: user 999 is not enrolled"),
        ("certificates", {"user_id": 912}, "line 2: status is required"),
        ("certificates", {"user_id": 912, "status": "printed"}, "line 2: Input should be 'deleted'"),
        (
            "certificates",
            {"user_id": 912, "op": "delete", "grade": "1"},
            "line 2: a delete takes only user_id",
        ),
        (
            "certificates",
            {"user_id": 912, "status": "error", "download_url": "ftp://x"},
            "line 2: String should",
        ),
        ("allowlist", {"user_id": 912}, "line 2: user 912 is not actively enrolled"),
        ("allowlist", {"user_id": 911, "notes": 5}, "line 2: Input should be a valid string"),
    ]:
        first = good if kind == "certificates" else {"user_id": 911, "notes": "ok"}
        status, answer = load(stack, kind, first, bad)
        assert (status, answer["error"][: len(message)]) == (400, message), (kind, answer)
    grades = {row["Student ID"]: row for row in report(stack, "grade_course", "grade_report")}
    assert grades["911"]["Certificate Eligible"] == "N"  # nothing of the refused loads was written
