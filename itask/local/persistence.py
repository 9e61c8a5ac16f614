"""The local stack's state on disk: snapshots of every table and object, restored at start.

moto keeps everything in memory, so without this a stopped local stack forgets its courses, learners,
tasks and reports. A snapshot is a directory under the stack's home, ``state/``:

    manifest.json          written last: a directory without it is not a snapshot
    tables/<name>.jsonl    every item of the table (DynamoDB JSON, binary values in base64)
    objects/index.jsonl    every object of the bucket: key, data file, ETag, time, content headers
    objects/data/<n>       the object's bytes

It is written into ``state.tmp/`` and renamed into place (the previous one is renamed aside first,
then removed), so a crash mid-write leaves the last good snapshot. Objects whose ETag did not change
since the previous snapshot are hard-linked from it instead of downloaded again, and a periodic
snapshot is skipped when nothing was written since the last one: an idle stack costs nothing.

On start, tables are created from the models (their keys and indexes) as always, then refilled, and
objects are put back with their headers and times, before the API opens. Step Functions executions
cannot be saved: a task that was QUEUING or PROGRESS at the stop is failed by the sweeper (its
execution is gone) and can be resumed from its finished chunks (``POST /tasks/{id}/resume``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.handlers

from functions.dal.clients import client
from functions.observability import logger
from functions.settings import Settings

FORMAT = 1
STATE_DIR = "state"
MANIFEST = "manifest.json"
KMS_FILE = "kms.json"
BATCH_WRITE_LIMIT = 25
COPY_CHUNK = 1024 * 1024
# The write operations that change what a snapshot holds (reads and moto's own bookkeeping do not).
_WRITES = {
    "dynamodb": {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"},
    "s3": {"PutObject", "CompleteMultipartUpload", "CopyObject", "DeleteObject", "DeleteObjects"},
}
_OBJECT_HEADERS = ("ContentType", "ContentDisposition", "ContentEncoding", "CacheControl", "ContentLanguage")


class ChangeWatcher:
    """Notes that something was written, through botocore's public ``before-call`` event."""

    def __init__(self) -> None:
        self.changed = threading.Event()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        if operation in _WRITES.get(service, ()):
            self.changed.set()


_watcher: ChangeWatcher | None = None


def install_watcher() -> ChangeWatcher:
    """Register once per process, before clients exist (clients made later report to it)."""
    global _watcher
    if _watcher is None:
        _watcher = ChangeWatcher()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _watcher))
    return _watcher


@dataclass
class SnapshotInfo:
    saved: str
    tables: dict[str, int]
    objects: int
    bytes: int
    linked: int = 0  # objects taken from the previous snapshot (unchanged)


