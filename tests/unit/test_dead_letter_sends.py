"""How the SQS adapter reads SendMessageBatch's per-entry answers (botocore's Stubber answers
as SQS would, checked against the SQS model, with no socket). The integration suite cuts a real
connection to moto mid-send (test_event_fates.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.failures import ErrorInfo, Reason

QUEUE = "https://sqs.eu-west-3.amazonaws.com/123456789012/dlq"


def letter(number: int) -> DeadLetter:
    return DeadLetter.model_validate(
        {
            "source": "hubspot",
            "deliveryId": str(number),
            "receivedAt": datetime(2026, 12, 4, tzinfo=UTC),
            "reason": Reason.BUDGET_EXHAUSTED,
            "retryable": True,
            "attempts": 1,
            "error": ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left."),
            "sequence": None,
            "payload": {"eventId": number},
        }
    )


def failed(entry_id: int, *, sender: bool, code: str = "InternalError") -> dict[str, Any]:
    return {"Id": str(entry_id), "SenderFault": sender, "Code": code, "Message": code}


def ok(*ids: int) -> list[dict[str, Any]]:
    return [{"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "0" * 32} for i in ids]


@pytest.fixture
def queue() -> tuple[SqsDeadLetterQueue, Stubber]:
    adapter = SqsDeadLetterQueue(QUEUE, "eu-west-3")
    client = adapter._clients.now()  # no window bound: the same client on every call
    return adapter, Stubber(client)


def test_entries_sqs_failed_on_its_side_are_sent_once_more(
    queue: tuple[SqsDeadLetterQueue, Stubber],
) -> None:
    adapter, stub = queue
    letters = [letter(n) for n in range(3)]
    stub.add_response(
        "send_message_batch", {"Successful": ok(0, 2), "Failed": [failed(1, sender=False)]}
    )
    stub.add_response("send_message_batch", {"Successful": ok(1), "Failed": []})
    with stub:
        assert adapter.send(letters) == []
    stub.assert_no_pending_responses()


def test_a_sender_fault_is_not_sent_again_and_is_returned(
    queue: tuple[SqsDeadLetterQueue, Stubber],
) -> None:
    adapter, stub = queue
    letters = [letter(n) for n in range(3)]
    refused = failed(2, sender=True, code="InvalidMessageContents")
    stub.add_response("send_message_batch", {"Successful": ok(0, 1), "Failed": [refused]})
    with stub:
        assert adapter.send(letters) == [letters[2]]


def test_a_later_call_failing_leaves_the_earlier_calls_letters_stored(
    queue: tuple[SqsDeadLetterQueue, Stubber],
) -> None:
    adapter, stub = queue
    letters = [letter(n) for n in range(25)]  # three calls: 10, 10, 5
    stub.add_response("send_message_batch", {"Successful": ok(*range(10)), "Failed": []})
    stub.add_client_error("send_message_batch", "ServiceUnavailable", http_status_code=503)
    with stub:
        assert adapter.send(letters) == letters[10:]  # the second and third calls' letters


def test_a_retry_that_cannot_reach_sqs_returns_only_the_retried_entries(
    queue: tuple[SqsDeadLetterQueue, Stubber],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    adapter, stub = queue
    letters = [letter(n) for n in range(4)]
    stub.add_response(
        "send_message_batch",
        {"Successful": ok(0, 3), "Failed": [failed(1, sender=False), failed(2, sender=False)]},
    )
    client = adapter._sqs()
    calls = {"n": 0}
    real = client.send_message_batch

    def second_call_unreachable(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise EndpointConnectionError(endpoint_url=QUEUE)
        return real(**kwargs)

    monkeypatch.setattr(client, "send_message_batch", second_call_unreachable)
    with stub:
        assert adapter.send(letters) == [letters[1], letters[2]]
