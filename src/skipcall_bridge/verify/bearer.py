"""`bearer`: a shared token in `Authorization: Bearer <secret>` or `X-Api-Key: <secret>`, or in
the one header named by the `header` option (Salesforce named credentials, custom headers).

What every automation platform (Zapier, Make, n8n) can send without code.
"""

from __future__ import annotations

from collections.abc import Sequence

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    shared_secret,
)


class BearerVerifier(Verifier):
    def __init__(self, header: str | None = None) -> None:
        self._header = header

    def check_secret(self, secret: str) -> None:
        shared_secret(secret)

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        token = self._presented_token(request)
        expected = [shared_secret(secret) for secret in secrets]  # a short one is refused
        if token is None:
            where = self._header or "Authorization: Bearer or X-Api-Key"
            raise InvalidSignature("missing", f"no {where} header")
        if not any_digest_matches(expected, [token.encode()]):
            raise InvalidSignature("mismatch", "the token is not the source's")

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        if self._header:
            return {self._header: secret}
        return {"Authorization": f"Bearer {secret}"}

    def _presented_token(self, request: SignedRequest) -> str | None:
        if self._header:
            return _bearer_value(request.headers.get(self._header), bare_allowed=True)
        from_authorization = _bearer_value(request.headers.get("authorization"))
        return from_authorization or _bearer_value(request.headers.get("x-api-key"), True)


def _bearer_value(value: str | None, bare_allowed: bool = False) -> str | None:
    """`Bearer <token>` (scheme case-insensitive), or the bare token where that is allowed."""
    if value is None or not value.strip():
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return value.strip() if bare_allowed else None
