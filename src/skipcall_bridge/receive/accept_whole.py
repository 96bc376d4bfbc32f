"""A delivery too large to claim event by event within the sender's budget, accepted whole
(storage first): one record for the delivery, and each event's letter in the work queue without
a claim of its own. The worker (or, after a redrive, the replay) claims each event under the
`receive` key a delivery claims it under, so that the event is acted on once, whichever of them,
a retry or another batching of the same events gets to it first.

A retry of the same delivery (the same event ids, whatever else its sender changed) is answered
from the delivery's record; while its letters are not all stored it is not recorded, and the
sender's retry stores them again (the worker's claims keep each event to one action).
"""

from __future__ import annotations

import hashlib
from typing import Any

from skipcall_bridge.acting.records import EventRecords, write_pool
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.outcomes import EventOutcome
from skipcall_bridge.receive.letters import DeliveryEvent, EventLetters, unfinished
from skipcall_bridge.sources.catalog import Source

# Up to this many events a delivery is worked event by event (claims, Skipcall, records);
# beyond it, its claims alone would spend the budget at in-region latencies.
ACCEPT_WHOLE_ABOVE = 100
SEND_CHUNK = 10  # SendMessageBatch's limit


def delivery_key(source: Source, events: list[DeliveryEvent]) -> dict[str, Any]:
    """The delivery's own record: its events' ids, in order, are what makes it the same."""
    ids = [event.delivery_id for event in events]
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {"source": source.name, "deliveryId": digest, "phase": "accept", "payload": ids}


def accept_whole(
    records: EventRecords, letters: EventLetters, source: Source, events: list[DeliveryEvent]
) -> list[EventOutcome]:
    key = delivery_key(source, events)
    claim = records.claim(key)
    if claim.stored is not None:  # a retry: the letters are in the work queue already
        return [
            EventOutcome(delivery_id=event.delivery_id, status="deferred", duplicate=True)
            for event in events
        ]
    if not claim.held:  # another container holds it, or the table cannot say: retry later
        return [unfinished(event) for event in events]
    stored = [letters.unworked(event, unclaimed=True) for event in events]
    # A thousand letters are a hundred SendMessageBatch calls: one after another, their round
    # trips alone would spend the budget, so they go several at once, as the claims do.
    chunks = [stored[start : start + SEND_CHUNK] for start in range(0, len(stored), SEND_CHUNK)]
    unstored = [letter for refused in write_pool().map(letters.send, chunks) for letter in refused]
    if unstored:
        records.release(key)
        logger.warning(
            "Delivery not accepted whole: the work queue did not take every letter",
            extra={"events": len(events), "unstored": len(unstored)},
        )
        return [unfinished(event) for event in events]
    records.record(key, {"accepted": len(events)})
    logger.info("Delivery accepted whole into the work queue", extra={"events": len(events)})
    return [letters.outcome(letter, [], "dead-lettered") for letter in stored]
