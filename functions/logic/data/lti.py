"""Graded LTI assignments an installation already holds (data kind ``lti_assignments``)."""

from __future__ import annotations

from collections.abc import Sequence

from functions.logic import load_journal
from functions.logic.load_journal import Prepared
from functions.logic.loaders import loader
from functions.logic.lti import admin
from functions.logic.lti.context import LtiContext
from functions.logic.registry import RunContext

KIND = "lti_assignments"


@loader(KIND, line=admin.AssignmentRow)
def load_lti_assignments(ctx: RunContext, course_id: str, lines: list[str]) -> Prepared:
    rows, summary = admin.prepare_assignments(LtiContext.create(ctx.settings), course_id, lines)
    return Prepared(rows, summary)


@load_journal.applier(KIND, admin.AssignmentWrite, learner=lambda row: row.assignment.user_id)
def _apply_lti_assignments(ctx: RunContext, course_id: str, rows: Sequence[admin.AssignmentWrite]) -> None:
    admin.apply_assignments(LtiContext.create(ctx.settings), rows)
