"""The records one event of a letter is claimed under, when the replay's core (`LetterCore`)
acts on it: its own key under the run's phase (`replay`, `work`), which a sender's repeat of an
event that did not map claims too; and, for an event selected again from a body kept whole, the
`receive` key a delivery of that body claims it under once the selection is fixed
(`DeliveryKey`), so that such a resend and the replay act on it once between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skipcall_bridge.event_records import EventRecords
from skipcall_bridge.failures import Reason
from skipcall_bridge.outcomes import EventOutcome, replayed_outcome
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources import Source


def event_key(
    source_name: str, source: Source | None, delivery_id: str, payload: Any, phase: str
) -> dict[str, Any]:
    """The key of one event's record: a delivery's (`receive`) or a run of the replay's core."""
    return {
        "source": source_name,
        "deliveryId": delivery_id,
        "phase": phase,
        "payload": source.fingerprint(payload) if source else payload,
    }


def keeps_unknown(stored: dict[str, Any]) -> bool:
    """A run's record keeps an unknown outcome (Skipcall may have acted)."""
    kept = stored.get("pendingLetter") or {}
    return bool(kept.get("reason") == Reason.OUTCOME_UNKNOWN.value)


@dataclass
class DeliveryKey:
    """The `receive` key of an event selected from a kept body, as a run found it: held by the
    run (`held`), a record the run may overwrite (the body's own, or the event's `unmapped`
    one), or the event is a delivery's (`earlier`: its record, its outcome or its own letter),
    or busy (a delivery holds it now, or the table cannot say)."""

    records: EventRecords
    key: dict[str, Any] | None = None
    held: bool = False
    earlier: dict[str, Any] | None = None
    busy: bool = False
    # The delivery's own record of an event it left to its letter (deferred, dead-lettered):
    # its answer stays the one repeats of the delivery get; the run's outcome is added to it
    # (`finished`), for the next run to find.
    answer: dict[str, Any] | None = None

    @classmethod
    def none(cls, records: EventRecords) -> DeliveryKey:
        """An event of a letter that stands for it alone: its delivery keeps its own record."""
        return cls(records)

    @classmethod
    def claim(
        cls,
        records: EventRecords,
        key: dict[str, Any],
        retaken: bool,
        *,
        adopt_unmapped: bool = True,
    ) -> DeliveryKey:
        """`retaken`: the run sends a kept unknown outcome again, on a person's word.
        `adopt_unmapped`: a delivery's `unmapped` record is this run's to overwrite (a kept
        body's events); otherwise that delivery's own letter finishes the event."""
        claim = records.claim(key)
        if claim.held:
            return cls(records, key, held=True)
        if claim.refused == "conflict":
            # The body's own record under the same id (one event, no id of its own): no
            # delivery can act on this key either.
            return cls(records)
        if claim.refused is not None:
            return cls(records, busy=True)
        return cls._found(records, key, claim.stored or {}, retaken, adopt_unmapped)

    @classmethod
    def _found(
        cls,
        records: EventRecords,
        key: dict[str, Any],
        stored: dict[str, Any],
        retaken: bool,
        adopt_unmapped: bool,
    ) -> DeliveryKey:
        """What a record under the key leaves this run to do."""
        status = stored.get("status")
        unknown = status == "dead-lettered" and stored.get("reason") == Reason.OUTCOME_UNKNOWN.value
        if (status == "unmapped" and adopt_unmapped) or (retaken and unknown):
            # Nothing was done by a delivery: a resend acts under the replay key the run holds.
            return cls(records, key)
        if status == "deferred" or (status == "dead-lettered" and not unknown):
            # The delivery left the event to its letter, which this run finishes: its outcome
            # goes on this key too, so that the worker and the replay find it done whichever
            # comes next (security review #28, finding 6); the sender's repeats keep their
            # first answer.
            finished = stored.get("finished")
            if isinstance(finished, dict):
                return cls(records, earlier=finished)
            return cls(records, key, answer=stored)
        return cls(records, earlier=stored)

    def done(self, delivery_id: str, record: dict[str, Any]) -> None:
        """What the run did (its own record), for a later delivery of the body to answer."""
        if self.key is not None and self.answer is not None:
            self.records.record(self.key, {**self.answer, "finished": record})
        elif self.key is not None:
            outcome = replayed_outcome(delivery_id, record)
            self.records.record(self.key, outcome.stored_form())

    def kept(self, delivery_id: str, failure: CallFailed) -> None:
        """A failure the run keeps: a later delivery of the body answers that it waits (a
        delivery's own record of the event already says so)."""
        if self.key is not None and self.answer is None:
            outcome = EventOutcome(
                delivery_id=delivery_id, status="dead-lettered", reason=failure.reason
            )
            self.records.record(self.key, outcome.stored_form())

    def release(self) -> None:
        if self.held and self.key is not None:
            self.records.release(self.key)
