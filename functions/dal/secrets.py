"""Secrets from AWS Secrets Manager, read with Powertools' parameters utility and cached.

The stack creates every secret of ``functions.catalog.SECRETS`` and gives the functions that read
it its ARN (``ITASK_<NAME>_SECRET_ARN``); the local stack creates them on moto. There is no default
value anywhere: a secret that is not configured, or cannot be read, is a ``ConfigurationError``.
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from functions.catalog import SECRETS
from functions.dal.clients import client
from functions.errors import ConfigurationError
from functions.settings import Settings

_lock = threading.Lock()
_providers: dict[int, SecretsProvider] = {}


def _provider(boto_client: Any) -> SecretsProvider:
    # One provider (and one cache) per client: a new client (tests, the local stack) starts afresh.
    with _lock:
        found = _providers.get(id(boto_client))
        if found is None:
            _providers.clear()
            found = _providers[id(boto_client)] = SecretsProvider(boto3_client=boto_client)
        return found


class SecretStore:
    def __init__(self, settings: Settings):
        self._settings = settings

    def get(self, name: str) -> str:
        """The value of secret ``name`` (a ``SECRETS`` entry)."""
        spec = SECRETS[name]
        return self.read(str(getattr(self._settings, spec.setting)), name, spec.env)

    def read(self, arn: str, name: str, env: str) -> str:
        """The value of the secret whose ARN setting ``env`` holds ``arn``."""
        if not arn:
            raise ConfigurationError(
                f"{env} is not set: the {name} secret comes from Secrets Manager (the stack "
                "creates it and sets its ARN); refusing to run without it."
            )
        provider = _provider(client("secretsmanager", self._settings.region))
        try:
            value = provider.get(arn, max_age=self._settings.secrets_max_age_seconds)
        except GetParameterError as error:
            raise ConfigurationError(f"The {name} secret ({env}={arn}) could not be read: {error}") from error
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"The {name} secret ({env}={arn}) is empty or not text.")
        return value

    def require(self, names: tuple[str, ...]) -> None:
        """Read every secret of ``names`` now (cached): a function refuses to start without them."""
        for name in names:
            self.get(name)
