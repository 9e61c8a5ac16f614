"""LTI Advantage Assignment and Grade Services: score publishes with a client-credentials token.

The tool authenticates to the platform's token endpoint with a JWT signed by its private key
(RFC 7523 client assertion, RS256); the token is cached until shortly before it expires.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt

from functions.dal import lti_http
from functions.logic.lti.outcomes import Delivery, excerpt
from functions.logic.lti.urls import ResolvedUrl, check_url
from functions.models.lti import Consumer
from functions.settings import Settings

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_CONTENT_TYPE = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300
# A token is reused until this long before it expires.
TOKEN_MARGIN_S = 60


class TokenRefused(Exception):
    """The token endpoint did not issue a token."""

    def __init__(self, delivery: Delivery):
        super().__init__(delivery.detail)
        self.delivery = delivery


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()


_tokens: dict[tuple[str, str], _Token] = {}
_lock = threading.Lock()


def forget_tokens() -> None:
    with _lock:
        _tokens.clear()


def client_assertion(consumer: Consumer, private_key_pem: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": consumer.client_id,
        "sub": consumer.client_id,
        "aud": consumer.token_url,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": consumer.key_id} if consumer.key_id else None
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers=headers)


def _post(
    settings: Settings, resolved: ResolvedUrl, body: bytes, headers: dict[str, str]
) -> tuple[Delivery, bytes]:
    try:
        answer = lti_http.post(
            scheme=resolved.scheme,
            address=resolved.addresses[0],
            host=resolved.host,
            host_header=resolved.host_header,
            port=resolved.port,
            target=resolved.target,
            body=body,
            headers=headers,
            timeout_s=settings.lti_request_timeout_seconds,
            ca_bundle=settings.lti_ca_bundle,
        )
    except lti_http.TransportError as error:
        return Delivery(False, True, None, str(error)[:500]), b""
    ok = 200 <= answer.status < 300
    transient = answer.status >= 500 or answer.status in (401, 408, 429)
    return Delivery(ok, not ok and transient, answer.status, excerpt(answer.body)), answer.body


def access_token(settings: Settings, consumer: Consumer, private_key_pem: str) -> str:
    """A cached token for the score scope, or a new one; raises ``TokenRefused`` or ``UrlRefused``."""
    cache_key = (consumer.key, SCORE_SCOPE)
    with _lock:
        cached = _tokens.get(cache_key)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached.value
    resolved = check_url(settings, consumer.token_url or "")
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(consumer, private_key_pem),
            "scope": SCORE_SCOPE,
        }
    ).encode()
    delivery, raw = _post(
        settings,
        resolved,
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    if not delivery.ok:
        raise TokenRefused(delivery)
    try:
        answer = json.loads(raw)
        token = str(answer["access_token"])
        lifetime = int(answer.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError) as error:
        raise TokenRefused(
            Delivery(False, False, delivery.http_status, f"no access_token in the answer: {delivery.detail}")
        ) from error
    with _lock:
        _tokens[cache_key] = _Token(token, time.monotonic() + max(0, lifetime - TOKEN_MARGIN_S))
    return token


def drop_token(consumer: Consumer) -> None:
    with _lock:
        _tokens.pop((consumer.key, SCORE_SCOPE), None)


def scores_url(lineitem_url: str) -> str:
    """``<line item>/scores``, keeping the line item's query string where it belongs."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def score_body(platform_user_id: str, score: float, when: datetime | None = None) -> bytes:
    stamp = (when or datetime.now(UTC)).isoformat(timespec="milliseconds")
    return json.dumps(
        {
            "userId": platform_user_id,
            "scoreGiven": score,
            "scoreMaximum": 1.0,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": stamp,
        }
    ).encode()


def publish_score(
    settings: Settings,
    consumer: Consumer,
    private_key_pem: str,
    lineitem_url: str,
    platform_user_id: str,
    score: float,
) -> Delivery:
    """POST the score to the line item's scores endpoint (URL checked first; ``UrlRefused`` if not)."""
    resolved = check_url(settings, scores_url(lineitem_url))
    try:
        token = access_token(settings, consumer, private_key_pem)
    except TokenRefused as refused:
        return refused.delivery
    delivery, _ = _post(
        settings,
        resolved,
        score_body(platform_user_id, score),
        {"Content-Type": SCORE_CONTENT_TYPE, "Authorization": f"Bearer {token}"},
    )
    if delivery.http_status == 401:
        drop_token(consumer)  # expired or revoked early: the retry fetches a new one
    return delivery
