"""What one container knows of Skipcall's rate-limit window, and whether a request may start.

Every answer carries the window's limit, what is left in it and its reset, and every container of
a key spends the same window. A container counts its own requests in flight against what is left
and, from how fast `remaining` fell between two answers beyond its own requests, how much the
other containers have likely spent since its last answer. A request starts only while that
estimate leaves one: near a window's end, containers stop before they all meet a 429. While the
headers still leave room and nothing of its own is in flight, a worker asks with one request a
second: an estimate alone never leaves the window's last places to its reset.
"""

from __future__ import annotations

import threading

from skipcall_bridge.skipcall.retry import RateLimit

# While only the estimate of the others' traffic says the window is spent, one request a second
# may still ask (see `try_start`).
ASK_INTERVAL_SECONDS = 1.0


class WindowView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Whether one request a second may ask while only the estimate says spent (`try_start`):
        # the worker's, which must finish what was deferred to it. A receiver defers instead: its
        # asking would only add 429s when many containers meet a window's end together.
        self.asks = False
        self.last: RateLimit | None = None  # the lowest `remaining` heard for the latest window
        self._heard_at = 0.0  # when `last` was heard
        self._own_answers = 0  # answers to this container since then
        self._others_per_second: float | None = None  # the rest of the key's traffic
        self._in_flight = 0  # requests started and not answered
        self._asked_at = float("-inf")  # when a request last started on the headers alone

    def try_start(self, now: float) -> float:
        """0: a request may start (counted in flight until `ended`); else the seconds until the
        window reopens."""
        with self._lock:
            closed = self._closed_for(now)
            if closed > 0 and self._may_ask(now):
                # Only the estimate says spent, and nothing of ours is in flight to tell more:
                # one request asks, at most one a second. Without it, containers that all
                # stopped on their estimates would leave the window's last places unused
                # until its reset (a minute), each waiting for the others' answers.
                self._asked_at, closed = now, 0.0
            if closed <= 0:
                self._in_flight += 1
            return closed

    def ended(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def note(self, seen: RateLimit | None, now: float) -> None:
        """An answer's headers. Answers to requests in flight together arrive in any order: a
        higher `remaining` for the same window is older news, and only counts as an answer."""
        if seen is None:
            return
        with self._lock:
            last = self.last
            self._own_answers += 1
            if last is None or last.reset_epoch != seen.reset_epoch:
                self.last, self._heard_at, self._own_answers = seen, now, 0
                self._others_per_second = None
                return
            if seen.remaining >= last.remaining:
                return
            elapsed = now - self._heard_at
            if elapsed > 0:
                # Of the requests the window counted since, this container's own are at most
                # those answered and those still in flight (some may have reached Skipcall):
                # counting only the answers would charge our own concurrent requests to the
                # others, and close the window to every request until its reset.
                own = self._own_answers + self._in_flight
                others = max(last.remaining - seen.remaining - own, 0) / elapsed
                previous = self._others_per_second
                self._others_per_second = others if previous is None else (previous + others) / 2
            self.last, self._heard_at, self._own_answers = seen, now, 0

    def _may_ask(self, now: float) -> bool:
        last = self.last
        return (
            self.asks
            and self._in_flight == 0
            and last is not None
            and last.remaining >= 1
            and now - self._asked_at >= ASK_INTERVAL_SECONDS
        )

    def replace(self, limit: RateLimit | None) -> None:
        """Take `limit` as all that is known (None: nothing, as a new container)."""
        with self._lock:
            self.last, self._others_per_second, self._own_answers = limit, None, 0

    def _closed_for(self, now: float) -> float:
        last = self.last
        if last is None or last.reset_epoch <= now:
            return 0.0  # nothing known, or a window that has ended: the next answer tells
        others = (self._others_per_second or 0.0) * max(now - self._heard_at, 0.0)
        if last.remaining - self._in_flight - others >= 1:
            return 0.0
        return last.reset_epoch - now
