"""`attio`: HMAC-SHA256 of the raw body, hex, in `Attio-Signature` (or the legacy duplicate
`X-Attio-Signature`). Attio signs no timestamp. Its `Idempotency-Key` header is not signed, so
it is not trusted as a delivery id (anyone replaying a captured body could pick a fresh one):
ids come from the signed body."""

from __future__ import annotations

from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier


class AttioVerifier(HmacSha256Verifier):
    def __init__(self) -> None:
        super().__init__("Attio-Signature", "hex", alternatives=["X-Attio-Signature"])
