"""Course content, grading policy and the learner data a task reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.models.bounds import MAX_SCORE

# Enrollment modes as upstream names them (audit, verified, no-id-professional, ...).
EnrollmentMode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,100}$")]
# Weights, maxima and grader weights: finite and not negative (NaN would poison every grade).
Weight = Annotated[float, Field(ge=0, le=MAX_SCORE, allow_inf_nan=False)]
# Grading pads a learner's grades to min_count per assignment type: bounded, like memory.
MAX_ASSIGNMENTS = 10_000


class PartitionGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str


class UserPartition(BaseModel):
    """A group configuration of the course policy (``user_partitions``): an experiment (scheme
    ``random``, learners assigned at random) or content groups (scheme ``cohort``, linked to cohorts)."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    scheme: str = "random"
    groups: list[PartitionGroup] = Field(default_factory=list)

    def group(self, key: int | str) -> PartitionGroup | None:
        """The group with this id (a number or its text) or, failing that, this name."""
        for group in self.groups:
            if str(group.id) == str(key):
                return group
        return next((group for group in self.groups if group.name == key), None)


class Block(BaseModel):
    """One block of the course tree (course, chapter, sequential, vertical, problem, ...)."""

    model_config = ConfigDict(frozen=True)

    id: str
    category: str
    display_name: str = ""
    children: list[str] = Field(default_factory=list)
    # Subsection fields.
    format: str | None = None
    graded: bool | None = None  # explicit flag; problems inherit True unless set False
    visible_to_staff_only: bool = False
    # Problem fields: weight (None = unweighted) and the raw maximum score.
    weight: Weight | None = None
    max_score: Weight | None = None
    # Content restricted to groups: partition id -> the groups that see it (any block). A split_test
    # shows each group of its partition one child: group id -> child id.
    group_access: dict[int, list[int]] = Field(default_factory=dict)
    split_partition: int | None = None
    split_children: dict[int, str] = Field(default_factory=dict)


class GraderEntry(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    type: str
    short_label: str | None = None
    min_count: int = Field(ge=0, le=MAX_ASSIGNMENTS)
    drop_count: int = Field(default=0, ge=0, le=MAX_ASSIGNMENTS)
    weight: Weight = 0.0


DEFAULT_GRADERS = (
    GraderEntry(type="Homework", short_label="HW", min_count=12, drop_count=2, weight=0.15),
    GraderEntry(type="Lab", min_count=12, drop_count=2, weight=0.15),
    GraderEntry(type="Midterm Exam", short_label="Midterm", min_count=1, drop_count=0, weight=0.3),
    GraderEntry(type="Final Exam", short_label="Final", min_count=1, drop_count=0, weight=0.4),
)


class GradingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    graders: list[GraderEntry] = Field(default_factory=lambda: list(DEFAULT_GRADERS))
    grade_cutoffs: dict[str, Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = Field(
        default_factory=lambda: {"Pass": 0.5}
    )


class Course(BaseModel):
    """A course: its tree, grading policy and the settings reports depend on."""

    model_config = ConfigDict(frozen=True)

    course_id: str
    display_name: str
    root: str
    blocks: dict[str, Block]
    grading_policy: GradingPolicy = Field(default_factory=GradingPolicy)
    cohorted: bool = False
    teams_enabled: bool = False
    user_partitions: list[UserPartition] = Field(default_factory=list)
    grade_report_verified_only: bool = False
    problem_grade_report_verified_only: bool = False
    certificates_display_behavior: str = "end"  # "end" | "end_with_date" | "early_no_info"
    start: datetime | None = None
    end: datetime | None = None
    certificate_available_date: datetime | None = None
    entrance_exam_id: str | None = None  # the chapter learners must pass first, when enabled
    version: int = 1
    # The source version of the ``course_settings`` line the settings above were last loaded from
    # (None: a line without one, or none loaded since the import): an older or equal one is stale.
    settings_version: int | None = None

    @property
    def experiment_partitions(self) -> list[UserPartition]:
        """The experiments (random-assignment partitions): one grade report column each."""
        return [partition for partition in self.user_partitions if partition.scheme == "random"]

    def partition(self, key: int | str) -> UserPartition | None:
        """The partition with this id (a number or its text) or, failing that, this name."""
        for partition in self.user_partitions:
            if str(partition.id) == str(key):
                return partition
        return next((partition for partition in self.user_partitions if partition.name == key), None)


class ProblemScore(BaseModel):
    """A learner's stored raw score on one problem."""

    model_config = ConfigDict(frozen=True)

    earned: float
    possible: float
    first_attempted: datetime | None = None
    # The source's version of a loaded score (``block_scores`` lines with ``source_version``): a
    # score is not replaced by one of an older or equal version. None: always applied (snapshots).
    source_version: int | None = None


class StoredScore(NamedTuple):
    """A stored score as read in bulk: ProblemScore's fields, without a model object per score.

    Reports read every score of every learner; validating each one was a third of a chunk's CPU.
    """

    earned: float
    possible: float
    first_attempted: datetime | None = None


# What grading and the tasks read of a score, whichever way it was made.
Score = ProblemScore | StoredScore


class Certificate(BaseModel):
    """A learner's certificate in a course (upstream's GeneratedCertificate)."""

    model_config = ConfigDict(frozen=True)

    status: str  # e.g. "downloadable", "notpassing"
    mode: str
    grade: str | None = None  # the course percent when it was decided, as upstream stores it
    verify_uuid: str | None = None  # the public verification id (unguessable)
    created: datetime | None = None
    modified: datetime | None = None
    task_id: str | None = None  # the task that last decided it
    error_reason: str | None = None
    download_url: str | None = None  # where the source installation serves it (loaded records)
    source_version: int | None = None  # the source's version of a loaded record (incremental loads)


class Enrollment(BaseModel):
    """A learner's membership of a course, with the user fields reports print.

    The user fields (username, email, account flags) are copies kept in step by the data layer so
    that a chunk of learners is read with one Query, never one request per learner.
    """

    model_config = ConfigDict(frozen=True)

    course_id: str
    user_id: int
    username: str
    email: str
    mode: str = "audit"
    is_active: bool = True
    created: datetime | None = None
    user_is_active: bool = True
    id_verified: bool = False
    cohort: str | None = None
    team: str | None = None
    # Groups of the course's partitions: partition id -> group id (both as text), loaded with the
    # ``groups`` data kind (experiments and content groups alike).
    experiment_groups: dict[str, str] = Field(default_factory=dict)
    group_versions: dict[str, int] = Field(default_factory=dict)  # partition id -> source version
    allowlisted: bool = False
    certificate: Certificate | None = None
    # The source's version (e.g. its modification time in microseconds) of the last change applied.
    source_version: int | None = None


class Learner(BaseModel):
    """Everything a per-learner task reads: the enrollment and the learner's problem scores."""

    model_config = ConfigDict(frozen=True)

    enrollment: Enrollment
    scores: dict[str, Score] = Field(default_factory=dict)

    @property
    def groups(self) -> dict[int, int]:
        """Partition id -> group id of this learner."""
        return group_ids(self.enrollment)


def group_ids(enrollment: Enrollment) -> dict[int, int]:
    found: dict[int, int] = {}
    for partition, group in enrollment.experiment_groups.items():
        try:
            found[int(partition)] = int(group)
        except ValueError:
            continue  # not written by the loader: ignore rather than fail the learner
    return found
