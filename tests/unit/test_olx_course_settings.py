"""Course-wide settings read from an OLX course policy: cohorts.

A cohorted course adds the cohort column to the grade and profile reports (spec §5.2, §5.4), so the
policy's ``cohort_config`` must be read, in both the forms Studio writes.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from functions.logic.olx import import_course


def archive_with_course_policy(course_policy: dict[str, Any]) -> bytes:
    """The smallest export: one chapter, and the given ``policies/run/policy.json`` course entry."""
    files = {
        "course.xml": '<course url_name="run" org="TestX" course="C1"/>',
        "course/run.xml": '<course display_name="Cohort test"><chapter url_name="ch1"/></course>',
        "chapter/ch1.xml": '<chapter display_name="Week 1"/>',
        "policies/run/policy.json": json.dumps({"course/run": course_policy}),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"course/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


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
