"""Whether a call to Skipcall goes now: the receiver's client paces itself by the window it
knows (`Unpaced`), the replay sleeps through a spent window, the worker (and a sender's repeat)
defers the event instead."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.ports import PacedActions
from skipcall_bridge.skipcall.models import CallFailed

# Skipcall's windows are a minute: a replay never waits longer than one for its next request.
MAX_PACING_WAIT_SECONDS = 61.0


class Pacer(Protocol):
    def before_call(self) -> CallFailed | None:
        """None: the call may go now (perhaps after a wait); else why it is not sent."""


class Unpaced:
    """The receiver: its Skipcall client paces its own calls by the window it knows."""

    def before_call(self) -> CallFailed | None:
        return None


class SleepingPacer:
    """The replay: sleeps for the wait the last rate-limit headers ask for."""

    def __init__(
        self,
        skipcall: PacedActions,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._skipcall, self._sleep, self._wall_clock = skipcall, sleep, wall_clock

    def before_call(self) -> CallFailed | None:
        limit = self._skipcall.rate_limit
        if limit is not None:
            wait = limit.wait_before_next(self._wall_clock())
            if wait > 0:
                self._sleep(min(wait, MAX_PACING_WAIT_SECONDS))
        return None


class DeferringPacer:
    """The worker (and a sender's repeat): never sleeps through a spent window; the event
    fails RATE_LIMITED without a call, and its message waits in its queue instead."""

    def __init__(self, skipcall: PacedActions, wall_clock: Callable[[], float] = time.time) -> None:
        self._skipcall, self._wall_clock = skipcall, wall_clock

    def before_call(self) -> CallFailed | None:
        limit = self._skipcall.rate_limit
        if limit is None:
            return None
        now = self._wall_clock()
        # once the last answer's reset has passed, the next call learns the new window's
        if limit.closed_for(now) > 0:
            return window_closed(limit.wait_before_next(now))
        return None


def window_closed(wait_seconds: float) -> CallFailed:
    """Not sent: Skipcall's rate-limit window has no request left until its reset."""
    error = ErrorInfo(
        status=429,
        code="RATE_LIMIT_WINDOW",
        message=f"Skipcall's rate-limit window reopens in {wait_seconds:.1f} s; not sent.",
    )
    return CallFailed(Reason.RATE_LIMITED, retryable=True, attempts=0, error=error)
