"""In-memory implementations of the pipeline's ports, for pure unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter, ErrorInfo, Reason
from skipcall_bridge.errors import Unavailable
from skipcall_bridge.skipcall.models import (
    Created,
    CreateResult,
    CreateSequenceDto,
    NotCreated,
    SequenceDto,
)


@dataclass
class StaticSecrets:
    values: dict[str, list[str]]
    reads: int = 0

    def signing_secrets(self, secret_id: str) -> Sequence[str]:
        self.reads += 1
        return self.values[secret_id]


@dataclass
class ScriptedSkipcall:
    """Answers each create with the next scripted result; creates when the script runs out."""

    script: list[NotCreated] = field(default_factory=list)
    received: list[CreateSequenceDto] = field(default_factory=list)

    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        self.received.append(dto)
        if self.script:
            return self.script.pop(0)
        sequence = SequenceDto(
            id=f"seq-{len(self.received)}",
            name=dto.name,
            organizationMembershipId=dto.creatorId,
            createdAt="2026-11-26T00:00:00.000Z",
            updatedAt="2026-11-26T00:00:00.000Z",
        )
        return Created(sequence, attempts=1)


@dataclass
class RecordingDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)
    broken: bool = False

    def send(self, letters: Sequence[DeadLetter]) -> None:
        if self.broken:
            raise Unavailable("queue down")
        self.letters.extend(letters)


def unavailable(attempts: int = 3) -> NotCreated:
    return NotCreated(
        Reason.SKIPCALL_UNAVAILABLE,
        retryable=True,
        attempts=attempts,
        error=ErrorInfo(status=503, code="HTTP_503", message="down"),
    )
