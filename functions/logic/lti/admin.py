"""Consumers and platforms, bulk loads of existing records, the ledger and re-sends.

Permissions (spec §9.1 in spirit): registering or loading consumers and re-sending everything of a
consumer across courses is global staff's; listing and re-sending the failed pass-backs of one
course is course staff's (``Permission.LTI_PASSBACKS``: global staff, instructor, staff; it can be
changed with ``ITASK_PERMISSION_OVERRIDES`` like every rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from functions.dal.lti_repo import Conflict
from functions.errors import BadRequest, Forbidden, NotFound
from functions.errors import Conflict as ConflictError
from functions.logic import permissions
from functions.logic.lti.context import LtiContext
from functions.logic.lti.launch import digest
from functions.logic.lti.passback import execution_name
from functions.logic.lti.urls import UrlRefused, check_url
from functions.logic.usage_keys import parse_usage_key
from functions.models.access import Principal
from functions.models.bounds import Count, UserId
from functions.models.lti import (
    FAILED_STATUSES,
    Consumer,
    GradedAssignment,
    LtiVersion,
    OutcomeService,
    Passback,
    PassbackStatus,
)
from functions.observability import logger, metrics

MAX_RESENDS_PER_CALL = 500
KEY_PATTERN = r"^[A-Za-z0-9._~:@-]+$"  # it appears in route paths: no slashes


def require_global_staff(principal: Principal) -> None:
    if not principal.global_staff:
        raise Forbidden(permissions.FORBIDDEN_MESSAGE)


def problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())


# ---------------------------------------------------------------------------------------------
# consumers
# ---------------------------------------------------------------------------------------------
class ConsumerRegistration(BaseModel):
    """A 1.1 consumer (key and shared secret) or a 1.3 platform (issuer, client id, endpoints)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=255)
    lti_version: LtiVersion = LtiVersion.LTI_1P1
    secret: str | None = Field(default=None, min_length=8, max_length=255)
    instance_guid: str | None = Field(default=None, max_length=255)
    issuer: str | None = Field(default=None, max_length=1024)
    client_id: str | None = Field(default=None, max_length=255)
    token_url: str | None = Field(default=None, max_length=2048)
    jwks_url: str | None = Field(default=None, max_length=2048)
    key_id: str | None = Field(default=None, max_length=128)
    private_key_pem: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def fields_of_the_version(self) -> ConsumerRegistration:
        platform_fields = ("issuer", "client_id", "token_url", "jwks_url", "private_key_pem", "key_id")
        if self.lti_version == LtiVersion.LTI_1P1:
            if not self.secret:
                raise ValueError("an LTI 1.1 consumer needs its shared secret")
            given = [name for name in platform_fields if getattr(self, name)]
            if given:
                raise ValueError(f"{', '.join(given)}: LTI 1.3 fields on an LTI 1.1 consumer")
        else:
            if self.secret:
                raise ValueError("an LTI 1.3 platform has no shared secret (the tool key signs)")
            missing = [name for name in ("issuer", "client_id", "token_url") if not getattr(self, name)]
            if missing:
                raise ValueError(f"an LTI 1.3 platform needs {', '.join(missing)}")
        return self


def consumer_view(consumer: Consumer) -> dict[str, Any]:
    """What routes show of a consumer: never its secret or private key."""
    view = consumer.model_dump(mode="json", exclude_none=True)
    return view


