"""The work queue: what did not fit in a sender's budget, or met Skipcall's rate limit, is
deferred (claimed, recorded `deferred`, sent to the work queue) and the worker finishes it with
the replay's core. In-memory ports; the integration suite runs the same on moto and the sandbox.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.letters.replay import Replayer, ReplayFilter
from skipcall_bridge.letters.worker import Verdict, Worker
from skipcall_bridge.receive.responses import delivery_response
from skipcall_bridge.skipcall.retry import RateLimit

from .fakes import MemoryReplayQueue, RecordingDeadLetters
from .test_event_fates import NOW, HubSpot, event, statuses
from .test_repeats import Gate

NO_BUDGET = 1.5  # seconds left in the invocation: all of it the DLQ's reserve


def deferring_world() -> HubSpot:
    return HubSpot(work=RecordingDeadLetters())


def worker(
    world: HubSpot, max_receives: int = 5, clock: Callable[[], float] = lambda: NOW
) -> Worker:
    assert world.work is not None
    replayer = Replayer(
        world.catalog,
        world.work,
        world.skipcall,
        world.guard,
        namer=SequenceNamer(MemoryLinks()),
        wall_clock=clock,
        actor="worker",
    )
    return Worker(
        replayer,
        world.work,
        world.queue,
        max_receives=max_receives,
        rate_limit=lambda: world.skipcall.rate_limit,
        wall_clock=clock,
    )


def drain(world: HubSpot, receive_count: int = 1) -> list[Verdict]:
    """Each message of the work queue, handed to the worker once."""
    assert world.work is not None
    messages, world.work.letters = world.work.letters, []
    work = worker(world)
    return [work.handle(letter.to_message_body(), receive_count) for letter in messages]


def test_a_100_event_batch_with_no_budget_is_deferred_and_the_worker_creates_each_once() -> None:
    world = deferring_world()
    first = world.send([event(n) for n in range(1, 101)], time_left=NO_BUDGET)  # no budget
    assert statuses(first) == ["deferred"] * 100
    answer = delivery_response(first)
    assert answer.status_code == 202
    assert world.queue.letters == []  # nothing in the dead-letter queue
    assert world.skipcall.received == []
    assert world.work is not None
    assert {letter.reason for letter in world.work.letters} == {Reason.BUDGET_EXHAUSTED}
    kept = list(world.work.letters)

    verdicts = drain(world)
    assert {v.kept for v in verdicts} == {"replayed"}
    assert all(v.leaves for v in verdicts)
    assert world.created() == Counter({f"E{n}": 1 for n in range(1, 101)})

    # HubSpot's retry of the batch (attemptNumber + 1): answered from the records, as the
    # first time
    retry = world.send([event(n, attempt=1) for n in range(1, 101)], time_left=NO_BUDGET)
    assert statuses(retry) == ["deferred"] * 100
    assert all(outcome.duplicate for outcome in retry.events)
    assert world.work.letters == []
    assert len(world.skipcall.received) == 100

    # SQS delivers a message twice: the worker finds it done
    again = [worker(world).handle(letter.to_message_body(), 2) for letter in kept[:10]]
    assert {v.kept for v in again} == {"already-created"}
    assert len(world.skipcall.created) == 100


def answered_503(world: HubSpot, count: int) -> None:
    """Events 1 to `count`, with no budget, left to the sender's retry: each unfinished, 503."""
    first = world.send([event(n) for n in range(1, count + 1)], time_left=NO_BUDGET)
    assert statuses(first) == ["unfinished"] * count
    assert delivery_response(first).status_code == 503


def test_a_work_queue_unreachable_at_the_tail_leaves_the_events_to_the_sender_s_retry() -> None:
    """Nothing could be deferred: 503, the claims released, nothing in either queue; HubSpot's
    retry defers each event once."""
    world = deferring_world()
    assert world.work is not None
    world.work.broken = True
    answered_503(world, 5)
    assert (world.work.letters, world.queue.letters) == ([], [])
    world.work.broken = False
    retry = world.send([event(n, attempt=1) for n in range(1, 6)], time_left=NO_BUDGET)
    assert statuses(retry) == ["deferred"] * 5
    assert [letter.delivery_id for letter in world.work.letters] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("worker_first", [False, True])
