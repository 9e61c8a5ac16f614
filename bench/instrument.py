"""What a benchmark run asked of AWS: requests, bytes and capacity units, by function and operation.

Two botocore events (public API, registered in ``BUILTIN_HANDLERS`` before any client exists) see
every request of every client in the process: ``before-call`` (the request) and ``after-call`` (the
parsed answer). Each request is attributed to the Lambda function whose invocation made it (the
local router's context variable); requests made outside any invocation are the Step Functions
interpreter's (``states``) or the benchmark's own (``bench``, excluded by unregistering its clients).

DynamoDB capacity is computed as DynamoDB bills it, from item sizes (attribute names plus values):
reads in 4 KB units per request (halved when eventually consistent; a projected read still bills
the whole item, so its size is looked up in moto's table), writes in 1 KB units per item.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers

READ_UNIT = 4096
WRITE_UNIT = 1024


@dataclass
class OpStats:
    requests: int = 0
    read_units: float = 0.0  # DynamoDB RRU (on-demand read request units)
    write_units: float = 0.0  # DynamoDB WRU
    item_bytes: int = 0  # DynamoDB: bytes of the items read (billed size)
    items: int = 0
    bytes_in: int = 0  # S3: bytes downloaded
    bytes_out: int = 0  # S3: bytes uploaded

    def add(self, other: OpStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one typed attribute value (documented rules, numbers approximated)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: element}) for element in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + attribute_size(v) for name, v in inner.items())
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def _full_size(table: str, item: dict[str, Any], fallback: int) -> int:
    """The whole stored item's size (a projected read bills it), from moto's in-process backend."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        for backend in dynamodb_backends[DEFAULT_ACCOUNT_ID].values():
            found = backend.tables.get(table)
            if found is None:
                continue
            stored = found.get_item(DynamoType(item["pk"]), DynamoType(item["sk"]) if "sk" in item else None)
            return int(stored.size()) if stored is not None else fallback
    except Exception:  # a benchmark estimate: never fail the run over it
        return fallback
    return fallback


