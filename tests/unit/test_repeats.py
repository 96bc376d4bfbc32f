"""A sender's repeat of an event that ended unmapped, after the sources file was fixed: it is
evaluated again with the sources as they are now, under its letter's replay key, so that the
repeat and the replay act on it once between them, in either order and when they race; no
second letter is ever written, and an unknown outcome is never sent again blindly.

Each deploy is a new Pipeline (a new container) over the same stores: the queue, the
deduplication table and the link table outlive it, as they do in AWS."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.observability import metrics
from skipcall_bridge.common.outcomes import DeliveryReport, EventOutcome
from skipcall_bridge.letters.replay import Replayer, ReplayFilter, ReplaySummary
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.receive.responses import delivery_response
from skipcall_bridge.skipcall.models import CreateSequenceDto
from skipcall_bridge.skipcall.retry import RateLimit
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest

from .fakes import MemoryIdempotency, MemoryReplayQueue, ScriptedSkipcall, StaticSecrets

CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
TOKEN = "bearer-token-for-repeats"
ENROL = {"id": "e1", "action": "enrol", "sequence": "Inbound", "contacts": ["c1", "c2"]}
CREATE = {"id": "e2", "action": "create", "name": "Call Ada"}


def sources(contacts: str = "{{ contacts }}", name: str | None = "{{ name }}") -> str:
    """The `crm` source. Its first version had two typos: the contact ids read `contact`, and
    the sequence had no name (a create does not map, nor an enrol that creates its target)."""
    sequence: dict[str, Any] = {"creatorId": CREATOR, "assignedToIds": [CREATOR]}
    if name is not None:
        sequence["name"] = name
    crm = {
        "auth": {"scheme": "bearer", "secretId": "crm"},
        "events": "events",
        "deliveryId": "id",
        "action": "{{ action }}",
        "target": {"name": "{{ sequence }}"},
        "contactIds": contacts,
        "sequence": sequence,
    }
    return json.dumps({"sources": {"crm": crm}})


BROKEN = sources(contacts="{{ contact }}", name=None)
FIXED = sources()


@dataclass
class World:
    skipcall: ScriptedSkipcall = field(default_factory=ScriptedSkipcall)
    queue: MemoryReplayQueue = field(default_factory=MemoryReplayQueue)
    guard: MemoryIdempotency = field(default_factory=MemoryIdempotency)
    links: MemoryLinks = field(default_factory=MemoryLinks)

    def __post_init__(self) -> None:
        self.deploy(BROKEN)

    def deploy(self, text: str) -> None:
        self.catalog = SourceCatalog.from_config(parse_sources(text))
        self.pipeline = Pipeline(
            self.catalog,
            StaticSecrets({"crm": [TOKEN]}),
            self.skipcall,
            self.queue,
            max_body_bytes=1024 * 1024,
            guard=self.guard,
            namer=SequenceNamer(self.links),
        )

    def send(self, *events: dict[str, Any]) -> DeliveryReport:
        return self.send_body({"events": list(events)})

    def send_body(self, payload: Any) -> DeliveryReport:
        body = json.dumps(payload).encode()
        request = SignedRequest("POST", "/", body, Headers({"Authorization": f"Bearer {TOKEN}"}))
        return self.pipeline.process(InboundDelivery("crm", request), 20.0)

    def replay(self, **filters: Any) -> ReplaySummary:
        replayer = Replayer(self.catalog, self.queue, self.skipcall, self.guard,
                            namer=SequenceNamer(self.links), sleep=lambda s: None)  # fmt: skip
        return replayer.run(ReplayFilter(**filters))

    def calls(self) -> int:
        """Every request Skipcall received: creates and contact changes."""
        return len(self.skipcall.received) + len(self.skipcall.membership_calls)


def only(report: DeliveryReport) -> EventOutcome:
    (outcome,) = report.events
    return outcome


def answer(report: DeliveryReport) -> tuple[int, dict[str, Any]]:
    response = delivery_response(report)
    assert isinstance(response.body, dict)
    return response.status_code, response.body


@pytest.mark.parametrize(("event", "done"), [(ENROL, "enrolled"), (CREATE, "created")])
def test_a_repeat_after_the_fix_is_done_now_and_the_replay_does_not_do_it_again(
    event: dict[str, Any], done: str
) -> None:
    world = World()
    first = world.send(event)
    assert only(first).status == "unmapped"
    assert answer(first)[0] == 422
    assert world.calls() == 0

    world.deploy(FIXED)
    repeat = world.send(event)
    assert (only(repeat).status, only(repeat).duplicate) == (done, True)
    status, body = answer(repeat)
    assert status == 201
    assert body["events"][0]["duplicate"] is True
    assert body["sequences"] == [only(repeat).sequence]  # created now, by this repeat
    calls = world.calls()
    assert len(world.skipcall.created) == 1
    assert len(world.queue.letters) == 1  # the first letter only: no second one

    summary = world.replay()
    assert summary.total("already-created") == 1  # the repeat did it: the letter just goes
    assert world.queue.letters == []
    assert world.calls() == calls

    again = world.send(event)  # from the receive record now, nothing evaluated
    assert (only(again).status, only(again).duplicate) == (done, True)
    assert only(again).sequence_id == only(repeat).sequence_id
    assert world.calls() == calls


def test_after_the_replay_did_it_a_repeat_is_answered_with_what_it_did() -> None:
    world = World()
    world.send(ENROL)
    world.deploy(FIXED)
    assert world.replay().total("replayed") == 1
    (sequence_id,) = world.skipcall.members
    assert world.skipcall.members[sequence_id] == ["c1", "c2"]
    calls = world.calls()

    repeat = only(world.send(ENROL))
    assert (repeat.status, repeat.duplicate, repeat.sequence_id) == ("enrolled", True, sequence_id)
    assert repeat.contact_ids == ["c1", "c2"]
    assert repeat.created  # the replay created the target for this event
    assert world.calls() == calls
    assert world.queue.letters == []


def test_a_repeat_that_still_does_not_map_answers_today_s_errors_and_writes_no_letter() -> None:
    world = World()
    first = answer(world.send(CREATE))[1]["error"]["details"]
    assert [(d["field"], d["message"][:14]) for d in first] == [("name", "Field required")]
    world.deploy(sources(name="{{ title }}"))  # a name now, read from a field events lack

    status, body = answer(world.send(CREATE))
    assert status == 422
    error = body["error"]
    assert [(d["field"], d["duplicate"]) for d in error["details"]] == [("name", True)]
    assert error["details"][0]["message"] != first[0]["message"]  # today's error, not the first
    assert "evaluated again" in error["message"]
    assert world.calls() == 0
    (letter,) = world.queue.letters  # still only the first
    assert letter.reason == "MAPPING_FAILED"


def test_a_repeat_skipcall_does_not_take_waits_in_its_letter_for_the_replay() -> None:
    world = World()
    world.send(CREATE)
    world.deploy(FIXED)
    world.skipcall.fault_for = lambda dto: "5xx"
    repeat = world.send(CREATE)
    assert (only(repeat).status, only(repeat).reason) == ("dead-lettered", "SKIPCALL_UNAVAILABLE")
    assert answer(repeat)[0] == 202
    assert len(world.queue.letters) == 1
    assert world.skipcall.created == []

    world.skipcall.fault_for = lambda dto: None
    assert world.replay().total("replayed") == 1  # the repeat released the letter's key
    assert len(world.skipcall.created) == 1
    assert only(world.send(CREATE)).status == "created"
    assert len(world.skipcall.created) == 1


@pytest.mark.parametrize("fault", ["timeout", "timeout-created"])
def test_an_unknown_outcome_on_a_repeat_is_never_sent_again_blindly(fault: str) -> None:
    world = World()
    world.send(CREATE)
    world.deploy(FIXED)
    world.skipcall.fault_for = lambda dto: fault
    repeat = world.send(CREATE)
    assert (only(repeat).status, only(repeat).reason) == ("dead-lettered", "OUTCOME_UNKNOWN")
    assert answer(repeat)[0] == 202
    world.skipcall.fault_for = lambda dto: None
    sent = len(world.skipcall.received)

    # The letter said MAPPING_FAILED: the replay learns from the record what happened since,
    # stores the letter with that reason, and does not send it.
    world.replay()
    (letter,) = world.queue.letters
    assert (letter.reason, letter.retryable) == ("OUTCOME_UNKNOWN", False)
    assert world.replay().total("not-retryable") == 1  # left for a person, as any other
    again = only(world.send(CREATE))
    assert (again.status, again.reason, again.duplicate) == (
        "dead-lettered",
        "OUTCOME_UNKNOWN",
        True,
    )
    assert len(world.skipcall.received) == sent

    # A person who checked Skipcall may still send it once more, on purpose.
    assert world.replay(include_unknown=True).total("replayed") == 1
    assert len(world.skipcall.received) == sent + 1
    assert world.queue.letters == []


class Gate:
    """Holds Skipcall's next create until the test opens it: two runs overlap by waiting on
    events, never on time."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, dto: CreateSequenceDto) -> None:
        self.entered.set()
        assert self.opened.wait(30), "the gate was never opened"  # a bound for a hang