def test_letters_stored_by_a_send_that_looked_failed_are_acted_on_once(worker_first: bool) -> None:
    """Security review #28, finding 6: SQS stored the letters but the client timed out; the
    receiver released its claims and answered 503. The sender's retry acted under the
    delivery's key and the worker under its own: created twice. Now whoever acts on the event
    claims the delivery's key, so the other finds it done, whichever comes first."""
    world = deferring_world()
    assert world.work is not None
    world.work.answer_lost = True
    answered_503(world, 3)
    assert len(world.work.letters) == 3  # stored all the same
    world.work.answer_lost = False
    if worker_first:
        assert {v.kept for v in drain(world)} == {"replayed"}
    retry = world.send([event(n, attempt=1) for n in range(1, 4)])  # with time to act
    assert statuses(retry) == ["created"] * 3
    drain(world)  # the stored letters (and, worker first, nothing new)
    assert world.created() == Counter({"E1": 1, "E2": 1, "E3": 1})


def test_a_message_the_worker_finished_and_sqs_redrove_is_not_acted_on_by_the_replay() -> None:
    """Security review #28, finding 6 (suspected there): the worker created it, its deletes
    failed, SQS moved the message to the DLQ, and the replay acted again under its own phase.
    The worker's outcome is on the delivery's key: the replay finds it done. The sender's
    repeat still gets its first answer."""
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (letter,) = world.work.letters
    assert {v.kept for v in drain(world)} == {"replayed"}
    replay = Replayer(world.catalog, world.queue, world.skipcall, world.guard,
                      namer=SequenceNamer(MemoryLinks()))  # fmt: skip
    assert replay.finish(letter).outcome == "already-created"
    assert world.created() == Counter({"E1": 1})
    assert statuses(world.send([event(1, attempt=1)])) == ["deferred"]


def test_a_worker_and_a_replay_at_once_act_on_the_event_once() -> None:
    """Security review #28, item 1: one key, whoever acts. The worker is at Skipcall with the
    event when SQS redrives its message to the DLQ (it ran past its visibility) and the replay
    takes the letter: the replay finds the event's key held and leaves the letter for later,
    then finds it done. With a key per phase, both created it."""
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (letter,) = world.work.letters
    gate = Gate()
    world.skipcall.fault_for = gate
    working = threading.Thread(target=drain, args=(world,))
    working.start()
    assert gate.entered.wait(30)
    replay = Replayer(world.catalog, world.queue, world.skipcall, world.guard,
                      namer=SequenceNamer(MemoryLinks()))  # fmt: skip
    assert replay.finish(letter).outcome == "busy"
    gate.opened.set()
    working.join(30)
    assert replay.finish(letter).outcome == "already-created"
    assert world.created() == Counter({"E1": 1})


def test_a_429_is_deferred_until_skipcall_s_window_reopens() -> None:
    world = deferring_world()
    world.skipcall.fault_for = lambda dto: "429" if dto.name.startswith("E2 ") else None
    world.skipcall.rate_limit = RateLimit(limit=100, remaining=0, reset_epoch=NOW + 7.2)
    report = world.send([event(1), event(2), event(3)])
    assert statuses(report) == ["created", "deferred", "created"]
    assert world.work is not None
    assert [(x.delivery_id, x.reason) for x in world.work.letters] == [("2", Reason.RATE_LIMITED)]
    assert world.work.delays == [8]  # 7.2 s and the slack, rounded up
    assert world.queue.letters == []

    world.skipcall.fault_for = lambda dto: None
    (body,) = [letter.to_message_body() for letter in world.work.letters]
    world.work.letters, world.work.delays = [], []
    # The window is still closed: nothing is sent, and the event is put back as a new message
    # (waiting for room spends no receive), delayed to the next window with a place.
    waiting = worker(world).handle(body, 4)
    assert (waiting.leaves, waiting.kept) == (True, "put-back")
    assert len(world.skipcall.received) == 3
    (again,) = world.work.letters
    assert (again.delivery_id, again.attempts) == ("2", 1)
    assert world.work.delays == [8]

    # the window reset: the last headers still say 0 left, but of a window that has ended
    world.skipcall.rate_limit = RateLimit(limit=100, remaining=0, reset_epoch=NOW - 1)
    done = worker(world).handle(body, 2)
    assert (done.leaves, done.kept) == (True, "replayed")
    assert world.created() == Counter({"E1": 1, "E2": 1, "E3": 1})
    retry = world.send([event(2, attempt=1)])  # HubSpot does not retry a 2xx; if it did
    assert statuses(retry) == ["deferred"]
    assert retry.events[0].duplicate


