from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.skipcall.pacing import Pacing
from skipcall_bridge.skipcall.retry import RetryPolicy, parse_rate_limit

POLICY = RetryPolicy(base_delay=0.1, max_delay=1.0)


@given(attempt=st.integers(min_value=1, max_value=50), r=st.floats(min_value=0, max_value=1))
def test_backoff_is_jittered_below_an_exponential_ceiling(attempt: int, r: float) -> None:
    delay = POLICY.backoff(attempt, rand=lambda: r)
    assert 0 <= delay <= min(1.0, 0.1 * 2 ** (attempt - 1))


def test_rate_limit_wait_reads_the_reset_timestamp() -> None:
    assert POLICY.rate_limit_wait("1000", now_epoch=998.0) == pytest.approx(2.05)
    assert POLICY.rate_limit_wait("1000", now_epoch=1005.0) == pytest.approx(0.05)


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "-5"])
def test_unreadable_reset_means_plain_backoff(header: str | None) -> None:
    assert POLICY.rate_limit_wait(header, now_epoch=0.0) is None


def test_a_wait_fits_only_with_room_for_an_attempt_after_it() -> None:
    assert POLICY.fits(1.0, remaining=1.25)
    assert not POLICY.fits(1.0, remaining=1.2)


def test_a_window_is_closed_only_while_it_has_nothing_left_before_its_reset() -> None:
    from skipcall_bridge.skipcall.retry import RateLimit

    assert RateLimit(limit=20, remaining=3, reset_epoch=1_010.0).closed_for(1_000.0) == 0.0
    assert RateLimit(limit=20, remaining=0, reset_epoch=1_010.0).closed_for(1_000.0) == 10.0
    # the reset has passed: stale headers close nothing, the next answer tells the new window
    assert RateLimit(limit=20, remaining=0, reset_epoch=1_010.0).closed_for(1_011.0) == 0.0


@pytest.mark.parametrize("reset", ["inf", "-inf", "nan", "Infinity", "1e400"])
def test_a_reset_that_is_not_a_time_is_ignored_and_the_pacing_goes_on(reset: str) -> None:
    """Security review, finding 11: `X-RateLimit-Reset: inf` raised in Pacing (OverflowError)."""
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    assert parse_rate_limit(headers) is None
    assert RetryPolicy().rate_limit_wait(reset, 1_000.0) is None
    pacing = Pacing(lambda: parse_rate_limit(headers))
    assert pacing.delay(refused=True) == 1
    assert not pacing.window_closed()
