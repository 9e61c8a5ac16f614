"""Versioned writes of records that are one item each (incremental loads, issue #15.2): a learner's
problem state, survey answers, proctored attempt, ORA submission, LTI assignment.

A change carries the source's ``source_version``, stored on the item; it is written with a
conditional put that holds only over no stored version or an older one, so a change stored between
a load's check and its write is not overwritten, and the same change applied twice (a retried journal
chunk) changes nothing the second time. These kinds have no row delete, so no tombstone is needed.
Items of a model used here have a ``source_version`` NumberAttribute (null for unversioned writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal.faults import cancelled_by_condition, response_code

_CONDITIONAL_FAILED = "ConditionalCheckFailedException"


def put_if_newer(item: Model, version: int) -> bool:
    """Store ``item`` with ``version`` unless the stored item's version is as new; False then."""
    stored = type(item).source_version  # type: ignore[attr-defined]
    item.source_version = version  # type: ignore[attr-defined]
    try:
        item.save(condition=stored.does_not_exist() | (stored < version))
    except PutError as error:
        if response_code(error) != _CONDITIONAL_FAILED:
            raise
        return False
    return True


def put_all_if_newer(items: Iterable[tuple[Model, int]]) -> int:
    """``put_if_newer`` of each (item, version); how many were stored."""
    return sum(put_if_newer(item, version) for item, version in items)


def put_group_if_newer(items: list[Model], version: int) -> bool:
    """The items in one transaction, unless the first one's stored version is as new; False then.
    The first item holds the version (a record kept as a head and its data, say)."""
    head, *rest = items
    stored = type(head).source_version  # type: ignore[attr-defined]
    head.source_version = version  # type: ignore[attr-defined]
    try:
        with TransactWrite(connection=type(head)._get_connection().connection) as transaction:
            transaction.save(head, condition=stored.does_not_exist() | (stored < version))
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
