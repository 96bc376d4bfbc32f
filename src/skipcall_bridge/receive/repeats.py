"""A sender's repeat of an event that ended `unmapped`: nothing was done in Skipcall then, its
letter waits in the DLQ, and the sources file may have been fixed since. The repeat takes the
event's one key (held while it still says `unmapped`), is mapped again with the sources as they
are now and, when it maps, acted on through the acting core (`LetterRuns.again`), so that the
repeat and the replay act on the event once between them, whichever comes first. No second
letter is ever written:

- done now (or by the replay before): answered with what was done; the record says so, so
  later repeats get it back without asking again;
- still not mapping: answered with today's field errors; the letter stays for the replay;
- mapped, but Skipcall did not take it (unavailable, rate-limited, rejected): answered
  `dead-lettered` with that reason; the letter stays, and the replay acts on it;
- an unknown outcome (Skipcall may have created it): kept in the record, so the replay stores
  the letter with that reason and never sends it blindly, and the event is not evaluated again;
- another run (the replay) holds the letter now, or what holds it cannot be read: the first
  answer, as before.
Every answer is marked `duplicate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.acting.core import Task
from skipcall_bridge.acting.records import Claim
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.outcomes import EventOutcome, replayed_outcome
from skipcall_bridge.receive.letters import DeliveryEvent
from skipcall_bridge.sources.catalog import Source

if TYPE_CHECKING:  # the letter runs load with the first repeat, not on cold start
    from skipcall_bridge.letters.runs import LetterRuns


def reopens(first: EventOutcome) -> bool:
    """A repeat's first outcome that is evaluated again: the event did not map, so nothing was
    done in Skipcall (the letter of a body that could not be read is not: no fix of the
    sources file reads its bytes as these events)."""
    return first.duplicate and first.status == "unmapped"


class UnmappedRepeats:
    def __init__(self, letters: Callable[[], LetterRuns], source: Source) -> None:
        self._letters = letters
        self._source = source

    def evaluate(
        self, event: DeliveryEvent, first: EventOutcome, claim: Claim, deadline: Deadline
    ) -> EventOutcome:
        try:
            task = Task(event.index, event.delivery_id, event.payload)
            finished = self._letters().again(self._source, task, claim, deadline)
        except Exception:  # a bug ends this evaluation only: the letter still waits
            logger.exception("Repeat of an unmapped event not evaluated")
            return first
        logger.info(
            "Repeat of an unmapped event evaluated again",
            extra={"deliveryId": event.delivery_id, "outcome": finished.outcome},
        )
        if finished.outcome in ("replayed", "already-created"):
            done = replayed_outcome(event.delivery_id, finished.done[0])
            metrics.add_metric(name="RepeatsDone", unit=MetricUnit.Count, value=1)
            return done.model_copy(update={"duplicate": True})
        failure = finished.failure
        if failure is None:  # another run holds the letter's key, or it cannot be read now
            metrics.add_metric(name="DuplicatesSuppressed", unit=MetricUnit.Count, value=1)
            return first
        if finished.kept is not None:  # Skipcall may have acted: never evaluated again
            return EventOutcome(
                delivery_id=event.delivery_id,
                status="dead-lettered",
                reason=failure.reason,
                duplicate=True,
            )
        if failure.reason is Reason.MAPPING_FAILED:
            errors = [error.as_dict() for error in finished.errors] or first.errors
            return first.model_copy(update={"errors": errors})
        # It maps now, but Skipcall did not take it: the letter waits for the replay.
        return EventOutcome(
            delivery_id=event.delivery_id,
            status="dead-lettered",
            reason=failure.reason,
            duplicate=True,
        )
