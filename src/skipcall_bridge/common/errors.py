"""Domain errors. Each carries a stable code; `responses` maps codes to HTTP statuses."""

from __future__ import annotations

from typing import Any, ClassVar


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


class InvalidSignature(BridgeError):
    """Deliberately vague: the sender learns nothing about which part of the check failed."""

    code = "INVALID_SIGNATURE"

    def __init__(self, message: str = "The request signature could not be verified.") -> None:
        super().__init__(message)


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
