"""A delivery's events worked at once: the schedule keeps at most `concurrency` in flight,
starts nothing the budget cannot carry (the rest go to the tail), and hands held enrolments back
in the events' order; what the threads share (the rate-limit window, per-key locks, metrics)
stays right when they race. Threads wait on events, never on time; the budget's clock is
stepped by the test."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from skipcall_bridge.acting.membership import Held
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.envelope import Target
from skipcall_bridge.common.keyed_locks import KeyedLocks
from skipcall_bridge.common.observability import SerialisedEMF
from skipcall_bridge.common.outcomes import EventOutcome
from skipcall_bridge.receive.letters import DeliveryEvent
from skipcall_bridge.receive.schedule import run_events, tail_reserve
from skipcall_bridge.skipcall.client import SkipcallClient
from skipcall_bridge.skipcall.models import CallFailed, RemoveContactsBody
from skipcall_bridge.skipcall.retry import RateLimit
from skipcall_bridge.skipcall.window import WindowView
from skipcall_bridge.sources.mapping import MembershipIntent


class Keys:
    def api_key(self, refresh: bool = False) -> str:
        return "sk_test_unit"


def claimed(count: int) -> list[tuple[DeliveryEvent, dict[str, Any]]]:
    return [
        (DeliveryEvent(i, f"evt-{i}", {"n": i}), {"deliveryId": f"evt-{i}"}) for i in range(count)
    ]


def done(event: DeliveryEvent) -> EventOutcome:
    return EventOutcome(delivery_id=event.delivery_id, status="created")


class Gate:
    """Holds every started event until the test has seen how many run at once."""

    def __init__(self, expected_at_once: int) -> None:
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.all_in = threading.Barrier(expected_at_once)

    def start(self, event: DeliveryEvent, key: dict[str, Any], budget: Deadline) -> EventOutcome:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if event.index < self.all_in.parties:
                self.all_in.wait(timeout=30)  # the first `limit` meet: all were in flight at once
            return done(event)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_at_most_concurrency_events_run_at_once_and_every_one_ends(concurrency: int) -> None:
    gate = Gate(concurrency)
    schedule = run_events(claimed(30), concurrency, Deadline(60, lambda: 0.0), gate.start)
    assert gate.most == concurrency
    assert sorted(schedule.done) == list(range(30))
    assert schedule.not_started == []
    assert schedule.held == []


def test_with_concurrency_one_each_event_runs_on_the_caller_s_thread_in_order() -> None:
    seen: list[tuple[int, str]] = []

    def start(event: DeliveryEvent, key: dict[str, Any], budget: Deadline) -> EventOutcome:
        seen.append((event.index, threading.current_thread().name))
        return done(event)

    run_events(claimed(5), 1, Deadline(60, lambda: 0.0), start)
    assert seen == [(i, threading.current_thread().name) for i in range(5)]


def test_a_single_event_runs_on_the_caller_s_thread_whatever_the_concurrency() -> None:
    """Most deliveries carry one event: a pool's hand-off would be all cost."""
    seen: list[str] = []

    def start(event: DeliveryEvent, key: dict[str, Any], budget: Deadline) -> EventOutcome:
        seen.append(threading.current_thread().name)
        return done(event)

    run_events(claimed(1), 8, Deadline(60, lambda: 0.0), start)
    assert seen == [threading.current_thread().name]


def test_what_the_budget_cannot_carry_is_not_started_and_each_budget_keeps_the_tail_s_room() -> (
    None
):
    now = [0.0]
    deadline = Deadline(2.0, lambda: now[0])
    budgets: dict[int, float] = {}

    def start(event: DeliveryEvent, key: dict[str, Any], budget: Deadline) -> EventOutcome:
        budgets[event.index] = budget.remaining()
        now[0] += 0.5  # each event spends half a second of the delivery's budget
        return done(event)

    todo = claimed(10)
    schedule = run_events(todo, 1, deadline, start)
    started = sorted(schedule.done)
    assert started
    assert len(started) < 10
    assert schedule.not_started == todo[len(started) :]
    for index, remaining in budgets.items():
        # the events after this one keep their reserve out of its budget
        assert remaining <= 2.0 - 0.5 * index - tail_reserve(10 - index - 1) + 1e-9


