"""POST /v1/sequences over urllib3: keep-alive pool, timeouts, retries inside the budget."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from skipcall_bridge import __version__
from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import ErrorInfo, Reason
from skipcall_bridge.errors import ConfigurationError, Unavailable
from skipcall_bridge.observability import logger, metrics
from skipcall_bridge.skipcall.models import (
    Created,
    CreateResult,
    CreateSequenceDto,
    NotCreated,
    SequenceDto,
)
from skipcall_bridge.skipcall.retry import RateLimit, RetryPolicy, parse_rate_limit

MAX_ERROR_MESSAGE = 300
MAX_USER_PAGES = 50  # 5,000 users: a bound, should a server keep answering full pages
# Failures worth another attempt inside the same budget (other 4xx are final for this call).
RETRY_NOW = frozenset({Reason.SKIPCALL_UNAVAILABLE, Reason.RATE_LIMITED})
NOT_CONNECTED = "NOT_CONNECTED"  # the error code of a request that never left
# Answers an operator watches: throttling, and a key that is wrong or revoked.
ANSWERS_COUNTED = {429: "SkipcallRateLimited", 401: "SkipcallUnauthorized"}


class ApiKeySource(Protocol):
    def api_key(self, refresh: bool = False) -> str: ...


class SkipcallClient:
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
        self._sleep = sleep
        self._wall_clock = wall_clock
        # One pool per container: the TLS connection is reused across warm invocations.
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=2, retries=False)
        self.rate_limit: RateLimit | None = None  # as of Skipcall's last answer
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"skipcall-bridge/{__version__}",
        }

    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        body = dto.model_dump_json(exclude_none=True).encode()
        # No idempotency key and no way to list sequences: once the request may have reached
        # Skipcall, it is not sent again (OUTCOME_UNKNOWN), only what provably did nothing is.
        answer = self._send("POST", "/v1/sequences", body, deadline, idempotent=False)
        if isinstance(answer, NotCreated):
            return answer
        return Created(_sequence(answer.data), answer.attempts)

    def list_users(self, deadline: Deadline, page_size: int = 100) -> list[Any] | NotCreated:
        """Every organization user, all pages (`page` from 0, `size` up to 100). The response
        shape is not documented: a list, or a list under data/users/items/content."""
        users: list[Any] = []
        for page in range(MAX_USER_PAGES):
            answer = self._send("GET", f"/v1/users?page={page}&size={page_size}", None, deadline)
            if isinstance(answer, NotCreated):
                return answer
            items = _items(answer.data)
            users.extend(items)
            if len(items) < page_size:
                break
        return users

    def create_contact(self, contact: dict[str, Any], deadline: Deadline) -> str | NotCreated:
        body = json.dumps(contact, separators=(",", ":")).encode()
        answer = self._send("POST", "/v1/contacts", body, deadline)
        if isinstance(answer, NotCreated):
            return answer
        try:
            contact_id = json.loads(answer.data)["id"]
        except (ValueError, KeyError, TypeError):
            contact_id = None
        if not isinstance(contact_id, str) or not contact_id:
            return NotCreated(
                Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=answer.attempts,
                error=ErrorInfo(status=answer.status, code="UNREADABLE_ANSWER",
                                message="Skipcall created a contact but its id is unreadable."),
            )  # fmt: skip
        return contact_id

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        deadline: Deadline,
        *,
        idempotent: bool = True,
    ) -> _Answer | NotCreated:
        """One call with retries inside the deadline: connection errors, timeouts, 429 and 5xx
        are tried again; a 401 once with a re-read key; other 4xx are final. A call that is not
        idempotent is tried again only after failures that prove nothing was done (no
        connection, 429, 503); any other failure ends it as OUTCOME_UNKNOWN."""
        policy = self._policy
        failure: NotCreated | None = None
        refresh_key = key_refreshed = False
        attempts = 0
        while attempts < policy.max_attempts:
            if deadline.remaining() < policy.min_attempt_seconds:
                break
            try:
                key = self._keys.api_key(refresh=refresh_key)
            except (Unavailable, ConfigurationError) as exc:
                return NotCreated(
                    Reason.SKIPCALL_UNAVAILABLE,
                    retryable=True,
                    attempts=attempts,
                    error=ErrorInfo(code="API_KEY_UNAVAILABLE", message=str(exc)),
                )
            attempts += 1
            outcome, reset_header = self._attempt(
                method, path, body, key=key, deadline=deadline, attempt=attempts
            )
            if isinstance(outcome, _Answer):
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
                return failure
            self._sleep(wait)
        return failure or NotCreated(
            Reason.BUDGET_EXHAUSTED,
            retryable=True,
            attempts=attempts,
            error=ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left to call Skipcall."),
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
    ) -> tuple[_Answer | NotCreated, str | None]:
        """One request. Also returns X-RateLimit-Reset of a 429, which decides the wait."""
        remaining = deadline.remaining()
        read_timeout = min(self._read_timeout, remaining)
        try:
            response = self._pool.request(
                method,
                self._base_url + path,
                body=body,
                headers={**self._headers, "Authorization": f"Bearer {key}"},
                timeout=urllib3.Timeout(
                    connect=min(self._connect_timeout, remaining), read=read_timeout
                ),
                retries=False,
            )
        except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.SSLError) as exc:
            # No connection (refused, unresolved, TLS failed): the request never left.
            return NotCreated(
                Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=attempt,
                error=ErrorInfo(status=None, code=NOT_CONNECTED, message=type(exc).__name__),
            ), None
        except urllib3.exceptions.TimeoutError:
            clipped = read_timeout < self._read_timeout
            return NotCreated(
                Reason.BUDGET_EXHAUSTED if clipped else Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=attempt,
                error=ErrorInfo(code="TIMEOUT", message="Skipcall did not answer in time."),
            ), None
        except urllib3.exceptions.HTTPError as exc:  # reset or closed after the request went out
            return NotCreated(
                Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=attempt,
                error=ErrorInfo(code="CONNECTION_ERROR", message=type(exc).__name__),
            ), None
        self.rate_limit = parse_rate_limit(response.headers) or self.rate_limit
        status = response.status
        if status in ANSWERS_COUNTED:
            metrics.add_metric(name=ANSWERS_COUNTED[status], unit=MetricUnit.Count, value=1)
        if 200 <= status < 300:
            return _Answer(status, response.data, attempt), None
        error = _error_info(status, response.data)
        if status == 429:
            reset = response.headers.get("X-RateLimit-Reset")
            return NotCreated(Reason.RATE_LIMITED, True, attempt, error), reset
        if status >= 500:
            return NotCreated(Reason.SKIPCALL_UNAVAILABLE, True, attempt, error), None
        # 401 is retried once with a re-read key; 403 (plan) and 401 can be replayed once fixed.
        return NotCreated(Reason.SKIPCALL_REJECTED, status in (401, 403), attempt, error), None


def _may_have_been_done(failure: NotCreated) -> bool:
    """Whether Skipcall may have acted on the request: anything but no connection, 429, 503
    (which say nothing was processed) and a 4xx answer (which says it was refused)."""
    status = failure.error.status
    if status is None:
        return failure.error.code != NOT_CONNECTED
    return status >= 500 and status != 503


def _unknown(failure: NotCreated) -> NotCreated:
    return NotCreated(
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
class _Answer:
    """A 2xx answer."""

    status: int
    data: bytes
    attempts: int


def _items(data: bytes) -> list[Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return []
    if isinstance(body, dict):
        body = next(
            (body[key] for key in ("data", "users", "items", "content", "results")
             if isinstance(body.get(key), list)),
            [],
        )  # fmt: skip
    return body if isinstance(body, list) else []


def _sequence(data: bytes) -> SequenceDto | None:
    try:
        return SequenceDto.model_validate_json(data)
    except ValidationError:
        # Created, but the answer is unreadable: the sequence exists, so it is not retried.
        logger.warning("Skipcall created a sequence but its answer is not a SequenceDto")
        return None


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
