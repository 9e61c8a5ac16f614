"""ORA submissions in the courses table, their attachments and the submission files archive in S3.

Each submission is two items in the course's partition, keyed by learner so a chunk of learners is
one key range:

* ``ORA#H#<uid 12 digits>#<submission uuid>``: a small head (block, archive entries, has a
  workflow). Planning reads only heads, so a course's population is a few Query pages however long
  the essays are.
* ``ORA#D#<uid 12 digits>#<submission uuid>``: the whole submission, zlib-compressed JSON.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from botocore.exceptions import ClientError
from pynamodb.attributes import BinaryAttribute, BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from functions.dal.clients import client
from functions.dal.item_limits import item_problem
from functions.dal.object_store import READ_BYTES
from functions.dal.tables import PAY_PER_REQUEST, bind_models
from functions.dal.versioned_items import put_group_if_newer, stored_versions
from functions.models.ora import OraSubmission
from functions.settings import Settings

HEAD_PREFIX = "ORA#H#"
DATA_PREFIX = "ORA#D#"
# DynamoDB items hold at most 400 KB; keep room for the keys and attribute names.
MAX_RECORD_BYTES = 380_000
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class OraHeadItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    block_id = UnicodeAttribute()
    archive_entries = NumberAttribute(default=0)
    has_workflow = BooleanAttribute(default=False)
    source_version = NumberAttribute(null=True)  # of the last versioned load line (versioned_items)


class OraDataItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    data = BinaryAttribute(legacy_encoding=False)  # zlib-compressed JSON of OraSubmission


class SubmissionHead(NamedTuple):
    """What planning reads of one submission."""

    user_id: int
    block_id: str
    archive_entries: int
    has_workflow: bool


def _sk(prefix: str, user_id: int, uuid: str) -> str:
    return f"{prefix}{user_id:012d}#{uuid}"


def encode_record(submission: OraSubmission) -> bytes:
    return zlib.compress(submission.model_dump_json().encode(), level=6)


def record_too_large(submission: OraSubmission) -> bool:
    return len(encode_record(submission)) > MAX_RECORD_BYTES


def _head_item(submission: OraSubmission) -> OraHeadItem:
    return OraHeadItem(
        submission.course_id,
        _sk(HEAD_PREFIX, submission.user_id, submission.uuid),
        user_id=submission.user_id,
        block_id=submission.block_id,
        archive_entries=submission.archive_entries,
        has_workflow=submission.workflow is not None,
    )


def _data_item(submission: OraSubmission) -> OraDataItem:
    return OraDataItem(
        submission.course_id,
        _sk(DATA_PREFIX, submission.user_id, submission.uuid),
        user_id=submission.user_id,
        data=encode_record(submission),
    )


def _decode(item: OraDataItem) -> OraSubmission:
    return OraSubmission.model_validate_json(zlib.decompress(item.data))


class OraRepository:
    def __init__(self, settings: Settings):
        bind_models(settings, "courses_table", (OraHeadItem, OraDataItem))

    def put_submissions(self, submissions: Iterable[OraSubmission]) -> int:
        """Create or replace submissions (head and record), batched."""
        count = 0
        with OraHeadItem.batch_write() as heads, OraDataItem.batch_write() as records:
            for submission in submissions:
                heads.save(_head_item(submission))
                records.save(_data_item(submission))
                count += 1
        return count

    def put_submission_if_newer(self, submission: OraSubmission, version: int) -> bool:
        """Head and record in one transaction, unless the stored head's ``source_version`` is as new;
        False then."""
        return put_group_if_newer([_head_item(submission), _data_item(submission)], version)

    def submission_versions(
        self, course_id: str, keys: Iterable[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        """(user id, uuid) -> the ``source_version`` of the stored submission, for versioned ones."""
        wanted = {(course_id, _sk(HEAD_PREFIX, user_id, uuid)): (user_id, uuid) for user_id, uuid in keys}
        return {wanted[key]: version for key, version in stored_versions(OraHeadItem, wanted).items()}

    def check_submissions(self, submissions: Iterable[OraSubmission]) -> tuple[int, str] | None:
        """(position, reason) of the first submission whose head or record DynamoDB would refuse."""
        for position, submission in enumerate(submissions):
            problem = item_problem(_head_item(submission)) or item_problem(_data_item(submission))
            if problem is not None:
                return position, problem
        return None

    def iter_heads(self, course_id: str) -> Iterator[SubmissionHead]:
        """Every submission head of the course, in learner order."""
        for item in OraHeadItem.query(course_id, OraHeadItem.sk.startswith(HEAD_PREFIX)):
            yield SubmissionHead(
                int(item.user_id), item.block_id, int(item.archive_entries or 0), bool(item.has_workflow)
            )

    def read_submissions(self, course_id: str, user_ids: list[int]) -> list[OraSubmission]:
        """The submissions of these learners: one range query over the chunk's learners."""
        if not user_ids:
            return []
        wanted = set(user_ids)
        # "$" sorts right after "#", so the upper bound takes in every submission of the last learner.
        low = f"{DATA_PREFIX}{min(wanted):012d}#"
        high = f"{DATA_PREFIX}{max(wanted):012d}$"
        return [
            _decode(item)
            for item in OraDataItem.query(course_id, OraDataItem.sk.between(low, high))
            if int(item.user_id) in wanted
        ]

    def iter_submissions(self, course_id: str) -> Iterator[OraSubmission]:
        """Every submission of the course in learner order, one Query page in memory at a time."""
        for item in OraDataItem.query(course_id, OraDataItem.sk.startswith(DATA_PREFIX)):
            yield _decode(item)


class Attachment:
    """An attachment being read: its size, then its content in pieces (close it when done)."""

    def __init__(self, size: int, body: Any):
        self.size = size
        self._body = body

    def pieces(self) -> Iterator[bytes]:
        yield from self._body.iter_chunks(READ_BYTES)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class OraFileStore:
    """Attachments in (``attachments/<sha1(course)>/...``) and the finished archive out to the reports."""

    def __init__(self, settings: Settings):
        self.bucket = settings.bucket
        self._s3 = client("s3", settings.region)

    def put_attachment(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def attachment_size(self, key: str) -> int | None:
        """The stored size of an attachment; None when there is no such object."""
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return None
            raise
        return int(head["ContentLength"])

    def open_attachment(self, key: str) -> Attachment | None:
        """The attachment, streamed; None when there is no such object (other errors raise)."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return None
            raise
        return Attachment(int(response["ContentLength"]), response["Body"])

    def publish(self, source_key: str, target_key: str, content_type: str) -> None:
        """Copy an object inside the bucket, server side (multipart beyond 5 GB): no bytes pass here."""
        self._s3.copy(
            {"Bucket": self.bucket, "Key": source_key},
            self.bucket,
            target_key,
            ExtraArgs={"ContentType": content_type, "MetadataDirective": "REPLACE"},
        )


def _missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES
