"""`standard-webhooks` (standardwebhooks.com v1, and Svix's `svix-*` header names).

Signed content is `{id}.{timestamp}.{body}`; the key is the base64 after `whsec_`; the header
holds space-separated `v1,<base64>` entries, any of which may match (rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    check_freshness,
    hmac_sha256,
    parse_timestamp,
    require,
    signing_key,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


class StandardWebhooksVerifier(Verifier):
    def __init__(self, tolerance_seconds: int) -> None:
        self._tolerance = tolerance_seconds

    def check_secret(self, secret: str) -> None:
        signing_key(decode_secret(secret))

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        headers = request.headers
        message_id = require(headers.first("webhook-id", "svix-id"), "webhook-id header")
        what = "the webhook-timestamp header"
        timestamp = parse_timestamp(headers.first("webhook-timestamp", "svix-timestamp"), what)
        signatures = require(
            headers.first("webhook-signature", "svix-signature"), "webhook-signature header"
        )
        check_freshness(timestamp, now, self._tolerance, what)
        received = [
            signature.encode()
            for version, _, signature in (entry.partition(",") for entry in signatures.split())
            if version == "v1" and signature
        ]
        content = _signed_content(message_id, timestamp, request.body)
        expected = (_signature(secret, content) for secret in secrets)
        if not received:
            raise InvalidSignature("missing", "no v1, signature in the webhook-signature header")
        if not any_digest_matches(expected, received):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        timestamp = int(now)
        message_id = "msg_" + hashlib.sha256(body + str(timestamp).encode()).hexdigest()[:24]
        signature = _signature(secret, _signed_content(message_id, timestamp, body)).decode()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{signature}",
        }

    def delivery_id(self, request: SignedRequest) -> str | None:
        return request.headers.first("webhook-id", "svix-id")


def _signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def _signature(secret: str, content: bytes) -> bytes:
    return base64.b64encode(hmac_sha256(decode_secret(secret), content))


def decode_secret(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (ValueError, binascii.Error):
        # The operator's secret is malformed; no sender can fix that by retrying differently.
        raise ConfigurationError("a standard-webhooks secret is not whsec_<base64>") from None
