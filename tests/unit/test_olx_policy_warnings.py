"""What the importer does with the bad values real exports contain: each is dropped with a warning
that names where it was, and the rest of the course imports.

Studio and hand-edited exports carry policies of every vintage (numbers as text, JSON inside XML
attributes, group configurations deleted but still referenced); a course author reads these warnings
to find what will not count, so their wording and what was kept are checked exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.logic.olx import OlxError, import_course
from tests.helpers.olx import tar_gz

COURSE_POINTER = '<course url_name="run" org="TestX" course="C1"/>'
ONE_CHAPTER = '<course display_name="Policy test"><chapter url_name="ch1"/></course>'
CHAPTER = '<chapter display_name="Week 1"/>'
GRADING = {"GRADER": [{"type": "Homework", "min_count": 1, "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}


def archive(files: dict[str, str]) -> bytes:
    return tar_gz(files)


def course_files(
    policy: dict[str, Any] | None = None,
    grading: Any = GRADING,
    body: str = ONE_CHAPTER,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    files = {"course.xml": COURSE_POINTER, "course/run.xml": body, "chapter/ch1.xml": CHAPTER}
    if policy is not None:
        files["policies/run/policy.json"] = json.dumps(policy)
    if grading is not None:
        files["policies/run/grading_policy.json"] = (
            grading if isinstance(grading, str) else json.dumps(grading)
        )
    return {**files, **(extra or {})}


def imported(**kwargs: Any):
    return import_course(archive(course_files(**kwargs)))


# ---- the grading policy ------------------------------------------------------------------------
def test_a_grader_list_and_cutoffs_of_the_wrong_shape_give_no_types_and_no_cutoffs():
    result = imported(grading={"GRADER": {"type": "Homework"}, "GRADE_CUTOFFS": [0.5]})
    assert result.course.grading_policy.graders == []
    assert result.course.grading_policy.grade_cutoffs == {}
    assert result.warnings == [
        "grading policy: GRADER is not a list; no assignment types",
        "grading policy: GRADE_CUTOFFS is not an object; no cutoffs",
    ]


def test_each_bad_grader_entry_is_skipped_with_its_index_and_the_good_ones_kept():
    result = imported(
        grading={
            "GRADER": [
                "Homework",
                {"type": "Quiz", "weight": 0.2},
                {"type": "Lab", "min_count": "many", "weight": 0.2},
                {"type": "Lab", "min_count": -1, "weight": 0.2},
                {"type": "Final", "min_count": 1, "weight": 0.8, "colour": "red", "hide_average": True},
                {"min_count": 2},
            ],
            "GRADE_CUTOFFS": {"A": 0.9, "B": "0.8", "C": "high", "D": 1.5, "E": None},
        }
    )
    graders = result.course.grading_policy.graders
    assert [(g.type, g.min_count, g.drop_count, g.weight) for g in graders] == [("Final", 1, 0, 0.8)]
    # text that reads as a number is a number; the rest is dropped
    assert result.course.grading_policy.grade_cutoffs == {"A": 0.9, "B": 0.8}
    assert result.warnings[:3] == [
        "grading policy: GRADER[0]: not an object; skipped",
        "grading policy: GRADER[1] ('Quiz'): no min_count (configuration error); skipped",
        "grading policy: GRADER[2]: invalid entry (invalid literal for int() with base 10: 'many'); skipped",
    ]
    # a negative count fails the model's bound (pydantic words the reason): the entry goes
    assert result.warnings[3].startswith("grading policy: GRADER[3]: invalid entry (")
    assert result.warnings[4:7] == [
        "grading policy: GRADER[4]: unknown keys ['colour'] dropped",  # hide_average is a display key
        "grading policy: GRADER[5]: invalid entry ('type'); skipped",
        "grading policy: cutoff 'C' = 'high' is not a number from 0 to 1; skipped",
    ]
    assert result.warnings[7:9] == [
        "grading policy: cutoff 'D' = 1.5 is not a number from 0 to 1; skipped",
        "grading policy: cutoff 'E' = None is not a number from 0 to 1; skipped",
    ]


def test_a_course_policy_overrides_the_grading_file_and_broken_files_are_ignored():
    # grading_policy.json broken: ignored; the course policy's grading_policy and cutoffs apply
    result = imported(
        grading="{not json",
        policy={
            "course/run": {
                "grading_policy": {
                    "GRADER": [{"type": "Exam", "min_count": 2, "drop_count": 1, "weight": 1}]
                },
                "GRADE_CUTOFFS": {"Pass": 0.6},
            }
        },
    )
    assert [(g.type, g.min_count, g.drop_count, g.weight) for g in result.course.grading_policy.graders] == [
        ("Exam", 2, 1, 1.0)
    ]
    assert result.course.grading_policy.grade_cutoffs == {"Pass": 0.6}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("policies/run/grading_policy.json: invalid JSON (")
    assert result.warnings[0].endswith("); ignored")

    result = imported(grading=["Homework"])
    assert result.warnings[0] == "policies/run/grading_policy.json: expected a JSON object; ignored"
    assert result.course.grading_policy.graders[0].type == "Homework"  # Open edX's defaults


# ---- group configurations ----------------------------------------------------------------------
def partition(pid: Any, name: str, *groups: tuple[int, str], **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": name, "groups": [{"id": g, "name": n} for g, n in groups], **extra}


def test_bad_group_configurations_are_skipped_and_the_first_of_an_id_kept():
    result = imported(
        policy={
            "course/run": {
                "user_partitions": [
                    partition(50, "Experiment", (0, "A"), (1, "B")),
                    partition("fifty", "Bad id"),
                    {"name": "No id"},
                    "not an object",
                    partition(51, "Old", (0, "X"), active=False),
                    partition(50, "Again", (0, "C")),
                    partition(52, "Content", (7, "Blue"), scheme={"name": "cohort"}),
                    {"id": 53, "groups": [{"id": 1}]},
                ]
            }
        }
    )
    partitions = {p.id: p for p in result.course.user_partitions}
    assert sorted(partitions) == [50, 52, 53]
    assert partitions[50].name == "Experiment" and partitions[50].scheme == "random"
    assert [(g.id, g.name) for g in partitions[50].groups] == [(0, "A"), (1, "B")]
    assert partitions[52].scheme == "cohort"  # written as an object by some exports
    assert partitions[53].name == "53" and [(g.id, g.name) for g in partitions[53].groups] == [(1, "1")]
    assert result.warnings == [
        "course: user_partitions[1]: invalid "
        "(ValueError(\"invalid literal for int() with base 10: 'fifty'\")); skipped",
        "course: user_partitions[2]: invalid (KeyError('id')); skipped",
        "course: user_partitions[3]: invalid "
        "(AttributeError(\"'str' object has no attribute 'get'\")); skipped",
        "course: user_partitions[4] ('Old'): inactive; ignored",
        "course: user_partitions[5]: id 50 is used twice; only the first is kept",
    ]


@pytest.mark.parametrize(
    ("value", "warning"),
    [
        ("[{broken", "course: user_partitions: not valid JSON; ignored"),
        ({"id": 50}, "course: user_partitions is not a list; ignored"),
    ],
)
def test_user_partitions_that_are_not_a_list_are_ignored(value, warning):
    result = imported(policy={"course/run": {"user_partitions": value}})
    assert result.course.user_partitions == []
    assert result.warnings == [warning]


def test_user_partitions_written_as_json_text_in_the_course_xml_are_read():
    text = json.dumps([partition(50, "Experiment", (0, "A"))]).replace('"', "&quot;")
    body = f'<course display_name="Policy test" user_partitions="{text}"><chapter url_name="ch1"/></course>'
    result = imported(body=body)
    assert [(p.id, p.name) for p in result.course.user_partitions] == [(50, "Experiment")]
    assert result.warnings == []


def test_group_access_keeps_valid_restrictions_and_warns_about_the_rest():
    result = imported(
        policy={
            "course/run": {"user_partitions": [partition(50, "Experiment", (0, "A"), (1, "B"))]},
            "chapter/ch1": {"group_access": {"50": [1], "x": [2], "60": [0], "51": "ab", "52": None}},
        }
    )
    chapter = result.course.blocks["ch1"]
    # an unknown configuration is kept on the block (it restricts nobody) after its warning
    assert chapter.group_access == {50: [1], 60: [0], 52: []}
    assert result.warnings == [
        "chapter/ch1: group_access 'x': [2] is not valid; ignored",
        "chapter/ch1: group_access names group configuration 60, which the course does not define; "
        "the restriction is ignored",
        "chapter/ch1: group_access '51': 'ab' is not valid; ignored",
        "chapter/ch1: group_access names group configuration 52, which the course does not define; "
        "the restriction is ignored",
    ]


def test_group_access_written_as_broken_json_text_is_ignored():
    result = imported(policy={"chapter/ch1": {"group_access": "{50: [1]"}})
    assert result.course.blocks["ch1"].group_access == {}
    assert result.warnings == ["chapter/ch1: group_access: not valid JSON; ignored"]


SPLIT_BODY = (
    '<course display_name="Policy test"><chapter url_name="ch1">'
    '<sequential url_name="s1"><split_test url_name="sp" user_partition_id="{pid}" '
    "group_id_to_child='{mapping}'>"
    '<vertical url_name="va" display_name="A"/><vertical url_name="vb" display_name="B"/>'
    "</split_test></sequential></chapter></course>"
)


def split_course(pid: str, mapping: str):
    return imported(
        body=SPLIT_BODY.format(pid=pid, mapping=mapping),
        policy={"course/run": {"user_partitions": [partition(50, "Experiment", (0, "A"), (1, "B"))]}},
    )


def test_a_split_test_maps_each_group_to_one_of_its_own_children():
    mapping = json.dumps(
        {
            "0": "block-v1:TestX+C1+run+type@vertical+block@va",
            "1": "vb",
            "2": "block-v1:TestX+C1+run+type@vertical+block@elsewhere",
            "three": "va",
        }
    )
    result = split_course("50", mapping)
    split = result.course.blocks["sp"]
    assert split.children == ["va", "vb"]
    assert split.split_partition == 50
    assert split.split_children == {0: "va", 1: "vb"}
    assert result.warnings == [
        "split_test/sp: group 2 shows elsewhere, which is not one of its children",
        "split_test/sp: group id 'three' is not a number; ignored",
    ]


@pytest.mark.parametrize(("pid", "shown"), [("-1", "'-1'"), ("abc", "'abc'"), ("70", "'70'")])
def test_a_split_test_without_a_known_configuration_shows_all_its_children(pid, shown):
    result = split_course(pid, "{}")
    split = result.course.blocks["sp"]
    assert split.split_partition is None and split.split_children == {}
    assert split.children == ["va", "vb"]
    assert result.warnings == [
        f"split_test/sp: split_test without a known group configuration ({shown}); "
        "every learner sees all of its children"
    ]


def test_a_split_test_mapping_that_is_not_json_maps_nobody():
    result = split_course("50", "not json")
    assert result.course.blocks["sp"].split_children == {}
    assert result.warnings == ["split_test/sp: group_id_to_child: not valid JSON; ignored"]


# ---- field values ------------------------------------------------------------------------------
def test_flags_weights_and_dates_that_do_not_parse_are_ignored_with_a_warning():
    body = (
        '<course display_name="Policy test" start="soon" end="2030-01-02T03:04:05">'
        '<chapter url_name="ch1"><sequential url_name="s1" graded="True" format="Homework">'
        '<vertical url_name="v1" visible_to_staff_only="perhaps">'
        '<problem url_name="p1" weight="heavy"><p/></problem>'
        '<problem url_name="p2" weight="-1"><p/></problem>'
        '<problem url_name="p3" weight=" none "><p/></problem>'
        "</vertical></sequential>"
        '<sequential url_name="s2" graded="maybe"/></chapter></course>'
    )
    result = imported(body=body)
    blocks = result.course.blocks
    assert blocks["s1"].graded is True  # "True" as text is a boolean
    assert blocks["s2"].graded is None
    assert blocks["v1"].visible_to_staff_only is False
    assert [blocks[p].weight for p in ("p1", "p2", "p3")] == [None, None, None]
    assert result.course.start is None
    assert result.course.end is not None and result.course.end.isoformat() == "2030-01-02T03:04:05+00:00"
    # a block's own fields are read after its children's (the tree is built bottom-up)
    assert result.warnings[:5] == [
        "problem/p1: weight: 'heavy' is not a number; ignored",
        "problem/p2: weight: '-1' is not a finite number from 0 to 1e+09; ignored",
        "vertical/v1: visible_to_staff_only: 'perhaps' is not a boolean; ignored",
        "sequential/s2: graded: 'maybe' is not a boolean; ignored",
        "course: start: 'soon' is not a date; ignored",
    ]


def test_missing_and_broken_block_files_keep_the_block_and_say_so():
    body = (
        '<course display_name="Policy test"><chapter url_name="ch1"/><chapter url_name="ch2"/>'
        '<chapter url_name="ch3"/><chapter url_name="ch1"/></course>'
    )
    result = imported(
        body=body,
        extra={"chapter/ch2.xml": "<chapter display_name='Broken'"},
        policy={"chapter/ch1": "hidden"},
    )
    assert result.course.root == "run"
    root = result.course.blocks["run"]
    assert root.children == ["ch1", "ch2", "ch3"]  # the second ch1 is dropped
    assert result.warnings[0] == "policy chapter/ch1: expected an object; ignored"
    assert result.warnings[1].startswith("chapter/ch2.xml: invalid XML (")
    assert result.warnings[1].endswith("); block kept without its content")
    assert result.warnings[2:4] == [
        "chapter/ch3.xml: file is missing",
        "chapter/ch1: duplicate block id; only its first use is kept",
    ]


# ---- what refuses the archive ------------------------------------------------------------------
def test_a_course_whose_body_file_is_missing_is_refused():
    files = course_files()
    del files["course/run.xml"]
    with pytest.raises(OlxError, match=r"^course/run\.xml is missing or invalid$"):
        import_course(archive(files))


def test_a_course_whose_names_make_no_course_key_is_refused():
    files = course_files()
    files["course.xml"] = '<course url_name="run" org="Test X" course="C1"/>'
    with pytest.raises(OlxError) as raised:
        import_course(archive(files))
    assert str(raised.value) == (
        "course.xml's org, course and url_name make no course key: 'Test X', 'C1', 'run'"
    )


def test_a_course_written_inline_in_course_xml_needs_no_body_file():
    files = course_files()
    del files["course/run.xml"]
    files["course.xml"] = (
        '<course url_name="run" org="TestX" course="C1" display_name="Inline">'
        '<chapter url_name="ch1"/></course>'
    )
    result = import_course(archive(files))
    assert result.course.course_id == "course-v1:TestX+C1+run"
    assert result.course.display_name == "Inline"
    assert result.course.blocks["run"].children == ["ch1"]
    assert result.course.blocks["ch1"].display_name == "Week 1"
    assert result.warnings == []