def test_a_429_met_after_the_claim_puts_the_event_back_into_a_window_with_room() -> None:
    """The window looked open, the worker claimed the event and Skipcall answered 429 (other
    containers spent the window): the event is put back as a new message delayed to the reset,
    this one leaves (no receive spent on waiting), and the claim is free for the new one."""
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (body,) = [letter.to_message_body() for letter in world.work.letters]
    world.work.letters, world.work.delays = [], []
    world.skipcall.fault_for = lambda dto: "429"
    verdict = worker(world).handle(body, 1)
    assert (verdict.leaves, verdict.kept) == (True, "put-back")
    assert world.skipcall.rate_limit.remaining == 0  # the 429 closed the window, as the client
    (again,) = world.work.letters
    assert world.work.delays == [60]  # to the window's reset, not a backoff
    assert world.queue.letters == []
    world.skipcall.fault_for = lambda dto: None
    later = worker(world, clock=lambda: NOW + 60).handle(again.to_message_body(), 1)
    assert (later.leaves, later.kept) == (True, "replayed")
    assert world.created() == Counter({"E1": 1})


def test_what_needs_a_person_goes_to_the_dead_letter_queue_with_its_reason() -> None:
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    world.skipcall.fault_for = lambda dto: "timeout"  # Skipcall may have created it
    (verdict,) = drain(world)
    assert (verdict.leaves, verdict.kept) == (True, "dead-lettered")
    (letter,) = world.queue.letters
    assert (letter.reason, letter.retryable, letter.attempts) == (
        Reason.OUTCOME_UNKNOWN,
        False,
        2,
    )


def test_a_retryable_failure_waits_longer_each_time_and_goes_to_the_dlq_before_sqs_would() -> None:
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (body,) = [letter.to_message_body() for letter in world.work.letters]
    world.skipcall.fault_for = lambda dto: "5xx"
    work = worker(world, max_receives=5)  # SQS's maxReceiveCount; the worker's last try is 4
    waits = [work.handle(body, receives) for receives in (1, 2, 3)]
    assert [(v.leaves, v.kept, v.wait_seconds) for v in waits] == [
        (False, "retry", 10),
        (False, "retry", 20),
        (False, "retry", 40),
    ]
    assert world.queue.letters == []
    last = work.handle(body, 4)
    assert (last.leaves, last.kept) == (True, "dead-lettered")
    (letter,) = world.queue.letters
    assert (letter.reason, letter.retryable) == (Reason.SKIPCALL_UNAVAILABLE, True)  # replayable
    assert world.created() == Counter()
    # The worker died before the delete: the spare receive finds the record and leaves, even
    # though Skipcall would now answer.
    world.skipcall.fault_for = lambda dto: None
    spare = work.handle(body, 5)
    assert (spare.leaves, spare.kept) == (True, "dead-lettered")
    assert len(world.queue.letters) == 1
    assert world.created() == Counter()


def test_an_unknown_outcome_delivered_again_is_neither_sent_again_nor_stored_twice() -> None:
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (body,) = [letter.to_message_body() for letter in world.work.letters]
    world.skipcall.fault_for = lambda dto: "timeout"
    first = worker(world).handle(body, 1)
    again = worker(world).handle(body, 2)  # SQS delivers it again (or the worker died)
    assert (first.kept, again.kept) == ("dead-lettered", "dead-lettered")
    assert len(world.skipcall.received) == 1  # POST /v1/sequences once: it may have worked
    assert len(world.queue.letters) == 1


