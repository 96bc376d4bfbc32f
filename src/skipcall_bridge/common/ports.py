"""What the pipeline, the identity functions and the replay need from the outside world, as
small protocols: signing secrets, Skipcall (sequences, contacts, directories), the dead-letter
queue, deduplication, and the link table (CRM records and sequence names -> Skipcall ids).

Adapters live in `aws/` and `skipcall/`; in-memory ones in `links.py`; tests and benchmarks may
supply their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.skipcall.models import (
    AddContactsBody,
    CallFailed,
    CallResult,
    CreateResult,
    CreateSequenceDto,
    RemoveContactsBody,
)
from skipcall_bridge.skipcall.retry import RateLimit


class ApiKeySource(Protocol):
    def api_key(self, refresh: bool = False) -> str:
        """The Skipcall API key (`refresh`: read it again, after a 401). Raises Unavailable."""


class SigningSecrets(Protocol):
    def signing_secrets(self, secret_id: str) -> Sequence[str]:
        """Every currently valid secret (several during a rotation). Raises Unavailable."""


class SequenceCreator(Protocol):
    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        """Create one sequence within the deadline; never raises for Skipcall's failures."""


class ContactMembership(Protocol):
    """The contacts of a sequence. Both calls are idempotent in Skipcall."""

    def add_contacts(
        self, sequence_id: str, body: AddContactsBody, deadline: Deadline
    ) -> CallResult: ...

    def remove_contacts(
        self, sequence_id: str, body: RemoveContactsBody, deadline: Deadline
    ) -> CallResult: ...


class SkipcallActions(SequenceCreator, ContactMembership, Protocol):
    """What the pipeline does in Skipcall: create a sequence, enrol, unenrol."""


class PacedActions(SkipcallActions, Protocol):
    rate_limit: RateLimit | None  # as of Skipcall's last answer: the replay paces itself by it


class UserDirectory(Protocol):
    def list_users(self, deadline: Deadline) -> list[Any] | CallFailed: ...


class WorkspaceApi(Protocol):
    def list_workspaces(self, deadline: Deadline) -> list[Any] | CallFailed: ...
    def list_workspace_members(
        self, workspace_id: str, deadline: Deadline
    ) -> list[Any] | CallFailed: ...


class ContactApi(Protocol):
    def create_contact(self, contact: dict[str, Any], deadline: Deadline) -> str | CallFailed: ...


class ContactLinks(Protocol):
    """`source#CRM record id` -> Skipcall contact id. Raises Unavailable when the store is down."""

    def get(self, link_id: str) -> str | None: ...
    def put(self, link_id: str, contact_id: str) -> None: ...


# What separates a source's scope from a name in the link table: `crm::VIP` is crm's `VIP`;
# a key without it is one of the shared names.
SCOPE_SEPARATOR = "::"


def scoped_name(scope: str | None, name: str) -> str:
    """The link table's name for `name` in `scope` (None: the shared namespace)."""
    return name if scope is None else f"{scope}{SCOPE_SEPARATOR}{name}"


def shared_key(key: str) -> bool:
    """A link table key of the shared names (no source's scope in it)."""
    return SCOPE_SEPARATOR not in key


NameState = Literal["linked", "creating", "unknown"]


@dataclass(frozen=True)
class NameLink:
    """What the link table holds for a sequence name: its id once created; before that, the
    claim of the run creating it (`creating`), or `unknown` when that run could not tell
    whether Skipcall created it."""

    state: NameState
    sequence_id: str | None = None
    claimed_by: str | None = None
    claimed_at: float | None = None
    # Written under the shared names by a version that scopes names: not a link from before
    # names were scoped, so no source adopts it as its own.
    shared: bool = False


class SequenceNames(Protocol):
    """Sequence name -> id, written once. Every method raises Unavailable when the store is
    down."""

    def lookup(self, name: str) -> NameLink | None: ...

    def claim(self, name: str, token: str, now: float) -> bool:
        """Write a `creating` claim unless the name has a record: False when it had one."""

    def link(self, name: str, sequence_id: str) -> None:
        """Remember the name's sequence (over a claim, or an operator's correction)."""

    def adopt(self, name: str, sequence_id: str) -> bool:
        """Link the name unless it has a record (a conditional write): False when it had one."""

    def settle(self, name: str, sequence_id: str) -> bool:
        """Link the name unless it is linked already (a conditional write over a claim, or
        nothing): False when it was linked, to this id or another."""

    def mark_unknown(self, name: str, token: str) -> None:
        """The claim's creation may or may not have happened: keep it for a person."""

    def release(self, name: str, token: str) -> None:
        """Remove this run's claim: nothing was created, another run may create it."""

    def forget(self, name: str) -> bool:
        """Remove the name's record, whatever it holds (an operator's decision): False when
        there was none."""


