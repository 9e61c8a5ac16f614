"""Versioned writes of records that are one item each (incremental loads, issue #15.2): a learner's
problem state, survey answers, proctored attempt, ORA submission.

A change carries the source's ``source_version``, stored on the item; it is written with a
conditional put that holds only over no stored version or an older one, so a change stored between
a load's check and its write is not overwritten, and the same change applied twice (a retried journal
chunk) changes nothing the second time. These kinds have no row delete, so no tombstone is needed.
Items of a model used here are keyed ``pk`` and ``sk`` and have a ``source_version`` NumberAttribute
(null for unversioned writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal.faults import cancelled_by_condition, response_code
from functions.dal.item_limits import serialized_size

_CONDITIONAL_FAILED = "ConditionalCheckFailedException"
TRANSACTION_ITEMS = 100  # DynamoDB's most per TransactWriteItems
TRANSACTION_BYTES = 3 * 1024 * 1024  # of items, under the request's 4 MB with room for conditions
_CONFLICT_ATTEMPTS = 8


def _newer(item: Model, version: int) -> Condition:
    """Give ``item`` the ``version``; the condition that the stored item has none or an older one."""
    stored = type(item).source_version  # type: ignore[attr-defined]
    item.source_version = version  # type: ignore[attr-defined]
    return stored.does_not_exist() | (stored < version)  # type: ignore[no-any-return]


def put_if_newer(item: Model, version: int) -> bool:
    """Store ``item`` with ``version`` unless the stored item's version is as new; False then."""
    try:
        item.save(condition=_newer(item, version))
    except PutError as error:
        if response_code(error) != _CONDITIONAL_FAILED:
            raise
        return False
    return True


def put_all_if_newer(items: Iterable[tuple[Model, int]]) -> int:
    """``put_if_newer`` of each (item, version), in transactions of up to 100 conditional puts (one
    request for a hundred rows, not a hundred): the items whose condition fails are left out and the
    rest go again together. How many were stored."""
    return sum(_put_together(group) for group in _groups(items))


def _groups(items: Iterable[tuple[Model, int]]) -> Iterator[list[tuple[Model, int]]]:
    """Runs of at most ``TRANSACTION_ITEMS`` items and ``TRANSACTION_BYTES`` bytes, none twice in a
    run (a transaction refuses both)."""
    group: list[tuple[Model, int]] = []
    keys: set[tuple[Any, Any]] = set()
    size = 0
    for item, version in items:
        key = (getattr(item, "pk"), getattr(item, "sk"))  # noqa: B009 (every table here is keyed pk, sk)
        item_bytes = serialized_size(item.serialize())
        if group and (
            len(group) == TRANSACTION_ITEMS or key in keys or size + item_bytes > TRANSACTION_BYTES
        ):
            yield group
            group, keys, size = [], set(), 0
        group.append((item, version))
        keys.add(key)
        size += item_bytes
    if group:
        yield group


def _put_together(group: list[tuple[Model, int]]) -> int:
    """The group's conditional puts in one transaction; how many were stored."""
    pending = group
    conflicts = 0
    while len(pending) > 1:
        model = type(pending[0][0])
        try:
            with TransactWrite(connection=model._get_connection().connection) as transaction:
                for item, version in pending:
                    transaction.save(item, condition=_newer(item, version))
            return len(pending)
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            failed = {
                position
                for position, reason in enumerate(reasons)
                if reason is not None and reason.code == "ConditionalCheckFailed"
            }
            if not failed:  # another transaction on the same items: go again, a few times
                conflicts += 1
                if conflicts > _CONFLICT_ATTEMPTS:
                    raise
                continue
            pending = [pair for position, pair in enumerate(pending) if position not in failed]
    return sum(put_if_newer(item, version) for item, version in pending)


def put_group_if_newer(items: list[Model], version: int) -> bool:
    """The items in one transaction, unless the first one's stored version is as new; False then.
    The first item holds the version (a record kept as a head and its data, say)."""
    head, *rest = items
    try:
        with TransactWrite(connection=type(head)._get_connection().connection) as transaction:
            transaction.save(head, condition=_newer(head, version))
            for item in rest:
                transaction.save(item)
    except TransactWriteError as error:
        if not cancelled_by_condition(error):
            raise
        return False
    return True


def stored_versions(model: type[Model], keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(pk, sk) -> the stored ``source_version`` of those items that have one: one consistent
    BatchGetItem per 100 keys, reading the keys and the version only."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found: dict[tuple[str, str], int] = {}
    item: Any
    for item in model.batch_get(
        wanted, consistent_read=True, attributes_to_get=["pk", "sk", "source_version"]
    ):
        if item.source_version is not None:
            found[(item.pk, item.sk)] = int(item.source_version)
    return found
