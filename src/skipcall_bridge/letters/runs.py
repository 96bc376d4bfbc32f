"""One letter's events, acted on once more, through the acting core: what the work queue's
worker and the scheduled replay both run for each letter, and what a sender's repeat of an
event that ended unmapped runs (`again`).

Each event is claimed under its one key (`event_state`): a key nobody holds is claimed; a
record that leaves the event to this run (the receiver's `deferred` for the worker; a letter in
the DLQ for the replay) is taken, held while it is still that record; a record that says it is
done, or that its letter waits elsewhere, is left as it is. What this run did goes on the key,
beside the sender's first answer; a failure that ends the message (an unknown outcome, or the
worker's last try) is kept there with the letter still to store; any other failure puts the
record back as it was found, for a later run.

A letter keeps what to do (the DTO, or the action, target and contacts) unless it must be mapped
again (a mapping failure, identities that could not be resolved, a body kept whole).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import ValidationError

from skipcall_bridge.acting.core import ActingCore, Failed, Task, not_mapped
from skipcall_bridge.acting.records import Claim, EventRecords
from skipcall_bridge.acting.state import (
    Actor,
    Found,
    done_record,
    event_key,
    finished,
    kept_failure,
    letter_stored,
    waiting,
)
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.errors import InvalidBody
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.observability import logger
from skipcall_bridge.skipcall.models import CallFailed, CreateSequenceDto
from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.sources.mapping import CreateIntent, Intent, MembershipIntent
from skipcall_bridge.sources.rehearsal import Recorder, RehearsedResolution
from skipcall_bridge.sources.templates import EventMappingError, FieldError

# A record that changes between this run's read and its take is read again, this many times.
TAKE_ATTEMPTS = 3


@dataclass(frozen=True)
class Kept:
    """A failure kept on an event's key: the record to mark once its letter is stored."""

    key: dict[str, Any]
    record: dict[str, Any]


@dataclass(frozen=True)
class Finished:
    """What acting on one letter's events came to."""

    outcome: Literal[
        "replayed", "already-created", "ignored", "failed", "busy", "already-dead-lettered"
    ]
    failure: CallFailed | None = None  # `failed`: why
    # `failed` for good (kept, not put back): the record to mark once the letter is stored
    kept: Kept | None = None
    # `replayed`, `already-created`: each event's record (what was done, now or before)
    done: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)  # `failed` to map: each field's


@dataclass(frozen=True)
class _Pass:
    """What one `finish` (or `again`) acts with."""

    source_name: str  # as the letter gives it
    source: Source | None  # None: no longer configured
    created: bool  # the letter's target was created by its event: link it, never create it
    sequence: dict[str, Any] | None  # the DTO a named target is created from, when kept
    deadline: Callable[[], Deadline]
    keeps: Callable[[CallFailed], bool]  # a failure kept on the key instead of put back
    retaken: bool = False  # a person asked to send an unknown outcome again


@dataclass(frozen=True)
class _Item:
    index: int
    delivery_id: str
    payload: Any
    kept: Intent | None  # what the letter kept, when it is still what to do
    # From a delivery accepted whole: an `unmapped` record is another delivery's, whose own
    # letter finishes the event.
    unclaimed: bool = False


Step = tuple[bool, dict[str, Any]] | Finished  # (acted now, its record), or the letter's end


