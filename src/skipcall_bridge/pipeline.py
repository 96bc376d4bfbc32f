"""verify -> parse -> select events -> map -> deliver -> dead-letter. No AWS or HTTP details."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

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
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices
from skipcall_bridge.inbound import InboundDelivery
from skipcall_bridge.mapping import EventMappingError, FieldError
from skipcall_bridge.observability import logger, metrics
from skipcall_bridge.outcomes import DeliveryReport, EventOutcome, OutcomeStatus
from skipcall_bridge.ports import (
    DeadLetterSink,
    IdempotencyGuard,
    NoIdempotency,
    SequenceCreator,
    SigningSecrets,
)
from skipcall_bridge.skipcall.models import Created, CreateSequenceDto, NotCreated
from skipcall_bridge.sources import Source, SourceCatalog
from skipcall_bridge.verify import SignedRequest

# Kept back from the Lambda's remaining time so a failed delivery can still reach the DLQ.
DEAD_LETTER_RESERVE_SECONDS = 1.5


class Pipeline:
    def __init__(
        self,
        catalog: SourceCatalog,
        secrets: SigningSecrets,
        skipcall: SequenceCreator,
        dead_letters: DeadLetterSink,
        *,
        max_body_bytes: int,
        guard: IdempotencyGuard | None = None,
        identity: IdentityServices | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._secrets = secrets
        self._skipcall = skipcall
        self._dead_letters = dead_letters
        self._max_body_bytes = max_body_bytes
        self._guard = guard or NoIdempotency()
        self._identity = identity
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
        self._guard.register(delivery.lambda_context)

        letters = _LetterFactory(source.name, delivery.received_at)
        try:
            payload = source.parse_body(request.body)
        except InvalidBody as exc:
            raw = request.body.decode("utf-8", errors="replace")
            delivery_id = source.delivery_ids(request, [raw])[0]
            letter = letters.unmapped(delivery_id, raw, [FieldError("body", exc.message)])
            self._once(
                source, delivery_id, raw, lambda: self._dead_letter(letter, status="invalid-body")
            )
            raise
        try:
            selected = source.events.select(payload)
        except EventMappingError as exc:
            delivery_id = source.delivery_ids(request, [payload])[0]
            errors = exc.errors
            letter = letters.unmapped(delivery_id, payload, errors)
            outcome = self._once(
                source, delivery_id, payload, lambda: self._dead_letter(letter, errors)
            )
            return self._report(source, [outcome])

        deadline = Deadline(
            min(source.budget_seconds, time_left_seconds - DEAD_LETTER_RESERVE_SECONDS)
        )
        outcomes = []
        for delivery_id, event in zip(
            source.delivery_ids(request, selected), selected, strict=True
        ):
            logger.append_keys(source=source.name, delivery_id=delivery_id)
            work = partial(self._handle_event, source, delivery_id, event, deadline, letters)
            outcomes.append(self._once(source, delivery_id, event, work))
        return self._report(source, outcomes)

    def _once(
        self, source: Source, delivery_id: str, payload: Any, work: Callable[[], EventOutcome]
    ) -> EventOutcome:
        """Runs `work` for this event unless it ran before; then its first outcome comes back."""
        if not self._guard.stores:
            return work()
        key = {
            "source": source.name,
            "deliveryId": delivery_id,
            "phase": "receive",
            "payload": payload,
        }
        done: list[EventOutcome] = []

        def run() -> dict[str, Any]:
            done.append(work())
            return done[0].model_dump(mode="json")  # what the store keeps

        try:
            stored, replayed = self._guard.run(key, run)
        except Unavailable:
            if not done:
                raise
            # The work finished (a sequence created, or a letter stored) but its record could
            # not be saved. Answering 503 would make the sender retry and create it twice.
            logger.error(
                "Outcome not recorded for deduplication", extra={"deliveryId": delivery_id}
            )
            return done[0]
        if not replayed:
            return done[0]
        metrics.add_metric(name="DuplicatesSuppressed", unit=MetricUnit.Count, value=1)
        logger.info("Duplicate delivery: answering as the first time")
        return EventOutcome.model_validate(stored)

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

    def _handle_event(
        self,
        source: Source,
        delivery_id: str,
        payload: Any,
        deadline: Deadline,
        letters: _LetterFactory,
    ) -> EventOutcome:
        resolution = source.resolution(self._identity, deadline)
        try:
            dto = source.mapper.map(payload, resolution)
        except EventMappingError as exc:
            return self._dead_letter(letters.unmapped(delivery_id, payload, exc.errors), exc.errors)
        except DirectoryUnavailable as exc:  # the replay maps it again, once Skipcall answers
            return self._dead_letter(letters.not_created(delivery_id, payload, None, exc.failure))
        result = self._create(dto, deadline)
        if isinstance(result, NotCreated):
            return self._dead_letter(letters.not_created(delivery_id, payload, dto, result))
        metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=1)
        sequence = (
            result.sequence.model_dump(mode="json")
            if result.sequence is not None
            else {"id": None, "name": dto.name}  # created, but Skipcall's answer was unreadable
        )
        skipped = resolution.skipped if resolution is not None else []
        return EventOutcome(
            delivery_id=delivery_id, status="created", sequence=sequence, skipped_contacts=skipped
        )

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

    def _dead_letter(
        self,
        letter: DeadLetter,
        errors: Sequence[FieldError] = (),
        status: OutcomeStatus | None = None,
    ) -> EventOutcome:
        """Stores the letter (or raises Unavailable): only then is the outcome recorded."""
        self._dead_letters.send([letter])
        metrics.add_metric(name="DeliveriesDeadLettered", unit=MetricUnit.Count, value=1)
        unmapped = letter.reason is Reason.MAPPING_FAILED
        return EventOutcome(
            delivery_id=letter.delivery_id,
            status=status or ("unmapped" if unmapped else "dead-lettered"),
            reason=letter.reason,
            errors=[error.as_dict() for error in errors],
        )

    def _report(self, source: Source, outcomes: list[EventOutcome]) -> DeliveryReport:
        report = DeliveryReport(events=outcomes, body_format=source.body_format)
        dead = len(report.dead_lettered)
        logger.info(
            "Delivery processed",
            extra={
                "status": report.status,
                "sequencesCreated": len(outcomes) - dead,
                "deadLettered": dead,
            },
        )
        return report


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
        self, delivery_id: str, payload: Any, dto: CreateSequenceDto | None, result: NotCreated
    ) -> DeadLetter:
        return DeadLetter(
            source=self._source,
            delivery_id=delivery_id,
            received_at=self._received_at,
            reason=result.reason,
            retryable=result.retryable,
            attempts=result.attempts,
            error=result.error,
            sequence=dto.to_json() if dto is not None else None,
            payload=payload,
        )
