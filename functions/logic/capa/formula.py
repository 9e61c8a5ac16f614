"""Open edX's math expression syntax: parse once, evaluate at any variable values, never ``eval``.

Learners type expressions into numerical and math expression (formula) inputs, and authors write
answers the same way. The syntax is the one Open edX documents for learners:

* numbers ``2520``, ``3.14``, ``.98``, ``1.2e-2``, with a metric affix straight after the digits
  (``2.5k``, ``20c``, ``5%``: d c m u n p k M G T and %);
* ``+ - * /``, ``^`` for powers (right-associative, ``-x^2`` is ``-(x^2)``), ``||`` for parallel
  resistors (``1||2`` is 2/3), parentheses; multiplication is always explicit;
* constants ``pi e i j c g k q T``; variables named like ``x``, ``v_IN``, ``R_1``, ``G_{ij}``,
  ``H^{xy}``, ``f'``;
* functions sqrt, ln, log10, log2, exp, abs, fact/factorial, the six trigonometric functions, their
  inverses (arc...), the hyperbolic ones and their inverses (arc...h).

The grammar is built with pyparsing (MIT licence, a kept parsing library; Open edX's own ``calc`` is
AGPL and is neither copied nor used): the text becomes a small tree of tuples that ``_evaluate``
walks with plain arithmetic, so nothing typed by a learner or an author is ever executed. Values may
be complex (``sqrt(-1)``, ``i``), as in Open edX.
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from pyparsing import (
    Forward,
    Literal,
    Opt,
    ParseBaseException,
    ParserElement,
    ParseResults,
    Regex,
    Suppress,
    ZeroOrMore,
)

MAX_LENGTH = 500  # longer input is not an expression worth evaluating
MAX_NESTING = 40  # parentheses and powers nested deeper than this are refused (bounded recursion)
MAX_FACTORIAL = 170  # the largest factorial a float holds

Number = float | complex
Node = tuple[Any, ...]


class InvalidExpression(ValueError):
    """The text is not an expression of this syntax, or it has no value (unknown name, 1/0, ...)."""


# Metric affixes written straight after a number, and the percent sign.
AFFIXES: dict[str, float] = {
    "%": 1e-2,
    "d": 1e-1,
    "c": 1e-2,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
}
# SI values (CODATA); T is the difference between 0 K and 0 degrees Celsius.
CONSTANTS: dict[str, Number] = {
    "pi": math.pi,
    "e": math.e,
    "i": 1j,
    "j": 1j,
    "c": 299_792_458.0,
    "g": 9.80665,
    "k": 1.380649e-23,
    "q": 1.602176634e-19,
    "T": 273.15,
}


# ---------------------------------------------------------------------------------------------
# functions (real where they can be, complex where they must: sqrt(-1) = i, as upstream)
# ---------------------------------------------------------------------------------------------
def _real_or_complex(real: Callable[[float], float], whole: Callable[[complex], complex]) -> Callable:
    def apply(value: Number) -> Number:
        if isinstance(value, float):
            try:
                return real(value)
            except ValueError:  # outside the real domain: the complex branch, as numpy.lib.scimath
                pass
        return whole(complex(value))

    return apply


def _inverse(function: Callable[[Number], Number]) -> Callable[[Number], Number]:
    return lambda value: function(1 / value)


def _reciprocal(function: Callable[[Number], Number]) -> Callable[[Number], Number]:
    return lambda value: 1 / function(value)


def _factorial(value: Number) -> Number:
    if isinstance(value, complex) or value != int(value) or value < 0:
        raise InvalidExpression("factorial takes a whole number that is not negative")
    if value > MAX_FACTORIAL:
        raise InvalidExpression("factorial too large")
    return float(math.factorial(int(value)))


def _arccot(value: Number) -> Number:
    return math.pi / 2 if value == 0 else _arctan(1 / value)


_sqrt = _real_or_complex(math.sqrt, cmath.sqrt)
_ln = _real_or_complex(math.log, cmath.log)
_arcsin = _real_or_complex(math.asin, cmath.asin)
_arccos = _real_or_complex(math.acos, cmath.acos)
_arctan = _real_or_complex(math.atan, cmath.atan)
_arccosh = _real_or_complex(math.acosh, cmath.acosh)
_arctanh = _real_or_complex(math.atanh, cmath.atanh)
_sin = _real_or_complex(math.sin, cmath.sin)
_cos = _real_or_complex(math.cos, cmath.cos)
_tan = _real_or_complex(math.tan, cmath.tan)
_sinh = _real_or_complex(math.sinh, cmath.sinh)
_cosh = _real_or_complex(math.cosh, cmath.cosh)
_tanh = _real_or_complex(math.tanh, cmath.tanh)
_arcsinh = _real_or_complex(math.asinh, cmath.asinh)

FUNCTIONS: dict[str, Callable[[Number], Number]] = {
    "sqrt": _sqrt,
    "ln": _ln,
    "log10": _real_or_complex(math.log10, cmath.log10),
    "log2": _real_or_complex(math.log2, lambda z: cmath.log(z) / math.log(2)),
    "exp": _real_or_complex(math.exp, cmath.exp),
    "abs": abs,
    "fact": _factorial,
    "factorial": _factorial,
    "sin": _sin,
    "cos": _cos,
    "tan": _tan,
    "sec": _reciprocal(_cos),
    "csc": _reciprocal(_sin),
    "cot": _reciprocal(_tan),
    "arcsin": _arcsin,
    "arccos": _arccos,
    "arctan": _arctan,
    "arcsec": _inverse(_arccos),
    "arccsc": _inverse(_arcsin),
    "arccot": _arccot,
    "sinh": _sinh,
    "cosh": _cosh,
    "tanh": _tanh,
    "sech": _reciprocal(_cosh),
    "csch": _reciprocal(_sinh),
    "coth": _reciprocal(_tanh),
    "arcsinh": _arcsinh,
    "arccosh": _arccosh,
    "arctanh": _arctanh,
    "arcsech": _inverse(_arccosh),
    "arccsch": _inverse(_arcsinh),
    "arccoth": _inverse(_arctanh),
}


# ---------------------------------------------------------------------------------------------
# the grammar
# ---------------------------------------------------------------------------------------------
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
# An affix must end the number: "2m" is 0.002, "2min" is not a number (and there is no implicit
# multiplication to make it one).
_AFFIX = r"(?P<affix>[%dcmunpkMGT](?![A-Za-z0-9_'{]))?"
# An underscore followed by "{" starts a tensor subscript, not more of the plain name.
_NAME = r"[A-Za-z](?:[A-Za-z0-9]|_(?!\{))*(?:_\{[A-Za-z0-9]+\})?(?:\^\{[A-Za-z0-9]+\})?'*"


def _number_node(tokens: ParseResults) -> Node:
    text: str = tokens[0]
    match = re.fullmatch(f"({_NUMBER}){_AFFIX}", text)
    assert match is not None  # the token was matched by the same pattern
    value = float(match.group(1))
    affix = match.group("affix")
    return ("num", value * AFFIXES[affix] if affix else value)


def _fold_binary(tokens: ParseResults) -> Node:
    items = list(tokens[0]) if isinstance(tokens[0], ParseResults) else list(tokens)
    node = items[0]
    for index in range(1, len(items), 2):
        node = ("bin", items[index], node, items[index + 1])
    return node


def _fold_parallel(tokens: ParseResults) -> Node:
    items = [item for item in tokens if item != "||"]
    return items[0] if len(items) == 1 else ("par", tuple(items))


def _fold_unary(tokens: ParseResults) -> Node:
    *signs, node = list(tokens)
    for sign in reversed(signs):
        if sign == "-":
            node = ("neg", node)
    return node


def _fold_power(tokens: ParseResults) -> Node:
    items = list(tokens)
    return items[0] if len(items) == 1 else ("pow", items[0], items[2])


@lru_cache(maxsize=1)
def _grammar() -> ParserElement:
    """Built on first use: sum > product > parallel > unary minus > power > atom."""
    expression = Forward()
    unary = Forward()
    number = Regex(f"{_NUMBER}{_AFFIX}").set_parse_action(_number_node)
    name = Regex(_NAME)
    call = (name + Suppress("(") + expression + Suppress(")")).set_parse_action(
        lambda tokens: ("call", tokens[0], tokens[1])
    )
    variable = name.copy().set_parse_action(lambda tokens: ("var", tokens[0]))
    group = Suppress("(") + expression + Suppress(")")
    atom = number | call | variable | group
    power = (atom + Opt(Literal("^") + unary)).set_parse_action(_fold_power)
    unary <<= (ZeroOrMore(Literal("+") | Literal("-")) + power).set_parse_action(_fold_unary)
    parallel = (unary + ZeroOrMore(Literal("||") + unary)).set_parse_action(_fold_parallel)
    product = (parallel + ZeroOrMore((Literal("*") | Literal("/")) + parallel)).set_parse_action(_fold_binary)
    expression <<= (product + ZeroOrMore((Literal("+") | Literal("-")) + product)).set_parse_action(
        _fold_binary
    )
    return expression


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest + text.count("^")


@lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """The expression's tree; ``InvalidExpression`` if the text is not one. Cached: answers repeat."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LENGTH:
        raise InvalidExpression("not a short, non-empty text")
    if _nesting(text) > MAX_NESTING:
        raise InvalidExpression("nested too deeply")
    try:
        result = _grammar().parse_string(text, parse_all=True)
    except ParseBaseException as error:
        raise InvalidExpression(f"cannot read {text!r} at position {error.loc + 1}") from error
    except RecursionError as error:  # belt and braces: _nesting keeps the recursion shallow
        raise InvalidExpression("nested too deeply") from error
    node: Node = result[0]
    return node


