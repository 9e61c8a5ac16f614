"""An LTI consumer's registration: the fields of its version only, and a tool key that can sign.

Pure checks (no AWS): what the admin routes refuse with a 400 before anything is stored.
"""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from functions.errors import BadRequest
from functions.logic.lti.admin import ConsumerRegistration, _tool_key

PLATFORM = {
    "key": "moodle",
    "name": "Moodle",
    "lti_version": "1.3",
    "issuer": "https://moodle.example.org",
    "client_id": "abc",
    "token_url": "https://moodle.example.org/token",
}


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": "c", "name": "C"}, "an LTI 1.1 consumer needs its shared secret"),
        (
            {"key": "c", "name": "C", "secret": "12345678", "issuer": "i", "key_id": "k"},
            "issuer, key_id: LTI 1.3 fields on an LTI 1.1 consumer",
        ),
        ({**PLATFORM, "secret": "12345678"}, "an LTI 1.3 platform has no shared secret (the tool key signs)"),
        ({**PLATFORM, "client_id": None, "token_url": ""}, "an LTI 1.3 platform needs client_id, token_url"),
    ],
)
def test_a_registration_carries_the_fields_of_its_version_only(fields, message):
    with pytest.raises(ValidationError) as raised:
        ConsumerRegistration.model_validate(fields)
    assert [error["msg"] for error in raised.value.errors()] == [f"Value error, {message}"]


def test_a_platform_registration_with_its_fields_is_valid():
    registration = ConsumerRegistration.model_validate(PLATFORM)
    assert (registration.issuer, registration.secret) == ("https://moodle.example.org", None)


def test_the_tool_key_given_is_kept_and_named_by_its_key_id():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    registration = ConsumerRegistration.model_validate(
        {**PLATFORM, "private_key_pem": pem(key), "key_id": "k1"}
    )
    private, jwk, key_id = _tool_key(registration)
    assert private == pem(key)
    assert (key_id, jwk["kid"], jwk["alg"], jwk["use"], jwk["kty"]) == ("k1", "k1", "RS256", "sig", "RSA")
    assert "d" not in jwk and "key_ops" not in jwk  # the public half only


@pytest.mark.parametrize(
    ("private_key_pem", "message"),
    [
        ("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", "is not an unencrypted PEM"),
        (pem(ec.generate_private_key(ec.SECP256R1())), "must be an RSA key (RS256)"),
    ],
)
def test_a_tool_key_that_cannot_sign_rs256_is_refused(private_key_pem, message):
    registration = ConsumerRegistration.model_validate({**PLATFORM, "private_key_pem": private_key_pem})
    with pytest.raises(BadRequest, match=re.escape(message)):
        _tool_key(registration)
