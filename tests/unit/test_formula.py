"""Math expressions (Open edX's learner syntax) and formula problems; expected values worked by hand."""

from __future__ import annotations

import cmath
import math

import pytest

from functions.logic.capa import formula, grade, parse_problem
from functions.logic.capa.errors import GradingFailed
from functions.logic.capa.grader import formula_samples
from functions.models.content import FormulaSpec


@pytest.mark.parametrize(
    ("text", "variables", "value"),
    [
        ("4+5/2^2", {}, 5.25),
        ("-2^2", {}, -4.0),  # the power binds tighter than the sign
        ("2^3^2", {}, 512.0),  # right-associative
        ("2^-1", {}, 0.5),
        ("1||2", {}, 2 / 3),  # parallel resistors
        ("1||2||2", {}, 0.5),
        ("2.5k", {}, 2500.0),
        ("20c", {}, 0.2),  # centi as an affix ...
        ("2*c", {}, 599584916.0),  # ... the speed of light as a constant
        ("2M", {}, 2e6),
        ("3d", {}, 0.3),
        ("5%", {}, 0.05),
        ("1.2e-2", {}, 0.012),
        (".98", {}, 0.98),
        ("sqrt(16)+abs(-3)", {}, 7.0),
        ("ln(e^2)", {}, 2.0),
        ("log10(1000)+log2(8)", {}, 6.0),
        ("fact(5)+factorial(3)", {}, 126.0),
        ("sec(0)+cosh(0)", {}, 2.0),
        ("arccot(1)*4", {}, math.pi),
        ("T", {}, 273.15),
        ("x^2+y", {"x": 3, "y": 1}, 10.0),
        ("v_IN-v_OUT", {"v_IN": 5, "v_OUT": 2}, 3.0),
        ("G_{ij}*2", {"G_{ij}": 4}, 8.0),
        ("f'+f''", {"f'": 1, "f''": 2}, 3.0),
        ("c", {"c": 2}, 2.0),  # a variable named like a constant wins
    ],
)
def test_expression_values(text, variables, value):
    assert formula.evaluate(text, variables) == pytest.approx(value)


def test_complex_values_as_upstream():
    assert formula.evaluate("sqrt(-4)") == 2j
    assert formula.evaluate("i^2") == -1.0  # a complex result with no imaginary part is real
    assert formula.evaluate("(1+j)*(1-j)") == 2.0
    assert cmath.isclose(formula.evaluate("e^(i*pi)"), -1)


def test_case_insensitive_names():
    assert formula.evaluate("X+SIN(0)", {"x": 2}, case_sensitive=False) == 2.0
    with pytest.raises(formula.InvalidExpression, match="unknown variable 'X'"):
        formula.evaluate("X", {"x": 2})
    with pytest.raises(formula.InvalidExpression, match="unknown function 'SIN'"):
        formula.evaluate("SIN(0)")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "x.__class__",
        "2**3",  # Python's power is not the syntax
        "2x",  # no implicit multiplication
        "2min",  # "m" is an affix only at the end of a number
        "1/0",
        "10^1000",
        "fact(2.5)",
        "fact(1000)",
        "sin(1,2)",
        "[1]",
        "(" * 41 + "1" + ")" * 41,
        "2^" * 41 + "2",
        "1" * 501,
        "",
    ],
)
def test_everything_else_is_refused(text):
    with pytest.raises(formula.InvalidExpression):
        formula.evaluate(text, {"x": 1})


def test_names_used_by_an_expression():
    assert formula.names("a*sin(b)+c||d") == ({"a", "b", "c", "d"}, {"sin"})


# ---------------------------------------------------------------------------------------------
# formula problems
# ---------------------------------------------------------------------------------------------
def formula_problem(answer: str, samples: str, tolerance: str | None = "0.00001", case: str = "cs"):
    param = "" if tolerance is None else f'<responseparam type="tolerance" default="{tolerance}"/>'
    return parse_problem(
        "f1",
        f'<problem><formularesponse type="{case}" samples="{samples}" answer="{answer}">'
        f"{param}<formulaequationinput/></formularesponse></problem>",
    )


