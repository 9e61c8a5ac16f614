"""People reports end to end: data loaded through the loaders, reports run through the API and the
real state machine, CSVs checked cell by cell."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID, INACTIVE, learners
from tests.integration.conftest import ANONYMIZATION_SECRET

PROFILE_DEFAULT_HEADER = [
    "id",
    "username",
    "name",
    "email",
    "language",
    "location",
    "gender",
    "level_of_education",
    "mailing_address",
    "goals",
    "enrollment_mode",
    "last_login",
    "date_joined",
    "external_user_key",
    "enrollment_date",
    "city",
    "country",
]
PROCTORED_HEADER = [
    "course_id",
    "provider",
    "track",
    "exam_name",
    "username",
    "email",
    "attempt_code",
    "allowed_time_limit_mins",
    "is_sample_attempt",
    "started_at",
    "completed_at",
    "status",
    "review_status",
    "Suspicious Count",
    "Suspicious Comments",
    "Rules Violation Count",
    "Rules Violation Comments",
]
FULL_PROFILE = {
    "id": 1001,
    "username": "user1001",
    "email": "user1001@example.org",
    "first_name": "Ana",
    "last_name": "García",
    "is_staff": False,
    "date_joined": "2026-01-15T09:30:00Z",
    "last_login": "2026-09-02T18:05:00Z",
    "name": "Ana García",
    "language": "es",
    "location": "Madrid",
    "year_of_birth": 1990,
    "gender": "f",
    "level_of_education": "m",
    "mailing_address": "Calle Mayor 1, Madrid",
    "goals": "Learn statistics",
    "meta": {"city": "Sevilla", "referral": "newsletter", "interests": ["maths", "music"]},
    "city": "Madrid",
    "country": "ES",
    "external_user_key": "EXT-1001",
}
NO_PROFILE = 1004  # enrolled, never given a profile
FORMULA = 1002  # a name a spreadsheet would run
OUTSIDER_USER = 5000  # has a profile, not enrolled in the course


# ---- helpers ----
def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def load(stack, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    status, body = stack.api("POST", course_path(COURSE_ID, f"data/{kind}"), "admin", raw_body=jsonl(rows))
    assert status == 200, body
    return body


def profiles(user_ids: range = range(1001, 1301)) -> list[dict[str, Any]]:
    """A simple profile for every learner but NO_PROFILE, the full one for 1001, a formula for 1002."""
    found = []
    for user_id in user_ids:
        if user_id == NO_PROFILE:
            continue
        profile: dict[str, Any] = {
            "id": user_id,
            "username": f"user{user_id}",
            "email": f"user{user_id}@example.org",
            "name": f"Learner {user_id}",
            "country": "KE",
        }
        if user_id == 1001:
            profile = FULL_PROFILE
        if user_id == FORMULA:
            profile = {**profile, "name": '=HYPERLINK("http://evil.example","click")'}
        found.append(profile)
    found.append(
        {"id": OUTSIDER_USER, "username": "visitor", "email": "visitor@example.net", "name": "Visiting User"}
    )
    return found


def run_report(
    stack, task_type: str, subject: str = "instructor", task_input: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[list[str]]]:
    body: dict[str, Any] = {"task_type": task_type}
    if task_input is not None:
        body["input"] = task_input
    status, submitted = stack.api("POST", course_path(COURSE_ID, "tasks"), subject, body)
    assert status == 202, submitted
    task = stack.wait(submitted["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    return output, read_report(stack, output["report_name"])


def read_report(stack, name: str) -> list[list[str]]:
    key = reports.report_key(stack.settings, COURSE_ID, name)
    return decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))


def counts(output: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        output[key] for key in ("action_name", "total", "attempted", "succeeded", "failed", "skipped")
    )


def rows_by_first_cell(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    return {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def set_enrollment_fields(stack, updates: dict[int, dict[str, Any]], extra: list[Any] = ()) -> None:
    """Rewrite some of the fixture's enrollments (account flags, cohorts) and add others."""
    enrollments, _ = learners(COURSE_ID, 300)
    changed = [e.model_copy(update=updates[e.user_id]) for e in enrollments if e.user_id in updates]
    CourseRepository(stack.settings).put_enrollments([*changed, *extra])


