"""Open edX usage keys: ``block-v1:<org>+<number>+<run>+type@<category>+block@<id>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from functions.logic.reports import parse_course_key

_USAGE_KEY = re.compile(
    r"^block-v1:(?P<org>[^+/:]+)\+(?P<number>[^+/:]+)\+(?P<run>[^+/:]+)"
    r"\+type@(?P<category>[\w-]+)\+block@(?P<block>[\w.\-:~]+)$"
)


@dataclass(frozen=True)
class UsageKey:
    course_id: str
    category: str
    block_id: str

    def __str__(self) -> str:
        org, number, run = parse_course_key(self.course_id) or ("", "", "")
        return f"block-v1:{org}+{number}+{run}+type@{self.category}+block@{self.block_id}"


def parse_usage_key(text: str) -> UsageKey | None:
    match = _USAGE_KEY.match(text.strip())
    if match is None:
        return None
    return UsageKey(
        f"course-v1:{match['org']}+{match['number']}+{match['run']}", match["category"], match["block"]
    )


def usage_key(course_id: str, category: str, block_id: str) -> str:
    return str(UsageKey(course_id, category, block_id))
