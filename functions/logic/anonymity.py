"""Anonymized learner ids, the same wherever a report prints one (anonymized ids, ORA exports)."""

from __future__ import annotations

import hashlib
import hmac

ANONYMIZED_ID_LENGTH = 32


def anonymized_id(secret: str, user_id: int, course_id: str | None = None) -> str:
    """A learner's anonymized id: HMAC-SHA256 keyed by the deployment's secret, 32 hex characters.

    Without a course it is the learner's one id across courses; with one, an id only that course
    knows. The scope is part of the message so the two can never coincide.
    """
    scope = "global" if course_id is None else f"course:{course_id}"
    message = f"{scope}|user:{user_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:ANONYMIZED_ID_LENGTH]