def hmac_id(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


# ---- profile_info_csv ----
def test_profile_report_default_features_ordered_by_username(stack):
    # Given profiles loaded through the loader, and two learners whose usernames sort first and last
    summary = load(stack, "profiles", profiles())
    assert summary["profiles"] == 300 and summary["enrollment_copies_updated"] == 0
    first, last = learners(COURSE_ID, 2)[0]
    set_enrollment_fields(
        stack,
        {},
        [
            first.model_copy(update={"user_id": 1301, "username": "aaron", "email": "aaron@example.org"}),
            last.model_copy(update={"user_id": 1302, "username": "zoe", "email": "zoe@example.org"}),
        ],
    )

    # When the profile report runs with the default features
    output, rows = run_report(stack, "profile_info_csv")

    # Then the header is the spec's default list, year_of_birth (private) removed, city and country last
    assert rows[0] == PROFILE_DEFAULT_HEADER
    # rows are the active enrollments ordered by username (the inactive enrollment is left out)
    ids = [int(row[0]) for row in rows[1:]]
    assert ids[0] == 1301 and ids[-1] == 1302
    assert ids[1:-1] == [user_id for user_id in range(1001, 1301) if user_id != INACTIVE]
    assert [row[1] for row in rows[1:]] == sorted(row[1] for row in rows[1:])
    table = rows_by_first_cell(rows)
    assert table["1001"] == {
        "id": "1001",
        "username": "user1001",
        "name": "Ana García",
        "email": "user1001@example.org",
        "language": "es",
        "location": "Madrid",
        "gender": "f",
        "level_of_education": "m",
        "mailing_address": "Calle Mayor 1, Madrid",
        "goals": "Learn statistics",
        "enrollment_mode": "audit",
        "last_login": "2026-09-02 18:05:00+00:00",
        "date_joined": "2026-01-15 09:30:00+00:00",
        "external_user_key": "EXT-1001",
        "enrollment_date": "",
        "city": "Sevilla",  # meta.city wins over the profile's city
        "country": "ES",
    }
    # a learner without a profile keeps the enrollment's fields; the rest are empty
    assert rows_by_first_cell(rows)[str(NO_PROFILE)] == {
        **{column: "" for column in PROFILE_DEFAULT_HEADER},
        "id": str(NO_PROFILE),
        "username": f"user{NO_PROFILE}",
        "email": f"user{NO_PROFILE}@example.org",
        "enrollment_mode": "audit",
    }
    assert table["1100"]["name"] == "Learner 1100" and table["1100"]["country"] == "KE"
    # CSV injection: a profile field starting with "=" comes out prefixed with a quote
    assert table[str(FORMULA)]["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert str(INACTIVE) not in table

    # And the counters are the generic ones: total = active enrollments planned, one row each
    assert counts(output) == ("generated", 301, 301, 301, 0, 0)
    assert re.fullmatch(
        r"TestX_G101_2026_student_profile_info_\d{4}-\d{2}-\d{2}-\d{6}\.csv", output["report_name"]
    )
    assert "error_report_name" not in output


def test_profile_report_with_requested_features_cohorts_and_teams(stack):
    # Given a cohorted course with teams, and a learner in a cohort and a team
    courses = CourseRepository(stack.settings)
    course = courses.get_course(COURSE_ID)
    courses.put_course(course.model_copy(update={"cohorted": True, "teams_enabled": True}))
    set_enrollment_fields(stack, {1001: {"cohort": "Group A", "team": "Red", "mode": "verified"}})
    load(stack, "profiles", profiles(range(1001, 1011)))

    # When a researcher asks for some features, a private one and a trailing one among them
    task_input = {
        "features": [
            "username",
            "meta.referral",
            "meta.interests",
            "verification_status",
            "year_of_birth",
            "city",
        ]
    }
    status, submitted = stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "researcher",
        {"task_type": "profile_info_csv", "input": task_input},
    )
    assert status == 202, submitted
    task = stack.wait(submitted["task_id"])

    # Then the resolved list is stored as the task input, and is the header
    expected = [
        "username",
        "meta.referral",
        "meta.interests",
        "verification_status",
        "cohort",
        "team",
        "city",
        "country",
    ]
    assert json.loads(task.task_input) == {"features": expected}
    rows = read_report(stack, json.loads(task.task_output)["report_name"])
    assert rows[0] == expected
    assert rows[1] == [
        "user1001",
        "newsletter",
        '["maths", "music"]',
        "Not ID Verified",
        "Group A",
        "Red",
        "Sevilla",
        "ES",
    ]
    assert rows[2] == ["user1002", "", "", "N/A", "[unassigned]", "[unavailable]", "", "KE"]


def test_profile_report_refuses_unknown_features(stack):
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "instructor",
        {"task_type": "profile_info_csv", "input": {"features": ["username", "shoe_size", "meta.", "pet"]}},
    )
    assert (status, body["code"]) == (400, "bad_request")
    assert body["error"].startswith("Unknown profile features: meta., pet, shoe_size.")
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "instructor",
        {"task_type": "profile_info_csv", "input": {"features": []}},
    )
    assert (status, body["code"]) == (400, "bad_request")
    assert stack.executions_running() == 0


