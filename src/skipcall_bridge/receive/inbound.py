"""What arrives: one delivery, as the pipeline takes it (cheap to import, for the handler)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from skipcall_bridge.verify import SignedRequest


@dataclass(frozen=True)
class InboundDelivery:
    source: str
    request: SignedRequest
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
