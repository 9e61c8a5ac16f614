"""A course with an old-style ``Org/Number/Run`` id, end to end on moto: imported from an OLX export
(tests/fixtures/olx/old_style_course, whose course.xml gives org/course/url_name), learner state
loaded, graded and rescored through the api function and the real state machine.

    Homework   "Circuits": mc1 (1) + num1 (1)        weight 0.5
    Final Exam "Final":    mc2 (1)                   weight 0.5     cutoff Pass 0.5

Grades worked out by hand (stored scores; 302's mc1 answer is right but scored 0, 303's is wrong but
scored 1, as after a fixed answer key):

    301  HW (1+1)/2 = 1.0   Final 1   -> 1.0  Pass      after rescoring mc1: 1.0
    302  HW (0+0)/2 = 0.0   Final 0   -> 0.0            after: HW 0.5 -> 0.25
    303  HW (1+1)/2 = 1.0   Final 1   -> 1.0  Pass      after: HW 0.5 -> 0.75 Pass
    304  HW (1+0)/2 = 0.5   Final 0   -> 0.25           after: 0.25
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import pytest

from functions.dal.access_repo import AccessRepository
from functions.dal.clients import client
from functions.dal.object_store import ObjectStore
from functions.logic import reports
from functions.logic.csvfile import decode_rows
from functions.models.access import Role, RoleGrant
from functions.models.tasks import TaskState
from tests.helpers.olx import export_of

OLD = "MITx/6.002x/2012_Fall"
ENCODED = "/courses/" + quote(OLD, safe="")  # what a client sends: MITx%2F6.002x%2F2012_Fall
DECODED = "/courses/" + OLD  # what API Gateway hands the function after decoding %2F
ANSWERS = {  # user -> problem -> (answer, stored earned)
    301: {"mc1": ("choice_0", 1), "num1": ("5", 1), "mc2": ("choice_0", 1)},
    302: {"mc1": ("choice_0", 0), "num1": ("7", 0), "mc2": ("choice_1", 0)},
    303: {"mc1": ("choice_1", 1), "num1": ("5.02", 1), "mc2": ("choice_0", 1)},
    304: {"mc1": ("choice_0", 1)},
}


@pytest.fixture
def old_course(stack):
    # Given the export imported under its old-style id (global staff)
    status, summary = stack.api(
        "POST",
        "/admin/courses/import",
        "admin",
        raw_body=export_of("old_style_course"),
        query="course_id=" + quote(OLD, safe=""),
    )
    assert status == 201, summary
    assert (summary["course_id"], summary["problems"], summary["warnings"]) == (OLD, 3, [])
    # an instructor of that course, and a researcher of the whole org
    AccessRepository(stack.settings).grant("instructor", [RoleGrant(scope=OLD, role=Role.INSTRUCTOR)])
    AccessRepository(stack.settings).grant(
        "researcher", [RoleGrant(scope="org:MITx", role=Role.DATA_RESEARCHER)]
    )
    # and the learners' state, problems named three ways: i4x location, block-v1 key, block id
    names = {
        "mc1": "i4x://MITx/6.002x/problem/mc1",
        "num1": "block-v1:MITx+6.002x+2012_Fall+type@problem+block@num1",
    }
    lines = [
        json.dumps(
            {
                "user_id": user_id,
                "username": f"learner{user_id}",
                "email": f"learner{user_id}@example.org",
                "problem": names.get(problem, problem),
                "answers": {f"{problem}_2_1": answer},
                "attempts": 1,
                "earned": float(earned),
                "possible": 1.0,
                "first_attempted": "2012-10-01T12:00:00+00:00",
            }
        )
        for user_id, problems in ANSWERS.items()
        for problem, (answer, earned) in problems.items()
    ]
    status, body = stack.api("POST", f"{DECODED}/data/state", "admin", raw_body="\n".join(lines).encode())
    assert (status, body["course_id"], body["states"], body["learners"]) == (200, OLD, 10, 4), body
    return stack


def grade(stack, path_prefix: str) -> tuple[str, dict[int, dict[str, str]]]:
    status, body = stack.api("POST", f"{path_prefix}/tasks", "researcher", {"task_type": "grade_course"})
    assert status == 202, body
    assert body["course_id"] == OLD
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    name = json.loads(task.task_output)["report_name"]
    key = reports.report_key(stack.settings, OLD, name)
    rows = decode_rows(b"".join(ObjectStore(stack.settings).iter_bytes(key)))
    return name, {int(row[0]): dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_an_old_style_course_is_imported_loaded_graded_and_rescored(old_course):
    stack = old_course
    # When a researcher of the org grades it (the id percent-encoded, as clients send it)
    name, rows = grade(stack, ENCODED)
    # Then the report is named after org, number and run, in the SHA-1 directory of the id
    assert name.startswith("MITx_6.002x_2012_Fall_grade_report_") and name.endswith(".csv")
    directory = hashlib.sha1(OLD.encode()).hexdigest()
    assert (
        reports.report_key(stack.settings, OLD, name) == f"{stack.settings.reports_prefix}/{directory}/{name}"
    )
    # and its rows are the grades worked out by hand
    assert {user: row["Grade"] for user, row in rows.items()} == {
        301: "1.0",
        302: "0.0",
        303: "1.0",
        304: "0.25",
    }
    assert {user: row["Homework"] for user, row in rows.items()} == {
        301: "1.0",
        302: "0.0",
        303: "1.0",
        304: "0.5",
    }
    assert rows[302]["Username"] == "learner302" and rows[302]["Email"] == "learner302@example.org"
    # and it is listed for the course, whichever way the path carries the id
    for prefix in (ENCODED, DECODED):
        status, listing = stack.api("GET", f"{prefix}/reports", "researcher")
        assert status == 200 and [d["name"] for d in listing["downloads"]] == [name]

    # When the instructor previews a rescore of mc1 named by its block-v1 key
    status, body = stack.api(
        "POST",
        f"{DECODED}/tasks",
        "instructor",
        {
            "task_type": "rescore_problem",
            "input": {
                "problem_url": "block-v1:MITx+6.002x+2012_Fall+type@problem+block@mc1",
                "dry_run": True,
            },
        },
    )
    assert status == 202, body
    preview = json.loads(stack.wait(body["task_id"]).task_output)
    assert (preview["up"], preview["down"], preview["unchanged"]) == (1, 1, 2)

    # and rescores it for real, named by its i4x location (a queue listens to ScoreChanged)
    sqs = client("sqs", stack.settings.region)
    queue = sqs.create_queue(QueueName="old-scores")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = client("events", stack.settings.region)
    events.put_rule(
        Name="old-scores",
        EventBusName=stack.settings.event_bus_name,
        EventPattern=json.dumps({"source": ["itask"], "detail-type": ["ScoreChanged"]}),
    )
    events.put_targets(
        Rule="old-scores", EventBusName=stack.settings.event_bus_name, Targets=[{"Id": "q", "Arn": arn}]
    )
    status, body = stack.api(
        "POST",
        f"{ENCODED}/tasks",
        "instructor",
        {"task_type": "rescore_problem", "input": {"problem_url": "i4x://MITx/6.002x/problem/mc1"}},
    )
    assert status == 202, body
    task = stack.wait(body["task_id"])
    assert task.state is TaskState.SUCCESS, task.task_output
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["up"], output["down"]) == (4, 4, 1, 1)
    # Then the two changed scores were announced with the block's i4x location
    received = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        received += [json.loads(m["Body"])["detail"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    assert sorted((e["user_id"], e["usage_id"], e["raw_earned"], e["course_id"]) for e in received) == [
        (302, "i4x://MITx/6.002x/problem/mc1", 1.0, OLD),
        (303, "i4x://MITx/6.002x/problem/mc1", 0.0, OLD),
    ]
    # and the next grade report has the new grades
    _, rows = grade(stack, DECODED)
    assert {user: row["Grade"] for user, row in rows.items()} == {
        301: "1.0",
        302: "0.25",
        303: "0.75",
        304: "0.25",
    }
    # and the course's history holds the four tasks, newest first
    status, history = stack.api("GET", f"{DECODED}/tasks", "instructor", query="state=all")
    assert status == 200, history
    assert [t["task_type"] for t in history["tasks"]] == [
        "grade_course",
        "rescore_problem",
        "rescore_problem",
        "grade_course",
    ]


def test_keys_of_another_course_or_run_are_refused_for_an_old_course(old_course):
    stack = old_course
    for problem_url in (
        "i4x://HarvardX/6.002x/problem/mc1",
        "block-v1:MITx+6.002x+2013_Spring+type@problem+block@mc1",
        "MITx/6.002x/2012_Fall",
    ):
        status, body = stack.api(
            "POST",
            f"{ENCODED}/tasks",
            "instructor",
            {"task_type": "rescore_problem", "input": {"problem_url": problem_url}},
        )
        assert (status, body["error"]) == (400, "Unable to parse problem id"), problem_url
    # An id that is not a course key at all is a 404, as for any unknown course
    status, body = stack.api("POST", "/courses/MITx%2F6.002x/tasks", "admin", {"task_type": "grade_course"})
    assert status == 404 and body["error"] == "Invalid course key: 'MITx/6.002x'"
