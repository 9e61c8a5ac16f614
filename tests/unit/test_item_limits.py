"""DynamoDB's item limits, checked before a load writes (issue 8, defect 2): sizes counted as DynamoDB
documents them, numbers it can hold, key lengths. Expected sizes are worked out here from the rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from functions.dal.item_limits import (
    MAX_ITEM_BYTES,
    MAX_NESTING,
    Unstorable,
    first_problem,
    item_problem,
    serialized_size,
)
from functions.dal.tables import EnrollmentItem


class Thing(Model):
    class Meta:
        table_name = "limits-things"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    text = UnicodeAttribute(null=True)
    number = NumberAttribute(null=True)
    when = NumberAttribute(null=True)


# Size of Thing("c", "s", text=X, number=0): names and values in UTF-8 bytes, a number one byte per two
# significant digits plus one ("pk" 2+1, "sk" 2+1, "text" 4+len(X), "number" 6 + 2).
FIXED = (2 + 1) + (2 + 1) + 4 + (6 + 2)


def test_an_item_of_exactly_400_kb_is_stored_and_one_byte_more_is_not():
    assert item_problem(Thing("c", "s", text="x" * (MAX_ITEM_BYTES - FIXED), number=0)) is None
    problem = item_problem(Thing("c", "s", text="x" * (MAX_ITEM_BYTES - FIXED + 1), number=0))
    assert (
        problem == "it would be a 409,601-byte item; DynamoDB stores at most 400 KB (409,600 bytes) per item"
    )


def test_text_is_counted_in_utf8_bytes():
    # "é" is two bytes: half as many characters reach the limit
    assert item_problem(Thing("c", "s", text="é" * ((MAX_ITEM_BYTES - FIXED) // 2), number=0)) is None
    assert item_problem(Thing("c", "s", text="é" * ((MAX_ITEM_BYTES - FIXED) // 2 + 1), number=0)) is not None


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (1e-130, True),
        (9.9e125, True),
        (0, True),
        (-5, True),
        (10**37, True),
        (1e-131, False),
        (1e126, False),
        (float("nan"), False),
        (float("inf"), False),
        (10**38 + 1, False),  # 39 significant digits
    ],
)
def test_numbers_dynamodb_can_hold(value, stored):
    assert (item_problem(Thing("c", "s", number=value)) is None) is stored


def test_key_lengths():
    assert item_problem(Thing("c", "s" * 1024)) is None
    assert (
        item_problem(Thing("c", "s" * 1025)) == "its key attribute sk is 1,025 bytes; DynamoDB allows 1,024"
    )
    assert item_problem(Thing("p" * 2048, "s")) is None
    assert (
        item_problem(Thing("p" * 2049, "s")) == "its key attribute pk is 2,049 bytes; DynamoDB allows 2,048"
    )
    assert item_problem(Thing("c", "")) == "its key attribute sk is empty"


def test_an_index_key_may_be_absent_but_not_empty():
    key = ("c#L0", "L#000000000001#E")  # a learner item of the course "c", shard 0
    base = dict(
        course_id="c",
        roster=key[0],
        user_key="U#1",
        user_id=1,
        email="a@example.org",
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert item_problem(EnrollmentItem(*key, username="u", **base)) is None
    assert item_problem(EnrollmentItem(*key, username="", **base)) == "its key attribute username is empty"


def test_first_problem_names_the_position():
    things = [Thing("c", "a"), Thing("c", "b", number=float("nan")), Thing("c", "")]
    assert first_problem(things) == (1, "number is not a finite number (NaN)")
    assert first_problem(things[:1]) is None


@pytest.mark.parametrize(
    ("values", "size"),
    [
        ({"b": {"B": b"xyz"}}, 1 + 3),  # binary: its bytes
        ({"flag": {"BOOL": True}}, 4 + 1),
        ({"n": {"NULL": True}}, 1 + 1),
        ({"ss": {"SS": ["ab", "é"]}}, 2 + 2 + 2),  # each string in UTF-8 bytes
        ({"ns": {"NS": ["12", "0", "123"]}}, 2 + 2 + 2 + 3),  # (digits + 1) // 2 + 1; zero is 2
        ({"bs": {"BS": [b"ab", b"c"]}}, 2 + 3),
        # a list: 3 bytes, plus 1 and the size of each element
        ({"l": {"L": [{"S": "ab"}, {"BOOL": False}]}}, 1 + 3 + (1 + 2) + (1 + 1)),
        # a map: 3 bytes, plus 1, the key and the size of each value
        ({"m": {"M": {"k": {"S": "v"}, "kk": {"N": "5"}}}}, 1 + 3 + (1 + 1 + 1) + (1 + 2 + 2)),
    ],
)
def test_each_dynamodb_type_is_sized_as_documented(values, size):
    assert serialized_size(values) == size


def nested(depth: int) -> dict:
    value: dict = {"S": "x"}
    for _ in range(depth - 1):
        value = {"L": [value]}
    return value


def test_values_dynamodb_cannot_hold_are_named():
    assert serialized_size({"deep": nested(MAX_NESTING)}) > 0
    with pytest.raises(Unstorable, match=r"^deep nests more than 32 levels deep$"):
        serialized_size({"deep": nested(MAX_NESTING + 1)})
    with pytest.raises(Unstorable, match=r"^odd has a type DynamoDB does not know \(Q\)$"):
        serialized_size({"odd": {"Q": "1"}})
    with pytest.raises(Unstorable, match=r"^m\.k is not a number DynamoDB can store \(abc\)$"):
        serialized_size({"m": {"M": {"k": {"N": "abc"}}}})
    with pytest.raises(Unstorable, match=r"^ss holds text that is not valid Unicode \(a lone surrogate\)$"):
        serialized_size({"ss": {"SS": ["\ud800"]}})


class Dated(Model):
    class Meta:
        table_name = "limits-dated"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    when = UTCDateTimeAttribute(null=True)
    score = NumberAttribute(null=True)


def test_an_item_that_cannot_be_serialised_is_refused_before_it_is_written():
    # a value of the wrong type fails pynamodb's serialisation: named, not raised
    problem = item_problem(Dated("c", when="yesterday"))  # type: ignore[arg-type]
    assert problem is not None and problem.startswith("it cannot be stored (")
    assert item_problem(Dated("c", when=datetime(2026, 1, 1, tzinfo=UTC), score=1)) is None