def test_a_letter_not_stored_before_a_crash_is_stored_by_the_next_delivery_without_acting() -> None:
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (body,) = [letter.to_message_body() for letter in world.work.letters]
    world.skipcall.fault_for = lambda dto: "timeout"
    world.queue.broken = True  # the failure is recorded, its letter is not stored
    stays = worker(world).handle(body, 1)
    assert (stays.leaves, stays.kept) == (False, "dead-letter-queue-down")
    world.queue.broken = False
    world.skipcall.fault_for = lambda dto: None
    done = worker(world).handle(body, 2)
    assert (done.leaves, done.kept) == (True, "dead-lettered")
    assert len(world.skipcall.received) == 1
    (letter,) = world.queue.letters
    assert letter.reason is Reason.OUTCOME_UNKNOWN


def test_a_message_stays_when_its_letter_cannot_reach_the_dead_letter_queue() -> None:
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    world.skipcall.fault_for = lambda dto: "timeout"
    world.queue.broken = True
    (verdict,) = drain(world)
    assert (verdict.leaves, verdict.kept, verdict.wait_seconds) == (
        False,
        "dead-letter-queue-down",
        30,
    )


def test_the_worker_refuses_a_replayer_whose_records_would_release_failures() -> None:
    world = deferring_world()
    assert world.work is not None
    replayer = Replayer(world.catalog, world.work, world.skipcall, world.guard,
                        namer=SequenceNamer(MemoryLinks()))  # fmt: skip
    with pytest.raises(ValueError, match="acts as the worker"):
        Worker(replayer, world.work, world.queue, max_receives=5)


def test_an_unreadable_message_is_left_to_sqs_s_redrive() -> None:
    world = deferring_world()
    verdict = worker(world).handle('{"not": "an envelope"}', 3)
    assert (verdict.leaves, verdict.kept, verdict.wait_seconds) == (False, "unreadable", 40)


def test_a_letter_whose_kept_dto_does_not_validate_goes_to_the_dlq_and_the_batch_goes_on() -> None:
    """Security review #28, finding 5: a letter that reads as an envelope but whose kept DTO is
    not one (written by hand, or by another program) raised on every receive, and stopped a
    replay run. It is a mapping failure for a person; the next message is worked."""
    world = deferring_world()
    world.send([event(1), event(2)], time_left=NO_BUDGET)
    assert world.work is not None
    forged, good = world.work.letters
    body = json.loads(forged.to_message_body())
    body["sequence"] = {"name": 5, "creatorId": "nobody", "assignedToIds": "nobody"}
    world.work.letters = []
    work = worker(world)
    first = work.handle(json.dumps(body), 1)
    second = work.handle(good.to_message_body(), 1)
    assert (first.leaves, first.kept) == (True, "dead-lettered")
    assert (second.leaves, second.kept) == (True, "replayed")
    (stored,) = world.queue.letters
    assert (stored.delivery_id, stored.reason, stored.retryable) == (
        "1", Reason.MAPPING_FAILED, False)  # fmt: skip
    assert world.created() == Counter({"E2": 1})

    # the scheduled replay meets the same letter in the DLQ: left for a person, the run goes on
    replay = Replayer(world.catalog, world.queue, world.skipcall, world.guard,
                      namer=SequenceNamer(MemoryLinks()))  # fmt: skip
    finished = replay.finish(DeadLetter.model_validate_json(json.dumps(body)))
    assert (finished.outcome, finished.failure and finished.failure.reason) == (
        "failed", Reason.MAPPING_FAILED)  # fmt: skip


def test_a_letter_holding_more_events_than_the_source_takes_is_not_worked() -> None:
    """Security review #28, finding 5: a body kept whole in a letter was selected again with no
    limit, so a message written to the queue bypassed `maxEvents`."""
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (letter,) = world.work.letters
    world.work.letters = []
    body = json.dumps([event(n) for n in range(1, 102)]).encode()  # hubspot takes 100
    whole = json.loads(letter.to_message_body()) | {
        "payload": base64.b64encode(body).decode(), "payloadEncoding": "base64",
        "payloadScope": "body"}  # fmt: skip
    verdict = worker(world).handle(json.dumps(whole), 1)
    assert (verdict.leaves, verdict.kept) == (True, "dead-lettered")
    (stored,) = world.queue.letters
    assert stored.reason is Reason.MAPPING_FAILED
    assert "maxEvents" in stored.error.message
    assert world.skipcall.received == []