class LetterRuns:
    def __init__(
        self,
        catalog: SourceCatalog,
        acting: ActingCore,
        records: EventRecords,
        *,
        actor: Actor,
        budget_seconds: float,
    ) -> None:
        self._catalog = catalog
        self._acting = acting
        self._records = records
        self._actor = actor
        self._budget = budget_seconds

    @property
    def actor(self) -> Actor:
        return self._actor

    def finish(self, letter: DeadLetter, *, last_attempt: bool = False) -> Finished:
        """Acts on each event of the letter once. `last_attempt`: a failure ends the message
        even when it is retryable (the worker's last receive)."""
        source = self._catalog.get(letter.source)
        work = self._actor == "worker"
        run = _Pass(
            letter.source,
            source,
            letter.created,
            letter.sequence,
            deadline=lambda: Deadline(self._budget),
            # An unknown outcome is always kept, so that nothing sends it again unasked; the
            # worker also keeps a failure that ends its message.
            keeps=lambda failure: (
                failure.reason is Reason.OUTCOME_UNKNOWN
                or (work and (not failure.retryable or last_attempt))
            ),
            # the replay is handed an OUTCOME_UNKNOWN letter only when asked to send it again
            retaken=not work and letter.reason is Reason.OUTCOME_UNKNOWN,
        )
        items = self._items(letter, source)
        if isinstance(items, Finished):
            return items
        done: list[tuple[bool, dict[str, Any]]] = []
        for item in items:
            step = self._once(run, item)
            if isinstance(step, Finished):
                return step
            done.append(step)
        if not items:
            return Finished("ignored")
        now = any(acted for acted, _ in done)
        return Finished("replayed" if now else "already-created", done=[kept for _, kept in done])

    def rehearse(self, letter: DeadLetter) -> list[str]:
        """Why the letter's events would fail to map again with today's sources (empty: none
        would), touching nothing: what a letter kept to do is taken as it is, the rest mapped
        with Skipcall's identity calls answered by placeholders (`replay --dry-run`)."""
        source = self._catalog.get(letter.source)
        items = self._items(letter, source)
        if isinstance(items, Finished):
            return [items.failure.error.message if items.failure else items.outcome]
        problems = []
        for item in items:
            if item.kept is not None:
                continue
            if source is None:
                return [f"no source named {letter.source!r} is configured"]
            resolution = RehearsedResolution(source, Recorder()) if source.uses_identity else None
            try:
                source.mapper.map(item.payload, resolution)
            except EventMappingError as exc:
                which = "" if item.delivery_id == letter.delivery_id else f"{item.delivery_id}: "
                problems.append(f"{which}{exc}")
        return problems

    def again(self, source: Source, task: Task, claim: Claim, deadline: Deadline) -> Finished:
        """A sender's repeat of an event its receiver left unmapped (`claim` found that
        record): taken, mapped with today's sources and acted on within `deadline`. A failure
        puts the record back (the letter stays for the replay), except an unknown outcome,
        which is kept: the replay then stores the letter with its reason, never acting."""
        assert claim.stored is not None
        run = _Pass(
            source.name,
            source,
            False,
            None,
            deadline=lambda: deadline,
            keeps=lambda failure: failure.reason is Reason.OUTCOME_UNKNOWN,
        )
        found = Found(claim.stored)
        taken = self._records.take(claim)
        if not taken.held:
            current = Found(taken.stored) if taken.stored is not None else None
            if current is not None and current.state == "done":
                return Finished("already-created", done=[current.done])
            return Finished("busy")  # another run holds it, or the table cannot say
        item = _Item(task.index, task.delivery_id, task.payload, None)
        step = self._act(run, item, claim.key, found)
        if isinstance(step, Finished):
            return step
        return Finished("replayed", done=[step[1]])

    def settle(self, kept: Kept) -> None:
        """The kept failure's letter is stored: a later delivery of the message just leaves."""
        # Not recorded (logged): a later delivery stores the letter again, at worst twice.
        self._records.record(kept.key, letter_stored(kept.record))

    def _once(self, run: _Pass, item: _Item) -> Step:
        """(True, its record): done now; (False, the record): done before; else the letter's
        end (failed, busy, already dead-lettered)."""
        key = event_key(run.source_name, run.source, item.delivery_id, item.payload)
        claim = self._records.claim(key)
        for _ in range(TAKE_ATTEMPTS):
            if claim.refused == "conflict":
                return Finished("failed", _conflict())
            if claim.refused is not None:  # in progress elsewhere, or the table is down
                logger.warning(
                    "Letter deferred", extra={"deliveryId": item.delivery_id, "why": claim.refused}
                )
                return Finished("busy")
            if claim.stored is None:
                return self._act(run, item, key, None)
            found = Found(claim.stored)
            left = self._left(run, item, found, claim)
            if left is not None:
                return left
            claim = self._records.take(claim)
            if claim.held:
                return self._act(run, item, key, found)
        return Finished("busy")

    def _left(self, run: _Pass, item: _Item, found: Found, claim: Claim) -> Step | None:
        """What a record this run does not take comes to (None: taken)."""
        decision = found.decide(self._actor, retaken=run.retaken, unclaimed=item.unclaimed)
        if decision == "done":
            return False, found.done
        if decision == "dead-lettered":  # its letter is in the DLQ: the replay's
            return Finished("already-dead-lettered")
        if decision == "store-letter":  # nothing is acted on: the letter is stored
            return Finished("failed", found.failure(), Kept(claim.key, found.record))
        return None

    def _act(self, run: _Pass, item: _Item, key: dict[str, Any], found: Found | None) -> Step:
        """The held event acted on through the core, then its key's record."""
        task = Task(
            item.index, item.delivery_id, item.payload, item.kept, run.sequence, run.created
        )
        try:
            fate = self._acting.act(run.source, run.source_name, task, run.deadline)
        except Exception:  # a bug: nothing is recorded, a later run may do it
            self._put_back(key, found)
            raise
        if isinstance(fate, Failed):
            return self._failed(run, item, key, found, fate)
        done = done_record(fate)
        # Not recorded (logged): done all the same, the letter must go, or it would be again.
        self._records.record(key, finished(found, item.delivery_id, done))
        return True, done

    def _failed(
        self, run: _Pass, item: _Item, key: dict[str, Any], found: Found | None, fate: Failed
    ) -> Finished:
        failure = fate.failure
        if not run.keeps(failure):
            self._put_back(key, found, failure)
            return Finished("failed", failure, errors=fate.errors)
        record = kept_failure(found, item.delivery_id, failure)
        if not self._records.record(key, record):  # the claim lapses with the invocation
            return Finished("failed", failure, errors=fate.errors)
        return Finished("failed", failure, Kept(key, record), errors=fate.errors)

    def _put_back(
        self, key: dict[str, Any], found: Found | None, failure: CallFailed | None = None
    ) -> None:
        """Nothing was done: the key as this run found it, for a later run; a key it found
        empty says where the letter waits (`waiting`), so the next run takes it as any other
        (a run never deletes a record)."""
        record = found.record if found is not None else waiting(self._actor, key, failure)
        if not self._records.record(key, record):
            logger.warning("Event record not put back: it lapses with this run's claim")

    def _items(self, letter: DeadLetter, source: Source | None) -> list[_Item] | Finished:
        """The events this letter stands for, as a delivery would have selected them."""
        try:
            kept = None if letter.reason is Reason.MAPPING_FAILED else _kept_intent(letter)
            if letter.payload_scope == "event":
                return [_Item(0, letter.delivery_id, letter.payload, kept, letter.unclaimed)]
            return _selected(letter, source, kept)
        except ValueError as exc:  # pydantic's ValidationError included
            return Finished("failed", not_mapped(str(exc)))


