"""Why something was not done, in the words every layer shares: the Skipcall client's failed
calls, the pipeline's outcomes, and the dead letters that keep them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ERROR_MESSAGE = 2000


class Reason(StrEnum):
    SKIPCALL_UNAVAILABLE = "SKIPCALL_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    SKIPCALL_REJECTED = "SKIPCALL_REJECTED"
    MAPPING_FAILED = "MAPPING_FAILED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    # The request may have reached Skipcall (read timeout, reset after sending, 5xx other than
    # 503): Skipcall has no idempotency key, so it is never sent again without a person's say.
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    # The link table (contacts, sequence names) could not be read or written.
    LINKS_UNAVAILABLE = "LINKS_UNAVAILABLE"
    # The target sequence's name is being created by another run, or that run could not tell
    # whether Skipcall created it (a person settles it with `skipcall-bridge links`).
    SEQUENCE_PENDING = "SEQUENCE_PENDING"


class ErrorInfo(BaseModel):
    # Failure-path models build their validators on first use, not on every cold start.
    model_config = ConfigDict(frozen=True, defer_build=True)

    status: int | None = None
    code: str = Field(min_length=1)
    message: str = Field(min_length=1)

    @field_validator("message", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return value[:MAX_ERROR_MESSAGE] if isinstance(value, str) else value