def test_an_event_another_run_holds_comes_back_in_seconds() -> None:
    world = deferring_world()
    world.send([event(1)], time_left=NO_BUDGET)
    assert world.work is not None
    (letter,) = world.work.letters
    key = {"source": "hubspot", "deliveryId": "1", "phase": "receive", "payload": None}
    key["payload"] = world.catalog.get("hubspot").fingerprint(letter.payload)  # type: ignore[union-attr]
    deferred = world.guard.claim(key)  # the receiver's record: deferred, for a worker
    assert deferred is not None
    assert deferred["status"] == "deferred"
    assert world.guard.take(key, deferred) is None  # another worker holds it now
    (verdict,) = drain(world)
    assert (verdict.leaves, verdict.kept, verdict.wait_seconds) == (False, "busy", 5)


# ---------------------------------------------------------------------------------------------
# The property, through the one acting core for the receiver, the worker and the replay:
# whatever the budget, Skipcall's transient failures, SQS storing letters while the client saw
# its answer lost (the receiver answers 503 and the sender retries), SQS delivering a message
# twice, workers dying before the delete, and SQS redriving a message to the DLQ (one the worker
# finished but could not delete, or one it had not finished), every event ends created once or
# held once for a person in the DLQ, once the scheduled replay has run; the work queue ends
# empty.

