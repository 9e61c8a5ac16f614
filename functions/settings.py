"""One validated settings model, read at invocation time (never at import time)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of every function; CDK sets these as environment variables."""

    model_config = SettingsConfigDict(env_prefix="ITASK_", extra="ignore", frozen=True)

    region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("ITASK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    tasks_table: str = "itask-tasks"
    courses_table: str = "itask-courses"
    access_table: str = "itask-access"
    bucket: str = "itask-reports"
    # Reports live under <reports_prefix>/<sha1(course_id)>/; pipeline scratch under <work_prefix>/<task_id>/.
    reports_prefix: str = "reports"
    work_prefix: str = "work"
    state_machine_arn: str = ""
    event_bus_name: str = "itask"
    # Learners per chunk of the Map; Map concurrency.
    chunk_size: int = Field(default=500, ge=1, le=5000)
    max_concurrency: int = Field(default=20, ge=1, le=10000)
    report_url_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    # A running task whose execution has ended for this long is failed by the sweeper.
    sweeper_grace_seconds: int = Field(default=120, ge=0)
    # Who report-ready emails come from, and how long their links work.
    notify_from: str = "no-reply@example.com"
    email_link_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Anonymized learner ids are keyed hashes: keep this secret stable (ids change if it does).
    anonymization_secret: str = "local-development-secret"
    # Problem responses report: at most this many rows in all (upstream's MAX_PROBLEM_RESPONSES_COUNT).
    problem_responses_max: int = Field(default=5000, ge=1)
    # Learner profile report: fields never exported, comma separated.
    profile_private_fields: str = "year_of_birth"
    # Optional JSON overriding the permission rules, e.g. {"research": ["global_staff", "instructor"]}.
    permission_overrides: str = ""
    # The sandbox grader function (name or ARN) that runs problems' Python; empty: such problems
    # cannot be rescored. Its limits per learner: wall clock, CPU, memory of the child process.
    grader_function: str = ""
    grader_job_timeout_s: float = Field(default=3.0, gt=0, le=60)
    grader_cpu_s: int = Field(default=2, ge=1, le=60)
    grader_memory_mb: int = Field(default=256, ge=64, le=4096)
    # Learners per grader call, and grader calls a chunk makes at once.
    grader_batch_size: int = Field(default=100, ge=1, le=1000)
    grader_concurrency: int = Field(default=4, ge=1, le=32)


def get_settings() -> Settings:
    """Read the settings now (cheap; called at the start of each invocation)."""
    return Settings()
