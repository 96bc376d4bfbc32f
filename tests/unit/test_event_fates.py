"""The fate of every event of a batch, as real senders deliver it: retries that change their
retry counters, outages that start mid-batch, faults in one event that must not decide the
others', letters that must always fit.

In-memory ports (fakes.py) stand in for Skipcall, SQS and the idempotency table; the
integration suite runs the same scenarios against moto and the sandbox.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skipcall_bridge.common.envelope import MAX_LETTER_BYTES
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.outcomes import DeliveryReport
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.receive.responses import delivery_response
from skipcall_bridge.settings import MAX_BODY_BYTES
from skipcall_bridge.skipcall.models import CreateSequenceDto
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.hubspot import HubSpotVerifier

from .fakes import MemoryIdempotency, RecordingDeadLetters, ScriptedSkipcall, StaticSecrets

NOW = 1_800_000_000
SECRET = "hubspot-client-secret-5e1f0c"
CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
URL = "https://hooks.example.com/webhooks/hubspot"
SOURCES = {
    "sources": {
        "hubspot": {
            "auth": {"scheme": "hubspot", "secretId": "hs"},
            "events": "[?subscriptionType == 'contact.creation']",
            "sequence": {
                "name": "E{{ eventId }} {{ powertools_json(note).tag }}",
                "creatorId": CREATOR,
                "assignedToIds": [CREATOR],
            },
        },
        "pipedrive": {
            "auth": {"scheme": "basic", "secretId": "pd"},
            "deliveryId": "meta.id",
            "sequence": {
                "name": "{{ data.name }}",
                "creatorId": CREATOR,
                "assignedToIds": [CREATOR],
            },
        },
    }
}


def event(event_id: int, attempt: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 7,
        "portalId": 62515,
        "occurredAt": 1_764_147_600_000 + event_id,
        "subscriptionType": "contact.creation",
        "attemptNumber": attempt,
        "objectId": 5000 + event_id,
        "note": json.dumps({"tag": f"t{event_id}"}),
        **extra,
    }


@dataclass
class HubSpot:
    """The receiver's ports and a HubSpot sender that signs each attempt afresh."""

    guard: MemoryIdempotency = field(default_factory=MemoryIdempotency)
    skipcall: ScriptedSkipcall = field(default_factory=ScriptedSkipcall)
    queue: RecordingDeadLetters = field(default_factory=RecordingDeadLetters)
    work: RecordingDeadLetters | None = None  # the work queue, when the receiver has one
    max_body_bytes: int = 256 * 1024
    # The budget's clock, stepped by Skipcall's answers instead of read from the machine: once
    # Skipcall has received this many creates (at least 1) in a delivery, its budget is spent
    # (None: it never is).
    spend_budget_at: int | None = None
    _creates_before: int = 0

    def __post_init__(self) -> None:
        self.catalog = SourceCatalog.from_config(parse_sources(json.dumps(SOURCES)))
        self.pipeline = Pipeline(
            self.catalog,
            StaticSecrets({"hs": [SECRET], "pd": ["pipedrive:basic-auth-secret"]}),
            self.skipcall,
            self.queue,
            max_body_bytes=self.max_body_bytes,
            work_queue=self.work,
            guard=self.guard,
            wall_clock=lambda: NOW,
            monotonic=self._budget_clock,
        )

    def _budget_clock(self) -> float:
        creates = len(self.skipcall.received) - self._creates_before
        spent = self.spend_budget_at is not None and creates >= self.spend_budget_at
        return 1_000_000.0 if spent else 0.0

    def send(self, events: list[dict[str, Any]], time_left: float = 20.0) -> DeliveryReport:
        return self.send_body(json.dumps(events, separators=(",", ":")).encode(), time_left)

    def send_body(self, body: bytes, time_left: float = 20.0) -> DeliveryReport:
        headers = HubSpotVerifier(["v3"], 300).sign(body, SECRET, NOW, method="POST", url=URL)
        request = SignedRequest("POST", URL, body, Headers(headers))
        self._creates_before = len(self.skipcall.received)
        # received on the world's clock, as every other time here
        received = datetime.fromtimestamp(NOW, UTC)
        return self.pipeline.process(InboundDelivery("hubspot", request, received), time_left)

    def created(self) -> Counter[str]:
        return Counter(dto.name.split()[0] for dto in self.skipcall.created)

    def letter_reason(self, delivery_id: str) -> Reason:
        return next(x.reason for x in self.queue.letters if x.delivery_id == delivery_id)

    def reasons(self, reason: Reason) -> set[str]:
        return {letter.delivery_id for letter in self.queue.letters if letter.reason is reason}

    def stored(self) -> Counter[str]:
        return Counter(letter.delivery_id for letter in self.queue.letters)


