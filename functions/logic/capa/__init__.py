"""CAPA problem graders: parse a problem's XML once, then grade learners' stored answers.

Supported response types: ``multiplechoiceresponse``, ``choiceresponse`` (checkboxes), ``optionresponse``
(dropdown), ``numericalresponse`` and ``stringresponse``. Problems with any other response type (custom
Python, JavaScript, image, formula, ...) are not rescorable: ``grade`` raises ``NotRescorable``.
"""

from functions.logic.capa.errors import NOT_RESCORABLE_MESSAGE, NotRescorable
from functions.logic.capa.grader import grade
from functions.logic.capa.parser import parse_problem

__all__ = ["NOT_RESCORABLE_MESSAGE", "NotRescorable", "grade", "parse_problem"]