def score(definition, given: str | None) -> float:
    result = grade(definition, {} if given is None else {"f1_2_1": given})
    assert result.possible == 1.0
    return result.earned


EMC2 = "m,c@1,2:3,4#10"


@pytest.mark.parametrize(
    ("given", "earned"),
    [
        ("m*c^2", 1.0),
        ("c^2*m", 1.0),  # the same function, written otherwise
        ("m*c*c", 1.0),
        ("(m*c)^2/m", 1.0),
        ("m*c^2+0.000001", 1.0),  # within the absolute tolerance 0.00001
        ("m*c^2+0.001", 0.0),
        ("m*c^3", 0.0),
        ("2*m*c", 0.0),  # equal at c=2 only: sampling sees the difference
        ("M*c^2", 0.0),  # case-sensitive problem: M is not a variable
        ("m*c^", 0.0),  # not an expression
        ("m*c^2*z", 0.0),  # a variable the problem does not define
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_formula_answers(given, earned):
    definition = formula_problem("m*c^2", EMC2)
    assert definition.rescorable and not definition.needs_sandbox
    assert score(definition, given) == earned


def test_case_insensitive_formula_problem():
    definition = formula_problem("m*c^2", EMC2, case="ci")
    assert score(definition, "M*C^2") == 1.0


def test_percentage_and_default_tolerance():
    one_percent = formula_problem("x^2", "x@1:10#20", tolerance="1%")
    assert score(one_percent, "1.005*x^2") == 1.0  # 0.5% off
    assert score(one_percent, "1.02*x^2") == 0.0  # 2% off
    default = formula_problem("x^2", "x@1:10#20", tolerance=None)  # 0.001%, relative
    assert score(default, "1.000001*x^2") == 1.0
    assert score(default, "1.0001*x^2") == 0.0


def test_parallel_affixes_and_complex_values():
    assert score(formula_problem("R_1||R_2", "R_1,R_2@1,1:10,10#10"), "R_1*R_2/(R_1+R_2)") == 1.0
    assert score(formula_problem("sqrt(-x)", "x@1:4#5"), "i*sqrt(x)") == 1.0
    assert score(formula_problem("sqrt(-x)", "x@1:4#5"), "sqrt(x)") == 0.0
    # complex sample bounds: z = a + bi with a in [1, 2], b in [1, 2]
    assert score(formula_problem("z^2", "z@1+i:2+2*i#5"), "z*z") == 1.0
    assert score(formula_problem("1000*x", "x@1:2#5"), "1k*x") == 1.0


def test_samples_are_uniform_within_bounds_and_the_same_on_every_rescore():
    (response,) = formula_problem("x*y", "x,y@1,-5:3,-4#50").responses
    assert isinstance(response, FormulaSpec)
    samples = formula_samples(response)
    assert len(samples) == 50
    assert all(1 <= s["x"] <= 3 and -5 <= s["y"] <= -4 for s in samples)
    assert len({s["x"] for s in samples}) == 50  # really sampled, not one point
    assert formula_samples(response) == samples


def test_an_answer_key_without_value_at_a_sample_fails_the_learner_not_the_task():
    definition = formula_problem("1/(x-x)", "x@1:2#3")
    with pytest.raises(GradingFailed, match="has no value"):
        grade(definition, {"f1_2_1": "x"})


def test_the_demo_course_formula_problem(tmp_path):
    """The Open edX demo course's two-response formula problem (tolerance 1%, five variables)."""
    samples = "R,omega,E,rho,L@0.1,0.1,0.1,0.1,0.1:10,10,10,10,10#10"
    definition = parse_problem(
        "demo",
        "<problem>"
        f'<formularesponse type="cs" samples="{samples}" answer="(rho*omega^2*L^2)/E*((11*L)/48 +(3*R)/8)">'
        '<responseparam type="tolerance" default="1%"/><textline math="1"/></formularesponse>'
        f'<formularesponse type="cs" samples="{samples}" answer="(rho*omega^2)/E*(L^3/3 + (R*L^2)/2)">'
        '<responseparam type="tolerance" default="1%"/><textline math="1"/></formularesponse>'
        "</problem>",
    )
    assert definition.rescorable and definition.max_score == 2.0
    right_1 = "rho*omega^2*L^2*(11*L+18*R)/(48*E)"  # 3/8 = 18/48
    right_2 = "rho*omega^2*L^2*(2*L+3*R)/(6*E)"
    result = grade(definition, {"demo_2_1": right_1, "demo_3_1": right_2})
    assert (result.earned, result.possible) == (2.0, 2.0)
    result = grade(definition, {"demo_2_1": right_1, "demo_3_1": "rho*omega^2*L^3/(3*E)"})  # R term lost
    assert result.earned == 1.0 and result.correctness["demo_3_1"] == "incorrect"


def test_names_inside_signs_powers_and_parallels():
    assert formula.names("-x^y+(a||-b)") == ({"x", "y", "a", "b"}, set())


@pytest.mark.parametrize(
    ("text", "variables", "value"),
    [
        ("1||0", {}, 0.0),  # a short circuit: no resistance (not a division by zero)
        ("+-+2", {}, -2.0),  # a plus sign changes nothing
        ("sqrt(x)", {"x": -4j}, 2**0.5 * (1 - 1j)),  # a complex argument goes straight to cmath
        ("x*2", {"x": 1.5 + 0j}, 3.0),  # a complex value with no imaginary part is real
    ],
)
def test_more_expression_values(text, variables, value):
    assert formula.evaluate(text, variables) == pytest.approx(value)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"x": float("nan")}, "not a finite number"),
        ({"x": float("inf")}, "not a finite number"),
        ({"x": complex(float("nan"), 1)}, "not a finite number"),
        ({"x": complex(1, float("inf"))}, "not a finite number"),
        ({"x": True}, "variable value True is not a number"),
        ({"x": "3"}, "variable value '3' is not a number"),
    ],
)
def test_values_that_are_not_finite_numbers_are_refused(variables, message):
    with pytest.raises(formula.InvalidExpression, match=message):
        formula.evaluate("x", variables)


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ('samples="x@1:2#5"', "formularesponse f1_2: it has no answer"),
        ('samples="x@1:2#1001" answer="x"', "samples='x@1:2#1001' asks for 1001 samples (1 to 1000)"),
        ('samples="x@1:2#0" answer="x"', "samples='x@1:2#0' asks for 0 samples (1 to 1000)"),
        (
            'samples="x,y@1:2#5" answer="x"',
            "samples='x,y@1:2#5' needs one low and one high bound per variable",
        ),
    ],
)
def test_formula_problems_that_cannot_be_graded_say_why(attributes, reason):
    definition = parse_problem(
        "f1",
        f'<problem><formularesponse type="cs" {attributes}>'
        "<formulaequationinput/></formularesponse></problem>",
    )
    assert not definition.rescorable
    assert reason in (definition.reason or "")


