"""Users and roles as administrators change them (``/courses/{id}/roles``, ``/admin/...``), and the
audit record every change leaves."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.models.access import Role
from functions.models.api import _Answer
from functions.models.bounds import UserId
from functions.models.people import Email, Username

GLOBAL_SCOPE = "global"  # the audit trail of global staff changes and user records


class AccessAction(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"
    SET_USER = "set_user"


class RoleRequest(BaseModel):
    """Grant a course role: ``user`` is the token subject or the email of a known user."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=254)
    role: Role


class UserRequest(BaseModel):
    """A user record (a token subject): who the API's tokens with this ``sub`` are."""

    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    username: Username
    email: Email | None = None


class AccessChange(BaseModel):
    """One audited change: who changed what, when."""

    model_config = ConfigDict(frozen=True)

    scope: str  # a course id, "org:<org>", or "global"
    action: AccessAction
    subject: str  # the user changed
    username: str = ""
    role: str = ""  # a course role, "global_staff", or "" for a user record
    by: str  # the caller's token subject
    by_username: str = ""
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


# ---- answers ----
class RoleMember(_Answer):
    subject: str
    user_id: int
    username: str
    email: str
    scope: str
    roles: list[str]


class CourseRoles(_Answer):
    course_id: str
    members: list[RoleMember]


class RoleChanged(_Answer):
    """The state after a grant or revoke; ``changed`` is false when it already was so."""

    scope: str
    subject: str
    username: str
    role: str
    held: bool
    changed: bool


class AccessAudit(_Answer):
    scope: str
    changes: list[dict[str, Any]]


class UserRecord(_Answer):
    subject: str
    user_id: int
    username: str
    email: str
    global_staff: bool
    grants: list[dict[str, Any]]


class GlobalStaffList(_Answer):
    global_staff: list[UserRecord]
