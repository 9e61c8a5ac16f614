"""Make moto keep promises DynamoDB and S3 make: conditional writes are atomic.

moto's DynamoDB evaluates a condition and then writes, without a lock, so two threads can both pass
``attribute_not_exists`` (and a transaction deep-copies tables while others write). Real DynamoDB
serialises writes to an item. We serialise moto's DynamoDB request handling so that local runs and
tests see the same guarantees our race-free slot relies on in AWS. Likewise S3's ``PutObject``:
moto checks a condition (``If-None-Match: *``, which the chunk journal relies on), then writes; and
two puts of the same key at once can fail in moto (the replaced object's buffer is closed while the
other request still reads its ETag: "I/O operation on closed file"), where S3 makes each put atomic
and the last one wins. Every put is serialised (a chunk delivered twice writes the same keys twice).
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

_lock = threading.RLock()
_s3_lock = threading.RLock()
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
        with _s3_lock:
            return original_put(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]

    # StopExecution right after StartExecution: moto's worker thread creates the execution's
    # environment only when it starts running, and stop() then fails on None (an AttributeError that
    # surfaces as a 500 from a cancel). Real Step Functions stops an execution at any moment: wait
    # (bounded) for the environment, then stop it.
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_stop = ExecutionWorker.stop

    @functools.wraps(original_stop)
    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> Any:
        deadline = time.monotonic() + 60
        while getattr(self, "env", None) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return original_stop(self, stop_date, error, cause)

    ExecutionWorker.stop = stop  # type: ignore[method-assign]

    # Transactions back up the items they touch, not whole tables (see the module).
    from itask.local import moto_transactions

    moto_transactions.apply()
    _applied = True
