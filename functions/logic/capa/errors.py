"""Errors raised by the CAPA graders."""

from __future__ import annotations

from functions.errors import ItaskError

NOT_RESCORABLE_MESSAGE = "This component cannot be rescored."


class NotRescorable(ItaskError):
    """The problem holds a response type this service cannot grade (spec §1.2: HTTP 400 with this text)."""

    def __init__(self, message: str = NOT_RESCORABLE_MESSAGE):
        super().__init__(message)
        self.message = message


class GradingFailed(ValueError):
    """This learner's answers cannot be graded (the problem's script failed or exceeded its limits, an
    answer key has no value, ...): the learner's rescore fails with this message, the task goes on."""
