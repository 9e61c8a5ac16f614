"""CAPA graders: the demo course's own problems where it has that type, hand-written XML otherwise."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from functions.logic.capa import NOT_RESCORABLE_MESSAGE, NotRescorable, grade, numeric, parse_problem
from functions.logic.capa.errors import GradingFailed
from functions.models.content import CustomSpec, MultipleChoiceSpec, ProblemDefinition
from functions.models.sandbox import SandboxResult
from tests.helpers.fixtures import DEMO_COURSE_EXPORT

FIXTURE = DEMO_COURSE_EXPORT  # in the repository: a missing fixture fails, never skips


@pytest.fixture(scope="module")
def demo_xml() -> dict[str, str]:
    """Problem id -> XML text of every problem file in the demo course export."""
    found: dict[str, str] = {}
    with tarfile.open(FIXTURE) as tar:
        for member in tar.getmembers():
            path = Path(member.name)
            if member.isfile() and path.parent.name == "problem" and path.suffix == ".xml":
                handle = tar.extractfile(member)
                assert handle is not None
                found[path.stem] = handle.read().decode()
    return found


@pytest.fixture
def demo(demo_xml):
    def load(problem_id: str) -> ProblemDefinition:
        return parse_problem(problem_id, demo_xml[problem_id])

    return load


def problem(body: str, problem_id: str = "p") -> ProblemDefinition:
    return parse_problem(problem_id, f"<problem>{body}</problem>")


def verdict(definition: ProblemDefinition, answers: dict) -> tuple[float, dict]:
    result = grade(definition, answers)
    assert result.possible == definition.max_score
    return result.earned, result.correctness


# ---------------------------------------------------------------------------------------------
# multiple choice
# ---------------------------------------------------------------------------------------------
def test_demo_basic_multiple_choice(demo):
    definition = demo("870b16e640d541af94a308caac834d2e")  # "Basic Multiple Choice": Lion is choice_0
    assert definition.rescorable and definition.problem_types == ["multiplechoiceresponse"]
    input_id = "870b16e640d541af94a308caac834d2e_2_1"
    assert verdict(definition, {input_id: "choice_0"}) == (1.0, {input_id: "correct"})
    assert verdict(definition, {input_id: "choice_1"}) == (0.0, {input_id: "incorrect"})
    assert verdict(definition, {}) == (0.0, {input_id: "incorrect"})  # no stored answer
    assert verdict(definition, {input_id: "choice_9"}) == (0.0, {input_id: "incorrect"})
    assert verdict(definition, {input_id: ["choice_0"]}) == (0.0, {input_id: "incorrect"})


def test_demo_multiple_choice_with_hints(demo):
    definition = demo("ef8c3814d2ce47c6927a8310bba4b849")  # abacus: "17" is the fifth choice
    input_id = "ef8c3814d2ce47c6927a8310bba4b849_2_1"
    assert grade(definition, {input_id: "choice_4"}).earned == 1.0
    assert grade(definition, {input_id: "choice_3"}).earned == 0.0


def test_multiple_choice_names_named_and_unnamed_choices():
    definition = problem(
        """<multiplechoiceresponse><choicegroup type="MultipleChoice">
             <choice correct="false">w</choice>
             <choice correct="true" name="right">x</choice>
             <choice correct="false">y</choice>
           </choicegroup></multiplechoiceresponse>"""
    )
    (response,) = definition.responses
    assert isinstance(response, MultipleChoiceSpec)
    assert [choice.name for choice in response.choices] == ["choice_0", "choice_right", "choice_1"]
    assert grade(definition, {"p_2_1": "choice_right"}).earned == 1.0
    assert grade(definition, {"p_2_1": "choice_1"}).earned == 0.0


def test_multiple_choice_partial_credit_points():
    definition = problem(
        """<multiplechoiceresponse partial_credit="points"><choicegroup>
             <choice correct="true">a</choice>
             <choice correct="partial" point_value="0.25">b</choice>
             <choice correct="partial">c</choice>
             <choice correct="false">d</choice>
           </choicegroup></multiplechoiceresponse>"""
    )
    assert verdict(definition, {"p_2_1": "choice_1"}) == (0.25, {"p_2_1": "partially-correct"})
    assert verdict(definition, {"p_2_1": "choice_2"}) == (0.5, {"p_2_1": "partially-correct"})
    assert verdict(definition, {"p_2_1": "choice_3"}) == (0.0, {"p_2_1": "incorrect"})


# ---------------------------------------------------------------------------------------------
# checkboxes
# ---------------------------------------------------------------------------------------------
def test_demo_checkboxes(demo):
    definition = demo("b1ddf9b3553941cfa55b3cc8a56ab1a0")  # migrations: butterfly (0) and arctic tern (2)
    input_id = "b1ddf9b3553941cfa55b3cc8a56ab1a0_2_1"
    assert grade(definition, {input_id: ["choice_0", "choice_2"]}).earned == 1.0
    assert grade(definition, {input_id: ["choice_2", "choice_0"]}).correctness == {input_id: "correct"}
    assert grade(definition, {input_id: ["choice_0"]}).earned == 0.0  # partial selection
    assert grade(definition, {input_id: ["choice_0", "choice_1", "choice_2"]}).earned == 0.0  # one extra
    assert grade(definition, {input_id: []}).earned == 0.0
    assert grade(definition, {}).correctness == {input_id: "incorrect"}


def test_demo_checkboxes_three_correct(demo):
    definition = demo("0135258373e648f2b57a80ae06bade61")  # fun facts: choices 1, 3 and 4 are true
    input_id = "0135258373e648f2b57a80ae06bade61_2_1"
    assert grade(definition, {input_id: ["choice_1", "choice_3", "choice_4"]}).earned == 1.0
    assert grade(definition, {input_id: ["choice_1", "choice_3"]}).earned == 0.0


def test_checkbox_single_string_answer():
    definition = problem(
        '<choiceresponse><checkboxgroup><choice correct="true">a</choice>'
        '<choice correct="false">b</choice></checkboxgroup></choiceresponse>'
    )
    assert grade(definition, {"p_2_1": "choice_0"}).earned == 1.0


CHECKBOX_5 = """<choiceresponse partial_credit="{scheme}"><checkboxgroup>
  <choice correct="true">a</choice><choice correct="true">b</choice><choice correct="false">c</choice>
  <choice correct="false">d</choice><choice correct="false">e</choice>
