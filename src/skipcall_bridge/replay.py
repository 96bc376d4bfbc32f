"""DLQ redrive, as the scheduled ReplayFunction (replay_handler.py) and `skipcall-bridge replay`
run it.

Each letter's events are acted on again (the same action: create, enrol or unenrol), paced by
Skipcall's X-RateLimit-* headers,
through the same deduplication as deliveries (phase `replay`), so a sender's retry and a replay
never create a sequence twice. An enrol or unenrol letter keeps its resolved target and contact
ids; a target created by name whose link was not written is linked first, never created again.
A MAPPING_FAILED letter, or one whose identities could not be
resolved, is mapped again from its payload with the current sources file; a letter that kept
the whole body has its events selected again exactly as a delivery would (the filter, the batch
split, the delivery ids). A success deletes the message. A failure goes back with attempts + 1
and the failure's reason; once `max_attempts` replay runs have failed it stays with
retryable=false (`--include-given-up` sends it once more). OUTCOME_UNKNOWN letters (Skipcall may
have created them) are left for a person unless `--include-unknown` or the source's
`onUnknownOutcome: "retry"` says otherwise.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter
from skipcall_bridge.errors import InvalidBody, Unavailable
from skipcall_bridge.event_records import EventRecords
from skipcall_bridge.failures import ErrorInfo, Reason
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices
from skipcall_bridge.mapping import CreateIntent, EventMappingError, Intent, MembershipIntent
from skipcall_bridge.membership import Change, Held, changes
from skipcall_bridge.naming import CreatedNotLinked, SequenceNamer
from skipcall_bridge.observability import logger
from skipcall_bridge.ports import IdempotencyGuard, PacedActions, ReplayQueue
from skipcall_bridge.runtime import Runtime
from skipcall_bridge.skipcall.models import CallFailed, Created, CreateSequenceDto, Done
from skipcall_bridge.sources import Source, SourceCatalog

ReplayOutcome = Literal[
    "replayed",  # done now (created, enrolled, unenrolled)
    "already-created",  # a replay had created it before (its message came back)
    "ignored",  # a kept body whose selection now finds nothing to do
    "failed",  # not created; back in the queue with attempts + 1
    "gave-up",  # not created at its last attempt; kept with retryable=false
    "not-retryable",  # left in place: needs a fix or a person's check first
    "skipped",  # not selected by the filters
    "busy",  # another run holds it, or deduplication is down: left for later
    "would-replay",  # --dry-run
]
T = TypeVar("T", Created | CallFailed, Done | CallFailed)
# Skipcall's windows are a minute: never wait longer than one for the next request.
MAX_PACING_WAIT_SECONDS = 61.0
OUTCOMES: tuple[ReplayOutcome, ...] = (
    "replayed", "already-created", "ignored", "failed", "gave-up", "not-retryable", "busy",
    "would-replay",
)  # fmt: skip


@dataclass(frozen=True)
class ReplayFilter:
    source: str | None = None
    reason: Reason | None = None
    max_messages: int | None = None
    dry_run: bool = False
    include_unknown: bool = False  # OUTCOME_UNKNOWN letters too (a duplicate is possible)
    include_given_up: bool = False  # letters kept after max_attempts failed runs, once more
    delivery_id: str | None = None  # only this delivery's letter (the inspector's button)

    def selects(self, letter: DeadLetter) -> bool:
        return (
            (self.source is None or letter.source == self.source)
            and (self.reason is None or letter.reason == self.reason)
            and (self.delivery_id is None or letter.delivery_id == self.delivery_id)
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


class UnitTimeLimit:
    """Stands in for a Lambda context outside Lambda (the CLI): an interrupted replay holds
    its record only for one unit's budget plus a margin, not for the record's whole life."""

    def __init__(self, budget_seconds: float, margin_seconds: float = 5.0) -> None:
        self._millis = int((budget_seconds + margin_seconds) * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._millis


@dataclass(frozen=True)
class Finished:
    """What acting on one letter's events came to (`Replayer.finish`)."""

    outcome: Literal[
        "replayed", "already-created", "ignored", "failed", "busy", "already-dead-lettered"
    ]
    failure: CallFailed | None = None  # `failed`: why
    # `failed` for good (kept, not released): the record to settle once the letter is stored
    kept: dict[str, Any] | None = None


