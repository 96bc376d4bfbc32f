"""Where deferred events come back: while Skipcall's window is spent, each books a place in the
first window from the reset that this container has not filled, so a backlog returns a window's
worth at a time. Clocks are injected."""

from __future__ import annotations

from collections import Counter

from skipcall_bridge.skipcall.pacing import MAX_DELAY_SECONDS, Pacing
from skipcall_bridge.skipcall.retry import RateLimit

NOW = 1_800_000_000.0


def pacing(limit: RateLimit | None, window: float = 60.0) -> Pacing:
    return Pacing(lambda: limit, window_seconds=window, wall_clock=lambda: NOW)


def test_nothing_waits_while_the_window_has_room_or_nothing_is_known() -> None:
    assert pacing(None).delay() == 0
    assert pacing(RateLimit(limit=100, remaining=3, reset_epoch=NOW + 30)).delay() == 0
    spent_long_ago = RateLimit(limit=100, remaining=0, reset_epoch=NOW - 5)
    assert pacing(spent_long_ago).delay() == 0
    assert not pacing(spent_long_ago).window_closed()


def test_a_backlog_is_spread_a_window_s_limit_at_a_time() -> None:
    spent = RateLimit(limit=100, remaining=0, reset_epoch=NOW + 12)
    paced = pacing(spent)
    assert paced.window_closed()
    delays = Counter(paced.delay() for _ in range(350))
    assert delays == {12: 100, 72: 100, 132: 100, 192: 50}


def test_nothing_is_delayed_beyond_what_sqs_allows() -> None:
    paced = pacing(RateLimit(limit=1, remaining=0, reset_epoch=NOW + 1), window=60.0)
    delays = [paced.delay() for _ in range(40)]
    assert max(delays) == MAX_DELAY_SECONDS
    assert delays[:3] == [1, 61, 121]


def test_windows_that_have_passed_are_forgotten() -> None:
    now = [NOW]
    limit = [RateLimit(limit=2, remaining=0, reset_epoch=NOW + 10)]
    paced = Pacing(lambda: limit[0], wall_clock=lambda: now[0])
    assert [paced.delay() for _ in range(3)] == [10, 10, 70]
    now[0] = NOW + 200  # later: a new window spent, the old bookings gone
    limit[0] = RateLimit(limit=2, remaining=0, reset_epoch=NOW + 205)
    assert [paced.delay() for _ in range(3)] == [5, 5, 65]
    assert len(paced._booked) == 2  # only the windows still ahead


def test_an_event_refused_while_the_headers_left_room_looks_again_a_second_later() -> None:
    """This container's estimate of the key's other traffic refused the event a request: put
    back at once it would only be refused again; at the reset it would wait a window for an
    estimate. A second later, the answers in flight have told more."""
    open_window = RateLimit(limit=100, remaining=3, reset_epoch=NOW + 30)
    assert pacing(open_window).delay() == 0
    assert pacing(open_window).delay(refused=True) == 1
    assert pacing(None).delay(refused=True) == 1
    spent = RateLimit(limit=100, remaining=0, reset_epoch=NOW + 30)
    assert pacing(spent).delay(refused=True) == 30  # a 429 or headers that say spent: the reset
