"""An event mapped as the receiver maps it, without calling anyone: member(), contact(),
linked() and assignTo answer with placeholders and are recorded (what `preview` prints, and
how `replay --dry-run` finds the letters that would fail to map again)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.directories import IdentityError, MemberDirectory
from skipcall_bridge.sources.identity import ContactResolver, Resolution


@dataclass
class Recorder:
    lookups: list[str] = field(default_factory=list)
    # each contact contact() would create: (its link key `source#CRM id`, what is sent)
    contacts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _sent: list[dict[str, Any]] = field(default_factory=list)

    def list_users(self, deadline: Deadline) -> list[Any] | CallFailed:
        return []

    def create_contact(self, contact: dict[str, Any], deadline: Deadline) -> str:
        self.lookups.append(f"contact(): POST /v1/contacts {json.dumps(contact)}")
        self._sent.append(contact)
        return f"<new contact {len(self.lookups)}>"

    # the contact links: none known, none written
    def get(self, link_id: str) -> str | None:
        return None

    def put(self, link_id: str, contact_id: str) -> None:
        if self._sent:  # the contact just created is linked under this key
            self.contacts.append((link_id, self._sent.pop()))


class RehearsedResolution(Resolution):
    """member() and contact() as the receiver runs them, with Skipcall's calls recorded."""

    def __init__(self, source: Source, recorder: Recorder) -> None:
        super().__init__(
            source.name,
            source.config.members,
            source.contact_rules,
            MemberDirectory(recorder, 0),
            ContactResolver(recorder, recorder),
            Deadline(10),
        )
        self._recorder = recorder

    def linked(self, crm_id: str | float, source: str | None = None) -> str | None:
        link_id = f"{source or self.source}#{crm_id}"
        self._recorder.lookups.append(f"linked({crm_id!r}): the contact linked to {link_id}")
        return f"<contact linked to {link_id}>"

    def assignee(self, key: str | float) -> str:
        member = self.member(key)
        self._recorder.lookups.append(
            f"assignTo {key!r}: {member}'s workspace membership (GET /v1/workspaces/…/members)"
        )
        return f"<workspace membership of {member}>"

    def member(self, key: str | float) -> str:
        text = str(key).strip()
        known = self.members.get(text) or self.members.get(text.lower())
        if known is not None:
            self._recorder.lookups.append(f"member({text!r}): {known} (the members map)")
            return known
        if "@" in text:
            self._recorder.lookups.append(f"member({text!r}): looked up in GET /v1/users")
            return f"<member {text}>"
        raise IdentityError(
            f"member(): {text!r} is not in the source's members map (owner ids must be; "
            "`skipcall-bridge members` lists the Skipcall users)"
        )
