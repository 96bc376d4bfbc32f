"""One letter's events, acted on once more: what the scheduled replay and the work queue's
worker both run for each letter (claim each event, act on Skipcall, record what came of it).

A letter keeps what to do (the DTO, or the action, target and contacts) unless it must be mapped
again (a mapping failure, identities that could not be resolved, a body kept whole). The records
are `EventRecords` under the run's phase: `replay` releases a failure (a person may replay it on
purpose), `work` keeps one that ends a message, so SQS delivering it again stores its letter and
never acts again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter
from skipcall_bridge.errors import InvalidBody
from skipcall_bridge.event_records import EventRecords
from skipcall_bridge.failures import ErrorInfo, Reason
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices
from skipcall_bridge.mapping import CreateIntent, EventMappingError, Intent, MembershipIntent
from skipcall_bridge.membership import Change, Held, changes
from skipcall_bridge.naming import CreatedNotLinked, SequenceNamer
from skipcall_bridge.observability import logger
from skipcall_bridge.ports import PacedActions
from skipcall_bridge.skipcall.models import CallFailed, Created, CreateSequenceDto, Done
from skipcall_bridge.sources import Source, SourceCatalog

T = TypeVar("T", Created | CallFailed, Done | CallFailed)
# Skipcall's windows are a minute: never wait longer than one for the next request.
MAX_PACING_WAIT_SECONDS = 61.0
Phase = Literal["replay", "work"]


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


class LetterCore:
    def __init__(
        self,
        catalog: SourceCatalog,
        skipcall: PacedActions,
        records: EventRecords,
        *,
        identity: IdentityServices | None,
        namer: SequenceNamer,
        budget_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        defer_waits: bool = False,
        phase: Phase = "replay",
    ) -> None:
        self._catalog = catalog
        self._skipcall = skipcall
        self._records = records
        self._identity = identity
        self._namer = namer
        self._budget = budget_seconds
        self._sleep = sleep
        self._wall_clock = wall_clock
        # The worker does not sleep through a rate-limit window: the letter fails RATE_LIMITED
        # and its message waits in the queue until the window reopens.
        self._defer_waits = defer_waits
        self._phase = phase

    @property
    def phase(self) -> Phase:
        return self._phase

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
            body = letter.payload if raw is None else source.parse_body(raw, letter.body_format)
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
        # the source's names (a source since removed keeps its own scope)
        scope = source.name_scope if source is not None else letter.source
        if target.id is not None:
            if target.name is not None and letter.created:
                failed = self._namer.remember(target.name, target.id, scope)
                if failed is not None:
                    raise _Failed(failed)
            return target.id
        assert target.name is not None
        name = target.name

        def create() -> Created | CallFailed:
            dto = self._creation(letter, source, item, name)
            return self._paced(lambda deadline: self._skipcall.create(dto, deadline))

        result = self._namer.resolve(
            name, create if intent.action == "enrol" else None, Deadline(self._budget), scope
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
