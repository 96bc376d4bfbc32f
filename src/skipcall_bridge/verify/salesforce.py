"""`salesforce` (Outbound Messages): Salesforce cannot add headers or sign, so a delivery is
authenticated by a secret `token` query parameter in the endpoint URL (constant-time compare)
and by the OrganizationId in the message, which must be on the `organizationIds` allow-list."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from skipcall_bridge.common.errors import InvalidSignature, InvalidXml
from skipcall_bridge.common.payloads import parse_outbound_message
from skipcall_bridge.verify.base import SignedRequest, Verifier, any_digest_matches


class SalesforceVerifier(Verifier):
    def __init__(self, organization_ids: Sequence[str], token_parameter: str) -> None:
        # 15- and 18-character ids name the same org: compare the case-sensitive 15.
        self._organizations = frozenset(org[:15] for org in organization_ids)
        self._parameter = token_parameter

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        query = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
        tokens = query.get(self._parameter, [])
        if len(tokens) != 1 or not any_digest_matches(
            (secret.encode() for secret in secrets), [tokens[0].encode()]
        ):
            raise InvalidSignature("mismatch", "the URL's token is not the source's")
        # Only a caller holding the token gets this far; only then is the XML parsed. A body
        # that is not a readable outbound message came from the token's holder all the same:
        # the pipeline stores it as a dead letter (INVALID_XML) rather than dropping it.
        try:
            organization = str(parse_outbound_message(request.body)["OrganizationId"])
        except InvalidXml:
            return
        if organization[:15] not in self._organizations:
            raise InvalidSignature("mismatch", "the message's OrganizationId is not one taken")

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def signed_url(self, url: str, secret: str, body: bytes = b"") -> str:
        separator = "&" if urlsplit(url).query else "?"
        return f"{url}{separator}{urlencode({self._parameter: secret})}"
