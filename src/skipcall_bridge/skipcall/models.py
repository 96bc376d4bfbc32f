"""Pydantic models of the Skipcall Public API: POST /v1/sequences (published in full), and the
bodies of POST and DELETE /v1/sequences/{id}/contacts (as far as the docs render them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from skipcall_bridge.common.failures import ErrorInfo, Reason

# Skipcall's ids (sequences, contacts, memberships, workspaces) are UUIDs.
SKIPCALL_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


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


# Both endpoints take 1-100 items per call (docs.skipcall.app/api-reference/sequences/
# add-contacts-to-a-sequence and .../remove-contacts-from-a-sequence, and their .md copies).
MAX_CONTACTS_PER_CALL = 100


class EnrolmentItem(BaseModel):
    """One "contact assignment entry" of POST /v1/sequences/{id}/contacts. Without an assignee,
    Skipcall assigns round-robin among the sequence's assignees, least loaded first."""

    # Enrolment models build their validators on first use, not on every cold start.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    contactId: str = Field(min_length=1)
    # A *workspace* membership id (GET /v1/workspaces/{id}/members), not an organization one.
    assignedToWorkspaceMembershipId: str | None = None


class AddContactsBody(RootModel[list[EnrolmentItem]]):
    """POST /v1/sequences/{id}/contacts. The rendered page shows the body as a bare JSON array;
    the name of a wrapping property, if the live spec has one, was not visible (see
    add-contacts-to-a-sequence.md). Should it be `{"contacts": [...]}`, only `body()` changes."""

    model_config = ConfigDict(defer_build=True)

    root: list[EnrolmentItem] = Field(min_length=1, max_length=MAX_CONTACTS_PER_CALL)

    def body(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class RemoveContactsBody(RootModel[list[str]]):
    """DELETE /v1/sequences/{id}/contacts: contact UUIDs. The page's example is a bare array of
    two UUIDs; a wrapping property (possibly `contactIds`) is UNVERIFIED (see
    remove-contacts-from-a-sequence.md). Should it exist, only `body()` changes."""

    model_config = ConfigDict(defer_build=True)

    root: list[str] = Field(min_length=1, max_length=MAX_CONTACTS_PER_CALL)

    def body(self) -> bytes:
        return self.model_dump_json().encode()


@dataclass(frozen=True)
class Done:
    """Skipcall answered 2xx to a call whose answer carries nothing the bridge needs."""

    attempts: int


@dataclass(frozen=True)
class CallFailed:
    """A call to Skipcall that did not succeed: why, whether trying again may help, how many
    HTTP attempts it made, and what Skipcall (or the network) said."""

    reason: Reason
    retryable: bool
    attempts: int
    error: ErrorInfo


CreateResult = Created | CallFailed
CallResult = Done | CallFailed
