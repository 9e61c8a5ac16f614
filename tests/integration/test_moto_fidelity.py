"""The local stack's Query (``itask.local.moto_fidelity.fast_query``) answers exactly as moto's own walk.

It only reads the key range instead of every item of the table; items, order and pages must not change.
"""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.clients import client
from itask.local import moto_fidelity
from tests.helpers.course import COURSE_ID


def pages(stack, **request: Any) -> list[tuple[list[Any], Any]]:
    dynamodb = client("dynamodb", stack.settings.region)
    found = []
    while True:
        answer = dynamodb.query(TableName=stack.settings.courses_table, **request)
        found.append((answer["Items"], answer.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in answer:
            return found
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def values(**named: str) -> dict[str, Any]:
    return {f":{name}": {"S": value} for name, value in named.items()}


SHARD = f"{COURSE_ID}#L0"  # the fixture's course has one shard: every learner item is here
BIG = "big-partition"  # 300 items of 10 KB: paged by size (1 MB) as well as by Limit

CASES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": values(pk=SHARD)},
    {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
        "ExpressionAttributeValues": values(pk=SHARD, p="L#0000000011"),
        "Limit": 37,
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": values(pk=SHARD, a="L#000000001050#", b="L#000000001100~"),
        "Limit": 25,
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk > :a",
        "ExpressionAttributeValues": values(pk=SHARD, a="L#000000001200#E"),
        "ProjectionExpression": "sk, user_id",
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk <= :a",
        "ExpressionAttributeValues": values(pk=SHARD, a="L#000000001010#S"),
        "ScanIndexForward": False,
        "Limit": 3,
    },
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": values(pk=BIG)},
    {
        "KeyConditionExpression": "pk = :pk AND sk >= :a",
        "ExpressionAttributeValues": values(pk=BIG, a="item-0150"),
        "ScanIndexForward": False,
    },
    {
        "IndexName": "user-enrollments",
        "KeyConditionExpression": "user_key = :u",
        "ExpressionAttributeValues": values(u="U#1005"),
    },
    {
        "IndexName": "course-roster",
        "KeyConditionExpression": "roster = :r AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": values(r=SHARD, a="L#000000001100#", b="L#000000001250~"),
        "Limit": 40,
    },
    {
        "IndexName": "course-username",
        "KeyConditionExpression": "course_id = :c AND begins_with(username, :u)",
        "ExpressionAttributeValues": values(c=COURSE_ID, u="user12"),
        "ScanIndexForward": False,
    },
]


def add_big_partition(stack) -> None:
    dynamodb = client("dynamodb", stack.settings.region)
    for number in range(300):
        dynamodb.put_item(
            TableName=stack.settings.courses_table,
            Item={"pk": {"S": BIG}, "sk": {"S": f"item-{number:04d}"}, "blob": {"S": "x" * 10_000}},
        )


@pytest.mark.parametrize("request_", CASES, ids=lambda case: case["KeyConditionExpression"])
def test_fast_query_pages_are_moto_pages(stack, request_):
    # Given 300 learners' items (enrollments and score sheets) in the course's shard, and a
    # partition of 3 MB
    add_big_partition(stack)
    # When the same Query is paginated through the local stack's path and through moto's walk
    fast = pages(stack, **dict(request_))
    with moto_fidelity.moto_queries():
        walked = pages(stack, **dict(request_))
    # Then every page holds the same items in the same order, with the same continuation keys
    assert fast == walked
    assert sum(len(items) for items, _ in fast) > 0
