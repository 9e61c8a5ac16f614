"""A small course whose grade report values are worked out by hand in the tests.

Grading policy: Homework (min 3, drop 1, weight 0.5), Lab (min 2, drop 0, weight 0.2),
Final Exam (min 1, weight 0.3); cutoffs A >= 0.8, Pass >= 0.5.

    Week 1: Homework One [hw1: p1 (max 2), p2 (max 2)]   Lab One [l1 (max 4, weight 1)]
            Practice (ungraded) [x1]                     Hidden homework (staff only) [h1]
    Week 2: Homework Two [p3 (max 4)]   Lab Two [l2 (max 10, weight 2)]   Homework Three [p4 (max 1)]
    Week 3: Final Exam [f1 (max 10, weight 20)]
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from functions.models.course import Block, Course, Enrollment, GraderEntry, GradingPolicy, ProblemScore

COURSE_ID = "course-v1:TestX+G101+2026"
OTHER_COURSE_ID = "course-v1:OtherX+Z9+2026"
T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)

HEADER = [
    "Student ID",
    "Email",
    "Username",
    "Grade",
    "Homework 1: Homework One",
    "Homework 2: Homework Two",
    "Homework 3: Homework Three",
    "Homework (Avg)",
    "Lab 1: Lab One",
    "Lab 2: Lab Two",
    "Lab (Avg)",
    "Final Exam",
    "Enrollment Track",
    "Verification Status",
    "Certificate Eligible",
    "Certificate Delivered",
    "Certificate Type",
    "Enrollment Status",
]


def hand_course(course_id: str = COURSE_ID) -> Course:
    blocks: dict[str, Block] = {}

    def add(**fields: object) -> str:
        block = Block.model_validate(fields)
        blocks[block.id] = block
        return block.id

    def problem(block_id: str, max_score: float, weight: float | None = None, **extra: object) -> str:
        return add(
            id=block_id,
            category="problem",
            display_name=block_id.upper(),
            max_score=max_score,
            weight=weight,
            **extra,
        )

    def subsection(block_id: str, name: str, fmt: str | None, problems: list[str], **extra: object) -> str:
        unit = add(id=f"{block_id}-unit", category="vertical", display_name="Unit", children=problems)
        return add(
            id=block_id,
            category="sequential",
            display_name=name,
            format=fmt,
            graded=fmt is not None,
            children=[unit],
            **extra,
        )

    week1 = [
        subsection("hw1", "Homework One", "Homework", [problem("p1", 2), problem("p2", 2)]),
        subsection("lab1", "Lab One", "Lab", [problem("l1", 4, weight=1)]),
        subsection("practice", "Practice", None, [problem("x1", 1)]),
        subsection("hidden", "Hidden homework", "Homework", [problem("h1", 5)], visible_to_staff_only=True),
    ]
    week2 = [
        subsection("hw2", "Homework Two", "Homework", [problem("p3", 4)]),
        subsection("lab2", "Lab Two", "Lab", [problem("l2", 10, weight=2)]),
        subsection("hw3", "Homework Three", "Homework", [problem("p4", 1)]),
    ]
    week3 = [subsection("final", "Final Exam", "Final Exam", [problem("f1", 10, weight=20)])]
    chapters = [
        add(id=f"week{i}", category="chapter", display_name=f"Week {i}", children=kids)
        for i, kids in enumerate((week1, week2, week3), 1)
    ]
    root = add(id="course", category="course", display_name="Grading test course", children=chapters)
    policy = GradingPolicy(
        graders=[
            GraderEntry(type="Homework", short_label="HW", min_count=3, drop_count=1, weight=0.5),
            GraderEntry(type="Lab", min_count=2, drop_count=0, weight=0.2),
            GraderEntry(type="Final Exam", short_label="Final", min_count=1, drop_count=0, weight=0.3),
        ],
        grade_cutoffs={"A": 0.8, "Pass": 0.5},
    )
    return Course(
        course_id=course_id,
        display_name="Grading test course",
        root=root,
        blocks=blocks,
        grading_policy=policy,
        end=T0 + timedelta(days=60),
    )


def score(earned: float, possible: float, day: int = 1) -> ProblemScore:
    return ProblemScore(earned=earned, possible=possible, first_attempted=T0 + timedelta(days=day))


# Learners the tests check cell by cell (ids chosen to fall in different chunks of 100).
TIE = 1005  # HW 0.5, 0.5, 1.0: a tie for the dropped lowest
EDGE = 1150  # raw course percent 0.8449: rounds to 0.85
PARTIAL = 1230  # attempted only hw1 and lab1
NO_SCORES = 1260  # enrolled, never answered
INACTIVE = 1290  # unenrolled, verified mode, passing

CHOSEN_SCORES: dict[int, dict[str, ProblemScore]] = {
    TIE: {
        "p1": score(1, 2),
        "p2": score(1, 2),
        "p3": score(2, 4),
        "p4": score(1, 1),
        "l1": score(3, 4),
        "l2": score(5, 10),
        "f1": score(8, 10),
    },
    EDGE: {
        "p1": score(1.3796, 2),
        "p2": score(1.3796, 2),
        "p3": score(2.7592, 4),
        "p4": score(0, 1),
        "l1": score(4, 4),
        "l2": score(10, 10),
        "f1": score(10, 10),
    },
    PARTIAL: {"p1": score(2, 2), "p2": score(2, 2), "l1": score(2, 4)},
    INACTIVE: {
        "p1": score(2, 2),
        "p2": score(2, 2),
        "p3": score(4, 4),
        "p4": score(1, 1),
        "l1": score(4, 4),
        "l2": score(10, 10),
        "f1": score(9, 10),
        "x1": score(1, 1, day=0),
    },
}


def learners(
    course_id: str = COURSE_ID, count: int = 300, seed: int = 7
) -> tuple[list[Enrollment], list[tuple[int, dict[str, ProblemScore]]]]:
    """``count`` learners with ids 1001..., the chosen ones included, the rest with random scores."""
    rng = random.Random(seed)
    enrollments, sheets = [], []
    maxima = {"p1": 2, "p2": 2, "p3": 4, "p4": 1, "l1": 4, "l2": 10, "f1": 10, "x1": 1}
    for user_id in range(1001, 1001 + count):
        enrollments.append(
            Enrollment(
                course_id=course_id,
                user_id=user_id,
                username=f"user{user_id}",
                email=f"user{user_id}@example.org",
                mode="verified" if user_id == INACTIVE else "audit",
                is_active=user_id != INACTIVE,
            )
        )
        if user_id in CHOSEN_SCORES:
            sheets.append((user_id, CHOSEN_SCORES[user_id]))
        elif user_id != NO_SCORES and rng.random() < 0.9:
            sheets.append(
                (
                    user_id,
                    {
                        problem: score(float(rng.randint(0, possible)), possible)
                        for problem, possible in maxima.items()
                        if rng.random() < 0.8
                    },
                )
            )
    return enrollments, sheets