STATS: Counter[str] = Counter()
SQS_MAX_RECEIVES = 5  # the work queue's maxReceiveCount, as worker() is told
TRANSIENT = ["none", "none", "none", "429", "5xx", "timeout"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    # per event: Skipcall's fault, SQS delivering its message twice, its worker dying before
    # the delete (once at most), its message redriven to the DLQ after its first receive
    plan=st.lists(
        st.tuples(st.sampled_from(TRANSIENT), st.booleans(), st.booleans(), st.booleans()),
        min_size=1,
        max_size=60,
    ),
    spent_after=st.none() | st.integers(1, 5),  # the events after it are deferred
    answer_lost=st.booleans(),  # the deferral's SendMessageBatch stored, its answer lost
)
# an unknown outcome the worker meets, delivered twice: POST once, one letter (found by this
# property when the worker released a failure that ended the message)
@example(
    plan=[("none", False, False, False), ("timeout", True, False, False)],
    spent_after=1,
    answer_lost=False,
)
# security review #28, finding 6: the letters stored, the answer lost, the sender's retry acts
@example(
    plan=[("none", False, False, False), ("none", False, False, False)],
    spent_after=1,
    answer_lost=True,
)
# finding 6, suspected there: the worker's success redriven to the DLQ, and the replay
@example(
    plan=[("none", False, False, False), ("5xx", False, False, True)],
    spent_after=1,
    answer_lost=False,
)
def test_every_event_ends_created_once_or_held_once_for_a_person(
    plan: list[tuple[str, bool, bool, bool]], spent_after: int | None, answer_lost: bool
) -> None:
    faults = [fault for fault, _, _, _ in plan]
    world = deferring_world()
    world.spend_budget_at = spent_after
    calls: Counter[str] = Counter()

    def transient(dto: Any) -> str | None:
        # 429 and 5xx pass on the next call; a timeout's outcome stays unknown
        name = dto.name.split()[0]
        calls[name] += 1
        fault = faults[int(name[1:]) - 1]
        return fault if fault == "timeout" or calls[name] == 1 else None

    world.skipcall.fault_for = lambda dto: transient(dto) if faults else None
    assert world.work is not None
    world.work.answer_lost = answer_lost
    report = world.send([event(n) for n in range(1, len(faults) + 1)])
    world.work.answer_lost = False
    if report.status == "unavailable":  # the letters looked unstored: the sender retries
        assert answer_lost
        STATS["sender retried after a lost answer"] += 1
        report = world.send([event(n, attempt=1) for n in range(1, len(faults) + 1)])
    assert report.status != "unavailable"
    # SQS on a clock of its own: a message is received once visible (its DelaySeconds, or the
    # visibility the worker set), the earliest first; time moves to it, and with it the worker's
    # and Skipcall's clocks (a 429 closes the window until its reset).
    clock = [float(NOW)]
    world.skipcall.clock = lambda: clock[0]
    queue: list[tuple[float, int, str, int]] = []  # (visible at, order, body, receives)
    order = itertools.count()

    def take_put_backs() -> None:
        assert world.work is not None
        for again, delay in zip(world.work.letters, world.work.delays, strict=True):
            heapq.heappush(queue, (clock[0] + delay, next(order), again.to_message_body(), 1))
        world.work.letters, world.work.delays = [], []

    take_put_backs()
    crashed: set[str] = set()  # a worker dies at most once per message
    moved: set[str] = set()  # a message SQS redrove to the DLQ
    while queue:  # each message until it leaves; some twice, some outliving their worker
        visible_at, _, body, receives = heapq.heappop(queue)
        clock[0] = max(clock[0], visible_at)
        assert receives <= SQS_MAX_RECEIVES, "SQS would have moved it to the DLQ as it was"
        assert clock[0] - NOW < 3600, "a message waited an hour: the worker is stuck"
        verdict = worker(world, clock=lambda: clock[0]).handle(body, receives)
        _, delivered_twice, dies, redriven = plan[int(json.loads(body)["deliveryId"]) - 1]
        died = dies and body not in crashed
        if redriven and body not in moved:
            # SQS moves it to the DLQ as it was written: its deletes failed after the worker
            # finished, or it was not finished and its receives ran out
            moved.add(body)
            STATS["redriven to the DLQ"] += 1
            world.queue.send([DeadLetter.model_validate_json(body)])
            if not verdict.leaves:
                continue
        if delivered_twice:
            STATS["delivered twice"] += 1
            worker(world, clock=lambda: clock[0]).handle(body, receives + 1)
        if died:
            crashed.add(body)
            STATS["died before the delete"] += 1
        if died or not verdict.leaves:
            STATS["came back"] += 1
            world.guard.lapse_claims()
            wait = verdict.wait_seconds if not died else 360  # the queue's visibility timeout
            heapq.heappush(queue, (clock[0] + wait, next(order), body, receives + 1))
        STATS["put back"] += len(world.work.letters)
        take_put_backs()

    # The scheduled replay over the DLQ: what the worker left, and what SQS redrove.
    dead_letters = MemoryReplayQueue()
    dead_letters.send(world.queue.letters)
    replay = Replayer(world.catalog, dead_letters, world.skipcall, world.guard,
                      namer=SequenceNamer(MemoryLinks()), sleep=lambda s: None,
                      wall_clock=lambda: clock[0])  # fmt: skip
    left = -1
    while len(dead_letters.messages) != left:  # runs on schedule: one letter of an event a run
        left = len(dead_letters.messages)
        STATS["replayed"] += replay.run(ReplayFilter()).total("replayed")
    world.guard.lapse_claims()
    created = world.created()
    stored = Counter(letter.delivery_id for letter in dead_letters.letters)
    for number, fault in enumerate(faults, start=1):
        name = f"E{number}"
        STATS["events"] += 1
        assert created[name] <= 1, f"{name} created twice"
        assert stored[str(number)] <= 1, f"{name} dead-lettered twice"
        assert created[name] + stored[str(number)] >= 1, f"{name} lost"
        if stored[str(number)]:  # held for a person: only what Skipcall may have done
            (kept,) = [x for x in dead_letters.letters if x.delivery_id == str(number)]
            assert kept.reason is Reason.OUTCOME_UNKNOWN, f"{name} left in the DLQ"
        if fault == "timeout" and not created[name]:  # POST /v1/sequences at most once
            sent = sum(dto.name.split()[0] == name for dto in world.skipcall.received)
            assert sent == 1, f"{name}: an unknown outcome sent again"
        if fault != "timeout":
            assert created[name] == 1, f"{name} had only transient failures but was not created"
        STATS["created"] += created[name]
        STATS["dead-lettered"] += stored[str(number)]


@pytest.fixture(scope="module", autouse=True)
def _print_stats() -> Iterator[None]:
    yield
    if STATS:
        print(f"\nwork queue fates: {dict(sorted(STATS.items()))}")