def fixed_behind_a_gate() -> tuple[World, Gate]:
    """An unmapped create, the fix deployed, and Skipcall's next create held at a gate."""
    world = World()
    world.send(CREATE)
    world.deploy(FIXED)
    gate = Gate()
    world.skipcall.fault_for = gate
    return world, gate


def test_a_repeat_that_meets_the_replay_at_work_calls_nothing() -> None:
    world, gate = fixed_behind_a_gate()
    replaying = threading.Thread(target=world.replay)
    replaying.start()
    assert gate.entered.wait(30)
    repeat = only(world.send(CREATE))  # the replay holds the event's key: retry shortly
    assert (repeat.status, repeat.retry_after_seconds) == ("unfinished", 5)
    gate.opened.set()
    replaying.join(30)
    assert len(world.skipcall.received) == 1
    assert world.queue.letters == []
    assert only(world.send(CREATE)).status == "created"
    assert len(world.skipcall.received) == 1


def test_a_replay_that_meets_a_repeat_at_work_leaves_the_letter_for_later() -> None:
    world, gate = fixed_behind_a_gate()
    answers: list[DeliveryReport] = []
    repeating = threading.Thread(target=lambda: answers.append(world.send(CREATE)))
    repeating.start()
    assert gate.entered.wait(30)
    assert world.replay().total("busy") == 1  # the repeat holds the letter's key
    assert len(world.queue.letters) == 1
    gate.opened.set()
    repeating.join(30)
    assert only(answers[0]).status == "created"
    assert world.replay().total("already-created") == 1
    assert world.queue.letters == []
    assert len(world.skipcall.received) == 1


