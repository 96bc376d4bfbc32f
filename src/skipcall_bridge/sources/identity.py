"""Identity resolution: the `member()`, `contact()` and `linked()` template functions, and the
assignee of an enrolment.

- `member(email or CRM owner id)`: the source's `members` map first, then the Skipcall users
  directory (GET /v1/users, all pages), cached per container and refreshed once on a miss.
- `contact(crm object)`: a Skipcall contact id. Phone numbers are normalised to E.164 with
  phonenumbers (the source's `defaultRegion` for national numbers). The contact is created once
  (POST /v1/contacts) and its id remembered in the link table under `source#crm id` (and under
  each of its `aliases`). A contact with no usable phone number is skipped and reported.
- `linked(crm id[, source])`: the Skipcall contact already linked to that CRM record (by this
  source, or the one named), never creating one; a record with no link is skipped and reported.
- `assignTo`: `member()`, then the member's *workspace* membership id (GET /v1/workspaces and
  /v1/workspaces/{id}/members, active members only), cached like the users directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.keyed_locks import KeyedLocks
from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.ports import ContactApi, ContactLinks
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.directories import (
    DirectoryUnavailable,
    IdentityError,
    MemberDirectory,
    WorkspaceDirectory,
)

NAME_FALLBACKS = ("Unknown", "Contact")  # Skipcall requires both names (1-100 characters)


@dataclass(frozen=True)
class ContactRules:
    """A source's `contact` map (field -> JMESPath on the CRM object) and `defaultRegion`."""

    fields: dict[str, Callable[[Any], Any]]
    default_region: str | None
    workspace_id: str | None = None  # where assignees are looked up (None: every workspace)


@dataclass
class Resolution:
    """What `member()` and `contact()` need while one event is mapped."""

    source: str
    members: dict[str, str]
    rules: ContactRules
    directory: MemberDirectory
    contacts: ContactResolver
    deadline: Deadline
    workspaces: WorkspaceDirectory | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)

    def member(self, key: str | float) -> str:
        text = _text(key)
        if text is None:
            raise IdentityError("member(): no email or owner id")
        known = self.members.get(text) or self.members.get(text.lower())
        if known is None and "@" in text:
            known = self.directory.resolve(text, self.deadline)
        if known is None:
            raise IdentityError(f"member(): no Skipcall user for {text!r}")
        return known

    def contact(self, crm: dict[str, Any]) -> str | None:
        return self.contacts.resolve(self, crm)

    def linked(self, crm_id: str | float, source: str | None = None) -> str | None:
        text = _text(crm_id)
        if text is None:
            raise IdentityError("linked(): no CRM record id")
        link_id = f"{source or self.source}#{text}"
        contact = self.contacts.linked(link_id)
        if contact is None:
            self.skipped.append({"id": text, "reason": f"no Skipcall contact linked to {link_id}"})
        return contact

    def assignee(self, key: str | float) -> str:
        """The workspace membership id of the member `key` names (an email or CRM owner id)."""
        member = self.member(key)
        if self.workspaces is None:
            raise IdentityError("assignTo: workspace memberships cannot be read here")
        text = _text(key) or ""
        email = text.lower() if "@" in text else self.directory.email_of(member)
        return self.workspaces.resolve(member, email, self.rules.workspace_id, self.deadline)


# Other CRM ids an event may link to its contact: each costs a read and maybe a write.
MAX_ALIASES = 20


