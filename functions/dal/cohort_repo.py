"""Cohorts of a course and assignments waiting for a learner, in the courses table.

* cohorts : pk = course, sk ``COHORT#<name>``: the course's cohorts (upstream CourseUserGroup with
            its CourseCohort assignment type). Membership itself is the enrollment's ``cohort``.
* pending : pk = course, sk ``COHORTPRE#<lower-case email>``: a cohort an email was assigned to before
            the person had an enrollment (upstream UnknownUserCohort); applied when they enroll.

Neither item carries ``username``, ``email`` or ``user_key`` (the sparse index keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from functions.dal import tables
from functions.dal.faults import response_code
from functions.dal.tables import PAY_PER_REQUEST
from functions.models.cohorts import Cohort, PendingCohort
from functions.settings import Settings

COHORT_PREFIX = "COHORT#"
PENDING_PREFIX = "COHORTPRE#"
_CONDITIONAL_FAILED = "ConditionalCheckFailedException"


def cohort_sk(name: str) -> str:
    return f"{COHORT_PREFIX}{name}"


def pending_sk(email: str) -> str:
    return f"{PENDING_PREFIX}{email.lower()}"


class CohortItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    assignment_type = UnicodeAttribute(default="manual")
    created = UTCDateTimeAttribute()
    created_by = UnicodeAttribute(null=True)


class PendingCohortItem(Model):
    class Meta:
        table_name = "itask-courses"
        billing_mode = PAY_PER_REQUEST

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    pending_email = UnicodeAttribute()
    cohort = UnicodeAttribute()
    task_id = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()


class CohortExists(Exception):
    """A cohort of that name is already in the course."""


class CohortRepository:
    def __init__(self, settings: Settings):
        tables.bind_models(settings, "courses_table", (CohortItem, PendingCohortItem))

    def create(self, course_id: str, cohort: Cohort) -> None:
        """Add a cohort; ``CohortExists`` if the course has one of that name."""
        try:
            CohortItem(
                course_id,
                cohort_sk(cohort.name),
                name=cohort.name,
                assignment_type=cohort.assignment_type,
                created=cohort.created or datetime.now(UTC),
                created_by=cohort.created_by,
            ).save(condition=CohortItem.pk.does_not_exist())
        except PutError as error:
            if response_code(error) == _CONDITIONAL_FAILED:
                raise CohortExists(cohort.name) from error
            raise

    def list(self, course_id: str) -> list[Cohort]:
        return [
            _cohort(item) for item in CohortItem.query(course_id, CohortItem.sk.startswith(COHORT_PREFIX))
        ]

    def existing(self, course_id: str, names: Iterable[str]) -> set[str]:
        """Which of these names are cohorts of the course (one BatchGetItem per 100 names)."""
        keys = [(course_id, cohort_sk(name)) for name in set(names) if name]
        return {item.name for item in CohortItem.batch_get(keys, attributes_to_get=["name"])}

    # ---- assignments waiting for an enrollment ----
    def put_pending(self, course_id: str, pending: Iterable[PendingCohort]) -> None:
        now = datetime.now(UTC)
        with PendingCohortItem.batch_write() as batch:
            for entry in {entry.email.lower(): entry for entry in pending}.values():
                batch.save(
                    PendingCohortItem(
                        course_id,
                        pending_sk(entry.email),
                        pending_email=entry.email,
                        cohort=entry.cohort,
                        task_id=entry.task_id,
                        created=now,
                    )
                )

    def get_pending(self, course_id: str, emails: Iterable[str]) -> dict[str, PendingCohort]:
        """Lower-cased email -> its pending cohort, for those of these emails that have one."""
        keys = [(course_id, pending_sk(email)) for email in {email.lower() for email in emails}]
        return {
            item.pending_email.lower(): PendingCohort(
                email=item.pending_email, cohort=item.cohort, task_id=item.task_id
            )
            for item in PendingCohortItem.batch_get(keys)
        }

    def delete_pending(self, course_id: str, emails: Iterable[str]) -> None:
        with PendingCohortItem.batch_write() as batch:
            for email in {email.lower() for email in emails}:
                batch.delete(PendingCohortItem(course_id, pending_sk(email)))


def _cohort(item: CohortItem) -> Cohort:
    return Cohort.model_validate(
        {
            "name": item.name,
            "assignment_type": item.assignment_type,
            "created": item.created,
            "created_by": item.created_by,
        }
    )
