"""Skipcall's resources as the sandbox serves them: sequences, contacts, users, the workspace
and its members, and the contacts of a sequence. Each call answers a `Reply`; the HTTP handler
has already checked the key, counted the rate limit and played any fault."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from skipcall_bridge_dev.sandbox_contract import (
    DEACTIVATED_MEMBER,
    MAX_ITEMS,
    WORKSPACE_ID,
    least_loaded,
    validate_contact,
    validate_enrolment,
    validate_ids,
    validate_sequence,
    workspace_membership_id,
)
from skipcall_bridge_dev.sandbox_state import SandboxState


@dataclass(frozen=True)
class Reply:
    status: HTTPStatus
    body: dict[str, Any]


def error(status: HTTPStatus, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, "status": status.value}})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SandboxApi:
    def __init__(self, state: SandboxState, generation: int) -> None:
        self.state = state
        # the state's generation when the request began: after a reset, it records nothing
        self._generation = generation

    def create_sequence(self, body: Any) -> Reply:
        problems = validate_sequence(body, self.state.members)
        if problems:
            return error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems))
        return Reply(HTTPStatus.CREATED, self.store(body))

    def store(self, body: dict[str, Any]) -> dict[str, Any]:
        """A valid CreateSequenceDto, created: the SequenceDto."""
        now = _now()
        sequence = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "organizationMembershipId": body["creatorId"],
            "createdAt": now,
            "updatedAt": now,
            "contactCount": len(body.get("contactIds") or []),
            "assignedTo": [
                {
                    "organizationMembershipId": member,
                    "firstName": None,
                    "lastName": None,
                    "email": self.state.members.get(member, f"{member}@sandbox.invalid"),
                }
                for member in body["assignedToIds"]
            ],
        }
        with self.state.lock:
            if self._generation == self.state.generation:
                self.state.sequences.append({**sequence, "request": body})
        return sequence

    def create_contact(self, body: Any) -> Reply:
        problems = validate_contact(body)
        if problems:
            return error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems))
        now = _now()
        contact = {
            "id": str(uuid.uuid4()),
            **body,
            "allowPhoneCalls": body.get("allowPhoneCalls", True),
            "callCount": 0,
            "customFields": body.get("customFields", {}),
            "createdAt": now,
            "updatedAt": now,
            "lastModificationSource": "API",
        }
        with self.state.lock:
            self.state.contacts.append(contact)
        return Reply(HTTPStatus.CREATED, contact)

    def list_users(self, query: str) -> Reply:
        users = [
            {"organizationMembershipId": member, "email": email, "firstName": None,
             "lastName": None, "role": "MEMBER"}
            for member, email in sorted(self.state.members.items())
        ]  # fmt: skip
        return self._page(users, query)

    # -- workspaces ------------------------------------------------------------------------

    def workspaces(self) -> Reply:
        return Reply(HTTPStatus.OK, {"data": [{"id": WORKSPACE_ID, "name": "Sandbox"}]})

    def members(self, workspace_id: str, query: str) -> Reply:
        if workspace_id != WORKSPACE_ID:
            return error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Workspace not found")
        return self._page(self._workspace_members(), query)

    def _workspace_members(self) -> list[dict[str, Any]]:
        """Every configured member in the one workspace, and a deactivated one."""
        members = [
            {"id": workspace_membership_id(member), "organizationMembershipId": member,
             "email": email, "status": "ACTIVE", "role": "MEMBER"}
            for member, email in sorted(self.state.members.items())
        ]  # fmt: skip
        members.append(
            {"id": DEACTIVATED_MEMBER, "organizationMembershipId": str(uuid.uuid4()),
             "email": "former@example.com", "status": "DEACTIVATED", "role": "MEMBER"}
        )  # fmt: skip
        return members

    # -- the contacts of a sequence --------------------------------------------------------

    def add_contacts(self, sequence_id: str, body: Any) -> Reply:
        sequence = self._sequence(sequence_id)
        if sequence is None:
            return error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Sequence not found")
        active = {m["id"] for m in self._workspace_members() if m["status"] == "ACTIVE"}
        problems = validate_enrolment(body, active)
        if problems:
            return error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems))
        known = self._known_contacts()
        assignees = [workspace_membership_id(m) for m in sequence["request"]["assignedToIds"]]
        with self.state.lock:
            entries = self.state.enrolments.setdefault(sequence_id, {})
            for item in body:
                contact_id = item["contactId"]
                entry = entries.get(contact_id)
                if entry is not None:  # already in, or resurrected with its first assignee
                    entry["removed"] = False
                elif contact_id in known:  # others are out of scope: ignored, as documented
                    assignee = item.get("assignedToWorkspaceMembershipId") or least_loaded(
                        assignees, entries
                    )
                    entries[contact_id] = {
                        "id": str(uuid.uuid4()),
                        "contactId": contact_id,
                        "assignedToWorkspaceMembershipId": assignee,
                        "removed": False,
                    }
        return Reply(HTTPStatus.CREATED, {"message": "Contacts added"})

    def remove_contacts(self, sequence_id: str, body: Any) -> Reply:
        if self._sequence(sequence_id) is None:
            return error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Sequence not found")
        problems = validate_ids(body)
        if problems:
            return error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "; ".join(problems))
        with self.state.lock:
            entries = self.state.enrolments.get(sequence_id, {})
            for contact_id in body:
                if contact_id in entries:
                    entries[contact_id]["removed"] = True  # a soft delete
        return Reply(HTTPStatus.OK, {"message": "Contacts removed"})

    def sequence_contacts(self, sequence_id: str, query: str) -> Reply:
        if self._sequence(sequence_id) is None:
            return error(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Sequence not found")
        with self.state.lock:
            contacts = {c["id"]: c for c in self.state.contacts}
            entries = list(self.state.enrolments.get(sequence_id, {}).values())
        items = [
            {
                "id": entry["id"],
                "contactId": entry["contactId"],
                "assignedToWorkspaceMembershipId": entry["assignedToWorkspaceMembershipId"],
                "status": "ACTIVE",
                "contact": contacts.get(entry["contactId"]),
                "tags": [],
                "calls": [],
            }
            for entry in entries
            if not entry["removed"]
        ]
        return self._page(items, query)

    def _sequence(self, sequence_id: str) -> dict[str, Any] | None:
        with self.state.lock:
            return next((s for s in self.state.sequences if s["id"] == sequence_id), None)

    def _known_contacts(self) -> set[str]:
        with self.state.lock:
            return {contact["id"] for contact in self.state.contacts}

    def _page(self, items: list[dict[str, Any]], query: str) -> Reply:
        """`page` from 0, `size` 1-100 (default 10), as the docs' hidden page says."""
        params = dict(parse_qsl(query))
        try:
            page, size = int(params.get("page", 0)), int(params.get("size", 10))
        except ValueError:
            page, size = -1, 0
        if page < 0 or not 1 <= size <= MAX_ITEMS:
            return error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "page >= 0, size 1-100")
        chunk = items[page * size : (page + 1) * size]
        meta = {"page": page, "size": size, "total": len(items)}
        return Reply(HTTPStatus.OK, {"data": chunk, "meta": meta})
