"""When to try Skipcall again. Pure: the client supplies clocks, randomness and sleeping.

urllib3's own Retry cannot see the delivery budget or X-RateLimit-Reset, which decide here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 1.0
    # An attempt that could not even connect and get an answer in this time is not started.
    min_attempt_seconds: float = 0.25
    # Waiting for a rate-limit window: a little past the reset, so the first request lands in it.
    reset_slack: float = 0.05

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2^(attempt-1))]."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** max(attempt - 1, 0))
        return ceiling * rand()

    def rate_limit_wait(self, reset_header: str | None, now_epoch: float) -> float | None:
        """Seconds until X-RateLimit-Reset (Unix seconds), or None when absent or unreadable."""
        if reset_header is None:
            return None
        try:
            reset = float(reset_header.strip())
        except ValueError:
            return None
        if not math.isfinite(reset) or reset <= 0:  # "inf", "nan": not a time
            return None
        return max(reset - now_epoch, 0.0) + self.reset_slack

    def fits(self, wait: float, remaining: float) -> bool:
        return wait + self.min_attempt_seconds <= remaining


@dataclass(frozen=True)
class RateLimit:
    """Skipcall's X-RateLimit-* headers: the window's limit, what is left, when it resets."""

    limit: int
    remaining: int
    reset_epoch: float

    def closed_for(self, now_epoch: float) -> float:
        """Seconds until this window's reset, while it has no request left (0: a call may go;
        once the reset has passed, the next answer tells the new window)."""
        if self.remaining > 0 or self.reset_epoch <= now_epoch:
            return 0.0
        return self.reset_epoch - now_epoch

    def wait_before_next(self, now_epoch: float, slack: float = 0.05) -> float:
        """Seconds to wait so the next request fits the window (0 while some are left)."""
        if self.remaining > 0:
            return 0.0
        return max(self.reset_epoch - now_epoch, 0.0) + slack


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """The headers, or None when one is missing or not a count or a time (a reset of "inf" or
    "nan" would otherwise reach the pacing's arithmetic)."""
    try:
        limit = RateLimit(
            limit=int(headers["X-RateLimit-Limit"]),
            remaining=int(headers["X-RateLimit-Remaining"]),
            reset_epoch=float(headers["X-RateLimit-Reset"]),
        )
    except (KeyError, ValueError, TypeError):
        return None
    if not math.isfinite(limit.reset_epoch) or limit.limit < 0 or limit.remaining < 0:
        return None
    return limit
