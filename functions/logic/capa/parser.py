"""Parse a CAPA problem's XML into a ``ProblemDefinition``: its responses, inputs and answer keys.

Parsing decides whether a problem is rescorable. A problem is rescorable when every response is of a
type graded here (multiple choice, checkboxes, dropdown, numerical, text) and no answer key depends on
the problem's Python script (``answer="$z"``): scripts are never run, so such keys are unknown.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from functions.logic.capa import numeric
from functions.models.content import (
    CheckboxSpec,
    ChoiceSpec,
    InputSpec,
    MultipleChoiceSpec,
    NumericalSpec,
    OptionSpec,
    ProblemDefinition,
    ResponseSpec,
    StringSpec,
    UnsupportedSpec,
)

# Every CAPA response tag; any other tag ending in "response" is treated as an unknown response too.
RESPONSE_TAGS = frozenset(
    {
        "multiplechoiceresponse",
        "truefalseresponse",
        "choiceresponse",
        "optionresponse",
        "numericalresponse",
        "stringresponse",
        "formularesponse",
        "customresponse",
        "symbolicresponse",
        "coderesponse",
        "externalresponse",
        "schematicresponse",
        "imageresponse",
        "annotationresponse",
        "choicetextresponse",
        "javascriptresponse",
        "jsmeresponse",
    }
)
# Every CAPA input type: each one inside a response is one answer field (and one point).
INPUT_TAGS = frozenset(
    {
        "textline",
        "textbox",
        "codeinput",
        "choicegroup",
        "radiogroup",
        "checkboxgroup",
        "optioninput",
        "formulaequationinput",
        "javascriptinput",
        "jsinput",
        "filesubmission",
        "matlabinput",
        "schematic",
        "imageinput",
        "crystallography",
        "vsepr_input",
        "chemicalequationinput",
        "drag_and_drop_input",
        "editamoleculeinput",
        "designprotein2dinput",
        "editageneinput",
        "annotationinput",
        "choicetextgroup",
    }
)
# Input fields each graded response type accepts, and how many of them (None = any number).
_ALLOWED_INPUTS: dict[str, tuple[frozenset[str], int | None]] = {
    "multiplechoiceresponse": (frozenset({"choicegroup"}), 1),
    "choiceresponse": (frozenset({"checkboxgroup", "radiogroup"}), 1),
    "optionresponse": (frozenset({"optioninput"}), None),
    "numericalresponse": (frozenset({"textline", "formulaequationinput"}), 1),
    "stringresponse": (frozenset({"textline"}), 1),
}
# Partial credit schemes each graded type understands (CAPA rejects the others when grading).
_PARTIAL_CREDIT: dict[str, frozenset[str]] = {
    "multiplechoiceresponse": frozenset({"points"}),
    "choiceresponse": frozenset({"edc", "halves"}),
    "numericalresponse": frozenset({"list", "close"}),
}


class _SpecError(ValueError):
    """The response's XML cannot be graded (bad answer key, wrong inputs, ...): the text says why."""


