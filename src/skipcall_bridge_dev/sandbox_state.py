"""The sandbox's state: what Skipcall holds (sequences, contacts, enrolments), what it counts
(calls, the rate-limit window, connections, requests in flight) and the faults it will answer
with. Shared by the HTTP handler's threads under one lock."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "slow", "reset", "garbage"]


@dataclass
class Fault:
    """`status`: answer with it. `slow`: wait `seconds`, then answer normally, or with `status`
    when one is given (not creating). `reset`: drop the connection. `garbage`: a non-JSON body
    with `status`, after doing what was asked (a sequence, an enrolment) when `create` is set."""

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

    def spend_one(self, now: float) -> tuple[dict[str, str], bool]:
        """One request counted in the key's window: its X-RateLimit-* headers, and whether it
        is over the limit (a 429)."""
        with self.lock:
            if now - self.window_start >= self.window_seconds:
                self.window_start, self.window_count = now, 0
            self.window_count += 1
            remaining = self.rate_limit - self.window_count
            reset = self.window_start + self.window_seconds
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        return headers, remaining < 0
