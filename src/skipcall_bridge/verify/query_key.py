"""`query-key`: a key in the query string, as Dynamics 365 sends its WebhookKey (`?code=...`)
and as a Zoho CRM webhook can append one. Compared in constant time with every current secret.
The key is part of the URL only: it is never logged, and letters keep the body, not the URL."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    shared_secret,
)


class QueryKeyVerifier(Verifier):
    def __init__(self, parameter: str) -> None:
        self._parameter = parameter

    def check_secret(self, secret: str) -> None:
        shared_secret(secret)

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        query = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
        keys = query.get(self._parameter, [])
        expected = [shared_secret(secret) for secret in secrets]  # a short one is refused
        if len(keys) != 1 or not keys[0]:
            raise InvalidSignature("missing", f"no single ?{self._parameter}= in the URL")
        if not any_digest_matches(expected, [keys[0].encode()]):
            raise InvalidSignature("mismatch", f"the URL's {self._parameter} is not the source's")

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        return {}

    def signed_url(self, url: str, secret: str, body: bytes = b"") -> str:
        separator = "&" if urlsplit(url).query else "?"
        return f"{url}{separator}{urlencode({self._parameter: secret})}"
