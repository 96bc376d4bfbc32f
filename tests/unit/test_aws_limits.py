"""Each AWS call on the receiver's path takes its timeouts and attempts from the time left, so no
call outlives the delivery's answer; the worker, the replay and the CLI use adaptive retries.
Clients are made here without a socket (botocore connects on the first call only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.aws.config import (
    BOUNDED,
    SERVICES,
    TRACING_SERVICES,
    UNBOUNDED,
    AwsClients,
    CallLimits,
    limits_within,
)
from skipcall_bridge.common.budget import CallWindow, Deadline
from skipcall_bridge.common.errors import OutOfTime, Unavailable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(min_value=0, max_value=60, allow_nan=False))
def test_a_bounded_call_never_outlives_the_time_left(seconds: float) -> None:
    limits = limits_within(seconds)
    if seconds < BOUNDED[-1].worst_case:
        assert limits is None
    else:
        assert limits is not None
        assert limits.worst_case <= seconds
        assert limits.mode == "standard"


def test_the_limits_narrow_as_time_runs_out_and_only_a_long_wait_gets_a_second_attempt() -> None:
    worst = [limits.worst_case for limits in BOUNDED]
    assert worst == sorted(worst, reverse=True)
    # A second attempt may wait 6 s first (a throttle's x-amz-retry-after): only then.
    assert [limits.attempts for limits in BOUNDED] == [2, 1, 1, 1, 1, 1]
    assert CallLimits(connect=1, read=2, attempts=2).worst_case == 12.0
    assert limits_within(5.0) == CallLimits(connect=1.0, read=3.0, attempts=1)
    assert limits_within(1.2) == CallLimits(connect=0.3, read=0.7, attempts=1)


def test_without_a_bound_calls_retry_adaptively() -> None:
    assert limits_within(None) is UNBOUNDED
    assert UNBOUNDED.mode == "adaptive"
    assert UNBOUNDED.attempts > 1


def test_a_client_fits_the_windows_time_left_and_is_made_once_per_limit() -> None:
    clock = Clock()
    window = CallWindow()
    clients = AwsClients("dynamodb", "eu-west-1", window)
    window.bind(Deadline(5.0, clock))
    first = clients.now()
    assert first.meta.config.read_timeout == 3.0
    assert first.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert clients.now() is first
    clock.now = 4.0  # one second left
    late = clients.now()
    assert late is not first
    assert late.meta.config.read_timeout + late.meta.config.connect_timeout <= 1.0
    clock.now = 4.9
    with pytest.raises(OutOfTime):
        clients.now()
    assert issubclass(OutOfTime, Unavailable)  # answered as AWS being unreachable: 503
    assert clients.made == 2
    window.bind(None)
    assert clients.now().meta.config.retries["mode"] == "adaptive"


def test_prepare_makes_the_client_a_delivery_starts_with() -> None:
    window = CallWindow()
    clients = AwsClients("sqs", "eu-west-1", window)
    clients.prepare(5.0)
    window.bind(Deadline(5.0, Clock()))
    assert clients.made == 1
    clients.now()
    assert clients.made == 1


def test_only_the_services_whose_data_ships_can_have_clients() -> None:
    with pytest.raises(ValueError, match="SERVICES"):
        AwsClients("s3", "eu-west-1")
    assert set(SERVICES) == {"dynamodb", "secretsmanager", "sqs"}


def test_the_artifact_keeps_botocore_data_for_exactly_the_services_clients_are_made_for() -> None:
    root = Path(__file__).resolve().parents[2]
    makefile = (root / "src" / "Makefile").read_text()
    shipped = re.search(r"^AWS_SERVICES := (.+)$", makefile, re.MULTILINE)
    assert shipped is not None
    assert sorted(shipped.group(1).split()) == sorted(SERVICES + TRACING_SERVICES)
    made = {
        match
        for path in (root / "src" / "skipcall_bridge").rglob("*.py")
        for match in re.findall(r'AwsClients\(\s*"([a-z0-9-]+)"', path.read_text())
    }
    assert made == set(SERVICES)
