"""Token subjects, the users they are, and their role grants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from functions.dal.tables import AccessItem, bind
from functions.models.access import Principal, Role, RoleGrant
from functions.settings import Settings

IDENTITY_SK = "IDENTITY"
ROLE_PREFIX = "ROLE#"


def subject_pk(subject: str) -> str:
    return f"P#{subject}"


class ScopeMember(NamedTuple):
    """A person holding roles in a scope (a course or an org)."""

    subject: str
    user_id: int
    username: str
    email: str
    roles: frozenset[Role]


class AccessRepository:
    def __init__(self, settings: Settings):
        bind(settings)

    def get_principal(self, subject: str) -> Principal | None:
        """Identity and grants of a subject in one Query; None if the subject is unknown."""
        identity = None
        grants = []
        for item in AccessItem.query(subject_pk(subject)):
            if item.sk == IDENTITY_SK:
                identity = item
            elif item.sk.startswith(ROLE_PREFIX) and item.scope and item.role:
                grants.append(RoleGrant(scope=item.scope, role=Role(item.role)))
        if identity is None:
            return None
        return Principal(
            subject=subject,
            user_id=int(identity.user_id or 0),
            username=identity.username or subject,
            email=identity.email or "",
            global_staff=bool(identity.global_staff),
            grants=grants,
        )

    def subjects_with_email(self, email: str) -> list[str]:
        """Token subjects whose identity has this address (case-insensitive); one index Query."""
        key = email.strip().lower()
        if not key:
            return []
        return [
            item.pk[len(subject_pk("")) :]
            for item in AccessItem.principal_email.query(key)
            if item.pk.startswith(subject_pk(""))
        ]

    def put_principal(self, principal: Principal) -> None:
        """Write a subject's identity and replace nothing else (grants are added with ``grant``)."""
        AccessItem(
            subject_pk(principal.subject),
            IDENTITY_SK,
            user_id=principal.user_id,
            username=principal.username,
            email=principal.email,
            # An index key cannot be empty: identities without an address stay out of the index.
            email_key=principal.email.strip().lower() or None,
            global_staff=principal.global_staff,
        ).save()
        self.grant(principal.subject, principal.grants)

    def grant(self, subject: str, grants: Iterable[RoleGrant]) -> None:
        with AccessItem.batch_write() as batch:
            for grant in grants:
                batch.save(
                    AccessItem(
                        subject_pk(subject),
                        f"{ROLE_PREFIX}{grant.scope}#{grant.role.value}",
                        scope=grant.scope,
                        role=grant.role.value,
                    )
                )

    def members(self, scope: str, roles: Iterable[Role]) -> list[ScopeMember]:
        """Who holds any of these roles in exactly this scope (e.g. a course's staff and instructors).

        One Query of the scope's grants (an index: no scan), then one BatchGetItem of their identities.
        """
        wanted = set(roles)
        held: dict[str, set[Role]] = {}
        for item in AccessItem.scope_grants.query(scope):
            if item.role in {role.value for role in wanted}:
                held.setdefault(item.pk, set()).add(Role(item.role))
        found: list[ScopeMember] = []
        for identity in AccessItem.batch_get([(pk, IDENTITY_SK) for pk in held]):
            found.append(
                ScopeMember(
                    subject=identity.pk[len("P#") :],
                    user_id=int(identity.user_id or 0),
                    username=identity.username or identity.pk[len("P#") :],
                    email=identity.email or "",
                    roles=frozenset(held[identity.pk]),
                )
            )
        return sorted(found, key=lambda member: member.user_id)
