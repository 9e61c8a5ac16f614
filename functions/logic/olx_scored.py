"""The maximum score of scored blocks other than CAPA problems (open response assessments, LTI,
drag and drop, any XBlock that says ``has_score``), read from their OLX at import.

Their learners' scores come from Open edX as they are published (earned / possible per block: the
``block_scores`` data kind), so the import only needs each block's maximum: what a learner who has
no score yet counts as possible, as upstream's grading does for any scored block. CAPA problems are
the problem parser's (``functions.logic.capa``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

from functions.models.bounds import MAX_SCORE

ORA = "openassessment"
# Scored only when they say so (``has_score``); their maximum is their ``weight`` (default 1).
LTI = frozenset({"lti", "lti_consumer"})
# Always scored; maximum ``weight`` (default 1), as the drag and drop XBlock publishes its grade.
ALWAYS_SCORED = frozenset({"drag-and-drop-v2"})


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and 0 <= number <= MAX_SCORE else None


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _ora_points(definition: ET.Element) -> float | None:
    """An ORA's maximum: the sum over its rubric's criteria of each criterion's best option."""
    rubric = definition.find("rubric")
    if rubric is None:
        return None
    total = 0.0
    for criterion in rubric.findall("criterion"):
        points = [_number(option.get("points")) for option in criterion.findall("option")]
        valid = [point for point in points if point is not None]
        if valid:
            total += max(valid)
    return min(total, MAX_SCORE)


def max_score(
    category: str, definition: ET.Element, fields: Mapping[str, Any], warn: Callable[[str], None]
) -> float | None:
    """The block's maximum raw score, or None when it is not a scored block."""
    weight = _number(fields.get("weight")) if fields.get("weight") not in (None, "") else None
    if category == ORA:
        points = _ora_points(definition)
        if points is None:
            warn("open response assessment without a rubric: not scored")
        return points
    if category in LTI:
        return (1.0 if weight is None else weight) if _true(fields.get("has_score")) else None
    if category in ALWAYS_SCORED or _true(fields.get("has_score")):
        declared = _number(fields.get("max_score"))
        if declared is not None:
            return declared
        return 1.0 if weight is None else weight
    return None