def _tool_key(registration: ConsumerRegistration) -> tuple[str, dict[str, Any], str]:
    """(private key PEM, public JWK, key id): the given key, or a new RSA 2048 key."""
    if registration.private_key_pem:
        try:
            key = serialization.load_pem_private_key(registration.private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as error:
            raise BadRequest("private_key_pem is not an unencrypted PEM private key") from error
        if not isinstance(key, rsa.RSAPrivateKey):
            raise BadRequest("private_key_pem must be an RSA key (RS256)")
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.pop("key_ops", None)  # "use": "sig" says it
    key_id = registration.key_id or digest(jwk["n"])[:16]
    return pem, {**jwk, "kid": key_id, "alg": "RS256", "use": "sig"}, key_id


def _store_consumer(ctx: LtiContext, registration: ConsumerRegistration, replace: bool) -> Consumer:
    if registration.lti_version == LtiVersion.LTI_1P3:
        for name in ("token_url", "jwks_url"):
            value = getattr(registration, name)
            if value:
                try:
                    check_url(ctx.settings, value, resolve=False)
                except UrlRefused as refused:
                    raise BadRequest(f"{name} refused: {refused}") from refused
        secret, public_jwk, key_id = _tool_key(registration)
    else:
        secret, public_jwk, key_id = registration.secret or "", None, None
    consumer = Consumer(
        key=registration.key,
        name=registration.name,
        lti_version=registration.lti_version,
        instance_guid=registration.instance_guid,
        issuer=registration.issuer,
        client_id=registration.client_id,
        token_url=registration.token_url,
        jwks_url=registration.jwks_url,
        key_id=key_id,
        public_jwk=public_jwk,
        created=datetime.now(UTC),
    )
    ciphertext = ctx.secrets.encrypt(secret.encode("utf-8"), consumer.key)
    try:
        ctx.repo.put_consumer(consumer, ciphertext, replace=replace)
    except Conflict as conflict:
        raise ConflictError(str(conflict)) from conflict
    return consumer


def register_consumer(ctx: LtiContext, principal: Principal, body: Any) -> dict[str, Any]:
    require_global_staff(principal)
    try:
        registration = ConsumerRegistration.model_validate(body)
    except ValidationError as error:
        raise BadRequest(f"Invalid consumer: {problems(error)}") from error
    return consumer_view(_store_consumer(ctx, registration, replace=False))


def load_consumers(ctx: LtiContext, principal: Principal, lines: list[str]) -> dict[str, Any]:
    """Bulk load (JSON lines) for installations that already hold consumers: each line upserts."""
    from functions.logic.loaders import parse_lines

    require_global_staff(principal)
    rows = parse_lines(ConsumerRegistration, lines, 10_000, what="consumers")
    stored = [_store_consumer(ctx, row, replace=True).key for _, row in rows]
    return {"consumers": len(stored)}


def list_consumers(ctx: LtiContext, principal: Principal) -> dict[str, Any]:
    require_global_staff(principal)
    return {"consumers": [consumer_view(consumer) for consumer in ctx.repo.list_consumers()]}


def get_consumer(ctx: LtiContext, principal: Principal, key: str) -> dict[str, Any]:
    require_global_staff(principal)
    found = ctx.repo.get_consumer(key)
    if found is None:
        raise NotFound(f"Unknown LTI consumer: {key}")
    return consumer_view(found[0])


# ---------------------------------------------------------------------------------------------
# graded assignments loaded in bulk (data kind ``lti_assignments``)
# ---------------------------------------------------------------------------------------------
class AssignmentRow(BaseModel):
    """One existing graded assignment: 1.1 (outcome URL + sourcedid) or 1.3 (line item + user)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    consumer_key: str = Field(min_length=1, max_length=64)
    user_id: UserId
    usage_key: str = Field(min_length=1, max_length=512)
    lis_outcome_service_url: str | None = Field(default=None, max_length=255)
    lis_result_sourcedid: str | None = Field(default=None, max_length=255)
    lineitem_url: str | None = Field(default=None, max_length=2048)
    platform_user_id: str | None = Field(default=None, max_length=255)
    lti_user_id: str | None = Field(default=None, max_length=255)  # links the LMS user to the learner
    version: Count = 0


class AssignmentWrite(BaseModel):
    """One row of an assignments load as it is written (the journal's row)."""

    assignment: GradedAssignment
    lti_user_id: str | None = None


def prepare_assignments(
    ctx: LtiContext, course_id: str, lines: list[str]
) -> tuple[list[AssignmentWrite], dict[str, Any]]:
    """Every line checked (consumer, block, URLs, and that no URL or assignment id belongs to another
    consumer, learner or block); nothing written. The rows to write and the load's summary."""
    from functions.logic.loaders import parse_lines

    course = ctx.courses.get_course(course_id)
    if course is None:
        raise BadRequest(f"Course not found: {course_id}")
    rows = parse_lines(AssignmentRow, lines, 100_000, what="assignments")
    consumers: dict[str, Consumer | None] = {}
    planned: list[AssignmentWrite] = []
    owners: dict[str, str | None] = {}
    created = 0
    for number, row in rows:
        if row.consumer_key not in consumers:
            found = ctx.repo.get_consumer(row.consumer_key)
            consumers[row.consumer_key] = found[0] if found else None
        consumer = consumers[row.consumer_key]
        if consumer is None:
            raise BadRequest(f"line {number}: unknown consumer {row.consumer_key!r}")
        usage = parse_usage_key(row.usage_key, course_id)
        block = usage and (course.root if usage.category == "course" else usage.block_id)
        if usage is None or usage.course_id != course_id or block not in course.blocks:
            raise BadRequest(f"line {number}: {row.usage_key} is not a block of {course_id}")
        assignment = _planned_assignment(ctx, number, row, consumer, course_id)
        if assignment.outcome_url and assignment.outcome_service_id:
            owner = ctx.repo.outcome_service_owner(assignment.outcome_service_id)
            if owner is not None and owner != assignment.consumer_key:
                raise ConflictError(
                    f"line {number}: {row.lis_outcome_service_url}: "
                    "This outcome service URL belongs to another consumer"
                )
        target = ctx.repo.assignment_owner_of(assignment)
        if assignment.assignment_id not in owners:
            owners[assignment.assignment_id] = ctx.repo.assignment_owner(assignment.assignment_id)
            created += owners[assignment.assignment_id] is None
        owner = owners[assignment.assignment_id]
        if owner is not None and owner != target:
            raise ConflictError(
                f"line {number}: {row.usage_key} of user {row.user_id}: "
                "This lis_result_sourcedid already belongs to another learner or block"
            )
        owners[assignment.assignment_id] = target  # a later line of this load must agree with this one
        planned.append(AssignmentWrite(assignment=assignment, lti_user_id=row.lti_user_id))
    return planned, {"course_id": course_id, "assignments": len(planned), "created": created}


def apply_assignments(ctx: LtiContext, rows: Sequence[AssignmentWrite]) -> None:
    """Idempotent: an assignment or service that exists as planned is left as it is."""
    for row in rows:
        assignment = row.assignment
        try:
            if assignment.outcome_url and assignment.outcome_service_id:
                ctx.repo.get_or_create_outcome_service(
                    OutcomeService(
                        service_id=assignment.outcome_service_id,
                        url=assignment.outcome_url,
                        consumer_key=assignment.consumer_key,
                    )
                )
            ctx.repo.get_or_create_assignment(assignment)
        except Conflict as conflict:
            # Checked when the load was prepared: only a launch that claimed the same id for someone
            # else since could get here. Its claim stands; the row cannot be written, and saying so
            # beats blocking the course forever.
            logger.warning(
                "assignment of a load taken by a launch meanwhile",
                extra={"assignment_id": assignment.assignment_id, "conflict": str(conflict)},
            )
            continue
        if row.lti_user_id:
            ctx.repo.put_lti_user(assignment.consumer_key, row.lti_user_id, assignment.user_id)


def _planned_assignment(
    ctx: LtiContext, number: int, row: AssignmentRow, consumer: Consumer, course_id: str
) -> GradedAssignment:
    common = {
        "course_id": course_id,
        "user_id": row.user_id,
        "usage_key": row.usage_key,
        "consumer_key": consumer.key,
        "lti_version": consumer.lti_version,
        "version": row.version,
        "created": datetime.now(UTC),
    }
    if consumer.lti_version == LtiVersion.LTI_1P1:
        if not (row.lis_outcome_service_url and row.lis_result_sourcedid):
            raise BadRequest(f"line {number}: an LTI 1.1 assignment needs an outcome URL and a sourcedid")
        url = row.lis_outcome_service_url
        service_id = digest(url)
        extra = {
            "assignment_id": digest(service_id, row.lis_result_sourcedid),
            "outcome_service_id": service_id,
            "outcome_url": url,
            "lis_result_sourcedid": row.lis_result_sourcedid,
        }
    else:
        if not (row.lineitem_url and row.platform_user_id):
            raise BadRequest(f"line {number}: an LTI 1.3 assignment needs a line item URL and a user id")
        url = row.lineitem_url
        extra = {
            "assignment_id": digest(consumer.key, row.lineitem_url, row.platform_user_id),
            "lineitem_url": row.lineitem_url,
            "platform_user_id": row.platform_user_id,
        }
    try:
        check_url(ctx.settings, url, resolve=False)
    except UrlRefused as refused:
        raise BadRequest(f"line {number}: URL refused: {refused}") from refused
    return GradedAssignment.model_validate({**common, **extra})


# ---------------------------------------------------------------------------------------------
# the ledger
# ---------------------------------------------------------------------------------------------
def passback_view(passback: Passback) -> dict[str, Any]:
    return {"ledger_id": passback.ledger_id, **passback.model_dump(mode="json")}


_STATUS_FILTERS = {"failed", "all"}


def list_passbacks(
    ctx: LtiContext, principal: Principal, course_id: str, params: dict[str, str]
) -> dict[str, Any]:
    """Failed and gave-up pass-backs of the course (default), or every record of one learner."""
    _require_course(ctx, principal, course_id)
    status = params.get("status", "failed")
    if status not in _STATUS_FILTERS:
        raise BadRequest("status must be failed (failed and gave_up) or all (with user_id)")
    consumer = params.get("consumer_key")
    if params.get("user_id") is not None:
        user = params["user_id"]
        if not re.fullmatch(r"[0-9]{1,12}", user):
            raise BadRequest("user_id must be a number")
        records = list(ctx.repo.iter_course_ledger(course_id, int(user)))
        if status == "failed":
            records = [r for r in records if r.status in FAILED_STATUSES]
    elif status == "all":
        raise BadRequest("status=all lists one learner's records: give user_id")
    else:
        records = ctx.repo.failed_of_course(course_id)
    if consumer:
        records = [r for r in records if r.consumer_key == consumer]
    return {"passbacks": [passback_view(r) for r in records]}


def _require_course(ctx: LtiContext, principal: Principal, course_id: str) -> None:
    permissions.require(ctx.settings, principal, course_id, permissions.Permission.LTI_PASSBACKS)
    if not ctx.courses.course_exists(course_id):
        raise NotFound(f"Course not found: {course_id}")


class ResendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ledger_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}:[0-9]{1,10}$")
    consumer_key: str | None = Field(default=None, max_length=64)


def resend_in_course(ctx: LtiContext, principal: Principal, course_id: str, body: Any) -> dict[str, Any]:
    """Re-send one record (``ledger_id``), a consumer's failed records, or every failed one."""
    _require_course(ctx, principal, course_id)
    try:
        request = ResendRequest.model_validate(body if body is not None else {})
    except ValidationError as error:
        raise BadRequest(f"Invalid re-send request: {problems(error)}") from error
    if request.ledger_id:
        assignment_id, version = request.ledger_id.split(":")
        record = ctx.repo.get_passback(assignment_id, int(version))
        if record is None or record.course_id != course_id:
            raise NotFound(f"No pass-back {request.ledger_id} in {course_id}")
        if record.status not in FAILED_STATUSES:
            raise ConflictError(f"Pass-back {request.ledger_id} is {record.status.value}: nothing to re-send")
        records = [record]
    else:
        records = ctx.repo.failed_of_course(course_id)
        if request.consumer_key:
            records = [r for r in records if r.consumer_key == request.consumer_key]
    return resend(ctx, records)


def resend_consumer(ctx: LtiContext, principal: Principal, consumer_key: str) -> dict[str, Any]:
    """After a consumer's outage: re-send its failed and gave-up records in every course."""
    require_global_staff(principal)
    if ctx.repo.get_consumer(consumer_key) is None:
        raise NotFound(f"Unknown LTI consumer: {consumer_key}")
    return resend(ctx, ctx.repo.failed_of_consumer(consumer_key, limit=MAX_RESENDS_PER_CALL + 1))


def resend(ctx: LtiContext, records: list[Passback]) -> dict[str, Any]:
    """Start a new send of each record still current; superseded versions are marked, never sent."""
    resent: list[str] = []
    superseded: list[str] = []
    for record in records[:MAX_RESENDS_PER_CALL]:
        current = ctx.repo.current_version(record.course_id, record.user_id, record.assignment_id)
        if current != record.version:
            if ctx.repo.record(record, PassbackStatus.SUPERSEDED, only_from=FAILED_STATUSES):
                superseded.append(record.ledger_id)
            continue
        if not ctx.repo.record(record, PassbackStatus.PENDING, only_from=FAILED_STATUSES, resend=True):
            continue  # someone else re-sent it just now
        ctx.workflow.start(
            execution_name(record.assignment_id, record.version, record.resends + 1),
            {
                "assignment_id": record.assignment_id,
                "version": record.version,
                "delay_seconds": 0,
                "attempt": 1,
            },
        )
        resent.append(record.ledger_id)
    metrics.add_metric(name="LtiPassbacksResent", unit="Count", value=len(resent))
    return {
        "resent": resent,
        "superseded": superseded,
        "more": len(records) > MAX_RESENDS_PER_CALL,  # call again for the rest
    }