def statuses(report: DeliveryReport) -> list[str]:
    return [event.status for event in report.events]


def test_the_issue_hubspot_retry_finishes_exactly_the_unfinished_event() -> None:
    """Event 0 is created; event 1 fails in Skipcall and its letter meets an SQS outage: 503.
    HubSpot retries with attemptNumber 1: event 0 is its first answer, event 1 is done now."""
    world = HubSpot()
    world.skipcall.fault_for = lambda dto: "5xx" if dto.name.startswith("E2 ") else None
    world.queue.broken = True
    first = world.send([event(1), event(2)])
    assert statuses(first) == ["created", "unfinished"]
    assert delivery_response(first).status_code == 503

    world.queue.broken = False
    world.skipcall.fault_for = lambda dto: None
    calls = len(world.skipcall.received)
    retry = world.send([event(1, attempt=1), event(2, attempt=1)])
    assert statuses(retry) == ["created", "created"]
    assert [e.duplicate for e in retry.events] == [True, False]
    assert len(world.skipcall.received) == calls + 1  # only event 2 went to Skipcall
    assert world.created() == {"E1": 1, "E2": 1}
    assert delivery_response(retry).status_code == 201


def test_a_retry_with_only_its_counter_changed_gets_the_first_answer_and_no_call() -> None:
    world = HubSpot()
    first = world.send([event(1)])
    again = world.send([event(1, attempt=4)])
    assert again.events[0].sequence == first.events[0].sequence
    assert again.events[0].duplicate
    assert len(world.skipcall.received) == 1


def test_pipedrive_v2_meta_attempt_is_a_retry_not_a_conflict() -> None:
    world = HubSpot()
    auth = {"Authorization": "Basic cGlwZWRyaXZlOmJhc2ljLWF1dGgtc2VjcmV0"}

    def send(attempt: int) -> DeliveryReport:
        body = {"meta": {"id": "7a3e", "attempt": attempt, "version": "2.0"},
                "data": {"name": "Ada"}}  # fmt: skip
        request = SignedRequest("POST", URL, json.dumps(body).encode(), Headers(auth))
        return world.pipeline.process(InboundDelivery("pipedrive", request), 20.0)

    assert statuses(send(1)) == ["created"]
    assert statuses(send(2)) == ["created"]
    assert len(world.skipcall.received) == 1


def test_a_reused_id_with_other_content_is_a_conflict_of_that_event_only() -> None:
    world = HubSpot()
    world.send([event(1), event(2)])
    changed = {**event(2, attempt=1), "objectId": 999}
    report = world.send([event(1, attempt=1), changed, event(3)])
    assert statuses(report) == ["created", "conflict", "created"]
    assert world.created() == {"E1": 1, "E2": 1, "E3": 1}
    assert delivery_response(report).status_code == 202
    only_conflicts = world.send([changed])
    assert only_conflicts.status == "conflict"
    assert delivery_response(only_conflicts).status_code == 409


def test_a_delivery_the_filter_skips_is_ignored_and_stores_nothing() -> None:
    world = HubSpot()
    report = world.send([{**event(1), "subscriptionType": "deal.propertyChange"}])
    assert report.status == "ignored"
    response = delivery_response(report)
    assert (response.status_code, response.body) == (200, {"status": "ignored", "events": []})
    assert world.queue.letters == []
    assert world.guard.records == {}


