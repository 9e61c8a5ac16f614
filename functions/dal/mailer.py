"""Email through SES (locally, moto's SES)."""

from __future__ import annotations

from functions.dal.clients import client
from functions.settings import Settings


class Mailer:
    def __init__(self, settings: Settings):
        self._sender = settings.notify_from
        self._ses = client("ses", settings.region)

    def send(self, to: str, subject: str, text: str) -> str:
        response = self._ses.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            },
        )
        message_id: str = response["MessageId"]
        return message_id
