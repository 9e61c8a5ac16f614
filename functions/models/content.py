"""Problem content read from a course export: what the importer produces and what rescoring grades.

A problem's responses are parsed once (at import) into typed specs, so grading a learner's stored
answers never touches the XML again. Input ids follow Open edX's convention
``<problem_id>_<response_index + 2>_<input_index + 1>``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.models.course import Course

Correctness = Literal["correct", "incorrect", "partially-correct"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class InputSpec(_Frozen):
    """One answer field of a response (``textline``, ``choicegroup``, ``optioninput``, ...)."""

    id: str
    tag: str


class ChoiceSpec(_Frozen):
    """One ``<choice>`` of a multiple choice or checkbox response."""

    name: str  # the value a learner's answer holds, e.g. "choice_0"
    correct: str  # lower-cased ``correct`` attribute: "true", "false", "partial" or "" when absent
    text: str = ""
    point_value: float = 0.5  # credit of a "partial" choice (multiple choice, partial_credit="points")


class _ResponseSpec(_Frozen):
    id: str  # <problem_id>_<response_index + 2>
    type: str  # the XML tag, e.g. "numericalresponse"
    inputs: list[InputSpec] = Field(default_factory=list)
    partial_credit: list[str] = Field(default_factory=list)  # lower-cased schemes; empty = none


class MultipleChoiceSpec(_ResponseSpec):
    kind: Literal["multiplechoice"] = "multiplechoice"
    choices: list[ChoiceSpec] = Field(default_factory=list)


class CheckboxSpec(_ResponseSpec):
    kind: Literal["checkbox"] = "checkbox"
    choices: list[ChoiceSpec] = Field(default_factory=list)


class OptionSpec(_ResponseSpec):
    kind: Literal["option"] = "option"
    correct: dict[str, str] = Field(default_factory=dict)  # input id -> the correct option's text


class NumericalSpec(_ResponseSpec):
    kind: Literal["numerical"] = "numerical"
    answer: str  # a number, an expression such as "1/3", or a range such as "[1, 2)"
    tolerance: str | None = None  # ``responseparam type="tolerance"``; None = CAPA's default "0.001%"
    additional_answers: list[str] = Field(default_factory=list)
    partial_answers: list[str] = Field(default_factory=list)
    partial_range: float = 2.0


class StringSpec(_ResponseSpec):
    kind: Literal["string"] = "string"
    answers: list[str]  # the main answer first, then the additional answers, stripped
    case_insensitive: bool = False
    regexp: bool = False
    legacy_or: bool = False  # answers written as "a_or_b" (old format): exact match, never a regexp


class FormulaSpec(_ResponseSpec):
    """A math expression input (``formularesponse``): compared with the answer at sampled values."""

    kind: Literal["formula"] = "formula"
    answer: str  # an expression in the variables
    variables: list[str] = Field(default_factory=list)
    # Per variable (same order): the low and high bound as [real, imaginary] pairs.
    lower: list[tuple[float, float]] = Field(default_factory=list)
    upper: list[tuple[float, float]] = Field(default_factory=list)
    samples: int = 1
    tolerance: str | None = None  # ``responseparam type="tolerance"``; None = CAPA's default "0.001%"
    case_sensitive: bool = True  # type="cs" (the default) or "ci"


class CustomSpec(_ResponseSpec):
    """A Python-graded response (``customresponse``): its check runs in the sandbox, never here."""

    kind: Literal["custom"] = "custom"
    cfn: str | None = None  # the check function the problem's script defines
    expect: str | None = None  # the ``expect`` (or ``answer``) attribute as written, e.g. "$answer"
    answer_code: str | None = None  # ``<answer type="loncapa/python">`` code, which sets ``correct``


class TemplatedSpec(_ResponseSpec):
    """A response whose answer key names script variables (``answer="$z"``): it is parsed again,
    for each learner, once the sandbox has run the script and given the variables' values."""

    kind: Literal["templated"] = "templated"


class UnsupportedSpec(_ResponseSpec):
    """A response this service cannot grade (JavaScript-only, image, code queue, schematic, ...)."""

    kind: Literal["unsupported"] = "unsupported"


ResponseSpec = Annotated[
    MultipleChoiceSpec
    | CheckboxSpec
    | OptionSpec
    | NumericalSpec
    | StringSpec
    | FormulaSpec
    | CustomSpec
    | TemplatedSpec
    | UnsupportedSpec,
    Field(discriminator="kind"),
]


class ProblemDefinition(_Frozen):
    """A CAPA problem as parsed from its XML."""

    id: str
    display_name: str = ""
    xml: str
    responses: list[ResponseSpec] = Field(default_factory=list)
    max_score: float = 0.0  # one point per response input (CAPA's default)
    rescorable: bool = False
    problem_types: list[str] = Field(default_factory=list)  # response tags, first appearance order
    reason: str | None = None  # why the problem is not rescorable
    error: str | None = None  # set when the XML could not be parsed at all
    # The problem's Python (every <script type="loncapa/python"> in order), when a response needs it.
    script: str | None = None
    # Script variables the answer keys name (``$z``), whose values the sandbox reports.
    script_variables: list[str] = Field(default_factory=list)

    @property
    def needs_sandbox(self) -> bool:
        """Grading runs the problem's Python (custom checks, or answer keys computed by the script)."""
        return any(isinstance(response, CustomSpec | TemplatedSpec) for response in self.responses)


class GradeResult(_Frozen):
    """Raw (unweighted) score of stored answers: the grade report applies the block's weight."""

    earned: float
    possible: float
    correctness: dict[str, Correctness] = Field(default_factory=dict)


class ImportedCourse(_Frozen):
    """The result of importing an OLX export."""

    course: Course
    problems: dict[str, ProblemDefinition] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
