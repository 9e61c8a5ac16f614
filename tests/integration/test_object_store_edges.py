"""The object store's edges against the bucket (moto): streamed uploads at a part's exact size,
aborted uploads, conditional writes, absent objects, repeated completes and ranged reads."""

from __future__ import annotations

import re

import pytest

from functions.dal.object_store import MIN_PART_BYTES, ObjectStore, StreamingUpload
from functions.errors import BadRequest
from functions.logic import registry, uploads
from functions.logic.registry import RunContext


@pytest.fixture
def store(small_chunks_stack) -> ObjectStore:
    return ObjectStore(small_chunks_stack.settings)


def open_uploads(store: ObjectStore) -> list[str]:
    answer = store._s3.list_multipart_uploads(Bucket=store.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def test_a_streamed_upload_of_exactly_one_part_and_an_aborted_one(store):
    with pytest.raises(ValueError, match=r"^S3 parts must be at least 5 MiB$"):
        StreamingUpload(store._s3, store.bucket, "edge/x", "text/plain", part_bytes=MIN_PART_BYTES - 1)
    part = b"a" * MIN_PART_BYTES
    # exactly one part: sent when written, nothing left over at close
    with StreamingUpload(store._s3, store.bucket, "edge/one-part", "text/plain", MIN_PART_BYTES) as upload:
        upload.write(part)
    assert store.size_of("edge/one-part") == MIN_PART_BYTES
    assert upload.size == MIN_PART_BYTES
    # an error inside the block aborts the multipart upload: no object, no upload left open
    aborted = StreamingUpload(store._s3, store.bucket, "edge/aborted", "text/plain", MIN_PART_BYTES)
    with pytest.raises(RuntimeError, match="boom"), aborted as upload:
        upload.write(part + b"b")
        raise RuntimeError("boom")
    assert store.exists("edge/aborted") is False
    assert open_uploads(store) == []
    # a small object aborted before any part was sent: nothing to abort, nothing written
    with pytest.raises(RuntimeError, match="small"), store.open_upload("edge/small", "text/plain") as upload:
        upload.write(b"abc")
        raise RuntimeError("small")
    assert store.size_of("edge/small") is None


def test_conditional_writes_absent_objects_and_ranges(store):
    assert store.put_if_absent("edge/once", b"first", "text/plain") is True
    assert store.put_if_absent("edge/once", b"second", "text/plain") is False
    assert store.get_bytes("edge/once") == b"first"
    assert store.get_bytes("edge/once", max_bytes=2) == b"fir"  # the limit and one byte more
    assert store.read_range("edge/once", 1, 3) == b"ir"
    assert store.read_range("edge/once", 3, 3) == b""
    assert store.size_of("edge/none") is None
    assert store.exists("edge/none") is False


def test_a_multipart_upload_completed_twice_is_done_once(store):
    upload_id = store.create_multipart("edge/merged", "text/csv")
    store.upload_part("edge/merged", upload_id, 1, b"x,y\n")
    assert store.complete_multipart("edge/merged", upload_id) is True
    assert store.complete_multipart("edge/merged", upload_id) is False  # a retried step
    assert store.get_bytes("edge/merged") == b"x,y\n"
    store.abort_multipart("edge/merged", upload_id)  # already completed: nothing to abort
    assert store.get_bytes("edge/merged") == b"x,y\n"


def test_merge_csv_streams_the_header_then_each_part_as_stored(small_chunks_stack, store):
    ctx = RunContext.create(small_chunks_stack.settings)
    store.put_bytes("edge/part-0", b"1,a\r\n2,b\r\n", "text/csv")
    store.put_bytes("edge/part-1", b"", "text/csv")  # a chunk with no rows
    store.put_bytes("edge/part-2", b"3,c\r\n", "text/csv")
    size = registry.merge_csv(
        ctx, ["id", "name"], ["edge/part-0", "edge/part-1", "edge/part-2"], "edge/out.csv"
    )
    assert store.get_bytes("edge/out.csv") == b"id,name\r\n1,a\r\n2,b\r\n3,c\r\n"
    assert size == len(b"id,name\r\n1,a\r\n2,b\r\n3,c\r\n")
    assert registry.merge_csv(ctx, ["id"], [], "edge/empty.csv") == len(b"id\r\n")


def test_uploads_named_wrongly_missing_or_empty_are_refused_with_what_they_are(small_chunks_stack, store):
    ctx = RunContext.create(small_chunks_stack.settings)
    course, purpose = "course-v1:EdgeX+E1+2026", uploads.Purpose.COHORTS
    not_an_id = "upload_id must be the id an upload answered (32 hexadecimal digits)"
    for check in (uploads.read_upload, uploads.check_upload):
        with pytest.raises(BadRequest, match=re.escape(not_an_id)):
            check(ctx, course, purpose, "../../other-course/file")
    missing = "0" * 32
    with pytest.raises(BadRequest) as raised:
        uploads.check_upload(ctx, course, purpose, missing)
    assert str(raised.value) == (
        f"No cohort CSV file was uploaded as {missing} for this course (or it has expired)"
    )
    empty = uploads.store_upload(ctx, course, purpose, b"")
    with pytest.raises(BadRequest, match=r"^The cohort CSV file is empty$"):
        uploads.check_upload(ctx, course, purpose, empty)
    stored = uploads.store_upload(ctx, course, purpose, b"email,cohort\r\n")
    assert uploads.check_upload(ctx, course, purpose, stored) == len(b"email,cohort\r\n")
    assert b"".join(uploads.stream_upload(ctx, course, purpose, stored)) == b"email,cohort\r\n"
    # a malformed id deletes nothing (it would name a key outside the course's uploads)
    uploads.delete_upload(ctx, course, purpose, "not-an-id")
    uploads.delete_upload(ctx, course, purpose, stored)
    assert store.size_of(uploads.upload_key(ctx.settings, course, purpose, stored)) is None
    assert store.size_of(uploads.upload_key(ctx.settings, course, purpose, empty)) == 0
