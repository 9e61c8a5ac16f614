"""Fault injection for ``is_transient``: every transient error class, as boto3 raises it (unwrapped) and
as PynamoDB raises it (wrapped by each of its operations), and the errors that must not be retried.

The faults come from the network side: a botocore ``before-send`` handler (botocore's public event
API) answers each request with the HTTP error DynamoDB or S3 would send, or raises the network error
botocore would raise, so the libraries parse and wrap them exactly as they do in production. No
request leaves the process. botocore's own retries are off here, so each error reaches us at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    ProxyConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from functions.dal.faults import is_transient

REGION = "us-east-1"

# Written out from the AWS documentation, not taken from the code under test.
THROTTLING = [
    ("ThrottlingException", 400),
    ("Throttling", 400),
    ("ProvisionedThroughputExceededException", 400),
    ("RequestLimitExceeded", 400),
    ("TooManyRequestsException", 429),
    ("TransactionConflictException", 400),
    ("SlowDown", 503),
]
SERVER_ERRORS = [
    ("InternalServerError", 500),
    ("InternalFailure", 500),
    ("InternalError", 500),
    ("ServiceUnavailable", 503),
    ("ServiceUnavailableException", 503),
    ("RequestTimeout", 400),
    ("RequestTimeoutException", 408),
    # A code we have never heard of is still a server fault when the status says so.
    ("SomethingNewAndBroken", 500),
    ("SomethingNewAndBroken", 502),
    ("SomethingNewAndBroken", 503),
    ("SomethingNewAndBroken", 504),
]
PERMANENT = [
    ("ConditionalCheckFailedException", 400),
    ("ValidationException", 400),
    ("ResourceNotFoundException", 400),
    ("AccessDeniedException", 400),
    ("ItemCollectionSizeLimitExceededException", 400),
    ("SerializationException", 400),
]
NETWORK: list[Callable[[], Exception]] = [
    lambda: ReadTimeoutError(endpoint_url="http://dynamodb"),
    lambda: ConnectTimeoutError(endpoint_url="http://dynamodb"),
    lambda: EndpointConnectionError(endpoint_url="http://dynamodb"),
    lambda: ConnectionClosedError(endpoint_url="http://dynamodb"),
    lambda: ProxyConnectionError(proxy_url="http://proxy", error="reset"),
    lambda: SSLError(endpoint_url="http://dynamodb", error="handshake reset"),
    lambda: ResponseStreamingError(error="connection broken mid-body"),
    lambda: IncompleteReadError(actual_bytes=10, expected_bytes=100),
]
NETWORK_IDS = [
    "ReadTimeout",
    "ConnectTimeout",
    "EndpointConnection",
    "ConnectionClosed",
    "ProxyConnection",
    "SSL",
    "ResponseStreaming",
    "IncompleteRead",
]


class Thing(Model):
    class Meta:
        table_name = "faults-things"
        region = REGION
        max_retry_attempts = 0  # botocore's retries off: the first failure is the one we judge

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = UnicodeAttribute(null=True)


class Network:
    """Plays the network for botocore: answers every request with the configured fault."""

    def __init__(self) -> None:
        self.fault: Callable[[], Any] | None = None
        self.sent = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.sent += 1
        assert self.fault is not None, "no fault configured"
        return self.fault()

    def answer(self, code: str, status: int, reasons: list[str] | None = None) -> None:
        body: dict[str, Any] = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}
        if reasons is not None:
            body["CancellationReasons"] = [{"Code": reason, "Message": "injected"} for reason in reasons]
        data = json.dumps(body).encode()
        headers = {"x-amzn-requestid": "test", "content-type": "application/x-amz-json-1.0"}

        def respond() -> AWSResponse:
            return AWSResponse("http://dynamodb", status, headers, _Raw(data))

        self.fault = respond

    def s3_answer(self, code: str, status: int) -> None:
        data = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()

        def respond() -> AWSResponse:
            return AWSResponse("http://s3", status, {"content-type": "application/xml"}, _Raw(data))

        self.fault = respond

    def fail(self, make: Callable[[], Exception]) -> None:
        def raise_it() -> AWSResponse:
            raise make()

        self.fault = raise_it


class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        if self._data:
            data, self._data = self._data, b""
            yield data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    fake = Network()
    connection = Thing._get_connection().connection
    connection.client.meta.events.register_first("before-send.dynamodb", fake)
    yield fake
    connection.client.meta.events.unregister("before-send.dynamodb", fake)


def _transaction_connection(network: Network) -> Connection:
    connection = Connection(region=REGION, max_retry_attempts=0)
    connection.client.meta.events.register_first("before-send.dynamodb", network)
    return connection


# Every PynamoDB operation we use, each raising its own exception type around the botocore error.
def _get(network: Network) -> None:
    Thing.get("a", "b")


def _put(network: Network) -> None:
    Thing("a", "b").save()


def _update(network: Network) -> None:
    Thing("a", "b").update(actions=[Thing.value.set("x")])


def _delete(network: Network) -> None:
    Thing("a", "b").delete()


def _query(network: Network) -> None:
    list(Thing.query("a"))


def _scan(network: Network) -> None:
    list(Thing.scan())


def _batch_get(network: Network) -> None:
    list(Thing.batch_get([("a", "b")]))


def _batch_write(network: Network) -> None:
    with Thing.batch_write() as batch:
        batch.save(Thing("a", "b"))


def _transact_write(network: Network) -> None:
    with TransactWrite(connection=_transaction_connection(network)) as transaction:
        transaction.save(Thing("a", "b"))


def _transact_get(network: Network) -> None:
    with TransactGet(connection=_transaction_connection(network)) as transaction:
        transaction.get(Thing, "a", "b")


def _describe(network: Network) -> None:
    Thing.describe_table()


OPERATIONS = [_get, _put, _update, _delete, _query, _scan, _batch_get, _batch_write, _transact_write]
OPERATIONS += [_transact_get, _describe]


def _boto3_client(network: Network, service: str) -> Any:
    made = boto3.session.Session().client(
        service, region_name=REGION, config=Config(retries={"total_max_attempts": 1})
    )
    made.meta.events.register_first(f"before-send.{made.meta.service_model.service_id.hyphenize()}", network)
    return made


def _raised(operation: Callable[[Network], None], network: Network) -> Exception:
    with pytest.raises(Exception) as caught:
        operation(network)
    assert network.sent >= 1, "the fault was never reached"
    return caught.value


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__.strip("_"))
@pytest.mark.parametrize(("code", "status"), THROTTLING + SERVER_ERRORS)
def test_throttling_and_server_errors_wrapped_by_pynamodb_are_transient(network, operation, code, status):
    # Given DynamoDB answers the request with a throttling or server error
    network.answer(code, status)
    # When PynamoDB runs the operation, Then what it raises is judged transient
    error = _raised(operation, network)
    assert is_transient(error), f"{type(error).__name__} around {code} ({status})"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__.strip("_"))
@pytest.mark.parametrize("make", NETWORK, ids=NETWORK_IDS)
def test_network_errors_wrapped_by_pynamodb_are_transient(network, operation, make):
    network.fail(make)
    error = _raised(operation, network)
    assert is_transient(error), f"{type(error).__name__} around {type(make()).__name__}"


@pytest.mark.parametrize(("code", "status"), THROTTLING + SERVER_ERRORS)
def test_throttling_and_server_errors_from_boto3_are_transient(network, code, status):
    network.answer(code, status)
    dynamodb = _boto3_client(network, "dynamodb")
    error = _raised(lambda _: dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}}), network)
    assert is_transient(error), code


@pytest.mark.parametrize(
    ("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)]
)
def test_s3_server_errors_from_boto3_are_transient(network, code, status):
    network.s3_answer(code, status)
    s3 = _boto3_client(network, "s3")
    error = _raised(lambda _: s3.get_object(Bucket="b", Key="k"), network)
    assert is_transient(error), code


@pytest.mark.parametrize("make", NETWORK, ids=NETWORK_IDS)
@pytest.mark.parametrize("service", ["dynamodb", "s3"])
def test_network_errors_from_boto3_are_transient(network, make, service):
    network.fail(make)
    made = _boto3_client(network, service)
    call = (
        (lambda _: made.get_item(TableName="t", Key={"pk": {"S": "a"}}))
        if service == "dynamodb"
        else (lambda _: made.get_object(Bucket="b", Key="k"))
    )
    error = _raised(call, network)
    assert is_transient(error), type(error).__name__


@pytest.mark.parametrize(
    "reason", ["ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"]
)
@pytest.mark.parametrize(
    "operation", [_transact_write, _transact_get], ids=["transact_write", "transact_get"]
)
def test_a_transaction_cancelled_by_throttling_or_conflict_is_transient(network, operation, reason):
    network.answer("TransactionCanceledException", 400, reasons=["None", reason])
    error = _raised(operation, network)
    assert is_transient(error)


def test_a_transaction_cancelled_by_its_own_condition_is_not_transient(network):
    network.answer("TransactionCanceledException", 400, reasons=["ConditionalCheckFailed", "None"])
    error = _raised(_transact_write, network)
    assert not is_transient(error)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__.strip("_"))
@pytest.mark.parametrize(("code", "status"), PERMANENT)
def test_client_mistakes_are_not_transient(network, operation, code, status):
    network.answer(code, status)
    error = _raised(operation, network)
    assert not is_transient(error), code


@pytest.mark.parametrize(
    "error",
    [
        DoesNotExist(),
        ValueError("x"),
        ParamValidationError(report="bad"),
        NoCredentialsError(),
        RuntimeError("boom"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_that_are_not_aws_faults_are_not_transient(error):
    assert not is_transient(error)


def test_a_loop_of_causes_ends(network):
    network.fail(lambda: ReadTimeoutError(endpoint_url="http://dynamodb"))
    error = _raised(_query, network)
    # A cause chain that points back at itself is judged without hanging (and found transient).
    error.__cause__ = error
    assert is_transient(error)


def test_the_code_of_an_error_wrapping_a_network_failure_is_none_not_an_attribute_error():
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import PutError

    from functions.dal.faults import response_code

    class TimedOut(Exception):
        response = None  # what a wrapped network failure carries: no response at all

    assert response_code(PutError("put failed", cause=TimedOut())) is None
    refused = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
    assert response_code(PutError("put failed", cause=refused)) == "ConditionalCheckFailedException"
    assert response_code(PutError("put failed")) is None
