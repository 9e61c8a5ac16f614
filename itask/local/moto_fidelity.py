"""Make moto keep one promise DynamoDB makes: every request is atomic.

moto's DynamoDB evaluates a condition and then writes, without a lock, so two threads can both pass
``attribute_not_exists`` (and a transaction deep-copies tables while others write). Real DynamoDB
serialises writes to an item. We serialise moto's DynamoDB request handling so that local runs and
tests see the same guarantees our race-free slot relies on in AWS.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_lock = threading.RLock()
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    # Transactions back up the items they touch, not whole tables (see the module).
    from itask.local import moto_transactions

    moto_transactions.apply()
    _applied = True
