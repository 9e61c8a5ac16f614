"""Parse a CAPA problem's XML into a ``ProblemDefinition``: its responses, inputs and answer keys.

Parsing decides whether a problem is rescorable. A problem is rescorable when every response is of a
type graded here: multiple choice, checkboxes, dropdown, numerical, text and math expression
(formula) responses are graded in-process; Python-graded responses (``customresponse`` with a check
function or answer code) and answer keys computed by the problem's script (``answer="$z"``) are
graded by running the script in the sandbox (``functions.logic.sandbox``), never in this process.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from functions.logic.capa import formula, numeric
from functions.models.content import (
    CheckboxSpec,
    ChoiceSpec,
    CustomSpec,
    FormulaSpec,
    InputSpec,
    MultipleChoiceSpec,
    NumericalSpec,
    OptionSpec,
    ProblemDefinition,
    ResponseSpec,
    StringSpec,
    TemplatedSpec,
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
    "formularesponse": (frozenset({"formulaequationinput", "textline"}), 1),
    "customresponse": (INPUT_TAGS, None),
}
# Samples of a formula response: at least one, and few enough to grade a learner quickly.
MAX_FORMULA_SAMPLES = 1000
_VARIABLE_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# Partial credit schemes each graded type understands (CAPA rejects the others when grading).
_PARTIAL_CREDIT: dict[str, frozenset[str]] = {
    "multiplechoiceresponse": frozenset({"points"}),
    "choiceresponse": frozenset({"edc", "halves"}),
    "numericalresponse": frozenset({"list", "close"}),
}


class _SpecError(ValueError):
    """The response's XML cannot be graded (bad answer key, wrong inputs, ...): the text says why."""


def parse_problem(problem_id: str, xml_text: str, scripts_resolved: bool = False) -> ProblemDefinition:
    """Parse one problem's XML. Never raises: bad XML gives a definition with ``error`` set.

    ``scripts_resolved``: the XML's ``$variables`` were already replaced by the script's values (a
    templated problem parsed again for one learner), so answer keys are read as written.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as error:
        return ProblemDefinition(
            id=problem_id, xml=xml_text, error=f"invalid XML: {error}", reason="The problem XML is invalid."
        )
    scripts = python_scripts(root)
    has_script = bool(scripts) and not scripts_resolved
    responses: list[ResponseSpec] = []
    reasons: list[str] = []
    types: list[str] = []
    variables: set[str] = set()
    for index, element in enumerate(_responses(root)):
        response_id = f"{problem_id}_{index + 2}"
        inputs = [
            InputSpec(id=f"{response_id}_{position + 1}", tag=field.tag)
            for position, field in enumerate(_inputs(element))
        ]
        if element.tag not in types:
            types.append(element.tag)
        try:
            if element.tag == "customresponse":
                responses.append(_custom(element, response_id, inputs, bool(scripts)))
            elif has_script and _mentions_variable(element):
                # Checked as written (type, inputs); the key itself is known once the script ran.
                _check_inputs(element, inputs)
                variables.update(_referenced_variables(element))
                responses.append(
                    TemplatedSpec(
                        id=response_id,
                        type=element.tag,
                        inputs=inputs,
                        partial_credit=_partial_credit(element),
                    )
                )
            else:
                responses.append(_parse_response(element, response_id, inputs))
        except _SpecError as error:
            reasons.append(f"{element.tag} {response_id}: {error}")
            responses.append(
                UnsupportedSpec(
                    id=response_id, type=element.tag, inputs=inputs, partial_credit=_partial_credit(element)
                )
            )
    sandboxed = any(isinstance(response, CustomSpec | TemplatedSpec) for response in responses)
    return ProblemDefinition(
        id=problem_id,
        display_name=root.get("display_name") or "",
        xml=xml_text,
        responses=responses,
        max_score=float(sum(len(response.inputs) for response in responses)),
        rescorable=not reasons,
        problem_types=types,
        reason="; ".join(reasons) or None,
        script="\n".join(scripts) if sandboxed and scripts else None,
        script_variables=sorted(variables),
    )


def python_scripts(root: ET.Element) -> list[str]:
    """Every Python ``<script>`` of the problem, in order (CAPA runs them as one script). A script
    of any type but JavaScript or Perl is Python; indentation common to a script's lines is removed."""
    found: list[str] = []
    for script in root.iter("script"):
        kind = (script.get("type") or "").lower()
        if "javascript" in kind or "perl" in kind:
            continue
        found.append(textwrap.dedent(script.text or "").strip("\n"))
    return [text for text in found if text.strip()]


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