class DeadLetterSink(Protocol):
    """A queue of letters: the dead-letter queue, or the work queue (`delay_seconds`: hidden
    that long first, as SQS's DelaySeconds, at most 900)."""

    def send(self, letters: Sequence[DeadLetter], delay_seconds: int = 0) -> list[DeadLetter]:
        """Store the letters (SendMessageBatch, 10 a call) and return those not stored, in
        order. SQS answers per entry and a later call can fail after earlier ones stored their
        letters: only the letters returned may be handled again."""


class ReplayQueue(DeadLetterSink, Protocol):
    def receive(self, max_messages: int = 10) -> list[Any]: ...
    def delete(self, receipt: str) -> None: ...
    def release(self, receipt: str) -> None: ...


class WorkQueue(DeadLetterSink, Protocol):
    def postpone(self, receipt: str, seconds: int) -> None:
        """Keep a received message hidden `seconds` from now (the worker's wait)."""


Outcome = dict[str, Any]


class IdempotencyGuard(Protocol):
    """Runs each event's work at most once per key, in two steps so that several events can
    share one write of their letters: claim every key, do the work, complete every key."""

    stores: bool  # False: nothing is remembered, so nothing needs serialising

    def register(self, lambda_context: Any) -> None:
        """Bind the invocation, so a run cut short by a timeout does not hold its claims."""

    def claim(self, key: dict[str, Any]) -> Outcome | None:
        """None: this run now holds the key (do the work, then complete or release it).
        An outcome: what an earlier run stored. Raises InProgress (another run holds it),
        DeliveryConflict (the id was seen with another payload) or Unavailable (store down)."""

    def take(self, key: dict[str, Any], found: Outcome) -> Outcome | None:
        """Hold a key whose record is `found` (an outcome that leaves the event to a later
        run: deferred, dead-lettered, unmapped): None, this run holds it now (complete it, or
        put `found` back); an outcome, what the record says instead (it changed meanwhile).
        Raises InProgress or Unavailable, as `claim` does."""

    def complete(self, key: dict[str, Any], outcome: Outcome) -> None:
        """Store the outcome of a held key. Raises Unavailable."""

    def release(self, key: dict[str, Any]) -> None:
        """The work ended without an outcome: a retry may do it. Never raises."""


class HookSecretKeeper(Protocol):
    """Where a REST hook's secret is kept (Secrets Manager), and the window in which an operator
    allows it (a record in the deduplication table, so every container sees it)."""

    def arm(self, source: str, until: float) -> None:
        """Open the source's window until `until` (Unix seconds). Raises Unavailable."""

    def disarm(self, source: str, now: float) -> float | None:
        """Close the window if it is open at `now`: when it was open until (the caller may
        arm it again), else None. One caller wins an open window. Raises Unavailable."""

    def keep(self, secret_id: str, secret: str) -> None:
        """Store `secret` as the secret's value (the source verifies with it from now on).
        Raises Unavailable."""


class TokenLedger(Protocol):
    """Where single-use credentials (a `jwt` source's `singleUse`) are remembered."""

    def bind(self, key: str, body_digest: str, expires_at: int) -> bool:
        """True when `key` is new, or was bound to this same body before (the sender's retry
        of one request); False when it came with another body. Remembered until `expires_at`
        (Unix seconds). Raises Unavailable."""


class MemoryTokenLedger:
    """This container's memory (IDEMPOTENCY_TABLE unset, and the tests): a token reused in
    another container is not seen."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._bound: dict[str, tuple[str, int]] = {}
        self._wall_clock = wall_clock
        self._lock = threading.Lock()

    def bind(self, key: str, body_digest: str, expires_at: int) -> bool:
        with self._lock:
            now = self._wall_clock()
            for old in [k for k, (_, until) in self._bound.items() if until < now]:
                del self._bound[old]  # expired tokens verify no more: nothing to remember
            bound = self._bound.setdefault(key, (body_digest, expires_at))
            return bound[0] == body_digest


class NoIdempotency:
    """IDEMPOTENCY_TABLE unset: every delivery is processed (no deduplication)."""

    stores = False

    def register(self, lambda_context: Any) -> None:
        return None

    def claim(self, key: dict[str, Any]) -> Outcome | None:
        return None

    def take(self, key: dict[str, Any], found: Outcome) -> Outcome | None:
        return None

    def complete(self, key: dict[str, Any], outcome: Outcome) -> None:
        return None

    def release(self, key: dict[str, Any]) -> None:
        return None
