"""`skipcall-bridge preview`: what a payload (or a dead letter) would become, without sending.

Per event: its delivery id, the action, the CreateSequenceDto (or the enrolment's target,
contact ids and assignee) or the field errors, and the identity lookups it would make
(member(), contact(), linked() and assignTo are recorded, not called). With the
request's headers it also checks the signature against the dev secret and, when it fails, says
why as a person needs it: the scheme, a missing header, a stale timestamp, the URL signed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.errors import ConfigurationError, InvalidBody, InvalidSignature
from skipcall_bridge.common.payloads import BodyFormat, format_for
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.contact_keys import contact_key_warnings
from skipcall_bridge.sources.mapping import CreateIntent
from skipcall_bridge.sources.rehearsal import Recorder, RehearsedResolution
from skipcall_bridge.sources.templates import EventMappingError
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge_dev.dev_keys import dev_secret_value
from skipcall_bridge_dev.samples import content_type


def preview(
    source: Source,
    body: bytes,
    *,
    letter: DeadLetter | None = None,
    headers: dict[str, str] | None = None,
    url: str = "",
) -> list[str]:
    """The lines to print."""
    return preview_report(source, body, letter=letter, headers=headers, url=url)[0]


def preview_report(
    source: Source,
    body: bytes,
    *,
    letter: DeadLetter | None = None,
    headers: dict[str, str] | None = None,
    url: str = "",
) -> tuple[list[str], bool]:
    """The lines to print, and whether all is well: the signature (when headers are given)
    verifies, the body reads, and no event fails to map (the CLI exits 1 otherwise, so a
    change to a sources file can be gated on it)."""
    lines: list[str] = []
    request = SignedRequest("POST", url, body, Headers(headers or {}))
    ok = True
    if headers is not None:
        report = signature_report(source, request)
        ok = report[0].endswith("ok with the dev secret")
        lines += report
    try:
        events, ids = _events(source, request, letter)
    except (InvalidBody, EventMappingError) as exc:
        body_format = _format(source, request, letter)
        return [*lines, f"the body cannot be read as {body_format}: {exc}"], False
    if not events:
        return [*lines, "the source's `events` selects nothing: answered 200 ignored"], ok
    for index, (delivery_id, event) in enumerate(zip(ids, events, strict=True)):
        mapped = map_event(source, event)
        ok = ok and "errors" not in mapped
        action = mapped.get("action") or (
            f"{_action_of(source, event)}, NOT MAPPED" if "errors" in mapped else "none (ignored)"
        )
        lines.append(f"event {index}  delivery id {delivery_id}  action {action}")
        for key in ("dto", "enrolment"):
            if key in mapped:
                lines.append("  " + json.dumps(mapped[key], indent=2).replace("\n", "\n  "))
        lines += [f"  {error}" for error in mapped.get("errors", [])]
        lines += [f"  lookup: {lookup}" for lookup in mapped["lookups"]]
    lines += [f"warning: {warning}" for warning in contact_key_warnings(source, events)]
    return lines, ok


def _action_of(source: Source, event: Any) -> str:
    """The event's action, rendered alone (the rest of the mapping failed)."""
    try:
        return source.mapper.action_of(event) or "none"
    except EventMappingError:
        return "not known (the action itself did not render)"


def map_event(source: Source, event: Any) -> dict[str, Any]:
    """{"action", "dto": …} (create), {"action", "enrolment": …} (enrol, unenrol), {} (ignored)
    or {"errors": […]}, and the identity lookups, for one event."""
    recorder = Recorder()
    resolution = RehearsedResolution(source, recorder)
    try:
        intent = source.mapper.map(event, resolution)
    except EventMappingError as exc:
        errors = [f"{error.field}: {error.message}" for error in exc.errors]
        return {"errors": errors, "lookups": recorder.lookups}
    if intent is None:
        return {"action": None, "lookups": recorder.lookups}
    if isinstance(intent, CreateIntent):
        return {"action": "create", "dto": intent.dto.to_json(), "lookups": recorder.lookups}
    enrolment = {
        "target": intent.target.model_dump(exclude_none=True),
        "contactIds": intent.contact_ids,
        **({"assignee": intent.assignee} if intent.assignee else {}),
    }
    if intent.target.name is not None:
        recorder.lookups.append(
            f"target {intent.target.name!r}: its linked id, else POST /v1/sequences (once)"
        )
        if intent.action == "enrol":
            # What the name would be created from: rendered here, so a typo in `sequence`
            # shows now, not only on the day the name is first created.
            try:
                dto = source.mapper.creation(event, intent.target.name, resolution)
            except EventMappingError as exc:
                errors = [f"sequence.{error.field}: {error.message}" for error in exc.errors]
                return {"action": intent.action, "enrolment": enrolment, "errors": errors,
                        "lookups": recorder.lookups}  # fmt: skip
            enrolment["createdFrom"] = dto.to_json()
    return {"action": intent.action, "enrolment": enrolment, "lookups": recorder.lookups}


def event_dtos(source: Source, request: SignedRequest) -> dict[str, Any]:
    """What each event of a delivery maps to, by delivery id (for the inspector)."""
    try:
        events, ids = _events(source, request, None)
    except (InvalidBody, EventMappingError):
        return {}
    return {
        delivery_id: map_event(source, event)
        for delivery_id, event in zip(ids, events, strict=True)
    }


def _events(
    source: Source, request: SignedRequest, letter: DeadLetter | None
) -> tuple[list[Any], list[str]]:
    if letter is not None and letter.payload_scope == "event":
        return [letter.payload], [letter.delivery_id]
    payload = source.parse_body(request.body, _format(source, request, letter))
    events = source.events.select(payload)
    if letter is not None and letter.event_index is not None:
        return [events[letter.event_index]], [letter.delivery_id]
    ids = source.delivery_ids(events, lambda: source.base_delivery_id(request, payload))
    return events, ids


def _format(source: Source, request: SignedRequest, letter: DeadLetter | None) -> BodyFormat:
    """How the body is read: as the letter says, else by the request's Content-Type, else (a
    body file for an `auto` source) by what the body looks like, as `sign` would send it."""
    if letter is not None and letter.body_format is not None:
        return letter.body_format
    sent = request.headers.get("content-type") or content_type(source.body_format, request.body)
    return format_for(source.body_format, sent)


def signature_report(source: Source, request: SignedRequest) -> list[str]:
    """Whether the dev secret verifies the request and, if not, why: the verifier's own
    reason (a missing header, a stale timestamp, a mismatch), as the receiver logs it."""
    scheme = source.config.auth.scheme
    secret = dev_secret_value(source)
    try:
        source.verifier.verify(request, [secret] if secret else [], time.time())
    except InvalidSignature as refused:
        lines = [f"signature ({scheme}): REFUSED, 401", f"  {refused.explanation}"]
        if refused.why == "mismatch" and source.verifier.signs_url:
            lines.append(f"  the sender signs the URL it called: it must be exactly {request.url}")
        return lines
    except ConfigurationError as exc:
        return [f"signature ({scheme}): the dev secret is unusable: {exc}"]
    return [f"signature ({scheme}): ok with the dev secret"]
