"""`hmac-sha256`: HMAC-SHA256 of the raw body in one header, hex or base64, with an optional
prefix such as `sha256=` (GitHub style). Options: `header`, `encoding`, `prefix`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

from skipcall_bridge.errors import InvalidSignature
from skipcall_bridge.verify.base import SignedRequest, any_digest_matches, require


class HmacSha256Verifier:
    def __init__(self, header: str, encoding: Literal["hex", "base64"], prefix: str) -> None:
        self._header = header
        self._encoding = encoding
        self._prefix = prefix

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        received = self._decode(require(request.headers.get(self._header)))
        expected = (_digest(secret, request.body) for secret in secrets)
        if not any_digest_matches(expected, [received]):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        digest = _digest(secret, body)
        text = digest.hex() if self._encoding == "hex" else base64.b64encode(digest).decode()
        return {self._header: f"{self._prefix}{text}"}

    def delivery_id(self, request: SignedRequest) -> str | None:
        return None

    def _decode(self, value: str) -> bytes:
        if self._prefix:
            if not value.lower().startswith(self._prefix.lower()):
                raise InvalidSignature
            value = value[len(self._prefix) :]
        try:
            if self._encoding == "hex":
                return bytes.fromhex(value)
            return base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise InvalidSignature from None


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()
