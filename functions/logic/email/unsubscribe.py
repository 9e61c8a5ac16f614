"""Signed per-recipient unsubscribe links (upstream: an encrypted username token in an LMS URL).

A token names (learner, course) and carries an HMAC-SHA256 of them under the deployment's secret:
anyone holding the link can opt that learner out of that course's email, nobody can make one for
another learner or course, and an altered token is refused. Links do not expire: a message's
unsubscribe link must keep working long after it was sent (RFC 8058 one-click, CAN-SPAM's 30 days).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import NamedTuple
from urllib.parse import quote

from functions.errors import BadRequest

_VERSION = "1"
_PURPOSE = b"itask-unsubscribe|"
_MAC_BYTES = 16  # 128-bit tag: forging one is out of reach, and links stay short
INVALID_LINK = "This unsubscribe link is not valid. Use the link of a message you received."


class Unsubscribe(NamedTuple):
    user_id: int
    course_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), _PURPOSE + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_token(secret: str, user_id: int, course_id: str) -> str:
    payload = f"{_VERSION}|{user_id}|{course_id}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_token(secret: str, token: str) -> Unsubscribe:
    """The (learner, course) a token names; 400 for anything not made by ``make_token`` with this secret."""
    encoded, dot, signature = token.partition(".")
    if not dot or not encoded or not signature or len(token) > 1024:
        raise BadRequest(INVALID_LINK)
    try:
        payload, tag = _unb64(encoded), _unb64(signature)
    except (binascii.Error, ValueError):
        raise BadRequest(INVALID_LINK) from None
    if not hmac.compare_digest(tag, _mac(secret, payload)):
        raise BadRequest(INVALID_LINK)
    try:
        version, user_id, course_id = payload.decode("utf-8").split("|", 2)
        if version != _VERSION or not course_id:
            raise ValueError(version)
        return Unsubscribe(int(user_id), course_id)
    except ValueError:
        raise BadRequest(INVALID_LINK) from None


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/email/unsubscribe/{quote(token, safe='')}"