def test_a_raising_template_function_ends_its_event_only() -> None:
    world = HubSpot()
    report = world.send([event(1), event(2, note="not json"), event(3)])
    assert statuses(report) == ["created", "unmapped", "created"]
    (letter,) = world.queue.letters
    assert letter.reason is Reason.MAPPING_FAILED
    assert "JSONDecodeError" in letter.error.message
    assert delivery_response(report).status_code == 202


def test_every_event_unmapped_is_202_for_hubspot_and_422_for_a_person() -> None:
    world = HubSpot()
    report = world.send([event(1, note="x"), event(2, note="y")])
    assert report.status == "unmapped"
    assert delivery_response(report).status_code == 202  # HubSpot would retry a 422 ten times
    assert (
        delivery_response(DeliveryReport(events=report.events, unmapped_status=422)).status_code
        == 422
    )


def test_a_client_that_raises_is_an_unknown_outcome_never_a_lost_event() -> None:
    world = HubSpot()
    world.skipcall.fault_for = lambda dto: "raise" if dto.name.startswith("E1 ") else None
    report = world.send([event(1), event(2)])
    assert statuses(report) == ["dead-lettered", "created"]
    (letter,) = world.queue.letters
    assert (letter.reason, letter.retryable) == (Reason.OUTCOME_UNKNOWN, False)
    assert letter.error.code == "CLIENT_ERROR"


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def test_a_letter_too_deep_for_the_envelope_keeps_the_raw_body() -> None:
    world = HubSpot()
    world.skipcall.fault_for = lambda dto: "5xx"
    report = world.send([event(1), event(2, deep=nested(400))])
    assert statuses(report) == ["dead-lettered", "dead-lettered"]
    # the two events ran at once: their letters are in the order they were stored
    plain, deep = sorted(world.queue.letters, key=lambda letter: letter.delivery_id)
    assert (plain.payload_scope, plain.payload_encoding) == ("event", "json")
    assert (deep.payload_scope, deep.payload_encoding, deep.event_index) == ("body", "base64", 1)
    assert json.loads(deep.stored_body() or b"")[1]["eventId"] == 2


def test_a_letter_over_the_sqs_limit_falls_back_to_the_raw_body() -> None:
    """`1E15` is 4 bytes in the body and 18 once re-serialised: at the largest MAX_BODY_BYTES a
    body of them is a 2.6 MB JSON letter. The base64 body is 4/3 of the body and always fits."""
    world = HubSpot(max_body_bytes=MAX_BODY_BYTES)
    world.skipcall.fault_for = lambda dto: "5xx"
    count = (MAX_BODY_BYTES - 1024) // 5
    body_event = event(1)
    raw = json.dumps([body_event])[:-2] + ', "nums": [' + ",".join(["1E15"] * count) + "]}]"
    request_body = raw.encode()
    assert len(request_body) <= world.max_body_bytes
    headers = HubSpotVerifier(["v3"], 300).sign(request_body, SECRET, NOW, method="POST", url=URL)
    request = SignedRequest("POST", URL, request_body, Headers(headers))
    report = world.pipeline.process(InboundDelivery("hubspot", request), 20.0)
    assert statuses(report) == ["dead-lettered"]
    (letter,) = world.queue.letters
    assert (letter.payload_scope, letter.payload_encoding) == ("body", "base64")
    assert len(letter.to_message_body().encode()) <= MAX_LETTER_BYTES
    assert letter.sequence is not None  # the DTO still fits beside the body


def test_the_last_events_of_a_spent_budget_are_dead_lettered_together() -> None:
    world = HubSpot()
    report = world.send([event(number) for number in range(1, 101)], time_left=2.0)
    assert statuses(report) == ["dead-lettered"] * 100
    assert world.skipcall.received == []
    assert world.queue.calls == 2  # two sends of 50 letters: SendMessageBatch, 10 a call
    assert {letter.reason for letter in world.queue.letters} == {Reason.BUDGET_EXHAUSTED}
    assert len(world.stored()) == 100


