"""What SES delivered: moto keeps every message it accepted; read them back per recipient address.

moto's SES v2 SendEmail with raw content stores the MIME text as received (one ``RawMessage`` per
call, its destinations as given plus the MIME ``To``), so a test counts messages per address and
reads them (headers, text and HTML parts) exactly as a mailbox would.
"""

from __future__ import annotations

import email
from collections import Counter
from collections.abc import Iterable
from email.message import EmailMessage
from email.policy import default
from email.utils import parseaddr
from typing import Any

LOCAL_ACCOUNT = "123456789012"


def _backend(region: str) -> Any:
    from moto.ses.models import ses_backends

    return ses_backends[LOCAL_ACCOUNT][region]


def _addresses(message: Any) -> set[str]:
    return {parseaddr(destination)[1].lower() for destination in getattr(message, "destinations", [])}


class Mailbox:
    """Every message moto's SES took since ``mark()`` (or since the mailbox was made)."""

    def __init__(self, region: str = "us-east-1"):
        self.region = region
        self._start = len(_backend(region).sent_messages)

    def mark(self) -> None:
        self._start = len(_backend(self.region).sent_messages)

    def _raw(self) -> list[Any]:
        return list(_backend(self.region).sent_messages[self._start :])

    def counts(self, addresses: Iterable[str] | None = None) -> Counter[str]:
        """Messages per address (each message counted once per address it went to)."""
        found: Counter[str] = Counter()
        for message in self._raw():
            for address in _addresses(message):
                found[address] += 1
        if addresses is None:
            return found
        wanted = {address.lower() for address in addresses}
        return Counter({address: count for address, count in found.items() if address in wanted})

    def messages_to(self, address: str) -> list[EmailMessage]:
        address = address.lower()
        return [
            email.message_from_string(message.raw_data, policy=default)  # type: ignore[misc]
            for message in self._raw()
            if address in _addresses(message) and hasattr(message, "raw_data")
        ]

    def total(self) -> int:
        return len(self._raw())


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a text and an HTML part"
    return str(text.get_content()), str(html.get_content())
