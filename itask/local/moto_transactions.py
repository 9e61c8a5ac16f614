"""moto 5.2.5's TransactWriteItems at the cost DynamoDB charges: the items it touches, not the tables.

moto backs a transaction up by deep-copying the whole table once per action (a 100-action transaction
on a table of 20,000 items copies two million items) so that it can restore the table when an action
fails. We back up only the items the transaction touches (at most 100) and put those back on
failure: the same all-or-nothing outcome, since moto's DynamoDB requests are serialised
(``moto_fidelity``), so nothing else writes meanwhile. Conditions, cancellation reasons and every
other behaviour stay moto's own.
"""

from __future__ import annotations

import copy
import functools
import threading
import types
from typing import Any

_applied = False
_lock = threading.Lock()


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    key = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(key, dict) or table.hash_key_attr not in key:
        return None
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in key:
            return None
        range_value = DynamoType(key[table.range_key_attr])
    return hash_value, range_value


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.dynamodb import models as dynamodb_models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        original = DynamoDBBackend.transact_write_items

        def _deepcopy(value: Any, memo: Any = None) -> Any:
            # The whole-table backup becomes the table itself; restoring it is then a no-op, and the
            # touched items are put back below instead. Everything else is copied as before.
            if isinstance(value, Table):
                return value
            return copy.deepcopy(value, memo)

        no_table_copy = types.SimpleNamespace(**{name: getattr(copy, name) for name in ("copy", "Error")})
        no_table_copy.deepcopy = _deepcopy

        @functools.wraps(original)
        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            backups: list[tuple[Any, Any, Any, Any]] = []
            for entry in transact_items:
                for op_type, op in entry.items():
                    table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                    key = _key_of(table, op_type, op) if table is not None else None
                    if table is not None and key is not None:
                        current = table.get_item(*key)
                        backups.append((table, key[0], key[1], copy.deepcopy(current)))
            dynamodb_models.copy = no_table_copy  # type: ignore[assignment]
            try:
                return original(self, transact_items)  # type: ignore[no-any-return]
            except Exception:
                for table, hash_value, range_value, item in reversed(backups):
                    if item is None:
                        table.delete_item(hash_value, range_value)
                    elif range_value is not None:
                        table.items[hash_value][range_value] = item
                    else:
                        table.items[hash_value] = item
                raise
            finally:
                dynamodb_models.copy = copy  # type: ignore[attr-defined]

        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _applied = True
