"""DLQ redrive: the scheduled ReplayFunction and `skipcall-bridge replay`.

Each letter is sent to Skipcall again (a MAPPING_FAILED letter is first re-mapped from its stored
payload with the current sources file), paced by Skipcall's X-RateLimit-* headers, through the
same deduplication as deliveries (phase `replay`), so a sender's retry and a replay never create a
sequence twice. A success deletes the message. A failure goes back with attempts + 1, and at
`max_attempts` it stays in the queue with retryable=false.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter, ErrorInfo, Reason
from skipcall_bridge.errors import BridgeError
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices
from skipcall_bridge.mapping import EventMappingError
from skipcall_bridge.observability import logger, metrics
from skipcall_bridge.ports import IdempotencyGuard, SequenceCreator
from skipcall_bridge.runtime import Runtime, current_runtime
from skipcall_bridge.skipcall.models import Created, CreateSequenceDto, NotCreated
from skipcall_bridge.skipcall.retry import RateLimit
from skipcall_bridge.sources import SourceCatalog

ReplayOutcome = Literal[
    "replayed",  # created now
    "already-created",  # a replay had created it before (its message came back)
    "failed",  # not created; back in the queue with attempts + 1
    "gave-up",  # not created at its last attempt; kept with retryable=false
    "not-retryable",  # left in place: needs a fix first
    "skipped",  # not selected by the filters
    "busy",  # another run holds it, or deduplication is down: left for later
    "would-replay",  # --dry-run
]
# Skipcall's windows are a minute: never wait longer than one for the next request.
MAX_PACING_WAIT_SECONDS = 61.0
OUTCOMES: tuple[ReplayOutcome, ...] = (
    "replayed", "already-created", "failed", "gave-up", "not-retryable", "busy", "would-replay",
)  # fmt: skip


class ReplayQueue(Protocol):
    def receive(self, max_messages: int = 10) -> list[Any]: ...
    def delete(self, receipt: str) -> None: ...
    def release(self, receipt: str) -> None: ...
    def send(self, letters: list[DeadLetter]) -> None: ...


class PacedCreator(SequenceCreator, Protocol):
    rate_limit: RateLimit | None


@dataclass(frozen=True)
class ReplayFilter:
    source: str | None = None
    reason: Reason | None = None
    max_messages: int | None = None
    dry_run: bool = False

    def selects(self, letter: DeadLetter) -> bool:
        return (self.source is None or letter.source == self.source) and (
            self.reason is None or letter.reason == self.reason
        )


@dataclass
class ReplaySummary:
    counts: Counter[tuple[str, ReplayOutcome]] = field(default_factory=Counter)

    def add(self, reason: str, outcome: ReplayOutcome) -> None:
        self.counts[(reason, outcome)] += 1

    def total(self, outcome: ReplayOutcome) -> int:
        return sum(n for (_, kind), n in self.counts.items() if kind == outcome)

    def as_dict(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for (reason, outcome), count in sorted(self.counts.items()):
            table.setdefault(reason, {})[outcome] = count
        return table

    def table(self) -> str:
        """Outcomes by reason, as the CLI prints them."""
        shown = [o for o in OUTCOMES if self.total(o)] or ["replayed"]
        reasons = sorted({reason for reason, _ in self.counts})
        width = max([len("reason"), *map(len, reasons)])
        lines = [f"{'reason':<{width}}  " + "  ".join(f"{o:>15}" for o in shown)]
        for reason in reasons:
            cells = "  ".join(f"{self.counts[(reason, o)]:>15}" for o in shown)
            lines.append(f"{reason:<{width}}  {cells}")
        lines.append(f"{'total':<{width}}  " + "  ".join(f"{self.total(o):>15}" for o in shown))
        return "\n".join(lines)


class UnitTimeLimit:
    """Stands in for a Lambda context outside Lambda (the CLI): an interrupted replay holds
    its record only for one unit's budget plus a margin, not for the record's whole life."""

    def __init__(self, budget_seconds: float, margin_seconds: float = 5.0) -> None:
        self._millis = int((budget_seconds + margin_seconds) * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._millis


class _ReplayFailed(Exception):
    """Raised inside the idempotent unit so that a failure is not stored as the answer."""

    def __init__(self, result: NotCreated) -> None:
        super().__init__(result.reason)
        self.result = result


class Replayer:
    def __init__(
        self,
        catalog: SourceCatalog,
        queue: ReplayQueue,
        skipcall: PacedCreator,
        guard: IdempotencyGuard,
        *,
        identity: IdentityServices | None = None,
        max_attempts: int = 5,
        budget_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._queue = queue
        self._skipcall = skipcall
        self._guard = guard
        self._identity = identity
        self._max_attempts = max_attempts
        self._budget = budget_seconds
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._context_registered = False

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> Replayer:
        """The container's replayer: the same sources, clients, table and settings."""
        return cls(
            runtime.catalog,
            runtime.dead_letters,
            runtime.skipcall,
            runtime.guard,
            identity=runtime.identity,
            max_attempts=runtime.settings.replay_max_attempts,
        )

    def register(self, lambda_context: Any) -> None:
        self._guard.register(lambda_context)
        self._context_registered = True

    def run(
        self,
        filters: ReplayFilter,
        *,
        keep_going: Callable[[], bool] = lambda: True,
        progress: Callable[[int], None] = lambda done: None,
    ) -> ReplaySummary:
        if not self._context_registered:
            self._guard.register(UnitTimeLimit(self._budget))
        summary = ReplaySummary()
        held: list[str] = []  # receipts left in flight until the end, then released
        attempted: set[tuple[str, str]] = set()
        done = 0
        while keep_going() and (filters.max_messages is None or done < filters.max_messages):
            batch = self._queue.receive(10)
            fresh = [item for item in batch if _key(item.letter) not in attempted]
            held.extend(item.receipt for item in batch if item not in fresh)
            if not fresh:
                break  # empty, or only what this run already handled
            for item in fresh:
                if filters.max_messages is not None and done >= filters.max_messages:
                    held.append(item.receipt)
                    continue
                letter: DeadLetter | None = item.letter
                if letter is None or not filters.selects(letter):
                    held.append(item.receipt)
                    if letter is not None:
                        summary.add(letter.reason.value, "skipped")
                    continue
                attempted.add(_key(letter))
                outcome = self._replay(item.receipt, letter, filters.dry_run)
                if outcome in ("not-retryable", "busy", "would-replay"):
                    held.append(item.receipt)
                summary.add(letter.reason.value, outcome)
                done += 1
                progress(done)
        for receipt in held:
            self._queue.release(receipt)
        logger.info("Replay finished", extra={"outcomes": summary.as_dict()})
        return summary

    def _replay(self, receipt: str, letter: DeadLetter, dry_run: bool) -> ReplayOutcome:
        remapped = letter.reason is Reason.MAPPING_FAILED
        # A rejected request needs a fix first; an unreadable body has nothing to re-map.
        if (not letter.retryable and not remapped) or (
            remapped and isinstance(letter.payload, str)
        ):
            return "not-retryable"
        if dry_run:
            return "would-replay"
        dto = self._prepare(letter)
        if isinstance(dto, NotCreated):
            return self._requeue(receipt, letter, dto)
        key = {
            "source": letter.source,
            "deliveryId": letter.delivery_id,
            "phase": "replay",
            "payload": letter.payload,
        }
        try:
            _, repeated = self._guard.run(key, lambda: self._create(dto))
        except _ReplayFailed as failed:
            return self._requeue(receipt, letter, failed.result)
        except BridgeError as exc:  # in progress elsewhere, or the table is unreachable
            logger.warning(
                "Replay deferred", extra={"deliveryId": letter.delivery_id, "error": exc.message}
            )
            return "busy"
        self._queue.delete(receipt)
        return "already-created" if repeated else "replayed"

    def _prepare(self, letter: DeadLetter) -> CreateSequenceDto | NotCreated:
        try:
            return self._sequence(letter)
        except EventMappingError as exc:
            error = ErrorInfo(status=422, code="MAPPING_FAILED", message=str(exc))
            return NotCreated(Reason.MAPPING_FAILED, retryable=False, attempts=0, error=error)
        except DirectoryUnavailable as exc:
            return exc.failure

    def _sequence(self, letter: DeadLetter) -> CreateSequenceDto:
        # Unmapped letters, and those that failed while resolving identities, map again now.
        if letter.reason is not Reason.MAPPING_FAILED and letter.sequence is not None:
            return CreateSequenceDto.model_validate(letter.sequence)
        source = self._catalog.get(letter.source)
        if source is None:
            raise EventMappingError([])
        resolution = source.resolution(self._identity, Deadline(self._budget))
        return source.mapper.map(letter.payload, resolution)  # with the current mapping

    def _create(self, dto: CreateSequenceDto) -> dict[str, Any]:
        limit = self._skipcall.rate_limit
        if limit is not None:
            wait = limit.wait_before_next(self._wall_clock())
            if wait > 0:
                self._sleep(min(wait, MAX_PACING_WAIT_SECONDS))
        result = self._skipcall.create(dto, Deadline(self._budget))
        if isinstance(result, Created):
            return {"sequenceId": result.sequence.id if result.sequence else None}
        raise _ReplayFailed(result)

    def _requeue(self, receipt: str, letter: DeadLetter, failure: NotCreated) -> ReplayOutcome:
        attempts = letter.attempts + 1
        exhausted = attempts >= self._max_attempts
        again = letter.model_copy(
            update={
                "attempts": attempts,
                "reason": failure.reason,
                "error": failure.error,
                "retryable": failure.retryable and not exhausted,
            }
        )
        self._queue.send([again])  # first the new copy, then the old one goes
        self._queue.delete(receipt)
        return "gave-up" if exhausted else "failed"


def _key(letter: DeadLetter | None) -> tuple[str, str]:
    return ("", "") if letter is None else (letter.source, letter.delivery_id)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """ReplayFunction: drain what fits in this invocation, leaving 20 s to finish cleanly."""
    replayer = Replayer.from_runtime(current_runtime())
    replayer.register(context)
    summary = replayer.run(
        ReplayFilter(max_messages=event.get("max") if isinstance(event, dict) else None),
        keep_going=lambda: context.get_remaining_time_in_millis() > 20_000,
    )
    metrics.add_metric(
        name="DeliveriesReplayed", unit=MetricUnit.Count, value=summary.total("replayed")
    )
    metrics.add_metric(
        name="ReplayFailures",
        unit=MetricUnit.Count,
        value=summary.total("failed") + summary.total("gave-up"),
    )
    return {"outcomes": summary.as_dict()}