def parse_problem(problem_id: str, xml_text: str) -> ProblemDefinition:
    """Parse one problem's XML. Never raises: bad XML gives a definition with ``error`` set."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as error:
        return ProblemDefinition(
            id=problem_id, xml=xml_text, error=f"invalid XML: {error}", reason="The problem XML is invalid."
        )
    has_script = any("javascript" not in (script.get("type") or "").lower() for script in root.iter("script"))
    responses: list[ResponseSpec] = []
    reasons: list[str] = []
    types: list[str] = []
    for index, element in enumerate(_responses(root)):
        response_id = f"{problem_id}_{index + 2}"
        inputs = [
            InputSpec(id=f"{response_id}_{position + 1}", tag=field.tag)
            for position, field in enumerate(_inputs(element))
        ]
        if element.tag not in types:
            types.append(element.tag)
        try:
            if has_script and _mentions_variable(element):
                raise _SpecError("its answer depends on the problem's Python script")
            responses.append(_parse_response(element, response_id, inputs))
        except _SpecError as error:
            reasons.append(f"{element.tag} {response_id}: {error}")
            responses.append(
                UnsupportedSpec(
                    id=response_id, type=element.tag, inputs=inputs, partial_credit=_partial_credit(element)
                )
            )
    return ProblemDefinition(
        id=problem_id,
        display_name=root.get("display_name") or "",
        xml=xml_text,
        responses=responses,
        max_score=float(sum(len(response.inputs) for response in responses)),
        rescorable=not reasons,
        problem_types=types,
        reason="; ".join(reasons) or None,
    )


# ---------------------------------------------------------------------------------------------
# the problem's structure
# ---------------------------------------------------------------------------------------------
def _is_response(element: ET.Element) -> bool:
    return isinstance(element.tag, str) and (element.tag in RESPONSE_TAGS or element.tag.endswith("response"))


def _responses(element: ET.Element) -> Iterator[ET.Element]:
    """Responses in document order (a response's own subtree is not searched for more)."""
    for child in element:
        if _is_response(child):
            yield child
        else:
            yield from _responses(child)


def _inputs(element: ET.Element) -> Iterator[ET.Element]:
    for child in element:
        if child.tag in INPUT_TAGS:
            yield child
        else:
            yield from _inputs(child)


def _mentions_variable(element: ET.Element) -> bool:
    """True if an answer key may be a script variable (``$name``) substituted at render time."""
    for node in element.iter():
        if any("$" in value for value in node.attrib.values()):
            return True
        if node.tag in ("option", "additional_answer") and "$" in (node.text or ""):
            return True
    return False


def _partial_credit(element: ET.Element) -> list[str]:
    value = element.get("partial_credit")
    if value is None or value.strip().lower() == "false":
        return []
    return [word.strip().lower() for word in value.split(",")]


# ---------------------------------------------------------------------------------------------
# one response
# ---------------------------------------------------------------------------------------------
def _parse_response(element: ET.Element, response_id: str, inputs: list[InputSpec]) -> ResponseSpec:
    tag = element.tag
    if tag not in _ALLOWED_INPUTS:
        raise _SpecError("this response type cannot be graded here")
    allowed, most = _ALLOWED_INPUTS[tag]
    if not inputs:
        raise _SpecError("it has no input field")
    if any(field.tag not in allowed for field in inputs) or (most is not None and len(inputs) > most):
        raise _SpecError(f"its input fields {[field.tag for field in inputs]} are not valid")
    credit = _partial_credit(element)
    schemes = _PARTIAL_CREDIT.get(tag)
    if schemes is not None and credit:
        single_scheme = tag != "numericalresponse"  # CAPA allows one scheme, except "list,close"
        if (single_scheme and len(credit) > 1) or not set(credit) <= schemes:
            raise _SpecError(f"partial_credit={element.get('partial_credit')!r} is not supported")
    if tag == "multiplechoiceresponse":
        return MultipleChoiceSpec(
            id=response_id, type=tag, inputs=inputs, partial_credit=credit, choices=_named_choices(element)
        )
    if tag == "choiceresponse":
        choices = [
            ChoiceSpec(name=f"choice_{index}", correct=_lower(choice.get("correct")), text=_text(choice))
            for index, choice in enumerate(element.iter("choice"))
        ]
        return CheckboxSpec(id=response_id, type=tag, inputs=inputs, partial_credit=credit, choices=choices)
    if tag == "optionresponse":
        correct = {
            field.id: _correct_option(node) for field, node in zip(inputs, _inputs(element), strict=True)
        }
        return OptionSpec(id=response_id, type=tag, inputs=inputs, correct=correct)
    if tag == "numericalresponse":
        return _numerical(element, response_id, inputs, credit)
    return _string(element, response_id, inputs)


def _named_choices(element: ET.Element) -> list[ChoiceSpec]:
    """Multiple choice names: ``choice_<name>`` for a named choice, else ``choice_<n>`` counting the
    unnamed choices only (Open edX's naming, which stored answers refer to)."""
    choices: list[ChoiceSpec] = []
    unnamed = 0
    for group in _inputs(element):
        for choice in group.iter("choice"):
            name = choice.get("name")
            if name is None:
                name, unnamed = str(unnamed), unnamed + 1
            try:
                point_value = float(choice.get("point_value", "0.5"))
            except ValueError as error:
                raise _SpecError(f"point_value {choice.get('point_value')!r} is not a number") from error
            choices.append(
                ChoiceSpec(
                    name=f"choice_{name}",
                    correct=_lower(choice.get("correct")),
                    text=_text(choice),
                    point_value=point_value,
                )
            )
    return choices


def _correct_option(field: ET.Element) -> str:
    """The correct value of a dropdown: its ``correct`` attribute, or the ``<option correct="True">``."""
    correct = field.get("correct")
    if correct is None:
        options = (option for option in field.iter("option") if _lower(option.get("correct")) == "true")
        correct = next((option.text or "" for option in options), "")
    if not correct.strip():
        raise _SpecError("no correct option")
    return correct.strip()


def _numerical(
    element: ET.Element, response_id: str, inputs: list[InputSpec], credit: list[str]
) -> NumericalSpec:
    answer = element.get("answer")
    if not answer:
        raise _SpecError("it has no answer")
    tolerance = None
    for param in element.iter("responseparam"):
        if param.get("type") == "tolerance" and param.get("default") is not None:
            tolerance = (param.get("default") or "").strip()
            break
    partial_range = 2.0
    partial_answers: list[str] = []
    for param in element.findall("responseparam"):
        if param.get("partial_range") is not None:
            partial_range = _number(param.get("partial_range", ""), "partial_range")
            break
    for param in element.findall("responseparam"):
        if param.get("partial_answers") is not None:
            partial_answers = [word.strip() for word in (param.get("partial_answers") or "").split(",")]
            break
    additional = [
        node.get("answer") or (node.text or "").strip() for node in element.findall("additional_answer")
    ]
    spec = NumericalSpec(
        id=response_id,
        type="numericalresponse",
        inputs=inputs,
        partial_credit=credit,
        answer=answer,
        tolerance=tolerance,
        additional_answers=[value for value in additional if value],
        partial_answers=partial_answers,
        partial_range=partial_range,
    )
    # Check every number now, so that grading can only fail on the learner's input.
    if range_bounds(spec) is None:
        _number(answer, "answer")
        if tolerance is not None:
            _number(tolerance.removesuffix("%"), "tolerance")
    for value in [*spec.additional_answers, *partial_answers]:
        _number(value, "additional or partial answer")
    return spec


def range_bounds(spec: NumericalSpec) -> tuple[tuple[float, bool], tuple[float, bool]] | None:
    """``((low, inclusive), (high, inclusive))`` for a range answer such as ``[1, 2)``, else None."""
    answer = spec.answer
    if not (answer.startswith(("[", "(")) and answer.endswith(("]", ")"))):
        return None
    parts = answer[1:-1].split(",")
    if len(parts) != 2:
        raise _SpecError(f"range answer {answer!r} needs two bounds")
    low, high = (_number(part, "range bound") for part in parts)
    return (low, answer.startswith("[")), (high, answer.endswith("]"))


def _string(element: ET.Element, response_id: str, inputs: list[InputSpec]) -> StringSpec:
    answer = element.get("answer")
    if answer is None:
        raise _SpecError("it has no answer")
    flags = (element.get("type") or "").lower().split()
    regexp, case_insensitive = "regexp" in flags, "ci" in flags
    legacy_or = "_or_" in answer.lower()
    if legacy_or:
        answers = [part.strip() for part in answer.split("_or_")]
    else:
        additional = [node.get("answer") or node.text or "" for node in element.findall("additional_answer")]
        answers = [answer.strip()] + [value.strip() for value in additional if value.strip()]
    if regexp and not legacy_or:
        for pattern in answers:
            try:
                re.compile(pattern)
            except re.error as error:
                raise _SpecError(f"invalid regular expression {pattern!r}: {error}") from error
    return StringSpec(
        id=response_id,
        type="stringresponse",
        inputs=inputs,
        answers=answers,
        case_insensitive=case_insensitive,
        regexp=regexp,
        legacy_or=legacy_or,
    )


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def _number(text: str, what: str) -> float:
    try:
        return numeric.evaluate(text)
    except numeric.InvalidNumber as error:
        raise _SpecError(f"{what} {text!r} is not a number") from error


def _lower(value: str | None) -> str:
    return (value or "").strip().lower()


def _text(element: ET.Element) -> str:
    """The element's own leading text (a choice's label, without its hints)."""
    return (element.text or "").strip()
