"""One delivery's events, each claimed, acted on through the acting core and recorded on its
own, several at once while the budget carries them; what it does not carry is stored together
(the tail)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from skipcall_bridge.acting.core import ActingCore
from skipcall_bridge.acting.membership import Held
from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.acting.records import Claim, EventRecords
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.outcomes import DeliveryReport, EventOutcome, OutcomeStatus
from skipcall_bridge.common.ports import (
    PacedActions,
)
from skipcall_bridge.receive.accept_whole import accept_whole
from skipcall_bridge.receive.acts import EventWork
from skipcall_bridge.receive.claims import EventCore, StoreDown
from skipcall_bridge.receive.letter_post import LetterPost
from skipcall_bridge.receive.letters import (
    DeliveryEvent,
    EventLetters,
    unfinished,
)
from skipcall_bridge.receive.repeats import UnmappedRepeats, reopens
from skipcall_bridge.receive.schedule import run_events
from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.sources.identity import IdentityServices
from skipcall_bridge.sources.templates import FieldError
from skipcall_bridge.verify import SignedRequest

if TYPE_CHECKING:  # loaded by the first repeat of an unmapped event, not on cold start
    from skipcall_bridge.letters.runs import LetterRuns


@dataclass(frozen=True)
class RunPorts:
    acting: ActingCore
    post: LetterPost  # the dead-letter queue, or the work queue for what the worker can finish
    records: EventRecords  # each event's deduplication record
    letters: Callable[[], LetterRuns]  # acts on an unmapped event again, for its repeat


def repeat_runs(
    catalog: SourceCatalog,
    skipcall: PacedActions,
    records: EventRecords,
    *,
    identity: IdentityServices | None,
    namer: SequenceNamer,
    wall_clock: Callable[[], float],
) -> LetterRuns:
    """The letter runs, for repeats of unmapped events; built, and imported, when the first
    such repeat comes, off the cold start. They never sleep for a rate-limit window: the
    letter waits for the replay instead."""
    from skipcall_bridge.acting.pacing import DeferringPacer
    from skipcall_bridge.letters.runs import LetterRuns

    acting = ActingCore(
        skipcall, namer, identity, pacer=DeferringPacer(skipcall, wall_clock), counts=False
    )
    # the budget is unused: `again` acts within the delivery's deadline
    return LetterRuns(catalog, acting, records, actor="replay", budget_seconds=0.0)


# The end-of-budget path ends this long after the budget, whatever the queue's pace: letters go
# out TAIL_CHUNK at a time (five SendMessageBatch calls), the clock read between chunks.
TAIL_SECONDS = 1.0


TAIL_CHUNK = 50


class DeliveryRun:
    """One delivery's events: each claimed, handled and recorded on its own."""

    def __init__(
        self, ports: RunPorts, source: Source, request: SignedRequest, received_at: datetime
    ) -> None:
        self._source = source
        self._body_format = source.format_of(request)
        self._letters = EventLetters(ports.post, source, request, received_at)
        self._records = ports.records
        self._core = EventCore(ports.records, source, self._letters)
        self._work = EventWork(ports.acting, source, self._letters, self._core)
        self._repeats = UnmappedRepeats(ports.letters, source)
        # repeats evaluated again: their first outcome, and the claim that found it
        self._first: dict[int, tuple[EventOutcome, Claim]] = {}

    def events(self, events: list[DeliveryEvent], deadline: Deadline) -> list[EventOutcome]:
        """Every event claimed at once (a bounded pool), then the ones this run holds worked,
        several at once, while the budget lasts; the rest are stored together (`_tail`)."""
        claims = self._core.claim_all(events)
        if any(claim.refused == "down" for claim in claims):
            # No event can be handled safely: release what was taken, the retry does it all.
            for claim in claims:
                if claim.held:
                    self._core.release(claim.key)
            return [unfinished(event) for event in events]
        outcomes: dict[int, EventOutcome] = {}
        todo: list[tuple[DeliveryEvent, dict[str, Any]]] = []
        for event, claim in zip(events, claims, strict=True):
            settled = self._core.settle(event, claim)
            if settled is None:
                todo.append((event, claim.key))
            elif reopens(settled):  # a repeat of an unmapped event: evaluated again
                self._first[event.index] = (settled, claim)
                todo.append((event, claim.key))
            else:
                outcomes[event.index] = settled
        # Enrolments and removals come back held: sent together, grouped, at the end.
        schedule = run_events(todo, self._source.concurrency, deadline, self._start)
        outcomes |= schedule.done
        fresh = []
        for event, key in schedule.not_started:
            if event.index in self._first:  # not evaluated in time: its letter still waits
                outcomes[event.index] = self._first[event.index][0]
            else:
                fresh.append((event, key))
        if fresh:
            outcomes |= self._tail(fresh, deadline.more(TAIL_SECONDS))
        outcomes |= self._work.flush(schedule.held, deadline)
        return [outcomes[event.index] for event in events]

    def accept_whole(self, events: list[DeliveryEvent]) -> list[EventOutcome]:
        """Too many events to claim one by one in time: all stored for the worker."""
        return accept_whole(self._records, self._letters, self._source, events)

    def _start(
        self, event: DeliveryEvent, key: dict[str, Any], budget: Deadline
    ) -> EventOutcome | Held:
        """One claimed event's work and record (or a repeat's evaluation), on whichever
        thread the schedule chose."""
        logger.thread_safe_append_keys(delivery_id=event.delivery_id)
        try:
            first = self._first.get(event.index)
            if first is not None:
                return self._repeats.evaluate(event, *first, budget)
            return self._core.work(event, key, functools.partial(self._work.handle, event, budget))
        finally:
            logger.thread_safe_remove_keys(["delivery_id"])

    def whole_body(
        self, event: DeliveryEvent, errors: list[FieldError], status: OutcomeStatus
    ) -> EventOutcome:
        """A body that is not in the source's format, or whose selection failed: stored whole,
        for the replay to select again once the sources file is fixed."""
        try:
            outcome = self._core.once(
                event, lambda: self._letters.unmapped(event, errors, status, whole=True)
            )
        except StoreDown:
            return unfinished(event)
        assert isinstance(outcome, EventOutcome)  # stored whole: never held
        return outcome

    def report(self, outcomes: list[EventOutcome]) -> DeliveryReport:
        report = DeliveryReport(
            events=outcomes,
            body_format=self._body_format,
            unmapped_status=self._source.unmapped_status,
        )
        logger.info(
            "Delivery processed",
            extra={
                "status": report.status,
                "events": len(outcomes),
                "sequencesCreated": sum(e.status == "created" or e.created for e in outcomes),
                "deadLettered": len(report.dead_lettered),
                "deferred": len(report.deferred),
            },
        )
        return report

    def _tail(
        self, claimed: list[tuple[DeliveryEvent, dict[str, Any]]], limit: Deadline
    ) -> dict[int, EventOutcome]:
        """No time left for Skipcall: the claimed events' letters stored in shared
        SendMessageBatch calls (the work queue's, when there is one), then each recorded, a
        chunk at a time until `limit`. What is left then is answered unfinished (the sender
        retries it): a slow queue cannot hold the answer much past the budget."""
        outcomes: dict[int, EventOutcome] = {}
        failing = False  # the last chunk was not taken whole
        for start in range(0, len(claimed), TAIL_CHUNK):
            if start and (limit.expired or failing):
                left = claimed[start:]
                # After a chunk the queue did not take whole, the next would meet the same
                # timeout: released, as the chunk's own were, for the retry. Past the limit
                # they are not: a DeleteItem per event is the time there is none of, and each
                # claim ends with the invocation anyway (the guard knows its deadline).
                for event, key in left:
                    if not limit.expired:
                        self._core.release(key)
                    outcomes[event.index] = unfinished(event)
                logger.warning("Tail stopped early", extra={"unfinished": len(left)})
                break
            stored = self._store_together(claimed[start : start + TAIL_CHUNK])
            failing = any(outcome.status == "unfinished" for outcome in stored.values())
            outcomes |= stored
        return outcomes

    def _store_together(
        self, claimed: list[tuple[DeliveryEvent, dict[str, Any]]]
    ) -> dict[int, EventOutcome]:
        letters = [self._letters.unworked(event) for event, _ in claimed]
        unstored = {id(letter) for letter in self._letters.send(letters)}
        outcomes: dict[int, EventOutcome] = {}
        records: list[tuple[dict[str, Any], EventOutcome]] = []
        for (event, key), letter in zip(claimed, letters, strict=True):
            if id(letter) in unstored:
                self._core.release(key)  # nothing was done: the sender's retry may do it
                outcomes[event.index] = unfinished(event)
                continue
            outcome = self._letters.outcome(letter, [], "dead-lettered")
            records.append((key, outcome))
            outcomes[event.index] = outcome
        self._core.record_all(records)
        logger.warning("Budget spent: events stored together", extra={"events": len(records)})
        return outcomes
