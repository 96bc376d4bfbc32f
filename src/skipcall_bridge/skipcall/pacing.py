"""When a deferred event should come back: in a Skipcall window that still has room for it.

Skipcall grants each key `X-RateLimit-Limit` requests a window (a minute on every plan). When the
last answer said the window is spent, an event put back at once would only meet a 429, and a
backlog put back "at the reset" would all come back together, a window's worth done and the rest
put back again. So each deferral books a place: the first window from the reset that this
container has not already filled with its own deferrals (`limit` places each), and comes back
when that window opens. Containers book on their own; what one overbooks, the worker puts back
into its own next free place (a new message, so waiting for room never spends a receive).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from skipcall_bridge.skipcall.retry import RateLimit

# SQS's DelaySeconds ceiling: a place further out comes back then, and is booked again.
MAX_DELAY_SECONDS = 900
# Skipcall's plans count requests per minute (X-RateLimit-Limit is "per minute").
DEFAULT_WINDOW_SECONDS = 60.0


class Pacing:
    def __init__(
        self,
        rate_limit: Callable[[], RateLimit | None],
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._rate_limit = rate_limit
        self._window = window_seconds
        self._wall_clock = wall_clock
        self._booked: dict[int, int] = {}  # window start (Unix seconds) -> places booked
        self._lock = threading.Lock()

    def window_closed(self) -> bool:
        """Whether Skipcall's last answer left no request in its window, until its reset."""
        rate = self._rate_limit()
        return rate is not None and rate.closed_for(self._wall_clock()) > 0

    def delay(self, *, refused: bool = False) -> int:
        """Seconds until a place for one more deferred event: 0 while the window is open as
        far as this container knows; else the opening of the first window from the reset that
        this container has not filled yet (at most MAX_DELAY_SECONDS). `refused`: the event
        was refused a request while the last headers left room (this container's estimate of
        the key's other traffic, its own requests in flight): it looks again a second later,
        once their answers have told more, rather than at once."""
        rate, now = self._rate_limit(), self._wall_clock()
        if rate is None or rate.closed_for(now) <= 0:
            return 1 if refused else 0
        places = max(rate.limit, 1)
        with self._lock:
            for start in [start for start in self._booked if start < now]:
                del self._booked[start]  # past windows: nothing to keep per container
            window = 0
            while True:
                start = math.ceil(rate.reset_epoch + window * self._window)
                if start - now > MAX_DELAY_SECONDS:
                    return MAX_DELAY_SECONDS
                if self._booked.get(start, 0) < places:
                    self._booked[start] = self._booked.get(start, 0) + 1
                    return max(math.ceil(start - now), 1)
                window += 1
