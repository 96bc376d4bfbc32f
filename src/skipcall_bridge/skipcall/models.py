"""Pydantic models of the Skipcall Public API, as published for POST /v1/sequences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from skipcall_bridge.envelope import ErrorInfo, Reason


class CreateSequenceDto(BaseModel):
    """Request body of POST /v1/sequences. Strict: a CRM number is not a membership id."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: str
    assignedToIds: list[str]
    creatorId: str
    contactIds: list[str] | None = None

    @field_validator("contactIds")
    @classmethod
    def _omit_empty(cls, value: list[str] | None) -> list[str] | None:
        return value or None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class AssignedUserDto(BaseModel):
    model_config = ConfigDict(extra="allow")

    organizationMembershipId: str
    email: str
    firstName: str | None = None
    lastName: str | None = None


class SequenceDto(BaseModel):
    """Response of POST /v1/sequences. Extra fields are kept: the API may grow."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    organizationMembershipId: str
    createdAt: str
    updatedAt: str
    contactCount: int | float | None = None
    assignedTo: list[AssignedUserDto] | None = None


@dataclass(frozen=True)
class Created:
    """Skipcall answered 2xx. `sequence` is None when the 2xx body could not be read:
    the sequence exists, so it must not be dead-lettered (a replay would duplicate it)."""

    sequence: SequenceDto | None
    attempts: int


@dataclass(frozen=True)
class NotCreated:
    reason: Reason
    retryable: bool
    attempts: int
    error: ErrorInfo


CreateResult = Created | NotCreated
