"""The pure rules of the staff tasks: reading a cohort CSV, splitting identifiers, grouping rows,
who earns a certificate, and the rendered certificate (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.errors import BadRequest
from functions.logic import cohorts, directory, uploads
from functions.logic.certificates import eligibility, render
from functions.logic.grading import CourseGrade
from functions.logic.rowsets import Row, group_rows
from functions.logic.tasktypes.cohorts import CohortDecisions, RowOutcome, counters, summarize
from functions.logic.tasktypes.enrollment_batch import split_identifiers
from functions.models.course import Enrollment


def test_cohort_csv_rows_email_first_blank_lines_ignored_any_column_order():
    text = "cohort , username,email\n\nA,bob,\n  ,,\nB,carol,Carol@X.org\n,dave,\nC\n"
    rows = cohorts.parse_csv(text)
    assert [(r.number, r.identifier, r.value) for r in rows] == [
        (1, "bob", "A"),
        (2, "Carol@X.org", "B"),
        (3, "dave", ""),
        (4, "", "C"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("username,email\nbob,\n", cohorts.NO_COHORT_COLUMN),
        ("user,cohort\nbob,A\n", cohorts.NO_USER_COLUMN),
        ("\n\n", cohorts.NO_COHORT_COLUMN),
        ("Cohort,Username\nA,bob\n", cohorts.NO_COHORT_COLUMN),  # names are exact, as upstream's
    ],
)
def test_cohort_csv_header_messages(text, message):
    with pytest.raises(BadRequest) as refused:
        cohorts.parse_csv(text)
    assert refused.value.message == message


def test_text_must_be_utf8_with_or_without_a_bom():
    assert uploads.decode_text("\ufeffcohort,username\n".encode(), "file") == "cohort,username\n"
    assert uploads.decode_text(b"cohort,username\n", "file") == "cohort,username\n"
    with pytest.raises(BadRequest) as refused:
        uploads.decode_text(b"cohort,\xe9\n", "cohort CSV file")
    assert refused.value.message == "The cohort CSV file must be UTF-8 text (byte 7 is not)"


def test_identifiers_split_on_commas_whitespace_and_newlines():
    assert split_identifiers("a,b  c\n\nd\t,e,,") == ["a", "b", "c", "d", "e"]
    assert split_identifiers(["a b", "c,d", ""]) == ["a", "b", "c", "d"]
    assert split_identifiers(" ,\n\t") == []


def test_rows_grouped_by_person_in_first_seen_order():
    rows = [Row(number=n, identifier=i) for n, i in enumerate(["x", "y", "x", "z", "y"], 1)]
    groups = group_rows(rows, lambda row: row.identifier)
    assert [[row.number for row in group] for group in groups] == [[1, 3], [2, 5], [4]]


def test_subjects_join_a_username_and_an_email_of_the_same_user():
    from functions.models.people import UserProfile

    ada = UserProfile(id=7, username="ada", email="Ada@example.org")
    known = {"ada": ada, "ADA@example.org": ada}
    assert directory.subject("ada", known) == directory.subject("ADA@example.org", known) == "user:7"
    assert directory.subject("New@Example.org", {}) == "email:new@example.org"
    assert directory.subject("ghost", {}) == "name:ghost"


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("a@example.org", True),
        ("bad@@example", False),
        ("no-at-sign", False),
        ("x@y", False),
        ("a b@c.org", False),
    ],
)
def test_valid_email(address, valid):
    assert directory.valid_email(address) is valid


def _grade(percent: float, passed: bool) -> CourseGrade:
    return CourseGrade(
        percent=percent,
        letter_grade="Pass" if passed else None,
        passed=passed,
        attempted=True,
        subsections={},
    )


def _enrollment(mode: str, allowlisted: bool = False) -> Enrollment:
    return Enrollment(
        course_id="c", user_id=1, username="u", email="u@x.org", mode=mode, allowlisted=allowlisted
    )


@pytest.mark.parametrize(
    ("mode", "allowlisted", "passed", "expected"),
    [
        ("verified", False, True, ("generated", "downloadable")),
        ("professional", False, True, ("generated", "downloadable")),
        ("verified", False, False, ("not_passing", "notpassing")),
        ("audit", False, True, ("audit", "audit_passing")),
        ("audit", False, False, ("audit", "audit_notpassing")),
        ("honor", False, True, ("audit", "audit_passing")),
        ("audit", True, False, ("generated", "downloadable")),
        ("verified", True, False, ("generated", "downloadable")),
    ],
)
def test_who_earns_a_certificate(mode, allowlisted, passed, expected):
    enrollment = _enrollment(mode, allowlisted)
    grade = _grade(0.9 if passed else 0.1, passed)
    assert eligibility.outcome(enrollment, grade) == expected
    assert eligibility.eligible(enrollment, grade) is (expected[0] == "generated")


def test_the_rendered_certificate_escapes_what_learners_and_authors_wrote():
    page = render.render_html(
        platform_name="Open edX",
        learner_name='<script>alert("x")</script>',
        course_name="Maths & <Logic>",
        course_id="course-v1:X+Y+Z",
        mode="verified",
        issued=datetime(2026, 11, 3, tzinfo=UTC),
        verify_uuid="ab" * 16,
        base_url="https://api.example.org/",
    ).decode()
    assert "<script>" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "Maths &amp; &lt;Logic&gt;" in page
    assert "Verified certificate" in page and "issued November 3, 2026" in page
    assert f'href="https://api.example.org/certificates/{"ab" * 16}"' in page


def test_cohort_counters_and_summary_from_row_outcomes():
    decisions = CohortDecisions(
        rows=[
            RowOutcome(number=1, identifier="a", cohort="A", result="added"),
            RowOutcome(number=2, identifier="b", cohort="A", result="skipped"),
            RowOutcome(number=3, identifier="x@y.org", cohort="B", result="preassigned"),
            RowOutcome(number=4, identifier="ghost", cohort="A", result="not_found"),
            RowOutcome(number=5, identifier="", cohort="B", result="not_found"),
            RowOutcome(number=6, identifier="a", cohort="Z", result="no_cohort"),
            RowOutcome(number=7, identifier="bad@@", cohort="B", result="invalid_email"),
        ]
    )
    got = counters(decisions)
    assert (got.attempted, got.succeeded, got.skipped, got.failed) == (7, 1, 1, 4)
    summary = summarize(decisions)
    assert list(summary) == ["A", "B", "Z"]
    assert (summary["A"].added, summary["A"].not_found, summary["Z"].exists) == (1, [(4, "ghost")], False)
    assert (summary["B"].preassigned, summary["B"].invalid, summary["B"].not_found) == (
        [(3, "x@y.org")],
        [(7, "bad@@")],
        [],
    )