# ---- DynamoDB JSON <-> JSON text ---------------------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class StateStore:
    """Saves the stack's tables and bucket to ``<home>/state`` and loads them back."""

    def __init__(self, home: Path, settings: Settings):
        self.home, self.settings = home, settings
        self.path = home / STATE_DIR
        self._tmp = home / f"{STATE_DIR}.tmp"
        self._old = home / f"{STATE_DIR}.old"
        self._lock = threading.Lock()

    # ---- where the last good snapshot is -------------------------------------------------------
    def current(self) -> Path | None:
        for candidate in (self.path, self._old):  # .old only survives a crash between two renames
            if (candidate / MANIFEST).exists():
                return candidate
        return None

    def discard(self) -> None:
        """Forget every snapshot (``serve --fresh``)."""
        for path in (self.path, self._tmp, self._old):
            shutil.rmtree(path, ignore_errors=True)

    # ---- save ----------------------------------------------------------------------------------
    def save(self) -> SnapshotInfo:
        with self._lock:
            previous = self.current()
            shutil.rmtree(self._tmp, ignore_errors=True)
            (self._tmp / "tables").mkdir(parents=True)
            (self._tmp / "objects" / "data").mkdir(parents=True)
            tables = {name: self._save_table(name) for name in self._table_names()}
            objects, size, linked = self._save_objects(previous)
            (self._tmp / KMS_FILE).write_text(json.dumps(_kms_keys(self.settings.region)))
            info = SnapshotInfo(
                saved=datetime.now(UTC).isoformat(), tables=tables, objects=objects, bytes=size, linked=linked
            )
            manifest = {"format": FORMAT, "bucket": self.settings.bucket, **info.__dict__}
            with (self._tmp / MANIFEST).open("w") as file:
                json.dump(manifest, file, indent=2)
                file.flush()
                os.fsync(file.fileno())
            shutil.rmtree(self._old, ignore_errors=True)
            if self.path.exists():
                self.path.rename(self._old)
            self._tmp.rename(self.path)
            shutil.rmtree(self._old, ignore_errors=True)
            return info

    def _table_names(self) -> list[str]:
        dynamodb = client("dynamodb", self.settings.region)
        names: list[str] = []
        for page in dynamodb.get_paginator("list_tables").paginate():
            names += page["TableNames"]
        return sorted(names)

    def _save_table(self, name: str) -> int:
        dynamodb = client("dynamodb", self.settings.region)
        count = 0
        with (self._tmp / "tables" / f"{name}.jsonl").open("w") as file:
            for page in dynamodb.get_paginator("scan").paginate(TableName=name):
                for item in page["Items"]:
                    file.write(json.dumps(_encode(item)) + "\n")
                    count += 1
        return count

    def _save_objects(self, previous: Path | None) -> tuple[int, int, int]:
        s3 = client("s3", self.settings.region)
        before = {entry["key"]: entry for entry in self._index(previous)} if previous else {}
        count = size = linked = 0
        with (self._tmp / "objects" / "index.jsonl").open("w") as index:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.settings.bucket):
                for listed in page.get("Contents", []):
                    key, etag = listed["Key"], listed["ETag"]
                    target = self._tmp / "objects" / "data" / str(count)
                    old = before.get(key)
                    if previous is not None and old and old["etag"] == etag:
                        _link_or_copy(previous / "objects" / "data" / old["file"], target)
                        entry = dict(old, file=str(count))
                        linked += 1
                    else:
                        entry = self._download(s3, key, target)
                    index.write(json.dumps(entry) + "\n")
                    count += 1
                    size += int(listed.get("Size", 0))
        return count, size, linked

    def _download(self, s3: Any, key: str, target: Path) -> dict[str, Any]:
        response = s3.get_object(Bucket=self.settings.bucket, Key=key)
        with target.open("wb") as file:
            for chunk in response["Body"].iter_chunks(COPY_CHUNK):
                file.write(chunk)
        return {
            "key": key,
            "file": target.name,
            "etag": response["ETag"],
            "last_modified": response["LastModified"].astimezone(UTC).isoformat(),
            "metadata": response.get("Metadata") or {},
            "headers": {name: response[name] for name in _OBJECT_HEADERS if response.get(name)},
        }

    @staticmethod
    def _index(snapshot: Path) -> Iterator[dict[str, Any]]:
        path = snapshot / "objects" / "index.jsonl"
        if path.exists():
            with path.open() as file:
                for line in file:
                    yield json.loads(line)

    # ---- load ----------------------------------------------------------------------------------
    def load(self) -> SnapshotInfo | None:
        """Refill the (freshly created) tables and bucket from the last snapshot; None if there is none."""
        snapshot = self.current()
        if snapshot is None:
            return None
        manifest = json.loads((snapshot / MANIFEST).read_text())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{snapshot}: snapshot format {manifest.get('format')} is not {FORMAT}")
        existing = set(self._table_names())
        tables = {}
        for path in sorted((snapshot / "tables").glob("*.jsonl")):
            name = path.stem
            if name not in existing:
                # A table no model declares any more: its items have nowhere to go.
                logger.warning("snapshot table not restored", extra={"table": name})
                continue
            tables[name] = self._load_table(name, path)
        objects, size = self._load_objects(snapshot)
        if (snapshot / KMS_FILE).exists():
            _restore_kms_keys(self.settings.region, json.loads((snapshot / KMS_FILE).read_text()))
        return SnapshotInfo(saved=manifest["saved"], tables=tables, objects=objects, bytes=size)

    def _load_table(self, name: str, path: Path) -> int:
        dynamodb = client("dynamodb", self.settings.region)
        count = 0
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            pending: dict[str, Any] = {name: [{"PutRequest": {"Item": item}} for item in batch]}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            batch.clear()

        with path.open() as file:
            for line in file:
                batch.append(_decode(json.loads(line)))
                count += 1
                if len(batch) == BATCH_WRITE_LIMIT:
                    flush()
        if batch:
            flush()
        return count

    def _load_objects(self, snapshot: Path) -> tuple[int, int]:
        s3 = client("s3", self.settings.region)
        count = size = 0
        for entry in self._index(snapshot):
            data = snapshot / "objects" / "data" / entry["file"]
            with data.open("rb") as body:
                s3.put_object(
                    Bucket=self.settings.bucket,
                    Key=entry["key"],
                    Body=body,
                    Metadata=entry["metadata"],
                    **entry["headers"],
                )
            _keep_last_modified(self.settings.bucket, entry["key"], entry["last_modified"])
            count += 1
            size += data.stat().st_size
        return count, size


