"""A DynamoDB read timeout inside a chunk, end to end: the real ASL on moto retries the chunk and the
task succeeds with exact counts (issue 8, defect 8).

The timeout comes from the network side (``tests.helpers.network_faults``): the first DynamoDB read a
chunk makes times out as many times as botocore tries it, so the error reaches our handler wrapped by
PynamoDB, exactly as a real timeout would after botocore's retries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ReadTimeoutError

from functions.models.tasks import TaskState
from tests.helpers.api import course_path
from tests.helpers.course import COURSE_ID
from tests.helpers.network_faults import NetworkFaults, in_function
from tests.integration.conftest import NETWORK_FAULTS

# PynamoDB's default: 1 try + 3 botocore retries.
BOTOCORE_ATTEMPTS = 4


@pytest.fixture
def faults() -> Iterator[NetworkFaults]:
    yield NETWORK_FAULTS
    NETWORK_FAULTS.disarm()


def test_a_read_timeout_in_a_chunk_is_retried_and_the_task_succeeds_with_exact_counts(stack, faults):
    # Given the first read of learner data made by a chunk times out on every botocore attempt
    courses_table = stack.settings.courses_table.encode()
    rule = faults.arm(
        {"Query", "BatchGetItem", "GetItem"},
        lambda: ReadTimeoutError(endpoint_url="http://dynamodb.local"),
        times=BOTOCORE_ATTEMPTS,
        when=lambda request: (
            courses_table in bytes(request.body or b"")
            and in_function("functions.logic.pipeline", "process_chunk")
        ),
    )
    chunks_before = stack.router.stats["process-chunk"].count
    # When a grade report runs over the 300 learners (3 chunks)
    status, body = stack.api(
        "POST", course_path(COURSE_ID, "tasks"), "instructor", {"task_type": "grade_course"}
    )
    assert status == 202, body
    task = stack.wait(body["task_id"])
    # Then the timeout reached our handler (botocore gave up on that request) ...
    assert rule.raised == BOTOCORE_ATTEMPTS
    # ... the state machine ran that chunk again, and the task succeeded with every learner once
    assert task.state is TaskState.SUCCESS, task.task_output
    assert stack.router.stats["process-chunk"].count - chunks_before == 3 + 1
    output = json.loads(task.task_output)
    assert (output["attempted"], output["succeeded"], output["failed"], output["total"]) == (300, 300, 0, 300)
    assert task.done_chunks == frozenset({0, 1, 2})