class Recorder:
    def __init__(self) -> None:
        self.stats: dict[tuple[str, str, str], OpStats] = defaultdict(OpStats)
        self._lock = threading.Lock()
        self.enabled = True

    # ---- registration ----
    def install(self) -> Recorder:
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", self.before_call))
        botocore.handlers.BUILTIN_HANDLERS.append(("after-call", self.after_call))
        return self

    def exclude(self, client: Any) -> Any:
        """Leave a client of the benchmark itself (polling) out of the figures."""
        client.meta.events.unregister("before-call", self.before_call)
        client.meta.events.unregister("after-call", self.after_call)
        return client

    def reset(self) -> None:
        with self._lock:
            self.stats.clear()

    # ---- events ----
    @staticmethod
    def _who() -> str:
        from itask.local.lambda_router import CURRENT_FUNCTION

        found = CURRENT_FUNCTION.get()
        if found is not None:
            return found
        return "bench" if threading.current_thread() is threading.main_thread() else "states"

    def before_call(self, event_name: str, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        context["itask_bench"] = (self._who(), service, operation, params)

    def after_call(self, event_name: str, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        found = context.get("itask_bench")
        if not self.enabled or found is None:
            return
        who, service, operation, params = found
        stats = OpStats(requests=1)
        try:
            if service == "dynamodb":
                self._dynamodb(operation, params, parsed or {}, stats)
            elif service == "s3":
                self._s3(operation, params, parsed or {}, stats)
        except Exception:  # figures are best effort; the request count stays exact
            pass
        with self._lock:
            self.stats[(who, service, operation)].add(stats)

    @staticmethod
    def _dynamodb(operation: str, params: dict[str, Any], parsed: dict[str, Any], stats: OpStats) -> None:
        body = params.get("body") or b"{}"
        request = json.loads(body if isinstance(body, str) else body.decode("utf-8"))
        factor = 1.0 if request.get("ConsistentRead") else 0.5
        projected = bool(request.get("ProjectionExpression") or request.get("AttributesToGet"))
        table = request.get("TableName", "")
        index = request.get("IndexName")
        if operation in ("Query", "Scan"):
            sizes = [item_size(item) for item in parsed.get("Items", [])]
            if projected and not index:
                sizes = [
                    _full_size(table, item, size)
                    for item, size in zip(parsed.get("Items", []), sizes, strict=True)
                ]
            total = sum(sizes)
            stats.items += len(sizes)
            stats.item_bytes += total
            stats.read_units += max(1, math.ceil(total / READ_UNIT)) * factor
        elif operation == "GetItem":
            item = parsed.get("Item")
            size = item_size(item) if item else 0
            if item and projected:
                size = _full_size(table, item, size)
            stats.items += 1 if item else 0
            stats.item_bytes += size
            stats.read_units += max(1, math.ceil(size / READ_UNIT)) * factor
        elif operation == "BatchGetItem":
            for table_name, items in parsed.get("Responses", {}).items():
                wanted = request.get("RequestItems", {}).get(table_name, {})
                table_factor = 1.0 if wanted.get("ConsistentRead") else 0.5
                for item in items:
                    size = item_size(item)
                    stats.items += 1
                    stats.item_bytes += size
                    stats.read_units += max(1, math.ceil(size / READ_UNIT)) * table_factor
        elif operation == "PutItem":
            stats.write_units += max(1, math.ceil(item_size(request.get("Item", {})) / WRITE_UNIT))
        elif operation in ("UpdateItem", "DeleteItem"):
            # Billed on the larger of the item before and after; the request is a lower bound.
            stats.write_units += max(1, math.ceil(len(json.dumps(request)) / WRITE_UNIT))
        elif operation == "BatchWriteItem":
            for requests in request.get("RequestItems", {}).values():
                for entry in requests:
                    item = entry.get("PutRequest", {}).get("Item")
                    stats.write_units += max(1, math.ceil(item_size(item) / WRITE_UNIT)) if item else 1
        elif operation == "TransactWriteItems":
            for entry in request.get("TransactItems", []):
                item = entry.get("Put", {}).get("Item")
                size = item_size(item) if item else len(json.dumps(entry))
                stats.write_units += 2 * max(1, math.ceil(size / WRITE_UNIT))  # transactions bill twice

    @staticmethod
    def _s3(operation: str, params: dict[str, Any], parsed: dict[str, Any], stats: OpStats) -> None:
        if operation in ("PutObject", "UploadPart"):
            headers = params.get("headers", {})
            length = headers.get("X-Amz-Decoded-Content-Length") or headers.get("Content-Length")
            body = params.get("body")
            if length is not None:
                stats.bytes_out += int(length)
            elif isinstance(body, bytes | bytearray):
                stats.bytes_out += len(body)
            elif hasattr(body, "getbuffer"):
                stats.bytes_out += len(body.getbuffer())
        elif operation == "GetObject":
            stats.bytes_in += int(parsed.get("ContentLength") or 0)

    # ---- reading ----
    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{function: {"service.Operation": stats}} (a copy)."""
        with self._lock:
            found: dict[str, dict[str, dict[str, Any]]] = {}
            for (who, service, operation), stats in sorted(self.stats.items()):
                found.setdefault(who, {})[f"{service}.{operation}"] = stats.as_dict()
            return found


@dataclass
class Totals:
    by_operation: dict[str, OpStats] = field(default_factory=lambda: defaultdict(OpStats))

    @classmethod
    def of(cls, snapshot: dict[str, dict[str, dict[str, Any]]], functions: set[str] | None = None) -> Totals:
        totals = cls()
        for who, operations in snapshot.items():
            if functions is not None and who not in functions:
                continue
            for name, values in operations.items():
                totals.by_operation[name].add(OpStats(**values))
        return totals

    def requests(self, service: str | None = None) -> int:
        return sum(
            stats.requests
            for name, stats in self.by_operation.items()
            if service is None or name.startswith(service + ".")
        )
