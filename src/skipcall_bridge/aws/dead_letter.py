"""Sends dead letters to the SQS queue (batches of up to 10, and under the batch size cap)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from skipcall_bridge.envelope import DeadLetter
from skipcall_bridge.errors import Unavailable
from skipcall_bridge.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


class SqsDeadLetterQueue:
    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url
        self._client: SQSClient | None = None

    def send(self, letters: Sequence[DeadLetter]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        entries = [_entry(index, letter) for index, letter in enumerate(letters)]
        try:
            for batch in _batches(entries):
                failed = self._sqs().send_message_batch(QueueUrl=self._queue_url, Entries=batch)
                if failed.get("Failed"):
                    codes = sorted({entry["Code"] for entry in failed["Failed"]})
                    raise Unavailable(f"The dead-letter queue refused messages: {codes}")
        except (BotoCoreError, ClientError) as exc:
            logger.error("Dead-letter queue unreachable", extra={"error": type(exc).__name__})
            raise Unavailable("Neither Skipcall nor the dead-letter queue took it.") from None

    def _sqs(self) -> SQSClient:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "sqs",
                config=Config(
                    connect_timeout=1,
                    read_timeout=3,
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            )
        return self._client


def _entry(index: int, letter: DeadLetter) -> SendMessageBatchRequestEntryTypeDef:
    return {
        "Id": str(index),
        "MessageBody": letter.to_message_body(),
        "MessageAttributes": {
            "source": {"DataType": "String", "StringValue": letter.source},
            "reason": {"DataType": "String", "StringValue": letter.reason.value},
        },
    }


def _size(entry: SendMessageBatchRequestEntryTypeDef) -> int:
    attributes = sum(
        len(name) + len(value.get("StringValue", "")) + len(value["DataType"])
        for name, value in entry.get("MessageAttributes", {}).items()
    )
    return len(entry["MessageBody"].encode()) + attributes


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