# -- the fate of unmapped events, whatever the order of repeats, replays and faults ----------

FAULTS = (None, "5xx", "429", "timeout", "timeout-created")
step = st.tuples(st.sampled_from(["repeat", "replay", "fix"]), st.sampled_from(FAULTS))
PAIR = (CREATE, {**CREATE, "id": "e3", "name": "Call Bob"})


def broken_selection() -> str:
    broken = json.loads(FIXED)
    broken["sources"]["crm"]["events"] = "abs(@)"  # a selection that fails on every body
    return json.dumps(broken)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=8), whole=st.booleans())
def test_unmapped_events_are_done_once_or_wait_in_their_letter(
    steps: list[tuple[str, str | None]], whole: bool
) -> None:
    """Two events whose first delivery did not map (each on its own, or the body kept whole
    because its selection failed), then any order of repeats, replays and the fix, each
    meeting a fault on its creates: no event is created twice, no second letter is written for
    one, and none ends neither created nor in the DLQ; a possible creation is left for a
    person."""
    world = World()
    world.deploy(broken_selection() if whole else BROKEN)
    world.send(*PAIR)
    first_letters = len(world.queue.letters)
    assert first_letters == (1 if whole else 2)
    unknown = False  # Skipcall may have created one while nobody learned so
    for action, fault in steps:
        world.skipcall.fault_for = lambda dto, fault=fault: fault  # type: ignore[misc]
        sent = len(world.skipcall.received)
        if action == "fix":
            world.deploy(FIXED)
        elif action == "repeat":
            report = world.send(*PAIR)
            assert all(outcome.duplicate or whole for outcome in report.events)
            assert "unfinished" not in {outcome.status for outcome in report.events}
        else:
            world.replay()
        if len(world.skipcall.received) > sent and fault in ("timeout", "timeout-created"):
            unknown = True
        # A kept body's events, once selected, are new to the receiver: a resend that fails
        # stores their own letters beside the body's, which the replay then finds theirs.
        assert len(world.queue.letters) <= first_letters + (len(PAIR) if whole else 0)
        assert max(Counter(dto.name for dto in world.skipcall.created).values(), default=0) <= 1

    # Then the fix, no more faults, a repeat, and a person's replay of what gave up too.
    world.skipcall.fault_for = lambda dto: None
    world.deploy(FIXED)
    final = world.send(*PAIR)
    world.replay(include_given_up=True)
    created = Counter(dto.name for dto in world.skipcall.created)
    assert max(created.values(), default=0) <= 1
    letters = world.queue.letters
    if unknown:  # created or not, only a person may send it again
        assert {letter.reason for letter in letters} <= {Reason.OUTCOME_UNKNOWN}
        assert letters or len(created) == 2
    else:
        assert created == {"Call Ada": 1, "Call Bob": 1}
        assert letters == []
        # done now, or by the replay just after, from a letter a failed resend left
        assert {outcome.status for outcome in final.events} <= {"created", "dead-lettered"}