def names(text: str) -> tuple[set[str], set[str]]:
    """(variables, functions) named in the expression."""
    variables: set[str] = set()
    functions: set[str] = set()

    def walk(node: Node) -> None:
        kind = node[0]
        if kind == "var":
            variables.add(node[1])
        elif kind == "call":
            functions.add(node[1])
            walk(node[2])
        elif kind in ("neg",):
            walk(node[1])
        elif kind == "pow":
            walk(node[1])
            walk(node[2])
        elif kind == "bin":
            walk(node[2])
            walk(node[3])
        elif kind == "par":
            for item in node[1]:
                walk(item)

    walk(parse(text))
    return variables, functions


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(text: str, variables: Mapping[str, Number] | None = None, case_sensitive: bool = True) -> Number:
    """The value of ``text`` with ``variables`` (they override the constants of the same name)."""
    tree = parse(text)
    given = {key: _number(value) for key, value in (variables or {}).items()}
    scope: dict[str, Number] = {**CONSTANTS, **given}
    functions = FUNCTIONS
    if not case_sensitive:
        scope = {key.lower(): value for key, value in scope.items()}
        # Variables given by the author win over the constants of the same lower-cased name.
        scope.update({key.lower(): value for key, value in given.items()})
        functions = {key.lower(): value for key, value in FUNCTIONS.items()}
    try:
        value = _evaluate(tree, scope, functions, case_sensitive)
    except (ArithmeticError, ValueError, TypeError) as error:  # 1/0, overflow, domain errors
        if isinstance(error, InvalidExpression):
            raise
        raise InvalidExpression(str(error) or type(error).__name__) from error
    if isinstance(value, complex):
        if cmath.isnan(value) or cmath.isinf(value):
            raise InvalidExpression("not a finite number")
        if value.imag == 0:
            return value.real
    elif math.isnan(value) or math.isinf(value):
        raise InvalidExpression("not a finite number")
    return value


