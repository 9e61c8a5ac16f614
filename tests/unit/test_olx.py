"""OLX import: the real Open edX demo course export, and small hand-made archives for the edge cases."""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from datetime import UTC, datetime

import pytest

from functions.logic.olx import OlxError, import_course, import_course_file
from functions.models.content import ImportedCourse
from functions.models.course import DEFAULT_GRADERS, Block, Course, GraderEntry
from tests.helpers.fixtures import DEMO_COURSE_EXPORT

FIXTURE = DEMO_COURSE_EXPORT  # in the repository: a missing fixture fails, never skips


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def make_archive(files: dict[str, str], top: str = "course") -> bytes:
    """A .tar.gz holding ``files`` (path -> text) under the folder ``top`` ("" = archive root)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{path}" if top else path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def reachable(course: Course) -> list[Block]:
    """Blocks in document order, walking children from the root."""
    found: list[Block] = []

    def walk(block_id: str) -> None:
        block = course.blocks[block_id]
        found.append(block)
        for child in block.children:
            walk(child)

    walk(course.root)
    return found


def names(course: Course, ids: list[str]) -> list[str]:
    return [course.blocks[block_id].display_name for block_id in ids]


# ---------------------------------------------------------------------------------------------
# the demo course
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo() -> ImportedCourse:
    return import_course_file(FIXTURE)


def test_demo_course_identity_and_settings(demo):
    course = demo.course
    assert course.course_id == "course-v1:OpenedX+DemoX+DemoCourse"
    assert course.root == "DemoCourse"
    assert course.display_name == "Open edX Demo Course"
    root = course.blocks["DemoCourse"]
    assert root.category == "course"
    assert root.display_name == "Open edX Demo Course"
    # The policy has no end or certificate settings: the model's defaults stay.
    assert course.end is None
    assert course.certificate_available_date is None
    assert course.certificates_display_behavior == "end"
    assert demo.warnings == []


def test_demo_course_block_counts(demo):
    blocks = demo.course.blocks
    assert Counter(block.category for block in blocks.values()) == {
        "course": 1,
        "chapter": 6,
        "sequential": 17,
        "vertical": 58,
        "problem": 29,  # 23 in units + 6 inside the randomized library_content block
        "html": 266,
        "video": 11,
        "openassessment": 2,
        "lti": 2,
        "library_content": 1,
        "drag-and-drop-v2": 1,
        "edx_sga": 1,
        "staffgradedxblock": 1,
        "done": 1,
        "annotatable": 1,
        "discussion": 1,
        "poll": 1,
        "survey": 1,
    }
    assert len(blocks) == 401
    # Every block hangs from the root exactly once, and the wiki setting is not a block.
    walked = reachable(demo.course)
    assert len(walked) == len({block.id for block in walked}) == len(blocks)
    assert all(block_id in blocks for block in blocks.values() for block_id in block.children)


def test_demo_course_chapters_in_order(demo):
    course = demo.course
    assert names(course, course.blocks[course.root].children) == [
        "Module 1: Dive into the Open edX® platform!",
        "Module 2: Crafting Captivating Content",
        "Module 3: Ace the Assessments!",
        "Module 4: Social Learning: Engaging Through Interaction",
        "Module 5: Your Open edX Community",
        "Conclusion",
    ]


def test_demo_course_subsections_and_their_grading_fields(demo):
    course = demo.course
    module_3 = course.blocks["d6780558bc3042c7ab6dd441a06d3478"]
    assert names(course, module_3.children) == [
        "Summary",
        "Basic Assessment Tools",
        "Intermediate  Assessment Tools",  # the export's double spaces are kept as written
        "Advanced  Assessment Tools",
        "Specialty Assessment Tools",
    ]
    module_1 = course.blocks["30b3fbb840024953b2d4b2e700a53002"]
    assert names(course, module_1.children) == [
        "Introduction to the Open edX® platform",
        "The Structure of the Open edX® platform",
    ]
    assert course.blocks["f5ac527b7c4c4684a5df6da5aa6f8a7b"].display_name == "Cohorts, Content Groups & Teams"
    sequentials = {block.id: block for block in course.blocks.values() if block.category == "sequential"}
    graded = {
        (block.display_name, block.format, block.graded) for block in sequentials.values() if block.graded
    }
    assert graded == {
        ("Basic Assessment Tools", "Basic Assessment Tools", True),
        ("Intermediate  Assessment Tools", "Intermediate Assessment Tools", True),
        ("Advanced  Assessment Tools", "Advanced Assessment Tools", True),
    }
    others = [block for block in sequentials.values() if not block.graded]
    assert len(others) == 14
    assert all(block.format is None and block.graded is None for block in others)
    assert not any(block.visible_to_staff_only for block in course.blocks.values())


def test_demo_course_problems(demo):
    course = demo.course
    problems = {block.id: block for block in course.blocks.values() if block.category == "problem"}
    assert set(problems) == set(demo.problems)
    expected = {
        "870b16e640d541af94a308caac834d2e": ("Basic Multiple Choice", 1.0),
        "b1ddf9b3553941cfa55b3cc8a56ab1a0": ("Multi-Select Multiple Choice Problem", 1.0),
        "c89f56c74a3a424dbffb665d4643b42f": ("Simple Dropdown", 1.0),
        "85f3f7f9b72548af880975112f27817c": ("Advanced Dropdown", 8.0),
        "3b8100660f3947c198e0a9b35f7c6cf6": ("Simple Numerical Input Problem", 1.0),
        "3e5a945f54374fc7ababadc080660f2d": ("Basic text input", 1.0),
        "ced178178f4440e08f15a408ea14cbf1": ("Advanced Numerical Problem with Fractions and Constants", 2.0),
        "53083a812536472ba8ea8182ee354363": ("Advanced Custom Python-Evaluated Input Problem", 4.0),
        "0895f1b6c0b329e50b90": ("", 1.0),  # library problems carry no display name
    }
    for problem_id, (display_name, max_score) in expected.items():
        assert problems[problem_id].display_name == display_name
        assert problems[problem_id].max_score == max_score
        assert demo.problems[problem_id].display_name == display_name
    assert problems["720cac326b684155b4845d32af4aeef0"].weight == 1.0  # weight="1.0" on <problem>
    assert sum(1 for block in problems.values() if block.weight is None) == 28
    assert sum(block.max_score or 0 for block in problems.values()) == 40  # 26 x 1 + 8 + 2 + 4
    rescorable = sorted(problem_id for problem_id, problem in demo.problems.items() if problem.rescorable)
    assert len(rescorable) == 26  # 20 graded in-process, 6 by running their Python in the sandbox
    assert sum(1 for problem in demo.problems.values() if problem.needs_sandbox) == 5
    assert Counter(t for problem in demo.problems.values() for t in problem.problem_types) == {
        "multiplechoiceresponse": 9,
        "choiceresponse": 2,
        "optionresponse": 2,
        "numericalresponse": 4,
        "stringresponse": 4,
        "customresponse": 4,
        "formularesponse": 1,
        "imageresponse": 1,
        "annotationresponse": 1,
        "schematicresponse": 1,
    }


def test_demo_course_randomized_library_content_keeps_its_problems(demo):
    library = next(block for block in demo.course.blocks.values() if block.category == "library_content")
    assert library.id == "34a4d5e71d974c029cbde1956bd7c820"
    assert library.children == [
        "0895f1b6c0b329e50b90",
        "fa55e7ce7a529c3aadf2",
        "73ccaa75b5b6036b48fd",
        "8a4f31060c1f666f9d75",
        "c4f36f420bea1c8fb6a8",
        "861cd64b013d1addc68f",
    ]


def test_demo_course_unsupported_blocks_stay_in_the_tree(demo):
    course = demo.course
    by_unit = {
        course.blocks[unit].display_name: [course.blocks[child] for child in course.blocks[unit].children]
        for unit in (block.id for block in course.blocks.values() if block.category == "vertical")
    }
    drag = next(block for block in by_unit["Drag-and-Drop"] if block.category == "drag-and-drop-v2")
    assert drag.display_name == "Drag and Drop"
    # Scored XBlocks count in the grades as upstream: drag and drop (weight 1), LTI with has_score
    # (weight 1), ORA (its rubric's best options summed); their scores load as block_scores.
    assert drag.max_score == 1.0 and drag.children == []
    assert [block.category for block in by_unit["Open Response Assessment (ORA)"]].count(
        "openassessment"
    ) == 1
    assert all(block.max_score == 1.0 for block in course.blocks.values() if block.category == "lti")
    assert any(block.display_name == "Poll: Open edX features" for block in by_unit["Polls"])
    lti = [block.display_name for blocks in by_unit.values() for block in blocks if block.category == "lti"]
    assert sorted(lti) == ["Code Grading Assessment via OpenJupyter (LTI)", "Codeboard.io LTI Demonstration"]
    assert any(block.category == "discussion" for block in by_unit["Introducing Discussions"])
    videos = [block for block in course.blocks.values() if block.category == "video"]
    assert all(block.children == [] for block in videos)  # <source>/<transcript> are not blocks
    assert course.blocks["078de40d92a54047b951a2e7a8e2a348"].display_name == (
        "The Reach of the Open edX Platform (2023)"
    )


def test_demo_course_grading_policy_matches_grading_policy_json(demo):
    policy = demo.course.grading_policy
    assert policy.graders == [
        GraderEntry(
            type="Basic Assessment Tools", short_label="Basic", min_count=1, drop_count=0, weight=0.3
        ),
        GraderEntry(
            type="Intermediate Assessment Tools",
            short_label="Intermediate",
            min_count=1,
            drop_count=0,
            weight=0.35,
        ),
        GraderEntry(
            type="Advanced Assessment Tools", short_label="Advanced", min_count=1, drop_count=0, weight=0.35
        ),
    ]
    assert policy.grade_cutoffs == {"Pass": 0.5}


def test_demo_course_reimport_is_identical(demo):
    again = import_course(FIXTURE.read_bytes())
    assert again == demo
    assert list(again.course.blocks) == list(demo.course.blocks)
    assert again.model_dump_json() == demo.model_dump_json()


# ---------------------------------------------------------------------------------------------
# hand-made archives
# ---------------------------------------------------------------------------------------------
COURSE_XML = '<course url_name="2026" org="TestX" course="T101"/>'
COURSE_BODY = """<course display_name="Test Course">
  <chapter url_name="ch1"/>
  <chapter url_name="ch2" display_name="Inline Week">
    <sequential url_name="seq2" display_name="Inline Homework" format="Homework" graded="true">
      <vertical url_name="v2" display_name="Unit">
        <problem url_name="inline_p" display_name="Inline Problem" weight="2">
          <multiplechoiceresponse>
            <choicegroup><choice correct="false">a</choice><choice correct="true">b</choice></choicegroup>
          </multiplechoiceresponse>
        </problem>
        <html display_name="No url_name">Hello</html>
        <drag-and-drop-v2 url_name="dnd" display_name="Drag me" weight="1"/>
        <vertical url_name="broken_v"/>
        <problem url_name="missing_p"/>
        <problem url_name="broken_p"/>
      </vertical>
    </sequential>
  </chapter>
  <wiki slug="TestX.T101.2026"/>
