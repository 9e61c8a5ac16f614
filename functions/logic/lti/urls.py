"""Outcome URL checks against server-side request forgery (spec §8.4), at launch and before each send.

The addresses checked are the addresses connected to: ``ResolvedUrl`` carries them to the transport,
which connects to the checked address itself (a second DNS answer cannot point it elsewhere).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from functions.settings import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048


class UrlRefused(Exception):
    """The URL may not be called; the message says why (shown to the caller and kept in the ledger)."""


@dataclass(frozen=True)
class ResolvedUrl:
    url: str
    scheme: str
    host: str  # as written (lowercase), for the Host header, SNI and certificate checks
    port: int
    target: str  # path and query, as sent on the request line
    addresses: tuple[str, ...]  # every address the host resolved to, each one checked

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def allowed_hosts(settings: Settings) -> list[str]:
    return [h.strip().lower().rstrip(".") for h in settings.lti_outcome_allowed_hosts.split(",") if h.strip()]


def _address_refusal(address: IpAddress, settings: Settings) -> str | None:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address.is_loopback:
        return None if settings.lti_outcome_allow_loopback else "loopback"
    for name in ("private", "link_local", "reserved", "multicast", "unspecified"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    if not address.is_global:
        return "not public"
    return None


def check_url(settings: Settings, url: str, resolve: bool = True) -> ResolvedUrl:
    """The URL's parts and checked addresses; ``UrlRefused`` when any rule fails.

    ``resolve=False`` checks everything but DNS (bulk loads); sends always resolve.
    """
    if not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused("the outcome service URL is empty or too long")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"the outcome service URL is malformed: {error}") from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused(f"scheme {scheme or '(none)'!r} is not allowed: use https")
    if scheme == "http" and not settings.lti_outcome_allow_http:
        raise UrlRefused("plain http is not allowed: use https")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UrlRefused("the outcome service URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("credentials in the outcome service URL are not allowed")
    hosts = allowed_hosts(settings)
    if hosts and not any(host == allowed or host.endswith(f".{allowed}") for allowed in hosts):
        raise UrlRefused(f"host {host} is not in the allowed outcome service hosts")
    port = port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: tuple[str, ...] = (str(literal),)
    elif not resolve:
        return ResolvedUrl(url, scheme, host, port, target, ())
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise UrlRefused(f"host {host} does not resolve: {error}") from error
        addresses = tuple(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
        if not addresses:
            raise UrlRefused(f"host {host} does not resolve")
    for text in addresses:
        refusal = _address_refusal(ipaddress.ip_address(text), settings)
        if refusal:
            raise UrlRefused(f"host {host} resolves to a {refusal} address ({text})")
    return ResolvedUrl(url, scheme, host, port, target, addresses)