def test_held_enrolments_come_back_in_the_events_order_whatever_order_they_ended_in() -> None:
    release = [threading.Event() for _ in range(6)]

    def start(event: DeliveryEvent, key: dict[str, Any], budget: Deadline) -> Held:
        if event.index + 1 < len(release):
            release[event.index + 1].wait(timeout=30)  # the later event ends first
        release[event.index].set()
        target = Target(id="seq-1")
        intent = MembershipIntent(action="enrol", target=target, contact_ids=[f"c{event.index}"])
        return Held(event.delivery_id, event.index, intent, target, [])

    release[-1].set()
    schedule = run_events(claimed(6), 6, Deadline(60, lambda: 0.0), start)
    assert [one.index for one in schedule.held] == list(range(6))


def test_a_failing_event_raises_to_the_caller_as_on_one_thread() -> None:
    def start(event: DeliveryEvent, key: dict[str, Any], budget: Deadline) -> EventOutcome:
        if event.index == 2:
            raise RuntimeError("a bug in the work")
        return done(event)

    for concurrency in (1, 4):
        with pytest.raises(RuntimeError, match="a bug"):
            run_events(claimed(5), concurrency, Deadline(60, lambda: 0.0), start)


# -- what the threads share ---------------------------------------------------------------


def test_a_key_s_lock_lets_one_thread_in_and_is_forgotten_once_nobody_holds_it() -> None:
    locks = KeyedLocks()
    with locks.hold("hubspot#1", timeout=1) as first:
        assert first
        outcome: list[bool] = []
        other = threading.Thread(target=lambda: outcome.append(_try(locks, "hubspot#1")))
        other.start()
        other.join(timeout=30)
        assert outcome == [False]  # busy: the other thread goes on without it
        with locks.hold("hubspot#2", timeout=0) as unrelated:
            assert unrelated
    assert len(locks) == 0


def _try(locks: KeyedLocks, key: str) -> bool:
    with locks.hold(key, timeout=0) as got:
        return got


