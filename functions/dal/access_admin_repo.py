"""Role and user changes made by administrators, each written together with its audit record.

Every change is one DynamoDB transaction of three parts: the change, its audit record, and a check
that the caller still holds the authority it acted with (its global staff flag, or the course role
that lets it edit access). So two administrators removing each other at the same moment cannot both
succeed: the second finds its own authority gone, and the last administrator always remains (nobody
may remove their own).

Audit records live in the access table under ``AUDIT#<scope>`` (newest first by sort key). Their
attributes are named apart from the grants' (``scope``/``role`` would put them in the sparse
scope-grants index and make them look like members).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dal import tables
from functions.dal.access_repo import IDENTITY_SK, ROLE_PREFIX, subject_pk
from functions.dal.faults import cancelled_by_condition
from functions.dal.tables import AccessItem, bind, bind_models
from functions.models.access import Principal, RoleGrant
from functions.models.access_admin import AccessAction, AccessChange
from functions.settings import Settings

AUDIT_PREFIX = "AUDIT#"


class AccessAuditItem(Model):
    """One audited change (pk ``AUDIT#<scope>``, sk ``<ISO time>#<random>``)."""

    class Meta:
        table_name = "itask-access"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    audit_action = UnicodeAttribute()
    target = UnicodeAttribute()
    target_username = UnicodeAttribute(null=True)
    target_role = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    actor_username = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()
    detail = UnicodeAttribute(null=True)  # JSON


@dataclass(frozen=True)
class Authority:
    """The access item that lets the caller make a change: its identity (global staff) or a grant."""

    subject: str
    grant: RoleGrant | None = None  # None: global staff


class AuthorityLost(Exception):
    """The caller no longer holds the authority it acted with (removed meanwhile)."""


class NotHeld(Exception):
    """The change found nothing to change (the role was not held, the user does not exist)."""


def grant_sk(grant: RoleGrant) -> str:
    return f"{ROLE_PREFIX}{grant.scope}#{grant.role.value}"


def audit_item(change: AccessChange) -> AccessAuditItem:
    """The audit record of a change (written in the change's own transaction)."""
    return AccessAuditItem(
        f"{AUDIT_PREFIX}{change.scope}",
        f"{change.at.astimezone(UTC).isoformat()}#{uuid.uuid4().hex[:12]}",
        audit_action=change.action.value,
        target=change.subject,
        target_username=change.username or None,
        target_role=change.role or None,
        actor=change.by,
        actor_username=change.by_username or None,
        at=change.at,
        detail=json.dumps(change.detail, sort_keys=True) if change.detail else None,
    )


class AccessAdminRepository:
    def __init__(self, settings: Settings):
        bind(settings)
        bind_models(settings, "access_table", (AccessAuditItem,))
        self._region = settings.region

    # ---- reads ----
    def global_staff_subjects(self) -> list[str]:
        """Subjects whose identity is global staff: a Scan of the access table (token subjects and
        their grants only: an administrator's listing, not a hot path)."""
        found = [
            item.pk[len(subject_pk("")) :]
            for item in AccessItem.scan(AccessItem.global_staff == True)  # noqa: E712
            if item.sk == IDENTITY_SK
        ]
        return sorted(found)

    def changes(self, scope: str, limit: int) -> list[AccessChange]:
        """The scope's audited changes, newest first."""
        return [
            AccessChange(
                scope=scope,
                action=AccessAction(item.audit_action),
                subject=item.target,
                username=item.target_username or "",
                role=item.target_role or "",
                by=item.actor,
                by_username=item.actor_username or "",
                at=item.at,
                detail=json.loads(item.detail) if item.detail else {},
            )
            for item in AccessAuditItem.query(f"{AUDIT_PREFIX}{scope}", scan_index_forward=False, limit=limit)
        ]

    # ---- changes ----
    def grant_role(self, authority: Authority, change: AccessChange, grant: RoleGrant) -> bool:
        """Grant ``grant`` to ``change.subject`` (whose identity must exist); False if already held."""
        pk = subject_pk(change.subject)
        if AccessItem.count(pk, AccessItem.sk == grant_sk(grant)):
            return False
        item = AccessItem(pk, grant_sk(grant), scope=grant.scope, role=grant.role.value)
        self._write(authority, change, save=item, condition_on=(pk, IDENTITY_SK))
        return True

    def revoke_role(self, authority: Authority, change: AccessChange, grant: RoleGrant) -> bool:
        """Remove the grant; False if it was not held."""
        pk = subject_pk(change.subject)
        try:
            self._write(authority, change, delete=AccessItem(pk, grant_sk(grant)))
        except NotHeld:
            return False
        return True

    def set_global_staff(self, authority: Authority, change: AccessChange, on: bool) -> bool:
        """Set the identity's global staff flag; False if it already was so (``NotHeld``: no identity)."""
        pk = subject_pk(change.subject)
        identity = next(iter(AccessItem.query(pk, AccessItem.sk == IDENTITY_SK)), None)
        if identity is None:
            raise NotHeld(change.subject)
        if bool(identity.global_staff) == on:
            return False
        self._write(authority, change, set_global_staff=(pk, on))
        return True

    def put_user(self, authority: Authority, change: AccessChange, principal: Principal) -> bool:
        """Create or update the identity (user id, username, email); its flag and grants stay. True
        when it was created."""
        pk = subject_pk(principal.subject)
        existed = next(iter(AccessItem.query(pk, AccessItem.sk == IDENTITY_SK)), None) is not None
        self._write(authority, change, identity=principal)
        return not existed

    # ---- the one transaction ----
    def _write(
        self,
        authority: Authority,
        change: AccessChange,
        save: AccessItem | None = None,
        delete: AccessItem | None = None,
        condition_on: tuple[str, str] | None = None,
        set_global_staff: tuple[str, bool] | None = None,
        identity: Principal | None = None,
    ) -> None:
        audit = audit_item(change)
        authority_pk = subject_pk(authority.subject)
        # A transaction names an item once: an administrator editing their own record checks their
        # flag in the update's own condition.
        own_identity = identity is not None and identity.subject == authority.subject
        try:
            with TransactWrite(connection=tables.connection(self._region)) as transaction:
                if own_identity:
                    pass
                elif authority.grant is None:
                    transaction.condition_check(
                        AccessItem,
                        authority_pk,
                        IDENTITY_SK,
                        condition=AccessItem.global_staff == True,  # noqa: E712
                    )
                else:
                    transaction.condition_check(
                        AccessItem, authority_pk, grant_sk(authority.grant), condition=AccessItem.pk.exists()
                    )
                if save is not None:
                    transaction.save(save)
                authority_key = (
                    authority_pk,
                    IDENTITY_SK if authority.grant is None else grant_sk(authority.grant),
                )
                if condition_on is not None and condition_on != authority_key:
                    transaction.condition_check(
                        AccessItem, condition_on[0], condition_on[1], condition=AccessItem.pk.exists()
                    )
                if delete is not None:
                    transaction.delete(delete, condition=AccessItem.pk.exists())
                if set_global_staff is not None:
                    transaction.update(
                        AccessItem(set_global_staff[0], IDENTITY_SK),
                        actions=[AccessItem.global_staff.set(set_global_staff[1])],
                        condition=AccessItem.pk.exists(),
                    )
                if identity is not None:
                    transaction.update(
                        AccessItem(subject_pk(identity.subject), IDENTITY_SK),
                        actions=[
                            AccessItem.user_id.set(identity.user_id),
                            AccessItem.username.set(identity.username),
                            AccessItem.email.set(identity.email),
                            # An index key cannot be empty: identities without an address stay out.
                            AccessItem.email_key.set(identity.email.strip().lower())
                            if identity.email.strip()
                            else AccessItem.email_key.remove(),
                        ],
                        condition=(AccessItem.global_staff == True) if own_identity else None,  # noqa: E712
                    )
                transaction.save(audit)
        except TransactWriteError as error:
            if not cancelled_by_condition(error):
                raise
            # Which condition failed: the caller's authority first (a removed caller changes nothing).
            if not self._holds(authority):
                raise AuthorityLost(authority.subject) from error
            raise NotHeld(change.subject) from error

    def _holds(self, authority: Authority) -> bool:
        pk = subject_pk(authority.subject)
        if authority.grant is None:
            identity = next(iter(AccessItem.query(pk, AccessItem.sk == IDENTITY_SK)), None)
            return bool(identity is not None and identity.global_staff)
        return bool(AccessItem.count(pk, AccessItem.sk == grant_sk(authority.grant)))
