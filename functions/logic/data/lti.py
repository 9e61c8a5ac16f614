"""Graded LTI assignments an installation already holds (data kind ``lti_assignments``)."""

from __future__ import annotations

from typing import Any

from functions.logic.loaders import loader
from functions.logic.lti import admin
from functions.logic.lti.context import LtiContext
from functions.logic.registry import RunContext


@loader("lti_assignments")
def load_lti_assignments(ctx: RunContext, course_id: str, lines: list[str]) -> dict[str, Any]:
    return admin.load_assignments(LtiContext.create(ctx.settings), course_id, lines)
