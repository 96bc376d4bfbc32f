"""`attio`: HMAC-SHA256 of the raw body, hex, in `Attio-Signature` (or the legacy duplicate
`X-Attio-Signature`). Attio signs no timestamp; its `Idempotency-Key` header is the delivery id."""

from __future__ import annotations

from skipcall_bridge.verify.base import SignedRequest
from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier


class AttioVerifier(HmacSha256Verifier):
    def __init__(self) -> None:
        super().__init__("Attio-Signature", "hex", alternatives=["X-Attio-Signature"])

    def delivery_id(self, request: SignedRequest) -> str | None:
        return request.headers.get("idempotency-key")