def test_profile_row_failure_goes_to_the_error_report(stack, monkeypatch):
    # Given building one learner's row fails
    from functions.logic.tasktypes import people_reports

    original = people_reports.profile_value

    def flaky(feature, enrollment, profile):
        if enrollment.user_id == 1005:
            raise ValueError("broken profile")
        return original(feature, enrollment, profile)

    monkeypatch.setattr(people_reports, "profile_value", flaky)
    output, rows = run_report(stack, "profile_info_csv")
    # Then the learner is counted as failed and listed in the _err CSV; the others are reported
    assert counts(output) == ("generated", 299, 299, 298, 1, 0)
    assert read_report(stack, output["error_report_name"]) == [
        ["Student ID", "Username", "Error"],
        ["1005", "user1005", "broken profile"],
    ]
    assert "_student_profile_info_err_" in output["error_report_name"]
    assert len(rows) == 299 and "1005" not in {row[0] for row in rows}


def test_profile_report_reads_a_chunk_in_a_few_requests(stack):
    # Given 300 learners (299 active, chunks of 100) with profiles
    load(stack, "profiles", profiles())
    stack.counter.reset()
    # When the profile report runs to the end
    status, submitted = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "profile_info_csv"}
    )
    assert status == 202
    assert stack.wait_execution(submitted["task_id"]) == "SUCCEEDED"
    dynamodb = stack.counter.by_operation("dynamodb")
    # Then each chunk of 100 read its enrollments and profiles in one BatchGetItem each
    assert dynamodb.get("BatchGetItem") == 6, dynamodb
    assert dynamodb.get("GetItem", 0) <= 12, dynamodb  # task reads, independent of the learners
    assert dynamodb.get("Query", 0) <= 4, dynamodb  # planning: one range of enrollments
    # 22 measured: task reads and writes, and 2 reads per chunk; never one per learner
    assert stack.counter.total("dynamodb") <= 30, dynamodb
    assert json.loads(stack.task(submitted["task_id"]).task_output)["succeeded"] == 299


def test_a_second_profile_report_while_one_runs_is_409(stack):
    first = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "profile_info_csv"}
    )
    second = stack.api("POST", course_path(COURSE_ID, "tasks"), "admin", {"task_type": "profile_info_csv"})
    assert first[0] == 202
    assert second[0] == 409
    assert second[1]["error"].startswith("The enrolled learner profile report is being created.")
    stack.wait(first[1]["task_id"])


# ---- permissions (spec §9.1) ----
@pytest.mark.parametrize(
    ("task_type", "subject", "status"),
    [
        ("profile_info_csv", "staff", 403),  # research: course staff is not enough
        ("may_enroll_info_csv", "staff", 403),
        ("inactive_enrolled_students_info_csv", "staff", 403),
        ("generate_anonymous_ids_for_course", "staff", 403),
        ("profile_info_csv", "outsider", 403),
        ("course_survey_report", "learner", 403),
        ("course_survey_report", "staff", 202),  # enrollment_report: course staff or data researcher
        ("course_survey_report", "researcher", 202),
        ("proctored_exam_results_report", "researcher", 403),  # view_exam_results: course staff
        ("proctored_exam_results_report", "staff", 202),
        ("generate_anonymous_ids_for_course", "researcher", 202),
    ],
)
def test_who_may_run_each_report(stack, task_type, subject, status):
    got, body = stack.api("POST", course_path(COURSE_ID, "tasks"), subject, {"task_type": task_type})
    assert got == status, body
    if status == 202:
        assert stack.wait(body["task_id"]).state is TaskState.SUCCESS
    else:
        assert body["code"] == "forbidden"


