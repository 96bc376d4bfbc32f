"""verify -> read the events (the source parses, selects and names them, in one step) -> per
event: claim, map, act or dead-letter, record. No AWS or HTTP details.

The parts, each in its module: `EventCore` takes an event from claimed to recorded (or
released); `EventWork` acts through the acting core (`acting.py`: enrolments and removals held,
then sent grouped by sequence) and turns a failure into the event's letter; `EventLetters`
builds and stores that letter, in the dead-letter queue or, for what the worker can still
finish, the work queue (`LetterPost`); `run_events` starts the claimed events, up to the
source's `concurrency` at once, while the budget carries them. `_Run` walks one delivery's
events through them.

One event never decides another's fate: whatever goes wrong while one event is handled ends
that event (a stored letter with its reason, a conflict, or unfinished) and the loop goes on.
When the budget runs short, the events left are claimed and their letters stored together
(SendMessageBatch) in a reserve kept for exactly that, so even a 100-event batch is answered
before the sender gives up; with a work queue they are deferred there, for the worker.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.acting import ActingCore
from skipcall_bridge.budget import CallWindow, Deadline
from skipcall_bridge.errors import (
    ConfigurationError,
    InvalidSignature,
    PayloadTooLarge,
    Unavailable,
    UnknownSource,
)
from skipcall_bridge.event_accept import ACCEPT_WHOLE_ABOVE, accept_whole
from skipcall_bridge.event_core import EventCore, StoreDown
from skipcall_bridge.event_letters import (
    DeliveryEvent,
    EventLetters,
    unfinished,
)
from skipcall_bridge.event_records import Claim, EventRecords
from skipcall_bridge.event_repeats import UnmappedRepeats, reopens
from skipcall_bridge.event_schedule import run_events
from skipcall_bridge.event_work import EventWork
from skipcall_bridge.handshakes import HandshakeAnswer, answer_get, echo_challenge
from skipcall_bridge.identity import IdentityServices
from skipcall_bridge.inbound import InboundDelivery
from skipcall_bridge.letter_post import LetterPost
from skipcall_bridge.links import MemoryLinks
from skipcall_bridge.mapping import FieldError
from skipcall_bridge.membership import Held
from skipcall_bridge.naming import SequenceNamer
from skipcall_bridge.observability import logger, metrics, per_source
from skipcall_bridge.outcomes import DeliveryReport, EventOutcome, OutcomeStatus
from skipcall_bridge.ports import (
    DeadLetterSink,
    IdempotencyGuard,
    MemoryTokenLedger,
    NoIdempotency,
    PacedActions,
    SigningSecrets,
    TokenLedger,
)
from skipcall_bridge.skipcall.pacing import Pacing
from skipcall_bridge.sources import Source, SourceCatalog
from skipcall_bridge.verify import SignedRequest

if TYPE_CHECKING:  # loaded by the first repeat of an unmapped event, not on cold start
    from skipcall_bridge.letter_run import LetterRuns

# Kept back from the Lambda's remaining time so a failed delivery can still reach the DLQ.
DEAD_LETTER_RESERVE_SECONDS = 1.5


class Pipeline:
    def __init__(
        self,
        catalog: SourceCatalog,
        secrets: SigningSecrets,
        skipcall: PacedActions,
        dead_letters: DeadLetterSink,
        *,
        max_body_bytes: int,
        work_queue: DeadLetterSink | None = None,
        guard: IdempotencyGuard | None = None,
        identity: IdentityServices | None = None,
        namer: SequenceNamer | None = None,
        pacing: Pacing | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tokens: TokenLedger | None = None,
        window: CallWindow | None = None,
    ) -> None:
        self._catalog = catalog
        self._window = window or CallWindow()
        self._tokens = tokens or MemoryTokenLedger(wall_clock)
        self._secrets = secrets
        records = EventRecords(guard or NoIdempotency())
        namer = namer or SequenceNamer(MemoryLinks())
        self._ports = _Ports(
            ActingCore(skipcall, namer, identity),
            LetterPost(
                dead_letters,
                work_queue,
                pacing or Pacing(lambda: skipcall.rate_limit, wall_clock=wall_clock),
            ),
            records,
            functools.cache(
                functools.partial(
                    _repeat_core,
                    catalog,
                    skipcall,
                    records,
                    identity=identity,
                    namer=namer,
                    wall_clock=wall_clock,
                )
            ),
        )
        self._max_body_bytes = max_body_bytes
        self._wall_clock = wall_clock
        self._monotonic = monotonic  # the budget's clock: tests step it instead of sleeping

    def echo_handshake(self, source_name: str, request: SignedRequest) -> HandshakeAnswer | None:
        """The answer to an echo-challenge handshake, when that is what the request is."""
        source = self._catalog.get(source_name)
        if source is None or source.config.handshake is None:
            return None
        return echo_challenge(source, request.body)

    def verify_subscription(
        self, source_name: str, request: SignedRequest, query: dict[str, str]
    ) -> HandshakeAnswer:
        """A GET handshake's answer (raises RouteNotFound, InvalidSignature). A refused probe
        counts in SignatureRejected, as a refused delivery does: someone guessing the token
        shows on the same alarm."""
        source = self._catalog.get(source_name)
        try:
            return answer_get(source, request, query, self._secrets, self._wall_clock())
        except InvalidSignature:
            assert source is not None  # an unknown source is RouteNotFound
            per_source(source.name)
            _rejected(source, "Handshake probe rejected")
            raise

    def process(self, delivery: InboundDelivery, time_left_seconds: float) -> DeliveryReport:
        source = self._catalog.get(delivery.source)
        if source is None:
            raise UnknownSource(f"No source named {delivery.source!r} is configured.")
        # Every AWS call of this delivery (the secret, the claims, the letters, the records)
        # ends by the time its answer is due: the budget and the end-of-budget path.
        answer_by = min(source.budget_seconds + TAIL_SECONDS, time_left_seconds)
        self._window.bind(Deadline(answer_by, self._monotonic))
        try:
            return self._process(source, delivery, time_left_seconds)
        finally:
            self._window.bind(None)

    def _process(
        self, source: Source, delivery: InboundDelivery, time_left_seconds: float
    ) -> DeliveryReport:
        per_source(source.name)
        metrics.add_metric(name="DeliveriesReceived", unit=MetricUnit.Count, value=1)
        request = delivery.request
        if len(request.body) > self._max_body_bytes:
            raise PayloadTooLarge(
                f"The body is {len(request.body)} bytes; the limit is {self._max_body_bytes}."
            )
        self._verify(source, request)
        run = _Run(self._ports, source, request, delivery.received_at)
        reading = source.read(request)
        if reading.unreadable is not None:  # kept as the sender's bytes
            error = FieldError("body", reading.unreadable.message)
            encoded = base64.b64encode(request.body).decode("ascii")
            event = DeliveryEvent(0, reading.whole_body_id, encoded)
            return run.report([run.whole_body(event, [error], status="invalid-body")])
        if reading.unselectable is not None:  # the selection itself failed: kept whole
            event = DeliveryEvent(0, reading.whole_body_id, reading.payload)
            errors = reading.unselectable.errors
            return run.report([run.whole_body(event, errors, status="unmapped")])
        if not reading.events:
            logger.info("Delivery selected no events: nothing to do")
            return run.report([])
        if len(reading.events) > source.config.max_events:
            raise PayloadTooLarge(
                f"The delivery holds {len(reading.events)} events; the source takes at most "
                f"{source.config.max_events} (maxEvents)."
            )
        events = [
            DeliveryEvent(index, delivery_id, payload)
            for index, (delivery_id, payload) in enumerate(reading.events)
        ]
        if len(events) > ACCEPT_WHOLE_ABOVE and self._ports.post.queues_work:
            return run.report(run.accept_whole(events))
        deadline = Deadline(
            min(source.budget_seconds, time_left_seconds - DEAD_LETTER_RESERVE_SECONDS),
            self._monotonic,
        )
        return run.report(run.events(events, deadline))

    def _use_once(self, source: Source, request: SignedRequest) -> None:
        """A single-use credential is bound to the first body it came with: the same body
        again is the sender's retry (deduplication answers it); another body is refused."""
        token = source.verifier.single_use_token(request)
        if token is None:
            return
        digest, expires_at = token
        body = hashlib.sha256(request.body).hexdigest()
        if not self._tokens.bind(f"{source.name}#{digest}", body, expires_at):
            logger.warning("Single-use token came with another body", extra={"source": source.name})
            raise InvalidSignature

    def _verify(self, source: Source, request: SignedRequest) -> None:
        try:
            secrets = self._secrets.signing_secrets(source.secret_id)
            source.verifier.verify(request, secrets, self._wall_clock())
            self._use_once(source, request)
        except InvalidSignature:
            _rejected(source, "Signature rejected")
            raise
        except ConfigurationError as exc:
            logger.error(
                "Signing secret unusable", extra={"source": source.name, "error": str(exc)}
            )
            raise Unavailable("The receiver cannot verify this source right now.") from None


