"""The LTI 1.1 launch (spec §8.1): a consumer's signed form POST, no bearer token.

Checked in this order: a known 1.1 consumer, the OAuth 1.0a signature (HMAC-SHA1, oauthlib; the
timestamp within the configured window), the nonce not seen before (recorded only once the
signature holds, so forged requests cannot burn nonces), the launch parameters, the learner, the
outcome service URL (§8.4). Then the outcome service and the graded assignment are recorded and the
caller is redirected to the content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint

from functions.dal.lti_repo import Conflict
from functions.errors import BadRequest, Forbidden, NotFound, Unauthorized
from functions.errors import Conflict as ConflictError
from functions.logic.keys import parse_course_key
from functions.logic.lti.context import LtiContext
from functions.logic.lti.urls import UrlRefused, check_url
from functions.logic.usage_keys import parse_usage_key
from functions.models.lti import Consumer, GradedAssignment, LtiVersion, OutcomeService
from functions.observability import logger, metrics

LAUNCH_MESSAGE_TYPE = "basic-lti-launch-request"
MAX_BODY = 64 * 1024
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=:@")


@dataclass(frozen=True)
class LaunchRequest:
    url: str  # the URL the consumer signed (scheme, host, path, query)
    body: str  # the form-encoded body
    content_type: str
    course_id: str
    usage_id: str


@dataclass(frozen=True)
class LaunchResult:
    redirect_to: str
    assignment_id: str | None


def digest(*parts: str) -> str:
    """A stable id for records keyed by long external strings (not a secret)."""
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class _Validator(RequestValidator):
    """oauthlib's hooks for one launch: the consumer is known, its secret decrypted already."""

    def __init__(self, consumer_key: str, secret: str, lifetime: int):
        super().__init__()
        self._key, self._secret, self._lifetime = consumer_key, secret, lifetime

    @property
    def enforce_ssl(self) -> bool:
        return False  # the signed URL names the scheme; API Gateway only serves https

    @property
    def timestamp_lifetime(self) -> int:
        return self._lifetime

    @property
    def dummy_client(self) -> str:
        return "dummy-client"

    def check_client_key(self, client_key: str) -> bool:
        return 0 < len(client_key) <= 255

    def check_nonce(self, nonce: str) -> bool:
        # LMSs send nonces of many lengths; any short token of URL-safe characters will do.
        return 0 < len(nonce) <= 255 and set(nonce) <= _SAFE

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return bool(client_key == self._key)

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self._secret if client_key == self._key else "dummy-secret"

    def validate_timestamp_and_nonce(
        self, client_key: str, timestamp: str, nonce: str, request: Any, **_: Any
    ) -> bool:
        return True  # the window is checked by oauthlib; replays once the signature holds (below)


def _refuse(message: str, reason: str, consumer_key: str | None) -> Unauthorized:
    logger.info("LTI launch refused", extra={"reason": reason, "consumer_key": consumer_key})
    metrics.add_metric(name="LtiLaunchesRefused", unit="Count", value=1)
    return Unauthorized(message)


def _params(request: LaunchRequest) -> dict[str, str]:
    if len(request.body) > MAX_BODY:
        raise BadRequest("The launch body is too large")
    if "application/x-www-form-urlencoded" not in request.content_type.lower():
        raise BadRequest("An LTI launch is a form POST (application/x-www-form-urlencoded)")
    params: dict[str, str] = {}
    for name, value in parse_qsl(request.body, keep_blank_values=True):
        params.setdefault(name, value)
    return params


