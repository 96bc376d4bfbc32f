"""`close` (Close CRM): HMAC-SHA256 keyed with the hex-decoded signature key, over
`close-sig-timestamp` + raw body, hex in `close-sig-hash`; timestamps in seconds, within ±5 min."""

from __future__ import annotations

from collections.abc import Sequence

from skipcall_bridge.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    check_freshness,
    decode_hex,
    hmac_sha256,
    parse_timestamp,
    require,
)


class CloseVerifier(Verifier):
    def __init__(self, tolerance_seconds: int) -> None:
        self._tolerance = tolerance_seconds

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        timestamp_text = require(request.headers.get("close-sig-timestamp"))
        check_freshness(parse_timestamp(timestamp_text), now, self._tolerance)
        received = decode_hex(require(request.headers.get("close-sig-hash")))
        content = timestamp_text.encode() + request.body
        expected = (hmac_sha256(_key(secret), content) for secret in secrets)
        if not any_digest_matches(expected, [received]):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        timestamp = str(int(now))
        digest = hmac_sha256(_key(secret), timestamp.encode() + body)
        return {"close-sig-hash": digest.hex(), "close-sig-timestamp": timestamp}


def _key(secret: str) -> bytes:
    try:
        return bytes.fromhex(secret)
    except ValueError:
        raise ConfigurationError("a Close signature key must be hex (signature_key)") from None
