"""Importing the repository's fixture courses: group configurations, split tests, content groups,
large static files, and the warnings that say what would go wrong in the grades."""

from __future__ import annotations

import io
import json
import tarfile

from functions.logic import grading
from functions.logic.olx import MAX_TEXT_BYTES, import_course
from functions.models.course import PartitionGroup, UserPartition
from tests.helpers.olx import FIXTURES, export_of


def test_group_configurations_split_tests_and_content_groups_are_imported():
    imported = import_course(export_of("experiment_course"))
    course = imported.course
    assert imported.warnings == []
    assert course.user_partitions == [
        UserPartition(
            id=50,
            name="Hint experiment",
            scheme="random",
            groups=[PartitionGroup(id=0, name="Group A"), PartitionGroup(id=1, name="Group B")],
        ),
        UserPartition(
            id=60, name="Content groups", scheme="cohort", groups=[PartitionGroup(id=7, name="Night owls")]
        ),
    ]
    assert [partition.name for partition in course.experiment_partitions] == ["Hint experiment"]
    split = course.blocks["exp"]
    assert (split.category, split.children, split.split_partition) == ("split_test", ["arm_a", "arm_b"], 50)
    assert split.split_children == {0: "arm_a", 1: "arm_b"}  # from block-v1 and i4x locations alike
    assert course.blocks["owl"].group_access == {60: [7]}  # from policy.json


def test_grading_sees_each_groups_problems():
    context = grading.build_context(import_course(export_of("experiment_course")).course)
    homework_one = context.subsections[0]
    visible = {
        name: [p.id for p in homework_one.problems if p.visible_to(groups)]
        for name, groups in {"A": {50: 0}, "B": {50: 1}, "none": {}, "unfiltered": None}.items()
    }
    assert visible == {
        "A": ["common1", "a1", "a2"],
        "B": ["common1", "b1"],
        "none": ["common1"],
        "unfiltered": ["common1", "a1", "a2", "b1"],
    }


def test_warnings_say_what_would_go_wrong_in_the_grades():
    policy = json.loads((FIXTURES / "experiment_course/policies/2026/policy.json").read_text())
    policy["problem/hw2p"] = {"weight": 0}
    policy["split_test/exp"] = {"group_id_to_child": {"0": "arm_a", "1": "arm_a"}}  # arm_b: nobody
    policy["problem/common1"] = {"group_access": {"99": [1]}}  # a configuration the course lacks
    grading_policy = {"GRADER": [{"type": "Homework", "min_count": 2, "weight": 1.0}]}
    imported = import_course(
        export_of(
            "experiment_course",
            {
                "policies/2026/policy.json": json.dumps(policy).encode(),
                "policies/2026/grading_policy.json": json.dumps(grading_policy).encode(),
                "problem/orphan.xml": b"<problem><stringresponse answer='a'><textline/>"
                b"</stringresponse></problem>",
            },
        )
    )
    assert imported.warnings == [
        "problem/common1: group_access names group configuration 99, which the course does not define; "
        "the restriction is ignored",
        "grading: 1 graded subsection(s) of format 'Final Exam' (final) match no assignment type of the "
        "grading policy (Homework): their problems count for nothing in the course grade",
        "1 problem file(s) are not in the course tree and can never be reached or graded: orphan",
        "1 problem(s) in graded subsections are shown to no group of their group configuration, so no "
        "learner can reach them: b1",
        "1 problem(s) in graded subsections have weight 0 and add nothing to the grade: hw2p",
    ]


def test_the_default_grading_policy_is_announced():
    imported = import_course(export_of("python_course", {"policies/2026/grading_policy.json": b"{}"}))
    assert imported.warnings[0].startswith("grading policy: the export has no GRADER list")
    assert "graded subsection(s) of format 'Homework'" not in " ".join(imported.warnings)  # Homework exists


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, produced as they are read (the test never holds them in memory)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = min(len(buffer), self.left)
        buffer[:count] = b"\0" * count
        self.left -= count
        return count


def test_static_files_are_never_read_however_large():
    """A static .json larger than everything the importer may read is skipped, not counted or parsed."""
    size = MAX_TEXT_BYTES + 1024 * 1024
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(FIXTURES / "python_course", arcname="course")
        info = tarfile.TarInfo("course/static/dataset.json")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), buffer_size=1 << 20))
    imported = import_course(buffer.getvalue())
    # Counted, it would exceed the XML/JSON budget; parsed, the fixture's own
    # static/not-course-data.json (not JSON at all) would be a warning.
    assert imported.course.course_id == "course-v1:TestX+PY101+2026"
    assert len(imported.problems) == 6 and imported.warnings == []
