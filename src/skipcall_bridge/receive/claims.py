"""One event of a delivery, once: claim its key, do its work, record its outcome; or, when its
letter could not be stored, release the claim (nothing happened) or keep the letter to store in
the record (Skipcall may have acted). The records are `EventRecords`, shared with the replay's
core (and so the worker's), over the IdempotencyGuard port (Powertools on DynamoDB).

States of an event's key: absent -> claimed (this run works) -> recorded (done, stored,
deferred or conflict; a repeat gets it back, marked duplicate) -- or released (absent again, the
sender's retry does it) -- or still claimed when the table failed after the work (the claim
lapses with the invocation's time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.acting.membership import Held
from skipcall_bridge.acting.records import Claim, EventRecords
from skipcall_bridge.acting.state import event_key
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.outcomes import EventOutcome
from skipcall_bridge.receive.letters import (
    DeliveryEvent,
    EventLetters,
    NotStored,
    pending,
    unfinished,
)
from skipcall_bridge.receive.repeats import reopens
from skipcall_bridge.sources.catalog import Source

Work = Callable[[], EventOutcome | Held]


class StoreDown(Exception):
    """The deduplication table cannot be reached: no event can be handled safely now."""


class EventCore:
    def __init__(self, records: EventRecords, source: Source, letters: EventLetters) -> None:
        self._records = records
        self._source = source
        self._letters = letters

    def once(self, event: DeliveryEvent, work: Work) -> EventOutcome | Held:
        """Claim the event, do its work, record its outcome (a held enrolment is recorded once
        its grouped call answered). Raises StoreDown only when the table cannot be reached
        before any work was done."""
        key = self.key(event)
        claimed = self.claim(event, key)
        if claimed is not None:
            if reopens(claimed):  # a kept body is answered from its record, never evaluated
                _answered_from_record()
            return claimed
        return self.work(event, key, work)

    def claim_all(self, events: list[DeliveryEvent]) -> list[Claim]:
        """Every event's claim, a few in flight at once (in the events' order). Only the
        table calls run on the pool: metrics, logs and letters stay on this thread."""
        return self._records.claim_all([self.key(event) for event in events])

    def settle(self, event: DeliveryEvent, claim: Claim) -> EventOutcome | None:
        """None: this run holds the event. Otherwise its outcome without work. Raises StoreDown."""
        if claim.refused == "conflict":
            metrics.add_metric(name="DeliveryConflicts", unit=MetricUnit.Count, value=1)
            logger.warning("Delivery id reused with another payload: nothing done")
            return EventOutcome(delivery_id=event.delivery_id, status="conflict")
        if claim.refused == "in-progress":
            return unfinished(event, retry_after_seconds=5)
        if claim.refused == "down":
            raise StoreDown
        stored = claim.stored
        if stored is None:
            return None
        if stored.get("pending_letter"):
            return self._store_pending(event, claim.key, stored["pending_letter"])
        first = EventOutcome.model_validate({**stored, "duplicate": True})
        if not reopens(first):  # else its caller evaluates it again (repeats.py), or says so
            _answered_from_record()
        return first

    def work(self, event: DeliveryEvent, key: dict[str, Any], work: Work) -> EventOutcome | Held:
        """The claimed event's work, then its record (see `once`)."""
        outcome: EventOutcome | Held
        try:
            outcome = work()
        except NotStored as failed:  # its letter could not be stored: the sender must retry
            logger.error("Event neither done nor stored", extra={"reason": failed.letter.reason})
            if failed.letter.reason is not Reason.OUTCOME_UNKNOWN:
                self.release(key)  # nothing happened: the retry may do it all again
                return unfinished(event)
            # Skipcall may have created it: the retry must only store the letter.
            outcome = unfinished(event).model_copy(
                update={"pending_letter": pending(failed.letter)}
            )
        if isinstance(outcome, Held):
            return outcome.keyed(key)
        self.record(key, outcome)
        return outcome

    def key(self, event: DeliveryEvent) -> dict[str, Any]:
        if not self._records.stores:
            return {}  # nothing is remembered: no fingerprint to compute
        # the event's one key, whoever acts on it (the worker and the replay build it too)
        return event_key(self._source.name, self._source, event.delivery_id, event.payload)

    def claim(self, event: DeliveryEvent, key: dict[str, Any]) -> EventOutcome | None:
        """None: this run holds the event now. Otherwise the event's outcome without work."""
        return self.settle(event, self._records.claim(key))

    def record(self, key: dict[str, Any], outcome: EventOutcome) -> None:
        # A failure is logged, not raised: the work is done (created, or stored in a queue),
        # and answering 503 would make the sender retry and do it twice.
        self._records.record(key, outcome.stored_form())

    def release(self, key: dict[str, Any]) -> None:
        """The work ended without an outcome: a retry may do it (never raises)."""
        self._records.release(key)

    def record_all(self, records: list[tuple[dict[str, Any], EventOutcome]]) -> None:
        """Several outcomes, a few in flight at once (the tail's)."""
        self._records.record_all([(key, outcome.stored_form()) for key, outcome in records])

    def _store_pending(
        self, event: DeliveryEvent, key: dict[str, Any], kept: dict[str, Any]
    ) -> EventOutcome:
        """An earlier delivery reached Skipcall with no known outcome but could not store its
        letter: store it now (Skipcall is not called again), then record the final outcome."""
        letter = self._letters.letter(
            event,
            reason=Reason(kept["reason"]),
            retryable=False,
            error=ErrorInfo.model_validate(kept["error"]),
            sequence=kept.get("sequence"),
            extra=kept.get("membership") or {},
        )
        try:
            outcome = self._letters.stored(letter, (), "dead-lettered")
        except NotStored:
            return unfinished(event)
        self.record(key, outcome)
        return outcome


def _answered_from_record() -> None:
    metrics.add_metric(name="DuplicatesSuppressed", unit=MetricUnit.Count, value=1)
    logger.info("Duplicate delivery: answering as the first time")
