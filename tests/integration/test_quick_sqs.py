"""The bench's quick SQS (`make bench`'s thousand-event rows) keeps what the worker relies on,
through boto3 over HTTP: at most 10 entries a batch, delays, visibility, receive counts and the
redrive policy. Its clock is injected."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from skipcall_bridge_dev.quick_sqs import QuickSqs, client


@pytest.fixture
def world() -> Iterator[tuple[QuickSqs, list[float]]]:
    now = [1_000.0]
    server = QuickSqs(clock=lambda: now[0]).start()
    yield server, now
    server.stop()


def test_delays_visibility_receive_counts_and_the_redrive(
    world: tuple[QuickSqs, list[float]],
) -> None:
    server, now = world
    sqs = client(server.url)
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    policy = {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:dlq", "maxReceiveCount": "2"}
    work = sqs.create_queue(
        QueueName="work",
        Attributes={"VisibilityTimeout": "30", "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    sent = sqs.send_message_batch(
        QueueUrl=work,
        Entries=[
            {"Id": "now", "MessageBody": "a"},
            {"Id": "later", "MessageBody": "b", "DelaySeconds": 60},
        ],
    )
    assert {entry["Id"] for entry in sent["Successful"]} == {"now", "later"}
    counts = sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "1"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"

    first = sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10)["Messages"]
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in first] == [("a", "1")]
    assert "Messages" not in sqs.receive_message(QueueUrl=work)  # hidden, b delayed
    sqs.change_message_visibility(
        QueueUrl=work, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=5
    )
    now[0] += 5
    again = sqs.receive_message(QueueUrl=work)["Messages"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):  # the first receive's
        sqs.change_message_visibility(
            QueueUrl=work, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0
        )
    now[0] += 60  # a's third receive redrives it; b's delay has passed
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=work)["Messages"]] == ["b"]
    moved = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert [m["Body"] for m in moved] == ["a"]
    sqs.delete_message_batch(
        QueueUrl=dlq, Entries=[{"Id": "0", "ReceiptHandle": moved[0]["ReceiptHandle"]}]
    )
    now[0] += 60
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)


def test_more_than_ten_entries_is_refused_whole(world: tuple[QuickSqs, list[float]]) -> None:
    server, _ = world
    sqs = client(server.url)
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    entries = [{"Id": str(n), "MessageBody": "x"} for n in range(11)]
    with pytest.raises(ClientError, match="TooManyEntriesInBatchRequest"):
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    with pytest.raises(ClientError, match="UnsupportedOperation"):
        sqs.list_queues()
    assert (
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
