"""A delivery of more events than can be claimed one by one within the budget (up to a source's
`maxEvents`, 1,000) is accepted whole: one record for the delivery, each event's letter in the
work queue unclaimed, and the worker claims each under the key a delivery would. In-memory
ports; tests/integration/test_large_deliveries.py runs it on moto, the sandbox and the worker's
event source."""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.letters.replay import Replayer
from skipcall_bridge.letters.worker import Worker
from skipcall_bridge.receive.accept_whole import ACCEPT_WHOLE_ABOVE
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.receive.responses import delivery_response
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources

from . import test_event_fates
from .fakes import RecordingDeadLetters, StaticSecrets
from .test_event_fates import NOW, SECRET, HubSpot, event, statuses
from .test_repeats import CREATE, FIXED, only
from .test_repeats import TOKEN as REPEAT_TOKEN
from .test_repeats import World as RepeatWorld
from .test_work_queue import drain

BULK = copy.deepcopy(test_event_fates.SOURCES)
BULK["sources"]["hubspot"]["maxEvents"] = 1000


class BulkHubSpot(HubSpot):
    """The HubSpot world, its source taking up to 1,000 events a delivery, with a work queue."""

    def __post_init__(self) -> None:
        self.catalog = SourceCatalog.from_config(parse_sources(json.dumps(BULK)))
        self.pipeline = Pipeline(
            self.catalog,
            StaticSecrets({"hs": [SECRET]}),
            self.skipcall,
            self.queue,
            max_body_bytes=1024 * 1024,
            work_queue=self.work,
            guard=self.guard,
            wall_clock=lambda: NOW,
            monotonic=self._budget_clock,
        )


def world() -> BulkHubSpot:
    return BulkHubSpot(work=RecordingDeadLetters())


def batch(first: int, last: int, attempt: int = 0) -> list[dict[str, Any]]:
    return [event(n, attempt) for n in range(first, last + 1)]


def receive_records(hubspot: BulkHubSpot) -> list[tuple[str, str, str]]:
    return [key for key in hubspot.guard.records if key[2] == "receive"]


def test_a_1000_event_delivery_is_accepted_whole_and_nothing_is_claimed_one_by_one() -> None:
    hubspot = world()
    report = hubspot.send(batch(1, 1000))
    assert statuses(report) == ["deferred"] * 1000
    assert delivery_response(report).status_code == 202
    assert hubspot.skipcall.received == []
    assert hubspot.work is not None
    assert len(hubspot.work.letters) == 1000
    assert all(letter.unclaimed for letter in hubspot.work.letters)
    assert '"unclaimed":true' in hubspot.work.letters[0].to_message_body()
    assert receive_records(hubspot) == []  # one record, the delivery's
    assert [key[2] for key in hubspot.guard.records] == ["accept"]


def test_at_the_threshold_events_are_still_worked_in_the_delivery() -> None:
    hubspot = world()
    report = hubspot.send(batch(1, ACCEPT_WHOLE_ABOVE))
    assert statuses(report) == ["created"] * ACCEPT_WHOLE_ABOVE
    assert hubspot.work is not None
    assert hubspot.work.letters == []


def test_the_retry_with_new_attempt_numbers_is_answered_from_the_delivery_record() -> None:
    hubspot = world()
    hubspot.send(batch(1, 1000))
    assert hubspot.work is not None
    queued = len(hubspot.work.letters)
    retry = hubspot.send(batch(1, 1000, attempt=1))
    assert statuses(retry) == ["deferred"] * 1000
    assert all(outcome.duplicate for outcome in retry.events)
    assert delivery_response(retry).status_code == 202
    assert len(hubspot.work.letters) == queued  # nothing stored twice