class ContactResolver:
    def __init__(self, api: ContactApi, links: ContactLinks) -> None:
        self._api = api
        self._links = links
        self._in_use = KeyedLocks()

    def resolve(self, resolution: Resolution, crm: dict[str, Any]) -> str | None:
        values = {name: read(crm) for name, read in resolution.rules.fields.items()}
        crm_id = _text(values.get("id"))
        candidates = _phone_candidates(values)
        phones = normalise_phones(candidates, resolution.rules.default_region)
        if not phones:
            reason = _why_no_phone(candidates, resolution.rules.default_region)
            resolution.skipped.append({"id": crm_id or "", "reason": reason})
            return None
        link_id = (
            f"{resolution.source}#{crm_id}" if crm_id else f"{resolution.source}#tel:{phones[0]}"
        )
        # Two events of one delivery about the same person run on two threads: one creates
        # the contact, the other waits and finds its link.
        with self._in_use.hold(link_id, resolution.deadline.remaining()):
            linked = self._link_or_create(link_id, values, phones, resolution.deadline)
        self._link_aliases(resolution, link_id, linked, _aliases(values.get("aliases")))
        return linked

    def _link_aliases(
        self, resolution: Resolution, link_id: str, contact_id: str, aliases: list[str]
    ) -> None:
        """Other CRM ids of the same person, linked to it when they are not linked yet. An
        alias already linked to another contact is left alone: a payload must not re-point
        someone else's link (the next event for them would reach this person's phone)."""
        if len(aliases) > MAX_ALIASES:
            logger.warning("Aliases beyond the limit ignored", extra={"aliases": len(aliases)})
        for alias in aliases[:MAX_ALIASES]:
            if resolution.deadline.expired:
                break  # the rest are linked by a later event of the same person
            alias_id = f"{resolution.source}#{alias}"
            if alias_id == link_id:
                continue
            current = self.linked(alias_id)
            if current is None:
                self._put(alias_id, contact_id)
            elif current != contact_id:
                logger.warning("Alias linked to another contact: left as it is")

    def _link_or_create(
        self, link_id: str, values: dict[str, Any], phones: list[str], deadline: Deadline
    ) -> str:
        linked = self.linked(link_id)
        if linked is not None:
            metrics.add_metric(name="ContactLinkHits", unit=MetricUnit.Count, value=1)
            return linked
        created = self._api.create_contact(_contact_body(values, phones), deadline)
        if isinstance(created, CallFailed):
            raise DirectoryUnavailable(created)
        self._put(link_id, created)
        metrics.add_metric(name="ContactsCreated", unit=MetricUnit.Count, value=1)
        return created

    def linked(self, link_id: str) -> str | None:
        try:
            return self._links.get(link_id)
        except Unavailable as exc:
            raise DirectoryUnavailable(links_unavailable(exc)) from None

    def _put(self, link_id: str, contact_id: str) -> None:
        try:
            self._links.put(link_id, contact_id)
        except Unavailable as exc:
            raise DirectoryUnavailable(links_unavailable(exc)) from None


def _aliases(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [text for item in items if (text := _text(item)) is not None]


def links_unavailable(exc: Unavailable) -> CallFailed:
    """The link table is down: what an event waits for in the DLQ (retryable)."""
    return CallFailed(
        Reason.LINKS_UNAVAILABLE,
        retryable=True,
        attempts=0,
        error=ErrorInfo(code="LINKS_UNAVAILABLE", message=exc.message),
    )


def normalise_phones(candidates: list[str], default_region: str | None) -> list[str]:
    """E.164 numbers, valid ones only, in order, without repeats."""
    import phonenumbers  # only sources that resolve contacts load its metadata

    numbers: list[str] = []
    for raw in candidates:
        try:
            parsed = phonenumbers.parse(raw, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if number not in numbers:
                numbers.append(number)
    return numbers


def _why_no_phone(candidates: list[str], default_region: str | None) -> str:
    """What to fix when no number is usable: the field (none was read: the `contact` map's
    `phone`/`phones` paths), `defaultRegion` (numbers written without +country), or the data."""
    if not candidates:
        return "no phone number: `contact.phone`/`contact.phones` read nothing from this record"
    if default_region is None and not any(raw.strip().startswith("+") for raw in candidates):
        return (
            f"no usable phone number in {candidates[:3]}: numbers without +country need the "
            'source\'s `defaultRegion` (e.g. "US")'
        )
    return f"no usable phone number in {candidates[:3]}"


def _phone_candidates(values: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for value in (values.get("phone"), values.get("phones")):
        items = value if isinstance(value, list) else [value]
        found.extend(text for item in items if (text := _text(item)) is not None)
    return found


def _contact_body(values: dict[str, Any], phones: list[str]) -> dict[str, Any]:
    first, last = _text(values.get("firstName")), _text(values.get("lastName"))
    full = _text(values.get("name"))
    if full and not (first and last):
        head, _, tail = full.partition(" ")
        first, last = first or head, last or tail or None
    body: dict[str, Any] = {
        "firstName": (first or NAME_FALLBACKS[0])[:100],
        "lastName": (last or NAME_FALLBACKS[1])[:100],
        "phoneNumbers": phones,
    }
    for name, limit in (("email", 320), ("company", 200)):
        text = _text(values.get(name))
        if text:
            body[name] = text[:limit]
    return body


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True)
class IdentityServices:
    """The container's directory cache and contact resolver."""

    directory: MemberDirectory
    contacts: ContactResolver
    workspaces: WorkspaceDirectory | None = None

    def forget(self) -> None:
        """Drop the directories read so far (a restored container reads them afresh)."""
        self.directory.forget()
        if self.workspaces is not None:
            self.workspaces.forget()

    def resolution(
        self, source: str, members: dict[str, str], rules: ContactRules, deadline: Deadline
    ) -> Resolution:
        return Resolution(
            source, members, rules, self.directory, self.contacts, deadline, self.workspaces
        )
