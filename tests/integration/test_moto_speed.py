"""What ``itask.local.moto_speed`` keeps per process changes nothing moto answers, only what it repeats."""

from __future__ import annotations

import json
import time

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from functions.dal.clients import client

ROLE = "arn:aws:iam::123456789012:role/sfn"


def output_of(sfn, arn: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = sfn.describe_execution(executionArn=arn)
        if answer["status"] != "RUNNING":
            assert answer["status"] == "SUCCEEDED", answer
            return json.loads(answer["output"])
        time.sleep(0.02)
    raise AssertionError(f"{arn} still running")


def test_a_definition_is_parsed_once_and_each_execution_still_reads_its_own_input(stack):
    sfn = client("stepfunctions", stack.settings.region)
    definition = json.dumps(
        {
            "StartAt": "Pick",
            "States": {
                "Pick": {
                    "Type": "Pass",
                    "Parameters": {"picked.$": "$.a.b", "fixed": 1},
                    "ResultPath": "$.out",
                    "End": True,
                }
            },
        }
    )
    parses = AmazonStateLanguageParser.parse.cache_info()  # type: ignore[attr-defined]
    first = sfn.create_state_machine(name="speed-a", definition=definition, roleArn=ROLE)
    second = sfn.create_state_machine(name="speed-b", definition=definition, roleArn=ROLE)
    runs = [
        sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name=f"run-{index}",
            input=json.dumps({"a": {"b": value}}),
        )
        for index, (machine, value) in enumerate(((first, "x"), (second, [1, 2]), (first, {"c": None})))
    ]
    outputs = [output_of(sfn, run["executionArn"]) for run in runs]
    # Then each execution computed from its own input
    assert [output["out"] for output in outputs] == [
        {"picked": "x", "fixed": 1},
        {"picked": [1, 2], "fixed": 1},
        {"picked": {"c": None}, "fixed": 1},
    ]
    # and the text was parsed once: two creations and three executions read the one parse
    after = AmazonStateLanguageParser.parse.cache_info()  # type: ignore[attr-defined]
    assert (after.misses - parses.misses, after.hits - parses.hits) == (1, 4)


def test_a_bad_definition_is_refused_every_time(stack):
    sfn = client("stepfunctions", stack.settings.region)
    bad = json.dumps({"StartAt": "Pick"})  # no States
    for name in ("bad-a", "bad-b"):  # a failed parse is not kept
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(name=name, definition=bad, roleArn=ROLE)
        # (moto 5.2.5 answers this without an error code; the message is its parser's)
        assert "definition for Program" in refused.value.response["Error"]["Message"], refused.value.response


def test_sessions_share_one_loader_and_each_client_works(stack):
    loaders = [botocore.session.Session().get_component("data_loader") for _ in range(2)]
    assert loaders[0] is loaders[1]
    for session in (boto3.session.Session(), boto3.session.Session()):
        dynamodb = session.client("dynamodb", region_name=stack.settings.region)
        assert stack.settings.tasks_table in dynamodb.list_tables()["TableNames"]


def test_kms_keys_still_encrypt_sign_and_pickle(stack):
    kms = client("kms", stack.settings.region)
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    sealed = kms.encrypt(KeyId=symmetric, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"secret"
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(
        KeyId=signing, Message=b"m", MessageType="RAW", SigningAlgorithm="RSASSA_PSS_SHA_256"
    )["Signature"]
    assert kms.verify(
        KeyId=signing, Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256"
    )["SignatureValid"]
    from moto.backends import get_backend

    from itask.local.lambda_router import LOCAL_ACCOUNT

    keys = get_backend("kms")[LOCAL_ACCOUNT][stack.settings.region].keys
    # the symmetric key's unused pair was never made, and is made when something reads it
    assert keys[symmetric].private_key._key is None
    assert len(keys[symmetric].private_key.public_key()) > 256  # an RSA-2048 public key, DER


def test_a_response_class_is_listed_once_and_every_action_still_answers(stack):
    from moto.core import responses, utils
    from moto.dynamodb.responses import DynamoHandler

    first = responses.method_names_from_class(DynamoHandler)
    assert first is responses.method_names_from_class(DynamoHandler)  # kept, not listed again
    assert first == frozenset(utils.method_names_from_class(DynamoHandler))  # moto's own listing
    dynamodb = client("dynamodb", stack.settings.region)
    assert stack.settings.tasks_table in dynamodb.list_tables()["TableNames"]
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        dynamodb.describe_table(TableName="no-such-table")
