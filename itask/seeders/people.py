"""Demo people data: profiles of every learner, invitations, survey answers, proctored exam attempts.

Profiles are international and uneven (some fields left blank, as real sign-up forms leave them); a
few accounts are deactivated; some invitations are for people who enrolled since; a third of the
active learners answered the survey, not every question; learners pursuing a certificate sat the
proctored midterm and final, some with a practice attempt first, a few flagged by the reviewer.
Everything comes from the ``rng`` handed in, so the same seed gives the same data.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.dal.course_repo import CourseRepository
from functions.dal.people_repo import PeopleRepository
from functions.logic.grading import VERIFIED_MODES
from functions.models.course import Course, Enrollment
from functions.models.people import (
    EnrollmentAllowed,
    LevelOfEducation,
    ProctoredAttempt,
    SurveyResponse,
    UserProfile,
)
from functions.settings import Settings

COURSE_START = datetime(2026, 9, 7, tzinfo=UTC)
# (city, country, language): where learners say they are.
PLACES = [
    ("Lagos", "NG", "en"),
    ("Nairobi", "KE", "sw"),
    ("Accra", "GH", "en"),
    ("Cairo", "EG", "ar"),
    ("São Paulo", "BR", "pt"),
    ("Ciudad de México", "MX", "es"),
    ("Bogotá", "CO", "es"),
    ("Montréal", "CA", "fr"),
    ("Paris", "FR", "fr"),
    ("Kraków", "PL", "pl"),
    ("Berlin", "DE", "de"),
    ("Stockholm", "SE", "sv"),
    ("İstanbul", "TR", "tr"),
    ("Beirut", "LB", "ar"),
    ("Mumbai", "IN", "hi"),
    ("Bengaluru", "IN", "en"),
    ("Hà Nội", "VN", "vi"),
    ("Tokyo", "JP", "ja"),
    ("Shanghai", "CN", "zh"),
    ("Seoul", "KR", "ko"),
]
EDUCATION: list[LevelOfEducation] = ["p", "m", "b", "a", "hs", "jhs", "other", "none"]
EDUCATION_WEIGHTS = [3, 18, 34, 8, 25, 4, 5, 3]
GOALS = [
    "Pass my statistics module at university",
    "Change careers into data analysis",
    "Refresh maths I have forgotten",
    "Help my children with their homework",
    "Prepare for a master's programme",
]
REFERRALS = ["newsletter", "friend", "search", "university", "social media"]
INVITED_FIRST = ["Aisha", "Bruno", "Chiara", "Dmitri", "Eun-ji", "Farid", "Grace", "Hamza", "Ingrid", "Joon"]
INVITED_LAST = ["Okafor", "Silva", "Moreau", "Kim", "Novak", "Rahman", "Lindqvist", "Mwangi", "Sato", "Ortiz"]
SURVEY = {
    "age_range": ["18-24", "25-34", "35-44", "45-54", "55+"],
    "occupation": ["student", "employed", "self-employed", "between jobs", "retired"],
    "hours_per_week": ["1-2", "3-5", "6-10", "10+"],
    "motivation": ["career", "degree", "curiosity", "teaching"],
    "prior_experience": ["none", "some school maths", "university course", "work experience"],
}
REVIEWS = [
    # (status, review status, suspicious comments, rules-violation comments), weighted below
    ("verified", "Clean", [], []),
    ("verified", "Clean", ["Looked away from the screen"], []),
    ("second_review_required", "Suspicious", ["Second face in frame", "Audio: voices"], []),
    ("rejected", "Rules Violation", ["Left the room"], ["Phone in view", "Notes on desk"]),
    ("submitted", "Not Reviewed", [], []),
    ("error", "Not Reviewed", [], []),
]
REVIEW_WEIGHTS = [62, 14, 6, 3, 12, 3]


def _display_names() -> tuple[dict[str, str], dict[str, str]]:
    """ASCII spelling -> the name as written, for the names the demo learners were drawn from."""
    from itask import seed as demo  # the learner generator (imported late: it imports this package)

    def ascii_of(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", text).lower() if c.isalnum() and c.isascii())

    return {ascii_of(n): n for n in demo.FIRST_NAMES}, {ascii_of(n): n for n in demo.LAST_NAMES}


def profile_for(
    enrollment: Enrollment, names: tuple[dict[str, str], dict[str, str]], rng: random.Random
) -> UserProfile:
    """A plausible profile matching the learner's username and email; some fields left blank."""
    firsts, lasts = names
    local = enrollment.email.split("@", 1)[0].split(".")
    first = firsts.get(local[0], local[0].title())
    last = lasts.get(local[1], local[1].title()) if len(local) > 2 else ""
    city, country, language = rng.choice(PLACES)
    joined = (enrollment.created or COURSE_START) - timedelta(
        days=rng.randint(1, 900), minutes=rng.randint(0, 1439)
    )
    meta: dict[str, Any] = {}
    if rng.random() < 0.3:
        meta["referral"] = rng.choice(REFERRALS)
    if rng.random() < 0.05:  # moved since sign-up: the report prefers meta.city
        meta["city"] = rng.choice(PLACES)[0]
    return UserProfile(
        id=enrollment.user_id,
        username=enrollment.username,
        email=enrollment.email,
        first_name=first,
        last_name=last or None,
        date_joined=joined,
        last_login=None if rng.random() < 0.04 else COURSE_START + timedelta(minutes=rng.randint(0, 72_000)),
        name=f"{first} {last}".strip(),
        language=language if rng.random() < 0.9 else None,
        location=f"{city}, {country}" if rng.random() < 0.7 else None,
        year_of_birth=rng.randint(1952, 2008) if rng.random() < 0.8 else None,
        gender=rng.choice(["f", "m", "o"]) if rng.random() < 0.85 else None,
        level_of_education=rng.choices(EDUCATION, EDUCATION_WEIGHTS)[0] if rng.random() < 0.9 else None,
        mailing_address=f"{rng.randint(1, 240)} Main Street, {city}" if rng.random() < 0.3 else None,
        goals=rng.choice(GOALS) if rng.random() < 0.6 else None,
        meta=meta,
        city=city if rng.random() < 0.85 else None,
        country=country if rng.random() < 0.95 else None,
        external_user_key=f"PRG-{enrollment.user_id:07d}" if rng.random() < 0.1 else None,
    )


