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
  exclusive start key; index queries use a per-index map of the table. Both follow writes key by
  key: a write makes only its own partition's sorted copy stale, and the index maps take the keys
  written since their last query (a table written from empty never has its index walked whole).
  Same items, same order, same pages, same LastEvaluatedKey (a test compares both). Anything else
  (filters on the legacy API, tables without a sort key) takes moto's own path.
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
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

_lock = threading.RLock()
_s3_lock = threading.RLock()
_applied = False
_moto_queries = False  # True: moto's own Query path (to compare the two)
# Cached partitions and index maps follow writes key by key (issue #8 item 13): a write to one
# course's learner partition leaves every other partition's cache, and the index maps but for the
# keys it wrote, as they were. Before, any write to a table dropped them all, so the next index query
# walked the whole table (every course) under the request lock while status reads waited.
# Bumped on a write whose keys are not known: every cache of the table is stale.
_generations: dict[str, int] = defaultdict(int)
# Bumped on every write to a partition (table, hash key value): its cached sort is stale.
_partition_versions: dict[tuple[str, Any], int] = defaultdict(int)
# Keys written per table since the index maps of that table were last brought up to date.
# Each entry: (plain key, hash value, range value); plain keys hash cheaply (moto's DynamoType
# hashes by casting its value, a third of a bulk load's time when every key went through it).
_key_logs: dict[str, list[tuple[tuple[Any, Any], Any, Any]]] = defaultdict(list)
# Beyond this many keys the log is applied to the maps at the next write (a bulk load, say),
# instead of waiting for a query: the log stays small, and no query pays for a whole load.
_KEY_LOG_APPLY = 20_000


class _IndexMap:
    """One index of one table: its partitions by index hash value, and where each item sits."""

    def __init__(self, table: Any, generation: int, position: int, hash_attr: str, range_attr: str) -> None:
        # The table object itself: a test fixture may swap a backend's tables without a request.
        self.table = table
        self.generation, self.position = generation, position
        self.hash_attr, self.range_attr = hash_attr, range_attr
        self.partitions: dict[Any, Partition] = {}
        self.where: dict[tuple[Any, Any], tuple[Any, tuple[Any, ...]]] = {}


_index_maps: dict[tuple[str, str], _IndexMap] = {}
# What the fast paths did, for tests and benchmarks to count: cached partitions and index maps
# rebuilt, the items each rebuild walked (its cost grows with them, not with the request), and the
# keys brought up to date one by one instead.
stats: Counter[str] = Counter()
# The longest time one DynamoDB request held the request lock (every other request waits meanwhile).
lock_held: dict[str, Any] = {"max_s": 0.0, "action": None}
_READ_ACTIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive"}
)
_ALL = "*"  # a write to every table


def _written(action: str, body: dict[str, Any]) -> dict[str, list[dict[str, Any]] | None]:
    """What a request writes: table -> the keys (DynamoDB JSON, with other attributes), or None
    when the keys are not known (the whole table then counts as written)."""
    if action in _READ_ACTIONS:
        return {}
    if action in ("PutItem", "UpdateItem", "DeleteItem"):
        key = body.get("Item") if action == "PutItem" else body.get("Key")
        if isinstance(key, dict) and "TableName" in body:
            return {str(body["TableName"]): [key]}
    if action == "BatchWriteItem":
        written: dict[str, list[dict[str, Any]] | None] = {}
        for name, requests in body.get("RequestItems", {}).items():
            keys: list[dict[str, Any]] | None = []
            for request in requests:
                key = (request.get("PutRequest") or {}).get("Item") or (
                    request.get("DeleteRequest") or {}
                ).get("Key")
                if not isinstance(key, dict) or keys is None:
                    keys = None
                else:
                    keys.append(key)
            written[str(name)] = keys
        return written
    if action == "TransactWriteItems":
        written = {}
        for entry in body.get("TransactItems", []):
            for kind, operation in entry.items():
                if not isinstance(operation, dict) or "TableName" not in operation:
                    return {_ALL: None}
                name = str(operation["TableName"])
                if kind == "ConditionCheck":
                    continue
                key = operation.get("Item") if kind == "Put" else operation.get("Key")
                found = written.setdefault(name, [])
                if not isinstance(key, dict) or found is None:
                    written[name] = None
                else:
                    found.append(key)
        return written
    # Anything else (tables created or deleted, PartiQL, ...): every table it names, else all.
    tables = {str(body["TableName"])} if "TableName" in body else set()
    return {name: None for name in tables} if tables else {_ALL: None}


