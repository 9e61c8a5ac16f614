"""Pure parts of the people reports: feature lists, profile cells, anonymized ids, attempt rows, the
strict load models and line parsing."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from functions.errors import BadRequest
from functions.logic import registry
from functions.logic.data.people import parse_lines, refuse_duplicates
from functions.logic.tasktypes import people_reports as pr
from functions.models.course import Enrollment
from functions.models.people import EnrollmentAllowed, ProctoredAttempt, SurveyResponse, UserProfile

COURSE = "course-v1:Org+Num+Run"
T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
ENROLLMENT = Enrollment(
    course_id=COURSE, user_id=7, username="ana", email="ana@example.org", mode="verified", created=T0
)
PROFILE = UserProfile(
    id=7,
    username="ana-profile",
    email="other@example.org",
    name="Ana García",
    year_of_birth=1990,
    city="Madrid",
    country="ES",
    is_staff=False,
    meta={"city": "Sevilla", "score": 3, "tags": ["a", "b"], "blank": None},
)


# ---- feature lists (spec §5.6) ----
def test_default_features_drop_private_ones_and_end_with_city_and_country():
    features = pr.resolve_features(None, frozenset({"year_of_birth"}), cohorted=False, teams_enabled=False)
    assert features == [f for f in pr.DEFAULT_FEATURES if f != "year_of_birth"] + ["city", "country"]


def test_cohort_and_team_come_before_city_and_country_when_the_course_has_them():
    features = pr.resolve_features(["city", "team", "username", "cohort"], frozenset(), True, True)
    assert features == ["username", "cohort", "team", "city", "country"]
    assert pr.resolve_features(["cohort", "username"], frozenset(), False, False) == [
        "username",
        "city",
        "country",
    ]


def test_requested_features_keep_their_order_once_each_and_meta_keys_are_accepted():
    features = pr.resolve_features(["email", "meta.referral", "email", "id"], frozenset(), False, False)
    assert features == ["email", "meta.referral", "id", "city", "country"]


def test_private_fields_win_even_over_the_trailing_ones():
    assert pr.resolve_features(["id"], frozenset({"country"}), False, False) == ["id", "city"]


def test_unknown_features_are_named_in_the_error():
    with pytest.raises(BadRequest, match=r"^Unknown profile features: meta\., password\. Available: "):
        pr.resolve_features(["id", "password", "meta."], frozenset(), False, False)


def test_private_fields_setting_is_a_comma_list():
    assert pr.private_fields(" year_of_birth, gender ,,") == frozenset({"year_of_birth", "gender"})
    assert pr.private_fields("") == frozenset()


# ---- profile cells ----
@pytest.mark.parametrize(
    ("feature", "expected"),
    [
        ("id", 7),
        ("username", "ana"),  # the enrollment's copy, the one rows are ordered by
        ("email", "ana@example.org"),
        ("name", "Ana García"),
        ("year_of_birth", 1990),
        ("is_staff", False),
        ("gender", ""),  # missing -> empty cell
        ("enrollment_mode", "verified"),
        ("enrollment_date", T0),
        ("verification_status", "Not ID Verified"),
        ("cohort", "[unassigned]"),
        ("team", "[unavailable]"),
        ("city", "Sevilla"),  # meta.city wins
        ("country", "ES"),
        ("meta.score", 3),
        ("meta.tags", '["a", "b"]'),
        ("meta.blank", ""),
        ("meta.nothing", ""),
        ("meta", '{"city": "Sevilla", "score": 3, "tags": ["a", "b"], "blank": null}'),
        ("external_user_key", ""),
    ],
)
def test_profile_value(feature, expected):
    assert pr.profile_value(feature, ENROLLMENT, PROFILE) == expected


def test_profile_value_without_a_profile_keeps_the_enrollment_fields():
    enrollment = ENROLLMENT.model_copy(update={"cohort": "A", "team": "Red", "mode": "audit"})
    assert [pr.profile_value(f, enrollment, None) for f in ("id", "name", "city", "meta", "meta.x")] == [
        7,
        "",
        "",
        "",
        "",
    ]
    assert [pr.profile_value(f, enrollment, None) for f in ("cohort", "team", "verification_status")] == [
        "A",
        "Red",
        "N/A",
    ]


def test_city_falls_back_to_the_profile_when_meta_has_none():
    profile = PROFILE.model_copy(update={"meta": {"city": ""}})
    assert pr.profile_value("city", ENROLLMENT, profile) == "Madrid"


# ---- anonymized ids ----
def test_anonymized_ids_are_keyed_hashes_of_32_hex_characters():
    expected = hmac.new(b"s3cret", b"global|user:42", hashlib.sha256).hexdigest()[:32]
    assert pr.anonymized_id("s3cret", 42) == expected
    in_course = pr.anonymized_id("s3cret", 42, COURSE)
    assert (
        in_course == hmac.new(b"s3cret", f"course:{COURSE}|user:42".encode(), hashlib.sha256).hexdigest()[:32]
    )
    assert len(in_course) == 32 and in_course != expected
    # stable, but different per course, per user and per secret
    assert pr.anonymized_id("s3cret", 42, COURSE) == in_course
    assert pr.anonymized_id("s3cret", 42, "course-v1:Org+Num+Other") != in_course
    assert pr.anonymized_id("s3cret", 43, COURSE) != in_course
    assert pr.anonymized_id("other", 42, COURSE) != in_course


# ---- proctored rows ----
def attempt(**fields) -> ProctoredAttempt:
    base = {
        "user_id": 7,
        "exam_name": "Final",
        "provider": "proctortrack",
        "attempt_code": "A1",
        "status": "verified",
    }
    return ProctoredAttempt.model_validate({**base, **fields})


def test_attempt_row_joins_comments_and_counts_them_unless_given():
    row = pr.attempt_row(
        COURSE,
        attempt(suspicious_comments=["x", "y"], rules_violation_comments=["z"], rules_violation_count=4),
        "ana",
        "ana@example.org",
        "verified",
    )
    assert row == [
        *(COURSE, "proctortrack", "verified", "Final", "ana", "ana@example.org", "A1"),
        *("", False, "", "", "verified", "", 2, "x; y", 4, "z"),
    ]
    assert len(row) == len(pr.PROCTORED_HEADER)


def test_attempts_are_ordered_by_start_with_unstarted_ones_last():
    late = attempt(attempt_code="B", started_at=datetime(2026, 10, 2, tzinfo=UTC))
    early = attempt(attempt_code="C", started_at=datetime(2026, 10, 1, tzinfo=UTC))
    never = attempt(attempt_code="A")
    assert sorted([never, late, early], key=pr.attempt_order) == [early, late, never]


# ---- strict load models ----
@pytest.mark.parametrize(
    "line",
    [
        {"id": "7", "username": "a", "email": "a@example.org"},  # no coercion of numbers
        {"id": 7, "username": "a", "email": "a@example.org", "gender": "x"},
        {"id": 7, "username": "a", "email": "a@example.org", "country": "Spain"},
        {"id": 7, "username": "a", "email": "a@example.org", "year_of_birth": 1800},
        {"id": 7, "username": "", "email": "a@example.org"},
        {"id": 7, "username": "a", "email": "a@example.org", "meta": "[]"},
        {"id": 7, "username": "a", "email": "a@example.org", "unknown": 1},
    ],
)
def test_profile_lines_are_validated_strictly(line):
    with pytest.raises(ValidationError):
        UserProfile.model_validate(line)


def test_other_models_refuse_bad_values():
    with pytest.raises(ValidationError):
        EnrollmentAllowed.model_validate({"email": "not-an-email"})
    with pytest.raises(ValidationError):
        SurveyResponse.model_validate({"user_id": 7, "answers": {}})
    with pytest.raises(ValidationError):
        SurveyResponse.model_validate({"user_id": 7, "answers": {"q": 1}})
    with pytest.raises(ValidationError, match="completed_at is before started_at"):
        attempt(started_at=datetime(2026, 10, 2, tzinfo=UTC), completed_at=datetime(2026, 10, 1, tzinfo=UTC))
    with pytest.raises(ValidationError):
        attempt(attempt_code="has space")


def test_parse_lines_names_the_line_and_field_and_skips_blank_lines():
    rows = parse_lines(EnrollmentAllowed, ['{"email": "a@example.org"}', "", '{"email": "b@example.org"}'])
    assert [(number, row.email) for number, row in rows] == [(1, "a@example.org"), (3, "b@example.org")]
    with pytest.raises(BadRequest, match=r"^line 2: .* at auto_enroll$"):
        parse_lines(
            EnrollmentAllowed, ['{"email": "a@example.org"}', '{"email": "c@x.org", "auto_enroll": "yes"}']
        )
    with pytest.raises(BadRequest, match=r"^line 1: Invalid JSON"):
        parse_lines(EnrollmentAllowed, ["{not json"])
    with pytest.raises(BadRequest, match="no rows"):
        parse_lines(EnrollmentAllowed, ["", "  "])


def test_refuse_duplicates_points_at_both_lines():
    rows = parse_lines(
        EnrollmentAllowed, ['{"email": "a@x.org"}', '{"email": "b@x.org"}', '{"email": "B@X.org"}']
    )
    with pytest.raises(BadRequest, match=r"^line 3: email b@x\.org is also on line 2$"):
        refuse_duplicates(rows, lambda row: row.email.lower(), "email")


# ---- registration ----
@pytest.mark.parametrize(
    ("name", "action", "permission", "label", "csv_name"),
    [
        ("profile_info_csv", "generated", "research", "enrolled learner profile", "student_profile_info"),
        ("may_enroll_info_csv", "generated", "research", "enrollment", "may_enroll_info"),
        (
            "inactive_enrolled_students_info_csv",
            "generated",
            "research",
            "inactive enrollment",
            "inactive_enrolled_students_info",
        ),
        ("generate_anonymous_ids_for_course", "generate_anonymized_id", "research", None, "anonymized_ids"),
        ("course_survey_report", "generated", "enrollment_report", "survey", "course_survey_results"),
        (
            "proctored_exam_results_report",
            "generating_proctored_exam_results_report",
            "view_exam_results",
            "proctored exam results",
            "proctored_exam_results_report",
        ),
    ],
)
def test_types_are_registered_as_the_spec_names_them(name, action, permission, label, csv_name):
    task_type = registry.require(name)
    assert isinstance(task_type, registry.CsvReportTask)
    assert (
        task_type.action_name,
        task_type.permission.value,
        task_type.report_label,
        task_type.csv_name,
    ) == (
        action,
        permission,
        label,
        csv_name,
    )
    assert task_type.task_key(task_type.parse_input({})) == ""
    if label is None:
        assert task_type.already_running_message == registry.GENERIC_ALREADY_RUNNING


def test_email_feature_input_is_upstreams_only():
    task_type = registry.require("may_enroll_info_csv")
    assert task_type.parse_input({}).model_dump() == {"features": ["email"]}
    with pytest.raises(BadRequest):
        task_type.parse_input({"features": ["email", "username"]})


def test_seeded_profiles_match_the_learners_they_describe():
    from itask.seeders.people import _display_names, profile_for

    enrollment = ENROLLMENT.model_copy(
        update={"username": "emile_000003", "email": "emile.obrien.3@example.org"}
    )
    profile = profile_for(enrollment, _display_names(), random.Random(1))
    assert (profile.id, profile.username, profile.email) == (7, "emile_000003", "emile.obrien.3@example.org")
    assert (profile.first_name, profile.last_name, profile.name) == ("Émile", "O'Brien", "Émile O'Brien")
