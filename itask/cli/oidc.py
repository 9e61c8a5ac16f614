"""Sign-in by the OAuth 2.0 device authorization grant (RFC 8628) against an OpenID provider.

``itask login`` finds the provider's endpoints in its discovery document, asks for a device code,
shows the user code and where to enter it, and polls the token endpoint at the pace the provider
sets (``interval``, raised by 5 s on ``slow_down``, doubled after a timeout) until the user approves,
refuses, or the code expires. :class:`StoredLoginAuth` then sends the stored token with every API
request and refreshes it with the refresh token when it has expired or the API refuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from itask.cli import credentials
from itask.cli.credentials import StoredLogin
from itask.cli.errors import CliError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL_S = 5  # RFC 8628 §3.2: when the provider names none
SLOW_DOWN_STEP_S = 5  # RFC 8628 §3.5
DEFAULT_SCOPE = "openid offline_access"


@dataclass
class Provider:
    issuer: str
    device_authorization_endpoint: str
    token_endpoint: str


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _oauth_error(body: dict[str, Any], response: httpx.Response) -> str:
    error = str(body.get("error") or f"HTTP {response.status_code}")
    description = body.get("error_description")
    return f"{error}: {description}" if description else error


def discover(http: httpx.Client, issuer: str) -> Provider:
    """Read ``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery §4)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = http.get(url)
    if response.status_code != 200:
        raise CliError(f"no OpenID configuration at {url} (HTTP {response.status_code})")
    doc = _json(response)
    if not doc:
        raise CliError(f"the OpenID configuration at {url} is not a JSON object")
    # §4.3: the document must name the issuer it was fetched for, or it is someone else's.
    if str(doc.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise CliError(
            f"the OpenID configuration at {url} is for issuer {doc.get('issuer')!r}, not {issuer!r}"
        )
    device = doc.get("device_authorization_endpoint")
    token = doc.get("token_endpoint")
    if not device:
        raise CliError(
            f"{issuer} does not offer the device authorization grant (no device_authorization_endpoint)"
        )
    if not token:
        raise CliError(f"the OpenID configuration of {issuer} names no token_endpoint")
    return Provider(issuer=issuer, device_authorization_endpoint=str(device), token_endpoint=str(token))


def request_device_code(http: httpx.Client, provider: Provider, client_id: str, scope: str) -> DeviceCode:
    """RFC 8628 §3.1-3.2."""
    form = {"client_id": client_id, **({"scope": scope} if scope else {})}
    response = http.post(provider.device_authorization_endpoint, data=form)
    body = _json(response)
    if response.status_code != 200:
        raise CliError(f"{provider.issuer} refused the sign-in request: {_oauth_error(body, response)}")
    missing = [key for key in ("device_code", "user_code", "verification_uri") if not body.get(key)]
    if missing:
        raise CliError(f"the device authorization answer of {provider.issuer} lacks {', '.join(missing)}")
    return DeviceCode(
        device_code=str(body["device_code"]),
        user_code=str(body["user_code"]),
        verification_uri=str(body["verification_uri"]),
        verification_uri_complete=body.get("verification_uri_complete"),
        expires_in=float(body.get("expires_in") or 600),
        interval=float(body.get("interval") or DEFAULT_INTERVAL_S),
    )


def poll_for_token(
    http: httpx.Client,
    provider: Provider,
    client_id: str,
    device: DeviceCode,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the token endpoint until the user approves (RFC 8628 §3.4-3.5); the token answer."""
    interval = device.interval
    deadline = time.monotonic() + device.expires_in
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": device.device_code, "client_id": client_id}
    while True:
        sleep(interval)
        if time.monotonic() >= deadline:
            raise CliError("the sign-in code expired before it was approved: run `itask login` again")
        try:
            response = http.post(provider.token_endpoint, data=form)
        except httpx.TimeoutException:
            interval *= 2  # §3.5: back off when the provider does not answer in time
            continue
        body = _json(response)
        if response.status_code == 200 and body.get("access_token"):
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP_S
            continue
        if error == "access_denied":
            raise CliError("the sign-in was refused at the provider")
        if error == "expired_token":
            raise CliError("the sign-in code expired before it was approved: run `itask login` again")
        raise CliError(
            f"the token endpoint of {provider.issuer} refused the sign-in: {_oauth_error(body, response)}"
        )


def stored_login(provider: Provider, client_id: str, answer: dict[str, Any], scope: str) -> StoredLogin:
    return StoredLogin(
        issuer=provider.issuer,
        client_id=client_id,
        token_endpoint=provider.token_endpoint,
        access_token=str(answer["access_token"]),
        refresh_token=answer.get("refresh_token"),
        expires_at=time.time() + float(answer["expires_in"])
        if answer.get("expires_in") is not None
        else None,
        scope=answer.get("scope") or scope or None,
    )


class StoredLoginAuth(httpx.Auth):
    """Bearer token from ``itask login``; refreshed before it expires, and once more on a 401."""

    requires_response_body = True  # to read the refresh answer inside the flow

    def __init__(self, api_url: str, login: StoredLogin):
        self.api_url, self.login = api_url, login
        self.refreshed = False

    def _refresh_request(self) -> httpx.Request:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.login.refresh_token or "",
            "client_id": self.login.client_id,
        }
        return httpx.Request(
            "POST", self.login.token_endpoint, data=form, headers={"Accept": "application/json"}
        )

    def _take_refresh(self, response: httpx.Response) -> None:
        body = _json(response)
        if response.status_code != 200 or not body.get("access_token"):
            raise CliError(
                f"the sign-in for {self.api_url} has expired and could not be renewed "
                f"({_oauth_error(body, response)}): run `itask --api {self.api_url} login` again"
            )
        self.login.access_token = str(body["access_token"])
        # §6 of RFC 6749: a new refresh token replaces the old one; none means keep the old one.
        self.login.refresh_token = body.get("refresh_token") or self.login.refresh_token
        expires_in = body.get("expires_in")
        self.login.expires_at = time.time() + float(expires_in) if expires_in is not None else None
        credentials.save(self.api_url, self.login)
        self.refreshed = True

    def _expired_error(self) -> CliError:
        return CliError(
            f"the sign-in for {self.api_url} has expired (no refresh token): "
            f"run `itask --api {self.api_url} login` again"
        )

    def ensure_fresh(self, http: httpx.Client) -> None:
        """Refresh now if the token has expired (for `itask token`, which sends no API request)."""
        if self.login.expired():
            if not self.login.refresh_token:
                raise self._expired_error()
            self._take_refresh(http.send(self._refresh_request()))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.login.expired():
            if not self.login.refresh_token:
                raise self._expired_error()
            self._take_refresh((yield self._refresh_request()))
        request.headers["Authorization"] = f"Bearer {self.login.access_token}"
        response = yield request
        if response.status_code == 401 and self.login.refresh_token and not self.refreshed:
            self._take_refresh((yield self._refresh_request()))
            request.headers["Authorization"] = f"Bearer {self.login.access_token}"
            yield request
