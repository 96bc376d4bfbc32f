"""What became of one event, and of one delivery. An event's outcome is also what the
idempotency store keeps, so a repeated delivery gets exactly the first answer back.

Every event of a delivery ends as exactly one of:
- `created`: the sequence exists in Skipcall;
- `enrolled`, `unenrolled`: its contacts are in (out of) the target sequence;
- `ignored`: its action rendered nothing: there was nothing to do;
- `dead-lettered`, `unmapped` (MAPPING_FAILED), `invalid-body`: its letter is stored in the DLQ;
- `deferred`: it did not fit in the sender's budget, or Skipcall asked to slow down: it is in
  the work queue, already claimed, and the worker finishes it within seconds to minutes;
- `conflict`: its id was seen before with materially different content; nothing was done;
- `unfinished`: neither done nor stored (the DLQ or the deduplication table was unreachable,
  or another run holds it): the delivery is answered 503 and the sender's retry finishes it.
  When Skipcall may already have acted (OUTCOME_UNKNOWN) the record keeps the letter to store,
  so the retry stores it instead of calling Skipcall again.
A repeat of an event that ended before gets that first outcome again, marked `duplicate`; a
repeat of one that ended `unmapped` is evaluated again, and gets what came of that (or what the
replay of its letter did), marked `duplicate` too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from skipcall_bridge.common.envelope import Action
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.payloads import BodyFormat

OutcomeStatus = Literal[
    "created", "enrolled", "unenrolled", "ignored", "dead-lettered", "unmapped", "invalid-body",
    "conflict", "unfinished", "deferred",
]  # fmt: skip
DONE: frozenset[OutcomeStatus] = frozenset({"created", "enrolled", "unenrolled", "ignored"})
STORED: frozenset[OutcomeStatus] = frozenset({"dead-lettered", "unmapped", "invalid-body"})
UNMAPPED: frozenset[OutcomeStatus] = frozenset({"unmapped", "invalid-body"})
DEFERRED: OutcomeStatus = "deferred"


class EventOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivery_id: str
    status: OutcomeStatus
    sequence: dict[str, Any] | None = None  # the SequenceDto, when created; {id, name}: target
    action: Action | None = None  # what the event did, or was to do
    contact_ids: list[str] = Field(default_factory=list)  # enrolled or unenrolled
    created: bool = False  # the enrolment's target was created by this event
    reason: Reason | None = None  # why it was dead-lettered
    errors: list[dict[str, str]] = Field(default_factory=list)  # field errors, when unmapped
    skipped_contacts: list[dict[str, str]] = Field(default_factory=list)  # no usable phone
    duplicate: bool = False  # the first outcome of an earlier delivery of this event
    retry_after_seconds: int | None = None  # unfinished: when the sender should try again
    # unfinished, but Skipcall may have acted: the letter still to store (reason, error, DTO),
    # kept in the record so that a retry stores it and never calls Skipcall again
    pending_letter: dict[str, Any] | None = None

    @property
    def sequence_id(self) -> str | None:
        return None if self.sequence is None else self.sequence.get("id")

    def stored_form(self) -> dict[str, Any]:
        """What the idempotency record keeps: the outcome as its first delivery saw it."""
        return self.model_dump(mode="json", exclude={"duplicate", "retry_after_seconds"})


DeliveryStatus = Literal[
    "created", "enrolled", "unenrolled", "done", "partial", "dead-lettered", "unmapped",
    "conflict", "ignored", "unavailable", "deferred",
]  # fmt: skip


@dataclass(frozen=True)
class DeliveryReport:
    """Every event's outcome, in the delivery's order, and the delivery's status derived from
    all of them (no event decides it alone)."""

    events: list[EventOutcome]
    body_format: BodyFormat = "json"
    unmapped_status: int = 422  # the source's answer when every event failed to map

    @property
    def sequences(self) -> list[dict[str, Any]]:
        """Every sequence this delivery created: by a create, or as an enrol's target."""
        return [
            e.sequence for e in self.events if e.sequence and (e.status == "created" or e.created)
        ]

    @property
    def dead_lettered(self) -> list[EventOutcome]:
        return [e for e in self.events if e.status in STORED]

    @property
    def deferred(self) -> list[EventOutcome]:
        return [e for e in self.events if e.status == DEFERRED]

    @property
    def mapping_errors(self) -> list[dict[str, Any]]:
        return [
            {"event": index, **error, **({"duplicate": True} if event.duplicate else {})}
            for index, event in enumerate(self.events)
            for error in event.errors
        ]

    @property
    def retry_after_seconds(self) -> int:
        waits = [e.retry_after_seconds or 30 for e in self.events if e.status == "unfinished"]
        return min(waits, default=30)

    @functools.cached_property  # read by the log line and the answer
    def status(self) -> DeliveryStatus:
        """All done: the one thing done (`created`, `enrolled`, `unenrolled`), else `done`."""
        statuses = {event.status for event in self.events}
        acted = statuses - {"ignored"}
        if not acted:
            return "ignored"
        if "unfinished" in acted:
            return "unavailable"
        if acted <= DONE:
            return cast(DeliveryStatus, acted.pop()) if len(acted) == 1 else "done"
        return _not_all_done(acted)


def _not_all_done(acted: set[OutcomeStatus]) -> DeliveryStatus:
    if acted == {"conflict"}:
        return "conflict"
    if acted == {DEFERRED}:  # in the work queue: done within minutes, nothing for a person
        return "deferred"
    if acted <= UNMAPPED:
        return "unmapped"
    if acted & STORED and not acted & (DONE | {"conflict", DEFERRED}):
        return "dead-lettered"
    return "partial"  # some done (or in conflict, or deferred), the others not


def replayed_outcome(delivery_id: str, record: dict[str, Any]) -> EventOutcome:
    """An event's outcome read from the record its replay left (`LetterCore`): what a sender's
    repeat is answered once the replay, or the repeat itself, acted on the event's letter.
    Records written before they kept the action name only the sequence's id."""
    action = record.get("action", "create")
    if action is None:
        return EventOutcome(delivery_id=delivery_id, status="ignored")
    sequence = record.get("sequence") or {"id": record.get("sequenceId")}
    if action == "create":
        return EventOutcome(
            delivery_id=delivery_id, status="created", action="create", sequence=sequence
        )
    return EventOutcome(
        delivery_id=delivery_id,
        status="enrolled" if action == "enrol" else "unenrolled",
        action=action,
        sequence=sequence if record.get("sequenceId") else None,
        contact_ids=record.get("contactIds") or [],
        created=bool(record.get("created")),
    )