def _referenced_variables(element: ET.Element) -> set[str]:
    found: set[str] = set()
    for node in element.iter():
        for value in [*node.attrib.values(), node.text or ""]:
            found.update(_VARIABLE_REFERENCE.findall(value))
    return found


def _partial_credit(element: ET.Element) -> list[str]:
    value = element.get("partial_credit")
    if value is None or value.strip().lower() == "false":
        return []
    return [word.strip().lower() for word in value.split(",")]


# ---------------------------------------------------------------------------------------------
# one response
# ---------------------------------------------------------------------------------------------
def _check_inputs(element: ET.Element, inputs: list[InputSpec]) -> None:
    tag = element.tag
    if tag not in _ALLOWED_INPUTS:
        raise _SpecError("this response type cannot be graded here")
    allowed, most = _ALLOWED_INPUTS[tag]
    if not inputs:
        raise _SpecError("it has no input field")
    if any(field.tag not in allowed for field in inputs) or (most is not None and len(inputs) > most):
        raise _SpecError(f"its input fields {[field.tag for field in inputs]} are not valid")


def _parse_response(element: ET.Element, response_id: str, inputs: list[InputSpec]) -> ResponseSpec:
    tag = element.tag
    _check_inputs(element, inputs)
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
    if tag == "formularesponse":
        return _formula(element, response_id, inputs)
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


def _custom(element: ET.Element, response_id: str, inputs: list[InputSpec], has_script: bool) -> CustomSpec:
    """A Python-graded response: a check function of the problem's script (``cfn``), or answer code."""
    _check_inputs(element, inputs)
    cfn = (element.get("cfn") or "").strip() or None
    code = None
    for answer in element.findall("answer"):
        kind = (answer.get("type") or "").lower()
        if "javascript" not in kind and (answer.text or "").strip():
            code = textwrap.dedent(answer.text or "").strip("\n")
            break
    if cfn is None and code is None:
        raise _SpecError("it has neither a check function (cfn) nor Python answer code")
    if cfn is not None and not has_script:
        raise _SpecError(f"its check function {cfn!r} needs the problem's Python script, which is missing")
    expect = element.get("expect")
    if expect is None:
        expect = element.get("answer")
    return CustomSpec(
        id=response_id,
        type="customresponse",
        inputs=inputs,
        cfn=cfn,
        expect=expect,
        answer_code=None if cfn is not None else code,
    )


def _formula(element: ET.Element, response_id: str, inputs: list[InputSpec]) -> FormulaSpec:
    answer = (element.get("answer") or "").strip()
    if not answer:
        raise _SpecError("it has no answer")
    samples = (element.get("samples") or "").strip()
    variables: list[str] = []
    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    count = 1
    if samples:
        # "x,y@1,2:3,4#10": variables x and y, x from 1 to 3 and y from 2 to 4, ten samples.
        match = re.fullmatch(r"([^@]*)@([^:#]*):([^#]*)#\s*(\d+)\s*", samples)
        if match is None:
            raise _SpecError(f"samples={samples!r} is not 'variables@low:high#count'")
        variables = [name.strip() for name in match.group(1).split(",") if name.strip()]
        lower = [_bound(text) for text in match.group(2).split(",")]
        upper = [_bound(text) for text in match.group(3).split(",")]
        count = int(match.group(4))
        if not (len(variables) == len(lower) == len(upper)) or not variables:
            raise _SpecError(f"samples={samples!r} needs one low and one high bound per variable")
        if not 1 <= count <= MAX_FORMULA_SAMPLES:
            raise _SpecError(f"samples={samples!r} asks for {count} samples (1 to {MAX_FORMULA_SAMPLES})")
    tolerance = None
    for param in element.iter("responseparam"):
        if param.get("type") == "tolerance" and param.get("default") is not None:
            tolerance = (param.get("default") or "").strip()
            break
    if tolerance is not None:
        _number(tolerance.removesuffix("%"), "tolerance")
    try:
        formula.parse(answer)
    except formula.InvalidExpression as error:
        raise _SpecError(f"answer {answer!r} is not an expression: {error}") from error
    case = (element.get("type") or "cs").strip().lower()
    return FormulaSpec(
        id=response_id,
        type="formularesponse",
        inputs=inputs,
        answer=answer,
        variables=variables,
        lower=lower,
        upper=upper,
        samples=count,
        tolerance=tolerance,
        case_sensitive="ci" not in case.split(),
    )


def _bound(text: str) -> tuple[float, float]:
    try:
        value = formula.evaluate(text.strip())
    except formula.InvalidExpression as error:
        raise _SpecError(f"sample bound {text!r} is not a number") from error
    return (value.real, value.imag) if isinstance(value, complex) else (float(value), 0.0)


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