# ---- may_enroll_info_csv ----
def test_may_enroll_lists_allowed_emails_not_yet_enrolled(stack):
    # Given 250 invitations, two of them for emails already enrolled (one in another case)
    invited = [{"email": f"invitee{number:03d}@example.net"} for number in range(250)]
    enrolled = [{"email": "user1001@example.org"}, {"email": "USER1290@Example.org", "auto_enroll": True}]
    assert load(stack, "enrollment_allowed", [*enrolled, *invited])["enrollment_allowed"] == 252
    # When the report runs (pages of 100 emails: three Map items)
    output, rows = run_report(stack, "may_enroll_info_csv", task_input={"features": ["email"]})
    # Then it lists the 250 pending emails, ordered by email
    assert rows[0] == ["email"]
    assert rows[1:] == [[entry["email"]] for entry in invited]
    assert counts(output) == ("generated", 250, 250, 250, 0, 0)
    assert "_may_enroll_info_" in output["report_name"]


def test_may_enroll_with_no_invitations_is_an_empty_report(stack):
    output, rows = run_report(stack, "may_enroll_info_csv")
    assert rows == [["email"]]
    assert counts(output) == ("generated", 0, 0, 0, 0, 0)


# ---- inactive_enrolled_students_info_csv ----
def test_inactive_accounts_of_active_enrollments(stack):
    # Given two active enrollments with inactive accounts, and an inactive enrollment whose account is too
    set_enrollment_fields(
        stack,
        {
            1010: {"user_is_active": False},
            1200: {"user_is_active": False},
            INACTIVE: {"user_is_active": False},
        },
    )
    output, rows = run_report(stack, "inactive_enrolled_students_info_csv")
    assert rows == [["email"], ["user1010@example.org"], ["user1200@example.org"]]
    assert counts(output) == ("generated", 2, 2, 2, 0, 0)
    assert "_inactive_enrolled_students_info_" in output["report_name"]


def test_inactive_report_accepts_only_the_email_feature(stack):
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "tasks"),
        "instructor",
        {"task_type": "inactive_enrolled_students_info_csv", "input": {"features": ["username"]}},
    )
    assert (status, body["code"]) == (400, "bad_request")


# ---- generate_anonymous_ids_for_course ----
def test_anonymized_ids_for_every_enrollment(stack):
    output, rows = run_report(stack, "generate_anonymous_ids_for_course")
    assert rows[0] == ["User ID", "Anonymized User ID", "Course Specific Anonymized User ID"]
    # every enrollment, active or not, by user id
    assert [int(row[0]) for row in rows[1:]] == list(range(1001, 1301))
    secret = ANONYMIZATION_SECRET
    table = rows_by_first_cell(rows)
    for user_id in (1001, 1150, INACTIVE):
        row = table[str(user_id)]
        assert row["Anonymized User ID"] == hmac_id(secret, f"global|user:{user_id}")
        assert row["Course Specific Anonymized User ID"] == hmac_id(
            secret, f"course:{COURSE_ID}|user:{user_id}"
        )
    assert len({row[1] for row in rows[1:]}) == 300 and all(
        re.fullmatch(r"[0-9a-f]{32}", row[2]) for row in rows[1:]
    )
    assert counts(output) == ("generate_anonymized_id", 300, 300, 300, 0, 0)
    assert "_anonymized_ids_" in output["report_name"]


# ---- course_survey_report ----
def test_survey_report_has_a_column_per_field_answered(stack):
    # Given 154 respondents (two chunks of 100): each chunk sees only some of the fields ("Hours"
    # only in the first, "zeta" only in the second), and one respondent is a visitor with a profile
    load(stack, "profiles", profiles(range(1001, 1003)))
    many = [
        {"user_id": user_id, "answers": {"goal": "fun"}} for user_id in range(1100, 1250) if user_id != 1150
    ]
    chosen = [
        {"user_id": 1003, "answers": {"age": "30-39", "goal": "career"}},
        {"user_id": 1150, "answers": {"goal": "fun", "Hours": "5"}},
        {"user_id": 1295, "answers": {"zeta": "=1+1"}},
        {"user_id": OUTSIDER_USER, "answers": {"age": "60+"}},
    ]
    summary = load(stack, "surveys", [*chosen, *many])
    assert summary == {
        "course_id": COURSE_ID,
        "responses": 153,
        "fields": ["Hours", "age", "goal", "zeta"],
        "retired": 0,
        "stale": 0,  # lines without a source_version (a snapshot) are always applied
    }

    # When course staff run the survey report
    output, rows = run_report(stack, "course_survey_report", subject="staff")

    # Then the header is the fixed columns and every field of every chunk, sorted
    assert rows[0] == ["User ID", "User Name", "Email", "Hours", "age", "goal", "zeta"]
    # one row per respondent by user id, missing answers empty, formulas neutralised
    assert [int(row[0]) for row in rows[1:]] == sorted(entry["user_id"] for entry in [*chosen, *many])
    table = rows_by_first_cell(rows)
    assert list(table["1003"].values()) == [
        "1003",
        "user1003",
        "user1003@example.org",
        "",
        "30-39",
        "career",
        "",
    ]
    assert list(table["1150"].values()) == ["1150", "user1150", "user1150@example.org", "5", "", "fun", ""]
    assert list(table["1200"].values()) == ["1200", "user1200", "user1200@example.org", "", "", "fun", ""]
    assert list(table["1295"].values()) == ["1295", "user1295", "user1295@example.org", "", "", "", "'=1+1"]
    visitor = table[str(OUTSIDER_USER)]
    assert list(visitor.values()) == [str(OUTSIDER_USER), "visitor", "visitor@example.net", "", "60+", "", ""]
    assert counts(output) == ("generated", 153, 153, 153, 0, 0)
    assert "_course_survey_results_" in output["report_name"]


