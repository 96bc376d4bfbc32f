"""The work queue on moto and the sandbox: the receiver defers, WorkerFunction's handler finishes,
fed by the dev stack's poller exactly as Lambda's SQS event source would feed it."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.runtime import current_runtime, current_worker
from skipcall_bridge_dev.moto_stack import WORK_MAX_RECEIVE_COUNT, MotoServer, create_work_queue
from skipcall_bridge_dev.work_poller import WorkQueuePoller, worker_poller

from .conftest import BEARER_TOKEN, CREATOR, REP, Receiver
from .test_actions import seed_contacts

ENROL = {
    "auth": {"scheme": "bearer", "secretId": "it/zapier"},
    "action": "enrol",
    "target": {"name": "{{ sequence }}"},
    "contactIds": "{{ contactIds }}",
    "sequence": {"creatorId": CREATOR, "assignedToIds": [CREATOR, REP]},
}
LEADS = {
    "auth": {"scheme": "bearer", "secretId": "it/zapier"},
    "events": "leads",
    "deliveryId": "id",
    "sequence": {"name": "{{ name }}", "creatorId": CREATOR, "assignedToIds": [CREATOR, REP]},
}


@dataclass
class Deferring:
    receiver: Receiver
    work_queue_url: str
    poller: WorkQueuePoller

    def post(self, leads: list[dict[str, Any]], timeout: float = 25.0) -> Any:
        headers = {"Authorization": f"Bearer {BEARER_TOKEN}"}
        return self.receiver.post("leads", {"leads": leads}, headers, timeout=timeout)

    def waiting(self) -> int:
        return waiting(self.receiver.moto, self.work_queue_url)

    def drain(self, max_polls: int = 200) -> None:
        drain(self.poller, self.receiver.moto, max_polls)


def waiting(moto: MotoServer, queue_url: str) -> int:
    """Messages in the queue: visible, in flight, or delayed."""
    attributes = moto.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def drain(poller: WorkQueuePoller, moto: MotoServer, max_polls: int) -> None:
    """Poll (one-second long polls on moto's side) until the work queue is empty."""
    for _ in range(max_polls):
        if waiting(moto, poller.queue_url) == 0:
            return
        poller.poll_once(wait_seconds=1)
    raise AssertionError(f"the work queue still holds {waiting(moto, poller.queue_url)} messages")


@contextlib.contextmanager
def with_work_queue(
    receiver: Receiver, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deferring]:
    """The receiver on `sources` with a work queue (redriving to its DLQ), and WorkerFunction's
    event source for it; new containers for both."""
    work_queue_url = create_work_queue(receiver.moto, f"it-work-{sources.stem}", receiver.queue_url)
    monkeypatch.setenv("SOURCES_CONFIG", str(sources))
    monkeypatch.setenv("WORK_QUEUE_URL", work_queue_url)
    monkeypatch.setenv("WORK_MAX_RECEIVE_COUNT", str(WORK_MAX_RECEIVE_COUNT))
    current_runtime.cache_clear()
    current_worker.cache_clear()
    poller = worker_poller(receiver.moto.client("sqs"), work_queue_url)
    yield Deferring(receiver, work_queue_url, poller)
    current_worker.cache_clear()


@pytest.fixture
def deferring(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deferring]:
    sources = tmp_path / "leads.json"
    sources.write_text(json.dumps({"sources": {"leads": LEADS, "enrol": ENROL}}))
    with with_work_queue(receiver, sources, monkeypatch) as world:
        yield world


def leads(count: int, start: int = 1) -> list[dict[str, Any]]:
    return [{"id": f"lead-{n}", "name": f"Lead {n}"} for n in range(start, start + count)]


def test_a_100_event_batch_without_budget_is_deferred_then_each_event_created_once(
    deferring: Deferring, no_budget: None
) -> None:
    receiver = deferring.receiver
    answer = deferring.post(leads(100))  # no budget: all of it the DLQ's reserve
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "deferred"
    assert {event["status"] for event in answer.body["events"]} == {"deferred"}
    assert len(answer.body["deferred"]) == 100
    assert receiver.sandbox.state.requests == 0
    assert deferring.waiting() == 100

    deferring.drain()
    names = Counter(sequence["name"] for sequence in receiver.sandbox.sequences)
    assert names == Counter({f"Lead {n}": 1 for n in range(1, 101)})
    assert receiver.dead_letters() == []
    assert deferring.poller.counts.deleted == 100

    retry = deferring.post(leads(100))  # answered from the records
    assert retry.status == 202
    assert all(event.get("duplicate") for event in retry.body["events"])
    assert deferring.waiting() == 0
    assert receiver.sandbox.state.calls["POST /v1/sequences"] == 100


def test_a_burst_past_skipcall_s_limit_is_finished_through_the_work_queue(
    deferring: Deferring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 events at 20 calls per 2 s window: what Skipcall refused waits in the work queue for
    a window with room; every event is created once and none reaches the DLQ."""
    receiver = deferring.receiver
    receiver.sandbox.state.rate_limit, receiver.sandbox.state.window_seconds = 20, 2.0
    monkeypatch.setenv("SKIPCALL_RATE_WINDOW_SECONDS", "2")  # the containers pace by it
    answer = deferring.post(leads(60))
    assert answer.status in (201, 202), answer.body
    statuses = Counter(event["status"] for event in answer.body["events"])
    assert set(statuses) <= {"created", "deferred"}
    assert statuses["deferred"] > 0  # 60 calls do not fit in one window

    deferring.drain()
    names = Counter(sequence["name"] for sequence in receiver.sandbox.sequences)
    assert names == Counter({f"Lead {n}": 1 for n in range(1, 61)})
    assert receiver.dead_letters() == []


def test_what_needs_a_person_leaves_the_work_queue_for_the_dead_letter_queue(
    deferring: Deferring, no_budget: None
) -> None:
    receiver = deferring.receiver
    assert deferring.post(leads(1)).status == 202
    receiver.sandbox.inject("status", status=500)  # Skipcall may have created it
    deferring.drain()
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("OUTCOME_UNKNOWN", False)
    assert deferring.waiting() == 0


def test_a_deferred_enrol_creates_its_named_sequence_once_after_a_failed_create(
    deferring: Deferring, no_budget: None
) -> None:
    receiver = deferring.receiver
    contacts = seed_contacts(receiver.sandbox, 2)
    body = {"sequence": "Inbound leads", "contactIds": contacts}
    headers = {"Authorization": f"Bearer {BEARER_TOKEN}"}
    answer = receiver.post("enrol", body, headers)
    assert answer.status == 202, answer.body
    assert answer.body["events"][0]["status"] == "deferred"
    receiver.sandbox.inject("status", status=503, count=4)  # every try of the first create
    deferring.drain()
    (sequence,) = receiver.sandbox.sequences
    assert sequence["name"] == "Inbound leads"
    enrolled = receiver.sandbox.state.enrolments[sequence["id"]]
    assert sorted(enrolled) == sorted(contacts)
    assert receiver.dead_letters() == []
    assert deferring.poller.counts.returned >= 1  # the first receive met the 503s


def test_a_deferred_event_meeting_a_spent_window_is_put_back_as_a_new_message(
    deferring: Deferring, monkeypatch: pytest.MonkeyPatch, no_budget: None
) -> None:
    """Skipcall grants one call per 15 s window: the worker's first event spends it, so the
    second is put back (a new, delayed message: no receive spent), by the 429 it met or, when
    its request started after the first answer, before it is sent (the batch's records run
    side by side, and a new container knows no window until its first answer)."""
    receiver = deferring.receiver
    # A window long enough that the second event of the batch meets it still spent however
    # loaded the machine (the drain then waits for it to reopen: the put-back's delay).
    receiver.sandbox.state.rate_limit, receiver.sandbox.state.window_seconds = 1, 15.0
    monkeypatch.setenv("SKIPCALL_RATE_WINDOW_SECONDS", "15")
    assert deferring.post(leads(2)).status == 202  # both deferred, nothing sent
    assert deferring.poller.poll_once(wait_seconds=1) == 2
    assert deferring.poller.counts.deleted == 2  # one done, one put back: both left
    assert len(receiver.sandbox.sequences) == 1
    assert receiver.sandbox.state.throttled <= 1
    assert deferring.waiting() == 1  # the new message, delayed to the next window

    deferring.drain()
    names = Counter(sequence["name"] for sequence in receiver.sandbox.sequences)
    assert names == Counter({"Lead 1": 1, "Lead 2": 1})
    assert receiver.dead_letters() == []
