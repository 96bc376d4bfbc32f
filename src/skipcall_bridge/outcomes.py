"""What became of one event, and of one delivery. An event's outcome is also what the
idempotency store keeps, so a repeated delivery gets exactly the first answer back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skipcall_bridge.envelope import Reason
from skipcall_bridge.payloads import BodyFormat

OutcomeStatus = Literal["created", "dead-lettered", "unmapped", "invalid-body"]


class EventOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivery_id: str
    status: OutcomeStatus
    sequence: dict[str, Any] | None = None  # the SequenceDto, when created
    reason: Reason | None = None  # why it was dead-lettered
    errors: list[dict[str, str]] = Field(default_factory=list)  # field errors, when unmapped
    skipped_contacts: list[dict[str, str]] = Field(default_factory=list)  # no usable phone

    @property
    def sequence_id(self) -> str | None:
        return None if self.sequence is None else self.sequence.get("id")


DeliveryStatus = Literal["created", "partial", "dead-lettered", "unmapped"]


@dataclass(frozen=True)
class DeliveryReport:
    """Every event's outcome, in the delivery's order."""

    events: list[EventOutcome]
    body_format: BodyFormat = "json"

    @property
    def sequences(self) -> list[dict[str, Any]]:
        return [e.sequence for e in self.events if e.status == "created" and e.sequence]

    @property
    def dead_lettered(self) -> list[EventOutcome]:
        return [e for e in self.events if e.status != "created"]

    @property
    def mapping_errors(self) -> list[dict[str, Any]]:
        return [
            {"event": index, **error}
            for index, event in enumerate(self.events)
            for error in event.errors
        ]

    @property
    def status(self) -> DeliveryStatus:
        if all(event.status == "unmapped" for event in self.events):
            return "unmapped"
        if not self.dead_lettered:
            return "created"
        return "partial" if self.sequences else "dead-lettered"