def launch(ctx: LtiContext, request: LaunchRequest) -> LaunchResult:
    params = _params(request)
    key = params.get("oauth_consumer_key", "")
    if not key:
        raise _refuse("Not a signed LTI launch: oauth_consumer_key is missing", "no key", None)
    found = ctx.repo.get_consumer(key)
    if found is None or found[0].lti_version != LtiVersion.LTI_1P1:
        raise _refuse("Unknown LTI consumer", "unknown consumer", key)
    consumer, ciphertext = found
    secret = ctx.secrets.decrypt(ciphertext, consumer.key).decode("utf-8")
    lifetime = ctx.settings.lti_timestamp_lifetime_seconds
    endpoint = SignatureOnlyEndpoint(_Validator(consumer.key, secret, lifetime))
    valid, checked = endpoint.validate_request(
        request.url, "POST", request.body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if not valid or checked is None:
        raise _refuse("Invalid OAuth signature, timestamp or parameters", "signature", key)
    if not ctx.repo.use_nonce(consumer.key, str(checked.nonce), 2 * lifetime):
        raise _refuse("This launch was already used (replayed nonce)", "replayed nonce", key)

    if params.get("lti_message_type") != LAUNCH_MESSAGE_TYPE:
        raise BadRequest(f"lti_message_type must be {LAUNCH_MESSAGE_TYPE}")
    course_id, usage_id = request.course_id, request.usage_id
    if parse_course_key(course_id) is None:
        raise NotFound(f"Invalid course key: {course_id!r}")
    course = ctx.courses.get_course(course_id)
    if course is None:
        raise NotFound(f"Course not found: {course_id}")
    usage = parse_usage_key(usage_id, course_id)
    block = usage and (course.root if usage.category == "course" else usage.block_id)
    if usage is None or usage.course_id != course_id or block not in course.blocks:
        raise NotFound(f"{usage_id} is not a block of {course_id}")
    guid = params.get("tool_consumer_instance_guid")
    if guid and consumer.instance_guid is None:
        ctx.repo.set_instance_guid(consumer.key, guid[:255])

    user_id = _learner(ctx, consumer, course_id, params)
    assignment_id = None
    sourcedid = params.get("lis_result_sourcedid")
    if sourcedid:
        assignment_id = _record_assignment(ctx, consumer, course_id, usage_id, user_id, sourcedid, params)
    target = ctx.settings.lti_content_url.format(
        course_id=quote(course_id, safe=""), usage_id=quote(usage_id, safe="")
    )
    metrics.add_metric(name="LtiLaunches", unit="Count", value=1)
    return LaunchResult(target, assignment_id)


def _learner(ctx: LtiContext, consumer: Consumer, course_id: str, params: dict[str, str]) -> int:
    """The learner this LMS user is: a linked one, or the enrolled learner with the launch's email."""
    lti_user = params.get("user_id", "")
    if not lti_user:
        raise BadRequest("The launch has no user_id")
    user_id = ctx.repo.get_lti_user(consumer.key, lti_user)
    if user_id is not None:
        return user_id
    email = params.get("lis_person_contact_email_primary", "")
    found = ctx.courses.find_user_id(course_id, email) if "@" in email else None
    if found is None:
        raise Forbidden("This LMS user is not linked to a learner of the course")
    ctx.repo.put_lti_user(consumer.key, lti_user, found)
    return found


def _record_assignment(
    ctx: LtiContext,
    consumer: Consumer,
    course_id: str,
    usage_id: str,
    user_id: int,
    sourcedid: str,
    params: dict[str, str],
) -> str | None:
    url = params.get("lis_outcome_service_url", "")
    if not url:
        # Upstream logs and skips: the content still opens, no grade will pass back.
        logger.warning("launch with a sourcedid but no outcome service URL", extra={"consumer": consumer.key})
        return None
    if len(sourcedid) > 255 or len(url) > 255:
        raise BadRequest("lis_result_sourcedid and lis_outcome_service_url are limited to 255 characters")
    try:
        check_url(ctx.settings, url)
    except UrlRefused as refused:
        metrics.add_metric(name="LtiLaunchesRefused", unit="Count", value=1)
        raise BadRequest(f"Outcome service URL refused: {refused}") from refused
    try:
        service = ctx.repo.get_or_create_outcome_service(
            OutcomeService(service_id=digest(url), url=url, consumer_key=consumer.key)
        )
        assignment, _ = ctx.repo.get_or_create_assignment(
            GradedAssignment(
                assignment_id=digest(service.service_id, sourcedid),
                course_id=course_id,
                user_id=user_id,
                usage_key=usage_id,
                consumer_key=consumer.key,
                lti_version=LtiVersion.LTI_1P1,
                outcome_service_id=service.service_id,
                outcome_url=service.url,
                lis_result_sourcedid=sourcedid,
                created=datetime.now(UTC),
            )
        )
    except Conflict as conflict:
        raise ConflictError(str(conflict)) from conflict
    return assignment.assignment_id
