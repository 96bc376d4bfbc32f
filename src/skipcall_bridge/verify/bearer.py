"""`bearer`: a shared token in `Authorization: Bearer <secret>` or `X-Api-Key: <secret>`.

What every automation platform (Zapier, Make, n8n) can send without code.
"""

from __future__ import annotations

from collections.abc import Sequence

from skipcall_bridge.errors import InvalidSignature
from skipcall_bridge.verify.base import SignedRequest, any_digest_matches


class BearerVerifier:
    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        token = _presented_token(request)
        if token is None or not any_digest_matches(
            (secret.encode() for secret in secrets), [token.encode()]
        ):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    def delivery_id(self, request: SignedRequest) -> str | None:
        return None


def _presented_token(request: SignedRequest) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = request.headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None