def test_letters_stored_before_sqs_broke_mid_send_are_not_stored_again_by_the_retry() -> None:
    """100 letters go out in 10 SendMessageBatch calls; the connection breaks at the fourth,
    after 30 were stored. Those 30 are recorded; only the other 70 are left to the retry."""
    world = HubSpot()
    world.queue.cut_at = 3
    first = world.send([event(number) for number in range(1, 101)], time_left=2.0)
    assert statuses(first) == ["dead-lettered"] * 30 + ["unfinished"] * 70
    assert delivery_response(first).status_code == 503
    assert world.queue.batches == 3
    world.queue.cut_at = None
    retry = world.send([event(number, attempt=1) for number in range(1, 101)], time_left=2.0)
    assert statuses(retry) == ["dead-lettered"] * 100
    assert [outcome.duplicate for outcome in retry.events] == [True] * 30 + [False] * 70
    assert world.stored() == Counter({str(number): 1 for number in range(1, 101)})


def test_the_tail_stores_nothing_it_could_not_record_when_the_table_goes_down() -> None:
    """No budget: the tail claims events 1 and 2, then the table goes away at event 3. Letters
    stored for 1 and 2 could not be recorded, and the retry, once the claims lapsed, would
    store them again: so none is stored and the retry stores each once."""
    guard = Outages()
    world = HubSpot(guard=guard)
    guard.refuse_from = 3
    first = world.send([event(number) for number in range(1, 6)], time_left=1.5)
    assert statuses(first) == ["unfinished"] * 5
    assert world.queue.letters == []
    guard.down, guard.refuse_from = False, None
    guard.lapse_claims()
    retry = world.send([event(number, attempt=1) for number in range(1, 6)], time_left=1.5)
    assert statuses(retry) == ["dead-lettered"] * 5
    assert world.stored() == Counter({str(number): 1 for number in range(1, 6)})


def test_an_entry_sqs_fails_is_left_to_the_retry_and_its_neighbours_are_kept() -> None:
    world = HubSpot()
    world.queue.refuses = lambda letter: letter.delivery_id in {"4", "17"}
    first = world.send([event(number) for number in range(1, 21)], time_left=1.5)  # no budget
    assert [o.delivery_id for o in first.events if o.status == "unfinished"] == ["4", "17"]
    world.queue.refuses = lambda letter: False
    world.send([event(number, attempt=1) for number in range(1, 21)], time_left=1.5)
    assert world.stored() == Counter({str(number): 1 for number in range(1, 21)})


# ---------------------------------------------------------------------------------------------
# The property: whatever the batch, the faults and the sender's retries, every event ends
# created once or stored once, and none is skipped.

FAULTS = ["none", "none", "none", "5xx", "429", "timeout", "timeout-created", "raise",
          "bad-template", "deep", "big"]  # fmt: skip
STATS: Counter[str] = Counter()


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.integers(1, 100))
    return {
        "faults": draw(st.lists(st.sampled_from(FAULTS), min_size=size, max_size=size)),
        # SQS fails the entries of events after k, during attempt a (a brief outage mid-batch)
        "sqs_outage": draw(st.none() | st.tuples(st.integers(0, 2), st.integers(0, size - 1))),
        # the connection to SQS breaks at the n-th SendMessageBatch of a send, during attempt a,
        # after the calls before it stored their letters
        "sqs_cut": draw(st.none() | st.tuples(st.integers(0, 2), st.integers(0, 9))),
        # the budget is spent before event k of attempt a: the rest go out together
        "budget": draw(st.none() | st.tuples(st.integers(0, 2), st.integers(0, size - 1))),
        # the table is unreachable from event k on, during attempt a
        "table_outage": draw(st.none() | st.tuples(st.integers(0, 2), st.integers(0, size - 1))),
        "split": draw(st.booleans()),  # the sender splits its retries into two batches
        "resend": draw(st.booleans()),  # and sends a finished batch once more
    }