def test_survey_loader_refuses_unknown_users_and_bad_lines(stack):
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "data/surveys"),
        "admin",
        raw_body=jsonl([{"user_id": 1001, "answers": {"a": "b"}}, {"user_id": 9999, "answers": {"a": "b"}}]),
    )
    assert (status, body["error"]) == (
        400,
        f"line 2: user 9999 is neither enrolled in {COURSE_ID} nor has a profile",
    )
    status, body = stack.api(
        "POST",
        course_path(COURSE_ID, "data/surveys"),
        "admin",
        raw_body=b'{"user_id": 1001, "answers": {"a": 5}}',
    )
    assert status == 400 and body["error"].startswith("line 1: Input should be a valid string at answers.a")
    # loads are for global staff only
    status, _ = stack.api(
        "POST",
        course_path(COURSE_ID, "data/surveys"),
        "instructor",
        raw_body=b'{"user_id": 1001, "answers": {}}',
    )
    assert status == 403


# ---- proctored_exam_results_report ----
def test_proctored_results_one_row_per_attempt(stack):
    # Given attempts of a verified learner (two exams), an audit learner's practice attempt and a
    # visitor who is not enrolled
    set_enrollment_fields(stack, {1005: {"mode": "verified"}})
    load(stack, "profiles", profiles(range(1001, 1002)))
    attempts = [
        {
            "user_id": 1005,
            "exam_name": "Final Exam",
            "provider": "proctortrack",
            "attempt_code": "FIN-1005",
            "allowed_time_limit_mins": 120,
            "started_at": "2026-10-20T10:00:00Z",
            "completed_at": "2026-10-20T11:45:00Z",
            "status": "verified",
            "review_status": "Clean",
        },
        {
            "user_id": 1005,
            "exam_name": "Midterm Exam",
            "provider": "proctortrack",
            "attempt_code": "MID-1005",
            "allowed_time_limit_mins": 90,
            "started_at": "2026-09-25T14:00:00Z",
            "completed_at": "2026-09-25T15:20:00Z",
            "status": "rejected",
            "review_status": "Suspicious",
            "suspicious_comments": ["Second face in frame", "Left the room"],
            "rules_violation_comments": ["Phone in view"],
        },
        {
            "user_id": 1150,
            "exam_name": "Midterm Exam",
            "provider": "proctortrack",
            "attempt_code": "PRACTICE-1150",
            "allowed_time_limit_mins": 30,
            "is_sample_attempt": True,
            "status": "created",
            "suspicious_count": 3,
        },
        {
            "user_id": OUTSIDER_USER,
            "exam_name": "Final Exam",
            "provider": "software_secure",
            "attempt_code": "FIN-5000",
            "status": "error",
        },
    ]
    assert load(stack, "proctored_attempts", attempts)["attempts"] == 4
    # When course staff run the report
    output, rows = run_report(stack, "proctored_exam_results_report", subject="staff")
    # Then one row per attempt, learners by id, a learner's attempts by start
    assert rows == [
        PROCTORED_HEADER,
        [
            COURSE_ID,
            "proctortrack",
            "verified",
            "Midterm Exam",
            "user1005",
            "user1005@example.org",
            "MID-1005",
            "90",
            "False",
            "2026-09-25 14:00:00+00:00",
            "2026-09-25 15:20:00+00:00",
            "rejected",
            "Suspicious",
            "2",
            "Second face in frame; Left the room",
            "1",
            "Phone in view",
        ],
        [
            COURSE_ID,
            "proctortrack",
            "verified",
            "Final Exam",
            "user1005",
            "user1005@example.org",
            "FIN-1005",
            "120",
            "False",
            "2026-10-20 10:00:00+00:00",
            "2026-10-20 11:45:00+00:00",
            "verified",
            "Clean",
            "0",
            "",
            "0",
            "",
        ],
        [
            *(COURSE_ID, "proctortrack", "audit", "Midterm Exam", "user1150", "user1150@example.org"),
            *("PRACTICE-1150", "30", "True", "", "", "created", "", "3", "", "0", ""),
        ],
        [
            *(COURSE_ID, "software_secure", "Unknown", "Final Exam", "visitor", "visitor@example.net"),
            *("FIN-5000", "", "False", "", "", "error", "", "0", "", "0", ""),
        ],
    ]
    # units are attempts, not learners
    assert counts(output) == ("generating_proctored_exam_results_report", 4, 4, 4, 0, 0)
    assert "_proctored_exam_results_report_" in output["report_name"]


