"""Who a scheduled report's link may be mailed to.

Course staff only, and more precisely: people who could run that report themselves. Each address
must be the email of an account (an identity of the access table) holding the report's permission
in the course (for a grade report: global staff or a data researcher of the course or its org). A
link hands over the report, so it goes only to those the API would give the report to. The rule is
checked when the schedule is made or edited, and again at every run: someone who has lost the role
since stops receiving it.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.errors import HeaderParseError
from email.headerregistry import Address

from functions.dal.access_repo import AccessRepository
from functions.errors import BadRequest
from functions.logic import permissions, registry
from functions.settings import Settings

MAX_ADDRESS = 254  # RFC 5321 path limit


def well_formed(address: str) -> str:
    """The address, trimmed and lower-cased; ``ValueError`` if it is not a plain addr-spec."""
    text = address.strip()
    if not text or len(text) > MAX_ADDRESS or any(ord(c) < 32 or c.isspace() for c in text):
        raise ValueError(f"{address!r} is not an email address")
    try:
        parsed = Address(addr_spec=text)
    except (HeaderParseError, ValueError, IndexError) as error:
        raise ValueError(f"{address!r} is not an email address") from error
    if not parsed.username or "." not in parsed.domain.strip("."):
        raise ValueError(f"{address!r} is not an email address")
    return text.lower()


def may_receive(
    settings: Settings, access: AccessRepository, course_id: str, task_type: registry.TaskType, address: str
) -> bool:
    """Whether someone with this address may run ``task_type`` in the course."""
    for subject in access.subjects_with_email(address):
        principal = access.get_principal(subject)
        if principal is not None and permissions.allowed(
            settings, principal, course_id, task_type.permission
        ):
            return True
    return False


def check(
    settings: Settings,
    access: AccessRepository,
    course_id: str,
    task_type: registry.TaskType,
    addresses: Iterable[str] | None,
) -> tuple[str, ...]:
    """The addresses to mail, validated (400 naming the first one refused); each once, in order."""
    given = list(addresses or ())
    if not given:
        return ()
    if not task_type.produces_report:
        raise BadRequest(f"`notify` is for reports: a {task_type.name} task makes no report to mail.")
    if len(given) > settings.schedule_notify_max:
        raise BadRequest(
            f"`notify` takes at most {settings.schedule_notify_max} addresses, not {len(given)}."
        )
    checked: dict[str, None] = {}
    for raw in given:
        if not isinstance(raw, str):
            raise BadRequest(f"`notify` lists email addresses; {raw!r} is not one.")
        try:
            address = well_formed(raw)
        except ValueError as error:
            raise BadRequest(f"`notify`: {error}.") from error
        if not may_receive(settings, access, course_id, task_type, address):
            raise BadRequest(
                f"`notify`: {raw.strip()!r} is not the address of anyone who may run this report in "
                f"{course_id}; reports are mailed only to course staff who could run them."
            )
        checked[address] = None
    return tuple(checked)


def still_allowed(
    settings: Settings,
    access: AccessRepository,
    course_id: str,
    task_type: registry.TaskType,
    addresses: Iterable[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """At run time: (addresses still allowed, addresses dropped since)."""
    kept: list[str] = []
    dropped: list[str] = []
    for address in addresses:
        (kept if may_receive(settings, access, course_id, task_type, address) else dropped).append(address)
    return tuple(kept), tuple(dropped)
