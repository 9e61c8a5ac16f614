"""Open edX JWTs (functions/logic/openedx_auth.py) against a stand-in LMS serving its key set over
HTTP (tests/helpers/lms_standin.py): header and split-cookie forms, refusals with DRF's messages,
the key-set cache and key rotation, and Django's CSRF check for cookie-borne tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from functions.errors import Forbidden, Unauthorized
from functions.logic import openedx_auth
from functions.settings import Settings
from tests.helpers.lms_standin import StandInLms, csrf_masked, csrf_secret, new_key, split_cookies


@pytest.fixture(scope="module")
def lms() -> Iterator[StandInLms]:
    with StandInLms() as server:
        yield server


def settings_for(lms: StandInLms, **extra: Any) -> Settings:
    # A distinct cache lifespan per test keeps the process-wide key-set client of one test from
    # serving another test's fetch counts.
    return Settings(
        openedx_jwt_issuer=lms.issuer,
        openedx_jwt_audience=lms.audience,
        openedx_jwks_url=lms.jwks_url,
        **extra,
    )


def event(headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"headers": headers or {}}
    if cookies:
        found["cookies"] = [f"{name}={value}" for name, value in cookies.items()]
    return found


def test_a_header_token_names_the_user_and_its_staff_flag(lms):
    token = lms.mint("ada", administrator=True, user_id=77)
    identity = openedx_auth.authenticate(settings_for(lms), event({"Authorization": f"JWT {token}"}))
    assert identity.username == "ada"
    assert identity.subject == "openedx:ada"
    assert identity.global_staff is True
    assert identity.user_id == 77
    assert identity.email == "ada@lms.example.org"
    assert identity.via == "header"
    plain = openedx_auth.authenticate(
        settings_for(lms), event({"authorization": f"Bearer {lms.mint('bob')}"})
    )
    assert (plain.username, plain.global_staff) == ("bob", False)


def test_the_split_cookies_are_reassembled(lms):
    token = lms.mint("carol")
    identity = openedx_auth.authenticate(settings_for(lms), event(cookies=split_cookies(token)))
    assert (identity.username, identity.via) == ("carol", "cookie")
    # Only the header-and-payload half (what a script can read) is no token.
    half = {"edx-jwt-cookie-header-payload": split_cookies(token)["edx-jwt-cookie-header-payload"]}
    with pytest.raises(Unauthorized, match="credentials were not provided"):
        openedx_auth.authenticate(settings_for(lms), event(cookies=half))
    # A Cookie header (not the payload 2.0 list) is read too.
    header = "; ".join(f"{name}={value}" for name, value in split_cookies(token).items())
    assert openedx_auth.authenticate(settings_for(lms), event({"Cookie": header})).username == "carol"


def test_the_header_wins_over_the_cookies(lms):
    identity = openedx_auth.authenticate(
        settings_for(lms),
        event({"Authorization": f"JWT {lms.mint('dave')}"}, split_cookies(lms.mint("eve"))),
    )
    assert (identity.username, identity.via) == ("dave", "header")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda lms: lms.mint("x", exp=int(time.time()) - 5), "Signature has expired."),
        (lambda lms: lms.mint("x", iss="https://other-lms.example.org/oauth2"), "Invalid token issuer."),
        (lambda lms: lms.mint("x", aud="another-audience"), "Invalid token audience."),
        (lambda lms: lms.mint("x", key=new_key()), "Invalid token signature."),
        (lambda lms: lms.mint("x", key=new_key(), kid="not-the-lms-key"), "Token signed by an unknown key."),
        (lambda lms: lms.mint("x", exp=None), "Invalid token"),
        (lambda lms: lms.mint("x", preferred_username=None), "no preferred_username"),
        (lambda lms: lms.mint("x", is_restricted=True), "restricted applications"),
        (lambda lms: lms.mint("x", iat=int(time.time()), exp=int(time.time()) + 30 * 86400), "lives"),
        (lambda lms: "not.a.token", "Error decoding token."),
    ],
    ids=[
        "expired",
        "another issuer",
        "another audience",
        "another key",
        "unknown key id",
        "no expiry",
        "no username",
        "restricted application",
        "lives too long",
        "garbage",
    ],
)
def test_refused_tokens_say_why(lms, make, message):
    with pytest.raises(Unauthorized, match=message) as refused:
        openedx_auth.authenticate(settings_for(lms), event({"Authorization": f"JWT {make(lms)}"}))
    assert refused.value.status == 401


def test_only_asymmetric_signatures_are_accepted(lms):
    """``none`` and a shared secret are refused even when the claims are right: an HS256 token
    keyed with the public key (the classic confusion attack) included."""
    claims = lms.claims("mallory", administrator=True)
    unsigned = jwt.encode(claims, None, algorithm="none")
    # Signed by hand: PyJWT itself refuses to use a public key as an HMAC secret.
    public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(lms.key.public_key()).encode()
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "HS256", "typ": "JWT", "kid": lms.kid}, claims)
    )
    mac = hmac.new(public_jwk, signing_input.encode(), hashlib.sha256).digest()
    hmac_signed = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    for token in (unsigned, hmac_signed):
        with pytest.raises(Unauthorized, match="algorithm"):
            openedx_auth.authenticate(settings_for(lms), event({"Authorization": f"JWT {token}"}))


def test_other_schemes_and_unconfigured_service_are_refused(lms):
    with pytest.raises(Unauthorized, match="expected 'JWT <token>'"):
        openedx_auth.authenticate(settings_for(lms), event({"Authorization": f"Basic {lms.mint('x')}"}))
    with pytest.raises(Unauthorized, match="not accepted here"):
        unconfigured = Settings(openedx_jwt_issuer="", openedx_jwt_audience="")
        openedx_auth.authenticate(unconfigured, event({"Authorization": f"JWT {lms.mint('x')}"}))


def test_keys_are_fetched_once_and_again_after_a_rotation(lms):
    settings = settings_for(lms, openedx_jwks_cache_seconds=3599)
    before = lms.fetches
    for number in range(20):
        token = lms.mint(f"user{number}")
        assert openedx_auth.authenticate(settings, event({"Authorization": f"JWT {token}"})).username
    assert lms.fetches - before == 1  # twenty tokens, one key-set fetch
    lms.rotate()
    token = lms.mint("after-rotation")  # a new kid: not in the cached set
    assert openedx_auth.authenticate(settings, event({"Authorization": f"JWT {token}"})).username == (
        "after-rotation"
    )
    assert lms.fetches - before == 2


def test_an_inline_key_set_needs_no_fetch(lms):
    settings = Settings(
        openedx_jwt_issuer=lms.issuer, openedx_jwt_audience=lms.audience, openedx_jwks=json.dumps(lms.jwks())
    )
    before = lms.fetches
    identity = openedx_auth.authenticate(settings, event({"Authorization": f"JWT {lms.mint('zed')}"}))
    assert identity.username == "zed"
    assert lms.fetches == before


# ---- CSRF ----
def csrf_event(cookie_secret: str | None, header: str | None, **headers: str) -> dict[str, Any]:
    found = {"host": "api.example.org", "x-forwarded-proto": "https", "referer": "https://api.example.org/x"}
    found.update(headers)
    if header is not None:
        found["X-CSRFToken"] = header
    return event(found, {"csrftoken": cookie_secret} if cookie_secret else None)


def test_safe_methods_need_no_csrf_token():
    openedx_auth.check_csrf(Settings(), "GET", csrf_event(None, None))


def test_a_post_passes_with_the_cookie_and_the_masked_header():
    secret = csrf_secret()
    openedx_auth.check_csrf(Settings(), "POST", csrf_event(secret, csrf_masked(secret)))
    openedx_auth.check_csrf(Settings(), "POST", csrf_event(csrf_masked(secret), csrf_masked(secret)))
    openedx_auth.check_csrf(Settings(), "POST", csrf_event(secret, secret))


@pytest.mark.parametrize(
    ("cookie", "header", "headers", "message"),
    [
        (None, "x" * 32, {}, "CSRF cookie not set."),
        ("a" * 32, None, {}, "CSRF token missing."),
        ("a" * 32, "b" * 32, {}, "CSRF token incorrect."),
        ("a" * 32, "a" * 31, {}, "incorrect length"),
        ("a" * 32, "a" * 31 + "!", {}, "invalid characters"),
        ("a" * 32, "a" * 32, {"origin": "https://evil.example.com"}, "Origin checking failed"),
        ("a" * 32, "a" * 32, {"referer": ""}, "Referer checking failed"),
        ("a" * 32, "a" * 32, {"referer": "https://evil.example.com/page"}, "Referer is not trusted"),
    ],
    ids=[
        "no cookie",
        "no header",
        "another secret",
        "short",
        "bad characters",
        "origin",
        "no referer",
        "referer",
    ],
)
def test_a_post_without_a_matching_csrf_token_is_refused(cookie, header, headers, message):
    with pytest.raises(Forbidden, match=message) as refused:
        openedx_auth.check_csrf(Settings(), "POST", csrf_event(cookie, header, **headers))
    assert refused.value.status == 403


def test_another_secret_masked_is_still_refused():
    secret, other = csrf_secret(), csrf_secret()
    with pytest.raises(Forbidden, match="incorrect"):
        openedx_auth.check_csrf(Settings(), "POST", csrf_event(secret, csrf_masked(other)))


def test_a_trusted_origin_may_post():
    """The instructor dashboard runs on the MFE domain (apps.lms...) and posts to the LMS domain."""
    secret = csrf_secret()
    settings = Settings(openedx_csrf_trusted_origins="https://apps.lms.example.org")
    openedx_auth.check_csrf(
        settings, "POST", csrf_event(secret, csrf_masked(secret), origin="https://apps.lms.example.org")
    )
    with pytest.raises(Forbidden):
        openedx_auth.check_csrf(
            Settings(), "POST", csrf_event(secret, csrf_masked(secret), origin="https://apps.lms.example.org")
        )
