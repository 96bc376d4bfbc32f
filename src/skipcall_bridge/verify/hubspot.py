"""`hubspot`: HubSpot's request signatures.

- v3 (default): HMAC-SHA256, keyed with the app's client secret, of
  method + URI + raw body + X-HubSpot-Request-Timestamp (milliseconds), base64 in
  X-HubSpot-Signature-v3; the URI gets HubSpot's selective percent-decoding; ±5 minutes.
- v2 (workflow "Send a webhook" actions): SHA-256 hex of secret + method + URI + body.
- v1: SHA-256 hex of secret + body.
v2 and v1 carry no timestamp (a captured request verifies forever), so they are accepted only
where the `versions` option lists them, and beside v3 only with `allowLegacy`. When a v3
signature is present and v3 is allowed, it alone decides: no fall-back to v1.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    check_freshness,
    decode_base64,
    decode_hex,
    hmac_sha256,
    parse_timestamp,
    require,
    signing_key,
)

# HubSpot decodes exactly these escapes in the URI before signing, and no others.
_DECODED = {
    "3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
    "27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";",
}  # fmt: skip
_ESCAPES = re.compile("%(" + "|".join(_DECODED) + ")", re.IGNORECASE)


def hubspot_uri(url: str) -> str:
    return _ESCAPES.sub(lambda match: _DECODED[match.group(1).upper()], url)


class HubSpotVerifier(Verifier):
    def __init__(
        self, versions: Sequence[str], tolerance_seconds: int, allow_legacy: bool = False
    ) -> None:
        self._versions = frozenset(versions)
        self._tolerance = tolerance_seconds
        legacy = self._versions - {"v3"}
        self._legacy = legacy if allow_legacy or "v3" not in self._versions else frozenset()

    @property
    def signs_url(self) -> bool:
        return bool(self._versions & {"v2", "v3"})

    def check_secret(self, secret: str) -> None:
        signing_key(secret.encode())

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        v3 = request.headers.get("x-hubspot-signature-v3")
        if "v3" in self._versions and v3 is not None:
            self._verify_v3(request, v3, secrets, now)
            return
        version = (request.headers.get("x-hubspot-signature-version") or "").strip().lower()
        if version not in self._legacy:
            accepted = " or ".join(sorted({*self._legacy, *self._versions} & {"v1", "v2", "v3"}))
            raise InvalidSignature(
                "missing", f"no HubSpot signature of a version taken ({accepted})"
            )
        signature = request.headers.get("x-hubspot-signature")
        received = decode_hex(require(signature, "X-HubSpot-Signature header"))
        expected = (_legacy_digest(version, secret, request) for secret in secrets)
        if not any_digest_matches(expected, [received]):
            raise InvalidSignature

    def _verify_v3(
        self, request: SignedRequest, signature: str, secrets: Sequence[str], now: float
    ) -> None:
        what = "the X-HubSpot-Request-Timestamp header"
        timestamp = require(request.headers.get("x-hubspot-request-timestamp"), what)
        check_freshness(parse_timestamp(timestamp, what) / 1000, now, self._tolerance, what)
        received = decode_base64(require(signature, "X-HubSpot-Signature-v3 header"))
        content = _v3_content(request.method, request.url, request.body, timestamp)
        expected = (hmac_sha256(secret.encode(), content) for secret in secrets)
        if not any_digest_matches(expected, [received]):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        """What HubSpot sends: v3 with its timestamp, and the legacy header for compatibility."""
        headers: dict[str, str] = {}
        if "v3" in self._versions:
            timestamp = str(int(now * 1000))
            digest = hmac_sha256(secret.encode(), _v3_content(method, url, body, timestamp))
            headers["X-HubSpot-Request-Timestamp"] = timestamp
            headers["X-HubSpot-Signature-v3"] = base64.b64encode(digest).decode()
        legacy = "v2" if "v2" in self._legacy else "v1" if "v1" in self._legacy else None
        if legacy is not None:
            request = SignedRequest(method=method, url=url, body=body)
            headers["X-HubSpot-Signature"] = _legacy_digest(legacy, secret, request).hex()
            headers["X-HubSpot-Signature-Version"] = legacy
        return headers


def _v3_content(method: str, url: str, body: bytes, timestamp: str) -> bytes:
    return (method + hubspot_uri(url)).encode() + body + timestamp.encode()


def _legacy_digest(version: str, secret: str, request: SignedRequest) -> bytes:
    key = signing_key(secret.encode())
    prefix = key if version == "v1" else key + (request.method + request.url).encode()
    return hashlib.sha256(prefix + request.body).digest()