</checkboxgroup></choiceresponse>"""


@pytest.mark.parametrize(
    ("selected", "earned", "status"),
    [
        (["choice_0", "choice_1"], 1.0, "correct"),
        (["choice_0"], 0.8, "partially-correct"),  # 4 of 5 decisions right
        (["choice_0", "choice_2", "choice_3"], 0.4, "partially-correct"),  # 2 of 5 ... a, e
        (["choice_2", "choice_3", "choice_4"], 0.0, "incorrect"),  # every decision wrong
    ],
)
def test_checkbox_every_decision_counts(selected, earned, status):
    definition = problem(CHECKBOX_5.format(scheme="EDC"))
    assert verdict(definition, {"p_2_1": selected}) == (earned, {"p_2_1": status})


@pytest.mark.parametrize(
    ("selected", "earned", "status"),
    [
        (["choice_0", "choice_1"], 1.0, "correct"),
        (["choice_0"], 0.5, "partially-correct"),  # one mistake
        (["choice_0", "choice_2"], 0.25, "partially-correct"),  # two mistakes, 5 choices
        (["choice_2", "choice_3"], 0.0, "incorrect"),  # four mistakes
    ],
)
def test_checkbox_halves(selected, earned, status):
    definition = problem(CHECKBOX_5.format(scheme="halves"))
    assert verdict(definition, {"p_2_1": selected}) == (earned, {"p_2_1": status})


# ---------------------------------------------------------------------------------------------
# dropdowns
# ---------------------------------------------------------------------------------------------
def test_demo_simple_dropdown_option_children(demo):
    definition = demo("c89f56c74a3a424dbffb665d4643b42f")  # capital of Australia: Canberra
    input_id = "c89f56c74a3a424dbffb665d4643b42f_2_1"
    assert grade(definition, {input_id: "Canberra"}).earned == 1.0
    assert grade(definition, {input_id: "Sydney"}).earned == 0.0
    assert grade(definition, {input_id: "canberra"}).earned == 0.0  # dropdown values are exact


def test_demo_advanced_dropdown_eight_inputs(demo):
    problem_id = "85f3f7f9b72548af880975112f27817c"
    definition = demo(problem_id)
    assert definition.max_score == 8.0
    correct = [
        "Albert Einstein",
        "Germany",
        "Dmitri Mendeleev",
        "Russia",
        "Sir Isaac Newton",
        "England",
        "Jonas Salk",
        "USA",
    ]
    ids = [f"{problem_id}_{index + 2}_1" for index in range(8)]
    assert [field.id for response in definition.responses for field in response.inputs] == ids
    assert grade(definition, dict(zip(ids, correct, strict=True))).earned == 8.0
    answers = dict(zip(ids, correct, strict=True)) | {ids[1]: "USA", ids[7]: "Germany"}
    del answers[ids[4]]
    result = grade(definition, answers)
    assert (result.earned, result.possible) == (5.0, 8.0)
    assert [result.correctness[input_id] for input_id in ids].count("incorrect") == 3


def test_dropdown_options_attribute_form():
    definition = problem(
        """<optionresponse><optioninput options="('red','green', 'blue')" correct="green"/>
           <optioninput options="('x','y')" correct="y"/></optionresponse>"""
    )
    assert [field.id for field in definition.responses[0].inputs] == ["p_2_1", "p_2_2"]
    assert verdict(definition, {"p_2_1": "green", "p_2_2": "x"}) == (
        1.0,
        {"p_2_1": "correct", "p_2_2": "incorrect"},
    )


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("600", "correct"),
        ("605", "correct"),  # exactly at the absolute tolerance
        ("595", "correct"),
        ("605.01", "incorrect"),  # just past it
        ("594.99", "incorrect"),
        ("120*5", "correct"),  # an expression, as Open edX accepts
        (" 6e2 ", "correct"),
        ("six hundred", "incorrect"),  # unparsable learner input
        ("", "incorrect"),
    ],
)
def test_demo_numerical_absolute_tolerance(demo, answer, status):
    definition = demo("3b8100660f3947c198e0a9b35f7c6cf6")  # 600 with tolerance 5
    assert grade(definition, {"3b8100660f3947c198e0a9b35f7c6cf6_2_1": answer}).correctness == {
        "3b8100660f3947c198e0a9b35f7c6cf6_2_1": status
    }


def test_demo_numerical_default_tolerance(demo):
    definition = demo("861cd64b013d1addc68f")  # breaths per minute: 12, no tolerance given
    input_id = "861cd64b013d1addc68f_2_1"
    assert grade(definition, {input_id: "12"}).earned == 1.0
    assert grade(definition, {input_id: "12.0001"}).earned == 1.0  # within 0.001 % of 12
    assert grade(definition, {input_id: "12.001"}).earned == 0.0
    assert grade(definition, {input_id: "11"}).earned == 0.0


def test_demo_numerical_partial_credit_list(demo):
    definition = demo("9f898b5307d841fcb03f5ee4eb206a9a")  # higher root is 2; the other root 1 gets half
    input_id = "9f898b5307d841fcb03f5ee4eb206a9a_2_1"
    assert verdict(definition, {input_id: "2"}) == (1.0, {input_id: "correct"})
    assert verdict(definition, {input_id: "1"}) == (0.5, {input_id: "partially-correct"})
    assert verdict(definition, {input_id: "3"}) == (0.0, {input_id: "incorrect"})


NUMERICAL = '<numericalresponse answer="{answer}" {extra}>{param}<textline/></numericalresponse>'


def numerical(
    answer: str, tolerance: str | None = None, extra: str = "", body: str = ""
) -> ProblemDefinition:
    param = f'<responseparam type="tolerance" default="{tolerance}"/>' if tolerance else ""
    return problem(NUMERICAL.format(answer=answer, extra=extra, param=param + body))


@pytest.mark.parametrize(
    ("answer", "tolerance", "given", "status"),
    [
        ("100", "5%", "105", "correct"),  # at the percent limit (5 % of the answer)
        ("100", "5%", "95", "correct"),
        ("100", "5%", "105.01", "incorrect"),
        ("100", "5%", "94.99", "incorrect"),
        # 0.33 - 0.3 is 0.030000000000000027 in binary floats: compared as decimals it is at the limit.
        ("0.3", "10%", "0.33", "correct"),
        ("0.3", "10%", "0.3301", "incorrect"),
        ("3.14", "0.01", "3.15", "correct"),  # at the absolute limit
        ("3.14", "0.01", "3.13", "correct"),  # 3.14 - 3.13 is 0.010000000000000231 in binary floats
        ("3.14", "0.01", "3.1501", "incorrect"),
        ("-2", "0.5", "-2.5", "correct"),
        ("-2", "0.5", "-1.49", "incorrect"),
        ("1/3", "0.001", "0.333", "correct"),  # the author's answer may be an expression
        ("1000", "1%", "1k", "correct"),  # metric suffixes
        ("100", "5%", "1e400", "incorrect"),  # infinity
    ],
)
def test_numerical_tolerance(answer, tolerance, given, status):
    assert grade(numerical(answer, tolerance), {"p_2_1": given}).correctness == {"p_2_1": status}


@pytest.mark.parametrize(
    ("answer", "given", "status"),
    [
        ("[1, 2)", "1", "correct"),
        ("[1, 2)", "1.5", "correct"),
        ("[1, 2)", "2", "incorrect"),
        ("[1, 2)", "0.999", "incorrect"),
        ("(1, 2]", "1", "incorrect"),
        ("(1, 2]", "2", "correct"),
        ("(1, 2]", "2.0001", "incorrect"),
    ],
)
def test_numerical_range_answers(answer, given, status):
    assert grade(numerical(answer), {"p_2_1": given}).correctness == {"p_2_1": status}


def test_numerical_partial_credit_close_and_additional_answers():
    definition = numerical("10", "1", extra='partial_credit="close"', body='<additional_answer answer="42"/>')
    assert grade(definition, {"p_2_1": "11"}).correctness == {"p_2_1": "correct"}
    assert grade(definition, {"p_2_1": "12"}).earned == 0.5  # within twice the tolerance
    assert grade(definition, {"p_2_1": "12.5"}).earned == 0.0
    assert grade(definition, {"p_2_1": "42"}).earned == 1.0


def test_numerical_answer_that_is_not_a_number_is_not_rescorable():
    definition = numerical("ten")
    assert not definition.rescorable
    assert "answer 'ten' is not a number" in (definition.reason or "")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4+5/2^2", 5.25),
        ("-2^2", -4.0),
        ("2^3^2", 512.0),
        ("(1+2)*3", 9.0),
        ("2.5k", 2500.0),
        ("5%", 0.05),
        ("sqrt(16)", 4.0),
        (".5e1", 5.0),
    ],
)
def test_numeric_evaluator(text, value):
    assert numeric.evaluate(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "2**3",
        "1/0",
        "x",
        "2pi",
        "(1",
        "sqrt(-1)",
        "10^1000",
        "(-8)^(1/3)",
        "(" * 60 + "1" + ")" * 60,
    ],
)
def test_numeric_evaluator_rejects_everything_else(text):
    with pytest.raises(numeric.InvalidNumber):
        numeric.evaluate(text)


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "status"),
    [
        ("Doc", "correct"),
        ("doc", "correct"),
        ("  Sneezy ", "correct"),
        ("BASHFUL", "correct"),
        ("Snow White", "incorrect"),
    ],
)
def test_demo_text_case_insensitive_with_additional_answers(demo, given, status):
    definition = demo("3e5a945f54374fc7ababadc080660f2d")  # a dwarf's name, type="ci", 6 additional answers
    input_id = "3e5a945f54374fc7ababadc080660f2d_2_1"
    assert grade(definition, {input_id: given}).correctness == {input_id: status}


@pytest.mark.parametrize(
    ("given", "status"),
    [("bubble", "correct"), ("RUBBLE", "correct"), ("bubbles", "incorrect"), ("bble", "incorrect")],
)
def test_demo_text_regexp(demo, given, status):
    definition = demo("330956aa9c304a0a8e944d3caac15494")  # answer="..bble" type="ci regexp"
    input_id = "330956aa9c304a0a8e944d3caac15494_2_1"
    assert grade(definition, {input_id: given}).correctness == {input_id: status}


def test_demo_text_with_unused_python_script_is_rescorable(demo):
    definition = demo("eb57b81093d048df975c957d005b1f74")  # the script's function is never called
    input_id = "eb57b81093d048df975c957d005b1f74_2_1"
    assert definition.rescorable
    assert grade(definition, {input_id: "select * from products where price > 20;"}).earned == 1.0
    assert grade(definition, {input_id: "SELECT * FROM products"}).earned == 0.0


def test_text_case_sensitive_by_default_and_trimmed():
    definition = problem(
        '<stringresponse answer="Paris"><additional_answer answer="Lutetia"/><textline/></stringresponse>'
    )
    assert grade(definition, {"p_2_1": " Paris "}).earned == 1.0
    assert grade(definition, {"p_2_1": "paris"}).earned == 0.0
    assert grade(definition, {"p_2_1": "Lutetia"}).earned == 1.0
    assert grade(definition, {"p_2_1": "lutetia"}).earned == 0.0
    assert grade(definition, {"p_2_1": "   "}).earned == 0.0
    assert grade(definition, {"p_2_1": 42}).earned == 0.0


def test_text_regexp_full_match_and_case():
    sensitive = problem('<stringresponse answer="[A-Z]\\d+" type="regexp"><textline/></stringresponse>')
    insensitive = problem('<stringresponse answer="[A-Z]\\d+" type="regexp ci"><textline/></stringresponse>')
    assert grade(sensitive, {"p_2_1": "A12"}).earned == 1.0
    assert grade(sensitive, {"p_2_1": "a12"}).earned == 0.0
    assert grade(insensitive, {"p_2_1": "a12"}).earned == 1.0
    assert grade(sensitive, {"p_2_1": "A12x"}).earned == 0.0
    alternatives = problem(
        '<stringresponse answer="cat|dog" type="regexp">'
        '<additional_answer answer="b.rd"/><textline/></stringresponse>'
    )
    assert [grade(alternatives, {"p_2_1": text}).earned for text in ("cat", "dog", "bird", "catalog")] == [
        1.0,
        1.0,
        1.0,
        0.0,
    ]


def test_text_legacy_or_answers():
    definition = problem('<stringresponse answer="red_or_blue" type="ci"><textline/></stringresponse>')
    assert grade(definition, {"p_2_1": "Blue"}).earned == 1.0
    assert grade(definition, {"p_2_1": "red_or_blue"}).earned == 0.0


def test_invalid_regexp_is_not_rescorable():
    definition = problem('<stringresponse answer="(" type="regexp"><textline/></stringresponse>')
    assert not definition.rescorable


# ---------------------------------------------------------------------------------------------
# whole problems
# ---------------------------------------------------------------------------------------------
def test_several_responses_add_up_and_weight_is_not_applied():
    definition = parse_problem(
        "abc123",
        """<problem weight="10" display_name="Mixed">
             <multiplechoiceresponse><choicegroup><choice correct="true">a</choice>
               <choice correct="false">b</choice></choicegroup></multiplechoiceresponse>
             <p>text between</p>
             <div><numericalresponse answer="2"><formulaequationinput/></numericalresponse></div>
             <stringresponse answer="x"><textline/></stringresponse>
           </problem>""",
    )
    assert definition.display_name == "Mixed"
    assert definition.max_score == 3.0
    assert [field.id for response in definition.responses for field in response.inputs] == [
        "abc123_2_1",
        "abc123_3_1",
        "abc123_4_1",
    ]
    result = grade(definition, {"abc123_2_1": "choice_0", "abc123_3_1": "1+1"})
    assert (result.earned, result.possible) == (2.0, 3.0)
    assert result.correctness == {"abc123_2_1": "correct", "abc123_3_1": "correct", "abc123_4_1": "incorrect"}


def test_script_variables_in_answers_need_the_sandbox(demo):
    definition = demo("720cac326b684155b4845d32af4aeef0")  # numericalresponse answer="$z" from a script
    assert definition.problem_types == ["numericalresponse"]
    # Rescorable, but only with the script's values: the key is read again once the sandbox ran it.
    assert definition.rescorable and definition.needs_sandbox
    assert definition.script_variables == ["z"]
    assert "random.randint(0, 20)" in (definition.script or "")
    with pytest.raises(GradingFailed, match="was not run"):
        grade(definition, {"720cac326b684155b4845d32af4aeef0_2_1": "12"})


@pytest.mark.parametrize(
    ("problem_id", "cfn", "inputs"),
    [
        ("53083a812536472ba8ea8182ee354363", "desert_trip", 4),  # Python-evaluated input
        ("58f6371c54254596ac91699557af449c", "check_function", 1),  # jsinput
        ("0d127d7942ec4be7a464eabafb286d02", "protex_grader", 1),  # protein builder
        ("7c95e593b148415e97ac02811c7daf1b", "check_fun", 1),
    ],
)
def test_demo_python_graded_problems_are_rescorable_in_the_sandbox(demo, problem_id, cfn, inputs):
    definition = demo(problem_id)
    assert definition.rescorable and definition.needs_sandbox
    (response,) = definition.responses
    assert isinstance(response, CustomSpec)
    assert (response.cfn, len(response.inputs), definition.max_score) == (cfn, inputs, float(inputs))
    assert f"def {cfn}(" in (definition.script or "")


@pytest.mark.parametrize(
    ("problem_id", "types", "max_score"),
    [
        ("10d6abada29b45df87f3bd9a9af86e72", ["imageresponse"], 1.0),
        ("dc37b89aade5444fbb1ecdaa0d22d180", ["schematicresponse"], 1.0),
        ("29fb15ec7b5f462cab0a8216108df8dc", ["annotationresponse"], 1.0),
    ],
)
def test_demo_unsupported_problems_are_not_rescorable(demo, problem_id, types, max_score):
    definition = demo(problem_id)
    assert definition.problem_types == types
    assert definition.max_score == max_score
    assert definition.rescorable is False
    with pytest.raises(NotRescorable) as raised:
        grade(definition, {})
    assert str(raised.value) == "This component cannot be rescored." == NOT_RESCORABLE_MESSAGE


@pytest.mark.parametrize(
    "body",
    [
        '<customresponse cfn="check"><textline/></customresponse>',  # no script defines check
        '<customresponse><jsinput gradefn="g"/></customresponse>',  # neither cfn nor answer code
        '<formularesponse answer="x^" samples="x@1:2#10"><textline/></formularesponse>',
        '<formularesponse answer="x^2" samples="x@1:2"><textline/></formularesponse>',
        '<formularesponse answer="x^2" samples="x,y@1:2#3"><textline/></formularesponse>',
        '<symbolicresponse expect="x"><textline/></symbolicresponse>',
        '<coderesponse queuename="q"><textbox/></coderesponse>',
        '<imageresponse><imageinput src="a.png" rectangle="(1,1)-(2,2)"/></imageresponse>',
        "<schematicresponse><schematic/></schematicresponse>",
        "<annotationresponse><annotationinput/></annotationresponse>",
        "<jsmeresponse><textline/></jsmeresponse>",
        # one unsupported response makes the whole problem not rescorable
        '<stringresponse answer="a"><textline/></stringresponse><customresponse><textline/></customresponse>',
    ],
)
def test_unsupported_response_types_are_not_rescorable(body):
    definition = problem(body)
    assert not definition.rescorable
    with pytest.raises(NotRescorable, match=r"^This component cannot be rescored\.$"):
        grade(definition, {"p_2_1": "a"})


@pytest.mark.parametrize(
    "body",
    [
        '<numericalresponse answer="1"><textline/><textline/></numericalresponse>',  # two inputs
        '<stringresponse answer="a"><choicegroup/></stringresponse>',  # wrong input type
        '<multiplechoiceresponse partial_credit="points,halves"><choicegroup/></multiplechoiceresponse>',
        '<optionresponse><optioninput><option correct="False">a</option></optioninput></optionresponse>',
        "<optionresponse><optioninput options=\"('','a')\" correct=\"\"/></optionresponse>",
        "<numericalresponse><textline/></numericalresponse>",  # no answer
        "<stringresponse/>",
    ],
)
def test_malformed_supported_responses_are_not_rescorable(body):
    assert not problem(body).rescorable


def test_broken_xml_is_reported_not_raised():
    definition = parse_problem("bad", "<problem><multiplechoiceresponse></problem>")
    assert definition.error is not None
    assert not definition.rescorable
    assert definition.max_score == 0.0
    with pytest.raises(NotRescorable):
        grade(definition, {})


def test_parsing_is_deterministic(demo_xml):
    for problem_id, xml in demo_xml.items():
        assert parse_problem(problem_id, xml) == parse_problem(problem_id, xml)


def test_numerical_partial_range_widens_the_close_band():
    # partial credit "close": half the points within partial_range times the tolerance (here 3 x 1)
    definition = numerical(
        "10", "1", extra='partial_credit="close"', body='<responseparam partial_range="3"/>'
    )
    assert grade(definition, {"p_2_1": "11"}).earned == 1.0
    assert grade(definition, {"p_2_1": "12.5"}).earned == 0.5  # outside 2 x 1, inside 3 x 1
    assert grade(definition, {"p_2_1": "13.5"}).earned == 0.0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            NUMERICAL.format(answer="[1, 2, 3]", extra="", param=""),
            "range answer '[1, 2, 3]' needs two bounds",
        ),
        ("<stringresponse><textline/></stringresponse>", "stringresponse p_2: it has no answer"),
        (
            NUMERICAL.format(answer="10", extra="", param='<responseparam partial_range="wide"/>'),
            "partial_range 'wide' is not a number",
        ),
    ],
)
def test_responses_that_cannot_be_graded_say_why(body, reason):
    definition = problem(body)
    assert not definition.rescorable
    assert reason in (definition.reason or "")


def test_a_javascript_script_is_not_run_as_the_problems_python():
    definition = problem(
        '<script type="text/javascript">var answer = 1;</script>'
        + NUMERICAL.format(answer="10", extra="", param="")
    )
    assert definition.rescorable, definition.reason
    assert definition.script is None
    assert grade(definition, {"p_2_1": "10"}).earned == 1.0


# ---------------------------------------------------------------------------------------------
# problems with Python: graded from what the sandbox gave for the learner
# ---------------------------------------------------------------------------------------------
CUSTOM = (
    '<script type="loncapa/python">def check(expect, ans):\n    return True\n</script>'
    '<customresponse cfn="check"><textline/><textline/></customresponse>'
)
TEMPLATED = (
    '<script type="loncapa/python">x = 5</script>'
    '<numericalresponse answer="$x"><textline/></numericalresponse>'
    '<stringresponse answer="fixed"><textline/></stringresponse>'
)


def test_a_custom_response_takes_the_sandboxs_verdict_per_input():
    definition = problem(CUSTOM)
    result = grade(
        definition,
        {"p_2_1": "a", "p_2_2": "b"},
        SandboxResult(key="k", verdicts={"p_2": [("correct", 1.0), ("partially-correct", 0.5)]}),
    )
    assert (result.earned, result.possible) == (1.5, 2.0)
    assert result.correctness == {"p_2_1": "correct", "p_2_2": "partially-correct"}


@pytest.mark.parametrize(
    ("sandbox", "reason"),
    [
        (None, "the problem's Python was not run for this learner"),
        (
            SandboxResult(key="k", error="it used more than its CPU time limit"),
            "it used more than its CPU time limit",
        ),
        (SandboxResult(key="k"), "the sandbox gave no verdict for p_2"),
        (SandboxResult(key="k", verdicts={"p_2": [("correct", 1.0)]}), "the sandbox gave no verdict for p_2"),
    ],
)
def test_a_custom_response_without_a_usable_verdict_fails_the_learner(sandbox, reason):
    with pytest.raises(GradingFailed, match=re.escape(reason)):
        grade(problem(CUSTOM), {"p_2_1": "a", "p_2_2": "b"}, sandbox)


def test_a_templated_answer_key_is_read_with_the_learners_script_values():
    definition = problem(TEMPLATED)
    answers = {"p_2_1": "5", "p_3_1": "fixed"}
    result = grade(definition, answers, SandboxResult(key="k", values={"x": "5"}))
    assert result.correctness == {"p_2_1": "correct", "p_3_1": "correct"}
    # another learner's script gave x = 6: the same answer is wrong for them
    other = grade(definition, answers, SandboxResult(key="k", values={"x": "6"}))
    assert other.correctness == {"p_2_1": "incorrect", "p_3_1": "correct"}


def test_a_templated_answer_key_the_script_does_not_define_fails_the_learner():
    with pytest.raises(
        GradingFailed,
        match=re.escape(
            "the answer key of p_2 cannot be read from the script (the script does not define x)"
        ),
    ):
        grade(problem(TEMPLATED), {"p_2_1": "5"}, SandboxResult(key="k", values={"y": "5"}))


LISTED = '<responseparam partial_answers="20"/>'


@pytest.mark.parametrize(
    ("credit", "given", "earned"),
    [
        # "list": within the tolerance (1) of a listed answer is worth half
        ("list", "21", 0.5),
        ("list", "11.5", 0.0),  # near the answer but "close" is not on
        ("list", "22", 0.0),
        # "list,close": twice the tolerance around the answer is worth half, around a listed one a quarter
        ("list,close", "10.5", 1.0),
        ("list,close", "19.5", 0.5),
        ("list,close", "11.5", 0.5),
        ("list,close", "22", 0.25),
        ("list,close", "17.9", 0.0),
    ],
)
def test_numerical_partial_credit_for_listed_answers(credit, given, earned):
    definition = numerical("10", "1", extra=f'partial_credit="{credit}"', body=LISTED)
    result = grade(definition, {"p_2_1": given})
    assert result.earned == earned
    status = {1.0: "correct", 0.0: "incorrect"}.get(earned, "partially-correct")
    assert result.correctness == {"p_2_1": status}


def test_numerical_partial_range_widens_the_close_credit():
    definition = numerical(
        "10", "1", extra='partial_credit="close"', body='<responseparam partial_range="4"/>'
    )
    assert grade(definition, {"p_2_1": "13.9"}).earned == 0.5  # within 4 x 1
    assert grade(definition, {"p_2_1": "14.1"}).earned == 0.0


@pytest.mark.parametrize(
    ("given", "earned"),
    [("1.5", 1.0), ("3.9", 0.5), ("-0.9", 0.5), ("4.1", 0.0), ("-1.1", 0.0)],
)
def test_numerical_range_answers_with_close_credit(given, earned):
    # [1, 2] with "close": widened on each side by partial_range (2) times its width, so (-1, 4)
    definition = numerical("[1, 2]", extra='partial_credit="close"')
    assert grade(definition, {"p_2_1": given}).earned == earned


@pytest.mark.parametrize("given", [True, ["10"], {"value": "10"}, None, float("nan"), "ten"])
def test_numerical_answers_that_are_not_numbers_are_incorrect(given):
    assert grade(numerical("10", "1"), {"p_2_1": given}).correctness == {"p_2_1": "incorrect"}


def test_a_numerical_answer_given_as_a_number_is_graded_as_one():
    assert grade(numerical("10", "1"), {"p_2_1": 10.5}).correctness == {"p_2_1": "correct"}
    assert grade(numerical("10", "1"), {"p_2_1": 12}).correctness == {"p_2_1": "incorrect"}


def test_the_tolerance_test_with_infinities_and_nan():
    inf = float("inf")
    assert numeric.compare_with_tolerance(inf, inf, "5%") is True
    assert numeric.compare_with_tolerance(inf, 100.0, "5%") is False
    assert numeric.compare_with_tolerance(float("nan"), 100.0, 1000.0) is False
    assert numeric.compare_with_tolerance(100.0, float("nan"), 1000.0) is False
    with pytest.raises(numeric.InvalidNumber, match="not a short string"):
        numeric.evaluate(5)  # type: ignore[arg-type]
    with pytest.raises(numeric.InvalidNumber, match="not a short string"):
        numeric.evaluate("1+" * 1000 + "1")
