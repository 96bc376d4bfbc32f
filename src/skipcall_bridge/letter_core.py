"""One letter's events, acted on once more: what the scheduled replay and the work queue's
worker both run for each letter (claim each event, act on Skipcall, record what came of it);
and what a sender's repeat of an event that ended unmapped runs (`again`), under the same key as
that event's letter, so that between the repeat and the replay it is acted on once.

A letter keeps what to do (the DTO, or the action, target and contacts) unless it must be mapped
again (a mapping failure, identities that could not be resolved, a body kept whole). The records
are `EventRecords` under the run's phase: `replay` releases a failure, so a later run may act,
but keeps an unknown outcome (Skipcall may have acted), which only a replay asked to send it
again takes back; `work` keeps every failure that ends a message, so SQS delivering it again
stores its letter and never acts again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from pydantic import ValidationError

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter
from skipcall_bridge.errors import InvalidBody
from skipcall_bridge.event_records import EventRecords
from skipcall_bridge.failures import ErrorInfo, Reason
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices
from skipcall_bridge.letter_keys import DeliveryKey, event_key, keeps_unknown
from skipcall_bridge.mapping import (
    CreateIntent,
    EventMappingError,
    FieldError,
    Intent,
    MembershipIntent,
)
from skipcall_bridge.membership import Change, Held, changes
from skipcall_bridge.naming import CreatedNotLinked, Resolved, SequenceNamer
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
    # `replayed`, `already-created`: each event's record (what was done, now or before)
    done: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)  # `failed` to map: each field's


@dataclass(frozen=True)
class _Pass:
    """What one `finish` (or `again`) acts with: where the letter's events came from, the
    budget each call gets, and which failure is kept in the record instead of released."""

    source: str  # the source's name, as the letter gives it
    created: bool  # the letter's target was created by its event: link it, never create it
    sequence: dict[str, Any] | None  # the DTO a named target is created from, when kept
    deadline: Callable[[], Deadline]
    keeps: Callable[[CallFailed], bool]
    # An unknown outcome kept in the record is sent again: only by a replay that was asked to
    # (`--include-unknown`, `onUnknownOutcome: retry`) for a letter that says so.
    retakes_unknown: bool = False


class _Failed(Exception):
    """One of the letter's events was not created: the letter goes back with this failure."""

    def __init__(
        self,
        result: CallFailed,
        kept: dict[str, Any] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(result.reason)
        self.result = result
        self.kept = kept  # the record that keeps it, when the failure ended the message
        self.errors = errors or []  # the fields that did not map


class _AlreadyDeadLettered(Exception):
    """An earlier delivery of this work message ended it and stored its letter."""


class _Busy(Exception):
    """Deduplication cannot vouch for an event now: the letter waits for a later run."""


@dataclass(frozen=True)
class _Item:
    delivery_id: str
    payload: Any
    intent: Intent | None  # what the letter kept, when it is still what to do; else mapped again
    # Selected again from a body kept whole: a delivery of that body, once the selection is
    # fixed, claims this event under its `receive` key, which the replay must claim too.
    selected: bool = False
    # From a delivery accepted whole: an `unmapped` record under its `receive` key is another
    # delivery's, whose own letter the replay finishes (this one then does nothing).
    unclaimed: bool = False


@dataclass(frozen=True)
class _Hold:
    """The event's own key as this run has it: claimed now, or `retaken` (a kept unknown
    outcome sent again on a person's word, whose record stays until an outcome replaces it)."""

    records: EventRecords
    key: dict[str, Any]
    retaken: bool

    def let_go(self) -> None:
        """Nothing is recorded: a later run may do it (a retaken record stays as it was)."""
        if not self.retaken:
            self.records.release(self.key)


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
        work = self._phase == "work"
        run = _Pass(
            letter.source,
            letter.created,
            letter.sequence,
            deadline=lambda: Deadline(self._budget),
            # Every run keeps an unknown outcome, so that nothing sends it again unasked (a
            # sender's repeat included); the worker also keeps a failure that ends its message.
            keeps=lambda failure: (
                failure.reason is Reason.OUTCOME_UNKNOWN
                or (work and (not failure.retryable or last_attempt))
            ),
            # the replay is handed an OUTCOME_UNKNOWN letter only when asked to send it again
            retakes_unknown=not work and letter.reason is Reason.OUTCOME_UNKNOWN,
        )
        try:
            items = self._items(letter, source)
        except _Failed as failed:
            return Finished("failed", failed.result, failed.kept, errors=failed.errors)
        return self._finish_items(run, source, items)

    def again(self, source: Source, delivery_id: str, payload: Any, deadline: Deadline) -> Finished:
        """A sender's repeat of an event that the receiver left unmapped (its letter waits in
        the DLQ): mapped with the sources as they are now and acted on under that letter's
        replay key, so that the repeat and the replay act on it once between them. A failure
        is released (the letter stays for the replay), except an unknown outcome: that is kept
        in the record, so the replay stores the letter with its reason and never acts
        blindly. Every call gets what is left of `deadline`."""
        run = _Pass(
            source.name,
            False,
            None,
            deadline=lambda: deadline,
            keeps=lambda failure: failure.reason is Reason.OUTCOME_UNKNOWN,
        )
        return self._finish_items(run, source, [_Item(delivery_id, payload, None)])

    def _finish_items(self, run: _Pass, source: Source | None, items: list[_Item]) -> Finished:
        try:
            done = [self._act_once(run, source, item) for item in items]
        except _Failed as failed:
            return Finished("failed", failed.result, failed.kept, errors=failed.errors)
        except _Busy:
            return Finished("busy")
        except _AlreadyDeadLettered:
            return Finished("already-dead-lettered")
        if not items:
            return Finished("ignored")
        now = any(acted for acted, _ in done)
        return Finished("replayed" if now else "already-created", done=[kept for _, kept in done])

    def settle(self, kept: dict[str, Any]) -> None:
        """The kept failure's letter is stored: a later delivery of the message just leaves."""
        # Not recorded (logged): a later delivery stores the letter again, at worst twice.
        self._records.record(kept, {"deadLettered": True})

    def _items(self, letter: DeadLetter, source: Source | None) -> list[_Item]:
        """The events this letter stands for, as a delivery would have selected them."""
        kept = None if letter.reason is Reason.MAPPING_FAILED else _kept_intent(letter)
        if letter.payload_scope == "event":
            # The event is claimed under its delivery's `receive` key too, whoever acts on it:
            # a delivery whose claim was released (its letter's send looked failed but was
            # stored) or a message both worked and redriven is then acted on once. A delivery
            # accepted whole claimed none of its events: its `unmapped` records are its own.
            flag = letter.unclaimed
            return [_Item(letter.delivery_id, letter.payload, kept, selected=True, unclaimed=flag)]
        if source is None:
            raise _Failed(_not_mapped(f"no source named {letter.source!r} is configured"))
        raw = letter.stored_body()
        try:
            body = letter.payload if raw is None else source.parse_body(raw, letter.body_format)
            events = source.events.select(body)
            # every event's id, unless the letter stands for one of them (it has its own)
            whole = letter.event_index is None
            ids = source.delivery_ids(events, lambda: letter.delivery_id) if whole else []
        except (InvalidBody, EventMappingError) as exc:
            raise _Failed(_not_mapped(str(exc))) from None
        if len(events) > source.config.max_events:  # as the receiver refuses it: a letter
            # is no way around the source's limit (security review #28, finding 5)
            raise _Failed(_not_mapped(f"more than {source.config.max_events} events (maxEvents)"))
        if letter.event_index is not None:
            if letter.event_index >= len(events):
                raise _Failed(_not_mapped("the body no longer has this event"))
            event = events[letter.event_index]
            return [_Item(letter.delivery_id, event, kept)]
        pairs = zip(ids, events, strict=True)
        return [_Item(delivery_id, event, None, selected=True) for delivery_id, event in pairs]

    def _act_once(
        self, run: _Pass, source: Source | None, item: _Item
    ) -> tuple[bool, dict[str, Any]]:
        """(True, its record): done now; (False, the record): a run had done it before.
        Raises _Failed, _Busy, _AlreadyDeadLettered."""
        key = event_key(run.source, source, item.delivery_id, item.payload, self._phase)
        claim = self._records.claim(key)
        if claim.refused == "conflict":
            raise _Failed(_conflict())
        if claim.refused is not None:  # in progress elsewhere, or the table is unreachable
            logger.warning(
                "Replay deferred", extra={"deliveryId": item.delivery_id, "why": claim.refused}
            )
            raise _Busy
        if claim.stored is not None and not (run.retakes_unknown and keeps_unknown(claim.stored)):
            return False, _earlier(claim.stored, key)
        # This run holds the key, or was asked to send a kept unknown outcome again: then the
        # record stays kept until this run's outcome replaces it, so no repeat acts meanwhile
        # (and SQS hands the letter's message to one run at a time).
        hold = _Hold(self._records, key, retaken=claim.stored is not None)
        delivery = self._delivery(run, source, item, hold.retaken)
        if delivery.busy or delivery.earlier is not None:
            hold.let_go()  # this letter did nothing: nothing to remember
            if delivery.busy:
                raise _Busy
            assert delivery.earlier is not None
            return False, delivery.earlier  # a delivery of the fixed body did it, or holds it
        return True, self._act_recorded(run, source, item, hold, delivery)

    def _act_recorded(
        self,
        run: _Pass,
        source: Source | None,
        item: _Item,
        hold: _Hold,
        delivery: DeliveryKey,
    ) -> dict[str, Any]:
        """The event's action, then its record (and its delivery key's); a failure releases
        what this run holds, or keeps it (`run.keeps`)."""
        try:
            done = self._act(run, source, item)
        except _Failed as failed:
            if run.keeps(failed.result):
                delivery.kept(item.delivery_id, failed.result)
                raise self._keep(hold.key, failed) from None
            hold.let_go()
            delivery.release()
            raise
        except Exception:  # a bug: nothing is recorded, a later run may do it
            hold.let_go()
            delivery.release()
            raise
        # Not recorded (logged): done all the same, the letter must go, or it would be again.
        self._records.record(hold.key, done)
        delivery.done(item.delivery_id, done)
        return done

    def _delivery(
        self, run: _Pass, source: Source | None, item: _Item, retaken: bool
    ) -> DeliveryKey:
        """An event selected again from a kept body is also claimed under the key a delivery
        of that body claims it under once the selection is fixed, so that the sender's resend
        and this replay act on it once between them."""
        if not item.selected:
            return DeliveryKey.none(self._records)
        key = event_key(run.source, source, item.delivery_id, item.payload, "receive")
        # a run handed an unknown outcome (on a person's word) may act over the delivery's
        # record of it, as over its own
        sends_unknown = retaken or run.retakes_unknown
        return DeliveryKey.claim(
            self._records, key, sends_unknown, adopt_unmapped=not item.unclaimed
        )

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
        return _Failed(result, key, failed.errors)

    def _act(self, run: _Pass, source: Source | None, item: _Item) -> dict[str, Any]:
        """The event's action, once more; what its record keeps (`replayed_outcome` reads it
        back). Raises _Failed."""
        intent = item.intent if item.intent is not None else self._map(run, source, item)
        if intent is None:
            return {"action": None}
        if isinstance(intent, CreateIntent):
            result = self._paced(run, lambda deadline: self._skipcall.create(intent.dto, deadline))
            if isinstance(result, CallFailed):
                raise _Failed(result)
            made = result.sequence.model_dump(mode="json") if result.sequence else None
            return {
                "action": "create",
                "sequenceId": made["id"] if made else None,
                "sequence": made or {"id": None, "name": intent.dto.name},
            }
        resolved = self._target(run, source, item, intent)
        record: dict[str, Any] = {"action": intent.action, "contactIds": intent.contact_ids}
        if resolved is None:
            return record | {"sequenceId": None}  # an unenrol from a name never created
        target = intent.target.model_copy(update={"id": resolved.sequence_id})
        for change in changes([Held(item.delivery_id, 0, intent, target, [])]):
            done = self._paced(run, functools.partial(self._change, change))
            if isinstance(done, CallFailed):
                raise _Failed(done)
        return record | {
            "sequenceId": resolved.sequence_id,
            "sequence": resolved.sequence or target.model_dump(exclude_none=True),
            "created": resolved.created,
        }

    def _change(self, change: Change, deadline: Deadline) -> Done | CallFailed:
        if change.action == "enrol":
            return self._skipcall.add_contacts(change.sequence_id, change.add_body(), deadline)
        return self._skipcall.remove_contacts(change.sequence_id, change.remove_body(), deadline)

    def _target(
        self, run: _Pass, source: Source | None, item: _Item, intent: MembershipIntent
    ) -> Resolved | None:
        """The target: its id kept in the letter (linked first, when the receiver created it
        but could not link it), or found, or created once, by its name (None: an unenrol from
        a name never created)."""
        target = intent.target
        # the source's names (a source since removed keeps its own scope)
        scope = source.name_scope if source is not None else run.source
        if target.id is not None:
            if target.name is not None and run.created:
                failed = self._namer.remember(target.name, target.id, scope)
                if failed is not None:
                    raise _Failed(failed)
            return Resolved(target.id, False)
        assert target.name is not None
        name = target.name

        def create() -> Created | CallFailed:
            dto = self._creation(run, source, item, name)
            return self._paced(run, lambda deadline: self._skipcall.create(dto, deadline))

        result = self._namer.resolve(
            name, create if intent.action == "enrol" else None, run.deadline(), scope
        )
        if result is None:
            return None  # never created: nobody to take out
        if isinstance(result, CallFailed):
            raise _Failed(result)
        if isinstance(result, CreatedNotLinked):
            raise _Failed(result.failure)  # not linked: the letter goes back, keeping nothing
        return result

    def _creation(
        self, run: _Pass, source: Source | None, item: _Item, name: str
    ) -> CreateSequenceDto:
        if run.sequence is not None:
            return CreateSequenceDto.model_validate({**run.sequence, "name": name})
        if source is None:
            raise _Failed(_not_mapped(f"no source named {run.source!r} is configured"))
        try:
            resolution = source.resolution(self._identity, run.deadline())
            return source.mapper.creation(item.payload, name, resolution)
        except EventMappingError as exc:
            raise _Failed(_not_mapped(str(exc)), errors=list(exc.errors)) from None
        except DirectoryUnavailable as exc:
            raise _Failed(exc.failure) from None

    def _map(self, run: _Pass, source: Source | None, item: _Item) -> Intent:
        if source is None:
            raise _Failed(_not_mapped(f"no source named {run.source!r} is configured"))
        try:
            resolution = source.resolution(self._identity, run.deadline())
            return source.mapper.map(item.payload, resolution)  # with the current mapping
        except EventMappingError as exc:
            raise _Failed(_not_mapped(str(exc)), errors=list(exc.errors)) from None
        except DirectoryUnavailable as exc:
            raise _Failed(exc.failure) from None

    def _paced(self, run: _Pass, call: Callable[[Deadline], T]) -> T:
        """One call to Skipcall, after the wait its rate-limit headers ask for."""
        limit = self._skipcall.rate_limit
        if limit is not None:
            now = self._wall_clock()
            wait = limit.wait_before_next(now)
            if self._defer_waits:  # never sleeps: the letter waits in its queue instead
                if limit.closed_for(now) > 0:
                    # the last answer's window is still closed; once its reset has passed, the
                    # next call learns the new window's headers
                    raise _Failed(_window_closed(wait))
            elif wait > 0:
                self._sleep(min(wait, MAX_PACING_WAIT_SECONDS))
        return call(run.deadline())


def _kept_intent(letter: DeadLetter) -> Intent | None:
    """What the letter kept to do, or None when the event must be mapped again."""
    if letter.action in (None, "create"):
        if letter.sequence is None:
            return None
        try:
            return CreateIntent(CreateSequenceDto.model_validate(letter.sequence))
        except ValidationError as exc:
            # A letter written by hand, or by something else than a receiver: it is a person's
            # to look at, and the rest of its batch goes on (security review #28, finding 5).
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise _Failed(_not_mapped(f"the letter's sequence is not valid ({fields})")) from None
    if letter.target is None or not letter.contact_ids:
        return None
    action = cast(Literal["enrol", "unenrol"], letter.action)
    return MembershipIntent(action, letter.target, letter.contact_ids, letter.assignee)


def _earlier(stored: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    """An earlier run's record: what it did, or a failure that ended the message (raised)."""
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
    return stored


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
