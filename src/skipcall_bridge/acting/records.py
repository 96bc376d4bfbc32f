"""The record each event leaves, one key per event whoever acts on it: the persistence every
path to an event's fate shares (the receiver, the worker, the replay), as Powertools'
IdempotencyHandler keeps its persistence layer behind one interface.

A key is absent, then claimed (one run works on it), then recorded (what came of it; a later
claim gets that back) -- or released (absent again: a later run does it). A record that leaves
its event to a later run (`event_state`) is taken: held again, by one run, only while it is
still the record that run read. The store is the IdempotencyGuard port (DynamoDB). Whatever the
table answers is a `Claim`, never an exception: each caller decides what a refusal means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from skipcall_bridge.common.errors import BridgeError, DeliveryConflict, InProgress, Unavailable
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import IdempotencyGuard

# Claims and records of one delivery's events in flight at once: a batch's 100 claims take
# 13 round trips instead of 100, and a container holds at most this many DynamoDB connections.
# (A delivery accepted whole sends its letters on the same pool, as many at once.)
CONCURRENT_WRITES = 8
_pool: ThreadPoolExecutor | None = None
T = TypeVar("T")
R = TypeVar("R")


def write_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per container, made when a batch first needs it
    if _pool is None:
        _pool = ThreadPoolExecutor(CONCURRENT_WRITES, thread_name_prefix="claims")
    return _pool


@dataclass(frozen=True)
class Claim:
    """What the table said to one claim: nothing yet (this run holds the key now), an earlier
    outcome (`stored`), or `refused` (a conflict, another run holds it, the table is down)."""

    key: dict[str, Any]
    stored: dict[str, Any] | None = None
    refused: Literal["conflict", "in-progress", "down"] | None = None

    @property
    def held(self) -> bool:
        return self.stored is None and self.refused is None


class EventRecords:
    def __init__(self, guard: IdempotencyGuard) -> None:
        self._guard = guard

    @property
    def stores(self) -> bool:
        """False: nothing is remembered (no table), so every claim is held."""
        return self._guard.stores

    def register(self, lambda_context: Any) -> None:
        """Claims taken from now lapse with this invocation, should it be cut short."""
        self._guard.register(lambda_context)

    def claim(self, key: dict[str, Any]) -> Claim:
        try:
            return Claim(key, stored=self._guard.claim(key))
        except DeliveryConflict:
            return Claim(key, refused="conflict")
        except InProgress:
            return Claim(key, refused="in-progress")
        except Unavailable:
            return Claim(key, refused="down")

    def take(self, claim: Claim) -> Claim:
        """Hold the key of the record `claim` found, if it is still that record (the worker
        and the replay take a receiver's `deferred` or `dead-lettered` one this way): held,
        or what the record says now, or refused."""
        assert claim.stored is not None
        try:
            return Claim(claim.key, stored=self._guard.take(claim.key, claim.stored))
        except DeliveryConflict:
            return Claim(claim.key, refused="conflict")
        except InProgress:
            return Claim(claim.key, refused="in-progress")
        except Unavailable:
            return Claim(claim.key, refused="down")

    def claim_all(self, keys: list[dict[str, Any]]) -> list[Claim]:
        """Each key's claim, at most CONCURRENT_WRITES in flight, in the keys' order."""
        return self._each(self.claim, keys)

    def record(self, key: dict[str, Any], outcome: dict[str, Any]) -> bool:
        """Keep what came of the claimed event. False: the table failed (logged); the work is
        done all the same, and the claim lapses with the invocation's time."""
        if not self._guard.stores:
            return True
        try:
            self._guard.complete(key, outcome)
        except BridgeError:
            logger.error("Outcome not recorded for deduplication")
            return False
        return True

    def record_all(self, records: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Several outcomes, at most CONCURRENT_WRITES in flight (a delivery's tail)."""
        self._each(lambda pair: self.record(*pair), records)

    def release(self, key: dict[str, Any]) -> None:
        """The work ended without an outcome: a later run may do it (never raises)."""
        self._guard.release(key)

    def _each(self, call: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) < 2 or not self._guard.stores:
            return [call(item) for item in items]
        return list(write_pool().map(call, items))