def test_a_formula_problem_without_samples_is_checked_at_one_point():
    definition = parse_problem(
        "f1",
        '<problem><formularesponse type="cs" answer="2*3">'
        "<formulaequationinput/></formularesponse></problem>",
    )
    assert definition.rescorable, definition.reason
    assert grade(definition, {"f1_2_1": "6"}).earned == 1.0
    assert grade(definition, {"f1_2_1": "3+3"}).earned == 1.0
    assert grade(definition, {"f1_2_1": "7"}).earned == 0.0


@pytest.mark.parametrize(
    ("tolerance", "given", "earned"),
    [
        # complex values are compared by their distance: |(1+i)x - (x + i*x + 0.05)| = 0.05
        ("0.1", "x+i*x+0.05", 1.0),
        ("0.01", "x+i*x+0.05", 0.0),
        # a percentage is a share of the expected value's magnitude, |x(1+i)| = x*sqrt(2) >= 1.41
        ("5%", "x+i*x+0.05", 1.0),
        ("1%", "x+i*x+0.05", 0.0),
        # the default (0.001 %) is relative to the larger of the two magnitudes
        (None, "x*(1+i)", 1.0),
        (None, "x+i*x+0.001", 0.0),
    ],
)
def test_complex_answers_are_within_tolerance_by_their_distance(tolerance, given, earned):
    assert score(formula_problem("x*(1+i)", "x@1:2#5", tolerance=tolerance), given) == earned
