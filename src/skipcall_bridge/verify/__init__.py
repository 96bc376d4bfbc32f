"""Signature verification: one module per scheme behind the `Verifier` interface."""

from __future__ import annotations

from skipcall_bridge.verify.base import Headers, SignedRequest, Verifier
from skipcall_bridge.verify.bearer import BearerVerifier
from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier
from skipcall_bridge.verify.schemes import (
    AuthConfig,
    BearerAuth,
    HmacSha256Auth,
    StandardWebhooksAuth,
)
from skipcall_bridge.verify.standard_webhooks import StandardWebhooksVerifier

__all__ = ["AuthConfig", "Headers", "SignedRequest", "Verifier", "build_verifier"]


def build_verifier(auth: AuthConfig) -> Verifier:
    match auth:
        case BearerAuth():
            return BearerVerifier()
        case HmacSha256Auth():
            return HmacSha256Verifier(auth.header, auth.encoding, auth.prefix)
        case StandardWebhooksAuth():
            return StandardWebhooksVerifier(auth.tolerance_seconds)
