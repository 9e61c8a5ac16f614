"""Certificate exceptions (the allowlist), generation history, and their API payloads (spec §7.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]


class AllowlistEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: int
    notes: str | None = None
    created: datetime | None = None
    created_by: str = ""


class GenerationHistory(BaseModel):
    """Upstream's CertificateGenerationHistory: one record per generation task."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    task_type: str
    generated_by: str
    is_regeneration: bool
    learners: str
    created: datetime


class AllowlistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Identifier  # username or email
    notes: Annotated[str, StringConstraints(max_length=1000)] | None = None
