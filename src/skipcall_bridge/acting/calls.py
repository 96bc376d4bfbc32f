"""The acting core's calls to Skipcall: each once the pacer lets it go and while the deadline
leaves time, a client that raises turned into a failure, what was done counted (the receiver's
metrics), and a failure logged."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.acting.membership import Change
from skipcall_bridge.acting.pacing import Pacer
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.ports import SkipcallActions
from skipcall_bridge.skipcall.models import CallFailed, Created, CreateSequenceDto, Done

T = TypeVar("T")


class SkipcallCalls:
    def __init__(self, skipcall: SkipcallActions, pacer: Pacer, *, counts: bool) -> None:
        self._skipcall = skipcall
        self._pacer = pacer
        # The receiver publishes what it did; the worker's threads must not touch Metrics
        # (not thread-safe), and the replay's CLI prints no metrics.
        self._counts = counts

    def change(self, change: Change, deadline: Callable[[], Deadline]) -> Done | CallFailed:
        skipcall, sequence_id = self._skipcall, change.sequence_id

        def send(within: Deadline) -> Done | CallFailed:  # bodies built inside: a raise fails
            if change.action == "enrol":
                return skipcall.add_contacts(sequence_id, change.add_body(), within)
            return skipcall.remove_contacts(sequence_id, change.remove_body(), within)

        result = self._call(send, deadline, idempotent=True)
        if isinstance(result, CallFailed):
            logger.warning(
                "Skipcall did not change the sequence's contacts",
                extra={"action": change.action, "reason": result.reason, "error": result.error},
            )
        elif self._counts:
            name = "ContactsEnrolled" if change.action == "enrol" else "ContactsUnenrolled"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(change.contact_ids))
        return result

    def create(
        self, dto: CreateSequenceDto, deadline: Callable[[], Deadline]
    ) -> Created | CallFailed:
        skipcall = self._skipcall
        result = self._call(lambda within: skipcall.create(dto, within), deadline, idempotent=False)
        if isinstance(result, CallFailed):
            logger.warning(
                "Skipcall did not create the sequence",
                extra={"reason": result.reason, "attempts": result.attempts, "error": result.error},
            )
        elif self._counts:
            metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=1)
        return result

    def _call(
        self, call: Callable[[Deadline], T], deadline: Callable[[], Deadline], *, idempotent: bool
    ) -> T | CallFailed:
        """One Skipcall call, once the pacer lets it go, its latency published. A client that
        raises ends the call as a failure: one a replay may send again when the call is
        idempotent, else OUTCOME_UNKNOWN (the request may have gone out)."""
        held = self._pacer.before_call()
        if held is not None:
            return held
        within = deadline()
        if within.expired:
            return budget_exhausted()
        started = time.perf_counter()
        try:
            result: T | CallFailed = call(within)
        except Exception as exc:
            logger.exception("Skipcall client failed unexpectedly")
            result = CallFailed(
                Reason.SKIPCALL_UNAVAILABLE if idempotent else Reason.OUTCOME_UNKNOWN,
                retryable=idempotent,
                attempts=1,
                error=ErrorInfo(code="CLIENT_ERROR", message=describe(exc)),
            )
        if self._counts:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(
                name="SkipcallLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms
            )
        return result


def budget_exhausted() -> CallFailed:
    return CallFailed(
        reason=Reason.BUDGET_EXHAUSTED,
        retryable=True,
        attempts=0,
        error=ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left in the budget."),
    )


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