</course>"""
SMALL_FILES = {
    "course.xml": COURSE_XML,
    "course/2026.xml": COURSE_BODY,
    "chapter/ch1.xml": '<chapter display_name="XML Week"><sequential url_name="seq1"/></chapter>',
    "sequential/seq1.xml": '<sequential display_name="Lab One"><vertical url_name="v1"/></sequential>',
    "vertical/v1.xml": (
        '<vertical display_name="Lab unit"><problem url_name="p1"/><video url_name="vid"/></vertical>'
    ),
    "problem/p1.xml": """<problem display_name="Pointer Problem">
  <stringresponse answer="Paris"><textline/></stringresponse>
  <numericalresponse answer="3"><textline/></numericalresponse>
</problem>""",
    "video/vid.xml": '<video display_name="A video"><source src="x.mp4"/></video>',
    "vertical/broken_v.xml": '<vertical display_name="Broken"><html url_name="h"></vertical>',
    "problem/broken_p.xml": '<problem display_name="Broken problem"><choiceresponse></problem>',
    "policies/2026/policy.json": json.dumps(
        {
            "course/2026": {
                "display_name": "Policy Course Name",
                "end": "2026-12-31T00:00:00Z",
                "certificate_available_date": "2027-01-15T10:00:00+00:00",
                "certificates_display_behavior": "end_with_date",
            },
            "chapter/ch1": {"display_name": "Policy Week"},
            "sequential/seq1": {"format": "Lab", "graded": True},
            "problem/p1": {"weight": 4, "display_name": "Renamed Problem"},
            "vertical/v1": {"visible_to_staff_only": True},
        }
    ),
    "policies/2026/grading_policy.json": json.dumps(
        {
            "GRADER": [
                {"type": "Homework", "short_label": "HW", "min_count": 2, "drop_count": 1, "weight": 0.6},
                {"type": "Lab", "drop_count": 0, "weight": 0.2},
                {"type": "Final Exam", "min_count": 1, "colour": "blue", "hide_average": True},
            ],
            "GRADE_CUTOFFS": {"A": 0.9, "Pass": 0.6},
        }
    ),
}


@pytest.fixture(scope="module")
def small() -> ImportedCourse:
    return import_course(make_archive(SMALL_FILES))


def test_small_course_tree_mixes_inline_and_pointer_blocks(small):
    course = small.course
    assert course.course_id == "course-v1:TestX+T101+2026"
    assert course.root == "2026"
    assert course.blocks["2026"].children == ["ch1", "ch2"]  # <wiki> is a setting, not a block
    assert course.blocks["ch1"].children == ["seq1"]
    assert course.blocks["seq1"].children == ["v1"]
    assert course.blocks["v1"].children == ["p1", "vid"]
    assert course.blocks["ch2"].children == ["seq2"]
    unit = course.blocks["v2"].children
    assert unit[0] == "inline_p"
    assert unit[1].startswith("html_")  # an inline block without url_name gets a stable generated id
    assert unit[2:] == ["dnd", "broken_v", "missing_p", "broken_p"]
    assert course.blocks["seq2"].format == "Homework"
    assert course.blocks["seq2"].graded is True
    assert course.blocks["inline_p"].display_name == "Inline Problem"
    assert course.blocks["inline_p"].weight == 2.0
    assert course.blocks["inline_p"].max_score == 1.0
    assert course.blocks["p1"].max_score == 2.0
    assert course.blocks["vid"].display_name == "A video"
    assert course.blocks["vid"].children == []
    assert course.blocks["dnd"].category == "drag-and-drop-v2"
    assert course.blocks["dnd"].display_name == "Drag me"
    assert course.blocks["dnd"].weight is None  # weights are read for problems only
    assert small.problems["inline_p"].rescorable
    assert small.problems["p1"].problem_types == ["stringresponse", "numericalresponse"]
    assert [field.id for response in small.problems["p1"].responses for field in response.inputs] == [
        "p1_2_1",
        "p1_3_1",
    ]


def test_small_course_policy_overrides_the_xml(small):
    course = small.course
    assert course.display_name == "Policy Course Name"
    assert course.blocks["ch1"].display_name == "Policy Week"
    assert course.blocks["seq1"].format == "Lab"
    assert course.blocks["seq1"].graded is True
    assert course.blocks["p1"].display_name == "Renamed Problem"
    assert small.problems["p1"].display_name == "Renamed Problem"
    assert course.blocks["p1"].weight == 4.0
    assert course.blocks["v1"].visible_to_staff_only is True
    assert course.end == datetime(2026, 12, 31, tzinfo=UTC)
    assert course.certificate_available_date == datetime(2027, 1, 15, 10, tzinfo=UTC)
    assert course.certificates_display_behavior == "end_with_date"


def test_small_course_grading_policy_skips_entries_without_min_count(small):
    policy = small.course.grading_policy
    assert policy.graders == [
        GraderEntry(type="Homework", short_label="HW", min_count=2, drop_count=1, weight=0.6),
        GraderEntry(type="Final Exam", short_label=None, min_count=1, drop_count=0, weight=0.0),
    ]
    assert policy.grade_cutoffs == {"A": 0.9, "Pass": 0.6}
    assert any("GRADER[1]" in warning and "min_count" in warning for warning in small.warnings)
    assert any("GRADER[2]" in warning and "colour" in warning for warning in small.warnings)
    assert not any("hide_average" in warning for warning in small.warnings)  # a known display key


def test_small_course_broken_and_missing_files_are_warnings(small):
    course = small.course
    broken_unit = course.blocks["broken_v"]
    assert (broken_unit.category, broken_unit.children, broken_unit.display_name) == ("vertical", [], "")
    assert course.blocks["missing_p"].category == "problem"
    assert course.blocks["missing_p"].max_score is None
    assert course.blocks["broken_p"].max_score is None  # an unreadable problem is not scored
    assert small.problems["broken_p"].error is not None
    assert not small.problems["broken_p"].rescorable
    assert small.problems["missing_p"].error == "definition file missing"
    warnings = "\n".join(small.warnings)
    assert "vertical/broken_v.xml: invalid XML" in warnings
    assert "problem/broken_p.xml: invalid XML" in warnings
    assert "problem/missing_p.xml: file is missing" in warnings
    # and what these would do to grades is said too
    assert "graded subsection(s) of format 'Lab' (seq1) match no assignment type" in warnings
    assert "visible to staff only and count for no learner: p1" in warnings
    assert "cannot be read and are not scored" in warnings and "missing_p, broken_p" in warnings
    assert len(small.warnings) == 8


def test_small_course_is_deterministic(small):
    assert import_course(make_archive(SMALL_FILES)) == small


def test_course_at_archive_root_without_policies_uses_default_grading():
    files = {
        "course.xml": COURSE_XML,
        "course/2026.xml": '<course display_name="Bare"><chapter display_name="Only week"/></course>',
    }
    imported = import_course(make_archive(files, top=""))
    course = imported.course
    assert course.display_name == "Bare"
    assert course.grading_policy.graders == list(DEFAULT_GRADERS)
    assert course.grading_policy.grade_cutoffs == {"Pass": 0.5}
    (chapter,) = course.blocks[course.root].children
    assert course.blocks[chapter].display_name == "Only week"
    assert imported.warnings == [
        "grading policy: the export has no GRADER list (no grading_policy.json), so Open edX's default "
        "policy applies: Homework, Lab, Midterm Exam, Final Exam"
    ]


def test_duplicate_ids_and_bad_values_are_warnings():
    files = {
        "course.xml": COURSE_XML,
        "course/2026.xml": """<course display_name="Dup">
            <chapter url_name="c"><sequential url_name="s" graded="maybe"/></chapter>
            <chapter url_name="c"/>
        </course>""",
        "policies/2026/policy.json": json.dumps({"course/2026": {"end": "not a date"}}),
        "policies/2026/grading_policy.json": "{not json",
    }
    imported = import_course(make_archive(files))
    assert imported.course.blocks[imported.course.root].children == ["c"]
    assert imported.course.blocks["s"].graded is None
    assert imported.course.end is None
    assert imported.course.grading_policy.graders == list(DEFAULT_GRADERS)
    assert len(imported.warnings) == 5  # the last: the default policy applies


def test_course_policy_grading_policy_overrides_grading_policy_json():
    files = {
        "course.xml": COURSE_XML,
        "course/2026.xml": '<course display_name="Graded"/>',
        "policies/2026/grading_policy.json": json.dumps(
            {"GRADER": [{"type": "Homework", "min_count": 3}], "GRADE_CUTOFFS": {"Pass": 0.5}}
        ),
        "policies/2026/policy.json": json.dumps(
            {
                "course/2026": {
                    "grading_policy": {"GRADER": [{"type": "Exam", "min_count": 1, "weight": "1.0"}]},
                    "GRADE_CUTOFFS": {"B": 0.7, "C": "0.55"},
                }
            }
        ),
    }
    policy = import_course(make_archive(files)).course.grading_policy
    assert policy.graders == [GraderEntry(type="Exam", min_count=1, weight=1.0)]
    assert policy.grade_cutoffs == {"B": 0.7, "C": 0.55}


@pytest.mark.parametrize(
    "archive",
    [
        b"not an archive",
        make_archive(SMALL_FILES)[:200],  # truncated
        make_archive({"README": "no course here"}),
        make_archive({"course.xml": '<course url_name="2026"/>'}),  # no org / course
        make_archive({"course.xml": COURSE_XML}),  # no course body
        make_archive({"course.xml": "<course"}),
    ],
)
def test_unusable_archives_raise_olx_error(archive):
    with pytest.raises(OlxError):
        import_course(archive)


def test_scored_xblocks_have_their_maximum_from_the_olx():
    """ORA: the sum of each criterion's best option; LTI: its weight when it has a score, else not
    scored; drag and drop: its weight; any block saying has_score: its max_score or weight."""
    import xml.etree.ElementTree as ET

    from functions.logic import olx_scored

    warnings: list[str] = []
    ora = ET.fromstring(
        "<openassessment><rubric>"
        '<criterion><option points="0"/><option points="3"/><option points="1"/></criterion>'
        '<criterion><option points="2"/><option points="5"/></criterion>'
        "</rubric></openassessment>"
    )
    assert olx_scored.max_score("openassessment", ora, {}, warnings.append) == 8.0
    assert (
        olx_scored.max_score("openassessment", ET.fromstring("<openassessment/>"), {}, warnings.append)
        is None
    )
    assert warnings == ["open response assessment without a rubric: not scored"]
    lti = ET.fromstring("<lti_consumer/>")
    assert (
        olx_scored.max_score("lti_consumer", lti, {"has_score": "true", "weight": "2.5"}, warnings.append)
        == 2.5
    )
    assert (
        olx_scored.max_score("lti_consumer", lti, {"has_score": "false", "weight": "2.5"}, warnings.append)
        is None
    )
    assert olx_scored.max_score("lti", lti, {"has_score": "true"}, warnings.append) == 1.0
    assert olx_scored.max_score("drag-and-drop-v2", lti, {"weight": "4"}, warnings.append) == 4.0
    assert (
        olx_scored.max_score("my_xblock", lti, {"has_score": "True", "max_score": "7"}, warnings.append)
        == 7.0
    )
    assert olx_scored.max_score("video", lti, {}, warnings.append) is None
