"""DLQ redrive, as the scheduled ReplayFunction (replay_handler.py) and `skipcall-bridge replay`
run it: which letters are taken, and what becomes of each message. What one letter's events do
once more is `LetterRuns`' (through the acting core), which the work queue's worker runs too.

Each letter's events are acted on again (the same action: create, enrol or unenrol), paced by
Skipcall's X-RateLimit-* headers,
under the one key each event has (`event_state`), so a sender's retry, the worker and a replay
never create a sequence twice. An enrol or unenrol letter keeps its resolved target and contact
ids; a target created by name whose link was not written is linked first, never created again.
A MAPPING_FAILED letter, or one whose identities could not be
resolved, is mapped again from its payload with the current sources file; a letter that kept
the whole body has its events selected again exactly as a delivery would (the filter, the batch
split, the delivery ids). A success deletes the message. A failure goes back with attempts + 1
and the failure's reason; once `max_attempts` replay runs have failed it stays with
retryable=false (`--include-given-up` sends it once more). OUTCOME_UNKNOWN letters (Skipcall may
have created them) are left for a person unless `--include-unknown` or the source's
`onUnknownOutcome: "retry"` says otherwise.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from skipcall_bridge.acting.core import ActingCore
from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.acting.pacing import DeferringPacer, SleepingPacer
from skipcall_bridge.acting.records import EventRecords
from skipcall_bridge.acting.state import Actor
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import IdempotencyGuard, PacedActions, ReplayQueue
from skipcall_bridge.letters.runs import Finished, Kept, LetterRuns
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.sources.identity import IdentityServices

ReplayOutcome = Literal[
    "replayed",  # done now (created, enrolled, unenrolled)
    "already-created",  # a replay had created it before (its message came back)
    "ignored",  # a kept body whose selection now finds nothing to do
    "failed",  # not created; back in the queue with attempts + 1
    "gave-up",  # not created at its last attempt; kept with retryable=false
    "not-retryable",  # left in place: needs a fix or a person's check first
    "skipped",  # not selected by the filters
    "duplicate",  # another letter of the event is the one kept for a person: this one goes
    "busy",  # another run holds it, or deduplication is down: left for later
    "would-replay",  # --dry-run
    "would-fail",  # --dry-run: an event would fail to map again with today's sources
]
# the outcomes after which a letter has left the queue: its events are done, now or before
DONE: frozenset[ReplayOutcome] = frozenset({"replayed", "already-created", "ignored"})
OUTCOMES: tuple[ReplayOutcome, ...] = (
    "replayed", "already-created", "ignored", "failed", "gave-up", "not-retryable", "busy",
    "duplicate", "would-replay", "would-fail",
)  # fmt: skip


@dataclass(frozen=True)
class ReplayFilter:
    source: str | None = None
    reason: Reason | None = None
    max_messages: int | None = None
    dry_run: bool = False
    include_unknown: bool = False  # OUTCOME_UNKNOWN letters too (a duplicate is possible)
    include_given_up: bool = False  # letters kept after max_attempts failed runs, once more
    delivery_id: str | None = None  # only this delivery's letter (the inspector's button)

    def selects(self, letter: DeadLetter) -> bool:
        return (
            (self.source is None or letter.source == self.source)
            and (self.reason is None or letter.reason == self.reason)
            and (self.delivery_id is None or letter.delivery_id == self.delivery_id)
        )


@dataclass
class ReplaySummary:
    counts: Counter[tuple[str, ReplayOutcome]] = field(default_factory=Counter)
    # a dry run's letters that would fail: (source, delivery id, why)
    would_fail: list[tuple[str, str, str]] = field(default_factory=list)
    # each letter the run handled: (source, delivery id, outcome)
    letters: list[tuple[str, str, ReplayOutcome]] = field(default_factory=list)
    # the letters left `not-retryable`: (source, delivery id, why in words, whether the
    # filters that send such letters anyway, --include-unknown/--include-given-up, would)
    held_back: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def add(self, reason: str, outcome: ReplayOutcome) -> None:
        self.counts[(reason, outcome)] += 1

    def total(self, outcome: ReplayOutcome) -> int:
        return sum(n for (_, kind), n in self.counts.items() if kind == outcome)

    def as_dict(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for (reason, outcome), count in sorted(self.counts.items()):
            table.setdefault(reason, {})[outcome] = count
        return table


class UnitTimeLimit:
    """Stands in for a Lambda context outside Lambda (the CLI): an interrupted replay holds
    its record only for one unit's budget plus a margin, not for the record's whole life."""

    def __init__(self, budget_seconds: float, margin_seconds: float = 5.0) -> None:
        self._millis = int((budget_seconds + margin_seconds) * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self._millis


class Replayer:
    def __init__(
        self,
        catalog: SourceCatalog,
        queue: ReplayQueue,
        skipcall: PacedActions,
        guard: IdempotencyGuard,
        *,
        identity: IdentityServices | None = None,
        namer: SequenceNamer,
        max_attempts: int = 5,
        budget_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        actor: Actor = "replay",
    ) -> None:
        self._catalog = catalog
        self._queue = queue
        self._records = EventRecords(guard)
        self._max_attempts = max_attempts
        self._budget = budget_seconds
        # The worker does not sleep through a rate-limit window: its message waits instead.
        pacer = (
            DeferringPacer(skipcall, wall_clock)
            if actor == "worker"
            else SleepingPacer(skipcall, sleep, wall_clock)
        )
        acting = ActingCore(skipcall, namer, identity, pacer=pacer, counts=False)
        self._runs = LetterRuns(
            catalog, acting, self._records, actor=actor, budget_seconds=budget_seconds
        )
        self._context_registered = False

    @property
    def actor(self) -> Actor:
        return self._runs.actor

    def register(self, lambda_context: Any) -> None:
        self._records.register(lambda_context)
        self._context_registered = True

    def run(
        self,
        filters: ReplayFilter,
        *,
        keep_going: Callable[[], bool] = lambda: True,
        progress: Callable[[int], None] = lambda done: None,
    ) -> ReplaySummary:
        if not self._context_registered:
            self._records.register(UnitTimeLimit(self._budget))
        summary = ReplaySummary()
        held: list[str] = []  # receipts left in flight until the end, then released
        attempted: set[tuple[str, str]] = set()
        done = 0
        while keep_going() and (filters.max_messages is None or done < filters.max_messages):
            batch = self._queue.receive(10)
            fresh = [item for item in batch if _key(item.letter) not in attempted]
            held.extend(item.receipt for item in batch if item not in fresh)
            if not fresh:
                break  # empty, or only what this run already handled
            for item in fresh:
                if filters.max_messages is not None and done >= filters.max_messages:
                    held.append(item.receipt)
                    continue
                letter: DeadLetter | None = item.letter
                if letter is None or not filters.selects(letter):
                    held.append(item.receipt)
                    if letter is not None:
                        summary.add(letter.reason.value, "skipped")
                    continue
                attempted.add(_key(letter))
                outcome = self._one(item.receipt, letter, filters, summary)
                if outcome in ("not-retryable", "busy", "would-replay", "would-fail"):
                    held.append(item.receipt)
                done += 1
                progress(done)
        for receipt in held:
            self._queue.release(receipt)
        logger.info("Replay finished", extra={"outcomes": summary.as_dict()})
        return summary

    def held_back_because(self, letter: DeadLetter) -> tuple[str, bool]:
        """Why a letter is not replayed unasked, in words, and whether asking sends it (the
        inspector's "Replay anyway", `--include-unknown`, `--include-given-up`)."""
        if letter.reason is Reason.OUTCOME_UNKNOWN:
            return (
                "Skipcall may have created it already: the call's outcome is unknown. Look in "
                "Skipcall first; replaying it may create it a second time.",
                True,
            )
        if self.given_up(letter):
            return (
                f"It failed {letter.attempts - 1} replay runs, the most allowed "
                f"({self._max_attempts}); the last error: {letter.error.message}",
                True,
            )
        return (
            f"It is not retryable ({letter.reason.value}: {letter.error.message}): sent again "
            "unchanged, it would fail the same way. Fix the cause, then have the sender send "
            "it again.",
            False,
        )

    def given_up(self, letter: DeadLetter) -> bool:
        """`attempts` counts the receiver's try and each failed replay run."""
        return letter.attempts - 1 >= self._max_attempts

    def _eligible(self, letter: DeadLetter, source: Source | None, filters: ReplayFilter) -> bool:
        if letter.reason is Reason.OUTCOME_UNKNOWN:  # asked for by name, given up or not
            opted_in = source is not None and source.config.on_unknown_outcome == "retry"
            if not (filters.include_unknown or opted_in):
                return False
        if self.given_up(letter):
            return filters.include_given_up
        if letter.reason is Reason.OUTCOME_UNKNOWN:
            return True
        # A mapping is re-run with the current sources file; a rejected request needs a fix.
        return letter.retryable or letter.reason is Reason.MAPPING_FAILED

    def _one(
        self, receipt: str, letter: DeadLetter, filters: ReplayFilter, summary: ReplaySummary
    ) -> ReplayOutcome:
        """One selected letter replayed (or, in a dry run, mapped again), counted."""
        outcome: ReplayOutcome
        reason = letter.reason
        if not self._eligible(letter, self._catalog.get(letter.source), filters):
            outcome = "not-retryable"
            why, anyway = self.held_back_because(letter)
            summary.held_back.append((letter.source, letter.delivery_id, why, anyway))
        elif filters.dry_run:  # mapped again as the replay would, nothing sent
            problems = self._runs.rehearse(letter)
            outcome = "would-fail" if problems else "would-replay"
            if problems:
                reason = Reason.MAPPING_FAILED
                summary.would_fail.append((letter.source, letter.delivery_id, "; ".join(problems)))
        else:
            outcome, reason = self._replay(receipt, letter)
        summary.add(reason.value, outcome)
        summary.letters.append((letter.source, letter.delivery_id, outcome))
        return outcome

    def _replay(self, receipt: str, letter: DeadLetter) -> tuple[ReplayOutcome, Reason]:
        finished = self.finish(letter)
        if finished.failure is not None:
            return self._requeue(receipt, letter, finished.failure), finished.failure.reason
        outcome = finished.outcome
        if outcome == "busy":
            return "busy", letter.reason
        self._queue.delete(receipt)
        if outcome == "already-dead-lettered":  # a second letter of an event (SQS's redrive)
            logger.warning("Duplicate letter removed", extra={"deliveryId": letter.delivery_id})
            return "duplicate", letter.reason
        return outcome, letter.reason

    def finish(self, letter: DeadLetter, *, last_attempt: bool = False) -> Finished:
        """Acts on each event of the letter once (claim, act, record), as the scheduled replay
        and the work queue's worker both do. `last_attempt`: a failure ends the message even
        when it is retryable (the worker's last receive)."""
        return self._runs.finish(letter, last_attempt=last_attempt)

    def settle(self, kept: Kept) -> None:
        """The kept failure's letter is stored: a later delivery of the message just leaves."""
        self._runs.settle(kept)

    def _requeue(self, receipt: str, letter: DeadLetter, failure: CallFailed) -> ReplayOutcome:
        again = attempted_again(letter, failure)
        exhausted = self.given_up(again)
        if exhausted:
            again = again.model_copy(update={"retryable": False})
        if self._queue.send([again]):  # first the new copy, then the old one goes
            raise Unavailable("The dead-letter queue did not take the letter back.")
        self._queue.delete(receipt)
        return "gave-up" if exhausted else "failed"


def attempted_again(letter: DeadLetter, failure: CallFailed) -> DeadLetter:
    """The letter after one more failed attempt: that failure's reason, error and verdict."""
    return letter.model_copy(
        update={
            "attempts": letter.attempts + 1,
            "reason": failure.reason,
            "error": failure.error,
            "retryable": failure.retryable,
        }
    )


def _key(letter: DeadLetter | None) -> tuple[str, str]:
    return ("", "") if letter is None else (letter.source, letter.delivery_id)
