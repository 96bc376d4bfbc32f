"""The work queue's worker: finishes what the receiver deferred.

Each message is a letter the receiver claimed and recorded as `deferred`: its budget was spent,
or Skipcall asked to slow down or was briefly unavailable. The worker acts on it with the
replay's runs (`Replayer.finish`: take the event's one key, act, record), so a worker, a second
delivery of the same message and the replay never act on an event twice: an event reaches the
DLQ from the worker only when the worker did not do it.

A message's fate:
- done (or done before): it leaves the queue;
- Skipcall's window is spent (a 429, or the last answer said so and nothing was sent): nothing
  was done and nothing failed, the event only waits for room. It is put back as a new message,
  delayed to a window with a place for it (`Pacing`), and this one leaves: waiting, even through
  a backlog of many windows, never spends the receives SQS counts towards its redrive;
- another failure the worker may still overcome (503, no time, another run holds it): it stays,
  hidden for a backoff that grows with each receive, and comes back;
- a failure that needs a person or a later replay (a mapping failure, an unknown outcome, a
  rejection), or the receive before the last one SQS allows: its letter goes to the dead-letter
  queue with that failure, the event's record keeps that (a second delivery of the message
  stores nothing and acts on nothing), and the message leaves the queue. SQS's own redrive to
  the DLQ is left for a worker that crashed or timed out on every receive: it moves the letter
  as the receiver wrote it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import DeadLetterSink, WorkQueue
from skipcall_bridge.letters.replay import Replayer, attempted_again
from skipcall_bridge.letters.runs import Finished
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.skipcall.pacing import Pacing
from skipcall_bridge.skipcall.retry import RateLimit

BUSY_WAIT_SECONDS = 5  # another run holds the event: it ends within its invocation's time
FIRST_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 900
DEAD_LETTER_DOWN_WAIT_SECONDS = 30
# A key throttled for longer than this needs a person: the event then waits as other failures
# do, spending receives, and reaches the DLQ.
MAX_RATE_LIMITED_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Verdict:
    """`leaves`: the message may be deleted; else it comes back after `wait_seconds`."""

    leaves: bool
    kept: str  # what became of it, for the logs and the metrics
    wait_seconds: int = 0


class Worker:
    def __init__(
        self,
        replayer: Replayer,
        work_queue: WorkQueue,
        dead_letters: DeadLetterSink,
        *,
        max_receives: int,
        rate_limit: Callable[[], RateLimit | None] = lambda: None,
        pacing: Pacing | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if replayer.actor != "worker":  # a failure put back would be acted on again
            raise ValueError("the worker needs a replayer that acts as the worker")
        self._replayer = replayer
        self._work_queue = work_queue
        self._dead_letters = dead_letters
        self._max_receives = max_receives
        self._rate_limit = rate_limit
        self._pacing = pacing or Pacing(rate_limit, wall_clock=wall_clock)
        self._wall_clock = wall_clock

    def register(self, lambda_context: Any) -> None:
        """Claims taken in this invocation lapse with it, should it be cut short."""
        self._replayer.register(lambda_context)

    def postpone(self, receipt: str, seconds: int) -> None:
        self._work_queue.postpone(receipt, seconds)

    def handle(self, body: str, receive_count: int) -> Verdict:
        try:
            letter = DeadLetter.model_validate_json(body)
        except ValidationError:
            # Not an envelope this worker can read (a newer version's?): SQS moves it to the
            # DLQ after its last receive, where a person sees it as it is.
            logger.error("Work message unreadable", extra={"receiveCount": receive_count})
            return Verdict(False, "unreadable", self._backoff(receive_count))
        # The last try is the receive before SQS's last: should the worker die after storing
        # the letter, the spare receive finds the record and leaves, rather than SQS moving the
        # message to the DLQ a second time.
        last = receive_count >= self._max_receives - 1
        if self._pacing.window_closed() and self._young(letter):
            # Skipcall has no room now: put back before claiming anything or sending.
            return self._put_back(letter, receive_count)
        finished = self._replayer.finish(letter, last_attempt=last)
        if finished.outcome == "busy":
            return Verdict(False, "busy", BUSY_WAIT_SECONDS)
        if finished.outcome == "already-dead-lettered":  # an earlier receive stored its letter
            return Verdict(True, "dead-lettered")
        if finished.failure is None:
            return Verdict(True, finished.outcome)
        return self._failed(letter, finished, receive_count, last=last)

    def _failed(
        self, letter: DeadLetter, finished: Finished, receive_count: int, *, last: bool
    ) -> Verdict:
        failure = finished.failure
        assert failure is not None
        if finished.kept is None and failure.reason is Reason.RATE_LIMITED and self._young(letter):
            return self._put_back(letter, receive_count)
        if finished.kept is None and failure.retryable and not last:
            logger.info(
                "Deferred event not finished yet",
                extra={"reason": failure.reason, "receiveCount": receive_count},
            )
            return Verdict(False, "retry", self._wait(failure.reason, receive_count))
        verdict = self._dead_letter(letter, failure)
        if verdict.leaves and finished.kept is not None:
            self._replayer.settle(finished.kept)
        return verdict

    def _young(self, letter: DeadLetter) -> bool:
        return self._wall_clock() - letter.received_at.timestamp() < MAX_RATE_LIMITED_SECONDS

    def _put_back(self, letter: DeadLetter, receive_count: int) -> Verdict:
        """A new message for the event, in a window with room; this one leaves. When the queue
        does not take it, this message waits instead, hidden until the window reopens."""
        if not self._work_queue.send([letter], self._pacing.delay(refused=True)):
            logger.info("Deferred event put back until Skipcall has room")
            return Verdict(True, "put-back")
        return Verdict(False, "retry", self._wait(Reason.RATE_LIMITED, receive_count))

    def _dead_letter(self, letter: DeadLetter, failure: CallFailed) -> Verdict:
        # The worker's receives count as one attempt: a retryable letter it gave up on is still
        # the scheduled replay's to send (ReplayMaxAttempts runs), as if the receiver had failed.
        again = attempted_again(letter, failure)
        if self._dead_letters.send([again]):  # not stored: the message stays and comes back
            return Verdict(False, "dead-letter-queue-down", DEAD_LETTER_DOWN_WAIT_SECONDS)
        logger.warning(
            "Deferred event dead-lettered",
            extra={"reason": failure.reason, "retryable": failure.retryable},
        )
        return Verdict(True, "dead-lettered")

    def _wait(self, reason: Reason, receive_count: int) -> int:
        if reason is Reason.RATE_LIMITED:
            limit = self._rate_limit()
            if limit is not None:
                reopens = limit.wait_before_next(self._wall_clock())
                if reopens > 0:
                    return math.ceil(reopens)
        return self._backoff(receive_count)

    @staticmethod
    def _backoff(receive_count: int) -> int:
        doublings = min(max(receive_count - 1, 0), 10)  # 10 s, 20 s, 40 s, … up to 15 minutes
        return min(FIRST_BACKOFF_SECONDS << doublings, MAX_BACKOFF_SECONDS)
