"""Deliveries past 100 events, up to `maxEvents` (1,000), on the template's configuration:
moto's DynamoDB (deduplication and links), the work queue with WorkerFunction fed as Lambda's
SQS event source feeds it (10 a batch, partial batch failures), and the sandbox. A delivery past
100 events is accepted whole; each event is then done once by the worker, whatever the sender
resends."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EVENT, Receiver
from .test_work_queue import LEADS, Deferring, leads, with_work_queue

# moto's SendMessageBatch slows as its queue grows (17 ms a call empty, ~60 ms at 300 messages):
# the budget here is for moto; in-region timings are the bench's (make bench).
BULK = {**LEADS, "maxEvents": 1000, "budgetSeconds": 20}


@pytest.fixture
def bulk(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deferring]:
    sources = tmp_path / "bulk.json"
    sources.write_text(json.dumps({"sources": {"leads": BULK}}))
    receiver.sandbox.state.rate_limit = 5000  # the worker's pace is not what is tested here
    with with_work_queue(receiver, sources, monkeypatch) as world:
        yield world


# 300 events: past the 100 worked in the delivery, and a drain that moto's worker path runs in
# about 20 s (tests/unit/test_accept_whole.py holds 1,000 in memory).
EVENTS = 300


def test_a_large_delivery_is_202_and_each_event_is_created_once_by_the_worker(
    bulk: Deferring,
) -> None:
    receiver = bulk.receiver
    answer = bulk.post(leads(EVENTS))
    assert answer.status == 202, answer.body
    assert {event["status"] for event in answer.body["events"]} == {"deferred"}
    assert receiver.sandbox.state.requests == 0  # nothing done on the sender's time
    assert bulk.waiting() == EVENTS

    retry = bulk.post(leads(EVENTS))  # the sender gave up waiting and sends it again
    assert retry.status == 202
    assert all(event["duplicate"] for event in retry.body["events"])
    assert bulk.waiting() == EVENTS  # nothing stored twice

    bulk.drain()
    names = Counter(sequence["name"] for sequence in receiver.sandbox.sequences)
    assert names == Counter({f"Lead {n}": 1 for n in range(1, EVENTS + 1)})
    assert receiver.dead_letters() == []

    # The same events batched otherwise: answered from the records the worker wrote.
    again = bulk.post(leads(50, start=201))
    assert again.status == 201, again.body
    assert all(event["duplicate"] for event in again.body["events"])
    assert receiver.sandbox.state.calls["POST /v1/sequences"] == EVENTS


def test_a_deep_body_is_deduplicated_on_dynamodb(receiver: Receiver) -> None:
    """A body nested 500 deep used to fail every claim (RecursionError in the store): 503 on
    every try, and a sender that bans the endpoint."""
    deep: object = "bottom"
    for _ in range(495):
        deep = [deep]
    body = {**EVENT, "deep": deep}
    first = receiver.bearer(body)
    assert first.status == 201, first.body
    second = receiver.bearer(body)
    assert second.status == 201
    assert second.body["events"][0]["duplicate"] is True
    assert len(receiver.sandbox.sequences) == 1
