"""Numbers typed by learners and authors, and CAPA's tolerance test.

Learners may type expressions (``4+5/2^2``, ``1/3``, ``2.5k``, ``sqrt(2)``), as Open edX accepts them;
they are read by the formula evaluator (``capa.formula``, a pyparsing grammar: nothing from the course
or the learner is ever executed). Anything it cannot read raises ``InvalidNumber``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from functions.logic.capa import formula

DEFAULT_TOLERANCE = "0.001%"  # CAPA's default: relative, to absorb float representation errors
MAX_EXPRESSION_LENGTH = 500  # learner input longer than this is not a number worth evaluating


# Learner input that is not a number or an expression of Open edX's syntax.
InvalidNumber = formula.InvalidExpression
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def evaluate(text: str) -> float:
    """The real value of a number or an expression without variables (``InvalidNumber`` if none).

    Numerical answers use the formula syntax (``4+5/2^2``, ``2.5k``, ``sqrt(2)``, ``pi``) but must
    be real: a complex value is refused, as upstream refuses complex numbers in numerical input.
    """
    if not isinstance(text, str) or len(text) > MAX_EXPRESSION_LENGTH:
        raise InvalidNumber("not a short string")
    stripped = text.strip()
    if _PLAIN_NUMBER.fullmatch(stripped):  # most answers: no need for the parser
        value = float(stripped)
        if math.isinf(value):
            raise InvalidNumber("not a finite number")
        return value
    result = formula.evaluate(stripped)
    if isinstance(result, complex):
        raise InvalidNumber("complex numbers are not accepted here")
    return result


def compare_with_tolerance(
    student: float, instructor: float, tolerance: str | float = DEFAULT_TOLERANCE, relative: bool = False
) -> bool:
    """CAPA's tolerance test: ``|student - instructor| <= tolerance``.

    A percentage tolerance is a share of the instructor's answer (of the larger magnitude of the two
    when ``relative`` or when it is the default tolerance). The final comparison uses decimals built
    from the floats' shortest representations, as Open edX does, so that a value exactly at the limit
    (605 for 600 +- 5) counts as correct despite binary rounding.
    """
    if isinstance(tolerance, str):
        if tolerance == DEFAULT_TOLERANCE:
            relative = True
        if tolerance.endswith("%"):
            amount = evaluate(tolerance[:-1]) * 0.01
            if not relative:
                amount *= abs(instructor)
        else:
            amount = evaluate(tolerance)
    else:
        amount = tolerance
    if relative:
        amount *= max(abs(student), abs(instructor))
    if math.isinf(student) or math.isinf(instructor):
        return student == instructor
    if math.isnan(student) or math.isnan(instructor):
        return False
    return abs(Decimal(repr(student)) - Decimal(repr(instructor))) <= Decimal(repr(amount))
