"""What every AWS client shares: one botocore session per container (endpoint and service data
load once), the region from AWS_REGION (botocore itself reads only AWS_DEFAULT_REGION, which
Lambda sets but local runs often do not), and limits that fit the time there is.

On the receiver's path a sender waits for the answer (HubSpot gives up after 5 s), so each call
takes its timeouts and attempts from the time left (`CallWindow`): botocore's standard retries
may wait up to 6 s before a second attempt (a throttle's `x-amz-retry-after`), so a call gets a
second attempt only when that still fits, and shorter timeouts as the deadline nears. Without a
bound (the worker, the replay, the CLI: nobody waits on them) the clients use adaptive retries.

The clients come from botocore, not boto3: boto3's import brings s3transfer and its resource
layer, about 20 ms of a cold start that no client here uses. The deployed artifact keeps
botocore's data only for SERVICES (src/Makefile).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from skipcall_bridge.common.errors import OutOfTime

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session

    from skipcall_bridge.common.budget import CallWindow

# Every AWS service this package creates a client for; src/Makefile ships botocore's data for
# these only, and for TRACING_SERVICES (a test keeps the lists equal).
SERVICES = ("dynamodb", "secretsmanager", "sqs")
# The X-Ray SDK makes an xray client (its sampler's) when the Tracer is created.
TRACING_SERVICES = ("xray",)


@dataclass(frozen=True)
class CallLimits:
    connect: float
    read: float
    attempts: int
    mode: Literal["standard", "adaptive"] = "standard"

    @property
    def worst_case(self) -> float:
        """The longest one call may take: every attempt timing out, and before each retry the
        longest wait botocore's standard retries allow (1 s for a throttle, plus up to 5 s more
        when AWS asks for it with x-amz-retry-after)."""
        return self.attempts * (self.connect + self.read) + (self.attempts - 1) * 6.0


# The receiver's limits, the widest first: a call made with `seconds` left takes the first whose
# worst case fits. Below the last, no call starts.
BOUNDED = (
    CallLimits(connect=1.0, read=2.0, attempts=2),  # 12 s
    CallLimits(connect=1.0, read=3.0, attempts=1),
    CallLimits(connect=0.5, read=1.5, attempts=1),
    CallLimits(connect=0.3, read=0.7, attempts=1),
    CallLimits(connect=0.2, read=0.3, attempts=1),
    CallLimits(connect=0.1, read=0.15, attempts=1),
)
# Nobody waits on the worker, the replay or the CLI: adaptive retries ride out throttling.
UNBOUNDED = CallLimits(connect=1.0, read=3.0, attempts=4, mode="adaptive")


def limits_within(seconds: float | None) -> CallLimits | None:
    """The limits of a call that must end within `seconds` (None: no bound). None: no call fits."""
    if seconds is None:
        return UNBOUNDED
    return next((limits for limits in BOUNDED if limits.worst_case <= seconds), None)


@functools.cache
def aws_session() -> Session:
    import botocore.session

    return botocore.session.get_session()


class AwsClients:
    """One service's clients, one per limit used (botocore fixes a client's timeouts when it is
    made), each made on first use. `now()` is the one that fits the window's time left."""

    def __init__(self, service: str, region: str | None, window: CallWindow | None = None) -> None:
        if service not in SERVICES:
            raise ValueError(f"{service} is not in SERVICES (add it there and to src/Makefile)")
        self._service = service
        self._region = region
        self._window = window
        self._clients: dict[CallLimits, Any] = {}
        self._lock = threading.Lock()

    def now(self) -> Any:
        """A client whose calls end within the time left (typed by the caller: botocore's
        clients are dynamic). Raises OutOfTime when no call fits."""
        limits = limits_within(None if self._window is None else self._window.remaining())
        if limits is None:
            raise OutOfTime
        return self._client(limits)

    def prepare(self, seconds: float | None = None) -> None:
        """The client a delivery of `seconds` starts with, made now, calling nothing (SnapStart's
        snapshot); unbound clients need no time."""
        limits = limits_within(seconds if self._window is not None else None)
        if limits is not None:
            self._client(limits)

    @property
    def made(self) -> int:
        """How many clients exist (one per limit used so far)."""
        return len(self._clients)

    def _client(self, limits: CallLimits) -> Any:
        client = self._clients.get(limits)
        if client is None:
            with self._lock:  # a delivery's threads may ask at once: one client per limit
                client = self._clients.get(limits)
                if client is None:
                    client = aws_session().create_client(
                        self._service, config=boto_config(self._region, limits)
                    )
                    self._clients[limits] = client
        return client


def boto_config(region: str | None, limits: CallLimits = UNBOUNDED) -> Config:
    from botocore.config import Config

    return Config(
        region_name=region,
        connect_timeout=limits.connect,
        read_timeout=limits.read,
        # total_max_attempts counts the first attempt too (botocore's max_attempts would not).
        retries={"mode": limits.mode, "total_max_attempts": limits.attempts},
    )


def aws_client(service: str, region: str | None) -> Any:
    """An unbounded client of the shared session, for tools that call AWS outside a delivery."""
    return AwsClients(service, region).now()


def condition_failed(exc: Exception) -> bool:
    """A conditional write refused because its condition did not hold (not an outage)."""
    error = getattr(exc, "response", {}).get("Error", {})
    return bool(error.get("Code") == "ConditionalCheckFailedException")
