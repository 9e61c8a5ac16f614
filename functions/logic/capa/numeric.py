"""Numbers typed by learners and authors: a small, safe arithmetic evaluator and CAPA's tolerance test.

Learners may type expressions (``4+5/2^2``, ``1/3``, ``2.5k``, ``sqrt(2)``), as Open edX accepts them.
The evaluator is a hand-written recursive-descent parser over a fixed grammar: nothing from the course
or the learner is ever executed. Anything it does not understand raises ``InvalidNumber``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal

DEFAULT_TOLERANCE = "0.001%"  # CAPA's default: relative, to absorb float representation errors
MAX_EXPRESSION_LENGTH = 500  # learner input longer than this is not a number worth evaluating
MAX_DEPTH = 50  # nesting depth of parentheses / unary signs, so recursion stays shallow


class InvalidNumber(ValueError):
    """The text is not a real number or an expression this evaluator supports."""


# Metric suffixes written straight after a number ("2.5k", "10m", "5%"), as in Open edX's calculator.
_SUFFIXES = {
    "%": 1e-2,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "c": 1e-2,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "exp": math.exp,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "arcsin": math.asin,
    "arccos": math.acos,
    "arctan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
}
_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[%kMGTcmunp](?![A-Za-z0-9_]))?"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/^()])"
    r")"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise InvalidNumber(f"cannot read {text!r} at position {position}")
        position = match.end()
        if match.group("number") is not None:
            tokens.append(("number", match.group("number")))
            if match.group("suffix"):
                tokens.append(("suffix", match.group("suffix")))
        elif match.group("name") is not None:
            tokens.append(("name", match.group("name")))
        else:
            tokens.append(("op", match.group("op")))
    return tokens


class _Parser:
    """expr := term (+|- term)*; term := unary (*|/ unary)*; unary := (+|-) unary | power;
    power := atom (^ unary)?; atom := number [suffix] | constant | function ( expr ) | ( expr )."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def parse(self) -> float:
        if not self.tokens:
            raise InvalidNumber("empty")
        value = self.expr()
        if self.index != len(self.tokens):
            raise InvalidNumber(f"unexpected {self.tokens[self.index][1]!r}")
        return value

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise InvalidNumber("unexpected end")
        self.index += 1
        return token

    def expect(self, op: str) -> None:
        if self.take() != ("op", op):
            raise InvalidNumber(f"expected {op!r}")

    def expr(self) -> float:
        value = self.term()
        while (token := self.peek()) in (("op", "+"), ("op", "-")):
            self.index += 1
            right = self.term()
            value = value + right if token == ("op", "+") else value - right
        return value

    def term(self) -> float:
        value = self.unary()
        while (token := self.peek()) in (("op", "*"), ("op", "/")):
            self.index += 1
            right = self.unary()
            value = value * right if token == ("op", "*") else value / right
        return value

    def unary(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidNumber("too deeply nested")
        try:
            token = self.peek()
            if token in (("op", "+"), ("op", "-")):
                self.index += 1
                value = self.unary()
                return -value if token == ("op", "-") else value
            return self.power()
        finally:
            self.depth -= 1

    def power(self) -> float:
        base = self.atom()
        if self.peek() == ("op", "^"):
            self.index += 1
            exponent = self.unary()  # right-associative: 2^3^2 = 2^(3^2)
            result = base**exponent
            if isinstance(result, complex):  # e.g. (-8)^(1/3): complex numbers are not supported
                raise InvalidNumber("complex result")
            return float(result)
        return base

    def atom(self) -> float:
        kind, text = self.take()
        if kind == "number":
            value = float(text)
            following = self.peek()
            if following is not None and following[0] == "suffix":
                value *= _SUFFIXES[self.take()[1]]
            return value
        if kind == "name":
            if text in _FUNCTIONS:
                self.expect("(")
                argument = self.nested()
                self.expect(")")
                return float(_FUNCTIONS[text](argument))
            if text in _CONSTANTS:
                return _CONSTANTS[text]
            raise InvalidNumber(f"unknown name {text!r}")
        if (kind, text) == ("op", "("):
            value = self.nested()
            self.expect(")")
            return value
        raise InvalidNumber(f"unexpected {text!r}")

    def nested(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidNumber("too deeply nested")
        try:
            return self.expr()
        finally:
            self.depth -= 1


def evaluate(text: str) -> float:
    """The real value of a number or arithmetic expression; ``InvalidNumber`` if there is none."""
    if not isinstance(text, str) or len(text) > MAX_EXPRESSION_LENGTH:
        raise InvalidNumber("not a short string")
    try:
        value = _Parser(_tokenize(text)).parse()
    except (ArithmeticError, ValueError) as error:  # division by zero, overflow, math domain errors
        if isinstance(error, InvalidNumber):
            raise
        raise InvalidNumber(str(error)) from error
    return value


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
