"""AWS services of the LTI pass-back other than its table: KMS for secrets, its state machine."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from functions.dal.clients import client
from functions.settings import Settings


class SecretBox:
    """Encrypts consumer secrets and tool private keys with the LTI KMS key.

    The encryption context binds a ciphertext to its consumer: a secret copied onto another
    consumer's item does not decrypt.
    """

    def __init__(self, settings: Settings):
        self._key_id = settings.lti_kms_key_id
        self._kms = client("kms", settings.region)

    def encrypt(self, plaintext: bytes, consumer_key: str) -> bytes:
        response = self._kms.encrypt(
            KeyId=self._key_id, Plaintext=plaintext, EncryptionContext={"consumer_key": consumer_key}
        )
        blob: bytes = response["CiphertextBlob"]
        return blob

    def decrypt(self, ciphertext: bytes, consumer_key: str) -> bytes:
        response = self._kms.decrypt(
            CiphertextBlob=ciphertext, KeyId=self._key_id, EncryptionContext={"consumer_key": consumer_key}
        )
        plaintext: bytes = response["Plaintext"]
        return plaintext


class PassbackWorkflow:
    """Executions of the pass-back state machine (statemachines/lti_passback.asl.json)."""

    def __init__(self, settings: Settings):
        self._arn = settings.lti_state_machine_arn
        self._sfn = client("stepfunctions", settings.region)

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        """Start an execution named ``name``; False when one of that name exists (a repeated start)."""
        try:
            self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True