class _Failed(Exception):
    """One of the letter's events was not created: the letter goes back with this failure."""

    def __init__(self, result: CallFailed, kept: dict[str, Any] | None = None) -> None:
        super().__init__(result.reason)
        self.result = result
        self.kept = kept  # the record that keeps it, when the failure ended the message


class _AlreadyDeadLettered(Exception):
    """An earlier delivery of this work message ended it and stored its letter."""


class _Busy(Exception):
    """Deduplication cannot vouch for an event now: the letter waits for a later run."""


@dataclass(frozen=True)
class _Item:
    delivery_id: str
    payload: Any
    intent: Intent | None  # what the letter kept, when it is still what to do; else mapped again


class Replayer:
    def __init__(
        self,
        catalog: SourceCatalog,
        queue: ReplayQueue,
        skipcall: PacedActions,
        guard: IdempotencyGuard,
        *,
        identity: IdentityServices | None = None,
        namer: SequenceNamer,
        max_attempts: int = 5,
        budget_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        defer_waits: bool = False,
        phase: Literal["replay", "work"] = "replay",
    ) -> None:
        self._catalog = catalog
        self._queue = queue
        self._skipcall = skipcall
        self._records = EventRecords(guard)
        self._identity = identity
        self._namer = namer
        self._max_attempts = max_attempts
        self._budget = budget_seconds
        self._sleep = sleep
        self._wall_clock = wall_clock
        # The worker does not sleep through a rate-limit window: the letter fails RATE_LIMITED
        # and its message stays hidden until the window reopens.
        self._defer_waits = defer_waits
        # The worker's records (phase `work`) keep a failure that ends a message, so a message
        # SQS delivers again is not acted on again; the replay's (phase `replay`) release it, so
        # a person may replay an unknown outcome on purpose.
        self._phase = phase
        self._context_registered = False

    @classmethod
    def from_runtime(cls, runtime: Runtime, queue: ReplayQueue | None = None) -> Replayer:
        """The container's replayer: the same sources, clients, table and settings, on the
        dead-letter queue; or, given the work queue, the worker's (its waits deferred, its
        records under phase `work`)."""
        worker = queue is not None
        return cls(
            runtime.catalog,
            runtime.dead_letters if queue is None else queue,
            runtime.skipcall,
            runtime.guard,
            identity=runtime.identity,
            namer=runtime.namer,
            max_attempts=runtime.settings.replay_max_attempts,
            defer_waits=worker,
            phase="work" if worker else "replay",
        )

    @property
    def phase(self) -> str:
        return self._phase

    def register(self, lambda_context: Any) -> None:
        self._records.register(lambda_context)
        self._context_registered = True

    def run(
        self,
        filters: ReplayFilter,
        *,
        keep_going: Callable[[], bool] = lambda: True,
        progress: Callable[[int], None] = lambda done: None,
    ) -> ReplaySummary:
        if not self._context_registered:
            self._records.register(UnitTimeLimit(self._budget))
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
                outcome, reason = self._replay(item.receipt, letter, filters)
                if outcome in ("not-retryable", "busy", "would-replay"):
                    held.append(item.receipt)
                summary.add(reason.value, outcome)
                done += 1
                progress(done)
        for receipt in held:
            self._queue.release(receipt)
        logger.info("Replay finished", extra={"outcomes": summary.as_dict()})
        return summary

    def given_up(self, letter: DeadLetter) -> bool:
        """`attempts` counts the receiver's try and each failed replay run."""
        return letter.attempts - 1 >= self._max_attempts

    def _eligible(self, letter: DeadLetter, source: Source | None, filters: ReplayFilter) -> bool:
        if self.given_up(letter):
            return filters.include_given_up
        if letter.reason is Reason.OUTCOME_UNKNOWN:
            opted_in = source is not None and source.config.on_unknown_outcome == "retry"
            return filters.include_unknown or opted_in
        # A mapping is re-run with the current sources file; a rejected request needs a fix.
        return letter.retryable or letter.reason is Reason.MAPPING_FAILED

    def _replay(
        self, receipt: str, letter: DeadLetter, filters: ReplayFilter
    ) -> tuple[ReplayOutcome, Reason]:
        source = self._catalog.get(letter.source)
        if not self._eligible(letter, source, filters):
            return "not-retryable", letter.reason
        if filters.dry_run:
            return "would-replay", letter.reason
        finished = self.finish(letter)
        if finished.failure is not None:
            return self._requeue(receipt, letter, finished.failure), finished.failure.reason
        outcome = finished.outcome
        if outcome == "busy":
            return "busy", letter.reason
        assert outcome != "already-dead-lettered"  # the worker's records only (phase `work`)
        self._queue.delete(receipt)
        return outcome, letter.reason

    def finish(self, letter: DeadLetter, *, last_attempt: bool = False) -> Finished:
        """Acts on each event of the letter once (claim, act, record), as the scheduled replay
        and the work queue's worker both do. `last_attempt`: a failure ends the message even
        when it is retryable (the worker's last receive)."""
        source = self._catalog.get(letter.source)
        try:
            items = self._items(letter, source)
            created = [self._act_once(letter, source, item, last_attempt) for item in items]
        except _Failed as failed:
            return Finished("failed", failed.result, failed.kept)
        except _Busy:
            return Finished("busy")
        except _AlreadyDeadLettered:
            return Finished("already-dead-lettered")
        if not items:
            return Finished("ignored")
        return Finished("replayed" if any(created) else "already-created")

    def settle(self, kept: dict[str, Any]) -> None:
        """The kept failure's letter is stored: a later delivery of the message just leaves."""
        # Not recorded (logged): a later delivery stores the letter again, at worst twice.
        self._records.record(kept, {"deadLettered": True})

    def _items(self, letter: DeadLetter, source: Source | None) -> list[_Item]:
        """The events this letter stands for, as a delivery would have selected them."""
        kept = None if letter.reason is Reason.MAPPING_FAILED else _kept_intent(letter)
        if letter.payload_scope == "event":
            return [_Item(letter.delivery_id, letter.payload, kept)]
        if source is None:
            raise _Failed(_not_mapped(f"no source named {letter.source!r} is configured"))
        raw = letter.stored_body()
        try:
            body = letter.payload if raw is None else source.parse_body(raw)
            events = source.events.select(body)
        except (InvalidBody, EventMappingError) as exc:
            raise _Failed(_not_mapped(str(exc))) from None
        if letter.event_index is not None:
            if letter.event_index >= len(events):
                raise _Failed(_not_mapped("the body no longer has this event"))
            event = events[letter.event_index]
            return [_Item(letter.delivery_id, event, kept)]
        ids = source.delivery_ids(events, lambda: letter.delivery_id)
        pairs = zip(ids, events, strict=True)
        return [_Item(delivery_id, event, None) for delivery_id, event in pairs]

    def _act_once(
        self, letter: DeadLetter, source: Source | None, item: _Item, last_attempt: bool
    ) -> bool:
        """True: done now; False: a replay had done it before. Raises _Failed, _Busy,
        _AlreadyDeadLettered."""
        fingerprint = source.fingerprint(item.payload) if source else item.payload
        key = {
            "source": letter.source,
            "deliveryId": item.delivery_id,
            "phase": self._phase,
            "payload": fingerprint,
        }
        claim = self._records.claim(key)
        if claim.refused == "conflict":
            raise _Failed(_conflict())
        if claim.refused is not None:  # in progress elsewhere, or the table is unreachable
            logger.warning(
                "Replay deferred", extra={"deliveryId": item.delivery_id, "why": claim.refused}
            )
            raise _Busy
        if claim.stored is not None:
            return _earlier(claim.stored, key)
        try:
            done = self._act(letter, source, item)
        except _Failed as failed:
            if self._phase == "work" and (not failed.result.retryable or last_attempt):
                raise self._keep(key, failed) from None
            self._records.release(key)  # nothing is recorded: a later run may do it
            raise
        except Exception:  # a bug: nothing is recorded, a later run may do it
            self._records.release(key)
            raise
        # Not recorded (logged): done all the same, the letter must go, or it would be again.
        self._records.record(key, done)
        return True

    def _keep(self, key: dict[str, Any], failed: _Failed) -> _Failed:
        """The failure ends the message: recorded with the letter still to store, so that
        SQS delivering the message again stores the letter and never acts again."""
        result = failed.result
        kept = {
            "pendingLetter": {
                "reason": result.reason.value,
                "retryable": result.retryable,
                "attempts": result.attempts,
                "error": result.error.model_dump(mode="json"),
            }
        }
        if not self._records.record(key, kept):  # the claim lapses with the invocation's time
            return failed
        return _Failed(result, key)

    def _act(self, letter: DeadLetter, source: Source | None, item: _Item) -> dict[str, Any]:
        """The event's action, once more; what the replay record keeps. Raises _Failed."""
        intent = item.intent if item.intent is not None else self._map(letter, source, item)
        if intent is None:
            return {"action": None}
        if isinstance(intent, CreateIntent):
            result = self._paced(lambda deadline: self._skipcall.create(intent.dto, deadline))
            if isinstance(result, CallFailed):
                raise _Failed(result)
            return {"sequenceId": result.sequence.id if result.sequence else None}
        sequence_id = self._target_id(letter, source, item, intent)
        if sequence_id is None:
            return {"action": intent.action, "sequenceId": None}
        target = intent.target.model_copy(update={"id": sequence_id})
        for change in changes([Held(item.delivery_id, 0, intent, target, [])]):
            done = self._paced(functools.partial(self._change, change))
            if isinstance(done, CallFailed):
                raise _Failed(done)
        return {"action": intent.action, "sequenceId": sequence_id}

    def _change(self, change: Change, deadline: Deadline) -> Done | CallFailed:
        if change.action == "enrol":
            return self._skipcall.add_contacts(change.sequence_id, change.add_body(), deadline)
        return self._skipcall.remove_contacts(change.sequence_id, change.remove_body(), deadline)

    def _target_id(
        self, letter: DeadLetter, source: Source | None, item: _Item, intent: MembershipIntent
    ) -> str | None:
        """The target's id: kept in the letter (linked first, when the receiver created it
        but could not link it), or found, or created once, by its name (None: an unenrol
        from a name never created)."""
        target = intent.target
        if target.id is not None:
            if target.name is not None and letter.created:
                failed = self._namer.remember(target.name, target.id)
                if failed is not None:
                    raise _Failed(failed)
            return target.id
        assert target.name is not None
        name = target.name

        def create() -> Created | CallFailed:
            dto = self._creation(letter, source, item, name)
            return self._paced(lambda deadline: self._skipcall.create(dto, deadline))

        result = self._namer.resolve(
            name, create if intent.action == "enrol" else None, Deadline(self._budget)
        )
        if result is None:
            return None  # never created: nobody to take out
        if isinstance(result, CallFailed):
            raise _Failed(result)
        if isinstance(result, CreatedNotLinked):
            raise _Failed(result.failure)  # not linked: the letter goes back, keeping nothing
        return result.sequence_id

    def _creation(
        self, letter: DeadLetter, source: Source | None, item: _Item, name: str
    ) -> CreateSequenceDto:
        if letter.sequence is not None:
            return CreateSequenceDto.model_validate({**letter.sequence, "name": name})
        if source is None:
            raise _Failed(_not_mapped(f"no source named {letter.source!r} is configured"))
        try:
            resolution = source.resolution(self._identity, Deadline(self._budget))
            return source.mapper.creation(item.payload, name, resolution)
        except EventMappingError as exc:
            raise _Failed(_not_mapped(str(exc))) from None
        except DirectoryUnavailable as exc:
            raise _Failed(exc.failure) from None

    def _map(self, letter: DeadLetter, source: Source | None, item: _Item) -> Intent:
        if source is None:
            raise _Failed(_not_mapped(f"no source named {letter.source!r} is configured"))
        try:
            resolution = source.resolution(self._identity, Deadline(self._budget))
            return source.mapper.map(item.payload, resolution)  # with the current mapping
        except EventMappingError as exc:
            raise _Failed(_not_mapped(str(exc))) from None
        except DirectoryUnavailable as exc:
            raise _Failed(exc.failure) from None

    def _paced(self, call: Callable[[Deadline], T]) -> T:
        """One call to Skipcall, after the wait its rate-limit headers ask for."""
        limit = self._skipcall.rate_limit
        if limit is not None:
            now = self._wall_clock()
            wait = limit.wait_before_next(now)
            if self._defer_waits and limit.closed_for(now) > 0:
                # the last answer's window is still closed; once its reset has passed, the
                # next call learns the new window's headers
                raise _Failed(_window_closed(wait))
            if wait > 0:
                self._sleep(min(wait, MAX_PACING_WAIT_SECONDS))
        return call(Deadline(self._budget))

    def _requeue(self, receipt: str, letter: DeadLetter, failure: CallFailed) -> ReplayOutcome:
        again = attempted_again(letter, failure)
        exhausted = self.given_up(again)
        if exhausted:
            again = again.model_copy(update={"retryable": False})
        if self._queue.send([again]):  # first the new copy, then the old one goes
            raise Unavailable("The dead-letter queue did not take the letter back.")
        self._queue.delete(receipt)
        return "gave-up" if exhausted else "failed"