def _kms_keys(region: str) -> list[dict[str, Any]]:
    """moto's KMS keys that have an alias: id and key material (local only, like everything here).

    Values the stack encrypted (LTI consumer secrets) must decrypt after a restart, but a new moto
    creates new keys; the restore gives the stack's aliased keys their old id and material back.
    """
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.kms.models import kms_backends

        keys = kms_backends[DEFAULT_ACCOUNT_ID][region].keys.values()
        return [
            {
                "id": key.id,
                "material": base64.b64encode(key.key_material).decode(),
                "aliases": sorted(key.aliases),
            }
            for key in keys
            if key.aliases
        ]
    except Exception:  # moto's internals differ: encrypted values will not survive a restart
        logger.warning("KMS keys not saved")
        return []


def _restore_kms_keys(region: str, saved: list[dict[str, Any]]) -> None:
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.kms.models import kms_backends

        backend = kms_backends[DEFAULT_ACCOUNT_ID][region]
        for entry in saved:
            current = next((backend.get_key_id_from_alias(a) for a in entry["aliases"]), None)
            if current is None or current == entry["id"] or entry["id"] in backend.keys:
                continue
            key = backend.keys.pop(current)
            key.id, key.key_material = entry["id"], base64.b64decode(entry["material"])
            key.arn = key.arn.rsplit("/", 1)[0] + "/" + entry["id"]
            backend.keys[key.id] = key
    except Exception:  # a restore without its keys still restores everything else
        logger.warning("KMS keys not restored: values encrypted before the stop will not decrypt")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _keep_last_modified(bucket: str, key: str, when: str) -> None:
    """Give a restored object its original time: report listings are ordered by it.

    moto (in this process) stamps every put with the current time and S3 has no API to set it, so
    the stored object's attribute is set directly; if moto's internals ever differ, the object keeps
    its restore time (listings then order by name within the same second).
    """
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys.get(key)
        if stored is not None:
            stored.last_modified = datetime.fromisoformat(when).astimezone(UTC).replace(tzinfo=None)
    except Exception:  # a fidelity nicety, never a reason to lose the restore
        logger.warning("restored object keeps its restore time", extra={"key": key})


class PeriodicSnapshots:
    """Saves a snapshot every ``interval_s`` seconds when something was written since the last one."""

    def __init__(self, store: StateStore, watcher: ChangeWatcher, interval_s: float):
        self.store, self.watcher, self.interval_s = store, watcher, interval_s
        self.saved = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="state-snapshots", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=120)

    def save_now(self) -> SnapshotInfo:
        self.watcher.changed.clear()  # writes from here on make the next snapshot due
        info = self.store.save()
        self.saved += 1
        return info

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.watcher.changed.is_set():
                continue
            try:
                self.save_now()
            except Exception:  # the next period tries again; the last snapshot stays
                logger.exception("periodic snapshot failed")
                self.watcher.changed.set()
