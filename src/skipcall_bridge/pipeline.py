"""verify -> read the events (the source parses, selects and names them, in one step) -> per
event: claim, map, act or dead-letter, record. No AWS or HTTP details.

An event's action is `create` (a sequence, at once), `enrol` or `unenrol` (its contacts into or
out of a target sequence), or nothing (`ignored`). Enrolments and removals are held until every
event has been mapped, then sent grouped by sequence, up to 100 contacts a call, in order; each
event is recorded once the calls holding its contacts have answered.

One event never decides another's fate: whatever goes wrong while one event is handled ends
that event (a stored letter with its reason, a conflict, or unfinished) and the loop goes on.
When the budget runs short, the events left are dead-lettered together (SendMessageBatch) in a
reserve kept for exactly that, so even a 100-event batch is answered before the sender gives up.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter, Target, fitted_letter
from skipcall_bridge.errors import (
    ConfigurationError,
    DeliveryConflict,
    InProgress,
    InvalidSignature,
    PayloadTooLarge,
    Unavailable,
    UnknownSource,
)
from skipcall_bridge.failures import ErrorInfo, Reason
from skipcall_bridge.handshakes import HandshakeAnswer, echo_challenge, verify_token
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices, Resolution
from skipcall_bridge.inbound import InboundDelivery
from skipcall_bridge.letter_post import LetterPost
from skipcall_bridge.links import MemoryLinks
from skipcall_bridge.mapping import CreateIntent, EventMappingError, FieldError, MembershipIntent
from skipcall_bridge.membership import Change, Held, changes, membership_letter_fields
from skipcall_bridge.naming import CreatedNotLinked, NameResult, SequenceNamer
from skipcall_bridge.observability import logger, metrics, per_source
from skipcall_bridge.outcomes import DeliveryReport, EventOutcome, OutcomeStatus
from skipcall_bridge.ports import (
    DeadLetterSink,
    IdempotencyGuard,
    NoIdempotency,
    PacedActions,
    SigningSecrets,
    SkipcallActions,
)
from skipcall_bridge.skipcall.models import CallFailed, Created, CreateSequenceDto, Done
from skipcall_bridge.sources import Source, SourceCatalog
from skipcall_bridge.verify import SignedRequest

T = TypeVar("T")

# Kept back from the Lambda's remaining time so a failed delivery can still reach the DLQ.
DEAD_LETTER_RESERVE_SECONDS = 1.5
# Kept back from the budget for the events not yet handled: each needs its claim, its share of
# a SendMessageBatch and its record (three AWS calls, ~10 ms each in-region), plus a margin.
TAIL_RESERVE_SECONDS = 0.25
TAIL_SECONDS_PER_EVENT = 0.03
# A held enrolment needs only its record at the end (its call is shared): one write.
HELD_SECONDS_PER_EVENT = 0.01


@dataclass(frozen=True)
class _Event:
    index: int
    delivery_id: str
    payload: Any


class _StoreDown(Exception):
    """The deduplication table cannot be reached: no event can be handled safely now."""


class _NotStored(Exception):
    """An event's letter could not be stored."""

    def __init__(self, letter: DeadLetter) -> None:
        super().__init__(letter.reason)
        self.letter = letter


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
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._secrets = secrets
        self._ports = _Ports(
            skipcall,
            LetterPost(dead_letters, work_queue, lambda: skipcall.rate_limit, wall_clock),
            guard or NoIdempotency(),
            identity,
            namer or SequenceNamer(MemoryLinks()),
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

    def verify_subscription(self, source_name: str, query: dict[str, str]) -> HandshakeAnswer:
        """A verify-token handshake's challenge (raises RouteNotFound, InvalidSignature)."""
        return verify_token(self._catalog.get(source_name), query, self._secrets)

    def process(self, delivery: InboundDelivery, time_left_seconds: float) -> DeliveryReport:
        source = self._catalog.get(delivery.source)
        if source is None:
            raise UnknownSource(f"No source named {delivery.source!r} is configured.")
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
            event = _Event(0, reading.whole_body_id, encoded)
            return run.report([run.whole_body(event, [error], status="invalid-body")])
        if reading.unselectable is not None:  # the selection itself failed: kept whole
            event = _Event(0, reading.whole_body_id, reading.payload)
            errors = reading.unselectable.errors
            return run.report([run.whole_body(event, errors, status="unmapped")])
        if not reading.events:
            logger.info("Delivery selected no events: nothing to do")
            return run.report([])
        events = [
            _Event(index, delivery_id, payload)
            for index, (delivery_id, payload) in enumerate(reading.events)
        ]
        deadline = Deadline(
            min(source.budget_seconds, time_left_seconds - DEAD_LETTER_RESERVE_SECONDS),
            self._monotonic,
        )
        return run.report(run.events(events, deadline))

    def _verify(self, source: Source, request: SignedRequest) -> None:
        try:
            secrets = self._secrets.signing_secrets(source.secret_id)
            source.verifier.verify(request, secrets, self._wall_clock())
        except InvalidSignature:
            metrics.add_metric(name="SignatureRejected", unit=MetricUnit.Count, value=1)
            logger.warning("Signature rejected", extra={"source": source.name})
            raise
        except ConfigurationError as exc:
            logger.error(
                "Signing secret unusable", extra={"source": source.name, "error": str(exc)}
            )
            raise Unavailable("The receiver cannot verify this source right now.") from None


@dataclass(frozen=True)
class _Ports:
    skipcall: SkipcallActions
    post: LetterPost  # the dead-letter queue, or the work queue for what the worker can finish
    guard: IdempotencyGuard
    identity: IdentityServices | None
    namer: SequenceNamer


class _Run:
    """One delivery's events: each claimed, handled and recorded on its own."""

    def __init__(
        self, ports: _Ports, source: Source, request: SignedRequest, received_at: datetime
    ) -> None:
        self._p = ports
        self._source = source
        self._request = request
        self._received_at = received_at

    # -- the events of a delivery ----------------------------------------------------------

    def events(self, events: list[_Event], deadline: Deadline) -> list[EventOutcome]:
        outcomes: dict[int, EventOutcome] = {}
        held: list[Held] = []  # enrolments and removals, sent together at the end
        for position, event in enumerate(events):
            left = len(events) - position
            reserve = _tail_reserve(left) + HELD_SECONDS_PER_EVENT * len(held)
            if deadline.remaining() <= reserve:
                rest = events[position:]
                outcomes |= {e.index: o for e, o in zip(rest, self._tail(rest), strict=True)}
                break
            logger.append_keys(delivery_id=event.delivery_id)
            try:
                result = self._once(
                    event,
                    deadline.less(_tail_reserve(left - 1) + HELD_SECONDS_PER_EVENT * len(held)),
                )
            except _StoreDown:
                outcomes |= {e.index: _unfinished(e) for e in events[position:]}
                break
            if isinstance(result, Held):
                held.append(result)
            else:
                outcomes[event.index] = result
        outcomes |= self._flush(held, deadline)
        return [outcomes[event.index] for event in events]

    def whole_body(
        self, event: _Event, errors: list[FieldError], status: OutcomeStatus
    ) -> EventOutcome:
        """A body that is not in the source's format, or whose selection failed: stored whole,
        for the replay to select again once the sources file is fixed."""

        def store() -> EventOutcome:
            return self._unmapped(event, errors, status, whole=True)

        try:
            outcome = self._once(event, None, store)
        except _StoreDown:
            return _unfinished(event)
        assert isinstance(outcome, EventOutcome)  # stored whole: never held
        return outcome

    def report(self, outcomes: list[EventOutcome]) -> DeliveryReport:
        report = DeliveryReport(
            events=outcomes,
            body_format=self._source.body_format,
            unmapped_status=self._source.unmapped_status,
        )
        logger.info(
            "Delivery processed",
            extra={
                "status": report.status,
                "events": len(outcomes),
                "sequencesCreated": sum(e.status == "created" or e.created for e in outcomes),
                "deadLettered": len(report.dead_lettered),
            },
        )
        return report

    # -- one event, once -------------------------------------------------------------------

    def _once(
        self,
        event: _Event,
        deadline: Deadline | None,
        work: Callable[[], EventOutcome] | None = None,
    ) -> EventOutcome | Held:
        """Claim the event, do its work, record its outcome (a held enrolment is recorded by
        `_flush`). Raises _StoreDown only when the table cannot be reached before any work
        was done."""
        key = self._key(event)
        claimed = self._claim(event, key)
        if claimed is not None:
            return claimed
        outcome: EventOutcome | Held
        try:
            if work is not None:
                outcome = work()
            else:
                assert deadline is not None
                outcome = self._handle(event, deadline)
        except _NotStored as failed:  # its letter could not be stored: the sender must retry
            logger.error("Event neither done nor stored", extra={"reason": failed.letter.reason})
            if failed.letter.reason is not Reason.OUTCOME_UNKNOWN:
                self._p.guard.release(key)  # nothing happened: the retry may do it all again
                return _unfinished(event)
            # Skipcall may have created it: the retry must only store the letter.
            outcome = _unfinished(event).model_copy(
                update={"pending_letter": _pending(failed.letter)}
            )
        if isinstance(outcome, Held):
            return outcome.keyed(key)
        self._record(key, outcome)
        return outcome

    def _key(self, event: _Event) -> dict[str, Any]:
        if not self._p.guard.stores:
            return {}  # nothing is remembered: no fingerprint to compute
        return {
            "source": self._source.name,
            "deliveryId": event.delivery_id,
            "phase": "receive",
            "payload": self._source.fingerprint(event.payload),
        }

    def _claim(self, event: _Event, key: dict[str, Any]) -> EventOutcome | None:
        """None: this run holds the event now. Otherwise the event's outcome without work."""
        try:
            stored = self._p.guard.claim(key)
        except DeliveryConflict:
            metrics.add_metric(name="DeliveryConflicts", unit=MetricUnit.Count, value=1)
            logger.warning("Delivery id reused with another payload: nothing done")
            return EventOutcome(delivery_id=event.delivery_id, status="conflict")
        except InProgress:
            return _unfinished(event, retry_after_seconds=5)
        except Unavailable:
            raise _StoreDown from None
        if stored is None:
            return None
        if stored.get("pending_letter"):
            return self._store_pending(event, key, stored["pending_letter"])
        metrics.add_metric(name="DuplicatesSuppressed", unit=MetricUnit.Count, value=1)
        logger.info("Duplicate delivery: answering as the first time")
        return EventOutcome.model_validate({**stored, "duplicate": True})

    def _store_pending(
        self, event: _Event, key: dict[str, Any], pending: dict[str, Any]
    ) -> EventOutcome:
        """An earlier delivery reached Skipcall with no known outcome but could not store its
        letter: store it now (Skipcall is not called again), then record the final outcome."""
        letter = self._letter(
            event,
            reason=Reason(pending["reason"]),
            retryable=False,
            error=ErrorInfo.model_validate(pending["error"]),
            sequence=pending.get("sequence"),
            extra=pending.get("membership") or {},
        )
        try:
            outcome = self._stored(letter, (), "dead-lettered")
        except _NotStored:
            return _unfinished(event)
        self._record(key, outcome)
        return outcome

    def _record(self, key: dict[str, Any], outcome: EventOutcome) -> None:
        if not self._p.guard.stores:
            return
        try:
            self._p.guard.complete(key, outcome.stored_form())
        except Unavailable:
            # The work is done (created, or stored in the DLQ): answering 503 would make the
            # sender retry and do it twice. The claim lapses with the invocation's time.
            logger.error("Outcome not recorded for deduplication")

    # -- the work of one event -------------------------------------------------------------

    def _handle(self, event: _Event, deadline: Deadline) -> EventOutcome | Held:
        source = self._source
        resolution: Resolution | None = None
        try:
            resolution = source.resolution(self._p.identity, deadline)
            intent = source.mapper.map(event.payload, resolution)
        except EventMappingError as exc:
            return self._unmapped(event, exc.errors)
        except DirectoryUnavailable as exc:  # the replay maps it again, once Skipcall answers
            return self._not_created(event, None, exc.failure)
        except Exception as exc:  # a bug must end this event, not the batch
            logger.exception("Mapping failed unexpectedly")
            return self._unmapped(event, [FieldError("event", _describe(exc))])
        skipped = resolution.skipped if resolution is not None else []
        if intent is None:
            return EventOutcome(delivery_id=event.delivery_id, status="ignored")
        if isinstance(intent, MembershipIntent):
            return self._target(event, intent, resolution, deadline)
        return self._create_sequence(event, intent, skipped, deadline)

    def _create_sequence(
        self,
        event: _Event,
        intent: CreateIntent,
        skipped: list[dict[str, str]],
        deadline: Deadline,
    ) -> EventOutcome:
        dto = intent.dto
        result = self._create(dto, deadline)
        if isinstance(result, CallFailed):
            return self._not_created(event, dto, result)
        metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=1)
        sequence = (
            result.sequence.model_dump(mode="json")
            if result.sequence is not None
            else {"id": None, "name": dto.name}  # created, but Skipcall's answer was unreadable
        )
        return EventOutcome(
            delivery_id=event.delivery_id,
            status="created",
            action="create",
            sequence=sequence,
            skipped_contacts=skipped,
        )

    def _target(
        self,
        event: _Event,
        intent: MembershipIntent,
        resolution: Resolution | None,
        deadline: Deadline,
    ) -> EventOutcome | Held:
        """The enrolment's sequence id: given, or found (created once) by its name."""
        skipped = resolution.skipped if resolution is not None else []
        held = Held(
            event.delivery_id, event.index, intent, intent.target, skipped, payload=event.payload
        )
        if intent.target.name is None or not intent.contact_ids:
            # no contacts: an unenrol whose contacts were never linked, nothing to do
            return held if intent.contact_ids else held.outcome()
        made: list[CreateSequenceDto] = []
        try:
            result = self._by_name(held, intent.target.name, resolution, deadline, made)
        except EventMappingError as exc:  # the `sequence` block did not render
            return self._unmapped(event, exc.errors)
        if result is None:
            logger.info("Unenrol from a sequence never created: nothing to do")
            return held.outcome()
        dto = made[0].to_json() if made else None
        if isinstance(result, CallFailed):
            return self._membership_letter(event, intent, intent.target, result, dto)
        target = Target(id=result.sequence_id, name=intent.target.name)
        if isinstance(result, CreatedNotLinked):
            return self._membership_letter(event, intent, target, result.failure, dto, created=True)
        return replace(held, target=target, created=result.created, sequence=dto)

    def _by_name(
        self,
        held: Held,
        name: str,
        resolution: Resolution | None,
        deadline: Deadline,
        made: list[CreateSequenceDto],
    ) -> NameResult | None:
        """The named target, created from `sequence` (the DTO is added to `made`) by an enrol
        the first time it is needed; an unenrol never creates one (None: nobody to take out)."""

        def create() -> Created | CallFailed:
            dto = self._source.mapper.creation(held.payload, name, resolution)
            made.append(dto)
            result = self._create(dto, deadline)
            if not isinstance(result, CallFailed):
                metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=1)
            return result

        try:
            return self._p.namer.resolve(
                name, create if held.intent.action == "enrol" else None, deadline
            )
        except DirectoryUnavailable as exc:
            return exc.failure

    # -- enrolments and removals, grouped --------------------------------------------------

    def _flush(self, held: list[Held], deadline: Deadline) -> dict[int, EventOutcome]:
        """Send the held changes, grouped by sequence in as few calls as the limit allows;
        then store the letters of the events whose calls failed, and record every event."""
        if not held:
            return {}
        failures: dict[int, CallFailed] = {}
        for change in changes(held):
            result = self._change(change, deadline)
            if isinstance(result, CallFailed):
                failures |= dict.fromkeys(change.holders, result)
        outcomes = {
            one.index: one.outcome()
            for position, one in enumerate(held)
            if position not in failures
        }
        failed = [(held[position], failure) for position, failure in sorted(failures.items())]
        outcomes |= self._store_held(failed)
        for one in held:
            if outcomes[one.index].status != "unfinished":
                self._record(one.key, outcomes[one.index])
        return outcomes

    def _store_held(self, failed: list[tuple[Held, CallFailed]]) -> dict[int, EventOutcome]:
        """The letters of held events whose calls failed, stored together."""
        letters = [(one, self._held_letter(one, failure)) for one, failure in failed]
        unstored = self._send([letter for _, letter in letters])
        outcomes: dict[int, EventOutcome] = {}
        for one, letter in letters:
            if any(letter is kept for kept in unstored):
                # enrolment is idempotent: the sender's retry may do it again
                self._p.guard.release(one.key)
                outcomes[one.index] = _unfinished(_Event(one.index, one.delivery_id, None))
            else:
                outcomes[one.index] = self._outcome(letter, [], "dead-lettered")
        return outcomes

    def _change(self, change: Change, deadline: Deadline) -> Done | CallFailed:
        skipcall, sequence_id = self._p.skipcall, change.sequence_id

        def send() -> Done | CallFailed:  # the bodies are built inside: a raise is a failure
            if change.action == "enrol":
                return skipcall.add_contacts(sequence_id, change.add_body(), deadline)
            return skipcall.remove_contacts(sequence_id, change.remove_body(), deadline)

        result = _timed(send, deadline, idempotent=True)
        if isinstance(result, CallFailed):
            logger.warning(
                "Skipcall did not change the sequence's contacts",
                extra={"action": change.action, "reason": result.reason, "error": result.error},
            )
        else:
            name = "ContactsEnrolled" if change.action == "enrol" else "ContactsUnenrolled"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(change.contact_ids))
        return result

    def _held_letter(self, one: Held, failure: CallFailed) -> DeadLetter:
        event = _Event(one.index, one.delivery_id, one.payload)
        return self._letter(
            event,
            reason=failure.reason,
            retryable=failure.retryable,
            error=failure.error,
            sequence=one.sequence,
            extra=membership_letter_fields(one.intent, one.target, one.created),
        )

    def _membership_letter(
        self,
        event: _Event,
        intent: MembershipIntent,
        target: Target,
        failure: CallFailed,
        dto: dict[str, Any] | None,
        *,
        created: bool = False,
    ) -> EventOutcome:
        letter = self._letter(
            event,
            reason=failure.reason,
            retryable=failure.retryable,
            error=failure.error,
            sequence=dto,
            extra=membership_letter_fields(intent, target, created),
        )
        return self._stored(letter, (), "dead-lettered")

    def _create(self, dto: CreateSequenceDto, deadline: Deadline) -> Created | CallFailed:
        skipcall = self._p.skipcall
        result = _timed(lambda: skipcall.create(dto, deadline), deadline, idempotent=False)
        if isinstance(result, CallFailed):
            logger.warning(
                "Skipcall did not create the sequence",
                extra={"reason": result.reason, "attempts": result.attempts, "error": result.error},
            )
        return result

    # -- the last events, together ---------------------------------------------------------

    def _tail(self, events: list[_Event]) -> list[EventOutcome]:
        """No time left for Skipcall: claim each event, store their letters in shared
        SendMessageBatch calls, then record each one."""
        outcomes: dict[int, EventOutcome] = {}
        held: list[tuple[_Event, dict[str, Any], DeadLetter]] = []
        for position, event in enumerate(events):
            key = self._key(event)
            try:
                claimed = self._claim(event, key)
            except _StoreDown:
                # Their letters could be stored but not recorded, and a retry after the claims
                # lapse would store them again: nothing is stored, the retry does it all.
                for claimed_event, claimed_key, _ in held:
                    self._p.guard.release(claimed_key)
                    outcomes[claimed_event.index] = _unfinished(claimed_event)
                outcomes.update((e.index, _unfinished(e)) for e in events[position:])
                held = []
                break
            if claimed is not None:
                outcomes[event.index] = claimed
                continue
            failure = _budget_exhausted()
            letter = self._letter(
                event,
                reason=failure.reason,
                retryable=True,
                error=failure.error,
                sequence=None,  # mapped by the replay, with the sources file of that day
            )
            held.append((event, key, letter))
        unstored = self._send([letter for _, _, letter in held])
        for event, key, letter in held:
            if any(letter is kept for kept in unstored):
                self._p.guard.release(key)  # nothing was done: the sender's retry may do it
                outcomes[event.index] = _unfinished(event)
                continue
            outcome = self._outcome(letter, [], "dead-lettered")
            self._record(key, outcome)
            outcomes[event.index] = outcome
        logger.warning(
            "Budget spent: events dead-lettered together",
            extra={"events": len(held) - len(unstored)},
        )
        return [outcomes[event.index] for event in events]

    # -- letters ---------------------------------------------------------------------------

    def _unmapped(
        self,
        event: _Event,
        errors: Sequence[FieldError],
        status: OutcomeStatus = "unmapped",
        *,
        whole: bool = False,
    ) -> EventOutcome:
        letter = self._letter(
            event,
            reason=Reason.MAPPING_FAILED,
            retryable=False,
            error=_mapping_error(errors),
            sequence=None,
            whole=whole,
            encoded=status == "invalid-body",
        )
        return self._stored(letter, errors, status)

    def _not_created(
        self, event: _Event, dto: CreateSequenceDto | None, result: CallFailed
    ) -> EventOutcome:
        letter = self._letter(
            event,
            reason=result.reason,
            retryable=result.retryable,
            error=result.error,
            sequence=dto.to_json() if dto is not None else None,
            extra={"action": "create"} if dto is not None else None,
        )
        return self._stored(letter, (), "dead-lettered")

    def _letter(
        self,
        event: _Event,
        *,
        reason: Reason,
        retryable: bool,
        error: ErrorInfo,
        sequence: dict[str, Any] | None,
        whole: bool = False,
        encoded: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> DeadLetter:
        fields: dict[str, Any] = {
            **(extra or {}),
            "source": self._source.name,
            "deliveryId": event.delivery_id,
            "receivedAt": self._received_at,
            "reason": reason,
            "retryable": retryable,
            "attempts": 1,  # the receiver's try; each failed replay run adds one
            "error": error,
            "sequence": sequence,
            "payload": event.payload,
        }
        if whole:  # the delivery's body stands for all of its events
            fields |= {"payloadScope": "body", "eventIndex": None}
            if encoded:
                fields["payloadEncoding"] = "base64"
            return fitted_letter(fields, self._request.body, None)
        return fitted_letter(fields, self._request.body, event.index)

    def _stored(
        self, letter: DeadLetter, errors: Sequence[FieldError], status: OutcomeStatus
    ) -> EventOutcome:
        """Stores the letter (or raises _NotStored): only then is the outcome recorded."""
        if self._send([letter]):
            raise _NotStored(letter)
        return self._outcome(letter, errors, status)

    def _send(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Stores the letters, each in its queue; returns those not stored."""
        return self._p.post.send(letters, self._source.name) if letters else []

    def _outcome(
        self, letter: DeadLetter, errors: Sequence[FieldError], status: OutcomeStatus
    ) -> EventOutcome:
        """A stored letter's event: `deferred` when the letter went to the work queue."""
        return EventOutcome(
            delivery_id=letter.delivery_id,
            status=self._p.post.status(letter, status),
            reason=letter.reason,
            errors=[error.as_dict() for error in errors],
            action=letter.action,
        )


def _tail_reserve(events_left: int) -> float:
    return TAIL_RESERVE_SECONDS + TAIL_SECONDS_PER_EVENT * events_left if events_left else 0.0


def _pending(letter: DeadLetter) -> dict[str, Any]:
    """What a retry needs to rebuild the letter (the payload comes with the retry itself)."""
    pending: dict[str, Any] = {
        "reason": letter.reason.value,
        "error": letter.error.model_dump(mode="json"),
        "sequence": letter.sequence,
    }
    if letter.action in ("enrol", "unenrol"):
        pending["membership"] = letter.model_dump(
            mode="json",
            by_alias=True,
            include={"action", "target", "contact_ids", "assignee", "created"},
        )
    return pending


def _unfinished(event: _Event, retry_after_seconds: int = 30) -> EventOutcome:
    return EventOutcome(
        delivery_id=event.delivery_id,
        status="unfinished",
        retry_after_seconds=retry_after_seconds,
    )


def _timed(call: Callable[[], T], deadline: Deadline, *, idempotent: bool) -> T | CallFailed:
    """One Skipcall call, its latency published (SkipcallLatency). A client that raises ends
    the call as a failure: one the replay may send again when the call is idempotent, else
    OUTCOME_UNKNOWN (the request may have gone out: never sent again blindly)."""
    if deadline.expired:
        return _budget_exhausted()
    started = time.perf_counter()
    try:
        result: T | CallFailed = call()
    except Exception as exc:
        logger.exception("Skipcall client failed unexpectedly")
        result = CallFailed(
            Reason.SKIPCALL_UNAVAILABLE if idempotent else Reason.OUTCOME_UNKNOWN,
            retryable=idempotent,
            attempts=1,
            error=ErrorInfo(code="CLIENT_ERROR", message=_describe(exc)),
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_metric(name="SkipcallLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return result


def _budget_exhausted() -> CallFailed:
    return CallFailed(
        reason=Reason.BUDGET_EXHAUSTED,
        retryable=True,
        attempts=0,
        error=ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left in the budget."),
    )


def _mapping_error(errors: Sequence[FieldError]) -> ErrorInfo:
    message = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ErrorInfo(status=422, code="MAPPING_FAILED", message=message or "The event did not map.")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
