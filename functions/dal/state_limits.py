"""A cheap proof that a learner state read from a short JSON line is storable, without building its item.

``item_limits.check_item`` serialises an item, reads it back and sizes every attribute: exact, and the
main cost of checking a million-row load. A state decoded from a line of at most
``SAFE_SOURCE_BYTES`` bytes needs none of that, by this bound on its item (``course_repo._state_item``):

* **Strings from the line** (``problem_id``): a JSON string's UTF-8 bytes are never more than its text
  in the line (an escape is never shorter than the character it stands for), so at most L bytes; it
  is stored twice (``problem_id`` and inside ``sk``).
* **answers** is ``json.dumps`` of the line's answers object (ASCII only, no spaces). Each token takes
  at most 8 times the bytes of its text in the line: a character inside a string at most 6 times (DEL,
  one byte, becomes ``\\u007f``; a 2-byte character 6 bytes; a 4-byte one 12), an escape no more than
  it was, punctuation, literals and integers as they were, a float at most 24 characters (``repr``)
  for at least 3 in the line (``1e5``); whitespace is dropped. So at most 8 L bytes.
* **The rest**: six numbers of at most 21 bytes each (38 digits), two times of 31 bytes
  (``UTCDateTimeAttribute``), attribute names of 91 bytes, the framing of ``sk`` (``M#``, ``#``, up
  to 20 digits) 23 bytes, and ``pk``, the learner's shard of the course, at most 2,048 bytes (checked below).

So the item takes at most 10 L + 2,350 bytes: with L <= 32 KiB, 330,030 < 409,600 (400 KB). The other
refusals are checked here, cheaply: numbers (integers under 38 digits; a float, whose ``repr`` has at
most 17 significant digits, within 1E-120 to 1E+120 or zero), text that is
not valid Unicode (only ``problem_id`` and ``pk`` could hold a lone surrogate: ``answers`` is escaped
ASCII; encoding them finds it), key sizes and emptiness (checked), nesting (``answers`` is one string),
times (between the years 1900 and 9000). Anything else, or a longer line, is checked in full.
``tests/unit/test_state_limits.py`` holds the bound against ``check_item`` with the worst lines it
can build.
"""

from __future__ import annotations

from functions.dal.item_limits import MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES
from functions.models.state import ProblemState

SAFE_SOURCE_BYTES = 32 * 1024
ITEM_BYTES_PER_SOURCE_BYTE = 10
OTHER_BYTES = MAX_PARTITION_KEY_BYTES + 6 * 21 + 2 * 31 + 91 + 23
# The smallest positive number DynamoDB stores is 1E-130; below this a score is checked in full.
_TINY, _HUGE = 1e-120, 1e120
_HUGE_INT = 10**37  # fewer than 38 digits
assert ITEM_BYTES_PER_SOURCE_BYTE * SAFE_SOURCE_BYTES + OTHER_BYTES < MAX_ITEM_BYTES


def surely_storable(state: ProblemState, source_bytes: int, state_sk: str, pk: str | None = None) -> bool:
    """True when the state, decoded from a line of ``source_bytes`` UTF-8 bytes, is certainly storable
    (by the bound above); False when it must be checked in full (not necessarily unstorable).
    ``pk``: the item's partition key (the learner's shard of the course; the course id if not given)."""
    if source_bytes > SAFE_SOURCE_BYTES:
        return False
    for score in (state.earned, state.possible):
        if score is not None and (score != score or not (score == 0 or _TINY < abs(score) < _HUGE)):
            return False  # NaN, infinite, or beyond the magnitudes DynamoDB holds
    for count in (state.user_id, state.attempts, state.seed, state.source_version):
        if count is not None and not -_HUGE_INT < count < _HUGE_INT:
            return False
    for moment in (state.first_attempted, state.modified):
        if moment is not None and not 1900 <= moment.year <= 9000:
            return False
    try:
        course_bytes = len((state.course_id if pk is None else pk).encode("utf-8"))
        sk_bytes = len(state_sk.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return 0 < course_bytes <= MAX_PARTITION_KEY_BYTES and 0 < sk_bytes <= MAX_SORT_KEY_BYTES