def _rejected(source: Source, message: str) -> None:
    """A request refused for its credential: one count on the SignatureRejected alarm."""
    metrics.add_metric(name="SignatureRejected", unit=MetricUnit.Count, value=1)
    logger.warning(message, extra={"source": source.name})


@dataclass(frozen=True)
class _Ports:
    acting: ActingCore
    post: LetterPost  # the dead-letter queue, or the work queue for what the worker can finish
    records: EventRecords  # each event's deduplication record
    letters: Callable[[], LetterRuns]  # acts on an unmapped event again, for its repeat


def _repeat_core(
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
    from skipcall_bridge.acting import DeferringPacer
    from skipcall_bridge.letter_run import LetterRuns

    acting = ActingCore(
        skipcall, namer, identity, pacer=DeferringPacer(skipcall, wall_clock), counts=False
    )
    # the budget is unused: `again` acts within the delivery's deadline
    return LetterRuns(catalog, acting, records, actor="replay", budget_seconds=0.0)


# The end-of-budget path ends this long after the budget, whatever the queue's pace: letters go
# out TAIL_CHUNK at a time (five SendMessageBatch calls), the clock read between chunks.
TAIL_SECONDS = 1.0
TAIL_CHUNK = 50


class _Run:
    """One delivery's events: each claimed, handled and recorded on its own."""

    def __init__(
        self, ports: _Ports, source: Source, request: SignedRequest, received_at: datetime
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
