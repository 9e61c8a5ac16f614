"""Demo ORA submissions: short essays with peer, self and (some) staff assessments, workflows, final
scores, feedback on the peer assessments, and a few small text attachments.

The generated demo course has no open response assessment. Rather than skip, the seeder adds one
("Peer-reviewed essay") as the last component of the first unit of the first ungraded subsection
(the demo's practice subsection), so every ORA report has something to show: the block has no
problem score here, so the grade reports do not change. A course that already has ORA blocks keeps
them and gets submissions on each. Everything goes through the ``ora_submissions`` loader, the same
path as an administrator's load, attachments included.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import statistics
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.logic.data.ora import load_submissions
from functions.logic.registry import RunContext
from functions.models.course import Block, Course, Enrollment
from functions.settings import Settings

DEMO_BLOCK_ID = "ora-peer-essay"
DEMO_BLOCK_NAME = "Peer-reviewed essay"
SUBMIT_SHARE = 0.3  # of active learners
ATTACHMENT_SHARE = 0.08  # of submissions
PEERS_PER_SUBMISSION = 3
STAFF_SCORER_ID = 3  # the seeded course staff user
LOAD_BATCH = 500
START = datetime(2026, 9, 7, tzinfo=UTC)
# (criterion name, label); every criterion has these options (name, label, points).
CRITERIA = (("ideas", "Ideas"), ("evidence", "Use of evidence"))
OPTIONS = (("poor", "Poor", 0), ("fair", "Fair", 1), ("good", "Good", 3), ("excellent", "Excellent", 5))
POINTS_POSSIBLE = len(CRITERIA) * OPTIONS[-1][2]
FEEDBACK_OPTIONS = (
    "These assessments were useful.",
    "These assessments were not useful.",
    "I disagree with one or more of the peer assessments of my response.",
    "Some comments I received were inappropriate.",
)
_OPENINGS = (
    "A regression line summarises how one quantity moves with another.",
    "Sampling error is easy to forget when a chart looks convincing.",
    "Derivatives describe rates of change, and rates are everywhere in daily life.",
    "A fair A/B test needs a question fixed before the data arrives.",
)
_MIDDLES = (
    "In my job we track delivery times, and the spread matters more than the average.",
    "I tried the simulation lab with different seeds and the estimates wandered less as n grew.",
    "The example from week two convinced me that plotting first saves hours later.",
    "My first attempt ignored outliers; the residual plot showed why that was a mistake.",
)
_CLOSINGS = (
    "Next time I would collect more data before drawing a conclusion.",
    "The method is simple, but explaining it to a colleague was the real test.",
    "I still wonder how robust the result is to a different sample.",
)
_COMMENTS = (
    "Clear argument, but the example could be more specific.",
    "Good use of the course material.",
    "The conclusion does not quite follow from the evidence.",
    "",
)


@dataclass
class Writer:
    enrollment: Enrollment
    block_id: str
    quality: float
    submission_uuid: str
    submitted_at: datetime
    peers: list[int] = field(default_factory=list)


def seed(settings: Settings, course_id: str, enrollments: list[Enrollment], rng: random.Random) -> str:
    ctx = RunContext.create(settings)
    course = ctx.courses.get_course(course_id)
    if course is None:
        return f"ora: skipped, {course_id} does not exist"
    blocks = [block.id for block in course.blocks.values() if block.category == "openassessment"]
    note = ""
    if not blocks:
        unit = practice_unit(course)
        if unit is None:
            return f"ora: skipped, {course_id} has no unit to hold an openassessment block"
        ctx.courses.put_course(with_ora_block(course, unit))
        blocks, note = [DEMO_BLOCK_ID], f" (block '{DEMO_BLOCK_NAME}' added to unit {unit})"
    next_id = itertools.count(1)
    payloads = [_submission(writer, rng, next_id) for writer in _writers(enrollments, blocks, rng)]
    lines = [json.dumps(payload) for payload in payloads]
    for start in range(0, len(lines), LOAD_BATCH):
        load_submissions(ctx, course_id, lines[start : start + LOAD_BATCH])
    attachments = sum("files" in payload for payload in payloads)
    return (
        f"ora: {len(lines)} submissions ({attachments} with attachments) on "
        f"{len(blocks)} openassessment block(s){note}"
    )


def practice_unit(course: Course) -> str | None:
    """The first unit of the first ungraded subsection; else the course's first unit."""
    units: list[tuple[bool, str]] = []
    for chapter in course.blocks[course.root].children:
        for subsection in course.blocks[chapter].children if chapter in course.blocks else []:
            block = course.blocks.get(subsection)
            for child in block.children if block else []:
                if child in course.blocks and course.blocks[child].category == "vertical":
                    units.append((bool(block and block.graded), child))
    ungraded = [unit for graded, unit in units if not graded]
    candidates = ungraded or [unit for _, unit in units]
    return candidates[0] if candidates else None


def with_ora_block(course: Course, unit_id: str) -> Course:
    unit = course.blocks[unit_id]
    blocks = dict(course.blocks)
    blocks[DEMO_BLOCK_ID] = Block(id=DEMO_BLOCK_ID, category="openassessment", display_name=DEMO_BLOCK_NAME)
    blocks[unit_id] = unit.model_copy(update={"children": [*unit.children, DEMO_BLOCK_ID]})
    return course.model_copy(update={"blocks": blocks})


