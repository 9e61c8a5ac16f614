"""Course-wide settings read from an OLX course policy: cohorts.

A cohorted course adds the cohort column to the grade and profile reports (spec §5.2, §5.4), so the
policy's ``cohort_config`` must be read, in both the forms Studio writes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.logic.olx import OlxError, import_course
from tests.helpers.olx import tar_gz


def archive_with_course_policy(course_policy: dict[str, Any]) -> bytes:
    """The smallest export: one chapter, and the given ``policies/run/policy.json`` course entry."""
    files = {
        "course.xml": '<course url_name="run" org="TestX" course="C1"/>',
        "course/run.xml": '<course display_name="Cohort test"><chapter url_name="ch1"/></course>',
        "chapter/ch1.xml": '<chapter display_name="Week 1"/>',
        "policies/run/policy.json": json.dumps({"course/run": course_policy}),
    }
    return tar_gz(files)


@pytest.mark.parametrize(
    ("course_policy", "cohorted"),
    [
        ({"cohort_config": {"cohorted": True}}, True),
        ({"cohort_config": {"cohorted": "true"}}, True),  # older exports store the flag as text
        ({"cohort_config": {"cohorted": False}}, False),
        ({"cohort_config": {"cohorted": "false"}}, False),
        ({"cohort_config": {}}, False),
        ({}, False),
    ],
)
def test_the_course_policy_says_whether_the_course_is_cohorted(course_policy, cohorted):
    imported = import_course(archive_with_course_policy(course_policy))
    assert imported.course.course_id == "course-v1:TestX+C1+run"
    assert imported.course.cohorted is cohorted


NO_GRADER_LIST = (
    "grading policy: the export has no GRADER list (no grading_policy.json), so Open edX's default "
    "policy applies: Homework, Lab, Midterm Exam, Final Exam"
)


def test_certificate_display_and_the_entrance_exam_are_read_and_bad_values_warned():
    imported = import_course(
        archive_with_course_policy(
            {
                "certificates_display_behavior": "early_no_info",
                "entrance_exam_enabled": "true",
                "entrance_exam_id": "block-v1:TestX+C1+run+type@chapter+block@ch1",
            }
        )
    )
    assert imported.course.certificates_display_behavior == "early_no_info"
    assert imported.course.entrance_exam_id == "ch1"  # the block id of the usage key
    assert imported.warnings == [NO_GRADER_LIST]
    # a behaviour Open edX does not know is ignored, with a warning; a disabled exam is no exam
    imported = import_course(
        archive_with_course_policy(
            {
                "certificates_display_behavior": "sometimes",
                "entrance_exam_enabled": False,
                "entrance_exam_id": "ch1",
            }
        )
    )
    assert imported.course.certificates_display_behavior == "end"  # the default
    assert imported.course.entrance_exam_id is None
    assert imported.warnings == [
        "course: certificates_display_behavior 'sometimes' is not valid; ignored",
        NO_GRADER_LIST,
    ]


@pytest.mark.parametrize(
    ("course_policy", "warning"),
    [
        ("not an object", "policy course/run: expected an object; ignored"),
        (["a", "list"], "policy course/run: expected an object; ignored"),
    ],
)
def test_a_course_policy_entry_that_is_not_an_object_is_ignored_with_a_warning(course_policy, warning):
    imported = import_course(archive_with_course_policy(course_policy))  # type: ignore[arg-type]
    assert imported.course.course_id == "course-v1:TestX+C1+run"
    assert imported.course.display_name == "Cohort test"  # the XML's, nothing overridden
    assert warning in imported.warnings


def test_a_policy_file_that_is_not_an_object_is_ignored_with_a_warning():
    files = {
        "course.xml": '<course url_name="run" org="TestX" course="C1"/>',
        "course/run.xml": '<course display_name="Listed policy"><chapter url_name="ch1"/></course>',
        "chapter/ch1.xml": '<chapter display_name="Week 1"/>',
        "policies/run/policy.json": json.dumps([{"course/run": {"display_name": "never read"}}]),
    }
    imported = import_course(tar_gz(files))
    assert imported.course.display_name == "Listed policy"
    assert "policies/run/policy.json: expected a JSON object; ignored" in imported.warnings


def test_course_xml_parts_that_make_no_course_key_are_refused():
    files = {"course.xml": '<course url_name="run" org="Test X" course="C1"/>'}
    with pytest.raises(OlxError, match="make no course key: 'Test X', 'C1', 'run'"):
        import_course(tar_gz(files))
