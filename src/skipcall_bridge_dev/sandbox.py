"""A Skipcall Public API emulator that enforces the published contract strictly.

- Bearer API keys; 401 `{"error": {...}}` otherwise.
- POST /v1/sequences: CreateSequenceDto validation (required fields, types, no unknown
  properties; known organizationMembership ids when members are configured); 201 SequenceDto.
- POST and DELETE /v1/sequences/{id}/contacts: a JSON array of 1-100 items (entries
  `{contactId, assignedToWorkspaceMembershipId?}`, or contact UUIDs), 400 otherwise, 404 for an
  unknown sequence; idempotent, soft delete, round-robin assignment, resurrection, as documented.
  GET /v1/sequences/{id}/contacts lists the active ones (paginated).
- POST /v1/contacts, GET /v1/users, GET /v1/workspaces, GET /v1/workspaces/{id}/members: one
  workspace holding every configured member (plus one deactivated member, as lists include
  every status).
- X-RateLimit-Limit/-Remaining/-Reset on every /v1 answer; 429 over the limit.
- Faults on demand (status codes, slow answers, dropped connections, invalid JSON), through
  `inject()` or POST /_sandbox/faults, for demos and tests.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from skipcall_bridge_dev.http_server import BackgroundHTTPServer
from skipcall_bridge_dev.sandbox_api import Reply, SandboxApi, error
from skipcall_bridge_dev.sandbox_contract import (
    DEACTIVATED_MEMBER,
    WORKSPACE_ID,
    workspace_membership_id,
)
from skipcall_bridge_dev.sandbox_state import Chaos, Fault, FaultKind, SandboxState

# The names tests and the dev tools import from here.
__all__ = [
    "DEACTIVATED_MEMBER",
    "WORKSPACE_ID",
    "SandboxState",
    "SkipcallSandbox",
    "workspace_membership_id",
]
Endpoint = Callable[[SandboxApi, Any], Reply]  # a /v1 resource, given the request's JSON body
SEQUENCE_CONTACTS = re.compile(r"^/v1/sequences/([^/?]+)/contacts$")
WORKSPACE_MEMBERS = re.compile(r"^/v1/workspaces/([^/?]+)/members$")


class SkipcallSandbox(BackgroundHTTPServer):
    def __init__(
        self,
        api_keys: set[str],
        members: dict[str, str] | None = None,
        *,
        rate_limit: int = 100,
        window_seconds: float = 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
        control_token: str | None = None,
    ) -> None:
        self.state = SandboxState(
            api_keys=set(api_keys),
            members=dict(members or {}),
            rate_limit=rate_limit,
            window_seconds=window_seconds,
        )
        bound = {"state": self.state, "control_token": control_token}
        super().__init__(host, port, type("BoundHandler", (_Handler,), bound))

    def inject(
        self,
        kind: FaultKind,
        *,
        status: int = 500,
        seconds: float = 0.0,
        count: int = 1,
        create: bool = False,
        then_status: int | None = None,
    ) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(kind, status, seconds, count, create, then_status))

    def chaos(self, seed: int, weights: dict[str, float] | None) -> None:
        """Fail at random from now on (None stops it)."""
        with self.state.lock:
            self.state.chaos = None if weights is None else Chaos(seed, weights)

    def reset(self) -> None:
        self.state.reset()

    def wait_until(self, condition: Callable[[SandboxState], bool], timeout: float = 60.0) -> bool:
        """Wait until `condition(state)` holds, checked whenever a /v1 request ends (False:
        `timeout` passed first, a bound for a test that would otherwise hang, not a margin)."""
        with self.state.changed:
            return self.state.changed.wait_for(lambda: condition(self.state), timeout)

    @property
    def sequences(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.sequences)

    def enrolled(self, sequence_id: str) -> list[str]:
        """The contact ids in a sequence now (removed ones left out), in the order added."""
        with self.state.lock:
            entries = self.state.enrolments.get(sequence_id, {}).values()
            return [entry["contactId"] for entry in entries if not entry["removed"]]


class _Handler(BaseHTTPRequestHandler):
    state: SandboxState
    # With one (`make dev`: the inspector's), a POST to /_sandbox/* must carry it in
    # X-Inspector-Token: a page of another origin can send a POST but never read the token
    # (security review #28, finding 7).
    control_token: str | None = None
    _generation: int = 0  # of the request being answered
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API behind a load balancer
    # One write per answer and no Nagle delay: otherwise every keep-alive answer stalls ~40 ms
    # on the peer's delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and `make dev` print their own summaries

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        members = WORKSPACE_MEMBERS.match(path)
        listed = SEQUENCE_CONTACTS.match(path)
        if path == "/v1/users":
            self._api("GET /v1/users", None, lambda api, _body: api.list_users(query))
        elif path == "/v1/workspaces":
            self._api("GET /v1/workspaces", None, lambda api, _body: api.workspaces())
        elif members:
            self._api(
                "GET /v1/workspaces/{id}/members",
                None,
                lambda api, _body: api.members(members.group(1), query),
            )
        elif listed:
            self._api(
                "GET /v1/sequences/{id}/contacts",
                None,
                lambda api, _body: api.sequence_contacts(listed.group(1), query),
            )
        elif self.path == "/v1/health":
            self._json(HTTPStatus.OK, {"status": "ok"})
        elif self.path == "/_sandbox/state":
            with self.state.lock:
                body = {
                    "sequences": list(self.state.sequences),
                    "contacts": list(self.state.contacts),
                    "enrolments": {
                        sequence: [e["contactId"] for e in entries.values() if not e["removed"]]
                        for sequence, entries in self.state.enrolments.items()
                    },
                    "requests": self.state.requests,
                    "calls": dict(self.state.calls),
                }
            self._json(HTTPStatus.OK, body)
        else:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Cannot GET {self.path}")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/_sandbox/") and not self._controller():
            self._error(HTTPStatus.FORBIDDEN, "FORBIDDEN", "X-Inspector-Token is missing or wrong")
        elif self.path == "/_sandbox/faults":
            self._control(raw)
        elif self.path == "/_sandbox/reset":
            self.state.reset()
            self._json(HTTPStatus.OK, {"reset": True})
        elif self.path == "/v1/sequences":
            self._api("POST /v1/sequences", raw, lambda api, body: api.create_sequence(body))
        elif self.path == "/v1/contacts":
            self._api("POST /v1/contacts", raw, lambda api, body: api.create_contact(body))
        elif enrol := SEQUENCE_CONTACTS.match(self.path):
            sequence_id = enrol.group(1)
            self._api(
                "POST /v1/sequences/{id}/contacts",
                raw,
                lambda api, body: api.add_contacts(sequence_id, body),
            )
        else:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Cannot POST {self.path}")

    def do_DELETE(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if unenrol := SEQUENCE_CONTACTS.match(self.path):
            sequence_id = unenrol.group(1)
            self._api(
                "DELETE /v1/sequences/{id}/contacts",
                raw,
                lambda api, body: api.remove_contacts(sequence_id, body),
            )
        else:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Cannot DELETE {self.path}")

    def _controller(self) -> bool:
        if self.control_token is None:
            return True
        presented = self.headers.get("X-Inspector-Token") or ""
        return hmac.compare_digest(presented.encode(), self.control_token.encode())

    def _control(self, raw: bytes) -> None:
        try:
            spec = json.loads(raw)
            then_status = spec.get("thenStatus")
            fault = Fault(
                kind=spec["kind"],
                status=int(spec.get("status", 500)),
                seconds=float(spec.get("seconds", 0)),
                count=int(spec.get("count", 1)),
                create=bool(spec.get("create", False)),
                then_status=None if then_status is None else int(then_status),
            )
            if fault.kind not in ("status", "slow", "reset", "garbage"):
                raise ValueError(fault.kind)
        except (ValueError, KeyError, TypeError):
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "fault: {kind, status?, seconds?}")
            return
        with self.state.lock:
            self.state.faults.append(fault)
        self._json(HTTPStatus.OK, {"queued": fault.kind, "count": fault.count})

    def _api(
        self,
        call: str,
        raw: bytes | None,
        endpoint: Endpoint,
    ) -> None:
        state = self.state
        with state.changed:
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
            state.changed.notify_all()
            if state.gather:
                # a bound for a receiver that never sends that many at once, not a margin
                state.changed.wait_for(lambda: state.in_flight >= state.gather, timeout=10)
                state.gather = 0  # gathered: later requests pass
        try:
            self._serve(call, raw, endpoint)
        finally:
            with self.state.changed:
                self.state.in_flight -= 1
                self.state.changed.notify_all()

    def _serve(
        self,
        call: str,
        raw: bytes | None,
        endpoint: Endpoint,
    ) -> None:
        """What every /v1 call goes through: the key, the shared rate limit, the faults."""
        with self.state.lock:
            self.state.requests += 1
            self.state.calls[call] += 1
            api = SandboxApi(self.state, self.state.generation)
        if not self._authorized():
            self._error(HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "Invalid or revoked API key")
            return
        limit_headers, limited = self.state.spend_one(time.time())
        if limited:
            with self.state.lock:
                self.state.throttled += 1
            self._error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Too many requests",
                limit_headers,
            )
            return
        body: Any = None
        if raw is not None:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if self._apply_fault(api, limit_headers, body, endpoint):
            return
        if raw is not None and body is None:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "Body is not JSON", limit_headers)
            return
        reply = endpoint(api, body)
        self._json(reply.status, reply.body, limit_headers)

    def _authorized(self) -> bool:
        scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
        return scheme == "Bearer" and key in self.state.api_keys

    def _apply_fault(
        self, api: SandboxApi, headers: dict[str, str], body: Any, endpoint: Endpoint
    ) -> bool:
        with self.state.lock:
            fault = self.state.faults[0] if self.state.faults else None
            if fault is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.state.faults.popleft()
            elif self.state.chaos is not None:
                fault = self.state.chaos.draw()
        if fault is None:
            return False
        if fault.kind == "slow":
            time.sleep(fault.seconds)
            if fault.then_status is None:
                return False  # slow, then answers normally (the caller may have given up)
            self._error(HTTPStatus(fault.then_status), "GATEWAY_TIMEOUT", "Too slow", headers)
            return True
        if fault.kind == "reset":
            self.close_connection = True
            self.connection.close()
            return True
        if fault.kind == "garbage":
            if fault.create and body is not None:
                # Done, whatever the request (a sequence, an enrolment): only the answer is lost.
                endpoint(api, body)
            self._send(HTTPStatus(fault.status), b"<html>upstream error", headers, "text/html")
            return True
        self._error(HTTPStatus(fault.status), "INTERNAL_SERVER_ERROR", "Injected fault", headers)
        return True

    def _error(
        self, status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._json(status, error(status, code, message).body, headers)

    def _json(
        self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), headers or {}, "application/json")

    def _send(
        self, status: HTTPStatus, data: bytes, headers: dict[str, str], content_type: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
