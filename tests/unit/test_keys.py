"""Course and block keys, parsed by edx-opaque-keys: both course key styles, block keys and locations."""

from __future__ import annotations

import pytest

from functions.logic import keys, permissions, reports
from functions.models.access import Principal, Role, RoleGrant
from functions.settings import Settings

OLD = "MITx/6.002x/2012_Fall"
NEW = "course-v1:MITx+6.002x+2012_Fall"


@pytest.mark.parametrize(
    ("text", "parts", "deprecated"),
    [
        (NEW, ("MITx", "6.002x", "2012_Fall"), False),
        (OLD, ("MITx", "6.002x", "2012_Fall"), True),
        ("course-v1:edX.org+Demo~x:1+run-2", ("edX.org", "Demo~x:1", "run-2"), False),
    ],
)
def test_course_keys_of_both_styles_are_parsed(text, parts, deprecated):
    key = keys.parse_course(text)
    assert key is not None
    assert (key.parts, key.deprecated, str(key)) == (parts, deprecated, text)
    assert keys.parse_course_key(text) == parts
    assert key.org_scope == f"org:{parts[0]}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "MITx/6.002x",  # two parts
        "MITx/6.002x/2012/Fall",  # four parts
        "course-v1:MITx+6.002x",
        "course-v1:MITx+6.002x+2012_Fall+branch@draft-branch",  # a branch of a course, not a run
        "course-v1:MITx+6.002x+2012_Fall+version@519665f6223ebd6980884f2b",
        "library-v1:MITx+Lib",  # a content library
        "ccx-v1:MITx+6.002x+2012_Fall+ccx@1",
        " course-v1:MITx+6.002x+2012_Fall",
        "course-v1:MITx+6.002x+2012 Fall",
        "MITx/6.002x/2012 Fall",
        "block-v1:MITx+6.002x+2012_Fall+type@problem+block@p1",
    ],
)
def test_what_is_not_a_course_run_key_is_refused(text):
    assert keys.parse_course(text) is None
    assert keys.canonical_course_id(text) is None


def test_course_ids_are_made_from_course_xml_parts():
    assert keys.course_id_of("MITx", "6.002x", "2012_Fall") == NEW
    assert keys.course_id_of("MITx", "6.002x", "2012_Fall", deprecated=True) == OLD
    assert keys.course_id_of("MIT x", "6.002x", "2012_Fall") is None


def test_block_keys_name_blocks_of_their_course():
    # Given a block key of a new-style course
    key = keys.parse_usage_key("block-v1:MITx+6.002x+2012_Fall+type@problem+block@p1", NEW)
    assert key == keys.UsageKey(NEW, "problem", "p1")
    # Then the same key is not a block of another run of the course
    assert keys.parse_usage_key("block-v1:MITx+6.002x+2013_Spring+type@problem+block@p1", NEW) is None
    # and the canonical key is what Open edX writes
    assert keys.usage_key(NEW, "problem", "p1") == "block-v1:MITx+6.002x+2012_Fall+type@problem+block@p1"


def test_old_courses_take_i4x_locations_and_block_keys_of_the_same_run():
    # An i4x location carries no run: it is placed in the course it is used in
    location = keys.parse_usage_key("i4x://MITx/6.002x/problem/p1", OLD)
    assert location == keys.UsageKey(OLD, "problem", "p1")
    assert keys.parse_usage_key("block-v1:MITx+6.002x+2012_Fall+type@problem+block@p1", OLD) == location
    # Another org or number is another course
    assert keys.parse_usage_key("i4x://HarvardX/6.002x/problem/p1", OLD) is None
    assert keys.parse_usage_key("i4x://MITx/8.01x/problem/p1", OLD) is None
    # Without a course, a run-less location cannot be placed
    assert keys.parse_usage_key("i4x://MITx/6.002x/problem/p1") is None
    # Open edX writes the blocks of an old course as i4x locations
    assert keys.usage_key(OLD, "problem", "p1") == "i4x://MITx/6.002x/problem/p1"
    assert str(location) == "i4x://MITx/6.002x/problem/p1"