def test_the_worker_does_each_event_once_and_claims_the_key_a_delivery_would() -> None:
    hubspot = world()
    hubspot.send(batch(1, 1000))
    verdicts = drain(hubspot)
    assert all(verdict.leaves for verdict in verdicts)
    assert hubspot.created() == Counter({f"E{n}": 1 for n in range(1, 1001)})
    assert len(receive_records(hubspot)) == 1000
    # The same events batched differently by the sender's retry: answered from the records.
    again = hubspot.send(batch(1, 100, attempt=2))
    assert statuses(again) == ["created"] * 100
    assert all(outcome.duplicate for outcome in again.events)
    assert hubspot.created() == Counter({f"E{n}": 1 for n in range(1, 1001)})


def test_an_event_a_delivery_did_first_is_left_alone_by_the_worker() -> None:
    hubspot = world()
    assert statuses(hubspot.send(batch(5, 5))) == ["created"]
    hubspot.send(batch(1, 1000))  # event 5 again, in a delivery accepted whole
    verdicts = drain(hubspot)
    assert all(verdict.leaves for verdict in verdicts)
    assert hubspot.created() == Counter({f"E{n}": 1 for n in range(1, 1001)})


def test_a_work_queue_that_takes_only_part_is_503_and_the_retry_stores_the_rest_once() -> None:
    hubspot = world()
    assert hubspot.work is not None
    work = hubspot.work
    # SQS takes the first 300 events' letters and no more (by event, not by count: the chunks
    # go out side by side, and a count read by two threads at once would decide by timing)
    work.refuses = lambda letter: int(letter.delivery_id) > 300
    first = hubspot.send(batch(1, 1000))
    assert set(statuses(first)) == {"unfinished"}
    assert delivery_response(first).status_code == 503
    assert len(hubspot.work.letters) == 300
    work.refuses = lambda letter: False
    retry = hubspot.send(batch(1, 1000, attempt=1))
    assert statuses(retry) == ["deferred"] * 1000
    assert len(hubspot.work.letters) == 1300  # the first 300 twice: claimed once each below
    drain(hubspot)
    assert hubspot.created() == Counter({f"E{n}": 1 for n in range(1, 1001)})


@dataclass
class FixedAfterwards(RepeatWorld):
    """test_repeats' world (a `crm` source that did not map at first, then fixed), taking up to
    1,000 events a delivery, with a work queue."""

    work: RecordingDeadLetters = field(default_factory=RecordingDeadLetters)

    def deploy(self, text: str) -> None:
        config = json.loads(text)
        config["sources"]["crm"]["maxEvents"] = 1000
        self.catalog = SourceCatalog.from_config(parse_sources(json.dumps(config)))
        self.pipeline = Pipeline(
            self.catalog, StaticSecrets({"crm": [REPEAT_TOKEN]}), self.skipcall, self.queue,
            max_body_bytes=1024 * 1024, guard=self.guard, work_queue=self.work,
            namer=SequenceNamer(self.links),
        )  # fmt: skip

    def work_all(self) -> None:
        replayer = Replayer(
            self.catalog, self.work, self.skipcall, self.guard,
            namer=SequenceNamer(self.links), actor="worker",
        )  # fmt: skip
        worker = Worker(replayer, self.work, self.queue, max_receives=5)
        messages, self.work.letters = self.work.letters, []
        for letter in messages:
            assert worker.handle(letter.to_message_body(), 1).leaves


def test_an_event_that_did_not_map_before_is_left_to_its_letter_when_accepted_whole() -> None:
    """Its first delivery did not map: its letter waits in the DLQ, and the replay acts on it
    under the letter's key. The sources are fixed, and the sender sends it again inside a
    delivery accepted whole: the worker leaves it to that letter (else the worker and the
    replay would each create it, under keys of their own)."""
    world = FixedAfterwards()
    assert only(world.send(CREATE)).status == "unmapped"
    world.deploy(FIXED)
    others = [{"id": f"n{n}", "action": "create", "name": f"Lead {n}"} for n in range(120)]
    report = world.send_body({"events": [CREATE, *others]})
    assert {outcome.status for outcome in report.events} == {"deferred"}
    world.work_all()
    world.replay()
    names = Counter(dto.name for dto in world.skipcall.created)
    assert names["Call Ada"] == 1
    assert all(names[f"Lead {n}"] == 1 for n in range(120))
