"""Requests to Skipcall over urllib3: one keep-alive pool per container, the API key from its
secret, timeouts that fit the deadline, retries inside it, and the rate-limit window this
container knows (`WindowView`): an attempt starts only when the window has a place for it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge import __version__
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import ConfigurationError, Unavailable
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.observability import metrics
from skipcall_bridge.common.ports import ApiKeySource
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.skipcall.retry import RetryPolicy, parse_rate_limit
from skipcall_bridge.skipcall.window import WindowView

MAX_ERROR_MESSAGE = 300
# Failures worth another attempt inside the same budget (other 4xx are final for this call).
RETRY_NOW = frozenset({Reason.SKIPCALL_UNAVAILABLE, Reason.RATE_LIMITED})
NOT_CONNECTED = "NOT_CONNECTED"  # the error code of a request that never left
# Answers an operator watches: throttling, and a key that is wrong or revoked.
ANSWERS_COUNTED = {429: "SkipcallRateLimited", 401: "SkipcallUnauthorized"}
# Connections kept per host: one for each request a container's threads may have in flight
# (a source's `concurrency` is at most 16).
POOL_CONNECTIONS = 16


class Transport:
    def __init__(
        self,
        base_url: str,
        keys: ApiKeySource,
        *,
        policy: RetryPolicy | None = None,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._keys = keys
        self._policy = policy or RetryPolicy()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._default_timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._sleep = sleep
        self._wall_clock = wall_clock
        # One pool per container: the TLS connection is reused across warm invocations.
        self._pool = _pool()
        self.window = WindowView()  # Skipcall's rate-limit window, as this container knows it
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"skipcall-bridge/{__version__}",
        }

    def reconnect(self) -> None:
        """A new pool: no connection made before a SnapStart snapshot is used after restore."""
        self._pool.clear()
        self._pool = _pool()
        self.window.replace(None)

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        deadline: Deadline,
        *,
        idempotent: bool = True,
    ) -> Answer | CallFailed:
        """One call with retries inside the deadline: connection errors, timeouts, 429 and 5xx
        are tried again; a 401 once with a re-read key; other 4xx are final. A call that is not
        idempotent is tried again only after failures that prove nothing was done (no
        connection, 429, 503); any other failure ends it as OUTCOME_UNKNOWN."""
        policy = self._policy
        failure: CallFailed | None = None
        refresh_key = key_refreshed = False
        attempts = 0
        while attempts < policy.max_attempts:
            stop = self._may_start(deadline, attempts)  # None: a place in the window is ours
            if stop is not None:
                return failure or stop
            try:
                key = self._keys.api_key(refresh=refresh_key)
                attempts += 1
                outcome, reset_header = self._attempt(
                    method, path, body, key=key, deadline=deadline, attempt=attempts
                )
            except (Unavailable, ConfigurationError) as exc:
                return CallFailed(
                    Reason.SKIPCALL_UNAVAILABLE,
                    retryable=True,
                    attempts=attempts,
                    error=ErrorInfo(code="API_KEY_UNAVAILABLE", message=str(exc)),
                )
            finally:
                self.window.ended()
            if isinstance(outcome, Answer):
                return outcome
            if not idempotent and _may_have_been_done(outcome):
                return _unknown(outcome)
            failure = outcome
            if outcome.error.status == 401 and not key_refreshed:
                refresh_key = key_refreshed = True  # the key may have been rotated: re-read once
                continue
            if outcome.reason not in RETRY_NOW:
                return outcome
            refresh_key = False
            wait = policy.rate_limit_wait(reset_header, self._wall_clock())
            if wait is None:
                wait = policy.backoff(attempts)
            if not policy.fits(wait, deadline.remaining()):
                break
            self._sleep(wait)
        return failure or _no_time(attempts)

    def _may_start(self, deadline: Deadline, attempts: int) -> CallFailed | None:
        """None: an attempt may start now (it is counted in flight until `_send` ends it),
        after waiting for Skipcall's window to reopen when what is left in it, less the
        requests in flight and what the other containers likely spent, is nothing (a call then
        is only a 429). Else why not. Other containers' answers are not heard here: this knows
        only its own, and the pace at which `remaining` fell between them."""
        while True:
            if deadline.remaining() < self._policy.min_attempt_seconds:
                return _no_time(attempts)
            closed = self.window.try_start(self._wall_clock())
            if closed <= 0:
                return None
            closed += self._policy.reset_slack
            if not self._policy.fits(closed, deadline.remaining()):
                return _not_sent(closed, attempts)
            self._sleep(closed)

    def _timeout(self, remaining: float) -> urllib3.Timeout:
        """The configured timeouts, or shorter ones when the deadline is nearer."""
        if remaining >= self._read_timeout and remaining >= self._connect_timeout:
            return self._default_timeout
        return urllib3.Timeout(
            connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining)
        )

    def _attempt(  # noqa: PLR0911 - one return per way a request can end
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        key: str,
        deadline: Deadline,
        attempt: int,
    ) -> tuple[Answer | CallFailed, str | None]:
        """One request. Also returns X-RateLimit-Reset of a 429, which decides the wait."""
        remaining = deadline.remaining()
        read_timeout = min(self._read_timeout, remaining)
        try:
            response = self._pool.request(
                method,
                self._base_url + path,
                body=body,
                headers={**self._headers, "Authorization": f"Bearer {key}"},
                timeout=self._timeout(remaining),
                retries=False,
            )
        except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.SSLError) as exc:
            # No connection (refused, unresolved, TLS failed): the request never left.
            return CallFailed(
                Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=attempt,
                error=ErrorInfo(status=None, code=NOT_CONNECTED, message=type(exc).__name__),
            ), None
        except urllib3.exceptions.TimeoutError:
            clipped = read_timeout < self._read_timeout
            return CallFailed(
                Reason.BUDGET_EXHAUSTED if clipped else Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=attempt,
                error=ErrorInfo(code="TIMEOUT", message="Skipcall did not answer in time."),
            ), None
        except urllib3.exceptions.HTTPError as exc:  # reset or closed after the request went out
            return CallFailed(
                Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=attempt,
                error=ErrorInfo(code="CONNECTION_ERROR", message=type(exc).__name__),
            ), None
        self.window.note(parse_rate_limit(response.headers), self._wall_clock())
        status = response.status
        if status in ANSWERS_COUNTED:
            metrics.add_metric(name=ANSWERS_COUNTED[status], unit=MetricUnit.Count, value=1)
        if 200 <= status < 300:
            return Answer(status, response.data, attempt), None
        error = _error_info(status, response.data)
        if status == 429:
            reset = response.headers.get("X-RateLimit-Reset")
            return CallFailed(Reason.RATE_LIMITED, True, attempt, error), reset
        if status >= 500:
            return CallFailed(Reason.SKIPCALL_UNAVAILABLE, True, attempt, error), None
        # 401 is retried once with a re-read key; 403 (plan) and 401 can be replayed once fixed.
        return CallFailed(Reason.SKIPCALL_REJECTED, status in (401, 403), attempt, error), None


def _pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=2, maxsize=POOL_CONNECTIONS, retries=False)


def _no_time(attempts: int) -> CallFailed:
    return CallFailed(
        Reason.BUDGET_EXHAUSTED,
        retryable=True,
        attempts=attempts,
        error=ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left to call Skipcall."),
    )


def _not_sent(wait_seconds: float, attempts: int) -> CallFailed:
    """RATE_LIMITED without a request: Skipcall's window reopens after the deadline."""
    error = ErrorInfo(
        status=429,
        code="RATE_LIMIT_WINDOW",
        message=f"Skipcall's rate-limit window reopens in {wait_seconds:.1f} s; not sent.",
    )
    return CallFailed(Reason.RATE_LIMITED, retryable=True, attempts=attempts, error=error)


