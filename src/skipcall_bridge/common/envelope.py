"""The dead-letter envelope: the public shape of every SQS message the receiver writes, and how
a letter is made to fit one message whatever the body was (deep, huge, not JSON, not UTF-8)."""

from __future__ import annotations

import base64
import functools
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_serializer,
)

from skipcall_bridge.common.failures import ErrorInfo, Reason

# The queue's MaximumMessageSize (template.yaml sets SQS's maximum, 1 MiB). A letter is kept a
# margin below it, for the message attributes.
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_LETTER_BYTES = MAX_MESSAGE_BYTES - 4 * 1024
# SQS accepts only these characters in a message body; JSON can carry the others escaped.
_NOT_SQS_TEXT = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


Action = Literal["create", "enrol", "unenrol"]


class Target(BaseModel):
    """The sequence an enrol or unenrol acts on: its id, its name (created from `sequence` the
    first time it is needed), or both once the name is resolved."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str | None = None
    name: str | None = None


PayloadEncoding = Literal["json", "base64"]
# `event`: the payload is the one event this letter stands for. `body`: the payload is the whole
# body as the sender sent it; the replay selects the events again (`eventIndex`: only that one).
PayloadScope = Literal["event", "body"]


class DeadLetter(BaseModel):
    """Version 1 of the envelope. Holds no secret, signature or Authorization value:
    only the parsed event (or the raw body), the DTO and what went wrong.

    An enrol or unenrol letter also carries what the event resolved to: the `target`, the
    `contactIds`, the `assignee` (a workspace membership id) and `created` (the target was
    created by this event, so the replay only links and enrols). `sequence` is then the DTO the
    target would be created from, when it is known.

    `attempts` counts deliveries, not HTTP calls: the receiver's try is 1, and each replay run
    that fails adds 1."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)

    version: Literal[1] = 1
    source: str
    delivery_id: str = Field(alias="deliveryId")
    received_at: datetime = Field(alias="receivedAt")
    reason: Reason
    retryable: bool
    attempts: int = Field(ge=0)
    error: ErrorInfo
    sequence: dict[str, Any] | None
    action: Action | None = None  # None: not known yet (not mapped): the replay maps it
    target: Target | None = None
    contact_ids: list[str] | None = Field(default=None, alias="contactIds")
    assignee: str | None = None
    created: bool = False
    payload: JsonValue
    payload_encoding: PayloadEncoding = Field(default="json", alias="payloadEncoding")
    payload_scope: PayloadScope = Field(default="event", alias="payloadScope")
    event_index: int | None = Field(default=None, alias="eventIndex", ge=0)
    # How a stored body is read again, for a source whose format is `auto` (by Content-Type):
    # the format the receiver read it in. Absent: the source's format.
    body_format: Literal["json", "form", "xml"] | None = Field(default=None, alias="bodyFormat")
    # The receiver accepted the delivery whole and claimed none of its events: whoever acts on
    # the letter claims the event's `receive` key too (present only when true).
    unclaimed: bool = False

    @field_serializer("target")
    def _target_as_given(self, target: Target | None) -> dict[str, str] | None:
        return None if target is None else target.model_dump(exclude_none=True)

    def to_message_body(self) -> str:
        """Compact JSON that SQS accepts: characters it refuses travel as JSON escapes."""
        exclude = set() if self.action in ("enrol", "unenrol") else set(_ENROLMENT_ONLY)
        if self.body_format is None:
            exclude.add("body_format")
        if not self.unclaimed:
            exclude.add("unclaimed")
        text = json.dumps(
            self.model_dump(mode="json", by_alias=True, exclude=exclude),
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
        )
        return not_sqs_text().sub(lambda match: f"\\u{ord(match.group()):04x}", text)

    def stored_body(self) -> bytes | None:
        """The sender's bytes, for a letter that kept them as base64; else None."""
        if self.payload_encoding == "base64" and isinstance(self.payload, str):
            return base64.b64decode(self.payload)
        return None


# A create letter (or one not mapped yet) says its action; the enrolment fields stay out of it.
_ENROLMENT_ONLY = {"target", "contact_ids", "assignee", "created"}


@functools.cache
def not_sqs_text() -> re.Pattern[str]:
    """Compiled on the first letter (3 ms: off the cold start, which writes none)."""
    return re.compile(_NOT_SQS_TEXT)


def fitted_letter(fields: dict[str, Any], raw_body: bytes, event_index: int | None) -> DeadLetter:
    """The letter for one event, as small as it must be to fit one SQS message.

    First the event as JSON. When that cannot be a letter (nested deeper than the envelope
    validates, text JSON cannot carry) or is over the limit: the sender's raw body, base64, which
    the replay selects the event from again; last, without the DTO (the replay maps it again).
    A body under MAX_BODY_BYTES always fits the last form."""
    try:
        letter = DeadLetter.model_validate(fields)
        if _fits(letter):
            return letter
    except (ValidationError, ValueError):  # too deep for the envelope, or unserialisable text
        pass
    whole = {
        **fields,
        "payload": base64.b64encode(raw_body).decode("ascii"),
        "payloadEncoding": "base64",
        "payloadScope": "body",
        "eventIndex": event_index,
    }
    letter = DeadLetter.model_validate(whole)
    if _fits(letter):
        return letter
    return DeadLetter.model_validate({**whole, "sequence": None})


def _fits(letter: DeadLetter) -> bool:
    return len(letter.to_message_body().encode("utf-8")) <= MAX_LETTER_BYTES