def note_writes(table: Any, keys: list[dict[str, Any]] | None) -> None:
    """Mark what a write to ``table`` (a moto Table) makes stale; ``None``: all of it. Under ``_lock``."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    name = table.name
    if keys is None:
        _generations[name] += 1
        _key_logs.pop(name, None)
        return
    if not table.items:
        _empty_index_maps(table)  # from now on its maps follow each write: never a whole walk
    log = _key_logs[name]
    if len(log) > _KEY_LOG_APPLY:
        _catch_up(table)  # the writes logged so far are done (this runs before the next one)
    logged = any(found_table == name for found_table, _ in _index_maps)  # else nothing reads the log
    for key in keys:
        if table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
            _generations[name] += 1
            _key_logs.pop(name, None)
            return
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        plain = _plain(hash_value)
        _partition_versions[(name, plain)] += 1
        if logged:
            log.append(
                ((plain, None if range_value is None else _plain(range_value)), hash_value, range_value)
            )


def _note_request(backend: Any, action: str, body: dict[str, Any]) -> None:
    written = _written(action, body)
    if _ALL in written:
        for name in list(_generations) + [name for name, _ in _index_maps]:
            _generations[name] += 1
            _key_logs.pop(name, None)
        _partition_versions.clear()
        return
    for name, keys in written.items():
        try:
            table = backend.get_table(name)
        except Exception:  # no such table: moto answers the request with its own error
            _generations[name] += 1
            continue
        note_writes(table, keys)


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
            # The parsed request (``self.body`` is still the raw text here: moto sets it to these
            # parameters only in its own call_action; reading it made every write look unreadable,
            # so any write, to any table, made every cache stale).
            params = getattr(self, "params", None)
            try:
                if not isinstance(params, dict):
                    raise TypeError("unparsed request")
                _note_request(self.dynamodb_backend, self._get_action(), params)
            except Exception:  # unreadable request: moto answers it; treat it as a write to all
                _note_request(None, "?", {})
            began = time.monotonic()
            try:
                return original_call(self)
            finally:
                held = time.monotonic() - began
                if held > lock_held["max_s"]:
                    lock_held.update(
                        max_s=round(held, 3),
                        action=self._get_action(),
                        table=(params or {}).get("TableName") if isinstance(params, dict) else None,
                        index=(params or {}).get("IndexName") if isinstance(params, dict) else None,
                    )

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
    # What every stack repeats (ASL parses, botocore's models), done once per process.
    from itask.local import moto_speed

    moto_speed.apply()
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
            note_writes(table, list(put_items or []))
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
        stats["query_fallbacks"] += 1
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


def _plain(value: Any) -> tuple[str, Any]:
    """A key value as a cheap dict key (type and sort value), equal where DynamoDB's are."""
    return value.type, _sort_value(value)


def _sort_value(value: Any) -> Any:
    # cast_value is a costly property; strings (every key of ours) are their own sort value.
    return value.value if value.type == "S" else value.cast_value


Partition = tuple[list[Any], list[tuple[Any, ...]], list[int | None]]
_partitions: dict[tuple[str, Any], tuple[tuple[int, int, int], Partition]] = {}


