"""Who an identifier names: a username, or an email in any letter case (upstream's
``get_user_by_username_or_email``), resolved against the user profiles in bulk."""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from functions.dal.people_repo import PeopleRepository
from functions.logic.registry import RunContext
from functions.models.people import UserProfile


def resolve(ctx: RunContext, identifiers: Iterable[str]) -> dict[str, UserProfile]:
    """Identifier -> the user's profile, for the identifiers that name a known user."""
    return PeopleRepository(ctx.settings).find_users(identifiers)


def valid_email(text: str) -> bool:
    """A syntactically valid email address (what may be invited or pre-assigned)."""
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def subject(identifier: str, known: dict[str, UserProfile]) -> str:
    """The person a row is about: the user when known, else the identifier (emails in lower case)."""
    user = known.get(identifier)
    if user is not None:
        return f"user:{user.id}"
    return f"email:{identifier.lower()}" if "@" in identifier else f"name:{identifier}"
