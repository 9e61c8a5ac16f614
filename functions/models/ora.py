"""Open response assessment (ORA) data: a learner's submission to an ORA block and what became of it.

One ``OraSubmission`` holds what upstream spreads over the submissions and assessment apps: the
answer (text parts and attachment descriptors), the assessments (peer, self, staff) with their rubric
parts, the workflow (which steps are complete and graded), the final score and the learner's
feedback on the peer assessments. The models are strict: they are also the bulk loader's schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from functions.models.bounds import Count, FileSize, Points, PositiveCount, RowId, UserId, in_time_range

AssessmentKind = Literal["peer", "self", "staff"]
WorkflowStep = Literal["peer", "self", "staff", "training"]
WorkflowStatus = Literal["training", "peer", "self", "staff", "waiting", "done", "cancelled"]
WORKFLOW_STEPS: tuple[WorkflowStep, ...] = ("peer", "self", "staff", "training")
# Upstream stores and prints assessment types as these codes.
SCORE_TYPE_CODES: dict[str, str] = {"peer": "PE", "self": "SE", "staff": "ST"}


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Times are stored and printed in UTC whatever offset they were given with (checked to be in range
# first: moving a time near year 9999 to UTC would overflow).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(in_time_range), AfterValidator(_utc)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OraFile(_Strict):
    """An attachment of a submission: the object ``key`` in the bucket and what the learner said of it."""

    key: str = Field(min_length=1, max_length=1024)
    name: str = Field(min_length=1, max_length=1024)
    description: str = ""
    size: FileSize = 0
    content_type: str = "application/octet-stream"


class CriterionScore(_Strict):
    """One rubric criterion of an assessment: the option chosen (if any), its points, the feedback."""

    criterion: str = Field(min_length=1)
    criterion_label: str | None = None
    option: str | None = None
    option_label: str | None = None
    points: Points = 0
    feedback: str = ""

    @property
    def label(self) -> str:
        return self.criterion_label or self.criterion

    @property
    def chosen_label(self) -> str | None:
        """The label of the chosen option; None for a criterion that takes feedback only."""
        if self.option is None:
            return None
        return self.option_label or self.option


class OraAssessment(_Strict):
    id: RowId
    type: AssessmentKind
    scorer_id: UserId  # user id of the assessor (a learner, or staff)
    scored_at: UtcDatetime
    points_possible: Points
    feedback: str = ""  # overall feedback
    parts: list[CriterionScore] = Field(default_factory=list)  # in rubric order
    # Peer assessments only: whether this one counted towards the learner's peer grade.
    used_in_peer_grade: bool = True

    @model_validator(mode="after")
    def _earned_within_possible(self) -> OraAssessment:
        if self.points_earned > self.points_possible:
            raise ValueError("its parts' points add up to more than points_possible")
        return self

    @property
    def points_earned(self) -> int:
        return sum(part.points for part in self.parts)


class StepStatus(_Strict):
    complete: bool = False
    graded: bool = False


class OraWorkflow(_Strict):
    """Where the submission stands: its status and the state of each step its ORA has."""

    status: WorkflowStatus
    steps: dict[WorkflowStep, StepStatus] = Field(default_factory=dict)
    peers_graded: Count = 0  # how many peers the learner assessed
    # How many peers assessed this submission; None: the number of peer assessments it has.
    graded_by: Count | None = None


class OraScore(_Strict):
    points_earned: Points
    points_possible: Points
    created_at: UtcDatetime

    @model_validator(mode="after")
    def _earned_within_possible(self) -> OraScore:
        if self.points_earned > self.points_possible:
            raise ValueError("points_earned is more than points_possible")
        return self


class PeerFeedback(_Strict):
    """The learner's feedback on the peer assessments received: free text and the statements ticked."""

    text: str = ""
    options: list[str] = Field(default_factory=list)


class OraSubmission(_Strict):
    uuid: str = Field(min_length=1, max_length=64)
    course_id: str
    block_id: str
    user_id: UserId
    attempt_number: PositiveCount = 1
    submitted_at: UtcDatetime
    created_at: UtcDatetime
    text_responses: list[str] = Field(default_factory=list)
    files: list[OraFile] = Field(default_factory=list)
    assessments: list[OraAssessment] = Field(default_factory=list)
    workflow: OraWorkflow | None = None
    score: OraScore | None = None
    peer_feedback: PeerFeedback | None = None

    @property
    def archive_entries(self) -> int:
        """Files this submission puts in the submission files archive: attachments and text parts."""
        return len(self.files) + len(self.text_responses)