def _table_partition(table: Any, hash_key: Any) -> Partition:
    """(items, sort keys, sizes) of one partition, kept until the next write to the table."""
    key = (table.name, _plain(hash_key))
    generation = (id(table), _generations[table.name], _partition_versions[key])
    found = _partitions.get(key)
    if found is None or found[0] != generation:
        members = sorted(
            (table.items.get(hash_key) or {}).values(), key=lambda item: _sort_value(item.range_key)
        )
        stats["partition_rebuilds"] += 1
        stats["partition_items"] += len(members)
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
    """(items, sort keys, sizes) of one partition of an index, from a map of the whole index that
    is built once (or from the table's first write on) and then kept up to date with the keys
    written since (see ``_key_logs``)."""
    key = (table.name, index_name)
    generation = _generations[table.name]
    log = _key_logs[table.name]
    found = _index_maps.get(key)
    if (
        found is None
        or found.generation != generation
        or found.position > len(log)
        or found.table is not table
    ):
        found = _IndexMap(table, generation, len(log), hash_attr, range_attr)
        stats["index_rebuilds"] += 1
        for item in table.all_items():
            stats["index_items"] += 1
            _index_insert(found, item)
        _index_maps[key] = found
    elif found.position < len(log):
        _catch_up(table)
    return found.partitions.get(_plain(hash_value), ([], [], []))


def _index_schema(index: Any) -> tuple[str, str] | None:
    hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    range_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
    if len(hash_attrs) != 1 or len(range_attrs) != 1:
        return None
    return hash_attrs[0], range_attrs[0]


def _empty_index_maps(table: Any) -> None:
    """Maps of an empty table's indexes (empty too), unless it has them already."""
    generation = _generations[table.name]
    log = _key_logs[table.name]
    for index in table.all_indexes():
        schema = _index_schema(index)
        found = _index_maps.get((table.name, index.name))
        if schema is not None and (
            found is None or found.generation != generation or found.table is not table
        ):
            _index_maps[(table.name, index.name)] = _IndexMap(table, generation, len(log), *schema)


def _catch_up(table: Any) -> None:
    """Bring every map of the table up to date with the keys written since it last was."""
    generation = _generations[table.name]
    log = _key_logs[table.name]
    maps = [index for (name, _), index in _index_maps.items() if name == table.name]
    for index in maps:
        if index.generation != generation or index.position > len(log) or index.table is not table:
            continue  # stale: rebuilt when it is next queried
        for written in {entry[0]: entry for entry in log[index.position :]}.values():
            stats["index_keys_updated"] += 1
            _index_update(table, index, written)
        index.position = len(log)
    if all(index.position == len(log) for index in maps if index.generation == generation):
        log.clear()  # every current map of the table has read it
        for index in maps:
            index.position = 0


def _index_sort_key(item: Any, range_attr: str) -> tuple[Any, ...]:
    return (
        _sort_value(item.attrs[range_attr]),
        _sort_value(item.hash_key),
        None if item.range_key is None else _sort_value(item.range_key),
    )


def _index_insert(index: _IndexMap, item: Any) -> None:
    value = item.attrs.get(index.hash_attr)
    if value is None or item.attrs.get(index.range_attr) is None:
        return
    sort_key = _index_sort_key(item, index.range_attr)
    plain = _plain(value)
    members, sort_keys, sizes = index.partitions.setdefault(plain, ([], [], []))
    position = bisect.bisect_left(sort_keys, sort_key)
    members.insert(position, item)
    sort_keys.insert(position, sort_key)
    sizes.insert(position, None)
    index.where[(sort_key[1], sort_key[2])] = (plain, sort_key)


def _index_update(table: Any, index: _IndexMap, written: tuple[tuple[Any, Any], Any, Any]) -> None:
    """Put one written key where it now belongs in the index (or take it out)."""
    (plain_hash, plain_range), hash_value, range_value = written
    old = index.where.pop((plain_hash[1], None if plain_range is None else plain_range[1]), None)
    if old is not None:
        value, sort_key = old
        members, sort_keys, sizes = index.partitions[value]
        position = bisect.bisect_left(sort_keys, sort_key)
        if position < len(sort_keys) and sort_keys[position] == sort_key:
            del members[position], sort_keys[position], sizes[position]
    if table.range_key_attr:
        item = (table.items.get(hash_value) or {}).get(range_value)
    else:
        item = table.items.get(hash_value)
    if item is not None:
        _index_insert(index, item)


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