class Outages(MemoryIdempotency):
    """The table goes away before the claim of one event and stays away for that attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_from: int | None = None

    def claim(self, key: dict[str, Any]) -> dict[str, Any] | None:
        if self.refuse_from is not None and _number(key["deliveryId"]) >= self.refuse_from:
            self.down = True
        return super().claim(key)


def _number(delivery_id: str) -> int:
    return int(delivery_id)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_every_event_ends_created_once_or_stored_once(scenario: dict[str, Any]) -> None:
    faults: list[str] = scenario["faults"]
    guard = Outages()
    world = HubSpot(guard=guard, max_body_bytes=4 * 1024 * 1024)
    by_name = {f"E{number}": fault for number, fault in enumerate(faults, start=1)}
    world.skipcall.fault_for = lambda dto: _skipcall_fault(dto, by_name)

    def payload(number: int, attempt: int) -> dict[str, Any]:
        fault = faults[number - 1]
        extra: dict[str, Any] = {}
        if fault == "bad-template":
            extra["note"] = "{not json"
        elif fault == "deep":
            extra["deep"] = nested(300)
        elif fault == "big":
            extra["blob"] = "é\x00\ufffe" * 2_000  # escapes and characters SQS refuses raw
        return event(number, attempt, **extra)

    attempt_no = 0
    pending = [list(range(1, len(faults) + 1))]
    last: dict[int, str] = {}
    resent = False
    while pending and attempt_no < 10:  # HubSpot tries up to 10 times
        batch = pending.pop(0)
        sqs, table = scenario["sqs_outage"], scenario["table_outage"]
        world.queue.refuses = (
            (lambda letter, k=sqs[1]: int(letter.delivery_id) > k)
            if sqs is not None and sqs[0] == attempt_no
            else lambda letter: False
        )
        cut = scenario["sqs_cut"]
        world.queue.cut_at = cut[1] if cut is not None and cut[0] == attempt_no else None
        budget = scenario["budget"]
        world.spend_budget_at = (
            budget[1] + 1 if budget is not None and budget[0] == attempt_no else None
        )
        guard.down = False
        guard.refuse_from = table[1] + 1 if table is not None and table[0] == attempt_no else None
        report = world.send([payload(number, attempt_no) for number in batch])
        guard.down, guard.refuse_from = False, None
        guard.lapse_claims()  # the sender's next try comes after this invocation ended
        attempt_no += 1
        STATS["deliveries"] += 1
        for outcome in report.events:
            last[int(outcome.delivery_id)] = outcome.status
        if report.status == "unavailable":
            STATS["answered 503"] += 1
            if scenario["split"] and len(batch) > 1:
                middle = len(batch) // 2
                pending += [batch[:middle], batch[middle:]]
            else:
                pending.append(batch)
        elif scenario["resend"] and not resent:
            resent = True
            pending.append(batch)

    created, stored = world.created(), world.stored()
    for number, fault in enumerate(faults, start=1):
        name = f"E{number}"
        STATS["events"] += 1
        STATS[f"fault {fault}"] += 1
        assert last.get(number) not in (None, "unfinished"), f"{name} was skipped"
        assert created[name] <= 1, f"{name} created twice"
        assert stored[str(number)] <= 1, f"{name} stored twice"
        assert created[name] + stored[str(number)] >= 1, f"{name} lost"
        if created[name] and stored[str(number)]:  # only a person may settle a possible double
            assert world.letter_reason(str(number)) is Reason.OUTCOME_UNKNOWN, f"{name} twice"
        STATS["created once"] += created[name]
        STATS["stored once"] += stored[str(number)]
        if fault in ("none", "deep", "big"):  # created, unless its budget was spent first
            spent = str(number) in world.reasons(Reason.BUDGET_EXHAUSTED)
            assert created[name] == 1 or spent, f"{name} had nothing wrong but was not created"
            STATS["budget spent"] += spent


def _skipcall_fault(dto: CreateSequenceDto, by_name: dict[str, str]) -> str | None:
    fault = by_name.get(dto.name.split()[0])
    return fault if fault in ("5xx", "429", "timeout", "timeout-created", "raise") else None


@pytest.fixture(scope="module", autouse=True)
def _print_stats() -> Iterator[None]:
    """The property's counts, for the record (shown with -s)."""
    yield
    if STATS:
        print(f"\nevent fates: {dict(sorted(STATS.items()))}")


