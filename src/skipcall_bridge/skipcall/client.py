"""The Skipcall Public API: sequences (create; add and remove contacts), contacts (create), and
the directories the identity functions read (users, workspaces and their members). Each call
goes through the `Transport` (urllib3: keep-alive pool, timeouts, retries inside the budget)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import ApiKeySource
from skipcall_bridge.skipcall.models import (
    SKIPCALL_ID,
    AddContactsBody,
    CallFailed,
    CallResult,
    Created,
    CreateResult,
    CreateSequenceDto,
    Done,
    RemoveContactsBody,
    SequenceDto,
)
from skipcall_bridge.skipcall.retry import RateLimit, RetryPolicy
from skipcall_bridge.skipcall.transport import Transport

MAX_PAGES = 50  # 5,000 items: a bound, should a server keep answering full pages


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
        self._transport = Transport(
            base_url,
            keys,
            policy=policy,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            sleep=sleep,
            wall_clock=wall_clock,
        )

    def reconnect(self) -> None:
        """A new pool: no connection made before a SnapStart snapshot is used after restore."""
        self._transport.reconnect()

    def ask_near_window_end(self) -> None:
        """The worker's client: see WindowView.asks."""
        self._transport.window.asks = True

    @property
    def rate_limit(self) -> RateLimit | None:
        """The window as of Skipcall's last answers (the lowest `remaining` heard for it)."""
        return self._transport.window.last

    @rate_limit.setter
    def rate_limit(self, limit: RateLimit | None) -> None:
        self._transport.window.replace(limit)

    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        body = dto.model_dump_json(exclude_none=True).encode()
        # No idempotency key and no way to list sequences: once the request may have reached
        # Skipcall, it is not sent again (OUTCOME_UNKNOWN), only what provably did nothing is.
        answer = self._transport.send("POST", "/v1/sequences", body, deadline, idempotent=False)
        if isinstance(answer, CallFailed):
            return answer
        return Created(_sequence(answer.data), answer.attempts)

    def add_contacts(
        self, sequence_id: str, body: AddContactsBody, deadline: Deadline
    ) -> CallResult:
        """Enrol up to 100 contacts. Idempotent in Skipcall (contacts already in the sequence
        are ignored), so every failure may be tried again."""
        if (refused := _not_an_id(sequence_id)) is not None:
            return refused
        path = f"/v1/sequences/{quote(sequence_id, safe='')}/contacts"
        answer = self._transport.send("POST", path, body.body(), deadline)
        return answer if isinstance(answer, CallFailed) else Done(answer.attempts)

    def remove_contacts(
        self, sequence_id: str, body: RemoveContactsBody, deadline: Deadline
    ) -> CallResult:
        """Take up to 100 contacts out (a soft delete). Idempotent in Skipcall."""
        if (refused := _not_an_id(sequence_id)) is not None:
            return refused
        path = f"/v1/sequences/{quote(sequence_id, safe='')}/contacts"
        answer = self._transport.send("DELETE", path, body.body(), deadline)
        return answer if isinstance(answer, CallFailed) else Done(answer.attempts)

    def list_users(self, deadline: Deadline) -> list[Any] | CallFailed:
        """Every organization user. The response shape is not documented: a list, or a list
        under data/users/items/content."""
        return self._all_pages("/v1/users", deadline)

    def list_workspaces(self, deadline: Deadline) -> list[Any] | CallFailed:
        """The workspaces this key can access (not documented as paginated; read like a page)."""
        answer = self._transport.send("GET", "/v1/workspaces", None, deadline)
        return answer if isinstance(answer, CallFailed) else _items(answer.data)

    def list_workspace_members(
        self, workspace_id: str, deadline: Deadline
    ) -> list[Any] | CallFailed:
        """A workspace's members of every status; each item's `id` is a workspace membership."""
        if (refused := _not_an_id(workspace_id)) is not None:
            return refused
        return self._all_pages(f"/v1/workspaces/{quote(workspace_id, safe='')}/members", deadline)

    def _all_pages(
        self, path: str, deadline: Deadline, page_size: int = 100
    ) -> list[Any] | CallFailed:
        """`page` from 0, `size` up to 100 (the docs' hidden pagination page)."""
        items: list[Any] = []
        for page in range(MAX_PAGES):
            answer = self._transport.send(
                "GET", f"{path}?page={page}&size={page_size}", None, deadline
            )
            if isinstance(answer, CallFailed):
                return answer
            chunk = _items(answer.data)
            items.extend(chunk)
            if len(chunk) < page_size:
                break
        return items

    def create_contact(self, contact: dict[str, Any], deadline: Deadline) -> str | CallFailed:
        body = json.dumps(contact, separators=(",", ":")).encode()
        answer = self._transport.send("POST", "/v1/contacts", body, deadline)
        if isinstance(answer, CallFailed):
            return answer
        try:
            contact_id = json.loads(answer.data)["id"]
        except (ValueError, KeyError, TypeError):
            contact_id = None
        if not isinstance(contact_id, str) or not contact_id:
            return CallFailed(
                Reason.SKIPCALL_UNAVAILABLE,
                retryable=True,
                attempts=answer.attempts,
                error=ErrorInfo(status=answer.status, code="UNREADABLE_ANSWER",
                                message="Skipcall created a contact but its id is unreadable."),
            )  # fmt: skip
        return contact_id


def _not_an_id(value: str) -> CallFailed | None:
    """Skipcall's ids are UUIDs. Anything else never reaches a URL: urllib3 removes dot
    segments, so `..` would send the API key to another endpoint (a letter kept from before
    target ids were checked at mapping could still hold one)."""
    if SKIPCALL_ID.fullmatch(value) is not None:
        return None
    error = ErrorInfo(code="INVALID_ID", message="Not a Skipcall id (a UUID); nothing was sent.")
    return CallFailed(Reason.SKIPCALL_REJECTED, retryable=False, attempts=0, error=error)


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
