"""Manual enrollment audit records (upstream's ManualEnrollmentAudit) in the courses table.

pk = course, sk ``ENRAUDIT#<task created>#<task id>#<row 9 digits>``: one per identifier a batch
changed, in the order batches were made. The key is fixed by the task and the row, so writing a
record again (a chunk delivered twice) leaves one record. No ``email`` / ``username`` attribute:
those names are index keys of the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from functions.dal import tables
from functions.dal.tables import PAY_PER_REQUEST
from functions.models.enrollment import AuditRecord
from functions.settings import Settings

AUDIT_PREFIX = "ENRAUDIT#"


class AuditItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    enrolled_by = UnicodeAttribute()
    enrolled_email = UnicodeAttribute()
    identifier = UnicodeAttribute()
    user_id = NumberAttribute(null=True)
    state_transition = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    task_id = UnicodeAttribute()
    time_stamp = UTCDateTimeAttribute()


def audit_sk(record: AuditRecord) -> str:
    return f"{AUDIT_PREFIX}{record.task_created.isoformat()}#{record.task_id}#{record.row:09d}"


class EnrollmentAuditRepository:
    def __init__(self, settings: Settings):
        tables.bind_models(settings, "courses_table", (AuditItem,))

    def put(self, course_id: str, records: Iterable[AuditRecord]) -> None:
        with AuditItem.batch_write() as batch:
            for record in records:
                batch.save(
                    AuditItem(
                        course_id,
                        audit_sk(record),
                        enrolled_by=record.enrolled_by,
                        enrolled_email=record.email,
                        identifier=record.identifier,
                        user_id=record.user_id,
                        state_transition=record.state_transition,
                        reason=record.reason,
                        role=record.role,
                        task_id=record.task_id,
                        time_stamp=record.time_stamp,
                    )
                )

    def list(self, course_id: str, limit: int = 100, task_id: str | None = None) -> list[AuditRecord]:
        """Newest first; with ``task_id``, one batch's records."""
        condition = AuditItem.task_id == task_id if task_id else None
        found = []
        for item in AuditItem.query(
            course_id,
            AuditItem.sk.startswith(AUDIT_PREFIX),
            filter_condition=condition,
            scan_index_forward=False,
        ):
            found.append(
                AuditRecord(
                    task_id=item.task_id,
                    task_created=_task_created(item.sk),
                    row=int(item.sk.rsplit("#", 1)[1]),
                    enrolled_by=item.enrolled_by,
                    email=item.enrolled_email,
                    identifier=item.identifier,
                    user_id=None if item.user_id is None else int(item.user_id),
                    state_transition=item.state_transition,
                    reason=item.reason,
                    role=item.role,
                    time_stamp=item.time_stamp,
                )
            )
            if len(found) >= limit:
                break
        return found


def _task_created(sk: str) -> datetime:
    return datetime.fromisoformat(sk[len(AUDIT_PREFIX) :].split("#", 1)[0])
