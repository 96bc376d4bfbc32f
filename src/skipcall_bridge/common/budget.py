"""Time budgets: how long one delivery may spend talking to Skipcall."""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    """A point on the monotonic clock after which no further work should start."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + max(seconds, 0.0)

    def remaining(self) -> float:
        return max(self._at - self._clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def more(self, seconds: float) -> Deadline:
        """The same deadline, `seconds` later (still on the same clock)."""
        return Deadline(self.remaining() + seconds, self._clock)

    def less(self, seconds: float) -> Deadline:
        """The same deadline, `seconds` earlier: room kept back for work that must follow."""
        return Deadline(self.remaining() - seconds, self._clock)


class CallWindow:
    """How long the outside calls of the running invocation may still take. The receiver binds
    a delivery's answer deadline to it, so that each AWS call's timeouts and attempts come from
    the time left; unbound (the worker, the replay, the CLI), the clients' own limits apply.
    Lambda runs one invocation at a time in a container, and so does `make dev`'s gateway."""

    def __init__(self) -> None:
        self._deadline: Deadline | None = None

    def bind(self, deadline: Deadline | None) -> None:
        self._deadline = deadline

    def remaining(self) -> float | None:
        """Seconds left, or None: no bound."""
        return None if self._deadline is None else self._deadline.remaining()