@pytest.mark.parametrize(
    ("kind", "line", "fragment"),
    [
        (
            "profiles",
            {"id": "1001", "username": "u", "email": "u@example.org"},
            "line 1: Input should be a valid integer at id",
        ),
        (
            "profiles",
            {"id": 1001, "username": "u", "email": "u@example.org", "shoe": 42},
            "line 1: Extra inputs are not permitted at shoe",
        ),
        ("profiles", {"id": 1001, "username": "u", "email": "u@example.org", "gender": "x"}, "at gender"),
        ("profiles", {"id": 1001, "username": "u", "email": "not an email"}, "at email"),
        ("enrollment_allowed", {"email": "someone"}, "at email"),
        (
            "proctored_attempts",
            {
                "user_id": 1001,
                "exam_name": "Final",
                "provider": "p",
                "attempt_code": "A1",
                "status": "verified",
                "started_at": "2026-10-20T10:00:00Z",
                "completed_at": "2026-10-20T09:00:00Z",
            },
            "completed_at is before started_at",
        ),
    ],
)
def test_loaders_refuse_bad_lines_with_their_number(stack, kind, line, fragment):
    status, body = stack.api("POST", course_path(COURSE_ID, f"data/{kind}"), "admin", raw_body=jsonl([line]))
    assert (status, body["code"]) == (400, "bad_request"), body
    assert fragment in body["error"]


def test_loaders_refuse_duplicates_in_one_load(stack):
    rows = [{"email": "a@example.org"}, {"email": "b@example.org"}, {"email": "A@Example.org"}]
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "data/enrollment_allowed"), "admin", raw_body=jsonl(rows)
    )
    assert (status, body["error"]) == (400, "line 3: email a@example.org is also on line 1")


def test_a_profile_load_brings_the_enrollment_copies_in_step(stack):
    # Given a profile whose username and email differ from the copies the enrollments keep
    from functions.dal.course_repo import CourseRepository
    from functions.models.course import Enrollment
    from tests.helpers.course import OTHER_COURSE_ID

    courses = CourseRepository(stack.settings)
    courses.put_enrollments(
        [
            Enrollment(
                course_id=OTHER_COURSE_ID, user_id=1001, username="user1001", email="user1001@example.org"
            )
        ]
    )
    renamed = {"id": 1001, "username": "ana_renamed", "email": "ana@example.org"}
    summary = load(
        stack, "profiles", [renamed, {"id": 1002, "username": "user1002", "email": "user1002@example.org"}]
    )
    # Then both of 1001's enrollments (this course and the other) now carry the new name and email
    assert summary == {
        "course_id": COURSE_ID,
        "profiles": 2,
        "enrolled_in_course": 2,
        "enrollment_copies_updated": 2,
        "enrolled_from_invitations": 0,  # nobody was invited by a batch enrollment
        "stale": 0,  # lines without a source_version (a snapshot) are always applied
    }
    for course_id in (COURSE_ID, OTHER_COURSE_ID):
        enrollment = courses.get_enrollments(course_id, [1001])[1001]
        assert (enrollment.username, enrollment.email) == ("ana_renamed", "ana@example.org")
    assert courses.find_user_id(COURSE_ID, "ana_renamed") == 1001
    # and loading the same profiles again changes nothing
    assert load(stack, "profiles", [renamed])["enrollment_copies_updated"] == 0
