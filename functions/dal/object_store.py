"""S3: pipeline scratch objects, streamed report uploads, listings and pre-signed links."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError

from functions.dal import download_links
from functions.dal.clients import client
from functions.dal.secrets import SecretStore
from functions.settings import Settings

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum size of every part but the last
PART_BYTES = 8 * 1024 * 1024
READ_BYTES = 1024 * 1024
_CONDITIONAL_ATTEMPTS = 5
_CONFLICT_PAUSE_S = 0.2


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    last_modified: datetime
    size: int


class StreamingUpload:
    """Write an object of any size holding at most one part in memory (multipart when large)."""

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str, part_bytes: int = PART_BYTES):
        if part_bytes < MIN_PART_BYTES:
            raise ValueError("S3 parts must be at least 5 MiB")
        self._s3, self._bucket, self._key, self._content_type = s3, bucket, key, content_type
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= self._part_bytes:
            self._upload_part(bytes(self._buffer[: self._part_bytes]))
            del self._buffer[: self._part_bytes]

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )["UploadId"]
        number = len(self._parts) + 1
        etag = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), ContentType=self._content_type
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()

    def abort(self) -> None:
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        self._buffer = bytearray()

    def __enter__(self) -> StreamingUpload:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ObjectStore:
    def __init__(self, settings: Settings):
        self.bucket = settings.bucket
        self._settings = settings
        self._s3 = client("s3", settings.region)

    def put_json(self, key: str, value: Any) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(value, separators=(",", ":")).encode(),
            ContentType="application/json",
        )

    def get_json(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def put_if_absent(self, key: str, body: bytes, content_type: str) -> bool:
        """Write ``key`` only if no object has that key (S3 conditional write); False if one does."""
        for _ in range(_CONDITIONAL_ATTEMPTS):
            try:
                self._s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
                )
                return True
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "PreconditionFailed":
                    return False
                # 409 ConditionalRequestConflict: another conditional write of the key is in flight.
                if code != "ConditionalRequestConflict":
                    raise
                time.sleep(_CONFLICT_PAUSE_S)
        return False

    def get_bytes(self, key: str, max_bytes: int | None = None) -> bytes:
        """The whole object; with ``max_bytes``, at most that many bytes plus one (a size check)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if max_bytes is not None:
            params["Range"] = f"bytes=0-{max_bytes}"
        body: bytes = self._s3.get_object(**params)["Body"].read()
        return body

    def size_of(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        try:
            return int(self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def presign_post(
        self, key: str, max_bytes: int, ttl_seconds: int, content_type: str | None = None
    ) -> dict[str, Any]:
        """A browser-style upload form for exactly ``key``: the signed policy bounds the size."""
        fields: dict[str, str] = {}
        conditions: list[Any] = [["content-length-range", 1, max_bytes]]
        if content_type:
            fields["Content-Type"] = content_type
            conditions.append({"Content-Type": content_type})
        post: dict[str, Any] = self._s3.generate_presigned_post(
            self.bucket, key, Fields=fields or None, Conditions=conditions, ExpiresIn=ttl_seconds
        )
        return post

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        """The object's content in pieces of at most 1 MiB."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(READ_BYTES)
        finally:
            body.close()

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the object: one ranged GET."""
        if end <= start:
            return b""
        body = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    # ---- multipart uploads assembled by several functions (the parallel merge) ----
    def create_multipart(self, key: str, content_type: str) -> str:
        upload_id: str = self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )["UploadId"]
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        etag: str = self._s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        return etag

    def upload_part_copy(self, key: str, upload_id: str, number: int, source_key: str) -> str:
        """A part copied from a whole stored object, server side: no bytes pass through here."""
        etag: str = self._s3.upload_part_copy(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": self.bucket, "Key": source_key},
        )["CopyPartResult"]["ETag"]
        return etag

    def complete_multipart(self, key: str, upload_id: str) -> bool:
        """Finish an upload from its uploaded parts (listed, 1,000 a page); False if already done."""
        parts: list[dict[str, Any]] = []
        try:
            for page in self._s3.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ):
                parts += [{"ETag": p["ETag"], "PartNumber": p["PartNumber"]} for p in page.get("Parts", [])]
            self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": sorted(parts, key=lambda part: part["PartNumber"])},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchUpload" and self.exists(key):
                return False  # completed by an earlier attempt
            raise
        return True

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def open_upload(self, key: str, content_type: str) -> StreamingUpload:
        return StreamingUpload(self._s3, self.bucket, key, content_type)

    def list(self, prefix: str) -> list[ObjectInfo]:
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                found.append(ObjectInfo(entry["Key"], entry["LastModified"], int(entry["Size"])))
        return found

    def presign_get(self, key: str, ttl_seconds: int, download_name: str | None = None) -> str:
        """A link that downloads ``key`` for ``ttl_seconds``: S3 pre-signed, or (local stack only)
        HMAC-signed for the local stack's checked download route."""
        local = self._settings.local_download_url
        if local:
            secret = SecretStore(self._settings).read(
                self._settings.local_download_key_arn, "local download", "ITASK_LOCAL_DOWNLOAD_KEY_ARN"
            )
            expires = int(time.time()) + ttl_seconds
            name = download_name or key.rsplit("/", 1)[-1]
            return download_links.local_link(local, secret, key, expires, name)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        url: str = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds)
        return url

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (1,000 per request)."""
        keys = [info.key for info in self.list(prefix)]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self._s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        return len(keys)