@pytest.mark.parametrize(
    "text",
    [
        "not-a-key",
        "block-v1:MITx+6.002x+2012_Fall",
        "lb:MITx:Lib:problem:p1",
        NEW,
        OLD,
        # a block of a CCX of the course (parsed when edx-ccx-keys is installed): not the course's
        "ccx-block-v1:MITx+6.002x+2012_Fall+ccx@1+type@problem+block@p1",
    ],
)
def test_what_is_not_a_block_key_is_refused(text):
    assert keys.parse_usage_key(text, NEW) is None
    assert keys.parse_usage_key(text) is None


def test_old_style_courses_get_upstream_report_names_and_directories():
    from datetime import UTC, datetime

    when = datetime(2026, 11, 22, 9, 5, 7, tzinfo=UTC)
    assert reports.report_filename(OLD, "grade_report", when) == (
        "MITx_6.002x_2012_Fall_grade_report_2026-11-22-090507.csv"
    )
    assert reports.course_dir(OLD) != reports.course_dir(NEW)


def test_org_wide_grants_cover_old_style_courses_of_the_org():
    researcher = Principal(
        subject="r",
        user_id=1,
        username="r",
        grants=[RoleGrant(scope="org:MITx", role=Role.DATA_RESEARCHER)],
    )
    assert permissions.roles_in_course(researcher, OLD) == {"data_researcher"}
    assert permissions.roles_in_course(researcher, "HarvardX/6.002x/2012_Fall") == set()
    assert permissions.allowed(Settings(), researcher, OLD, permissions.Permission.RESEARCH)


@pytest.mark.parametrize(
    ("path", "folded"),
    [
        # API Gateway decodes %2F: the id arrives as three segments
        ("/courses/MITx/6.002x/2012_Fall/tasks", "/courses/MITx%2F6.002x%2F2012_Fall/tasks"),
        ("/courses/MITx/6.002x/2012_Fall/data/state", "/courses/MITx%2F6.002x%2F2012_Fall/data/state"),
        # already one segment: unchanged
        ("/courses/MITx%2F6.002x%2F2012_Fall/reports", "/courses/MITx%2F6.002x%2F2012_Fall/reports"),
        (
            "/courses/course-v1:MITx+6.002x+2012_Fall/data/state",
            "/courses/course-v1:MITx+6.002x+2012_Fall/data/state",
        ),
        (
            "/courses/course-v1%3AMITx%2B6.002x%2B2012_Fall/tasks",
            "/courses/course-v1%3AMITx%2B6.002x%2B2012_Fall/tasks",
        ),
        # not a course path, or no old-style id in it: unchanged
        ("/tasks/MITx/6.002x/2012_Fall", "/tasks/MITx/6.002x/2012_Fall"),
        ("/courses/MITx/6.002x", "/courses/MITx/6.002x"),
        ("/courses/MIT x/6.002x/2012/tasks", "/courses/MIT x/6.002x/2012/tasks"),
    ],
)
def test_old_style_ids_in_paths_are_folded_into_one_segment(path, folded):
    assert keys.course_path(path) == folded


def test_block_keys_of_a_branch_an_unknown_course_or_no_text_are_refused():
    block = "block-v1:MITx+6.002x+2012_Fall+type@problem+block@p1"
    assert keys.parse_usage_key(None) is None  # type: ignore[arg-type]  # a JSON null reaches here
    assert keys.parse_usage_key(f" {block} ", NEW) == keys.parse_usage_key(block, NEW)  # trimmed
    # a block of a branch or a version of the course is not a block of the course run
    assert keys.parse_usage_key("block-v1:MITx+6.002x+2012_Fall+branch@draft+type@problem+block@p1") is None
    # the course the key must belong to is itself no course key
    assert keys.parse_usage_key(block, "not a course") is None
    assert keys.block_id_in(NEW) is None  # a course key names no block
    assert keys.block_id_in("i4x://MITx/6.002x/problem/p9") == "p9"
    with pytest.raises(ValueError, match=r"^Invalid course key: 'MITx/6.002x'$"):
        keys.usage_key("MITx/6.002x", "problem", "p1")
