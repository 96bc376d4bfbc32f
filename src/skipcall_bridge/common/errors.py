"""Domain errors. Each carries a stable code; `responses` maps codes to HTTP statuses."""

from __future__ import annotations

from typing import Any, ClassVar, Literal


class BridgeError(Exception):
    """An expected failure that ends a request with a structured error body."""

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidBody(BridgeError):
    """The body is not in the source's format: it is dead-lettered as text and answered 400."""


class InvalidJson(InvalidBody):
    code = "INVALID_JSON"


class InvalidXml(InvalidBody):
    code = "INVALID_XML"


class InvalidForm(InvalidBody):
    code = "INVALID_FORM"


# Why a credential was refused, for the receiver's log and the dev tools, never for the answer.
Refusal = Literal["missing", "malformed", "stale", "mismatch", "reused"]

REFUSALS: dict[Refusal, str] = {
    "missing": "the credential is missing",
    "malformed": "the credential is malformed",
    "stale": "the signed timestamp is outside the tolerance",
    "mismatch": "the signature does not match the body with the source's secret or key "
    "(another secret signed it, or the body or the signed URL changed on the way)",
    "reused": "a single-use credential came back with another body",
}


class InvalidSignature(BridgeError):
    """Deliberately vague to the sender: the answer never says which part of the check failed.
    `why` and `detail` (header names and ages, never a value) are for the log and `make dev`."""

    code = "INVALID_SIGNATURE"

    def __init__(self, why: Refusal = "mismatch", detail: str = "") -> None:
        super().__init__("The request signature could not be verified.")
        self.why: Refusal = why
        self.detail = detail

    @property
    def explanation(self) -> str:
        return self.detail or REFUSALS[self.why]


class UnknownSource(BridgeError):
    code = "UNKNOWN_SOURCE"


class RouteNotFound(BridgeError):
    code = "NOT_FOUND"


class PayloadTooLarge(BridgeError):
    code = "PAYLOAD_TOO_LARGE"


class MappingFailed(BridgeError):
    code = "MAPPING_FAILED"


class Unavailable(BridgeError):
    """A dependency (Secrets Manager, the DLQ, the configuration) is unusable: sender retries."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, *, retry_after_seconds: int = 30) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class OutOfTime(Unavailable):
    """No outside call fits in the time the sender still waits: answered as if the service
    were unreachable (the sender retries)."""

    def __init__(self) -> None:
        super().__init__("No time is left for this call; retry later.")


class InProgress(Unavailable):
    """Another run holds this event right now: the sender should retry shortly."""

    def __init__(
        self, message: str = "This delivery is being processed right now; retry shortly."
    ) -> None:
        super().__init__(message, retry_after_seconds=5)


class DeliveryConflict(BridgeError):
    """A delivery id seen before arrived with a different payload."""

    code = "DELIVERY_CONFLICT"


class ConfigurationError(Exception):
    """The settings or the sources file are invalid. The message names the field at fault."""
