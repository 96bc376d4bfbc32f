"""What Skipcall's published contract accepts, as the sandbox enforces it: the
CreateSequenceDto, the contact and enrolment bodies (NestJS class-validator messages), and the
one workspace the sandbox has."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
MAX_ITEMS = 100  # both contact endpoints take 1-100 items
WORKSPACE_ID = "5b0c7e1a-3f4d-4c2b-8a9e-0d1c2b3a4f50"
DEACTIVATED_MEMBER = "5b0c7e1a-3f4d-4c2b-8a9e-0d1c2b3a4fff"
REQUIRED = {"name": str, "assignedToIds": list, "creatorId": str}
OPTIONAL = {"contactIds": list}


def workspace_membership_id(organization_membership_id: str) -> str:
    """The sandbox's workspace membership id of an organization member: another id, as in
    Skipcall, but a stable one."""
    return str(uuid.uuid5(uuid.UUID(WORKSPACE_ID), organization_membership_id))


def least_loaded(assignees: list[str], entries: dict[str, dict[str, Any]]) -> str | None:
    """Round-robin among the sequence's assignees, least loaded first."""
    if not assignees:
        return None
    load = Counter(e["assignedToWorkspaceMembershipId"] for e in entries.values())
    return min(assignees, key=lambda member: load[member])


def validate_items(body: Any) -> list[str]:
    if not isinstance(body, list):
        return ["body must be a JSON array"]
    if not 1 <= len(body) <= MAX_ITEMS:
        return [f"body must contain between 1 and {MAX_ITEMS} elements"]
    return []


def validate_enrolment(body: Any, active_members: set[str]) -> list[str]:
    """POST /v1/sequences/{id}/contacts: 1-100 `{contactId, assignedToWorkspaceMembershipId?}`
    (the array as add-contacts-to-a-sequence.md renders it)."""
    problems = validate_items(body)
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
        if not is_uuid(item.get("contactId")):
            problems.append(f"{index}.contactId must be a UUID")
        member = item.get("assignedToWorkspaceMembershipId", "")
        if "assignedToWorkspaceMembershipId" in item and not is_uuid(member):
            problems.append(f"{index}.assignedToWorkspaceMembershipId must be a UUID")
        elif member and member not in active_members:
            problems.append(f"{index}.assignedToWorkspaceMembershipId is not an active member")
    return problems


def validate_ids(body: Any) -> list[str]:
    """DELETE /v1/sequences/{id}/contacts: 1-100 contact UUIDs."""
    problems = validate_items(body)
    if problems:
        return problems
    return [f"{index} must be a UUID" for index, item in enumerate(body) if not is_uuid(item)]


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and UUID.match(value) is not None


CONTACT_FIELDS = {
    "firstName", "lastName", "phoneNumbers", "email", "company", "city", "country", "url",
    "linkedinUrl", "linkedinSalesUrl", "role", "allowPhoneCalls", "customFields",
}  # fmt: skip


def validate_contact(body: Any) -> list[str]:
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


def validate_sequence(body: Any, members: dict[str, str]) -> list[str]:
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
