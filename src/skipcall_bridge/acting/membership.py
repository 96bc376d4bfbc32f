"""Enrolments and removals held until a delivery's events are all mapped, then grouped into as
few Skipcall calls as the 100-item limit allows.

Events for the same sequence and action share calls; each contact is sent once per call, with
the first assignee asked for it. Order is kept where it matters: when a contact is enrolled and
then taken out (or the reverse) in one delivery, the later change goes in a later call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from skipcall_bridge.common.envelope import Target
from skipcall_bridge.common.outcomes import EventOutcome
from skipcall_bridge.skipcall.models import (
    MAX_CONTACTS_PER_CALL,
    AddContactsBody,
    EnrolmentItem,
    RemoveContactsBody,
)
from skipcall_bridge.sources.mapping import MembershipIntent


@dataclass(frozen=True)
class Held:
    """One event's enrolment or removal, its target resolved, waiting for its calls."""

    delivery_id: str
    index: int  # in the delivery
    intent: MembershipIntent
    target: Target  # with its id
    skipped: list[dict[str, str]]  # contacts left out (no phone, no link)
    created: bool = False  # this event created the target
    sequence: dict[str, Any] | None = None  # the DTO it was created from
    created_sequence: dict[str, Any] | None = None  # Skipcall's SequenceDto of what it created
    payload: Any = None
    key: dict[str, Any] = field(default_factory=dict)  # its deduplication key

    def keyed(self, key: dict[str, Any]) -> Held:
        return replace(self, key=key)

    def outcome(self) -> EventOutcome:
        return EventOutcome(
            delivery_id=self.delivery_id,
            status="enrolled" if self.intent.action == "enrol" else "unenrolled",
            action=self.intent.action,
            # the target; Skipcall's whole SequenceDto when this event created it (listed in
            # the answer's `sequences`, as a create's is)
            sequence=self.created_sequence or self.target.model_dump(exclude_none=True),
            contact_ids=self.intent.contact_ids,
            created=self.created,
            skipped_contacts=self.skipped,
        )


@dataclass
class Change:
    """One call: up to 100 contacts into (out of) one sequence, for the events `holders`."""

    action: Literal["enrol", "unenrol"]
    sequence_id: str
    items: dict[str, str | None] = field(default_factory=dict)  # contact id -> assignee
    holders: set[int] = field(default_factory=set)  # positions in the held list

    @property
    def contact_ids(self) -> list[str]:
        return list(self.items)

    def add_body(self) -> AddContactsBody:
        return AddContactsBody(
            [
                EnrolmentItem(contactId=contact, assignedToWorkspaceMembershipId=assignee)
                for contact, assignee in self.items.items()
            ]
        )

    def remove_body(self) -> RemoveContactsBody:
        return RemoveContactsBody(self.contact_ids)


def changes(held: list[Held]) -> list[Change]:
    """The calls that carry every held change, in the order they must be sent."""
    calls: list[Change] = []
    open_call: dict[tuple[str, str], int] = {}  # (action, sequence) -> the call still filling
    last_call: dict[tuple[str, str], int] = {}  # (sequence, contact) -> the last call naming it
    for position, one in enumerate(held):
        sequence_id = one.target.id
        assert sequence_id is not None  # resolved before it is held
        key = (one.intent.action, sequence_id)
        for contact in one.intent.contact_ids:
            at = open_call.get(key)
            later = last_call.get((sequence_id, contact), -1)
            if at is None or later > at or _full(calls[at], contact):
                at = len(calls)  # a new call: after every call that touched this contact
                calls.append(Change(one.intent.action, sequence_id))
                open_call[key] = at
            change = calls[at]
            change.items.setdefault(contact, one.intent.assignee)
            change.holders.add(position)
            last_call[(sequence_id, contact)] = at
    return calls


def _full(change: Change, contact: str) -> bool:
    return contact not in change.items and len(change.items) >= MAX_CONTACTS_PER_CALL


def membership_letter_fields(
    intent: MembershipIntent, target: Target, created: bool
) -> dict[str, Any]:
    """What an enrol or unenrol letter carries beside the event: enough to act again."""
    return {
        "action": intent.action,
        "target": target.model_dump(exclude_none=True),
        "contactIds": intent.contact_ids,
        "assignee": intent.assignee,
        "created": created,
    }