def _writers(enrollments: list[Enrollment], blocks: list[str], rng: random.Random) -> list[Writer]:
    writers = []
    for block_id in blocks:
        for enrollment in enrollments:
            if not enrollment.is_active or rng.random() >= SUBMIT_SHARE:
                continue
            writers.append(
                Writer(
                    enrollment=enrollment,
                    block_id=block_id,
                    quality=rng.betavariate(4, 2),
                    submission_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    submitted_at=_later(START, rng.uniform(3, 30)),
                )
            )
    by_block: dict[str, list[Writer]] = {}
    for writer in writers:
        by_block.setdefault(writer.block_id, []).append(writer)
    for group in by_block.values():
        ids = [writer.enrollment.user_id for writer in group]
        for writer in group:
            others = [user_id for user_id in ids if user_id != writer.enrollment.user_id]
            writer.peers = rng.sample(others, k=min(PEERS_PER_SUBMISSION, len(others)))
    return writers


def _parts(quality: float, rng: random.Random) -> list[dict[str, Any]]:
    parts = []
    for name, label in CRITERIA:
        index = min(len(OPTIONS) - 1, max(0, round(rng.gauss(quality, 0.2) * (len(OPTIONS) - 1))))
        option, option_label, points = OPTIONS[index]
        parts.append(
            {
                "criterion": name,
                "criterion_label": label,
                "option": option,
                "option_label": option_label,
                "points": points,
                "feedback": rng.choice(_COMMENTS),
            }
        )
    return parts


def _assessment(
    kind: str, scorer: int, when: datetime, quality: float, rng: random.Random, next_id: Iterator[int]
) -> dict[str, Any]:
    return {
        "id": next(next_id),
        "type": kind,
        "scorer_id": scorer,
        "scored_at": when.isoformat(),
        "points_possible": POINTS_POSSIBLE,
        "feedback": rng.choice(_COMMENTS),
        "parts": _parts(quality, rng),
    }


def _submission(writer: Writer, rng: random.Random, next_id: Iterator[int]) -> dict[str, Any]:
    when = writer.submitted_at
    peer = [
        _assessment("peer", scorer, _later(when, rng.uniform(1, 5)), writer.quality, rng, next_id)
        for scorer in writer.peers
    ]
    did_self = rng.random() < 0.9
    own = min(1.0, writer.quality + 0.1)
    assessments = peer + (
        [_assessment("self", writer.enrollment.user_id, when, own, rng, next_id)] if did_self else []
    )
    if rng.random() < 0.1:
        assessments.append(
            _assessment("staff", STAFF_SCORER_ID, when + timedelta(days=7), writer.quality, rng, next_id)
        )
    peers_graded = rng.randint(1, 5)
    peer_done, peer_graded = peers_graded >= PEERS_PER_SUBMISSION, len(peer) >= PEERS_PER_SUBMISSION
    done = peer_done and peer_graded and did_self
    status = "done" if done else ("peer" if not peer_done else ("self" if not did_self else "waiting"))
    line: dict[str, Any] = {
        "uuid": writer.submission_uuid,
        "user_id": writer.enrollment.user_id,
        "block": writer.block_id,
        "submitted_at": when.isoformat(),
        "text_responses": [_essay(rng)],
        "assessments": assessments,
        "workflow": {
            "status": status,
            "steps": {
                "peer": {"complete": peer_done, "graded": peer_graded},
                "self": {"complete": did_self, "graded": did_self},
                # ORA gives every workflow a staff step, complete unless staff grading is required
                "staff": {"complete": True, "graded": True},
            },
            "peers_graded": peers_graded,
        },
    }
    if done:
        earned = _final_points(peer, assessments)
        line["score"] = {
            "points_earned": earned,
            "points_possible": POINTS_POSSIBLE,
            "created_at": (when + timedelta(days=8)).isoformat(),
        }
        if rng.random() < 0.4:
            line["peer_feedback"] = {
                "text": "Thanks, the comments helped me see what was missing.",
                "options": rng.sample(FEEDBACK_OPTIONS[:3], k=rng.randint(1, 2)),
            }
    if rng.random() < ATTACHMENT_SHARE:
        line["files"] = [_attachment(writer, rng)]
    return line


def _final_points(peer: list[dict[str, Any]], assessments: list[dict[str, Any]]) -> int:
    """A staff assessment overrides; else the median of the peers' points per criterion (ORA's rule)."""
    staff = [a for a in assessments if a["type"] == "staff"]
    if staff:
        return sum(int(part["points"]) for part in staff[-1]["parts"])
    total = 0
    for index in range(len(CRITERIA)):
        total += round(statistics.median(a["parts"][index]["points"] for a in peer))
    return total


def _later(when: datetime, days: float) -> datetime:
    """A time ``days`` after ``when``, to the second (as the demo's other dates)."""
    return (when + timedelta(days=days)).replace(microsecond=0)


def _essay(rng: random.Random) -> str:
    return " ".join((rng.choice(_OPENINGS), rng.choice(_MIDDLES), rng.choice(_CLOSINGS)))


def _attachment(writer: Writer, rng: random.Random) -> dict[str, Any]:
    name, text = rng.choice(
        (
            ("notes.txt", f"Notes for my essay\n- quality self-estimate: {writer.quality:.2f}\n"),
            ("data.csv", "x,y\n1,2.1\n2,3.9\n3,6.2\n"),
        )
    )
    return {
        "name": name,
        "description": "Supporting material",
        "content_type": "text/csv" if name.endswith(".csv") else "text/plain",
        "content_base64": base64.b64encode(text.encode()).decode(),
    }
