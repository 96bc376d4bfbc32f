"""`hmac-sha256`: HMAC-SHA256 of the raw body in one header, hex or base64, with an optional
prefix such as `sha256=` (GitHub style). Options: `header`, `encoding`, `prefix`."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Literal

from skipcall_bridge.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    decode_base64,
    decode_hex,
    hmac_sha256,
    require,
)


class HmacSha256Verifier(Verifier):
    def __init__(
        self,
        header: str,
        encoding: Literal["hex", "base64"],
        prefix: str = "",
        *,
        alternatives: Sequence[str] = (),
    ) -> None:
        self._headers = (header, *alternatives)  # the first present is read; signing uses `header`
        self._encoding = encoding
        self._prefix = prefix

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        received = self._decode(require(request.headers.first(*self._headers)))
        expected = (hmac_sha256(secret.encode(), request.body) for secret in secrets)
        if not any_digest_matches(expected, [received]):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        digest = hmac_sha256(secret.encode(), body)
        text = digest.hex() if self._encoding == "hex" else base64.b64encode(digest).decode()
        return {self._headers[0]: f"{self._prefix}{text}"}

    def _decode(self, value: str) -> bytes:
        if self._prefix:
            if not value.lower().startswith(self._prefix.lower()):
                raise InvalidSignature
            value = value[len(self._prefix) :]
        return decode_hex(value) if self._encoding == "hex" else decode_base64(value)
