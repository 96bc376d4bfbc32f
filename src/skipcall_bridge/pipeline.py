"""verify -> parse -> select events -> map -> deliver -> dead-letter. No AWS or HTTP details."""

from __future__ import annotations

import hashlib
import json
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
    InvalidJson,
    InvalidSignature,
    MappingFailed,
    PayloadTooLarge,
    Unavailable,
    UnknownSource,
)
from skipcall_bridge.mapping import EventMappingError, FieldError
from skipcall_bridge.observability import logger, metrics
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
class DeliveryReport:
    sequences: list[dict[str, Any]]
    dead_lettered: list[DeadLetterRef]

    @property
    def status(self) -> Literal["created", "partial", "dead-lettered"]:
        if not self.dead_lettered:
            return "created"
        return "partial" if self.sequences else "dead-lettered"


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
        body = delivery.request.body
        if len(body) > self._max_body_bytes:
            raise PayloadTooLarge(
                f"The body is {len(body)} bytes; the limit is {self._max_body_bytes}."
            )
        self._verify(source, delivery.request)

        delivery_id = source.verifier.delivery_id(delivery.request) or _body_id(body)
        letters = _LetterFactory(source.name, delivery.received_at)
        logger.append_keys(source=source.name, delivery_id=delivery_id)
        try:
            payload = _parse_json(body)
        except InvalidJson:
            raw = body.decode("utf-8", errors="replace")
            self._send([letters.unmapped(delivery_id, raw, [FieldError("body", "not JSON")])])
            raise
        try:
            selected = source.events.select(payload)
        except EventMappingError as exc:
            self._send([letters.unmapped(delivery_id, payload, exc.errors)])
            raise _mapping_failed([(0, exc.errors)]) from None
        # One event keeps the delivery id; events of a batch are told apart by their index.
        events = [
            _Event(delivery_id if len(selected) == 1 else f"{delivery_id}:{index}", index, item)
            for index, item in enumerate(selected)
        ]
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
        mapping_errors: list[tuple[int, list[FieldError]]] = []
        for event in events:
            try:
                mapped.append((event, source.mapper.map(event.payload)))
            except EventMappingError as exc:
                mapping_errors.append((event.index, exc.errors))
                dead.append(letters.unmapped(event.delivery_id, event.payload, exc.errors))

        deadline = Deadline(min(source.budget_seconds, time_left - DEAD_LETTER_RESERVE_SECONDS))
        sequences: list[dict[str, Any]] = []
        for event, dto in mapped:
            result = self._create(dto, deadline)
            if isinstance(result, Created):
                sequences.append(
                    result.sequence.model_dump(mode="json")
                    if result.sequence is not None
                    else {"id": None, "name": dto.name}
                )
            else:
                dead.append(letters.not_created(event.delivery_id, event.payload, dto, result))

        self._send(dead)
        if sequences:
            metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=len(sequences))
        if not mapped:
            raise _mapping_failed(mapping_errors)
        report = DeliveryReport(
            sequences=sequences,
            dead_lettered=[DeadLetterRef(letter.delivery_id, letter.reason) for letter in dead],
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


def _parse_json(body: bytes) -> Any:
    try:
        # NaN and Infinity are not JSON: refusing them keeps every envelope valid JSON.
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidJson("The body is not valid JSON.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _body_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _mapping_failed(errors: list[tuple[int, list[FieldError]]]) -> MappingFailed:
    return MappingFailed(
        "No event of the payload maps to a valid CreateSequenceDto.",
        details=[{"event": index, **error.as_dict()} for index, errs in errors for error in errs],
    )
