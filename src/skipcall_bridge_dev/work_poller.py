"""The work queue's event source, locally: what Lambda's SQS event source mapping does for
WorkerFunction, against moto.

It receives up to `batch_size` messages (with their ApproximateReceiveCount), hands them to the
handler as an SQS event, and deletes every message the answer does not list in
`batchItemFailures` (ReportBatchItemFailures). A handler that raises leaves the whole batch to
come back when its visibility timeout ends, as on Lambda. Messages the worker postponed come
back when it said.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skipcall_bridge.common.observability import logger

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# One process is one WorkerFunction container, and Lambda runs one invocation at a time in a
# container: the handler keeps an invocation's state at module level (Powertools' batch
# processor holds the batch's records and results). Two pollers of one process take turns;
# run at once, one invocation's records replaced the other's, and a message that was never
# worked was reported done and deleted (`make bench`'s burst row lost events).
INVOCATIONS = threading.Lock()


@dataclass
class PollCounts:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    returned: int = 0  # reported as failures, or in a batch whose handler raised
    done_at: list[float] = field(default_factory=list)  # wall-clock time of each delete


class WorkQueuePoller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        context_factory: Callable[[], Any],
        *,
        batch_size: int = 10,
        region: str = "us-east-1",
        clock: Callable[[], float] | None = None,
        report: Callable[[list[tuple[str, str]], int], None] | None = None,
    ) -> None:
        import time

        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._context = context_factory
        self._batch_size = min(max(batch_size, 1), 10)
        self._arn = f"arn:aws:sqs:{region}:000000000000:{queue_url.rsplit('/', 1)[-1]}"
        self._region = region
        self._clock = clock or time.time
        self.counts = PollCounts()
        # after each batch: the (source, delivery id) of each message finished, and how many
        # wait again (the dev console and the inspector)
        self._report = report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def queue_url(self) -> str:
        return self._queue_url

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive, one invocation, the deletes; the number of messages received."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.counts.batches += 1
        self.counts.received += len(messages)
        event = {"Records": [self._record(message) for message in messages]}
        try:
            with INVOCATIONS:
                answer = self._handler(event, self._context())
        except Exception:  # as Lambda: the batch returns when its visibility timeout ends
            logger.exception("Worker failed: the batch comes back later")
            self.counts.returned += len(messages)
            return len(messages)
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        self.counts.returned += len(messages) - len(done)
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
            self.counts.deleted += len(done)
            self.counts.done_at += [self._clock()] * len(done)
        if self._report is not None:
            self._report([_ids(m["Body"]) for m in done], len(messages) - len(done))
        return len(messages)

    def start(self) -> WorkQueuePoller:
        """Poll in the background until stop() (long polls of one second: stops quickly)."""
        self._thread = threading.Thread(target=self._run, name="work-queue-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # moto going away at shutdown, or a passing fault: try again
                if self._stop.wait(1):
                    return

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", "0"),
                "SenderId": attributes.get("SenderId", "AIDAEXAMPLE"),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", "0"
                ),
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "dataType": value.get("DataType", "String"),
                    "stringListValues": [],
                    "binaryListValues": [],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": self._region,
        }


def worker_poller(
    sqs: Any,
    queue_url: str,
    *,
    region: str = "us-east-1",
    report: Callable[[list[tuple[str, str]], int], None] | None = None,
    timeout_seconds: float = 60,
) -> WorkQueuePoller:
    """WorkerFunction's event source: its handler, with a Lambda context of the template's 60 s
    timeout (or `timeout_seconds`). The handler loads on first use, once the stack has set the
    environment."""
    from skipcall_bridge.worker_handler import lambda_handler
    from skipcall_bridge_dev.gateway import LocalContext

    return WorkQueuePoller(
        sqs,
        queue_url,
        lambda_handler,
        lambda: LocalContext(timeout_seconds, "WorkerFunction"),
        region=region,
        report=report,
    )


def _ids(body: str) -> tuple[str, str]:
    try:
        letter = json.loads(body)
        return str(letter.get("source", "")), str(letter.get("deliveryId", ""))
    except (ValueError, AttributeError):
        return "", ""
