"""Make moto 5.2.5 keep promises DynamoDB and S3 make: requests are atomic, a Query reads its key.

* Atomic requests. moto's DynamoDB evaluates a condition and then writes, without a lock, so two
  threads can both pass ``attribute_not_exists`` (and a transaction deep-copies tables while others
  write). Real DynamoDB serialises writes to an item. We serialise moto's DynamoDB request handling
  so that local runs and tests see the guarantees our race-free slot relies on in AWS. Likewise S3's
  ``PutObject``: moto checks a condition (``If-None-Match: *``, which the chunk journal relies on),
  then writes; and two puts of the same key at once can fail in moto (the replaced object's buffer
  is closed while the other request still reads its ETag: "I/O operation on closed file"), where S3
  makes each put atomic and the last one wins. Every put is serialised (a chunk delivered twice
  writes the same keys twice).
* Queries that cost what they read. moto answers a Query by walking every item of the table, then
  sorting the partition, then skipping the pages already returned, then deep-copying the page: a
  page costs time in proportion to the whole table (the 20-courses local load spent minutes per
  report in it, and held the lock meanwhile, so status reads waited). DynamoDB reads only the key
  range. ``fast_query`` reads the partition's dict directly and bisects to the range and to the
  exclusive start key; index queries use a per-index map of the table, rebuilt after a write to
  that table. Same items, same order, same pages, same LastEvaluatedKey (a test compares both).
  Anything else (filters on the legacy API, tables without a sort key) takes moto's own path.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import functools
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

_lock = threading.RLock()
_s3_lock = threading.RLock()
_applied = False
_moto_queries = False  # True: moto's own Query path (to compare the two)
# Bumped on every write to a table: index maps older than this are stale.
_generations: dict[str, int] = defaultdict(int)
_index_maps: dict[tuple[str, str], tuple[int, dict[Any, Any]]] = {}
_READ_ACTIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive"}
)


def _written_tables(action: str, body: dict[str, Any]) -> set[str]:
    if action in _READ_ACTIONS:
        return set()
    tables = set()
    if "TableName" in body:
        tables.add(str(body["TableName"]))
    tables.update(str(name) for name in body.get("RequestItems", {}))
    for entry in body.get("TransactItems", []):
        for operation in entry.values():
            if isinstance(operation, dict) and "TableName" in operation:
                tables.add(str(operation["TableName"]))
    return tables


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    original_call = DynamoHandler.call_action

    @functools.wraps(original_call)
    def call_action(self: Any) -> Any:
        with _lock:
            try:
                written = _written_tables(self._get_action(), self.body or {})
            except Exception:  # unreadable request: moto answers it; treat it as a write to all
                written = set(_generations)
            for table in written:
                _generations[table] += 1
            return original_call(self)

    original_query = Table.query

    @functools.wraps(original_query)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _moto_queries:
            return original_query(self, *args, **kwargs)
        return fast_query(self, original_query, *args, **kwargs)

    from moto.dynamodb.responses import DynamoResult

    original_serialized = DynamoHandler.serialized

    @functools.wraps(original_serialized)
    def serialized(self: Any, action_result: Any) -> Any:
        result = getattr(action_result, "result", None)
        if (
            _moto_queries
            or not isinstance(action_result, DynamoResult)
            or not isinstance(result, dict)
            or self._get_action() not in _FAST_SERIALIZED
        ):
            return original_serialized(self, action_result)
        # moto's generic serializer walks the response shape value by value (seconds for a page
        # of items); a read's result is already plain JSON data: only the headers come from it.
        skeleton = {key: value for key, value in result.items() if key not in _BULKY}
        status, headers, _ = original_serialized(self, DynamoResult(skeleton))
        return status, headers, json.dumps(result, separators=(",", ":"), default=_json_default)

    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        # moto checks the 400 KB limit by re-measuring the whole item at every attribute set
        # (quadratic in attributes); measure once, same limit, same error.
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > 405000:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, converted)

    original_parse = DynamoHandler.parse_parameters

    @functools.wraps(original_parse)
    def parse_parameters(self: Any, request: Any) -> None:
        # The shape-driven parser turns base64 blobs into bytes and is otherwise json.loads, slowly
        # (a third of a batch write's time): requests without binary values are plain JSON.
        data = request.data
        if data and not _BINARY.search(data):
            try:
                self.params = json.loads(data)
                return
            except ValueError:
                pass
        original_parse(self, request)

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
    Item.__init__ = item_init  # type: ignore[method-assign]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoHandler.serialized = serialized  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]

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


_BINARY = re.compile(rb'"BS?"\s*:')
_FAST_SERIALIZED = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})
_BULKY = frozenset({"Items", "Item", "Responses"})


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@contextlib.contextmanager
def moto_queries() -> Iterator[None]:
    """Answer queries with moto's own walk meanwhile (tests compare it with ``fast_query``)."""
    global _moto_queries
    with _lock:
        _moto_queries = True
        try:
            yield
        finally:
            _moto_queries = False