def test_a_mapper_that_raises_ends_its_event_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in mapping (not a template's own error) is that event's MAPPING_FAILED letter, with
    the exception named; the events around it are created."""
    world = HubSpot()
    source = world.catalog.get("hubspot")
    assert source is not None
    mapper = source.mapper
    real = type(mapper).map

    def buggy(self: Any, payload: Any, resolution: Any) -> Any:
        if payload["eventId"] == 2:
            raise KeyError("a bug")
        return real(self, payload, resolution)

    monkeypatch.setattr(type(mapper), "map", buggy)
    report = world.send([event(1), event(2), event(3)])
    assert statuses(report) == ["created", "unmapped", "created"]
    (letter,) = world.queue.letters
    assert (letter.delivery_id, letter.reason) == ("2", Reason.MAPPING_FAILED)
    assert "KeyError" in letter.error.message


def test_a_body_nested_deeper_than_any_sender_is_stored_once_never_503() -> None:
    """#22 finding 9: a body hundreds deep made a walk over it raise RecursionError: 503 for
    every retry, never stored. Deeper than MAX_DEPTH it is an invalid body, kept whole once."""
    from skipcall_bridge.common.payloads import MAX_DEPTH

    world = HubSpot()
    depth = MAX_DEPTH + 1
    plain = json.dumps(event(2))[:-1]
    body = f'[{json.dumps(event(1))},{plain},"deep":{"[" * depth}"x"{"]" * depth}}}]'.encode()
    first = world.send_body(body)
    assert statuses(first) == ["invalid-body"]
    assert delivery_response(first).status_code < 500
    (letter,) = world.queue.letters
    assert (letter.reason, letter.payload_scope) == (Reason.MAPPING_FAILED, "body")
    again = world.send_body(body)  # HubSpot's retry: answered from the record, stored once
    assert again.events[0].duplicate
    assert len(world.queue.letters) == 1


def test_a_volatile_field_is_not_looked_for_through_a_hostile_depth_of_lists() -> None:
    """A fingerprint walks lists two levels deep (a batch, a batch of batches), not as deep as
    the payload goes: deep in a call stack, 500 nested lists once ran out of recursion."""
    source = HubSpot().catalog.get("hubspot")
    assert source is not None
    deep: Any = {"attemptNumber": 1}
    for _ in range(500):
        deep = [deep]

    def at_depth(frames: int) -> Any:
        return source.fingerprint(deep) if frames == 0 else at_depth(frames - 1)

    assert at_depth(400) == deep  # unchanged: too deep to be an event
    assert source.fingerprint([[{"attemptNumber": 1, "x": 1}]]) == [[{"x": 1}]]


def test_a_delivery_of_more_events_than_the_source_takes_is_refused_before_any_work() -> None:
    """#22 finding 6: one 56 KB batch of 3,000 events ran 117 s against a 4 s budget and wrote
    3,000 letters. Past `maxEvents` (100 by default, HubSpot's batch) it is 413 at once."""
    from skipcall_bridge.common.errors import PayloadTooLarge
    from skipcall_bridge.receive.responses import error_response

    world = HubSpot()
    with pytest.raises(PayloadTooLarge, match="101 events") as refused:
        world.send([event(n) for n in range(1, 102)])
    assert error_response(refused.value).status_code == 413
    assert (world.skipcall.received, world.queue.letters, world.guard.records) == ([], [], {})
    assert statuses(world.send([event(n) for n in range(1, 101)])) == ["created"] * 100
