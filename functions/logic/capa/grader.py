"""Grade a learner's stored answers against a parsed problem, as CAPA's ``rescore`` would.

Each input earns 1 point when correct, a fraction when partially correct (partial credit schemes),
0 otherwise; an input without a stored answer is incorrect. ``possible`` is the problem's raw
maximum score: the block's weight is applied by the grade report, not here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from sys import float_info
from typing import Any

from functions.logic.capa import numeric
from functions.logic.capa.errors import NotRescorable
from functions.logic.capa.parser import range_bounds
from functions.models.content import (
    CheckboxSpec,
    Correctness,
    GradeResult,
    MultipleChoiceSpec,
    NumericalSpec,
    OptionSpec,
    ProblemDefinition,
    ResponseSpec,
    StringSpec,
    UnsupportedSpec,
)

# An input's verdict: its correctness and the points it earns.
Verdict = tuple[Correctness, float]
CORRECT: Verdict = ("correct", 1.0)
INCORRECT: Verdict = ("incorrect", 0.0)


def grade(problem: ProblemDefinition, answers: Mapping[str, Any]) -> GradeResult:
    """Score ``answers`` (``{input_id: value}``); raises ``NotRescorable`` for problems not graded here."""
    if not problem.rescorable:
        raise NotRescorable()
    correctness: dict[str, Correctness] = {}
    earned = 0.0
    for response in problem.responses:
        for input_id, (status, points) in grade_response(response, answers).items():
            correctness[input_id] = status
            earned += points
    return GradeResult(earned=earned, possible=problem.max_score, correctness=correctness)


def grade_response(response: ResponseSpec, answers: Mapping[str, Any]) -> dict[str, Verdict]:
    """Verdicts of one response's inputs."""
    if isinstance(response, UnsupportedSpec):
        raise NotRescorable()
    if isinstance(response, OptionSpec):
        return {
            field.id: CORRECT if _has_text(answers.get(field.id), response.correct[field.id]) else INCORRECT
            for field in response.inputs
        }
    input_id = response.inputs[0].id  # the other types have exactly one input (checked when parsing)
    grader: Callable[[Any, Any], Verdict] = _GRADERS[type(response)]
    return {input_id: grader(response, answers.get(input_id))}


# ---------------------------------------------------------------------------------------------
# choices
# ---------------------------------------------------------------------------------------------
def _multiple_choice(response: MultipleChoiceSpec, answer: Any) -> Verdict:
    if not isinstance(answer, str):
        return INCORRECT
    for choice in response.choices:
        if choice.name != answer:
            continue
        if choice.correct == "true":
            return CORRECT
        if "points" in response.partial_credit and choice.correct == "partial":
            return ("partially-correct", choice.point_value)
    return INCORRECT


def _checkbox(response: CheckboxSpec, answer: Any) -> Verdict:
    if answer is None:
        return INCORRECT
    selected = {str(item) for item in (answer if isinstance(answer, list | tuple) else [answer])}
    if not selected:
        return INCORRECT
    correct = {choice.name for choice in response.choices if choice.correct == "true"}
    incorrect = {choice.name for choice in response.choices if choice.correct == "false"}
    if not response.partial_credit:
        return CORRECT if selected == correct else INCORRECT
    every = correct | incorrect
    if response.partial_credit == ["edc"]:
        # Every decision counts: each box rightly ticked or rightly left blank is worth a share.
        right = len(selected & correct) + len((every - selected) & incorrect)
        if right == len(every):
            return CORRECT
        if right == 0:
            return INCORRECT
        return ("partially-correct", _round_away_from_zero(right / len(every), 2))
    # "halves": one mistake halves the credit (3+ choices), two quarter it (5+ choices).
    mistakes = len(selected & incorrect) + len((every - selected) & correct)
    if mistakes == 0:
        return CORRECT
    if mistakes == 1 and len(every) > 2:
        return ("partially-correct", 0.5)
    if mistakes == 2 and len(every) > 4:
        return ("partially-correct", 0.25)
    return INCORRECT


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------
def _numerical(response: NumericalSpec, answer: Any) -> Verdict:
    if not isinstance(answer, str | int | float) or isinstance(answer, bool):
        return INCORRECT
    try:
        student = float(answer) if not isinstance(answer, str) else numeric.evaluate(answer)
    except numeric.InvalidNumber:
        return INCORRECT  # unparsable input: incorrect (Open edX would refuse it as a learner error)
    if math.isnan(student):
        return INCORRECT
    bounds = range_bounds(response)
    verdict = _in_range(response, student, bounds) if bounds else _near_answer(response, student)
    if verdict[0] == "incorrect" and any(
        student == numeric.evaluate(value) for value in response.additional_answers
    ):
        return CORRECT
    return verdict


