"""Course email on moto: its table, a verified sending domain, the configuration set, SES's quota.

moto's SES answers ``GetSendQuota`` with a fixed 1 message/s and 200 a day; a real account has its
own (the sandbox: 1/s, 200/day; production accounts start at 14/s, 50,000/day and grow). The local
stack sets moto's answer (``ses_quota``) so sends pace themselves as they would on such an account.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from functions.dal.clients import client
from functions.dal.email_repo import create_table
from functions.settings import Settings

LOCAL_CONFIGURATION_SET = "itask-course-email"
DEFAULT_MAX_SEND_RATE = 200.0
DEFAULT_MAX_24_HOUR_SEND = 1_000_000.0


def ses_quota(
    max_send_rate: float = DEFAULT_MAX_SEND_RATE, max_24_hour_send: float = DEFAULT_MAX_24_HOUR_SEND
) -> None:
    """What moto's SES answers to GetSendQuota from now on (this process)."""
    from moto.ses import models

    def quota_init(self: Any, sent: int) -> None:
        self.sent_last24_hours = sent
        self.max24_hour_send = max_24_hour_send
        self.max_send_rate = max_send_rate

    models.SESQuota.__init__ = quota_init  # type: ignore[method-assign]


def provision_email(settings: Settings) -> Settings:
    create_table(settings)
    # SES sends from verified identities: the domain of the course email address (course from
    # addresses are <course number>-<address>, so the domain, not one address, is verified).
    domain = parseaddr(settings.email_from)[1].rpartition("@")[2]
    client("ses", settings.region).verify_domain_identity(Domain=domain)
    configuration_set = settings.email_configuration_set or LOCAL_CONFIGURATION_SET
    client("sesv2", settings.region).create_configuration_set(ConfigurationSetName=configuration_set)
    return settings.model_copy(update={"email_configuration_set": configuration_set})
