"""Who is calling and what they may do in which course."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    INSTRUCTOR = "instructor"
    STAFF = "staff"
    DATA_RESEARCHER = "data_researcher"
    # Open edX's beta tester ("beta"): sees content before its release date; no instructor-task right.
    BETA = "beta"


class RoleGrant(BaseModel):
    """A role in one course (scope "course-v1:...") or in every course of an org (scope "org:<org>")."""

    model_config = ConfigDict(frozen=True)

    scope: str
    role: Role


class Principal(BaseModel):
    """The caller: a token subject resolved to a user and its role grants."""

    model_config = ConfigDict(frozen=True)

    subject: str
    user_id: int
    username: str
    email: str = ""
    global_staff: bool = False
    grants: list[RoleGrant] = Field(default_factory=list)