def test_no_call_starts_once_the_requests_in_flight_spend_what_the_window_has_left() -> None:
    clock, slept = [1_000.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    client = SkipcallClient("http://127.0.0.1:9", Keys(), sleep=sleep, wall_clock=lambda: clock[0])
    client.rate_limit = RateLimit(limit=20, remaining=2, reset_epoch=1_003.0)
    deadline = Deadline(10, lambda: 0.0)
    assert client._transport._may_start(deadline, 0) is None
    assert client._transport._may_start(deadline, 0) is None
    assert slept == []
    # Two in flight spend the two left: the third waits for the reset, then goes.
    assert client._transport._may_start(deadline, 0) is None
    assert slept == [pytest.approx(3.0 + client._transport._policy.reset_slack)]
    # With less budget than the wait, it is not sent at all.
    client.rate_limit = RateLimit(limit=20, remaining=0, reset_epoch=clock[0] + 3)
    refused = client._transport._may_start(Deadline(1, lambda: 0.0), 0)
    assert isinstance(refused, CallFailed)
    assert refused.error.code == "RATE_LIMIT_WINDOW"


def test_answers_in_any_order_keep_the_lowest_remaining_of_a_window() -> None:
    window = WindowView()
    window.note(RateLimit(limit=20, remaining=3, reset_epoch=1_004.0), 1_000.0)
    window.note(RateLimit(limit=20, remaining=5, reset_epoch=1_004.0), 1_000.1)  # older news
    assert window.last == RateLimit(limit=20, remaining=3, reset_epoch=1_004.0)
    window.note(RateLimit(limit=20, remaining=19, reset_epoch=1_008.0), 1_004.5)  # a new window
    assert window.last is not None
    assert window.last.remaining == 19


def test_near_a_window_s_end_what_the_others_spend_closes_it_before_a_429() -> None:
    """Between two of this container's answers, `remaining` fell by 10 while it made 1 request:
    the others spend about 9 a second. Half a second later, 4 left means likely none."""
    window = WindowView()
    window.asks = True  # the worker's
    window.note(RateLimit(limit=100, remaining=14, reset_epoch=1_010.0), 1_000.0)
    window.note(RateLimit(limit=100, remaining=4, reset_epoch=1_010.0), 1_001.0)
    assert window.try_start(1_001.0) == 0.0  # just heard: 4 are left
    window.ended()
    # 4 - 9 x 0.5 < 1: closed until the reset, but for one request that asks (the headers
    # left room, and nothing of this container's is in flight to tell more)
    assert window.try_start(1_001.5) == 0.0
    assert window.try_start(1_001.5) == 8.5
    window.ended()
    assert window.try_start(1_002.0) == 8.0  # asked half a second ago
    assert window.try_start(1_002.5) == 0.0  # a second later, one may ask again
    window.ended()
    assert window.try_start(1_010.0) == 0.0  # the reset: the next answer tells


def test_a_receiver_does_not_ask_on_an_estimate_alone() -> None:
    window = WindowView()
    window.note(RateLimit(limit=100, remaining=14, reset_epoch=1_010.0), 1_000.0)
    window.note(RateLimit(limit=100, remaining=4, reset_epoch=1_010.0), 1_001.0)
    assert window.try_start(1_001.5) == 8.5  # it defers to the worker instead


def test_a_container_alone_does_not_count_its_own_requests_as_the_others() -> None:
    window = WindowView()
    window.note(RateLimit(limit=100, remaining=50, reset_epoch=1_060.0), 1_000.0)
    for n in range(1, 9):  # its own eight answers, each one request lower
        window.note(RateLimit(limit=100, remaining=50 - n, reset_epoch=1_060.0), 1_000.0 + n)
    assert window.try_start(1_030.0) == 0.0  # nobody else spends: 42 left, not "none"


def test_a_container_s_own_requests_in_flight_are_not_counted_as_the_others() -> None:
    """Ten requests start together (a worker's batch) and Skipcall counts them all before the
    first answer, which says 6 fewer are left: this container's own, still in flight, not
    another container's traffic that would close the window until its reset."""
    window = WindowView()
    window.note(RateLimit(limit=100, remaining=91, reset_epoch=1_060.0), 1_000.0)
    assert all(window.try_start(1_000.0) == 0.0 for _ in range(10))
    # Skipcall counted the ten; the first answer is the sixth it counted
    window.note(RateLimit(limit=100, remaining=85, reset_epoch=1_060.0), 1_000.2)
    window.ended()
    assert window.try_start(1_010.0) == 0.0  # 85 - 9 in flight: room, nobody else spends


class MeetingSet(dict[str, Any]):
    """A metric set whose look-ups wait, once, for a second thread to look up too: additions
    that are not serialised then both read the metric as absent, and one value is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.meet = threading.Barrier(2)

    def get(self, key: str, default: Any = None) -> Any:
        found = super().get(key, default)
        with contextlib.suppress(threading.BrokenBarrierError):
            self.meet.wait(timeout=1)  # serialised: the other thread cannot come; it breaks
        return found


def test_metrics_added_from_two_threads_at_once_lose_no_value() -> None:
    metric_set = MeetingSet()
    provider = SerialisedEMF(service="s", namespace="n")
    provider.metric_set = metric_set  # (an empty set passed to the constructor is replaced)
    threads = [
        threading.Thread(target=provider.add_metric, args=("SequencesCreated", "Count", 1))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert metric_set["SequencesCreated"]["Value"] == [1.0, 1.0]


def test_an_id_that_is_not_a_uuid_never_reaches_a_url() -> None:
    """#22 finding 7: `..` in the path made urllib3 post to /v1/contacts with the API key. The
    client answers without a request (its pool would fail the test if it were used)."""

    class NoRequests:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no request may be sent")

    client = SkipcallClient("http://127.0.0.1:9", Keys())
    client._pool = NoRequests()  # type: ignore[assignment]
    deadline = Deadline(10, lambda: 0.0)
    for bad in ("..", "../contacts", "x/../..", "%2e%2e"):
        refused = client.remove_contacts(bad, RemoveContactsBody([UUID_ID]), deadline)
        assert isinstance(refused, CallFailed)
        assert (refused.error.code, refused.retryable) == ("INVALID_ID", False)
    assert isinstance(client.list_workspace_members("..", deadline), CallFailed)


UUID_ID = "5f0c8a0e-1d2b-4c3a-9e8f-7a6b5c4d3e2f"
