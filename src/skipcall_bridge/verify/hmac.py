"""`hmac`: the declarative HMAC grammar, and the verifier every HMAC preset is made of.

A sender's scheme is told by what it says in its docs:
- `algorithm`: sha1, sha256 or sha512;
- `signature`: the header holding it (and headers that duplicate it), as one value with an
  optional prefix (`sha256=...`), or as a list of `key=value` items (`t=...,v1=...,v1=...`, as
  Stripe and Calendly send, every `v1` a candidate during a secret rotation);
- `encoding`: hex or base64;
- `signed`: what the HMAC covers, a template over `{body}`, `{timestamp}`, `{id}`, `{url}`,
  `{method}` and `{header:Name}`; `{body}` is required (a signature that skips the body
  authenticates nothing);
- `timestamp`: its header (or its key in the signature list), its unit (s, ms, or iso8601: RFC
  3339, signed as the header's text) and the tolerance, checked both ways;
- `keyEncoding`: how the secret becomes the key (utf8; hex for Close's signature keys; base64).

`hmac-sha256`, `close` and `attio` are presets of this grammar (see registry.py), with their
documented vectors unchanged. Reading the signature, the timestamp and the signed content is
verify/signed.py's, which the `public-key` scheme shares.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as hmac_module
from collections.abc import Sequence

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify.base import SignedRequest, any_digest_matches, signing_key
from skipcall_bridge.verify.hmac_grammar import HmacGrammar
from skipcall_bridge.verify.signed import SignedContentVerifier

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class HmacVerifier(SignedContentVerifier):
    def __init__(self, grammar: HmacGrammar) -> None:
        super().__init__(grammar)
        self._hmac = grammar
        self._digest = ALGORITHMS[grammar.algorithm]

    def check_secret(self, secret: str) -> None:
        self._key(secret)

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        received, content = self.signed_parts(request, now)
        expected = (self._mac(secret, content) for secret in secrets)
        if not any_digest_matches(expected, received):
            raise InvalidSignature

    def _mac(self, secret: str, content: bytes) -> bytes:
        return hmac_module.new(self._key(secret), content, self._digest).digest()

    def _key(self, secret: str) -> bytes:
        encoding = self._hmac.key_encoding
        try:
            if encoding == "hex":
                key = bytes.fromhex(secret)
            elif encoding == "base64":
                key = base64.b64decode(secret, validate=True)
            else:
                key = secret.encode()
        except (ValueError, binascii.Error):
            raise ConfigurationError(f"a signing secret is not {encoding} as configured") from None
        return signing_key(key)

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        headers, content, timestamp = self.sender_headers(body, now, method=method, url=url)
        return self.with_signature(headers, self._mac(secret, content), timestamp)
