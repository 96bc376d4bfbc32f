"""verify -> read the events (the source parses, selects and names them, in one step) -> per
event: claim, map, act or dead-letter, record. No AWS or HTTP details.

The parts, each in a module of this package: `DeliveryRun` (run.py) walks one delivery's events
through them; `EventCore` (claims.py) takes an event from claimed to recorded (or released);
`EventWork` (acts.py) acts through the acting core (`acting/core.py`: enrolments and removals
held, then sent grouped by sequence) and turns a failure into the event's letter;
`EventLetters` (letters.py) builds and stores that letter, in the dead-letter queue or, for
what the worker can still finish, the work queue (`LetterPost`); `run_events` (schedule.py)
starts the claimed events, up to the source's `concurrency` at once, while the budget carries
them.

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

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.acting.core import ActingCore
from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.acting.records import EventRecords
from skipcall_bridge.common.budget import CallWindow, Deadline
from skipcall_bridge.common.errors import (
    ConfigurationError,
    InvalidSignature,
    PayloadTooLarge,
    Unavailable,
    UnknownSource,
)
from skipcall_bridge.common.observability import logger, metrics, per_source
from skipcall_bridge.common.outcomes import DeliveryReport
from skipcall_bridge.common.ports import (
    DeadLetterSink,
    HookSecretKeeper,
    IdempotencyGuard,
    MemoryTokenLedger,
    NoIdempotency,
    PacedActions,
    SigningSecrets,
    TokenLedger,
)
from skipcall_bridge.receive.accept_whole import ACCEPT_WHOLE_ABOVE
from skipcall_bridge.receive.handshakes import (
    HandshakeAnswer,
    answer_get,
    echo_challenge,
    hook_secret,
)
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.letter_post import LetterPost
from skipcall_bridge.receive.letters import DeliveryEvent
from skipcall_bridge.receive.run import TAIL_SECONDS, DeliveryRun, RunPorts, repeat_runs
from skipcall_bridge.skipcall.pacing import Pacing
from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.sources.identity import IdentityServices
from skipcall_bridge.sources.templates import FieldError
from skipcall_bridge.verify import SignedRequest

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
        hook_secrets: HookSecretKeeper | None = None,
    ) -> None:
        self._catalog = catalog
        self._hook_secrets = hook_secrets
        self._window = window or CallWindow()
        self._tokens = tokens or MemoryTokenLedger(wall_clock)
        self._secrets = secrets
        records = EventRecords(guard or NoIdempotency())
        namer = namer or SequenceNamer(MemoryLinks())
        self._ports = RunPorts(
            ActingCore(skipcall, namer, identity),
            LetterPost(
                dead_letters,
                work_queue,
                pacing or Pacing(lambda: skipcall.rate_limit, wall_clock=wall_clock),
            ),
            records,
            functools.cache(
                functools.partial(
                    repeat_runs,
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
        """The answer to a POST handshake (an echo challenge, a REST hook's secret), when that
        is what the request is."""
        source = self._catalog.get(source_name)
        if source is None or source.config.handshake is None:
            return None
        answer = hook_secret(source, request, self._hook_secrets, self._wall_clock())
        return answer if answer is not None else echo_challenge(source, request.body)

    def verify_subscription(
        self, source_name: str, request: SignedRequest, query: dict[str, str]
    ) -> HandshakeAnswer:
        """A GET handshake's answer (raises RouteNotFound, InvalidSignature). A refused probe
        counts in SignatureRejected, as a refused delivery does: someone guessing the token
        shows on the same alarm."""
        source = self._catalog.get(source_name)
        try:
            return answer_get(source, request, query, self._secrets, self._wall_clock())
        except InvalidSignature as refused:
            assert source is not None  # an unknown source is RouteNotFound
            per_source(source.name)
            _rejected(source, "Handshake probe rejected", refused)
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
        run = DeliveryRun(self._ports, source, request, delivery.received_at)
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
            raise InvalidSignature("reused")

    def _verify(self, source: Source, request: SignedRequest) -> None:
        try:
            secret_id = source.secret_id  # None: a public-key source's keys are all in the file
            secrets = self._secrets.signing_secrets(secret_id) if secret_id else ()
            source.verifier.verify(request, secrets, self._wall_clock())
            self._use_once(source, request)
        except InvalidSignature as refused:
            _rejected(source, "Signature rejected", refused)
            raise
        except ConfigurationError as exc:
            logger.error(
                "Signing secret unusable", extra={"source": source.name, "error": str(exc)}
            )
            raise Unavailable("The receiver cannot verify this source right now.") from None


def _rejected(source: Source, message: str, refused: InvalidSignature) -> None:
    """A request refused for its credential: one count on the SignatureRejected alarm, and why
    in the log (`refusal`: missing, stale, mismatch…; the answer never says, #30 item 5)."""
    metrics.add_metric(name="SignatureRejected", unit=MetricUnit.Count, value=1)
    logger.warning(message, extra={
        "source": source.name, "refusal": refused.why, "why": refused.explanation,
    })  # fmt: skip
