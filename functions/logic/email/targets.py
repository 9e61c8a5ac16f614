"""Email targets (spec §6.1): parsing, checking against the course, names, and who each one selects.

Who a target selects among the course's enrollments is ONE predicate over an enrollment
(:func:`selects`), so the population can be read in pages of enrollments (and, later, shard by
shard) without a request per learner. ``myself`` and ``staff`` are not enrollments: their people
come from the caller and the course's role grants.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from functions.errors import BadRequest
from functions.models.email import EnrollmentView, Target, TargetType

KNOWN = "myself, staff, learners, cohort:<name>, track:<mode>"
# Upstream's CourseMode display names for the usual slugs (the track target's long name).
MODE_NAMES = {
    "audit": "Audit",
    "honor": "Honor Certificate",
    "verified": "Verified Certificate",
    "professional": "Professional Education",
    "no-id-professional": "Professional Education",
    "credit": "Credit",
    "masters": "Master's",
    "executive-education": "Executive Education",
}
_LEARNER_SETS = frozenset({TargetType.LEARNERS, TargetType.COHORT, TargetType.TRACK})


def parse_targets(raw: Any) -> list[Target]:
    """Request strings (a list, or upstream's JSON-array string) to targets, duplicates dropped.

    400 for an empty list or an unrecognised target (spec §6.1: at least one target is required).
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise BadRequest(
                'send_to must be a list of targets, e.g. ["learners", "cohort:Group A"]'
            ) from error
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"send_to must be a non-empty list of targets ({KNOWN})")
    found: dict[str, Target] = {}
    for item in raw:
        target = parse_target(item)
        found.setdefault(target.request_string, target)
    return list(found.values())


def parse_target(item: Any) -> Target:
    if not isinstance(item, str) or not item.strip():
        raise BadRequest(f"Invalid target: {item!r} (targets: {KNOWN})")
    kind, sep, value = item.strip().partition(":")
    try:
        target_type = TargetType(kind.strip().lower())
    except ValueError:
        raise BadRequest(f"Invalid target: unrecognized target {item!r} (targets: {KNOWN})") from None
    if target_type in (TargetType.COHORT, TargetType.TRACK):
        if not sep or not value.strip():
            raise BadRequest(f"Invalid target: {item!r} needs a name, e.g. {target_type.value}:<name>")
        return Target(type=target_type, value=value.strip())
    if sep:
        raise BadRequest(f"Invalid target: {item!r} ({target_type.value} takes no name)")
    return Target(type=target_type)


def check_against_course(targets: list[Target], cohorts: set[str], modes: set[str], course_id: str) -> None:
    """400 for a cohort or track the course does not have (spec §6.1)."""
    for target in targets:
        if target.type is TargetType.COHORT and target.value not in cohorts:
            known = ", ".join(sorted(cohorts)) or "none"
            raise BadRequest(
                f"Invalid target: cohort {target.value!r} does not exist in {course_id} (cohorts: {known})"
            )
        if target.type is TargetType.TRACK and target.value not in modes:
            known = ", ".join(sorted(modes)) or "none"
            raise BadRequest(
                f"Invalid target: track {target.value!r} does not exist in {course_id} (modes: {known})"
            )


def long_name(target: Target) -> str:
    """Upstream's long display names (the email content list's ``sent_to``)."""
    if target.type is TargetType.MYSELF:
        return "Myself"
    if target.type is TargetType.STAFF:
        return "Staff and instructors"
    if target.type is TargetType.LEARNERS:
        return "All students"
    if target.type is TargetType.COHORT:
        return f"Cohort: {target.value}"
    return f"Course mode: {MODE_NAMES.get(target.value or '', target.value)}"


def to_option(targets: Iterable[Target]) -> list[str]:
    """Spec §6.3: each distinct target type; one written ``"k cohort"`` when it occurs k > 1 times."""
    counts = Counter(target.type.value for target in targets)
    return [kind if count == 1 else f"{count} {kind}" for kind, count in counts.items()]


def selects(targets: Iterable[Target], enrollment: EnrollmentView, staff_ids: frozenset[int]) -> bool:
    """Whether one of the learner-set targets selects this enrollment (spec §6.1).

    Every learner set needs an active account and an active enrollment; ``learners`` and ``track``
    leave out the course's staff and instructors, ``cohort`` does not. (An account found disabled
    when its message is due, e.g. a staff member's, is skipped then and counted.)
    """
    if not (enrollment.is_active and enrollment.user_is_active):
        return False
    for target in targets:
        if target.type is TargetType.COHORT and enrollment.cohort == target.value:
            return True
        if enrollment.user_id in staff_ids:
            continue
        if target.type is TargetType.LEARNERS:
            return True
        if target.type is TargetType.TRACK and enrollment.mode == target.value:
            return True
    return False


def has_learner_sets(targets: Iterable[Target]) -> bool:
    return any(target.type in _LEARNER_SETS for target in targets)
