"""One key per event, whoever acts on it (the receiver, the worker, the replay, a sender's
repeat), and what its record says, as a few named states:

- `done`: Skipcall did it (or there was nothing to do): nobody acts again;
- `in-work-queue`: the receiver deferred it; the worker (or, once SQS redrove the message,
  the replay) takes it;
- `in-dlq`: its letter waits in the dead-letter queue for the replay (a receiver's
  `dead-lettered`, `unmapped`, `invalid-body`, or a run's failure whose letter is stored);
- `unknown`: Skipcall may have acted: only a replay a person asked for takes it;
- `letter-pending`: a failure ended the event and its letter may not be stored yet (a run's
  kept failure, or the receiver's unknown outcome): whoever comes next stores the letter and
  acts on nothing, unless a person asked to send an unknown outcome again.

A run that takes a record holds the key (DynamoDB's conditional update on the very record it
read) and leaves one of three things: what it did (`finished`, beside the first answer, which a
sender's repeats keep getting), the failure it keeps (`pendingLetter`, then `deadLettered` once
the letter is stored), or the record as it found it (a failure a later run may overcome).
The key keeps the `phase` field of the records earlier versions wrote, so their tables read the
same (security review #28, finding 6: two phases acted twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.outcomes import DONE, EventOutcome, OutcomeStatus, replayed_outcome
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import Source

State = Literal["done", "in-work-queue", "in-dlq", "unknown", "letter-pending"]
Actor = Literal["worker", "replay"]
# What a run does about a record it found: act on it (`take`), find it done, leave it to the
# letter in the DLQ (for the replay: another letter than this one), or store the letter a
# failure left.
Decision = Literal["take", "done", "dead-lettered", "store-letter"]
_MARKS = ("finished", "pendingLetter", "deadLettered")


def event_key(
    source_name: str, source: Source | None, delivery_id: str, payload: Any
) -> dict[str, Any]:
    """The one key of an event's record."""
    return {
        "source": source_name,
        "deliveryId": delivery_id,
        "phase": "receive",
        "payload": source.fingerprint(payload) if source else payload,
    }


@dataclass(frozen=True)
class Found:
    """A record a run found under an event's key."""

    record: dict[str, Any]

    @property
    def answer(self) -> dict[str, Any]:
        """The first answer the sender got (what its repeats are answered)."""
        return {k: v for k, v in self.record.items() if k not in _MARKS}

    @property
    def kept(self) -> CallFailed | None:
        """The failure a run kept in the record (its letter stored, or still to store)."""
        kept = self.record.get("pendingLetter")
        if not isinstance(kept, dict):
            return None
        return CallFailed(
            Reason(kept["reason"]),
            retryable=bool(kept.get("retryable", False)),
            attempts=int(kept.get("attempts", 0)),
            error=ErrorInfo.model_validate(kept["error"]),
        )

    @property
    def state(self) -> State:
        record = self.record
        if isinstance(record.get("finished"), dict) or record.get("status") in DONE:
            return "done"
        kept = self.kept
        if kept is not None:
            if not record.get("deadLettered"):
                return "letter-pending"
            return "unknown" if kept.reason is Reason.OUTCOME_UNKNOWN else "in-dlq"
        if record.get("pending_letter"):  # the receiver's: Skipcall may have acted
            return "letter-pending"
        return _answer_state(record)

    @property
    def done(self) -> dict[str, Any]:
        """What was done, as a run records it (`done_record`)."""
        finished = self.record.get("finished")
        if isinstance(finished, dict):
            return finished
        outcome = EventOutcome.model_validate(self.answer)
        return done_record(outcome)

    def decide(self, actor: Actor, *, retaken: bool, unclaimed: bool = False) -> Decision:
        """What `actor` does about this record. `retaken`: a person asked the replay to send
        an unknown outcome again. `unclaimed`: the letter's delivery was accepted whole, so
        an `unmapped` record is another delivery's, whose own letter finishes the event."""
        state = self.state
        if state == "done" or (unclaimed and self.record.get("status") == "unmapped"):
            return "done"
        if state == "letter-pending":
            # The worker's message came back (its letter to store); the replay's letter is
            # that letter, stored before the record was marked: acted on, unless Skipcall may
            # have acted and no person asked.
            if actor == "worker":
                return "store-letter"
            return "store-letter" if self._unknown and not retaken else "take"
        if actor == "worker":
            return "take" if state == "in-work-queue" else "dead-lettered"
        if state == "unknown" and not retaken:
            # Its letter, kept for a person, is stored: this one is a second (a work message
            # SQS redrove as it was written).
            return "dead-lettered"
        return "take"

    @property
    def _unknown(self) -> bool:
        """Skipcall may have acted (a run's kept failure says so, or the receiver's letter)."""
        kept = self.kept
        if kept is not None:
            return kept.reason is Reason.OUTCOME_UNKNOWN
        return bool(self.record.get("pending_letter"))

    def failure(self) -> CallFailed:
        """The failure a `store-letter` decision stores the letter with."""
        kept = self.kept
        if kept is not None:
            return kept
        pending = self.record.get("pending_letter") or {}
        error = pending.get("error") or {
            "code": "OUTCOME_UNKNOWN",
            "message": "Skipcall may have acted.",
        }
        return CallFailed(
            Reason.OUTCOME_UNKNOWN,
            retryable=False,
            attempts=1,
            error=ErrorInfo.model_validate(error),
        )


