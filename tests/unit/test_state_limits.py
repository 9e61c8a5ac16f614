"""The bound that lets a state load skip building and sizing the items of short lines
(``functions/dal/state_limits.py``), held against the exact check (``item_limits``) with the worst lines
that can be built at the bound: every character or number expands as much as it can in the item."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.dal import item_limits, state_limits
from functions.dal.course_repo import _state_item, learner_pk, state_sk
from functions.dal.tables import StateItem
from functions.logic.content import StateRow
from functions.models.state import ProblemState

# A course key whose learner partition key (``<course>#L0``) is as long as a partition key can be:
# the bound counts it whole.
LONG_COURSE = "course-v1:" + "X" * (
    item_limits.MAX_PARTITION_KEY_BYTES - len("course-v1:") - len(learner_pk("", 0))
)


def item_of(state: ProblemState) -> StateItem:
    """The state's item, in shard 0 of its course (the layout ``CourseRepository`` writes)."""
    return _state_item(state, learner_pk(state.course_id, 0))


def storable(state: ProblemState, size: int, key: str) -> bool:
    return state_limits.surely_storable(state, size, key, learner_pk(state.course_id, 0))


LIMIT = state_limits.SAFE_SOURCE_BYTES


def state_of(line: str, course_id: str = LONG_COURSE) -> ProblemState:
    """The state a load makes of one line (as ``content.load_states`` does)."""
    row = StateRow.model_validate_json(line)
    return ProblemState(
        course_id=course_id,
        user_id=row.user_id,
        problem_id=row.problem,
        answers=row.answers,
        attempts=row.attempts,
        earned=row.earned,
        possible=row.possible,
        first_attempted=row.first_attempted,
        modified=datetime(8999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        seed=row.seed,
        source_version=row.source_version,
    )


def line_of(answers_text: str, problem: str = "p") -> str:
    """A line with every other field at its longest, ``answers`` given as raw JSON text."""
    head = (
        '{"user_id":999999999999,"problem":"' + problem + '","attempts":1000000000,'
        '"earned":1.2345678901234567e-100,"possible":9.876543210987654e+08,'
        '"first_attempted":"8999-12-31T23:59:59.999999+00:00","seed":9223372036854775807,'
        '"source_version":9223372036854775807,"answers":'
    )
    return head + answers_text + "}"


def padded(build, target: int = LIMIT) -> str:
    """The longest line ``build(n)`` makes within ``target`` bytes."""
    low, high = 0, target
    while low < high:
        middle = (low + high + 1) // 2
        if len(build(middle).encode()) <= target:
            low = middle
        else:
            high = middle - 1
    return build(low)


WORST_LINES = {
    # DEL: one byte in the line, six ("\u007f") once answers is serialised again
    "DEL characters": lambda n: line_of('{"a":"' + "\x7f" * n + '"}'),
    # Two-byte characters: six bytes each once escaped
    "two-byte characters": lambda n: line_of('{"a":"' + "é" * n + '"}'),
    # Four-byte characters: twelve bytes (a surrogate pair) each
    "four-byte characters": lambda n: line_of('{"a":"' + "𝄞" * n + '"}'),
    # Floats written short: "1e15" becomes "1000000000000000.0"
    "short floats": lambda n: line_of('{"a":[' + ",".join(["1e15"] * max(n, 1)) + "]}"),
    "tiny floats": lambda n: line_of('{"a":[' + ",".join(["1e-7"] * max(n, 1)) + "]}"),
    # Keys, all different, with values that grow
    "many keys": lambda n: line_of("{" + ",".join(f'"{k}":1e9' for k in range(max(n, 1))) + "}"),
}


@pytest.mark.parametrize("name", sorted(WORST_LINES))
def test_a_line_at_the_bound_makes_an_item_under_400_kb(name):
    line = padded(WORST_LINES[name])
    size = len(line.encode())
    assert LIMIT - 100 < size <= LIMIT
    state = state_of(line)
    item = item_of(state)
    exact = item_limits.serialized_size(item.serialize())
    # The exact size is under DynamoDB's limit and under what the bound promises
    assert exact <= state_limits.ITEM_BYTES_PER_SOURCE_BYTE * size + state_limits.OTHER_BYTES
    assert exact < item_limits.MAX_ITEM_BYTES
    item_limits.check_item(item)  # nothing else refuses it either
    assert storable(state, size, state_sk(state.problem_id, state.user_id))


def test_answers_expand_at_most_eight_times():
    # The expansion the bound assumes, token by token (a float of 3 characters is the worst number)
    for token, factor in (('"\x7f"', 6), ('"é"', 3), ('"𝄞"', 3), ("1e5", 8 / 3), ("[1e9]", 14 / 5)):
        raw = token.encode()
        again = json.dumps(json.loads(token), separators=(",", ":")).encode()
        assert len(again) <= factor * len(raw) <= 8 * len(raw), token


def test_what_the_bound_cannot_vouch_for_is_checked_in_full():
    line = line_of('{"a":"b"}')
    state = state_of(line, "course-v1:X+Y+Z")
    size = len(line.encode())
    key = state_sk(state.problem_id, state.user_id)
    assert storable(state, size, key)
    # A longer line, a score DynamoDB cannot hold, a lone surrogate in a key, an oversized sort key
    assert not storable(state, LIMIT + 1, key)
    assert not storable(state.model_copy(update={"earned": 1e-200}), size, key)
    assert item_limits.item_problem(item_of(state.model_copy(update={"earned": 1e-200}))) is not None
    lone = state.model_copy(update={"problem_id": "p\ud800"})
    assert not storable(lone, size, state_sk(lone.problem_id, lone.user_id))
    assert item_limits.item_problem(item_of(lone)) is not None
    long_key = state.model_copy(update={"problem_id": "p" * 1100})
    assert not storable(long_key, size, state_sk(long_key.problem_id, long_key.user_id))
    assert item_limits.item_problem(item_of(long_key)) is not None
