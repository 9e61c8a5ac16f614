"""A demo course with synthetic learners whose answers look like a real cohort's.

Ability varies (Beta distribution), engagement decays through the course (learners drop out), some
never start, a few enrollments are inactive, modes mix audit and verified, names are international.
Everything is drawn from one seeded RNG: the same arguments give the same course and learners.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.dal.access_repo import AccessRepository
from functions.dal.course_repo import CourseRepository
from functions.logic.keys import parse_course
from functions.models.access import Principal, Role, RoleGrant
from functions.models.course import (
    Block,
    Course,
    Enrollment,
    GraderEntry,
    GradingPolicy,
    ProblemScore,
)
from functions.settings import Settings
from itask.defaults import DEMO_COURSE
from itask.seeders import all_seeders

FIRST_USER_ID = 1001
FIRST_NAMES = [
    "Ana",
    "Bilal",
    "Chen",
    "Dana",
    "Émile",
    "Fatima",
    "Giulia",
    "Hiro",
    "Ines",
    "José",
    "Kwame",
    "Lena",
    "Mateo",
    "Nadia",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tanvi",
    "Uma",
    "Vikram",
    "Wen",
    "Zoë",
]
LAST_NAMES = [
    "Abebe",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fujita",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "López",
    "Mensah",
    "Nguyen",
    "O'Brien",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Wang",
]

_TOPICS = [
    "Vectors",
    "Matrices",
    "Limits",
    "Derivatives",
    "Integrals",
    "Series",
    "Probability",
    "Distributions",
    "Estimation",
    "Regression",
]
_LABS = ["Plotting data", "Simulation", "Fitting a model", "A/B testing"]

STAFF = {
    "instructor": (2, False, [Role.INSTRUCTOR, Role.DATA_RESEARCHER]),
    "staff": (3, False, [Role.STAFF]),
    "researcher": (4, False, [Role.DATA_RESEARCHER]),
    "admin": (1, True, []),
}


@dataclass
class SeedSummary:
    course_id: str
    learners: int
    active: int
    with_scores: int
    subsections: int
    problems: int
    extras: list[str] = field(default_factory=list)  # what itask.seeders added


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text).lower() if c.isalnum() and c.isascii())


def demo_course(course_id: str, start: datetime) -> Course:
    """Six weeks: 10 homeworks, 4 labs, a midterm and a final, plus ungraded practice."""
    blocks: dict[str, Block] = {}
    rng = random.Random(course_id)

    def add(block: Block) -> str:
        blocks[block.id] = block
        return block.id

    chapters = []
    homework = lab = 0
    for week in range(1, 7):
        subsections: list[str] = []
        plan = [("Homework", 2)] + ([("Lab", 1)] if week in (2, 3, 4, 5) else [])
        if week == 1:
            plan.insert(0, ("", 1))  # ungraded practice
        if week == 3:
            plan.append(("Midterm Exam", 1))
        if week == 6:
            plan.append(("Final Exam", 1))
        for assignment_type, count in plan:
            for _ in range(count):
                if assignment_type == "Homework":
                    name = _TOPICS[homework % len(_TOPICS)]
                    homework += 1
                elif assignment_type == "Lab":
                    name = _LABS[lab % len(_LABS)]
                    lab += 1
                elif assignment_type:
                    name = assignment_type
                else:
                    name = "Getting started (practice)"
                sub_id = f"seq-w{week}-{len(subsections) + 1}"
                problems = []
                exam = assignment_type.endswith("Exam")
                for number in range(1, (6 if exam else rng.randint(2, 4)) + 1):
                    problems.append(
                        add(
                            Block(
                                id=f"{sub_id}-p{number}",
                                category="problem",
                                display_name=f"Problem {number}",
                                max_score=float(rng.choice([1, 1, 2, 3])),
                                weight=10.0 if exam else None,
                            )
                        )
                    )
                vertical = add(
                    Block(id=f"{sub_id}-unit", category="vertical", display_name="Unit", children=problems)
                )
                subsections.append(
                    add(
                        Block(
                            id=sub_id,
                            category="sequential",
                            display_name=name,
                            children=[vertical],
                            format=assignment_type or None,
                            graded=bool(assignment_type),
                        )
                    )
                )
        chapters.append(
            add(
                Block(
                    id=f"chapter-w{week}",
                    category="chapter",
                    display_name=f"Week {week}",
                    children=subsections,
                )
            )
        )
    root = add(Block(id="course", category="course", display_name="Grading 101", children=chapters))
    policy = GradingPolicy(
        graders=[
            GraderEntry(type="Homework", short_label="HW", min_count=10, drop_count=2, weight=0.3),
            GraderEntry(type="Lab", min_count=4, drop_count=1, weight=0.2),
            GraderEntry(type="Midterm Exam", short_label="Midterm", min_count=1, drop_count=0, weight=0.2),
            GraderEntry(type="Final Exam", short_label="Final", min_count=1, drop_count=0, weight=0.3),
        ],
        grade_cutoffs={"A": 0.9, "B": 0.8, "C": 0.65, "Pass": 0.5},
    )
    return Course(
        course_id=course_id,
        display_name="Grading 101",
        root=root,
        blocks=blocks,
        grading_policy=policy,
        end=start + timedelta(weeks=8),
    )


def seed_staff(settings: Settings, course_id: str) -> list[str]:
    parsed = parse_course(course_id)
    access = AccessRepository(settings)
    for username, (user_id, global_staff, roles) in STAFF.items():
        scope = parsed.org_scope if username == "researcher" and parsed else course_id
        principal = Principal(
            subject=username,
            user_id=user_id,
            username=username,
            email=f"{username}@example.org",
            global_staff=global_staff,
            grants=[RoleGrant(scope=scope, role=role) for role in roles],
        )
        access.put_principal(principal)
        # The same person signed in at the (local) Open edX LMS: `itask token --openedx USER`.
        openedx = f"{settings.openedx_subject_prefix}{username}"
        access.put_principal(principal.model_copy(update={"subject": openedx}))
    return list(STAFF)


def seed_course(
    settings: Settings,
    course_id: str = DEMO_COURSE,
    learners: int = 2000,
    seed: int = 42,
    with_state: bool = False,
) -> SeedSummary:
    """The demo course and its learners; ``with_state``: also their problem state (StudentModule rows)
    on the exams' problems, as upstream keeps it next to the grades."""
    rng = random.Random(seed)
    start = datetime(2026, 9, 7, tzinfo=UTC)
    course = demo_course(course_id, start)
    courses = CourseRepository(settings)
    courses.put_course(course)
    seed_staff(settings, course_id)

    sequentials = [b for b in course.blocks.values() if b.category == "sequential"]
    order = {
        sid: i
        for i, sid in enumerate(
            sid for chapter in course.blocks[course.root].children for sid in course.blocks[chapter].children
        )
    }
    sequentials.sort(key=lambda b: order[b.id])
    problems_of = {s.id: course.blocks[s.children[0]].children for s in sequentials}

    enrollments, sheets = [], []
    user_id = FIRST_USER_ID
    active = with_scores = 0
    for number in range(learners):
        user_id += rng.choice((1, 1, 1, 2, 3))  # ids have gaps, as real user tables do
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        ascii_first = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode().lower()
        username = f"{ascii_first}_{number:06d}"
        mode = rng.choices(["audit", "verified", "honor", "professional"], weights=[62, 30, 6, 2])[0]
        is_active = rng.random() > 0.06
        active += is_active
        enrollments.append(
            Enrollment(
                course_id=course_id,
                user_id=user_id,
                username=username,
                email=f"{ascii_first}.{_ascii(last)}.{number}@example.org",
                mode=mode,
                is_active=is_active,
                created=start - timedelta(days=rng.randint(0, 40)),
                id_verified=mode in ("verified", "professional") and rng.random() < 0.85,
                allowlisted=rng.random() < 0.01,
            )
        )
        if rng.random() < 0.08:
            continue  # enrolled, never started
        ability = rng.betavariate(5, 2)
        reach = len(sequentials) if rng.random() < 0.55 else rng.randint(1, len(sequentials))
        scores = {}
        for index, sequential in enumerate(sequentials[:reach]):
            if rng.random() < 0.1:
                continue  # skipped this one
            when = start + timedelta(days=7 * (index // 3) + rng.uniform(0, 6), hours=rng.uniform(0, 23))
            for problem_id in problems_of[sequential.id]:
                if rng.random() < 0.08:
                    continue
                possible = course.blocks[problem_id].max_score or 1.0
                chance = min(0.98, max(0.02, rng.gauss(ability, 0.15)))
                earned = float(sum(rng.random() < chance for _ in range(int(possible))))
                scores[problem_id] = ProblemScore(earned=earned, possible=possible, first_attempted=when)
        if scores:
            with_scores += 1
            sheets.append((user_id, scores))
    courses.put_enrollments(enrollments)
    courses.put_score_sheets(course_id, sheets)
    if with_state:
        courses.put_states(_exam_states(course, sheets, rng))
    extras = [
        run(settings, course_id, enrollments, random.Random(f"{seed}-{name}")) for name, run in all_seeders()
    ]
    return SeedSummary(
        course_id=course_id,
        learners=learners,
        active=active,
        with_scores=with_scores,
        subsections=len(sequentials),
        problems=sum(len(p) for p in problems_of.values()),
        extras=extras,
    )


def _exam_states(
    course: Course, sheets: list[tuple[int, dict[str, ProblemScore]]], rng: random.Random
) -> list[Any]:
    """Problem state behind the exam scores (attempts, score, when), one row per answered problem."""
    from functions.models.state import ProblemState

    exams = {
        problem
        for block in course.blocks.values()
        if block.category == "sequential" and (block.format or "").endswith("Exam")
        for unit in block.children
        for problem in course.blocks[unit].children
    }
    return [
        ProblemState(
            course_id=course.course_id,
            user_id=user_id,
            problem_id=problem_id,
            attempts=rng.randint(1, 3),
            earned=score.earned,
            possible=score.possible,
            first_attempted=score.first_attempted,
            modified=score.first_attempted,
        )
        for user_id, scores in sheets
        for problem_id, score in scores.items()
        if problem_id in exams
    ]


def _answer(response: Any, right: bool, rng: random.Random) -> dict[str, Any]:
    """A stored answer for one response of a parsed problem: right, or a plausible wrong one."""
    from functions.logic.capa import numeric
    from functions.models.content import (
        CheckboxSpec,
        FormulaSpec,
        MultipleChoiceSpec,
        NumericalSpec,
        OptionSpec,
        StringSpec,
    )

    if isinstance(response, MultipleChoiceSpec) and response.choices:
        correct = [c.name for c in response.choices if c.correct == "true"] or [response.choices[0].name]
        wrong = [c.name for c in response.choices if c.name not in correct] or correct
        return {response.inputs[0].id: correct[0] if right else rng.choice(wrong)}
    if isinstance(response, CheckboxSpec) and response.choices:
        correct = [c.name for c in response.choices if c.correct == "true"]
        names = [c.name for c in response.choices]
        return {response.inputs[0].id: correct if right else rng.sample(names, k=max(1, len(names) // 2))}
    if isinstance(response, OptionSpec):
        return {
            field.id: response.correct[field.id] if right else "not this one" for field in response.inputs
        }
    if isinstance(response, FormulaSpec):
        return {response.inputs[0].id: response.answer if right else f"2*({response.answer})+1"}
    if isinstance(response, NumericalSpec):
        try:
            value = numeric.evaluate(response.answer)
        except numeric.InvalidNumber:
            value = 0.0
        return {response.inputs[0].id: str(value if right else value * 2 + 1)}
    if isinstance(response, StringSpec) and response.answers:
        usable = right and not response.regexp
        return {response.inputs[0].id: response.answers[0] if usable else "something else"}
    return {}


def seed_answers(
    settings: Settings, course_id: str, learners: int = 500, seed: int = 7, first_user_id: int = 50_001
) -> SeedSummary:
    """Learners with stored answers on an imported course's problems, graded as the course grades them."""
    from functions.logic.capa import grader
    from functions.models.state import ProblemState

    rng = random.Random(seed)
    courses = CourseRepository(settings)
    course = courses.get_course(course_id)
    if course is None:
        raise ValueError(f"import {course_id} first")
    problems = courses.get_problems(course_id)
    seed_staff(settings, course_id)
    start = datetime(2026, 9, 7, tzinfo=UTC)
    enrollments, states, sheets = [], [], []
    active = 0
    for number in range(learners):
        user_id = first_user_id + number
        first = rng.choice(FIRST_NAMES)
        ascii_first = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode().lower()
        username = f"{ascii_first}_{user_id}"
        is_active = rng.random() > 0.05
        active += is_active
        enrollments.append(
            Enrollment(
                course_id=course_id,
                user_id=user_id,
                username=username,
                email=f"{username}@example.org",
                is_active=is_active,
                mode=rng.choice(["audit", "audit", "verified"]),
                created=start,
            )
        )
        ability = rng.betavariate(4, 2)
        scores = {}
        for problem in problems.values():
            if rng.random() < 0.25:
                continue  # never opened it
            when = start + timedelta(days=rng.uniform(0, 40))
            # Problems graded by their own Python get a score but no answers (the sandbox is not
            # run while seeding).
            if problem.rescorable and not problem.needs_sandbox:
                answers: dict[str, Any] = {}
                for response in problem.responses:
                    answers.update(_answer(response, rng.random() < ability, rng))
                result = grader.grade(problem, answers)
                earned, possible = result.earned, result.possible
            else:
                answers = {}
                possible = problem.max_score
                earned = float(round(possible * ability)) if possible else 0.0
            states.append(
                ProblemState(
                    course_id=course_id,
                    user_id=user_id,
                    problem_id=problem.id,
                    answers=answers,
                    attempts=rng.randint(1, 3),
                    earned=earned,
                    possible=possible,
                    first_attempted=when,
                    modified=when,
                )
            )
            scores[problem.id] = ProblemScore(earned=earned, possible=possible, first_attempted=when)
        if scores:
            sheets.append((user_id, scores))
    courses.put_enrollments(enrollments)
    courses.put_states(states)
    courses.put_score_sheets(course_id, sheets)
    return SeedSummary(
        course_id=course_id,
        learners=learners,
        active=active,
        with_scores=len(sheets),
        subsections=sum(1 for b in course.blocks.values() if b.category == "sequential"),
        problems=len(problems),
    )
