"""Which export members the importer reads, and so which the CLI sends (functions/logic/olx_members.py)."""

import pytest

from functions.logic.olx_members import importer_reads


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("course.xml", True),
        ("./course/course.xml", True),
        ("course/policies/2026/policy.json", True),
        ("problem/abc.xml", True),
        ("static/lecture.mp4", False),
        ("course/static/handout.pdf", False),
        ("static/data.json", False),  # an asset, even named .json
        ("course/static/x.xml", False),
        ("course/html/intro.html", False),
        ("course/about/overview.html", False),
    ],
)
def test_only_xml_and_json_outside_static_are_read(name, read):
    assert importer_reads(name) is read
