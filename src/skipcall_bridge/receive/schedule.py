"""When each claimed event of a delivery starts: up to its source's `concurrency` at once, and
only while the budget still leaves the reserve that the events not yet started need to be
stored together (the tail). What did not start is handed back for the tail.

An event's own work (mapping, its Skipcall calls, its record or letter) runs on a thread of a
pool shared by the container; this module decides only what starts and when, on the caller's
thread, so its clock and budget are the caller's (tests step them)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from skipcall_bridge.acting.membership import Held
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.outcomes import EventOutcome
from skipcall_bridge.receive.letters import DeliveryEvent

# The most events of one delivery in flight at once (a source's `concurrency` is capped here).
MAX_CONCURRENCY = 16
# Kept back from the budget for the events not yet started: each needs its share of a
# SendMessageBatch (10 letters a call) and its record (8 in flight at once), about 5 ms an
# event with ~10 ms round trips in-region, plus a margin.
TAIL_RESERVE_SECONDS = 0.25
TAIL_SECONDS_PER_EVENT = 0.01
# A held enrolment needs only its record at the end (its call is shared): one write.
HELD_SECONDS_PER_EVENT = 0.01

Claimed = tuple[DeliveryEvent, dict[str, Any]]  # an event this run holds, and its key
Start = Callable[[DeliveryEvent, dict[str, Any], Deadline], EventOutcome | Held]

_pool: ThreadPoolExecutor | None = None


def _workers() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per container, made when a delivery first needs it
    if _pool is None:
        _pool = ThreadPoolExecutor(MAX_CONCURRENCY, thread_name_prefix="events")
    return _pool


@dataclass
class Schedule:
    """What came of the started events (by position in the delivery), and what did not start."""

    done: dict[int, EventOutcome] = field(default_factory=dict)
    held: list[Held] = field(default_factory=list)  # in the events' order
    not_started: list[Claimed] = field(default_factory=list)


def tail_reserve(events_left: int) -> float:
    return TAIL_RESERVE_SECONDS + TAIL_SECONDS_PER_EVENT * events_left if events_left else 0.0


def run_events(todo: list[Claimed], concurrency: int, deadline: Deadline, start: Start) -> Schedule:
    """Start the events in order, at most `concurrency` in flight; each gets the budget less
    the reserve of those after it, so every started event ends before the tail needs its time.
    With `concurrency` 1, or a single event (a pool's hand-off would only cost: most deliveries
    carry one), each runs on this thread, one after another."""
    limit = max(1, min(concurrency, MAX_CONCURRENCY, len(todo)))
    schedule = Schedule()
    running: dict[Future[EventOutcome | Held], DeliveryEvent] = {}
    held: list[Held] = []
    position = 0
    while True:
        while position < len(todo) and len(running) < limit:
            left = len(todo) - position
            # Each event still running may end held: its record is kept for the end.
            kept = HELD_SECONDS_PER_EVENT * (len(held) + len(running))
            if deadline.remaining() <= tail_reserve(left) + kept:
                break
            event, key = todo[position]
            budget = deadline.less(tail_reserve(left - 1) + kept)
            running[_begin(limit, start, event, key, budget)] = event
            position += 1
        if not running:  # all started and ended, or no time to start the rest
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            event = running.pop(future)
            result = future.result()  # a bug in the work is the caller's, as on one thread
            if isinstance(result, Held):
                held.append(result)
            else:
                schedule.done[event.index] = result
    schedule.not_started = todo[position:]
    schedule.held = sorted(held, key=lambda one: one.index)  # grouped calls keep event order
    return schedule


def _begin(
    limit: int, start: Start, event: DeliveryEvent, key: dict[str, Any], budget: Deadline
) -> Future[EventOutcome | Held]:
    if limit > 1:
        return _workers().submit(start, event, key, budget)
    done: Future[EventOutcome | Held] = Future()  # one at a time: on the caller's thread
    try:
        done.set_result(start(event, key, budget))
    except Exception as exc:
        done.set_exception(exc)
    return done