@contextlib.contextmanager
def direct_batch_writes(region: str) -> Iterator[None]:
    """Bulk seeding of a large local stack: PynamoDB's batch writes go straight into moto's tables.

    The same items (PynamoDB serialises them as for a request), without the HTTP round trip and
    moto's request parsing: a local-load benchmark seeds hundreds of thousands of items this way.
    Only for seeding an in-process stack before it runs tasks; nothing is counted as a request.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from pynamodb.connection.base import Connection

    original = Connection.batch_write_item

    def batch_write_item(
        self: Any, table_name: str, put_items: Any = None, delete_items: Any = None, **_: Any
    ) -> dict[str, Any]:
        if delete_items:
            return original(self, table_name, put_items=put_items, delete_items=delete_items)
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(table_name)
        with _lock:
            _generations[table_name] += 1
            for item in put_items or []:
                table.put_item(item)
        return {"UnprocessedItems": {}}

    Connection.batch_write_item = batch_write_item  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Connection.batch_write_item = original  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# Query
# ---------------------------------------------------------------------------------------------
def fast_query(
    table: Any,
    original: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    limit: int,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    projection_expressions: list[list[str]] | None,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, Any]] | None = None,
    range_key_conditions: list[tuple[str, str, list[Any]]] | None = None,
    **filter_kwargs: Any,
) -> Any:
    def fallback() -> Any:
        return original(
            table,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
            hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions,
            **filter_kwargs,
        )

    if filter_kwargs or not table.range_key_attr:
        return fallback()
    from moto.dynamodb.models.dynamo_type import DynamoType

    if index_name is None:
        if hash_key is None or (range_key_conditions and len(range_key_conditions) > 1):
            return fallback()
        items, sort_keys, sizes = _table_partition(table, hash_key)
        range_attr = table.range_key_attr
        start: tuple[Any, ...] | None = None
        if exclusive_start_key is not None:
            start = (_sort_value(DynamoType(exclusive_start_key[table.range_key_attr])),)
    else:
        index = {found.name: found for found in table.all_indexes()}.get(index_name)
        if index is None or consistent_read:
            return fallback()
        hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
        range_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
        if len(hash_attrs) != 1 or len(range_attrs) != 1:
            return fallback()
        if range_key_conditions and len(range_key_conditions) > 1:
            return fallback()
        wanted = dict(hash_key_conditions or [])
        hash_value = wanted.get(hash_attrs[0], hash_key)
        if hash_value is None:
            return fallback()
        items, sort_keys, sizes = _index_partition(
            table, index_name, hash_attrs[0], range_attrs[0], hash_value
        )
        range_attr = range_attrs[0]
        start = None
        if exclusive_start_key is not None:
            start = tuple(
                _sort_value(DynamoType(exclusive_start_key[name])) if name in exclusive_start_key else None
                for name in (range_attr, table.hash_key_attr, table.range_key_attr)
            )

    firsts = [sort_key[0] for sort_key in sort_keys]
    try:
        low, high = _bounds(firsts, range_comparison, [_sort_value(value) for value in range_objs])
        if start is not None:
            if scan_index_forward:
                low = max(low, bisect.bisect_right(sort_keys, start))
            else:
                high = min(high, bisect.bisect_left(sort_keys, start))
    except TypeError:  # keys of mixed types: moto's own walk
        return fallback()
    order = range(low, high) if scan_index_forward else range(high - 1, low - 1, -1)

    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    results: list[Any] = []
    result_size = 0
    scanned = 0
    last_evaluated_key = None
    for position in order:
        item = items[position]
        size = sizes[position]
        if size is None:
            size = sizes[position] = item.size()
        if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(results[-1], index_name)
            break
        if range_comparison:
            value = item.attrs.get(range_attr)
            if value is None or not value.compare(range_comparison, range_objs):
                continue
        results.append(item)
        result_size += size
        scanned += 1
    else:
        # moto checks the limit before the key condition: a full page followed by any item of the
        # partition (even out of range) carries a LastEvaluatedKey. So does this path.
        beyond = high < len(items) if scan_index_forward else low > 0
        if results and len(results) == limit and beyond:
            last_evaluated_key = table._get_last_evaluated_key(results[-1], index_name)
    if index_name:
        index_obj = table.get_index(index_name)
        results = [index_obj.project(item) for item in results]
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expressions:
        results = [_project(item, projection_expressions) for item in results]
    # moto deep-copies the page; the request lock keeps the items still until they are serialised.
    return results, scanned, last_evaluated_key


_OPERATORS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}


def _project(item: Any, expressions: list[list[str]]) -> Any:
    """Top-level attributes only, without moto's round trip through plain JSON (nested: moto's)."""
    if any(len(path) != 1 for path in expressions):
        return item.project(expressions)
    from moto.dynamodb.models.dynamo_type import Item

    projected = Item(item.hash_key, item.range_key, {})
    for (name,) in expressions:
        if name in item.attrs:
            projected.attrs[name] = item.attrs[name]
    return projected


def _bounds(firsts: list[Any], comparison: str | None, values: list[Any]) -> tuple[int, int]:
    """The slice of sorted keys a key condition can match (each item is still compared)."""
    count = len(firsts)
    if not comparison or not values:
        return 0, count
    comparison = _OPERATORS.get(comparison, comparison.upper())
    value = values[0]
    if comparison == "EQ":
        return bisect.bisect_left(firsts, value), bisect.bisect_right(firsts, value)
    if comparison == "LT":
        return 0, bisect.bisect_left(firsts, value)
    if comparison == "LE":
        return 0, bisect.bisect_right(firsts, value)
    if comparison == "GT":
        return bisect.bisect_right(firsts, value), count
    if comparison == "GE":
        return bisect.bisect_left(firsts, value), count
    if comparison == "BETWEEN" and len(values) == 2:
        return bisect.bisect_left(firsts, value), bisect.bisect_right(firsts, values[1])
    if comparison == "BEGINS_WITH" and isinstance(value, str | bytes):
        low = high = bisect.bisect_left(firsts, value)
        while high < count and isinstance(firsts[high], type(value)) and firsts[high].startswith(value):
            high += 1
        return low, high
    return 0, count


def _sort_value(value: Any) -> Any:
    # cast_value is a costly property; strings (every key of ours) are their own sort value.
    return value.value if value.type == "S" else value.cast_value


Partition = tuple[list[Any], list[tuple[Any, ...]], list[int | None]]
_partitions: dict[tuple[str, Any], tuple[int, Partition]] = {}


def _table_partition(table: Any, hash_key: Any) -> Partition:
    """(items, sort keys, sizes) of one partition, kept until the next write to the table."""
    key = (table.name, hash_key)
    generation = _generations[table.name]
    found = _partitions.get(key)
    if found is None or found[0] != generation:
        members = sorted(
            (table.items.get(hash_key) or {}).values(), key=lambda item: _sort_value(item.range_key)
        )
        partition: Partition = (
            members,
            [(_sort_value(item.range_key),) for item in members],
            [None] * len(members),
        )
        found = (generation, partition)
        _partitions[key] = found
    return found[1]


def _index_partition(
    table: Any, index_name: str, hash_attr: str, range_attr: str, hash_value: Any
) -> Partition:
    """(items, sort keys, sizes) of one partition of an index, from a map rebuilt after a write."""
    key = (table.name, index_name)
    generation = _generations[table.name]
    found = _index_maps.get(key)
    if found is None or found[0] != generation:
        groups: dict[Any, list[Any]] = defaultdict(list)
        for item in table.all_items():
            value = item.attrs.get(hash_attr)
            if value is not None and item.attrs.get(range_attr) is not None:
                groups[value].append(item)
        partitions: dict[Any, Partition] = {}
        for value, members in groups.items():
            keyed = sorted(
                (
                    (
                        _sort_value(member.attrs[range_attr]),
                        _sort_value(member.hash_key),
                        None if member.range_key is None else _sort_value(member.range_key),
                    ),
                    member,
                )
                for member in members
            )
            partitions[value] = (
                [member for _, member in keyed],
                [sort_key for sort_key, _ in keyed],
                [None] * len(keyed),
            )
        found = (generation, partitions)
        _index_maps[key] = found
    return found[1].get(hash_value, ([], [], []))


# DynamoDB answers in milliseconds; the local server shares one process (and its GIL) with every
# function, so on a loaded machine one answer can wait longer than PynamoDB's 30 s read timeout and
# a report ends FAILURE for no fault of its own (issue #8 item 13). Locally only: wait longer.
LOCAL_PYNAMODB_READ_TIMEOUT_S = 600


def patient_pynamodb(read_timeout_s: int = LOCAL_PYNAMODB_READ_TIMEOUT_S) -> None:
    """Give every PynamoDB model of the functions a longer read timeout (its connection is made anew)."""
    import importlib
    import pkgutil

    from pynamodb.models import Model

    import functions.dal

    for module in pkgutil.iter_modules(functions.dal.__path__):  # every model is defined by then
        importlib.import_module(f"functions.dal.{module.name}")
    pending: list[type[Model]] = [Model]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        meta = getattr(model, "Meta", None)
        if meta is not None and model is not Model:
            meta.read_timeout_seconds = read_timeout_s
            model._connection = None
