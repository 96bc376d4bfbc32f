"""The dead-letter envelope: the public shape of every SQS message the receiver writes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class Reason(StrEnum):
    SKIPCALL_UNAVAILABLE = "SKIPCALL_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    SKIPCALL_REJECTED = "SKIPCALL_REJECTED"
    MAPPING_FAILED = "MAPPING_FAILED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"


class ErrorInfo(BaseModel):
    # Failure-path models build their validators on first use, not on every cold start.
    model_config = ConfigDict(frozen=True, defer_build=True)

    status: int | None = None
    code: str
    message: str


class DeadLetter(BaseModel):
    """Version 1 of the envelope. Holds no secret, signature or Authorization value:
    only the parsed event (or the raw body as text), the DTO and what went wrong."""

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
    payload: JsonValue

    def to_message_body(self) -> str:
        return self.model_dump_json(by_alias=True)
