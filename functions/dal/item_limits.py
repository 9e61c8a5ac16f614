"""Whether DynamoDB will store an item, decided before anything is written.

A bulk load checks every item it is about to write with ``item_problem``: an item DynamoDB would refuse
(over 400 KB, a number it cannot hold, an empty or oversized key, a string that is not valid Unicode,
nesting deeper than 32 levels) is found while nothing has been written yet, and named by its line.
The rules are DynamoDB's documented limits; sizes are counted the way DynamoDB counts them, rounded up
where the documentation says "approximately".
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from pynamodb.models import Model

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_NUMBER_DIGITS = 38
# Magnitudes DynamoDB numbers hold: 1E-130 to 9.9999999999999999999999999999999999999E+125.
MIN_EXPONENT, MAX_EXPONENT = -130, 125
MAX_NESTING = 32


class Unstorable(ValueError):
    """An item DynamoDB would refuse; the message says why in words a data owner can act on."""


def item_problem(item: Model) -> str | None:
    """Why DynamoDB would refuse ``item``; None when it would store it."""
    try:
        check_item(item)
    except Unstorable as error:
        return str(error)
    return None


def first_problem(items: Iterable[Model]) -> tuple[int, str] | None:
    """(position, reason) of the first item DynamoDB would refuse, or None."""
    for position, item in enumerate(items):
        problem = item_problem(item)
        if problem is not None:
            return position, problem
    return None


def check_item(item: Model) -> None:
    """Raise ``Unstorable`` for an item DynamoDB would refuse."""
    try:
        values = item.serialize()
    except (ValueError, TypeError, OverflowError, AttributeError) as error:
        raise Unstorable(f"it cannot be stored ({error})") from error
    try:
        type(item).from_raw_data(values)  # what we write must read back (times, numbers, maps)
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError) as error:
        raise Unstorable(f"it would not read back ({error})") from error
    size = serialized_size(values)
    if size > MAX_ITEM_BYTES:
        raise Unstorable(
            f"it would be a {size:,}-byte item; DynamoDB stores at most 400 KB "
            f"({MAX_ITEM_BYTES:,} bytes) per item"
        )
    _check_keys(type(item), values)


def serialized_size(values: dict[str, Any]) -> int:
    """The size DynamoDB counts for a serialised item (``Unstorable`` for a value it cannot hold)."""
    return sum(_utf8(name, name) + _value_size(name, value, 1) for name, value in values.items())


def _check_keys(model: type[Model], values: dict[str, Any]) -> None:
    attributes = model.get_attributes()
    keys: list[tuple[str, int]] = []
    for name, limit in (
        (model._hash_keyname, MAX_PARTITION_KEY_BYTES),
        (model._range_keyname, MAX_SORT_KEY_BYTES),
    ):
        if name is not None:
            keys.append((attributes[name].attr_name, limit))
    for index in model._indexes.values():
        for attribute in index.Meta.attributes.values():
            if attribute.is_hash_key:
                keys.append((attribute.attr_name, MAX_PARTITION_KEY_BYTES))
            elif attribute.is_range_key:
                keys.append((attribute.attr_name, MAX_SORT_KEY_BYTES))
    for name, limit in keys:
        typed = values.get(name)
        if typed is None:
            continue  # an index key may be absent (sparse index); a table key is checked by serialize
        ((kind, value),) = typed.items()
        size = len(value) if kind == "B" else _utf8(name, str(value)) if kind == "S" else 1
        if size == 0:
            raise Unstorable(f"its key attribute {name} is empty")
        if size > limit:
            raise Unstorable(f"its key attribute {name} is {size:,} bytes; DynamoDB allows {limit:,}")


def _value_size(name: str, typed: dict[str, Any], depth: int) -> int:
    if depth > MAX_NESTING:
        raise Unstorable(f"{name} nests more than {MAX_NESTING} levels deep")
    ((kind, value),) = typed.items()
    if kind == "S":
        return _utf8(name, value)
    if kind == "N":
        return _number_size(name, value)
    if kind == "B":
        return len(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(name, element) for element in value)
    if kind == "NS":
        return sum(_number_size(name, element) for element in value)
    if kind == "BS":
        return sum(len(element) for element in value)
    if kind == "L":
        return 3 + sum(1 + _value_size(name, element, depth + 1) for element in value)
    if kind == "M":
        return 3 + sum(
            1 + _utf8(name, key) + _value_size(f"{name}.{key}", element, depth + 1)
            for key, element in value.items()
        )
    raise Unstorable(f"{name} has a type DynamoDB does not know ({kind})")


def _utf8(name: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise Unstorable(f"{name} holds text that is not valid Unicode (a lone surrogate)") from error


def _number_size(name: str, text: str) -> int:
    try:
        number = Decimal(text)
    except InvalidOperation as error:
        raise Unstorable(f"{name} is not a number DynamoDB can store ({text})") from error
    if not number.is_finite():
        raise Unstorable(f"{name} is not a finite number ({text})")
    if number.is_zero():
        return 2
    # Significant digits, leading and trailing zeros trimmed (as DynamoDB counts them; not normalize(),
    # which would round to the decimal context's 28 digits first).
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    if len(digits) > MAX_NUMBER_DIGITS:
        raise Unstorable(f"{name} has more than {MAX_NUMBER_DIGITS} significant digits ({text})")
    if not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise Unstorable(f"{name} is beyond the magnitudes DynamoDB stores, 1E-130 to 1E+126 ({text})")
    return (len(digits) + 1) // 2 + 1
