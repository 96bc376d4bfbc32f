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

import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl

from skipcall_bridge_dev.http_server import BackgroundHTTPServer

FaultKind = Literal["status", "slow", "reset", "garbage"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
SEQUENCE_CONTACTS = re.compile(r"^/v1/sequences/([^/?]+)/contacts$")
WORKSPACE_MEMBERS = re.compile(r"^/v1/workspaces/([^/?]+)/members$")
MAX_ITEMS = 100  # both contact endpoints take 1-100 items
WORKSPACE_ID = "5b0c7e1a-3f4d-4c2b-8a9e-0d1c2b3a4f50"
DEACTIVATED_MEMBER = "5b0c7e1a-3f4d-4c2b-8a9e-0d1c2b3a4fff"
REQUIRED = {"name": str, "assignedToIds": list, "creatorId": str}
OPTIONAL = {"contactIds": list}


@dataclass
class Fault:
    """`status`: answer with it. `slow`: wait `seconds`, then answer normally, or with `status`
    when one is given (not creating). `reset`: drop the connection. `garbage`: a non-JSON body
    with `status`, after creating the sequence when `create` is set."""

    kind: FaultKind
    status: int = 500
    seconds: float = 0.0
    count: int = 1
    create: bool = False
    then_status: int | None = None


@dataclass
class Chaos:
    """Faults at random, from a seeded generator: each request draws one (or none)."""

    seed: int
    weights: dict[str, float]  # fault name -> probability; see FAULT_PRESETS
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - reproducible chaos, not crypto

    def draw(self) -> Fault | None:
        roll = self.rng.random()
        for name, probability in self.weights.items():
            if roll < probability:
                return FAULT_PRESETS[name]()
            roll -= probability
        return None


FAULT_PRESETS = {
    "500": lambda: Fault("status", 500),
    "502": lambda: Fault("status", 502),
    "503": lambda: Fault("status", 503),
    "429": lambda: Fault("status", 429),
    "slow": lambda: Fault("slow", seconds=1.5, then_status=504),
    "slow-created": lambda: Fault("slow", seconds=1.5),  # created, but answered too late
    "reset": lambda: Fault("reset"),
    "garbage": lambda: Fault("garbage", 502),
    "garbage-created": lambda: Fault("garbage", 201, create=True),
}


@dataclass
class SandboxState:
    api_keys: set[str]
    members: dict[str, str]  # organizationMembershipId -> email; empty: any id is accepted
    rate_limit: int = 100
    window_seconds: float = 60.0
    sequences: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    # sequence id -> contact id -> {contactId, assignedToWorkspaceMembershipId, removed, ...}
    enrolments: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)  # "POST /v1/sequences" -> count
    requests: int = 0
    throttled: int = 0  # 429s answered
    connections: int = 0  # TCP connections accepted (keep-alive reuses one)
    faults: deque[Fault] = field(default_factory=deque)
    chaos: Chaos | None = None
    window_start: float = 0.0
    window_count: int = 0
    # Bumped by reset(): a request that began before it (a slow answer still sleeping) belongs
    # to what was reset and records nothing when it ends.
    generation: int = 0
    in_flight: int = 0  # /v1 requests being answered now (a slow answer still sleeping)
    most_in_flight: int = 0  # the most /v1 requests it was answering at once
    # Hold each /v1 request until this many are in flight together, once (0: no hold): a test
    # proves requests overlap by waiting for them, not by timing them.
    gather: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Notified whenever a /v1 request ends: tests wait on what happened, never on a clock.
        self.changed = threading.Condition(self.lock)

    def reset(self) -> None:
        """Forget everything recorded and queued (keys, members and limits stay)."""
        with self.lock:
            self.sequences.clear()
            self.contacts.clear()
            self.enrolments.clear()
            self.calls.clear()
            self.faults.clear()
            self.chaos = None
            self.requests = self.throttled = self.connections = self.window_count = 0
            self.most_in_flight = self.gather = 0
            self.window_start = 0.0  # a new window: one left from before could end mid-test
            self.generation += 1


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
    ) -> None:
        self.state = SandboxState(
            api_keys=set(api_keys),
            members=dict(members or {}),
            rate_limit=rate_limit,
            window_seconds=window_seconds,
        )
        super().__init__(host, port, type("BoundHandler", (_Handler,), {"state": self.state}))

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
            self._api(
                "GET /v1/users", None, lambda _body, headers: self._list_users(query, headers)
            )
        elif path == "/v1/workspaces":
            self._api("GET /v1/workspaces", None, lambda _body, headers: self._workspaces(headers))
        elif members:
            self._api(
                "GET /v1/workspaces/{id}/members",
                None,
                lambda _body, headers: self._members(members.group(1), query, headers),
            )
        elif listed:
            self._api(
                "GET /v1/sequences/{id}/contacts",
                None,
                lambda _body, headers: self._sequence_contacts(listed.group(1), query, headers),
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
        if self.path == "/_sandbox/faults":
            self._control(raw)
        elif self.path == "/_sandbox/reset":
            self.state.reset()
            self._json(HTTPStatus.OK, {"reset": True})
        elif self.path == "/v1/sequences":
            self._api("POST /v1/sequences", raw, self._create_sequence)
        elif self.path == "/v1/contacts":
            self._api("POST /v1/contacts", raw, self._create_contact)
        elif enrol := SEQUENCE_CONTACTS.match(self.path):
            sequence_id = enrol.group(1)
            self._api(
                "POST /v1/sequences/{id}/contacts",
                raw,
                lambda body, headers: self._add_contacts(sequence_id, body, headers),
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
                lambda body, headers: self._remove_contacts(sequence_id, body, headers),
            )
        else:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Cannot DELETE {self.path}")

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
        endpoint: Callable[[Any, dict[str, str]], None],
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
        endpoint: Callable[[Any, dict[str, str]], None],
    ) -> None:
        """What every /v1 call goes through: the key, the shared rate limit, the faults."""
        with self.state.lock:
            self.state.requests += 1
            self.state.calls[call] += 1
            self._generation = self.state.generation
        if not self._authorized():
            self._error(HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "Invalid or revoked API key")
            return
        limit_headers, limited = self._rate_limit()
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
        if self._apply_fault(limit_headers, body):
            return
        if raw is not None and body is None:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "Body is not JSON", limit_headers)
            return
        endpoint(body, limit_headers)

    def _create_sequence(self, body: Any, headers: dict[str, str]) -> None:
        problems = _validate(body, self.state.members)
        if problems:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems), headers)
            return
        self._json(HTTPStatus.CREATED, self._store(body), headers)

    def _create_contact(self, body: Any, headers: dict[str, str]) -> None:
        problems = _validate_contact(body)
        if problems:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems), headers)
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        contact = {
            "id": str(uuid.uuid4()),
            **body,
            "allowPhoneCalls": body.get("allowPhoneCalls", True),
            "callCount": 0,
            "customFields": body.get("customFields", {}),
            "createdAt": now,
            "updatedAt": now,
            "lastModificationSource": "API",
        }
        with self.state.lock:
            self.state.contacts.append(contact)
        self._json(HTTPStatus.CREATED, contact, headers)

    def _list_users(self, query: str, headers: dict[str, str]) -> None:
        users = [
            {"organizationMembershipId": member, "email": email, "firstName": None,
             "lastName": None, "role": "MEMBER"}
            for member, email in sorted(self.state.members.items())
        ]  # fmt: skip
        self._page(users, query, headers)

    # -- workspaces ------------------------------------------------------------------------

    def _workspace_members(self) -> list[dict[str, Any]]:
        """Every configured member in the one workspace, and a deactivated one."""
        members = [
            {"id": workspace_membership_id(member), "organizationMembershipId": member,
             "email": email, "status": "ACTIVE", "role": "MEMBER"}
            for member, email in sorted(self.state.members.items())
        ]  # fmt: skip
        members.append(
            {"id": DEACTIVATED_MEMBER, "organizationMembershipId": str(uuid.uuid4()),
             "email": "former@example.com", "status": "DEACTIVATED", "role": "MEMBER"}
        )  # fmt: skip
        return members

    def _workspaces(self, headers: dict[str, str]) -> None:
        self._json(HTTPStatus.OK, {"data": [{"id": WORKSPACE_ID, "name": "Sandbox"}]}, headers)

    def _members(self, workspace_id: str, query: str, headers: dict[str, str]) -> None:
        if workspace_id != WORKSPACE_ID:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Workspace not found", headers)
            return
        self._page(self._workspace_members(), query, headers)

    # -- the contacts of a sequence --------------------------------------------------------

    def _sequence(self, sequence_id: str) -> dict[str, Any] | None:
        with self.state.lock:
            return next((s for s in self.state.sequences if s["id"] == sequence_id), None)

    def _add_contacts(self, sequence_id: str, body: Any, headers: dict[str, str]) -> None:
        sequence = self._sequence(sequence_id)
        if sequence is None:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Sequence not found", headers)
            return
        active = {m["id"] for m in self._workspace_members() if m["status"] == "ACTIVE"}
        problems = _validate_enrolment(body, active)
        if problems:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems), headers)
            return
        known = self._known_contacts()
        assignees = [workspace_membership_id(m) for m in sequence["request"]["assignedToIds"]]
        with self.state.lock:
            entries = self.state.enrolments.setdefault(sequence_id, {})
            for item in body:
                contact_id = item["contactId"]
                entry = entries.get(contact_id)
                if entry is not None:  # already in, or resurrected with its first assignee
                    entry["removed"] = False
                elif contact_id in known:  # others are out of scope: ignored, as documented
                    assignee = item.get("assignedToWorkspaceMembershipId") or _least_loaded(
                        assignees, entries
                    )
                    entries[contact_id] = {
                        "id": str(uuid.uuid4()),
                        "contactId": contact_id,
                        "assignedToWorkspaceMembershipId": assignee,
                        "removed": False,
                    }
        self._json(HTTPStatus.CREATED, {"message": "Contacts added"}, headers)

    def _remove_contacts(self, sequence_id: str, body: Any, headers: dict[str, str]) -> None:
        if self._sequence(sequence_id) is None:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Sequence not found", headers)
            return
        problems = _validate_ids(body)
        if problems:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems), headers)
            return
        with self.state.lock:
            entries = self.state.enrolments.get(sequence_id, {})
            for contact_id in body:
                if contact_id in entries:
                    entries[contact_id]["removed"] = True  # a soft delete
        self._json(HTTPStatus.OK, {"message": "Contacts removed"}, headers)

    def _sequence_contacts(self, sequence_id: str, query: str, headers: dict[str, str]) -> None:
        if self._sequence(sequence_id) is None:
            self._error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Sequence not found", headers)
            return
        with self.state.lock:
            contacts = {c["id"]: c for c in self.state.contacts}
            entries = list(self.state.enrolments.get(sequence_id, {}).values())
        items = [
            {
                "id": entry["id"],
                "contactId": entry["contactId"],
                "assignedToWorkspaceMembershipId": entry["assignedToWorkspaceMembershipId"],
                "status": "ACTIVE",
                "contact": contacts.get(entry["contactId"]),
                "tags": [],
                "calls": [],
            }
            for entry in entries
            if not entry["removed"]
        ]
        self._page(items, query, headers)

    def _known_contacts(self) -> set[str]:
        with self.state.lock:
            return {contact["id"] for contact in self.state.contacts}

    def _page(self, items: list[dict[str, Any]], query: str, headers: dict[str, str]) -> None:
        """`page` from 0, `size` 1-100 (default 10), as the docs' hidden page says."""
        params = dict(parse_qsl(query))
        try:
            page, size = int(params.get("page", 0)), int(params.get("size", 10))
        except ValueError:
            page, size = -1, 0
        if page < 0 or not 1 <= size <= MAX_ITEMS:
            self._error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "page >= 0, size 1-100", headers)
            return
        chunk = items[page * size : (page + 1) * size]
        meta = {"page": page, "size": size, "total": len(items)}
        self._json(HTTPStatus.OK, {"data": chunk, "meta": meta}, headers)

    def _authorized(self) -> bool:
        scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
        return scheme == "Bearer" and key in self.state.api_keys

    def _rate_limit(self) -> tuple[dict[str, str], bool]:
        now = time.time()
        state = self.state
        with state.lock:
            if now - state.window_start >= state.window_seconds:
                state.window_start, state.window_count = now, 0
            state.window_count += 1
            remaining = state.rate_limit - state.window_count
            reset = state.window_start + state.window_seconds
        headers = {
            "X-RateLimit-Limit": str(state.rate_limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        return headers, remaining < 0

    def _apply_fault(self, headers: dict[str, str], body: Any) -> bool:
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
            if fault.create and not _validate(body, self.state.members):
                self._store(body)
            self._send(HTTPStatus(fault.status), b"<html>upstream error", headers, "text/html")
            return True
        self._error(HTTPStatus(fault.status), "INTERNAL_SERVER_ERROR", "Injected fault", headers)
        return True

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sequence = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "organizationMembershipId": body["creatorId"],
            "createdAt": now,
            "updatedAt": now,
            "contactCount": len(body.get("contactIds") or []),
            "assignedTo": [
                {
                    "organizationMembershipId": member,
                    "firstName": None,
                    "lastName": None,
                    "email": self.state.members.get(member, f"{member}@sandbox.invalid"),
                }
                for member in body["assignedToIds"]
            ],
        }
        with self.state.lock:
            if self._generation == self.state.generation:
                self.state.sequences.append({**sequence, "request": body})
        return sequence

    def _error(
        self, status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = {"error": {"code": code, "message": message, "status": status.value}}
        self._json(status, body, headers)

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


def workspace_membership_id(organization_membership_id: str) -> str:
    """The sandbox's workspace membership id of an organization member: another id, as in
    Skipcall, but a stable one."""
    return str(uuid.uuid5(uuid.UUID(WORKSPACE_ID), organization_membership_id))


def _least_loaded(assignees: list[str], entries: dict[str, dict[str, Any]]) -> str | None:
    """Round-robin among the sequence's assignees, least loaded first."""
    if not assignees:
        return None
    load = Counter(e["assignedToWorkspaceMembershipId"] for e in entries.values())
    return min(assignees, key=lambda member: load[member])


def _validate_items(body: Any) -> list[str]:
    if not isinstance(body, list):
        return ["body must be a JSON array"]
    if not 1 <= len(body) <= MAX_ITEMS:
        return [f"body must contain between 1 and {MAX_ITEMS} elements"]
    return []


def _validate_enrolment(body: Any, active_members: set[str]) -> list[str]:
    """POST /v1/sequences/{id}/contacts: 1-100 `{contactId, assignedToWorkspaceMembershipId?}`
    (the array as add-contacts-to-a-sequence.md renders it)."""
    problems = _validate_items(body)
    if problems:
        return problems
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            problems.append(f"{index} must be an object")
            continue
        problems += [
            f"{index}.property {name} should not exist"
            for name in item
            if name not in ("contactId", "assignedToWorkspaceMembershipId")
        ]
        if not _is_uuid(item.get("contactId")):
            problems.append(f"{index}.contactId must be a UUID")
        member = item.get("assignedToWorkspaceMembershipId", "")
        if "assignedToWorkspaceMembershipId" in item and not _is_uuid(member):
            problems.append(f"{index}.assignedToWorkspaceMembershipId must be a UUID")
        elif member and member not in active_members:
            problems.append(f"{index}.assignedToWorkspaceMembershipId is not an active member")
    return problems


def _validate_ids(body: Any) -> list[str]:
    """DELETE /v1/sequences/{id}/contacts: 1-100 contact UUIDs."""
    problems = _validate_items(body)
    if problems:
        return problems
    return [f"{index} must be a UUID" for index, item in enumerate(body) if not _is_uuid(item)]


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and UUID.match(value) is not None


CONTACT_FIELDS = {
    "firstName", "lastName", "phoneNumbers", "email", "company", "city", "country", "url",
    "linkedinUrl", "linkedinSalesUrl", "role", "allowPhoneCalls", "customFields",
}  # fmt: skip


def _validate_contact(body: Any) -> list[str]:
    """POST /v1/contacts as documented: first and last names of 1-100 characters, phoneNumbers
    required (a non-empty array of strings), company and city at most 200."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = [f"property {name} should not exist" for name in body if name not in CONTACT_FIELDS]
    for name in ("firstName", "lastName"):
        value = body.get(name)
        if not isinstance(value, str) or not 1 <= len(value) <= 100:
            problems.append(f"{name} must be a string of 1 to 100 characters")
    phones = body.get("phoneNumbers")
    if not isinstance(phones, list) or not phones or not all(isinstance(p, str) for p in phones):
        problems.append("phoneNumbers must be a non-empty array of strings")
    for name in ("company", "city"):
        if name in body and (not isinstance(body[name], str) or len(body[name]) > 200):
            problems.append(f"{name} must be a string of at most 200 characters")
    return problems


def _validate(body: Any, members: dict[str, str]) -> list[str]:
    """NestJS-style class-validator messages for CreateSequenceDto."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    allowed = REQUIRED | OPTIONAL
    problems = [f"property {name} should not exist" for name in body if name not in allowed]
    problems += [f"{name} is required" for name in REQUIRED if name not in body]
    for name, kind in allowed.items():
        if name in body and not isinstance(body[name], kind):
            problems.append(f"{name} must be {'an array' if kind is list else 'a string'}")
        elif kind is list and name in body and not all(isinstance(i, str) for i in body[name]):
            problems.append(f"each value in {name} must be a string")
    if members and not problems:
        for member in [body["creatorId"], *body["assignedToIds"]]:
            if member not in members:
                problems.append(f"unknown organizationMembershipId {member}")
    return problems
