"""A learner's state on one problem (upstream's StudentModule row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProblemState(BaseModel):
    model_config = ConfigDict(frozen=True)

    course_id: str
    user_id: int
    problem_id: str
    answers: dict[str, Any] = Field(default_factory=dict)  # input id -> stored answer
    attempts: int = 0
    earned: float | None = None  # raw score (unweighted)
    possible: float | None = None
    first_attempted: datetime | None = None
    modified: datetime | None = None
    seed: int | None = None  # the problem's random seed for this learner (None: 1, CAPA's default)
    # The source's version of a loaded state (``state`` lines with ``source_version``): a state is
    # not replaced by a load line of an older or equal version. None: always replaced (snapshots).
    source_version: int | None = None

    @property
    def submitted(self) -> bool:
        """Whether the learner ever submitted an answer (rescoring skips those who did not)."""
        return bool(self.answers) or self.attempts > 0