def _evaluate(
    node: Node,
    scope: Mapping[str, Number],
    functions: Mapping[str, Callable[[Number], Number]],
    case_sensitive: bool,
) -> Number:
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind == "var":
        key = node[1] if case_sensitive else node[1].lower()
        if key not in scope:
            raise InvalidExpression(f"unknown variable {node[1]!r}")
        return scope[key]
    if kind == "call":
        key = node[1] if case_sensitive else node[1].lower()
        if key not in functions:
            raise InvalidExpression(f"unknown function {node[1]!r}")
        return _tidy(functions[key](_evaluate(node[2], scope, functions, case_sensitive)))
    if kind == "neg":
        return -_evaluate(node[1], scope, functions, case_sensitive)
    if kind == "pow":
        base = _evaluate(node[1], scope, functions, case_sensitive)
        exponent = _evaluate(node[2], scope, functions, case_sensitive)
        return _tidy(base**exponent)
    if kind == "par":
        values = [_evaluate(item, scope, functions, case_sensitive) for item in node[1]]
        if any(value == 0 for value in values):
            return 0.0  # a short circuit: no resistance
        return _tidy(1 / sum(1 / value for value in values))
    op, left, right = node[1], node[2], node[3]
    a = _evaluate(left, scope, functions, case_sensitive)
    b = _evaluate(right, scope, functions, case_sensitive)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


def _number(value: Any) -> Number:
    if isinstance(value, complex):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidExpression(f"variable value {value!r} is not a number")
    return float(value)


def _tidy(value: Any) -> Number:
    """Python's ``**`` of floats may give a complex; ints never appear (numbers are read as floats)."""
    if isinstance(value, complex):
        return value
    return float(value)