def _selected(letter: DeadLetter, source: Source | None, kept: Intent | None) -> list[_Item]:
    """A kept body's events, selected again (raises ValueError: not for this run to act on)."""
    if source is None:
        raise ValueError(f"no source named {letter.source!r} is configured")
    raw = letter.stored_body()
    try:
        body = letter.payload if raw is None else source.parse_body(raw, letter.body_format)
        events = source.events.select(body)
        # every event's id, unless the letter stands for one of them (it has its own)
        whole = letter.event_index is None
        ids = source.delivery_ids(events, lambda: letter.delivery_id) if whole else []
    except (InvalidBody, EventMappingError) as exc:
        raise ValueError(str(exc)) from None
    if len(events) > source.config.max_events:  # as the receiver refuses it: a letter is no
        # way around the source's limit (security review #28, finding 5)
        raise ValueError(f"more than {source.config.max_events} events (maxEvents)")
    index = letter.event_index
    if index is not None:
        if index >= len(events):
            raise ValueError("the body no longer has this event")
        return [_Item(index, letter.delivery_id, events[index], kept)]
    pairs = enumerate(zip(ids, events, strict=True))
    return [_Item(at, delivery_id, event, None) for at, (delivery_id, event) in pairs]


def _kept_intent(letter: DeadLetter) -> Intent | None:
    """What the letter kept to do, or None when the event must be mapped again. Raises
    ValueError for a kept DTO that does not validate: a letter written by hand, or by
    something else than a receiver, is a person's to look at, and the rest of its batch goes
    on (security review #28, finding 5)."""
    if letter.action in (None, "create"):
        if letter.sequence is None:
            return None
        try:
            return CreateIntent(CreateSequenceDto.model_validate(letter.sequence))
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise ValueError(f"the letter's sequence is not valid ({fields})") from None
    if letter.target is None or not letter.contact_ids:
        return None
    action = cast(Literal["enrol", "unenrol"], letter.action)
    return MembershipIntent(action, letter.target, letter.contact_ids, letter.assignee)


def _conflict() -> CallFailed:
    error = ErrorInfo(
        code="DELIVERY_CONFLICT",
        message="A replay of this delivery id with another payload exists; check both.",
    )
    return CallFailed(Reason.SKIPCALL_REJECTED, retryable=False, attempts=0, error=error)
