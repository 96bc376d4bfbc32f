"""Where an event's letter goes, and what that makes of the event.

A letter the worker can still finish (retryable: the budget was spent, Skipcall asked to slow
down or was briefly unavailable) goes to the work queue when one is configured; while Skipcall's
window is spent, each is delayed to a window with room for it (`Pacing`). The event is then
`deferred`. Every other letter (a
mapping failure, an unknown outcome, a rejection) goes to the dead-letter queue, for a person or
the scheduled replay. Each queue answers per letter: only the letters it did not take are
returned, so the caller records the others and leaves just these to the sender's retry.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.observability import count_by_reason, logger, metrics
from skipcall_bridge.common.outcomes import DEFERRED, OutcomeStatus
from skipcall_bridge.common.ports import DeadLetterSink
from skipcall_bridge.skipcall.pacing import Pacing


class LetterPost:
    def __init__(
        self,
        dead_letters: DeadLetterSink,
        work: DeadLetterSink | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self._dead_letters = dead_letters
        self._work = work
        self._pacing = pacing or Pacing(lambda: None)

    @property
    def queues_work(self) -> bool:
        """A work queue is configured: what the worker can finish may wait there."""
        return self._work is not None

    def defers(self, letter: DeadLetter) -> bool:
        return self._work is not None and letter.retryable

    def status(self, letter: DeadLetter, otherwise: OutcomeStatus) -> OutcomeStatus:
        """The event's status once its letter is stored."""
        return DEFERRED if self.defers(letter) else otherwise

    def send(self, letters: Sequence[DeadLetter], source: str) -> list[DeadLetter]:
        """Stores each letter in its queue; returns those not stored, in order."""
        deferred = [letter for letter in letters if self.defers(letter)]
        dead = [letter for letter in letters if not self.defers(letter)]
        unstored: list[DeadLetter] = []
        if deferred:
            assert self._work is not None
            by_delay: defaultdict[int, list[DeadLetter]] = defaultdict(list)
            for letter in deferred:
                by_delay[self._pacing.delay()].append(letter)
            refused = [
                letter
                for delay, group in by_delay.items()
                for letter in _send(self._work, group, delay)
            ]
            unstored += refused
            _count("EventsDeferred", source, _stored(deferred, refused))
        if dead:
            refused = _send(self._dead_letters, dead, 0)
            unstored += refused
            stored = _stored(dead, refused)
            if stored:
                metrics.add_metric(
                    name="DeliveriesDeadLettered", unit=MetricUnit.Count, value=len(stored)
                )
            _count("EventsDeadLettered", source, stored)
        order = {id(letter): position for position, letter in enumerate(letters)}
        return sorted(unstored, key=lambda letter: order[id(letter)])


def _send(queue: DeadLetterSink, letters: list[DeadLetter], delay: int) -> list[DeadLetter]:
    try:
        return queue.send(letters, delay)
    except Exception:  # a bug in the adapter: nothing can be known to be stored
        logger.exception("Queue failed unexpectedly")
        return list(letters)


def _stored(letters: list[DeadLetter], refused: list[DeadLetter]) -> list[DeadLetter]:
    refused_ids = {id(letter) for letter in refused}
    return [letter for letter in letters if id(letter) not in refused_ids]


def _count(metric: str, source: str, letters: list[DeadLetter]) -> None:
    if letters:
        count_by_reason(metric, source, dict(Counter(x.reason.value for x in letters)))
