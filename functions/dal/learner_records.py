"""What course-staff tasks change on a learner's enrollment item: cohort, active flag, certificate.

Every write sets values (never adds to them) and touches only its own attributes, so doing it twice,
or from two deliveries of one chunk at once, leaves the same item, and other writers' attributes
(scores, groups, names) are never overwritten. Items are addressed through
``CourseRepository.enrollment_key`` only: the one place that knows where (in which shard of the
course) a learner's enrollment item lives.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError

from functions.dal.course_repo import CourseRepository, certificate_map
from functions.dal.faults import response_code
from functions.dal.tables import EnrollmentItem, bind
from functions.models.course import Certificate
from functions.settings import Settings

_CONDITIONAL_FAILED = "ConditionalCheckFailedException"


class LearnerRecords:
    def __init__(self, settings: Settings):
        bind(settings)
        self._courses = CourseRepository(settings)

    def _item(self, course_id: str, user_id: int) -> EnrollmentItem:
        return EnrollmentItem(*self._courses.enrollment_key(course_id, user_id))

    def set_cohort(self, course_id: str, user_id: int, cohort: str | None) -> bool:
        """Put an enrolled learner in a cohort (None: in none). False if the learner is not enrolled."""
        action = EnrollmentItem.cohort.set(cohort) if cohort else EnrollmentItem.cohort.remove()
        return self._update(course_id, user_id, [action])

    def set_certificate(self, course_id: str, user_id: int, certificate: Certificate) -> bool:
        """Record the learner's certificate (replacing the one before). False if not enrolled."""
        return self._update(
            course_id, user_id, [EnrollmentItem.certificate.set(certificate_map(certificate))]
        )

    def remove_certificate(self, course_id: str, user_id: int) -> bool:
        """Remove the learner's certificate (a loaded delete). False if not enrolled."""
        return self._update(course_id, user_id, [EnrollmentItem.certificate.remove()])

    def set_active(self, course_id: str, user_id: int, active: bool) -> bool:
        """Activate or deactivate an existing enrollment. False if there is none."""
        return self._update(course_id, user_id, [EnrollmentItem.is_active.set(active)])

    def enroll(self, course_id: str, user_id: int, username: str, email: str, mode: str = "audit") -> None:
        """Create the enrollment (``mode``, now) or re-activate it, keeping its mode and other fields."""
        now = datetime.now(UTC)
        item = self._item(course_id, user_id)
        item.update(
            actions=[
                # The course and the shard's roster key: the course-wide indexes and planning find it.
                EnrollmentItem.course_id.set(course_id),
                EnrollmentItem.roster.set(item.pk),
                EnrollmentItem.user_key.set(f"U#{user_id}"),
                EnrollmentItem.user_id.set(user_id),
                EnrollmentItem.username.set(username),
                EnrollmentItem.email.set(email),
                EnrollmentItem.is_active.set(True),
                EnrollmentItem.mode.set(EnrollmentItem.mode | mode),
                EnrollmentItem.created.set(EnrollmentItem.created | now),
                EnrollmentItem.user_is_active.set(EnrollmentItem.user_is_active | True),
                EnrollmentItem.id_verified.set(EnrollmentItem.id_verified | False),
                EnrollmentItem.allowlisted.set(EnrollmentItem.allowlisted | False),
            ]
        )

    def _update(self, course_id: str, user_id: int, actions: list) -> bool:  # type: ignore[type-arg]
        try:
            self._item(course_id, user_id).update(actions=actions, condition=EnrollmentItem.pk.exists())
        except UpdateError as error:
            if response_code(error) != _CONDITIONAL_FAILED:
                raise
            return False
        return True