def _answer_state(record: dict[str, Any]) -> State:
    """The state a receiver's answer leaves (a run's marks read before)."""
    if record.get("deadLettered"):  # written by an earlier version, without its failure
        return "in-dlq"
    if record.get("status") == "deferred":
        return "in-work-queue"
    if record.get("reason") == Reason.OUTCOME_UNKNOWN.value:
        return "unknown"
    return "in-dlq"


def done_record(outcome: EventOutcome) -> dict[str, Any]:
    """What a run keeps of an event it did (`replayed_outcome` reads it back)."""
    if outcome.action is None or outcome.status == "ignored":
        return {"action": None}
    if outcome.action == "create":
        sequence = outcome.sequence or {"id": None}
        return {"action": "create", "sequenceId": sequence.get("id"), "sequence": sequence}
    record: dict[str, Any] = {"action": outcome.action, "contactIds": outcome.contact_ids}
    if outcome.sequence_id is None:
        return record | {"sequenceId": None}  # an unenrol from a name never created
    return record | {
        "sequenceId": outcome.sequence_id,
        "sequence": outcome.sequence,
        "created": outcome.created,
    }


def finished(found: Found | None, delivery_id: str, done: dict[str, Any]) -> dict[str, Any]:
    """The record a run leaves of an event it did: beside the first answer the sender got
    (`deferred`, `dead-lettered`), or, where the sender was answered nothing that holds
    (no record, or `unmapped`, which its repeats evaluate again), as the answer itself."""
    if (answer := _letter_s_answer(found)) is not None:
        return {**answer, "finished": done}
    return {**replayed_outcome(delivery_id, done).stored_form(), "finished": done}


def kept_failure(found: Found | None, delivery_id: str, failure: CallFailed) -> dict[str, Any]:
    """The record a run leaves of a failure that ends its message (or an unknown outcome):
    the letter to store, so that whoever comes next stores it and never acts again."""
    if (answer := _letter_s_answer(found)) is not None:
        return {**answer, "pendingLetter": _kept_form(failure)}
    outcome = EventOutcome(delivery_id=delivery_id, status="dead-lettered", reason=failure.reason)
    return {**outcome.stored_form(), "pendingLetter": _kept_form(failure)}


def waiting(actor: Actor, key: dict[str, Any], failure: CallFailed | None) -> dict[str, Any]:
    """The record a run leaves of an event it held from no record (a delivery accepted whole,
    or one whose claim was released) and did not do: its letter waits in the run's queue (the
    work queue's for the worker, the DLQ's for the replay), which the next run takes."""
    status: OutcomeStatus = "deferred" if actor == "worker" else "dead-lettered"
    reason = failure.reason if failure is not None else None
    outcome = EventOutcome(delivery_id=key["deliveryId"], status=status, reason=reason)
    return outcome.stored_form()


def letter_stored(record: dict[str, Any]) -> dict[str, Any]:
    """The record once the kept failure's letter is stored (the receiver's letter still to
    store, `pending_letter`, becomes a run's kept unknown outcome: it keeps saying so)."""
    marked = {k: v for k, v in record.items() if k != "pending_letter"}
    receivers = record.get("pending_letter")
    if isinstance(receivers, dict) and "pendingLetter" not in record:
        marked["pendingLetter"] = _kept_form(Found(record).failure())
    return marked | {"deadLettered": True}


def _letter_s_answer(found: Found | None) -> dict[str, Any] | None:
    """The first answer a sender got when it named a letter (`deferred`, `dead-lettered`),
    which its repeats keep getting; None where it answered nothing that holds (no record, or
    `unmapped`, which its repeats evaluate again)."""
    if found is not None and found.answer.get("status") in ("deferred", "dead-lettered"):
        return found.answer
    return None


def _kept_form(failure: CallFailed) -> dict[str, Any]:
    """A kept failure as the record holds it (`Found.kept` reads it back)."""
    return {
        "reason": failure.reason.value,
        "retryable": failure.retryable,
        "attempts": failure.attempts,
        "error": failure.error.model_dump(mode="json"),
    }
