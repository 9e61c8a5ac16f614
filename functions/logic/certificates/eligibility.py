"""Who earns a certificate: the one rule generation and the grade report share, so they always agree.

A learner earns one with an active enrollment and either an allowlist entry (a certificate
exception: no grade needed) or a passing course grade in a certificate-bearing mode. The grade is
``grading.course_grade`` over the learner's scores and groups: the grade report's own computation.
"""

from __future__ import annotations

from typing import Literal

from functions.logic import grading
from functions.logic.grading import CourseGrade
from functions.models.course import Enrollment

# Modes whose learners pursue a certificate: the verified-type modes the grade report names
# (upstream's CourseMode.VERIFIED_MODES). Audit (and honor, as on installations that disable honor
# certificates) learners get audit_passing / audit_notpassing records instead.
CERTIFICATE_MODES = grading.VERIFIED_MODES

# Upstream's CertificateStatuses.
DOWNLOADABLE = "downloadable"
NOTPASSING = "notpassing"
AUDIT_PASSING = "audit_passing"
AUDIT_NOTPASSING = "audit_notpassing"
ERROR = "error"
UNAVAILABLE = "unavailable"
# What staff may regenerate (spec §7.1).
REGENERABLE_STATUSES = (DOWNLOADABLE, ERROR, NOTPASSING, AUDIT_PASSING, AUDIT_NOTPASSING)
# "Already has a certificate in a passing status" (allowlisted_not_generated).
PASSED_STATUSES = frozenset({DOWNLOADABLE, "generating", "unverified"})

Outcome = Literal["generated", "not_passing", "audit"]


def certificate_mode(mode: str) -> bool:
    return mode in CERTIFICATE_MODES


def eligible(enrollment: Enrollment, grade: CourseGrade) -> bool:
    """Whether the learner earns a certificate, leaving the enrollment's activity aside."""
    return enrollment.allowlisted or (grade.passed and certificate_mode(enrollment.mode))


def outcome(enrollment: Enrollment, grade: CourseGrade) -> tuple[Outcome, str]:
    """(what generation does, the certificate status it records) for an active enrollment."""
    if eligible(enrollment, grade):
        return "generated", DOWNLOADABLE
    if not certificate_mode(enrollment.mode):
        return "audit", AUDIT_PASSING if grade.passed else AUDIT_NOTPASSING
    return "not_passing", NOTPASSING
