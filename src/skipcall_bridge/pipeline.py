"""verify -> parse -> select events -> map -> deliver -> dead-letter. No AWS or HTTP details."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter, ErrorInfo, Reason
from skipcall_bridge.errors import (
    ConfigurationError,
    InvalidBody,
    InvalidSignature,
    PayloadTooLarge,
    Unavailable,
    UnknownSource,
)
from skipcall_bridge.mapping import EventMappingError, FieldError
from skipcall_bridge.observability import logger, metrics
from skipcall_bridge.payloads import BodyFormat
from skipcall_bridge.ports import DeadLetterSink, SequenceCreator, SigningSecrets
from skipcall_bridge.skipcall.models import Created, CreateSequenceDto, NotCreated
from skipcall_bridge.sources import Source, SourceCatalog
from skipcall_bridge.verify import SignedRequest

# Kept back from the Lambda's remaining time so a failed delivery can still reach the DLQ.
DEAD_LETTER_RESERVE_SECONDS = 1.5


@dataclass(frozen=True)
class InboundDelivery:
    source: str
    request: SignedRequest
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class DeadLetterRef:
    delivery_id: str
    reason: Reason


@dataclass(frozen=True)
class EventOutcome:
    """One event of a delivery: created (with its sequence id), or dead-lettered (with why)."""

    delivery_id: str
    sequence_id: str | None = None
    reason: Reason | None = None


DeliveryStatus = Literal["created", "partial", "dead-lettered", "unmapped"]


@dataclass(frozen=True)
class DeliveryReport:
    """What became of every event. `unmapped`: no event mapped (all are dead-lettered)."""

    status: DeliveryStatus
    sequences: list[dict[str, Any]]
    dead_lettered: list[DeadLetterRef]
    mapping_errors: list[dict[str, Any]] = field(default_factory=list)
    body_format: BodyFormat = "json"
    events: list[EventOutcome] = field(default_factory=list)  # in the delivery's order


@dataclass(frozen=True)
class _Event:
    delivery_id: str
    index: int
    payload: Any


class Pipeline:
    def __init__(
        self,
        catalog: SourceCatalog,
        secrets: SigningSecrets,
        skipcall: SequenceCreator,
        dead_letters: DeadLetterSink,
        *,
        max_body_bytes: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._secrets = secrets
        self._skipcall = skipcall
        self._dead_letters = dead_letters
        self._max_body_bytes = max_body_bytes
        self._wall_clock = wall_clock

    def process(self, delivery: InboundDelivery, time_left_seconds: float) -> DeliveryReport:
        source = self._catalog.get(delivery.source)
        if source is None:
            raise UnknownSource(f"No source named {delivery.source!r} is configured.")
        request = delivery.request
        if len(request.body) > self._max_body_bytes:
            raise PayloadTooLarge(
                f"The body is {len(request.body)} bytes; the limit is {self._max_body_bytes}."
            )
        self._verify(source, request)

        letters = _LetterFactory(source.name, delivery.received_at)
        try:
            payload = source.parse_body(request.body)
        except InvalidBody as exc:
            raw = request.body.decode("utf-8", errors="replace")
            errors = [FieldError("body", exc.message)]
            self._send([letters.unmapped(source.delivery_ids(request, [raw])[0], raw, errors)])
            raise
        try:
            selected = source.events.select(payload)
        except EventMappingError as exc:
            delivery_id = source.delivery_ids(request, [payload])[0]
            self._send([letters.unmapped(delivery_id, payload, exc.errors)])
            return _unmapped(
                source,
                [DeadLetterRef(delivery_id, Reason.MAPPING_FAILED)],
                [(0, exc.errors)],
                [EventOutcome(delivery_id, reason=Reason.MAPPING_FAILED)],
            )
        events = [
            _Event(delivery_id, index, item)
            for index, (delivery_id, item) in enumerate(
                zip(source.delivery_ids(request, selected), selected, strict=True)
            )
        ]
        logger.append_keys(source=source.name, delivery_id=events[0].delivery_id)
        return self._deliver(source, events, letters, time_left_seconds)

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

    def _deliver(
        self, source: Source, events: list[_Event], letters: _LetterFactory, time_left: float
    ) -> DeliveryReport:
        mapped: list[tuple[_Event, CreateSequenceDto]] = []
        dead: list[DeadLetter] = []
        outcomes: dict[int, EventOutcome] = {}
        mapping_errors: list[tuple[int, list[FieldError]]] = []
        for event in events:
            try:
                mapped.append((event, source.mapper.map(event.payload)))
            except EventMappingError as exc:
                mapping_errors.append((event.index, exc.errors))
                dead.append(letters.unmapped(event.delivery_id, event.payload, exc.errors))
                outcomes[event.index] = EventOutcome(event.delivery_id, reason=dead[-1].reason)

        deadline = Deadline(min(source.budget_seconds, time_left - DEAD_LETTER_RESERVE_SECONDS))
        sequences: list[dict[str, Any]] = []
        for event, dto in mapped:
            result = self._create(dto, deadline)
            if isinstance(result, Created):
                sequence = result.sequence
                sequences.append(
                    sequence.model_dump(mode="json")
                    if sequence is not None
                    else {"id": None, "name": dto.name}
                )
                sequence_id = sequence.id if sequence is not None else None
                outcomes[event.index] = EventOutcome(event.delivery_id, sequence_id=sequence_id)
            else:
                dead.append(letters.not_created(event.delivery_id, event.payload, dto, result))
                outcomes[event.index] = EventOutcome(event.delivery_id, reason=result.reason)

        self._send(dead)
        if sequences:
            metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=len(sequences))
        refs = [DeadLetterRef(letter.delivery_id, letter.reason) for letter in dead]
        ordered = [outcomes[index] for index in sorted(outcomes)]
        if not mapped:
            return _unmapped(source, refs, mapping_errors, ordered)
        report = DeliveryReport(
            status="created" if not dead else "partial" if sequences else "dead-lettered",
            sequences=sequences,
            dead_lettered=refs,
            body_format=source.body_format,
            events=ordered,
        )
        logger.info(
            "Delivery processed",
            extra={
                "status": report.status,
                "sequencesCreated": len(sequences),
                "deadLettered": len(dead),
            },
        )
        return report

    def _create(self, dto: CreateSequenceDto, deadline: Deadline) -> Created | NotCreated:
        if deadline.expired:
            return NotCreated(
                reason=Reason.BUDGET_EXHAUSTED,
                retryable=True,
                attempts=0,
                error=ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left in the budget."),
            )
        started = time.perf_counter()
        result = self._skipcall.create(dto, deadline)
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name="SkipcallLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        if isinstance(result, NotCreated):
            logger.warning(
                "Skipcall did not create the sequence",
                extra={"reason": result.reason, "attempts": result.attempts, "error": result.error},
            )
        return result

    def _send(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        self._dead_letters.send(letters)
        metrics.add_metric(name="DeliveriesDeadLettered", unit=MetricUnit.Count, value=len(letters))


class _LetterFactory:
    def __init__(self, source: str, received_at: datetime) -> None:
        self._source = source
        self._received_at = received_at

    def unmapped(self, delivery_id: str, payload: Any, errors: list[FieldError]) -> DeadLetter:
        return DeadLetter(
            source=self._source,
            delivery_id=delivery_id,
            received_at=self._received_at,
            reason=Reason.MAPPING_FAILED,
            retryable=False,
            attempts=0,
            error=ErrorInfo(
                status=422,
                code="MAPPING_FAILED",
                message="; ".join(f"{e.field}: {e.message}" for e in errors),
            ),
            sequence=None,
            payload=payload,
        )

    def not_created(
        self, delivery_id: str, payload: Any, dto: CreateSequenceDto, result: NotCreated
    ) -> DeadLetter:
        return DeadLetter(
            source=self._source,
            delivery_id=delivery_id,
            received_at=self._received_at,
            reason=result.reason,
            retryable=result.retryable,
            attempts=result.attempts,
            error=result.error,
            sequence=dto.to_json(),
            payload=payload,
        )


def _unmapped(
    source: Source,
    refs: list[DeadLetterRef],
    errors: list[tuple[int, list[FieldError]]],
    outcomes: list[EventOutcome],
) -> DeliveryReport:
    logger.info("Delivery did not map", extra={"deadLettered": len(refs)})
    return DeliveryReport(
        status="unmapped",
        sequences=[],
        dead_lettered=refs,
        mapping_errors=[{"event": index, **e.as_dict()} for index, errs in errors for e in errs],
        body_format=source.body_format,
        events=outcomes,
    )