def invitations(
    enrollments: list[Enrollment], rng: random.Random, count: int = 300
) -> list[EnrollmentAllowed]:
    """Mostly people not enrolled yet, and a few who have enrolled since they were invited."""
    taken_up = rng.sample(enrollments, k=min(len(enrollments), count // 8))
    found = {e.email.lower(): EnrollmentAllowed(email=e.email, created=COURSE_START) for e in taken_up}
    while len(found) < count:
        first, last = rng.choice(INVITED_FIRST), rng.choice(INVITED_LAST)
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@example.net"
        found.setdefault(
            email,
            EnrollmentAllowed(
                email=email,
                auto_enroll=rng.random() < 0.5,
                created=COURSE_START - timedelta(days=rng.randint(0, 30)),
            ),
        )
    return list(found.values())


def survey_answers(active: list[Enrollment], rng: random.Random) -> list[SurveyResponse]:
    responses = []
    for enrollment in active:
        if rng.random() >= 0.35:
            continue
        answers = {field: rng.choice(choices) for field, choices in SURVEY.items() if rng.random() < 0.85}
        if answers:
            submitted = COURSE_START + timedelta(minutes=rng.randint(0, 14_400))
            responses.append(SurveyResponse(user_id=enrollment.user_id, answers=answers, submitted=submitted))
    return responses


def exams_of(course: Course | None) -> list[tuple[str, int, datetime]]:
    """(display name, minutes allowed, opening) of the course's midterm and final exam subsections."""
    if course is None:
        return []
    weeks = {"Midterm Exam": (90, 2), "Final Exam": (120, 5)}
    return [
        (block.display_name, weeks[block.format][0], COURSE_START + timedelta(weeks=weeks[block.format][1]))
        for block in course.blocks.values()
        if block.category == "sequential" and block.format in weeks
    ]


def exam_attempts(
    learners: list[Enrollment], exams: list[tuple[str, int, datetime]], rng: random.Random
) -> list[ProctoredAttempt]:
    attempts = []
    for enrollment in learners:
        extra_time = rng.random() < 0.05  # an accommodation
        for number, (exam, minutes, opens) in enumerate(exams):
            if rng.random() > (0.92 if number == 0 else 0.75):
                continue  # did not sit it
            allowed = minutes * 3 // 2 if extra_time else minutes
            if rng.random() < 0.2:
                attempts.append(
                    ProctoredAttempt(
                        user_id=enrollment.user_id,
                        exam_name=exam,
                        provider="proctortrack",
                        attempt_code=f"S{number}-{enrollment.user_id}",
                        allowed_time_limit_mins=30,
                        is_sample_attempt=True,
                        started_at=opens - timedelta(days=1),
                        completed_at=opens - timedelta(days=1) + timedelta(minutes=rng.randint(5, 30)),
                        status="verified",
                        review_status="Clean",
                    )
                )
            status, review, suspicious, violations = rng.choices(REVIEWS, REVIEW_WEIGHTS)[0]
            started = opens + timedelta(minutes=rng.randint(0, 8_640))
            finished = None if status == "error" else started + timedelta(minutes=rng.randint(20, allowed))
            attempts.append(
                ProctoredAttempt(
                    user_id=enrollment.user_id,
                    exam_name=exam,
                    provider="proctortrack",
                    attempt_code=f"E{number}-{enrollment.user_id}-{rng.randrange(16**6):06x}",
                    allowed_time_limit_mins=allowed,
                    started_at=started,
                    completed_at=finished,
                    status=status,
                    review_status=review,
                    suspicious_comments=suspicious,
                    rules_violation_comments=violations,
                )
            )
    return attempts


def seed(settings: Settings, course_id: str, enrollments: list[Enrollment], rng: random.Random) -> str:
    people = PeopleRepository(settings)
    courses = CourseRepository(settings)
    names = _display_names()
    profiles = people.put_profiles(profile_for(enrollment, names, rng) for enrollment in enrollments)
    active = [enrollment for enrollment in enrollments if enrollment.is_active]
    # A few accounts deactivated after enrolling (the inactive-accounts report lists them).
    deactivated = [e.model_copy(update={"user_is_active": False}) for e in active if rng.random() < 0.01]
    courses.put_enrollments(deactivated)
    invited = invitations(enrollments, rng)
    people.put_allowed(course_id, invited)
    surveys = people.put_surveys(course_id, survey_answers(active, rng))
    certificate_seekers = [e for e in active if e.mode in VERIFIED_MODES]
    attempts = people.put_attempts(
        course_id, exam_attempts(certificate_seekers, exams_of(courses.get_course(course_id)), rng)
    )
    return (
        f"{profiles} profiles, {len(deactivated)} deactivated accounts, {len(invited)} invitations, "
        f"{surveys} survey responses, {attempts} proctored exam attempts"
    )
