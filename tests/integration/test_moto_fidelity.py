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


# ---- caches that follow writes key by key (issue #8 item 13) ----
def put(stack, pk: str, sk: str, **attributes: str) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": sk}} | {name: {"S": value} for name, value in attributes.items()}
    client("dynamodb", stack.settings.region).put_item(TableName=stack.settings.courses_table, Item=item)


def by_username(stack, course: str) -> list[tuple[list[Any], Any]]:
    return pages(
        stack,
        IndexName="course-username",
        KeyConditionExpression="course_id = :c",
        ExpressionAttributeValues=values(c=course),
        Limit=7,
    )


def test_index_map_follows_each_write_instead_of_walking_the_table_again(stack):
    # Given 20 items in the course-username index under course "IDX" (next to the 300 learners'
    # items), and the index map built by a first query
    for number in range(20):
        put(stack, f"idx#{number % 3}", f"s{number:03d}", course_id="IDX", username=f"u{number:03d}")
    by_username(stack, "IDX")
    before = dict(moto_fidelity.stats)
    # When items are written in every way a request can: a new item, an index key changed, an
    # item taken out of the index, a delete, a batch (put and delete), a transaction (put, update)
    dynamodb = client("dynamodb", stack.settings.region)
    table = stack.settings.courses_table
    put(stack, "idx#9", "new", course_id="IDX", username="u000-new")
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "idx#1"}, "sk": {"S": "s001"}},
        UpdateExpression="SET username = :u",
        ExpressionAttributeValues={":u": {"S": "zz-renamed"}},
    )
    dynamodb.update_item(
        TableName=table, Key={"pk": {"S": "idx#2"}, "sk": {"S": "s002"}}, UpdateExpression="REMOVE course_id"
    )
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "idx#0"}, "sk": {"S": "s003"}})
    dynamodb.batch_write_item(
        RequestItems={
            table: [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": "idx#8"},
                            "sk": {"S": "b"},
                            "course_id": {"S": "IDX"},
                            "username": {"S": "u010"},
                        }
                    }
                },
                {"DeleteRequest": {"Key": {"pk": {"S": "idx#1"}, "sk": {"S": "s004"}}}},
            ]
        }
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": "idx#7"},
                        "sk": {"S": "t"},
                        "course_id": {"S": "IDX"},
                        "username": {"S": "a-first"},
                    },
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "idx#2"}, "sk": {"S": "s005"}},
                    "UpdateExpression": "SET course_id = :c",
                    "ExpressionAttributeValues": {":c": {"S": "OTHER"}},
                }
            },
        ]
    )
    fast = by_username(stack, "IDX")
    moved = by_username(stack, "OTHER")
    after = dict(moto_fidelity.stats)
    with moto_fidelity.moto_queries():
        walked = by_username(stack, "IDX")
        walked_moved = by_username(stack, "OTHER")
    # Then the index answers what moto's walk of the whole table answers (21 items, renamed and
    # moved ones in their new places) ...
    assert fast == walked and moved == walked_moved
    assert sum(len(items) for items, _ in fast) == 20 - 4 + 3
    # ... without rebuilding the map: the 8 keys written were put in place one by one (in each of
    # the table's index maps)
    assert after.get("index_rebuilds", 0) == before.get("index_rebuilds", 0)
    described = dynamodb.describe_table(TableName=table)["Table"]
    indexes = len(described.get("GlobalSecondaryIndexes", [])) + len(
        described.get("LocalSecondaryIndexes", [])
    )
    updated = after["index_keys_updated"] - before.get("index_keys_updated", 0)
    assert updated % 8 == 0 and 8 <= updated <= 8 * indexes  # once per key per map the table has


def test_a_write_to_one_partition_leaves_the_others_cached(stack):
    # Given two partitions read once (their sorted copies cached)
    for number in range(30):
        put(stack, "part#A", f"a{number:03d}")
        put(stack, "part#B", f"b{number:03d}")
    query = {"KeyConditionExpression": "pk = :pk"}
    pages(stack, **query, ExpressionAttributeValues=values(pk="part#A"))
    pages(stack, **query, ExpressionAttributeValues=values(pk="part#B"))
    before = dict(moto_fidelity.stats)
    # When one item of A is written and both are read again
    put(stack, "part#A", "a100")
    a_items = pages(stack, **query, ExpressionAttributeValues=values(pk="part#A"))
    b_items = pages(stack, **query, ExpressionAttributeValues=values(pk="part#B"))
    after = dict(moto_fidelity.stats)
    # Then A alone was sorted again (31 items), and both answer their items
    assert after["partition_rebuilds"] - before["partition_rebuilds"] == 1
    assert after["partition_items"] - before["partition_items"] == 31
    assert [len(items) for items, _ in a_items] == [31] and [len(items) for items, _ in b_items] == [30]


def test_a_new_tables_index_is_followed_from_its_first_write(stack):
    # Given a new table with an index, written item by item from empty
    dynamodb = client("dynamodb", stack.settings.region)
    dynamodb.create_table(
        TableName="fresh",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for number in range(12):
        dynamodb.put_item(
            TableName="fresh",
            Item={"pk": {"S": f"p{number % 4}"}, "sk": {"S": f"s{number:02d}"}, "g": {"S": "G"}},
        )
    before = dict(moto_fidelity.stats)
    # When its index is queried
    request = {
        "TableName": "fresh",
        "IndexName": "by-g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": values(g="G"),
    }
    fast = dynamodb.query(**request)["Items"]
    with moto_fidelity.moto_queries():
        walked = dynamodb.query(**request)["Items"]
    # Then it answers what moto's walk answers, and no query walked the table: the index's map was
    # kept up to date by the 12 writes
    assert fast == walked and len(fast) == 12
    assert moto_fidelity.stats.get("index_rebuilds", 0) == before.get("index_rebuilds", 0)
    assert moto_fidelity.stats["index_keys_updated"] - before.get("index_keys_updated", 0) == 12
