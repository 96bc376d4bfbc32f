"""Identity resolution: the `member()` and `contact()` template functions.

- `member(email or CRM owner id)`: the source's `members` map first, then the Skipcall users
  directory (GET /v1/users, all pages), cached per container and refreshed once on a miss.
- `contact(crm object)`: a Skipcall contact id. Phone numbers are normalised to E.164 with
  phonenumbers (the source's `defaultRegion` for national numbers). The contact is created once
  (POST /v1/contacts) and its id remembered in the link table under `source#crm id`. A contact
  with no usable phone number is skipped and reported in the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.budget import Deadline
from skipcall_bridge.observability import logger, metrics
from skipcall_bridge.skipcall.models import NotCreated

# Repeated misses (an unknown owner in every event) must not turn into a stream of directory
# reads against the rate limit: one refresh per this many seconds at most.
MIN_REFRESH_SECONDS = 10.0
NAME_FALLBACKS = ("Unknown", "Contact")  # Skipcall requires both names (1-100 characters)


class IdentityError(Exception):
    """The event names someone who cannot be resolved: a mapping failure, naming them."""


class DirectoryUnavailable(Exception):
    """Skipcall could not answer a directory or contact call: the event waits in the DLQ."""

    def __init__(self, failure: NotCreated) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class UserDirectory(Protocol):
    def list_users(self, deadline: Deadline) -> list[Any] | NotCreated: ...


class ContactApi(Protocol):
    def create_contact(self, contact: dict[str, Any], deadline: Deadline) -> str | NotCreated: ...


class ContactLinks(Protocol):
    def get(self, link_id: str) -> str | None: ...
    def put(self, link_id: str, contact_id: str) -> None: ...


class MemoryContactLinks:
    """CONTACT_LINKS_TABLE unset: links live as long as the container (others may create the
    same contact again)."""

    def __init__(self) -> None:
        self._links: dict[str, str] = {}

    def get(self, link_id: str) -> str | None:
        return self._links.get(link_id)

    def put(self, link_id: str, contact_id: str) -> None:
        self._links[link_id] = contact_id


class MemberDirectory:
    def __init__(
        self,
        users: UserDirectory,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self._ttl = ttl_seconds
        self._clock = clock
        self._by_email: dict[str, str] = {}
        self._loaded_at: float | None = None

    def resolve(self, email: str, deadline: Deadline) -> str | None:
        key = email.strip().lower()
        now = self._clock()
        stale = self._loaded_at is None or now - self._loaded_at > self._ttl
        if not stale and key in self._by_email:
            metrics.add_metric(name="MemberCacheHits", unit=MetricUnit.Count, value=1)
            return self._by_email[key]
        if stale or now - (self._loaded_at or 0) >= MIN_REFRESH_SECONDS:
            self._refresh(deadline)
        return self._by_email.get(key)

    def _refresh(self, deadline: Deadline) -> None:
        users = self._users.list_users(deadline)
        if isinstance(users, NotCreated):
            raise DirectoryUnavailable(users)
        self._by_email = {
            email.strip().lower(): member
            for user in users
            if isinstance(user, dict)
            and isinstance(email := user.get("email"), str)
            and isinstance(member := user.get("organizationMembershipId") or user.get("id"), str)
        }
        self._loaded_at = self._clock()
        metrics.add_metric(name="MemberDirectoryReads", unit=MetricUnit.Count, value=1)
        logger.info("Skipcall users read", extra={"users": len(self._by_email)})


@dataclass(frozen=True)
class ContactRules:
    """A source's `contact` map (field -> JMESPath on the CRM object) and `defaultRegion`."""

    fields: dict[str, Callable[[Any], Any]]
    default_region: str | None


@dataclass
class Resolution:
    """What `member()` and `contact()` need while one event is mapped."""

    source: str
    members: dict[str, str]
    rules: ContactRules
    directory: MemberDirectory
    contacts: ContactResolver
    deadline: Deadline
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


class ContactResolver:
    def __init__(self, api: ContactApi, links: ContactLinks) -> None:
        self._api = api
        self._links = links

    def resolve(self, resolution: Resolution, crm: dict[str, Any]) -> str | None:
        values = {name: read(crm) for name, read in resolution.rules.fields.items()}
        crm_id = _text(values.get("id"))
        phones = normalise_phones(_phone_candidates(values), resolution.rules.default_region)
        if not phones:
            resolution.skipped.append({"id": crm_id or "", "reason": "no usable phone number"})
            return None
        link_id = (
            f"{resolution.source}#{crm_id}" if crm_id else f"{resolution.source}#tel:{phones[0]}"
        )
        linked = self._links.get(link_id)
        if linked is not None:
            metrics.add_metric(name="ContactLinkHits", unit=MetricUnit.Count, value=1)
            return linked
        created = self._api.create_contact(_contact_body(values, phones), resolution.deadline)
        if isinstance(created, NotCreated):
            raise DirectoryUnavailable(created)
        self._links.put(link_id, created)
        metrics.add_metric(name="ContactsCreated", unit=MetricUnit.Count, value=1)
        return created


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

    def resolution(
        self, source: str, members: dict[str, str], rules: ContactRules, deadline: Deadline
    ) -> Resolution:
        return Resolution(source, members, rules, self.directory, self.contacts, deadline)
