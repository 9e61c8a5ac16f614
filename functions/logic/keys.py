"""Open edX course and block keys, parsed by edx-opaque-keys (the library Open edX itself uses).

Accepted course keys: ``course-v1:<org>+<number>+<run>`` and the older ``<org>/<number>/<run>`` ids
that long-running installations still hold (a "deprecated" ``CourseLocator``). Branch and version
qualifiers, library keys and CCX keys are not course runs here and are refused. Block keys:
``block-v1:...+type@<category>+block@<id>`` and, for old courses, ``i4x://<org>/<number>/<category>/<id>``
locations (which carry no run: they are mapped into the course they are used in, as upstream does).

Every other module asks this one; none parses a key by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey as _OpaqueCourseKey
from opaque_keys.edx.keys import UsageKey as _OpaqueUsageKey
from opaque_keys.edx.locator import BlockUsageLocator, CourseLocator


@dataclass(frozen=True)
class CourseKey:
    """A parsed course run key; ``str()`` is its canonical form (what tables and S3 keys hold)."""

    org: str
    number: str
    run: str
    deprecated: bool  # True for an old-style ``org/number/run`` id

    def __str__(self) -> str:
        return _locator(self).__str__()

    @property
    def parts(self) -> tuple[str, str, str]:
        return self.org, self.number, self.run

    @property
    def org_scope(self) -> str:
        """The scope of an org-wide role grant that covers this course."""
        return f"org:{self.org}"


@dataclass(frozen=True)
class UsageKey:
    """A block of a course: its canonical course id, category (block type) and block id (url_name)."""

    course_id: str
    category: str
    block_id: str

    def __str__(self) -> str:
        return usage_key(self.course_id, self.category, self.block_id)


def _locator(key: CourseKey) -> CourseLocator:
    return CourseLocator(key.org, key.number, key.run, deprecated=key.deprecated)


@lru_cache(maxsize=4096)
def parse_course(text: str) -> CourseKey | None:
    """The course run key ``text`` names, or None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = _OpaqueCourseKey.from_string(text)
    except InvalidKeyError:
        return None
    # The exact class: a CCX key is a CourseLocator subclass (when edx-ccx-keys is installed, as
    # alongside openedx-events), and a library is another class; neither is a course run here.
    if type(parsed) is not CourseLocator or parsed.branch or parsed.version_guid:
        return None  # a library, a CCX or a branch/version of a course: not a course run
    if not (parsed.org and parsed.course and parsed.run):
        return None
    return CourseKey(parsed.org, parsed.course, parsed.run, bool(parsed.deprecated))


def course_id_of(org: str, number: str, run: str, deprecated: bool = False) -> str | None:
    """The canonical id of the course run with these parts (``course-v1:`` unless ``deprecated``)."""
    try:
        return str(CourseLocator(org, number, run, deprecated=deprecated))
    except (InvalidKeyError, ValueError):
        return None


def parse_course_key(course_id: str) -> tuple[str, str, str] | None:
    """(org, number, run) of a course key, or None when it is not one."""
    key = parse_course(course_id)
    return key.parts if key else None


def canonical_course_id(text: str) -> str | None:
    key = parse_course(text)
    return str(key) if key else None


def is_course_key(text: str) -> bool:
    return parse_course(text) is not None


def parse_usage_key(text: str, course_id: str | None = None) -> UsageKey | None:
    """The block ``text`` names, or None when it is not a block key.

    With ``course_id``, the key must belong to that course (same org and number, and the same run
    unless the key carries none, as ``i4x://`` locations do): the result then carries the course's
    own id, so a ``block-v1:`` key of an old course and its ``i4x://`` location name the same block.
    Without it, a location that carries no run cannot be placed and is refused.
    """
    if not isinstance(text, str):
        return None
    try:
        parsed = _OpaqueUsageKey.from_string(text.strip())
    except InvalidKeyError:
        return None
    if type(parsed) is not BlockUsageLocator:
        return None  # (exact classes, as for course keys: a CCX block is a subclass)
    of_key = parsed.course_key
    if type(of_key) is not CourseLocator or of_key.branch or of_key.version_guid:
        return None
    if course_id is None:
        if not (of_key.org and of_key.course and of_key.run):
            return None
        course = CourseKey(of_key.org, of_key.course, of_key.run, bool(of_key.deprecated))
    else:
        course_key = parse_course(course_id)
        if course_key is None or (of_key.org, of_key.course) != (course_key.org, course_key.number):
            return None
        if of_key.run and of_key.run != course_key.run:
            return None
        course = course_key
    return UsageKey(str(course), parsed.block_type, parsed.block_id)


def block_id_in(text: str) -> str | None:
    """The block id of any block key or location (of whatever course), or None when ``text`` is none.

    For the keys an export holds (policies, ``split_test`` mappings): an export may name its own
    blocks with the keys of the course it came from.
    """
    try:
        parsed = _OpaqueUsageKey.from_string(text.strip())
    except InvalidKeyError:
        return None
    return parsed.block_id if isinstance(parsed, BlockUsageLocator) else None


def usage_key(course_id: str, category: str, block_id: str) -> str:
    """The canonical key of a block of a course (``i4x://`` for an old-style course, as Open edX writes)."""
    return _usage_key(course_id, category, block_id)


@lru_cache(maxsize=65536)
def _usage_key(course_id: str, category: str, block_id: str) -> str:
    course = parse_course(course_id)
    if course is None:
        raise ValueError(f"Invalid course key: {course_id!r}")
    return str(_locator(course).make_usage_key(category, block_id))


COURSES_PATH = "/courses/"


def course_path(path: str) -> str:
    """``path`` with an old-style course id that spans three segments folded into one (percent-encoded).

    ``Org/Number/Run`` has slashes. A client writes it percent-encoded (``%2F``), but API Gateway HTTP
    APIs decode the path before the function sees it, so it may arrive as three segments; our routes
    have one segment per id. Both forms are folded into the encoded one; any other path is unchanged.
    """
    if not path.startswith(COURSES_PATH):
        return path
    segments = path[len(COURSES_PATH) :].split("/")
    if len(segments) < 3 or parse_course(unquote(segments[0])) is not None:
        return path
    joined = "/".join(unquote(segment) for segment in segments[:3])
    key = parse_course(joined)
    if key is None or not key.deprecated:
        return path
    return COURSES_PATH + "/".join([quote(joined, safe=""), *segments[3:]])
