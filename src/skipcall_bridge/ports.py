"""What the pipeline and the replay need from the outside world, as small protocols.

Adapters live in `aws/` and `skipcall/`; tests and benchmarks may supply their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter
from skipcall_bridge.skipcall.models import CreateResult, CreateSequenceDto
from skipcall_bridge.skipcall.retry import RateLimit


class SigningSecrets(Protocol):
    def signing_secrets(self, secret_id: str) -> Sequence[str]:
        """Every currently valid secret (several during a rotation). Raises Unavailable."""


class SequenceCreator(Protocol):
    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        """Create one sequence within the deadline; never raises for Skipcall's failures."""


class PacedCreator(SequenceCreator, Protocol):
    rate_limit: RateLimit | None  # as of Skipcall's last answer: the replay paces itself by it


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Store every letter (SendMessageBatch, 10 a call), or raise Unavailable."""


class ReplayQueue(DeadLetterSink, Protocol):
    def receive(self, max_messages: int = 10) -> list[Any]: ...
    def delete(self, receipt: str) -> None: ...
    def release(self, receipt: str) -> None: ...


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

    def complete(self, key: dict[str, Any], outcome: Outcome) -> None:
        """Store the outcome of a held key. Raises Unavailable."""

    def release(self, key: dict[str, Any]) -> None:
        """The work ended without an outcome: a retry may do it. Never raises."""


class NoIdempotency:
    """IDEMPOTENCY_TABLE unset: every delivery is processed (no deduplication)."""

    stores = False

    def register(self, lambda_context: Any) -> None:
        return None

    def claim(self, key: dict[str, Any]) -> Outcome | None:
        return None

    def complete(self, key: dict[str, Any], outcome: Outcome) -> None:
        return None

    def release(self, key: dict[str, Any]) -> None:
        return None
