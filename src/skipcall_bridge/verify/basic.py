"""`basic`: HTTP Basic credentials (Pipedrive's only option). SecretString `user:password`."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify.base import (
    MIN_KEY_BYTES,
    SignedRequest,
    Verifier,
    any_digest_matches,
    decode_base64,
)


class BasicVerifier(Verifier):
    def check_secret(self, secret: str) -> None:
        _credentials(secret)

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        scheme, _, encoded = (request.headers.get("authorization") or "").strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise InvalidSignature("missing", "no Authorization: Basic header")
        presented = decode_base64(encoded.strip())
        if not any_digest_matches((_credentials(secret) for secret in secrets), [presented]):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        # As a sender would send them, whatever they are (a test may send wrong ones).
        return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def _credentials(secret: str) -> bytes:
    """`user:password`, with a user and a password long enough that guessing it is out of
    reach (`:` alone, or a short password, would authenticate anyone who tries)."""
    user, colon, password = secret.partition(":")
    if not colon or not user:
        raise ConfigurationError("a basic-auth secret must be user:password")
    if len(password.encode()) < MIN_KEY_BYTES:
        raise ConfigurationError(f"a basic-auth password needs at least {MIN_KEY_BYTES} bytes")
    return secret.encode()
