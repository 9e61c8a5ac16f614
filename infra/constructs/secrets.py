"""The service's secrets (``functions.catalog.SECRETS``) in Secrets Manager, with generated values.

Functions get a secret's ARN in their environment (``ITASK_<NAME>_SECRET_ARN``), never its value;
read access is granted in ``infra/constructs/permissions.py``, to the functions that list it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from functions.catalog import FUNCTIONS, SECRETS, SecretSpec
from infra.constructs.functions import pascal_case
from infra.nag import acknowledge

SECRET_LENGTH = 64

_NOT_ROTATED_REASON = (
    "Not rotated on purpose: this key makes the anonymized learner ids of reports; a new key would "
    "give every learner a new id, breaking what researchers joined on. Rotate it by hand, knowingly."
)


class ServiceSecrets(Construct):
    """One Secrets Manager secret per SECRETS entry; its ARN in the environment of the functions
    that read it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.Function],
        specs: Mapping[str, SecretSpec] = SECRETS,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for name, spec in specs.items():
            secret = secretsmanager.Secret(
                self,
                pascal_case(name),
                description=spec.description,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=SECRET_LENGTH, exclude_punctuation=True
                ),
                # Losing the secret loses what it keys (every anonymized id): keep it.
                removal_policy=RemovalPolicy.RETAIN,
            )
            if not spec.rotate:
                acknowledge(secret, "AwsSolutions-SMG4", _NOT_ROTATED_REASON)
            self.secrets[name] = secret
            for function_name, fn in functions.items():
                if name in FUNCTIONS[function_name].secrets:
                    fn.add_environment(spec.env, secret.secret_arn)

    def __getitem__(self, name: str) -> secretsmanager.Secret:
        return self.secrets[name]