def _in_range(
    response: NumericalSpec, student: float, bounds: tuple[tuple[float, bool], tuple[float, bool]]
) -> Verdict:
    (low, _), (high, _) = bounds
    for boundary, inclusive in bounds:
        if numeric.compare_with_tolerance(student, boundary, float_info.epsilon, relative=True):
            return CORRECT if inclusive else INCORRECT
    if low < student < high:
        return CORRECT
    if "close" in response.partial_credit:
        width = (high - low) * response.partial_range
        if low - width < student < high + width:
            return ("partially-correct", 0.5)
    return INCORRECT


def _near_answer(response: NumericalSpec, student: float) -> Verdict:
    correct = numeric.evaluate(response.answer)
    tolerance = response.tolerance if response.tolerance is not None else numeric.DEFAULT_TOLERANCE
    if numeric.compare_with_tolerance(student, correct, tolerance):
        return CORRECT
    credit = response.partial_credit
    wider = _expanded(tolerance, response.partial_range)
    if "list" in credit:
        # As CAPA: within tolerance of a listed answer is worth half; with "close" too, within the
        # wider tolerance of the answer is worth half and of a listed answer a quarter.
        for text in response.partial_answers:
            value = numeric.evaluate(text)
            if numeric.compare_with_tolerance(student, value, tolerance):
                return ("partially-correct", 0.5)
            if "close" in credit:
                if numeric.compare_with_tolerance(student, correct, wider):
                    return ("partially-correct", 0.5)
                if numeric.compare_with_tolerance(student, value, wider):
                    return ("partially-correct", 0.25)
    elif "close" in credit and numeric.compare_with_tolerance(student, correct, wider):
        return ("partially-correct", 0.5)
    return INCORRECT


def _expanded(tolerance: str, factor: float) -> str | float:
    """The "close" tolerance: ``factor`` times the tolerance (a percentage stays a percentage)."""
    if tolerance.endswith("%"):
        return f"{factor * numeric.evaluate(tolerance[:-1])}%"
    return factor * numeric.evaluate(tolerance)


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------
def _string(response: StringSpec, answer: Any) -> Verdict:
    given = _text(answer)
    if not given:
        return INCORRECT
    if response.regexp and not response.legacy_or:
        flags = re.IGNORECASE if response.case_insensitive else 0
        # Full match of each answer on its own, so that "a|b" accepts exactly "a" or "b".
        matched = any(re.fullmatch(pattern, given, flags) for pattern in response.answers)
    elif response.case_insensitive:
        matched = given.lower() in (expected.lower() for expected in response.answers)
    else:
        matched = given in response.answers
    return CORRECT if matched else INCORRECT


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """A stored text answer, whitespace-trimmed; anything that is not a string counts as empty."""
    return value.strip() if isinstance(value, str) else ""


def _has_text(answer: Any, expected: str) -> bool:
    """A dropdown answer: the chosen option's text (answers without one never match)."""
    return isinstance(answer, str) and bool(expected) and answer.strip() == expected


def _round_away_from_zero(value: float, digits: int) -> float:
    """Open edX's float rounding of partial credit (values here are never negative)."""
    scale = 10.0**digits
    return float(int(value * scale + 0.5)) / scale


_GRADERS: dict[type, Callable[[Any, Any], Verdict]] = {
    MultipleChoiceSpec: _multiple_choice,
    CheckboxSpec: _checkbox,
    NumericalSpec: _numerical,
    StringSpec: _string,
}