def attempted_again(letter: DeadLetter, failure: CallFailed) -> DeadLetter:
    """The letter after one more failed attempt: that failure's reason, error and verdict."""
    return letter.model_copy(
        update={
            "attempts": letter.attempts + 1,
            "reason": failure.reason,
            "error": failure.error,
            "retryable": failure.retryable,
        }
    )


def _kept_intent(letter: DeadLetter) -> Intent | None:
    """What the letter kept to do, or None when the event must be mapped again."""
    if letter.action in (None, "create"):
        if letter.sequence is None:
            return None
        return CreateIntent(CreateSequenceDto.model_validate(letter.sequence))
    if letter.target is None or not letter.contact_ids:
        return None
    action = cast(Literal["enrol", "unenrol"], letter.action)
    return MembershipIntent(action, letter.target, letter.contact_ids, letter.assignee)


def _earlier(stored: dict[str, Any], key: dict[str, Any]) -> bool:
    """An earlier run's record: done (False), or a failure that ended the message."""
    if stored.get("deadLettered"):
        raise _AlreadyDeadLettered
    kept = stored.get("pendingLetter")
    if kept:  # its letter may not be stored yet: the caller stores it, nothing is acted on
        failure = CallFailed(
            Reason(kept["reason"]),
            retryable=bool(kept["retryable"]),
            attempts=int(kept["attempts"]),
            error=ErrorInfo.model_validate(kept["error"]),
        )
        raise _Failed(failure, key)
    return False


def _not_mapped(message: str) -> CallFailed:
    error = ErrorInfo(status=422, code="MAPPING_FAILED", message=message or "It did not map.")
    return CallFailed(Reason.MAPPING_FAILED, retryable=False, attempts=0, error=error)


def _window_closed(wait_seconds: float) -> CallFailed:
    """Not sent: Skipcall's rate-limit window has no request left until its reset."""
    error = ErrorInfo(
        status=429,
        code="RATE_LIMIT_WINDOW",
        message=f"Skipcall's rate-limit window reopens in {wait_seconds:.1f} s; not sent.",
    )
    return CallFailed(Reason.RATE_LIMITED, retryable=True, attempts=0, error=error)


def _conflict() -> CallFailed:
    error = ErrorInfo(
        code="DELIVERY_CONFLICT",
        message="A replay of this delivery id with another payload exists; check both.",
    )
    return CallFailed(Reason.SKIPCALL_REJECTED, retryable=False, attempts=0, error=error)


def _key(letter: DeadLetter | None) -> tuple[str, str]:
    return ("", "") if letter is None else (letter.source, letter.delivery_id)
