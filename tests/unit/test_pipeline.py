"""The pipeline end to end, with in-memory ports: every status path of docs/responses.md."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from skipcall_bridge.common.errors import (
    InvalidForm,
    InvalidSignature,
    PayloadTooLarge,
    Unavailable,
    UnknownSource,
)
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.standard_webhooks import StandardWebhooksVerifier

from .fakes import (
    MemoryIdempotency,
    RecordingDeadLetters,
    ScriptedSkipcall,
    StaticSecrets,
    unavailable,
)

CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
TOKEN = "tok-123-0123456789abcdef"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_800_000_000
SEQUENCE = {"name": "{{ name }}", "creatorId": "{{ owner }}", "assignedToIds": "{{ owner }}"}
FORM_SEQUENCE = {
    "name": "Call {{ contact.first_name }}",
    "creatorId": "{{ owner }}",
    "assignedToIds": "{{ owner }}",
}
CONFIG = {
    "sources": {
        "zap": {"auth": {"scheme": "bearer", "secretId": "zap"}, "sequence": SEQUENCE},
        "batch": {
            "auth": {"scheme": "bearer", "secretId": "zap"},
            "events": "items",
            "sequence": SEQUENCE,
        },
        "signed": {
            "auth": {"scheme": "standard-webhooks", "secretId": "sw"},
            "sequence": SEQUENCE,
        },
        "bulk": {  # HubSpot's batches, up to the most a source may take
            "auth": {"scheme": "bearer", "secretId": "zap"},
            "events": "items",
            "maxEvents": 1000,
            "sequence": SEQUENCE,
        },
        "form": {
            "auth": {"scheme": "bearer", "secretId": "zap"},
            "bodyFormat": "form",
            "sequence": FORM_SEQUENCE,
        },
        "auto": {
            "auth": {"scheme": "bearer", "secretId": "zap"},
            "bodyFormat": "auto",
            "sequence": FORM_SEQUENCE,
        },
    }
}


class World:
    def __init__(
        self,
        max_body_bytes: int = 1024,
        guard: Any = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secrets = StaticSecrets({"zap": [TOKEN], "sw": [SW_SECRET]})
        self.skipcall = ScriptedSkipcall()
        self.dead_letters = RecordingDeadLetters()
        self.catalog = SourceCatalog.from_config(parse_sources(json.dumps(CONFIG)))
        self.pipeline = Pipeline(
            self.catalog,
            self.secrets,
            self.skipcall,
            self.dead_letters,
            max_body_bytes=max_body_bytes,
            guard=guard,
            wall_clock=lambda: NOW,
            monotonic=monotonic,
        )

    def deliver(
        self,
        body: Any,
        source: str = "zap",
        headers: dict[str, str] | None = None,
        time_left: float = 20.0,
        content_type: str | None = None,
    ):  # type: ignore[no-untyped-def]
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Authorization": f"Bearer {TOKEN}"} if headers is None else headers
        if content_type is not None:
            sent = {**sent, "Content-Type": content_type}
        request = SignedRequest(
            method="POST",
            url=f"https://example.com/webhooks/{source}",
            body=raw,
            headers=Headers(sent),
        )
        return self.pipeline.process(InboundDelivery(source, request), time_left)


EVENT = {"name": "Call Ada", "owner": CREATOR}


def test_created() -> None:
    world = World()
    report = world.deliver(EVENT)
    assert report.status == "created"
    assert [s["name"] for s in report.sequences] == ["Call Ada"]
    assert world.dead_letters.letters == []


def test_unknown_source() -> None:
    with pytest.raises(UnknownSource):
        World().deliver(EVENT, source="nope")


def test_too_large_is_refused_before_anything_else() -> None:
    world = World(max_body_bytes=10)
    with pytest.raises(PayloadTooLarge):
        world.deliver(EVENT)
    assert world.secrets.reads == 0


def test_bad_signature_does_nothing_else() -> None:
    world = World()
    with pytest.raises(InvalidSignature):
        world.deliver(EVENT, headers={"Authorization": "Bearer wrong"})
    assert world.skipcall.received == []
    assert world.dead_letters.letters == []


def test_invalid_json_is_dead_lettered_as_the_raw_body() -> None:
    world = World()
    body = b'{"name": NaN, "bytes": "\xff\xfe"}'
    report = world.deliver(body)
    assert [event.status for event in report.events] == ["invalid-body"]
    assert report.status == "unmapped"
    (letter,) = world.dead_letters.letters
    assert letter.reason is Reason.MAPPING_FAILED
    assert (letter.payload_encoding, letter.payload_scope) == ("base64", "body")
    assert letter.stored_body() == body
    assert letter.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()


FORM = "application/x-www-form-urlencoded"
FORM_BODY = f"type=subscribe&contact%5Bfirst_name%5D=Ada&owner={CREATOR}".encode()


def test_a_form_source_reads_form_fields_into_templates() -> None:
    world = World()
    report = world.deliver(FORM_BODY, source="form", content_type="text/plain")
    assert [s["name"] for s in report.sequences] == ["Call Ada"]
    # the same body to a JSON source is an invalid body, as before
    assert World().deliver(FORM_BODY).events[0].status == "invalid-body"


def test_auto_reads_each_body_by_its_content_type() -> None:
    world = World()
    as_json = {"contact": {"first_name": "Grace"}, "owner": CREATOR}
    assert world.deliver(as_json, source="auto").sequences[0]["name"] == "Call Grace"
    assert world.deliver(FORM_BODY, source="auto", content_type=FORM).sequences[0]["name"] == (
        "Call Ada"
    )
    assert world.dead_letters.letters == []


def test_an_auto_source_s_stored_body_says_how_it_was_read() -> None:
    """A form body that cannot be read is stored as sent, with the format it was read in: the
    replay reads it the same way, not as JSON (the source's default without a Content-Type)."""
    world = World()
    body = b"contact=1&contact[first_name]=Ada"
    report = world.deliver(body, source="auto", content_type=FORM)
    assert report.events[0].status == "invalid-body"
    (letter,) = world.dead_letters.letters
    assert (letter.body_format, letter.stored_body()) == ("form", body)
    assert '"bodyFormat":"form"' in letter.to_message_body()
    source = world.catalog.get("auto")
    assert source is not None
    with pytest.raises(InvalidForm, match="both a value and a group"):
        source.parse_body(body, letter.body_format)
    json_source = World()  # a JSON source's letters do not carry the field
    json_source.deliver(b"{")
    assert "bodyFormat" not in json_source.dead_letters.letters[0].to_message_body()


def test_unmappable_payload_is_reported_unmapped_and_dead_lettered() -> None:
    world = World()
    report = world.deliver({"name": "no owner"})
    assert report.status == "unmapped"
    assert {d["field"] for d in report.mapping_errors} == {"creatorId", "assignedToIds"}
    (letter,) = world.dead_letters.letters
    assert (letter.reason, letter.retryable, letter.sequence) == (
        Reason.MAPPING_FAILED,
        False,
        None,
    )
    assert letter.payload == {"name": "no owner"}


def test_skipcall_failure_is_dead_lettered_with_the_dto() -> None:
    world = World()
    world.skipcall.script = [unavailable(attempts=4)]
    report = world.deliver(EVENT)
    assert report.status == "dead-lettered"
    (letter,) = world.dead_letters.letters
    assert letter.reason is Reason.SKIPCALL_UNAVAILABLE
    assert letter.attempts == 1  # deliveries, not HTTP calls: the receiver's try is one
    assert letter.sequence == {"name": "Call Ada", "creatorId": CREATOR, "assignedToIds": [CREATOR]}
    assert [(ref.delivery_id, ref.reason) for ref in report.dead_lettered] == [
        (letter.delivery_id, Reason.SKIPCALL_UNAVAILABLE)
    ]


def test_batch_is_partial_when_one_event_fails() -> None:
    world = World()
    report = world.deliver({"items": [EVENT, {"name": "orphan"}]}, source="batch")
    assert report.status == "partial"
    assert len(report.sequences) == 1
    (letter,) = world.dead_letters.letters
    assert letter.delivery_id.endswith(":1")
    assert letter.payload == {"name": "orphan"}


def test_batch_where_nothing_maps_is_unmapped() -> None:
    world = World()
    report = world.deliver({"items": [{"name": "a"}, {"name": "b"}]}, source="batch")
    assert report.status == "unmapped"
    assert {d["event"] for d in report.mapping_errors} == {0, 1}
    assert len(world.dead_letters.letters) == 2


def test_no_time_left_dead_letters_without_calling_skipcall() -> None:
    world = World()
    report = world.deliver(EVENT, time_left=1.0)  # less than the DLQ reserve
    assert world.skipcall.received == []
    assert report.dead_lettered[0].reason is Reason.BUDGET_EXHAUSTED


def test_a_slow_queue_cannot_hold_a_spent_budget_s_answer_past_a_second() -> None:
    """#22 finding 6: 1,000 events with no budget left, and a queue that takes 0.1 s a
    SendMessageBatch (100 calls: 10 s). The tail stops storing once the budget + 1 s has
    passed: what it stored is recorded and reported; the rest is unfinished, so the sender
    retries it (a 503), and nothing is lost."""
    now = [0.0]
    world = World(max_body_bytes=1024 * 1024, monotonic=lambda: now[0])
    dead_letters = world.dead_letters
    dead_letters.on_batch = lambda: now.__setitem__(0, now[0] + 0.1)
    body = {"items": [{**EVENT, "id": n} for n in range(1000)]}
    report = world.deliver(body, source="bulk", time_left=1.0)  # all of it the reserve
    assert now[0] <= 1.0 + 0.5 + 1e-9  # the limit, and at most the chunk started before it
    statuses = Counter(event.status for event in report.events)
    assert statuses["dead-lettered"] == len(dead_letters.letters) >= 50
    assert statuses["unfinished"] == 1000 - len(dead_letters.letters) > 0
    assert report.status == "unavailable"  # answered 503: the sender retries the rest


def test_dead_letter_queue_down_is_unavailable() -> None:
    world = World()
    world.skipcall.script = [unavailable()]
    world.dead_letters.broken = True
    report = world.deliver(EVENT)
    assert report.status == "unavailable"
    assert [event.status for event in report.events] == ["unfinished"]


def test_standard_webhooks_delivery_id_is_the_message_id() -> None:
    world = World()
    world.skipcall.script = [unavailable()]
    body = json.dumps(EVENT).encode()
    headers = StandardWebhooksVerifier(300).sign(body, SW_SECRET, NOW, method="POST", url="")
    world.deliver(body, source="signed", headers=headers)
    assert world.dead_letters.letters[0].delivery_id == headers["webhook-id"]


class SavesNothing(MemoryIdempotency):
    """A deduplication store that takes the claim but then fails to record the outcome."""

    def complete(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        raise Unavailable("table went away")


def test_an_outcome_that_could_not_be_recorded_is_still_the_answer() -> None:
    world = World(guard=SavesNothing())
    report = world.deliver(EVENT)
    assert report.status == "created"  # not 503: a retry would create it a second time
    assert len(world.skipcall.received) == 1


def test_deduplication_down_before_any_work_is_unavailable() -> None:
    world = World(guard=MemoryIdempotency(down=True))
    report = world.deliver({"items": [EVENT, EVENT]}, source="batch")
    assert report.status == "unavailable"
    assert world.skipcall.received == []
    assert world.dead_letters.letters == []
