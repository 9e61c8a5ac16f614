"""Grade a learner's stored answers against a parsed problem, as CAPA's ``rescore`` would.

Each input earns 1 point when correct, a fraction when partially correct (partial credit schemes),
0 otherwise; an input without a stored answer is incorrect. ``possible`` is the problem's raw
maximum score: the block's weight is applied by the grade report, not here.

Problems whose grading runs their Python script (custom checks, answer keys computed by the script)
are graded from the sandbox's result for the learner (``functions.logic.sandbox``): its verdicts for
the custom checks, and the script's variable values, put into the answer keys that name them.
"""

from __future__ import annotations

import cmath
import math
import random
import re
from collections.abc import Callable, Mapping
from sys import float_info
from typing import Any
from xml.sax.saxutils import escape

from functions.logic.capa import formula, numeric
from functions.logic.capa.errors import GradingFailed, NotRescorable
from functions.logic.capa.parser import parse_problem, range_bounds
from functions.models.content import (
    CheckboxSpec,
    Correctness,
    CustomSpec,
    FormulaSpec,
    GradeResult,
    MultipleChoiceSpec,
    NumericalSpec,
    OptionSpec,
    ProblemDefinition,
    ResponseSpec,
    StringSpec,
    TemplatedSpec,
    UnsupportedSpec,
)
from functions.models.sandbox import SandboxResult

# An input's verdict: its correctness and the points it earns.
Verdict = tuple[Correctness, float]
CORRECT: Verdict = ("correct", 1.0)
INCORRECT: Verdict = ("incorrect", 0.0)


def grade(
    problem: ProblemDefinition, answers: Mapping[str, Any], sandbox: SandboxResult | None = None
) -> GradeResult:
    """Score ``answers`` (``{input_id: value}``); raises ``NotRescorable`` for problems not graded here
    and ``GradingFailed`` (with the reason) when this learner's answers cannot be graded."""
    if not problem.rescorable:
        raise NotRescorable()
    responses = list(problem.responses)
    if problem.needs_sandbox:
        if sandbox is None:
            raise GradingFailed("the problem's Python was not run for this learner")
        if sandbox.error:
            raise GradingFailed(sandbox.error)
        if any(isinstance(response, TemplatedSpec) for response in responses):
            responses = _resolved(problem, sandbox)
    correctness: dict[str, Correctness] = {}
    earned = 0.0
    for response in responses:
        if isinstance(response, CustomSpec):
            verdicts = _custom_verdicts(response, sandbox)
        else:
            verdicts = grade_response(response, answers)
        for input_id, (status, points) in verdicts.items():
            correctness[input_id] = status
            earned += points
    return GradeResult(earned=earned, possible=problem.max_score, correctness=correctness)


def contextualize(xml: str, values: Mapping[str, str]) -> str:
    """The XML with ``$name`` / ``${name}`` replaced by the script's values (longest names first, so
    ``$ab`` is not read as ``$a`` followed by "b"), as CAPA does before reading answer keys."""
    for name in sorted(values, key=len, reverse=True):
        text = escape(values[name], {'"': "&quot;", "'": "&apos;"})
        xml = xml.replace("${" + name + "}", text).replace("$" + name, text)
    return xml


def _resolved(problem: ProblemDefinition, sandbox: SandboxResult) -> list[ResponseSpec]:
    """The responses, with each templated one read again from the learner's substituted XML."""
    again = parse_problem(problem.id, contextualize(problem.xml, sandbox.values), scripts_resolved=True)
    if len(again.responses) != len(problem.responses):
        raise GradingFailed("the problem's responses changed once its script variables were filled in")
    resolved: list[ResponseSpec] = []
    for original, parsed in zip(problem.responses, again.responses, strict=True):
        if not isinstance(original, TemplatedSpec):
            resolved.append(original)
        elif isinstance(parsed, UnsupportedSpec | TemplatedSpec | CustomSpec):
            missing = [name for name in problem.script_variables if name not in sandbox.values]
            detail = f" (the script does not define {', '.join(missing)})" if missing else ""
            raise GradingFailed(f"the answer key of {original.id} cannot be read from the script{detail}")
        else:
            resolved.append(parsed)
    return resolved


def _custom_verdicts(response: CustomSpec, sandbox: SandboxResult | None) -> dict[str, Verdict]:
    found = None if sandbox is None else sandbox.verdicts.get(response.id)
    if found is None or len(found) != len(response.inputs):
        raise GradingFailed(f"the sandbox gave no verdict for {response.id}")
    return {
        field.id: (status, points) for field, (status, points) in zip(response.inputs, found, strict=True)
    }


def grade_response(response: ResponseSpec, answers: Mapping[str, Any]) -> dict[str, Verdict]:
    """Verdicts of one response's inputs (custom and templated responses go through ``grade``)."""
    if isinstance(response, UnsupportedSpec | CustomSpec | TemplatedSpec):
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
# math expressions
# ---------------------------------------------------------------------------------------------
def formula_samples(response: FormulaSpec) -> list[dict[str, formula.Number]]:
    """The variable values the answers are compared at: uniform between the bounds (real and
    imaginary parts alike). Open edX draws them afresh at each check; here they come from a generator
    seeded with the response id, so a rescore gives the same verdict every time it runs."""
    rng = random.Random(f"formula:{response.id}")
    samples: list[dict[str, formula.Number]] = []
    for _ in range(response.samples):
        values: dict[str, formula.Number] = {}
        for name, (low_re, low_im), (high_re, high_im) in zip(
            response.variables, response.lower, response.upper, strict=True
        ):
            real = rng.uniform(low_re, high_re)
            imaginary = rng.uniform(low_im, high_im) if (low_im or high_im) else 0.0
            values[name] = complex(real, imaginary) if imaginary else real
        samples.append(values)
    return samples


def _formula(response: FormulaSpec, answer: Any) -> Verdict:
    given = _text(answer)
    if not given:
        return INCORRECT
    try:
        formula.parse(given)
    except formula.InvalidExpression:
        return INCORRECT  # not an expression (Open edX refuses it as a learner error)
    tolerance = response.tolerance if response.tolerance is not None else numeric.DEFAULT_TOLERANCE
    for values in formula_samples(response):
        try:
            expected = formula.evaluate(response.answer, values, response.case_sensitive)
        except formula.InvalidExpression as error:
            raise GradingFailed(
                f"the answer {response.answer!r} has no value at {values}: {error}"
            ) from error
        try:
            student = formula.evaluate(given, values, response.case_sensitive)
        except formula.InvalidExpression:
            return INCORRECT  # e.g. a variable the problem does not define
        if not _close(student, expected, tolerance):
            return INCORRECT
    return CORRECT


def _close(student: formula.Number, expected: formula.Number, tolerance: str) -> bool:
    if not isinstance(student, complex) and not isinstance(expected, complex):
        return numeric.compare_with_tolerance(student, expected, tolerance)
    # Complex values: the same test on the distance between them.
    if tolerance.endswith("%"):
        amount = numeric.evaluate(tolerance[:-1]) * 0.01
        scale = max(abs(student), abs(expected)) if tolerance == numeric.DEFAULT_TOLERANCE else abs(expected)
        amount *= scale
    else:
        amount = numeric.evaluate(tolerance)
    return not cmath.isnan(student - expected) and abs(student - expected) <= amount


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
    FormulaSpec: _formula,
}
