"""Scores of scored blocks other than CAPA (ORA, LTI, drag and drop) count in every grade exactly as a
CAPA score of the same points does (issue #15.1), loaded through the API as ``block_scores``.

The course (tests/fixtures/olx/scored_blocks_course), one graded Homework subsection, weight 1.0,
cutoff Pass 0.5:

    mc    CAPA multiple choice, raw max 1, weight 2      -> counts 2 points
    ora1  open response, rubric best options 3 + 2       -> 5 points
    lti1  LTI consumer, has_score, weight 2              -> 2 points
    dnd1  drag and drop, weight 1 (default)              -> 1 point
                                                          possible: 10 for every learner

Worked out by hand (subsection percent = earned / 10; course percent rounded to whole percents):

    401  mc 1/1 (2 of 2)                                 2 / 10 -> 0.2
    402  lti 2/2                                         2 / 10 -> 0.2   (the same points as 401's CAPA)
    403  ora 2/5                                         2 / 10 -> 0.2   (idem)
    404  mc 0/1, ora 4/5, lti 1.5/2, dnd 1/1   0 + 4 + 1.5 + 1 = 6.5 / 10 -> 0.65 Pass
    405  enrolled by the state load, nothing scored      0 / 10 -> 0.0
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from functions.dal.course_repo import CourseRepository
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.course import ProblemScore
from functions.models.tasks import TaskState
from tests.helpers.olx import export_of

COURSE = "course-v1:ScoreX+Blocks101+2026"
PATH = "/courses/" + quote(COURSE, safe="")
ATTEMPTED = "2026-02-01T10:00:00+00:00"


def key(category: str, block: str) -> str:
    return f"block-v1:ScoreX+Blocks101+2026+type@{category}+block@{block}"


def line(user_id: int, **fields) -> str:
    return json.dumps({"user_id": user_id, **fields})


def person(user_id: int) -> dict[str, str]:
    return {"username": f"learner{user_id}", "email": f"learner{user_id}@example.org"}


@pytest.fixture
def course(stack):
    status, summary = stack.api(
        "POST", "/admin/courses/import", "admin", raw_body=export_of("scored_blocks_course")
    )
    assert (status, summary["course_id"], summary["warnings"]) == (201, COURSE, []), summary
    states = [
        line(401, problem="mc", earned=1.0, possible=1.0, first_attempted=ATTEMPTED, **person(401)),
        line(404, problem="mc", earned=0.0, possible=1.0, first_attempted=ATTEMPTED, **person(404)),
        line(405, problem="mc", attempts=0, **person(405)),
    ]
    status, body = stack.api("POST", f"{PATH}/data/state", "admin", raw_body="\n".join(states).encode())
    assert status == 200, body
    return stack


def grade(stack) -> dict[int, dict[str, str]]:
    status, body = stack.api("POST", f"{PATH}/tasks", "admin", {"task_type": "grade_course"})
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    name = json.loads(task.task_output)["report_name"]
    rows = decode_rows(
        b"".join(ObjectStore(stack.settings).iter_bytes(reports.report_key(stack.settings, COURSE, name)))
    )
    return {int(row[0]): dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_ora_lti_and_drag_and_drop_scores_count_as_capa_scores_do(course):
    stack = course
    scores = [
        line(
            402,
            block=key("lti_consumer", "lti1"),
            earned=2.0,
            possible=2.0,
            first_attempted=ATTEMPTED,
            **person(402),
        ),
        line(403, block="ora1", earned=2.0, possible=5.0, first_attempted=ATTEMPTED, **person(403)),
        "",  # blank lines are allowed (and counted in line numbers)
        line(404, block=key("openassessment", "ora1"), earned=4.0, possible=5.0, first_attempted=ATTEMPTED),
        line(404, block="lti1", earned=1.5, possible=2.0, first_attempted=ATTEMPTED),
        line(404, block=key("drag-and-drop-v2", "dnd1"), earned=1, possible=1, first_attempted=ATTEMPTED),
    ]
    status, summary = stack.api(
        "POST", f"{PATH}/data/block_scores", "admin", raw_body="\n".join(scores).encode()
    )
    assert (status, summary["scores"], summary["learners"], summary["blocks"], summary["enrolled"]) == (
        200, 5, 3, 3, 2,
    ), summary  # fmt: skip
    rows = grade(stack)
    assert {user: row["Grade"] for user, row in rows.items()} == {
        401: "0.2",
        402: "0.2",
        403: "0.2",
        404: "0.65",
        405: "0.0",
    }
    assert {user: row["Homework"] for user, row in rows.items()} == {
        401: "0.2",
        402: "0.2",
        403: "0.2",
        404: "0.65",
        405: "Not Attempted",  # upstream's cell for a subsection the learner never attempted
    }
    assert rows[402]["Username"] == "learner402"


def test_a_bad_block_scores_line_anywhere_leaves_nothing_written(course):
    stack = course
    good = line(402, block="lti1", earned=1.0, possible=2.0, **person(402))
    refusals = {
        "notes": "line 2: notes is not a scored block of course-v1:ScoreX+Blocks101+2026",
        "mc": "line 2: mc is a problem: load its state (kind state)",
        "nope": "line 2: nope is not a block of course-v1:ScoreX+Blocks101+2026",
    }
    for block, message in refusals.items():
        body = "\n".join([good, line(404, block=block, earned=1.0, possible=1.0), good.replace("402", "406")])
        status, answer = stack.api("POST", f"{PATH}/data/block_scores", "admin", raw_body=body.encode())
        assert (status, answer["error"]) == (400, message)
    for bad, message in [
        (line(404, block="ora1", earned=6.0, possible=5.0), "earned is more than possible"),
        (line(404, block="ora1", earned="4", possible=5.0), "valid number"),
        (line(999, block="ora1", earned=1.0, possible=5.0), "user 999 is not enrolled"),
        (line(404, block="ora1", earned=1.0, possible=5.0) + "\n"
         + line(404, block="ora1", earned=2.0, possible=5.0), "also on line 2"),
    ]:  # fmt: skip
        status, answer = stack.api(
            "POST", f"{PATH}/data/block_scores", "admin", raw_body=f"{good}\n{bad}".encode()
        )
        assert status == 400 and message in answer["error"], answer
    # Nothing of any refused load is visible: 402 and 406 are not enrolled, 404 has its CAPA score only
    courses = CourseRepository(stack.settings)
    assert courses.get_enrollments(COURSE, {402, 406}) == {}
    assert [set(learner.scores) for learner in courses.read_learners(COURSE, [404])] == [{"mc"}]
    # Only global staff load data
    status, _ = stack.api("POST", f"{PATH}/data/block_scores", "instructor", raw_body=good.encode())
    assert status == 403


def test_a_repeated_or_late_block_score_never_overwrites_a_newer_one(course):
    stack = course
    courses = CourseRepository(stack.settings)

    def send(*lines: str) -> dict:
        status, summary = stack.api(
            "POST", f"{PATH}/data/block_scores", "admin", raw_body="\n".join(lines).encode()
        )
        assert status == 200, summary
        return summary

    def stored() -> tuple[float, float]:
        score = courses.read_learners(COURSE, [404])[0].scores["lti1"]
        return score.earned, score.possible

    # Given learner 404's LTI score at the source's version 200
    assert send(line(404, block="lti1", earned=1.0, possible=2.0, source_version=200))["stale"] == 0
    assert stored() == (1.0, 2.0)
    # When the same change comes again, and an older one late, Then neither changes the score
    for version, earned in ((200, 1.0), (100, 0.0)):
        summary = send(
            line(404, block=key("lti_consumer", "lti1"), earned=earned, possible=2.0, source_version=version)
        )
        assert (summary["scores"], summary["stale"]) == (0, 1), summary
        assert stored() == (1.0, 2.0)
    # When one file holds two changes of the score out of order, Then the newer wins
    summary = send(
        line(404, block="lti1", earned=2.0, possible=2.0, source_version=300),
        line(404, block="lti1", earned=0.5, possible=2.0, source_version=250),
        line(402, block="lti1", earned=0.5, possible=2.0, source_version=250, **person(402)),
    )
    assert (summary["scores"], summary["stale"], summary["learners"]) == (2, 0, 2), summary
    assert stored() == (2.0, 2.0)
    # and a change that reaches the sheet after a newer one (a journal applied late, or another
    # writer first) is refused by the sheet's own check too
    courses.update_many_scores(
        COURSE, {404: {"lti1": ProblemScore(earned=0.0, possible=2.0, source_version=299)}}
    )
    courses.update_scores(COURSE, 404, {"lti1": ProblemScore(earned=0.0, possible=2.0, source_version=300)})
    assert stored() == (2.0, 2.0)
    # When a snapshot line (no version) comes, Then it is applied, as snapshots always are
    assert send(line(404, block="lti1", earned=0.0, possible=2.0))["stale"] == 0
    assert stored() == (0.0, 2.0)
    # and a versioned line without a version among its lines is refused (which one is newer?)
    status, answer = stack.api(
        "POST",
        f"{PATH}/data/block_scores",
        "admin",
        raw_body="\n".join(
            [
                line(404, block="lti1", earned=1.0, possible=2.0, source_version=400),
                line(404, block="lti1", earned=1.0, possible=2.0),
            ]
        ).encode(),
    )
    assert (status, answer["error"]) == (400, "line 2: user 404's score on lti1 is also on line 1")
