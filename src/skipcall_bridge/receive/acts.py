"""The receiver's side of the acting core: each event of a delivery prepared by the core
(`ActingCore.prepare`), the held enrolments sent grouped once every event has been prepared
(`ActingCore.flush`), and each failure turned into the event's own letter. Whatever goes wrong
ends this event only."""

from __future__ import annotations

from skipcall_bridge.acting.core import ActingCore, Failed, Task
from skipcall_bridge.acting.membership import Held
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.outcomes import EventOutcome, OutcomeStatus
from skipcall_bridge.receive.claims import EventCore
from skipcall_bridge.receive.letters import DeliveryEvent, EventLetters, unfinished
from skipcall_bridge.sources.catalog import Source


class EventWork:
    def __init__(
        self, acting: ActingCore, source: Source, letters: EventLetters, core: EventCore
    ) -> None:
        self._acting = acting
        self._source = source
        self._letters = letters
        self._core = core

    def handle(self, event: DeliveryEvent, deadline: Deadline) -> EventOutcome | Held:
        task = Task(event.index, event.delivery_id, event.payload)
        prepared = self._acting.prepare(self._source, self._source.name, task, lambda: deadline)
        if isinstance(prepared, Failed):
            letter = self._letters.of_failure(prepared)
            return self._letters.stored(letter, prepared.errors, _status(prepared))
        return prepared

    def flush(self, held: list[Held], deadline: Deadline) -> dict[int, EventOutcome]:
        """Send the held changes grouped; then store the letters of the events whose calls
        failed, together, and record every event."""
        if not held:
            return {}
        fates = self._acting.flush(held, lambda: deadline)
        outcomes = {
            one.index: fate for one, fate in zip(held, fates, strict=True)
            if isinstance(fate, EventOutcome)
        }  # fmt: skip
        failed = [
            (one, fate) for one, fate in zip(held, fates, strict=True) if isinstance(fate, Failed)
        ]
        outcomes |= self._store_held(failed)
        for one in held:
            if outcomes[one.index].status != "unfinished":
                self._core.record(one.key, outcomes[one.index])
        return outcomes

    def _store_held(self, failed: list[tuple[Held, Failed]]) -> dict[int, EventOutcome]:
        """The letters of held events whose calls failed, stored together."""
        letters = [(one, self._letters.of_failure(fate)) for one, fate in failed]
        unstored = {id(letter) for letter in self._letters.send([x for _, x in letters])}
        outcomes: dict[int, EventOutcome] = {}
        for one, letter in letters:
            if id(letter) in unstored:
                # enrolment is idempotent: the sender's retry may do it again
                self._core.release(one.key)
                outcomes[one.index] = unfinished(DeliveryEvent(one.index, one.delivery_id, None))
            else:
                outcomes[one.index] = self._letters.outcome(letter, [], "dead-lettered")
        return outcomes


def _status(failed: Failed) -> OutcomeStatus:
    return "unmapped" if failed.failure.reason is Reason.MAPPING_FAILED else "dead-lettered"