# -- a body kept whole (its selection failed), resent once the selection is fixed --------------


def test_a_body_kept_whole_then_resent_after_the_fix_is_done_once_with_its_replay() -> None:
    """The resend selects the events and does them under their own keys; the replay of the
    kept body selects the same events and finds each one done by that delivery."""
    world = World()
    batch = {"events": [CREATE, {**CREATE, "id": "e3", "name": "Call Bob"}]}
    kept_whole_then_fixed(world, json.loads(FIXED), batch)
    (letter,) = world.queue.letters
    assert letter.payload_scope == "body"

    resent = world.send(CREATE, {**CREATE, "id": "e3", "name": "Call Bob"})
    assert [e.status for e in resent.events] == ["created", "created"]
    summary = world.replay()
    assert summary.total("already-created") == 1
    assert world.queue.letters == []
    assert sorted(dto.name for dto in world.skipcall.created) == ["Call Ada", "Call Bob"]


def kept_whole_then_fixed(world: World, fixed: dict[str, Any], body: Any) -> None:
    broken = json.loads(json.dumps(fixed))
    broken["sources"]["crm"]["events"] = "abs(@)"  # a selection that fails on every body
    world.deploy(json.dumps(broken))
    assert [e.status for e in world.send_body(body).events] == ["unmapped"]
    world.deploy(json.dumps(fixed))


def test_a_body_kept_whole_replayed_after_the_fix_then_resent_is_done_once() -> None:
    world = World()
    batch = {"events": [CREATE, {**CREATE, "id": "e3", "name": "B"}]}
    kept_whole_then_fixed(world, json.loads(FIXED), batch)
    assert world.replay().total("replayed") == 1
    assert len(world.skipcall.created) == 2
    resent = world.send(CREATE, {**CREATE, "id": "e3", "name": "B"})
    assert [(e.status, e.duplicate) for e in resent.events] == [("created", True)] * 2
    assert len(world.skipcall.received) == 2


