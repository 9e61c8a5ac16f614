"""SES v2 for course email: one raw message per call, its answer classified (spec §6.4, by v2 codes).

botocore never repeats a SendEmail here (a repeat of a request SES accepted is a second message): the
caller decides, from the class of the answer, whether trying again is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from functions.dal.clients import client
from functions.settings import Settings


class Answer(StrEnum):
    SENT = "sent"
    # Slow down and try the same message again; not a failure (throttling, a rate or daily limit,
    # a 5xx that says SES did not take the message).
    RETRY = "retry"
    # This recipient only: the message was refused (address, content, an unverified sender).
    REJECTED = "rejected"
    # The account cannot send at all now: stop, keep what is done, resume later.
    PAUSED = "paused"
    # The request may have reached SES and we cannot know whether it was accepted.
    UNKNOWN = "unknown"


THROTTLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "LimitExceeded",
        "Throttling",
        "ThrottlingException",
    }
)
# Answers that SES gives without taking the message: safe to send again after a pause.
SERVER_RETRY_CODES = frozenset(
    {"InternalFailure", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException"}
)
REJECTED_CODES = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "MailFromDomainNotVerified",
        "FromEmailAddressNotVerifiedException",
        "FromEmailAddressNotVerified",
        "BadRequestException",  # e.g. an address SES cannot parse
        "InvalidParameterValue",
    }
)
PAUSED_CODES = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
    }
)
# Failures before any byte reached SES: nothing was sent, trying again is safe.
_NOT_SENT_ERRORS = (EndpointConnectionError, ConnectTimeoutError)


@dataclass(frozen=True)
class SendResult:
    answer: Answer
    message_id: str = ""
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class SendQuota:
    max_send_rate: float
    max_24_hour_send: float
    sent_last_24_hours: float


def classify(error: BaseException) -> SendResult:
    """What an exception from SendEmail means for the message."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        message = str(details.get("Message", ""))
        if code in THROTTLE_CODES or code in SERVER_RETRY_CODES:
            return SendResult(Answer.RETRY, code=code, message=message)
        if code in PAUSED_CODES:
            return SendResult(Answer.PAUSED, code=code, message=message)
        if code in REJECTED_CODES:
            return SendResult(Answer.REJECTED, code=code, message=message)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if 400 <= status < 500:
            # Another refusal of this request (not of the account): the message was not accepted.
            return SendResult(Answer.REJECTED, code=code or str(status), message=message)
        return SendResult(Answer.UNKNOWN, code=code or str(status), message=message)
    if isinstance(error, _NOT_SENT_ERRORS):
        return SendResult(Answer.RETRY, code=type(error).__name__, message=str(error))
    # A read timeout, a closed connection, anything else: SES may have taken it.
    return SendResult(Answer.UNKNOWN, code=type(error).__name__, message=str(error))


class SesMail:
    def __init__(self, settings: Settings):
        self._region = settings.region
        self._configuration_set = settings.email_configuration_set

    def send_raw(
        self, from_address: str, to_address: str, raw: bytes, tags: dict[str, str] | None = None
    ) -> SendResult:
        """Send one MIME message; never raises for an answer of SES or the network (see ``Answer``)."""
        request: dict[str, object] = {
            "FromEmailAddress": from_address,
            "Destination": {"ToAddresses": [to_address]},
            "Content": {"Raw": {"Data": raw}},
        }
        if tags:
            request["EmailTags"] = [{"Name": name, "Value": value} for name, value in tags.items()]
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = client("sesv2", self._region, single_attempt=True).send_email(**request)
        except Exception as error:  # every failure is classified: the caller must know what it means
            return classify(error)
        return SendResult(Answer.SENT, message_id=str(response.get("MessageId", "")))

    def quota(self) -> SendQuota:
        """The account's sending limits (SES v1 GetSendQuota; v2 GetAccount gives the same)."""
        answer = client("ses", self._region).get_send_quota()
        return SendQuota(
            max_send_rate=float(answer.get("MaxSendRate") or 1.0),
            max_24_hour_send=float(answer.get("Max24HourSend") or 0.0),
            sent_last_24_hours=float(answer.get("SentLast24Hours") or 0.0),
        )
