"""What the pipeline needs from the outside world, as small protocols.

Adapters live in `aws/` and `skipcall/`; tests and benchmarks may supply their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter
from skipcall_bridge.skipcall.models import CreateResult, CreateSequenceDto


class SigningSecrets(Protocol):
    def signing_secrets(self, secret_id: str) -> Sequence[str]:
        """Every currently valid secret (several during a rotation). Raises Unavailable."""


class SequenceCreator(Protocol):
    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        """Create one sequence within the deadline; never raises for Skipcall's failures."""


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Store every letter, or raise Unavailable."""


class IdempotencyGuard(Protocol):
    stores: bool  # False: nothing is remembered, so nothing needs serialising

    def register(self, lambda_context: Any) -> None:
        """Bind the invocation, so a run cut short by a timeout does not hold its lock."""

    def run(
        self, key: dict[str, Any], work: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """Run `work` once per key; later calls get its stored result. Returns (result,
        replayed). Raises Unavailable (in progress, store down) or DeliveryConflict."""


class NoIdempotency:
    """IDEMPOTENCY_TABLE unset: every delivery is processed (no deduplication)."""

    stores = False

    def register(self, lambda_context: Any) -> None:
        return None

    def run(
        self, key: dict[str, Any], work: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        return work(), False
