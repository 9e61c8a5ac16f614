"""Make moto keep promises DynamoDB and S3 make: conditional writes are atomic.

moto's DynamoDB evaluates a condition and then writes, without a lock, so two threads can both pass
``attribute_not_exists`` (and a transaction deep-copies tables while others write). Real DynamoDB
serialises writes to an item. We serialise moto's DynamoDB request handling so that local runs and
tests see the same guarantees our race-free slot relies on in AWS. Likewise S3's conditional
``PutObject`` (``If-None-Match: *``, which the chunk journal relies on): moto checks, then writes.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_lock = threading.RLock()
_s3_lock = threading.Lock()
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

    from moto.s3.responses import S3Response

    original_put = S3Response.put_object

    @functools.wraps(original_put)
    def put_object(self: Any) -> Any:
        if not self.headers.get("If-None-Match"):
            return original_put(self)
        with _s3_lock:
            return original_put(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]
    _applied = True
