"""Invitations that become enrollments when the person's account arrives (the profile loader).

Batch enrollment invites an unknown email with an allowed-to-enroll record and marks the email as
waiting in that course. When a profile with that email is loaded, each course holding an
``auto_enroll`` invitation enrolls the user (and applies a cohort pre-assigned to the email); the
mark is then removed. Every step sets values, so a load repeated changes nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable

from functions.dal.cohort_repo import CohortRepository
from functions.dal.learner_records import LearnerRecords
from functions.dal.people_repo import PeopleRepository
from functions.logic.registry import RunContext
from functions.models.people import UserProfile


def _invitations(ctx: RunContext, profiles: list[UserProfile]) -> list[tuple[UserProfile, str, bool]]:
    """(profile, course, enroll?) for each course waiting on one of these emails: enroll when the
    invitation still stands with auto-enroll and the course exists; either way the mark goes."""
    people = PeopleRepository(ctx.settings)
    waiting = people.pending_courses(profile.email for profile in profiles)
    found: list[tuple[UserProfile, str, bool]] = []
    for profile in profiles:
        email = profile.email.lower()
        for course_id in sorted(waiting.get(email, ())):
            invitation = people.get_allowed(course_id, [email]).get(email)
            ok = invitation is not None and invitation.auto_enroll and ctx.courses.course_exists(course_id)
            found.append((profile, course_id, ok))
    return found


def count_invited(ctx: RunContext, profiles: Iterable[UserProfile]) -> int:
    """How many enrollments ``enroll_invited`` would make for these profiles (reads only)."""
    return sum(ok for _, _, ok in _invitations(ctx, list(profiles)))


def enroll_invited(ctx: RunContext, profiles: Iterable[UserProfile]) -> int:
    """Enroll the loaded users whose email was invited with auto-enroll; how many enrollments."""
    found = _invitations(ctx, list(profiles))
    if not found:
        return 0
    people = PeopleRepository(ctx.settings)
    records = LearnerRecords(ctx.settings)
    cohorts = CohortRepository(ctx.settings)
    enrolled = 0
    for profile, course_id, ok in found:
        email = profile.email.lower()
        if ok:
            records.enroll(course_id, profile.id, profile.username, profile.email)
            pending = cohorts.get_pending(course_id, [email]).get(email)
            if pending is not None:
                records.set_cohort(course_id, profile.id, pending.cohort)
                cohorts.delete_pending(course_id, [email])
            enrolled += 1
        people.remove_pending_course(email, course_id)
    return enrolled
