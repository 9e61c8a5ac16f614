"""Events about learners' scores."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from functions.models.events.base import BusEvent, bus_event


@bus_event
class ScoreChanged(BusEvent):
    """A learner's score of one problem changed (a rescore, a reset, a deletion or an override).

    One event per learner and problem whose score changed; unchanged scores publish nothing. The
    grade reports read the new score from then on.
    """

    detail_type = "ScoreChanged"

    course_id: str = Field(description="course-v1:... or an old-style Org/Number/Run id")
    user_id: int
    usage_id: str = Field(description="the problem's key: block-v1:..., or i4x://... for an old course")
    raw_earned: float = Field(ge=0, description="0 when the state was deleted")
    raw_possible: float | None = Field(description="null when the state was deleted")
    weighted_earned: float = Field(ge=0, description="as the grade report weighs it (0 when deleted)")
    weighted_possible: float = Field(ge=0, description="the problem's weighted maximum")
    task_id: str
    task_type: str
    reason: str = Field(description="what changed it (the task type)")
    time: datetime = Field(description="when the task wrote the score (UTC)")
