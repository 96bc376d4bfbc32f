"""The SQS queues of letters: the dead-letter queue and the work queue hold the same envelope.

Sends letters (batches of up to 10, under the size cap, each entry answered on its own),
receives, deletes and releases them for the replay, postpones one for the worker, and lets a
person browse and delete them. A message SQS redrives from the work queue to the DLQ is a letter
the replay reads like any other."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from skipcall_bridge.aws.config import AwsClients
from skipcall_bridge.common.envelope import MAX_MESSAGE_BYTES, DeadLetter
from skipcall_bridge.common.errors import OutOfTime, Unavailable
from skipcall_bridge.common.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from skipcall_bridge.common.budget import CallWindow

MAX_BATCH_ENTRIES = 10
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds cap
MAX_VISIBILITY_SECONDS = 12 * 3600
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES  # SendMessageBatch's whole request, like one message


class SqsDeadLetterQueue:
    def __init__(
        self, queue_url: str, region: str | None = None, window: CallWindow | None = None
    ) -> None:
        self._queue_url = queue_url
        self._clients = AwsClients("sqs", region, window)

    def send(self, letters: Sequence[DeadLetter], delay_seconds: int = 0) -> list[DeadLetter]:
        """Store the letters, 10 (and at most 256 KiB) a SendMessageBatch. Returns the letters
        SQS did not take, in order: SQS answers per entry, and a later call can fail after
        earlier ones were stored, so the caller must know which letters are safe."""
        from botocore.exceptions import BotoCoreError, ClientError

        delay = min(max(delay_seconds, 0), MAX_DELAY_SECONDS)
        entries = [_entry(index, letter, delay) for index, letter in enumerate(letters)]
        unstored: set[int] = set()
        batches = list(_batches(entries))
        for position, batch in enumerate(batches):
            try:
                refused = self._send_batch(batch)
            except (BotoCoreError, ClientError, OutOfTime) as exc:
                # Unreachable: this call and the ones after it would wait for the same timeout.
                logger.error("Dead-letter queue unreachable", extra={"error": type(exc).__name__})
                unstored |= {int(entry["Id"]) for rest in batches[position:] for entry in rest}
                break
            unstored |= refused
        return [letters[index] for index in sorted(unstored)]

    def _send_batch(self, batch: list[SendMessageBatchRequestEntryTypeDef]) -> set[int]:
        """One SendMessageBatch (raises when SQS cannot be reached). Entries SQS failed on its
        own side are sent once more, as its documentation advises. Returns the indexes of the
        entries still not stored."""
        from botocore.exceptions import BotoCoreError, ClientError

        failed = self._sqs().send_message_batch(QueueUrl=self._queue_url, Entries=batch)
        failures = failed.get("Failed", [])
        refused = {int(f["Id"]) for f in failures if f["SenderFault"]}
        retry = {f["Id"] for f in failures if not f["SenderFault"]}
        codes = {f["Code"] for f in failures}
        if retry:
            again = [entry for entry in batch if entry["Id"] in retry]
            try:
                still = self._sqs().send_message_batch(QueueUrl=self._queue_url, Entries=again)
                refused |= {int(f["Id"]) for f in still.get("Failed", [])}
                codes |= {f["Code"] for f in still.get("Failed", [])}
            except (BotoCoreError, ClientError, OutOfTime):  # the rest of the first call is stored
                refused |= {int(entry_id) for entry_id in retry}
        if refused:
            logger.error("Dead-letter queue refused messages", extra={"codes": sorted(codes)})
        return refused

    def receive(self, max_messages: int = 10) -> list[QueuedLetter]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            messages = (
                self._sqs()
                .receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=min(max(max_messages, 1), 10),
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["SentTimestamp"],
                )
                .get("Messages", [])
            )
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable(
                f"The dead-letter queue cannot be read: {type(exc).__name__}"
            ) from None
        return [
            QueuedLetter(
                message_id=message["MessageId"],
                receipt=message["ReceiptHandle"],
                letter=_letter(message.get("Body", "")),
                sent_at=_sent_at(message.get("Attributes", {})),
            )
            for message in messages
        ]

    def delete(self, receipt: str) -> None:
        self._sqs().delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)

    def release(self, receipt: str) -> None:
        """Make a received message visible again now, for another consumer or a later run."""
        self._sqs().change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
        )

    def postpone(self, receipt: str, seconds: int) -> None:
        """Keep a received message hidden for `seconds` from now (at most 12 hours, SQS's cap):
        the worker's way to wait for Skipcall's rate-limit window without sleeping."""
        self._sqs().change_message_visibility(
            QueueUrl=self._queue_url,
            ReceiptHandle=receipt,
            VisibilityTimeout=min(max(seconds, 0), MAX_VISIBILITY_SECONDS),
        )

    def browse(self) -> list[QueuedLetter]:
        """Every message, left visible as it was: each one read stays hidden only until the
        last is read (a received message is not received again meanwhile), then is released."""
        messages: list[QueuedLetter] = []
        try:
            while batch := self.receive(10):
                messages += batch
        finally:
            for message in messages:
                self.release(message.receipt)
        return messages

    def delete_message(self, message_id: str) -> bool:
        """Delete one message by its id (SQS deletes only by a receipt, so it is received);
        the others read on the way are released at once."""
        held: list[QueuedLetter] = []
        try:
            while batch := self.receive(10):
                match = next((m for m in batch if m.message_id == message_id), None)
                held += [message for message in batch if message is not match]
                if match is not None:
                    self.delete(match.receipt)
                    return True
            return False
        finally:
            for message in held:
                self.release(message.receipt)

    def depth(self) -> int:
        attributes = self._sqs().get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def prepare(self, seconds: float | None = None) -> None:
        """Build the SQS client a delivery of `seconds` starts with, calling nothing
        (SnapStart's snapshot)."""
        self._clients.prepare(seconds)

    def _sqs(self) -> SQSClient:
        return cast("SQSClient", self._clients.now())


@dataclass(frozen=True)
class QueuedLetter:
    message_id: str
    receipt: str
    letter: DeadLetter | None  # None: not an envelope this receiver can read
    sent_at: float | None = None  # epoch seconds, SQS's SentTimestamp


def _letter(body: str) -> DeadLetter | None:
    try:
        return DeadLetter.model_validate_json(body)
    except ValidationError:
        return None


def _entry(index: int, letter: DeadLetter, delay: int = 0) -> SendMessageBatchRequestEntryTypeDef:
    entry: SendMessageBatchRequestEntryTypeDef = {
        "Id": str(index),
        "MessageBody": letter.to_message_body(),
        "MessageAttributes": {
            "source": {"DataType": "String", "StringValue": letter.source},
            "reason": {"DataType": "String", "StringValue": letter.reason.value},
        },
    }
    if delay:
        entry["DelaySeconds"] = delay
    return entry


def _size(entry: SendMessageBatchRequestEntryTypeDef) -> int:
    attributes = sum(
        len(name) + len(value.get("StringValue", "")) + len(value["DataType"])
        for name, value in entry.get("MessageAttributes", {}).items()
    )
    return len(entry["MessageBody"].encode("utf-8")) + attributes


def _batches(
    entries: list[SendMessageBatchRequestEntryTypeDef],
) -> Iterator[list[SendMessageBatchRequestEntryTypeDef]]:
    batch: list[SendMessageBatchRequestEntryTypeDef] = []
    size = 0
    for entry in entries:
        entry_size = _size(entry)
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield batch


def _sent_at(attributes: Mapping[Any, str]) -> float | None:
    try:
        return int(attributes["SentTimestamp"]) / 1000
    except (KeyError, ValueError):
        return None