def _may_have_been_done(failure: CallFailed) -> bool:
    """Whether Skipcall may have acted on the request: anything but no connection, 429, 503
    (which say nothing was processed) and a 4xx answer (which says it was refused)."""
    status = failure.error.status
    if status is None:
        return failure.error.code != NOT_CONNECTED
    return status >= 500 and status != 503


def _unknown(failure: CallFailed) -> CallFailed:
    return CallFailed(
        Reason.OUTCOME_UNKNOWN,
        retryable=False,
        attempts=failure.attempts,
        error=ErrorInfo(
            status=failure.error.status,
            code=failure.error.code,
            message=f"Skipcall may have created it: {failure.error.message}",
        ),
    )


@dataclass(frozen=True)
class Answer:
    """A 2xx answer."""

    status: int
    data: bytes
    attempts: int


def _error_info(status: int, data: bytes) -> ErrorInfo:
    """Skipcall's `{"error": {code, message}}`, or the older top-level `code`/`message`."""
    body: Any
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    source = error if isinstance(error, dict) else body if isinstance(body, dict) else {}
    code = source.get("code")
    message = source.get("message") or source.get("details")
    return ErrorInfo(
        status=status,
        code=code if isinstance(code, str) and code else f"HTTP_{status}",
        message=(
            message if isinstance(message, str) and message else f"Skipcall answered {status}."
        )[:MAX_ERROR_MESSAGE],
    )
