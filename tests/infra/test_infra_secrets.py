"""Secrets (issue #8.9): created by the stack with generated values, read only by the functions that
list them, given to them as ARNs (never values), and no function falls back to a default."""

from __future__ import annotations

from typing import Any

from infra_support import Synthesized

from functions.catalog import FUNCTIONS, SECRETS


def _environment(synthesized: Synthesized, name: str) -> dict[str, Any]:
    properties = synthesized.resource(synthesized.stack.functions[name])["Properties"]
    return properties.get("Environment", {}).get("Variables", {})


def _readers(synthesized: Synthesized, secret_id: str) -> set[str]:
    """Logical ids of the roles whose policies allow reading the secret."""
    secret_refs = [
        {"Ref": synthesized.logical_id(secret)} for secret in synthesized.stack.secrets.secrets.values()
    ]
    roles = set()
    for resource in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "secretsmanager:GetSecretValue" in actions:
                # Named secrets only (IAM merges a function's grants on several into one statement)
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                assert all(found in secret_refs for found in resources), statement
                if {"Ref": secret_id} in resources:
                    roles.update(role["Ref"] for role in resource["Properties"]["Roles"])
    return roles


def test_every_secret_is_created_with_a_generated_value_and_kept(synthesized: Synthesized) -> None:
    secrets = synthesized.of_type("AWS::SecretsManager::Secret")
    assert len(secrets) == len(SECRETS)
    for name in SECRETS:
        resource = synthesized.resource(synthesized.stack.secrets[name])
        generated = resource["Properties"]["GenerateSecretString"]
        assert generated["PasswordLength"] >= 32
        assert "SecretString" not in resource["Properties"]  # no value in the template
        assert resource["DeletionPolicy"] == "Retain"


def test_only_the_functions_that_list_a_secret_get_its_arn_and_may_read_it(synthesized: Synthesized) -> None:
    for name, spec in SECRETS.items():
        secret_id = synthesized.logical_id(synthesized.stack.secrets[name])
        readers = {n for n, fn in FUNCTIONS.items() if name in fn.secrets}
        assert readers, f"no function reads the {name} secret"
        expected_roles = {
            synthesized.logical_id(synthesized.stack.functions[n].role)  # type: ignore[arg-type]
            for n in readers
        }
        assert _readers(synthesized, secret_id) == expected_roles
        for function_name in FUNCTIONS:
            variables = _environment(synthesized, function_name)
            if function_name in readers:
                assert variables[spec.env] == {"Ref": secret_id}
            else:
                assert spec.env not in variables


def test_no_function_carries_a_secret_value(synthesized: Synthesized) -> None:
    for name in FUNCTIONS:
        variables = _environment(synthesized, name)
        assert "ITASK_ANONYMIZATION_SECRET" not in variables
        assert not any(
            "local" in str(value).lower() and "secret" in key.lower() for key, value in variables.items()
        )
