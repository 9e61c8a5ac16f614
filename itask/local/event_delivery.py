"""Bus events to functions, locally: what Lambda's SQS event source mapping does on AWS.

moto delivers a rule's events to its SQS target; this poller receives them in batches, invokes the
rule's function in-process with an SQS event, deletes what the function handled and leaves batch
item failures for redelivery after the visibility timeout.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from functions.catalog import EVENT_RULES, EventRuleSpec
from functions.dal.clients import client
from itask.local.lambda_router import FunctionError, LambdaRouter
from itask.local.lti_resources import queue_name


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class EventDelivery:
    def __init__(self, router: LambdaRouter, region: str, poll_interval_s: float = 0.1, wait_s: int = 1):
        self.router, self.region, self.poll_interval_s = router, region, poll_interval_s
        # Long polling, as Lambda's event source mapping does: a receive waits up to ``wait_s`` for a
        # message and answers as soon as one arrives, instead of an HTTP round trip to the moto server
        # ten times a second per rule for as long as the stack runs.
        self.wait_s = wait_s
        self.delivered = 0
        self._queues: dict[str, tuple[str, str]] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(rule,), name=f"events-{rule.name}", daemon=True)
            for rule in EVENT_RULES
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)

    def poll_once(self, rule: EventRuleSpec) -> int:
        """Deliver one batch; returns how many messages it held."""
        sqs = client("sqs", self.region)
        # The queue's URL and ARN are looked up once: an idle poll is then one ReceiveMessage.
        found = self._queues.get(rule.name)
        if found is None:
            url = sqs.get_queue_url(QueueName=queue_name(rule))["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            found = self._queues[rule.name] = (url, attributes["QueueArn"])
        url, arn = found
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=rule.batch_size,
            AttributeNames=["All"],
            WaitTimeSeconds=self.wait_s,
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            result = self.router.invoke(rule.target, sqs_event(messages, arn, self.region))
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except FunctionError:
            failed = {message["MessageId"] for message in messages}  # the whole batch comes back
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.delivered += len(done)
        return len(messages)

    def _loop(self, rule: EventRuleSpec) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once(rule):
                    continue
            except Exception:  # the moto server stopping under us; keep polling until told to stop
                if self._stop.is_set():
                    return
            time.sleep(self.poll_interval_s)