@pytest.mark.parametrize("resend_first", [True, False])
def test_one_event_without_an_id_kept_whole_is_done_once_in_either_order(
    resend_first: bool,
) -> None:
    """Its id is the body's own (the hash), the same as the kept body's record: that record is
    the body's, not a delivery's, so the replay does not take the event for done."""
    fixed = json.loads(FIXED)
    del fixed["sources"]["crm"]["events"], fixed["sources"]["crm"]["deliveryId"]
    world = World()
    lead = {"action": "create", "name": "Call Ada"}
    kept_whole_then_fixed(world, fixed, lead)
    if resend_first:
        assert only(world.send_body(lead)).status == "created"
        assert world.replay().total("already-created") == 1
    else:
        assert world.replay().total("replayed") == 1
        assert only(world.send_body(lead)).status == "created"
    assert len(world.skipcall.received) == 1
    assert world.queue.letters == []


def test_a_repeat_never_waits_for_skipcall_s_window_its_letter_does() -> None:
    world = World()
    world.send(CREATE)
    world.deploy(FIXED)
    world.skipcall.rate_limit = RateLimit(limit=10, remaining=0, reset_epoch=time.time() + 600)
    repeat = only(world.send(CREATE))  # a wait would hold this answer for a minute
    assert (repeat.status, repeat.reason) == ("dead-lettered", "RATE_LIMITED")
    assert world.calls() == 0
    assert len(world.queue.letters) == 1


def test_a_repeat_done_now_counts_as_done_not_as_a_duplicate_suppressed() -> None:
    world = World()
    world.send(CREATE)
    world.deploy(FIXED)
    metrics.clear_metrics()
    world.send(CREATE)  # evaluated again: done now
    counted = metrics.metric_set
    assert counted["RepeatsDone"]["Value"] == [1.0]
    assert "DuplicatesSuppressed" not in counted
    metrics.clear_metrics()
    world.send(CREATE)  # answered from the record
    assert metrics.metric_set["DuplicatesSuppressed"]["Value"] == [1.0]
    metrics.clear_metrics()


def test_a_kept_body_resent_still_broken_is_answered_from_its_record() -> None:
    world = World()
    world.deploy(broken_selection())
    world.send(*PAIR)
    metrics.clear_metrics()
    (repeat,) = world.send(*PAIR).events  # the body, kept whole: not evaluated again
    assert (repeat.status, repeat.duplicate) == ("unmapped", True)
    assert metrics.metric_set["DuplicatesSuppressed"]["Value"] == [1.0]
    assert len(world.queue.letters) == 1
    metrics.clear_metrics()


def test_an_unknown_outcome_that_gave_up_needs_include_unknown_too() -> None:
    world = World()
    world.deploy(FIXED)
    world.skipcall.fault_for = lambda dto: "timeout"
    world.send(CREATE)  # OUTCOME_UNKNOWN, dead-lettered by the receiver
    world.skipcall.fault_for = lambda dto: None
    ((ident, body),) = world.queue.messages.items()
    letter = DeadLetter.model_validate_json(body)
    world.queue.messages[ident] = letter.model_copy(update={"attempts": 9}).to_message_body()
    sent = len(world.skipcall.received)
    assert world.replay(include_given_up=True).total("not-retryable") == 1
    assert len(world.skipcall.received) == sent
    assert world.replay(include_given_up=True, include_unknown=True).total("replayed") == 1
    assert len(world.skipcall.received) == sent + 1


def test_the_worker_never_sleeps_even_just_after_a_window_s_reset() -> None:
    """Its waits are its message's: a spent window whose reset has just passed is tried at
    once (the next answer tells the new window), not slept through by the slack."""
    world = World()
    world.send(CREATE)  # unmapped; once fixed, its letter is the worker's to finish
    world.deploy(FIXED)
    (letter,) = world.queue.letters
    world.guard.records.clear()  # as a letter of a delivery accepted whole: no record yet
    sleeps: list[float] = []
    now = time.time()
    world.skipcall.rate_limit = RateLimit(limit=10, remaining=0, reset_epoch=now - 0.01)
    worker = Replayer(world.catalog, world.queue, world.skipcall, world.guard,
                      namer=SequenceNamer(world.links), sleep=sleeps.append,
                      wall_clock=lambda: now, actor="worker")  # fmt: skip
    assert worker.finish(letter).outcome == "replayed"
    assert sleeps == []
