"""One person, one Skipcall contact: `contact()` keys a contact on the `contact` map's `id`
(default: the event's `id`). Where that is the event's own id (a form submission's, a webhook
event's), every delivery makes a new contact for the same person. `check-config` and `preview`
warn of it: by the path's name, and by samples of one person whose ids differ (#30 item 8)."""

from __future__ import annotations

import re
from typing import Any

from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.config import IDENTITY_CALL
from skipcall_bridge.sources.rehearsal import Recorder, RehearsedResolution
from skipcall_bridge.sources.templates import EventMappingError

# The last name of a path that holds an event's, not a person's, id.
EVENT_ID = re.compile(
    r"^(?:.*[_-])?(?:event|submission|entry|response|delivery|message|webhook|request|form)"
    r"_?id$",
    re.IGNORECASE,
)

ADVICE = (
    "each delivery would make a new Skipcall contact for the same person: key the contact on "
    'the person (`"contact": {"id": "email"}`, or a phone or CRM person id)'
)


def contact_key_warnings(source: Source, events: list[Any]) -> list[str]:
    """Warnings for a source whose templates call contact(), from its config and its sample
    events (none: the path's name alone)."""
    if not _calls_contact(source):
        return []
    path = source.config.contact.get("id", "id").strip()
    warnings = []
    last = path.rsplit(".", 1)[-1]
    # contact(@) reads the event itself: its `id` is then the delivery's own
    of_the_event = path == (source.config.delivery_id or "").strip() and _calls_contact(
        source, on_the_event=True
    )
    if EVENT_ID.match(last) or of_the_event:
        why = "the event's deliveryId" if of_the_event else "named like an event's id"
        warnings.append(f"contact.id reads `{path}`, {why}: {ADVICE}")
    people: dict[str, set[str]] = {}
    for event in events:
        recorder = Recorder()
        try:
            source.mapper.map(event, RehearsedResolution(source, recorder))
        except EventMappingError:
            continue  # its errors are the mapping's to report
        for key, sent in recorder.contacts:
            for person in _person(sent):
                people.setdefault(person, set()).add(key)
    for person, keys in sorted(people.items()):
        if len(keys) > 1:
            warnings.append(
                f"contact.id reads `{path}`: the samples of one person ({person}) hold "
                f"{len(keys)} different values there: {ADVICE}"
            )
    return warnings


# contact(@) on the event itself; `&contact(@)` is applied to each item of a list instead
ON_THE_EVENT = re.compile(r"(?<![&\w])contact\(\s*@\s*\)")


def _calls_contact(source: Source, *, on_the_event: bool = False) -> bool:
    config = source.config.model_dump_json(by_alias=True, exclude_none=True)
    if on_the_event:
        return ON_THE_EVENT.search(config) is not None
    return any(call == "contact" for call in IDENTITY_CALL.findall(config))


def _person(sent: dict[str, Any]) -> list[str]:
    """What tells one person from another in a contact sent to Skipcall: email, phones."""
    found = []
    email = sent.get("email")
    if isinstance(email, str) and email.strip():
        found.append(email.strip().lower())
    for phone in sent.get("phoneNumbers") or []:
        number = phone.get("number") if isinstance(phone, dict) else phone
        if isinstance(number, str) and number:
            found.append(number)
    return found[:1]
