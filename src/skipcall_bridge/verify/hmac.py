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
- `timestamp`: its header (or its key in the signature list), its unit and the tolerance, checked
  both ways;
- `keyEncoding`: how the secret becomes the key (utf8; hex for Close's signature keys; base64).

`hmac-sha256`, `close` and `attio` are presets of this grammar (see registry.py), with their
documented vectors unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as hmac_module
import uuid
from collections.abc import Sequence

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify.base import (
    Headers,
    SignedRequest,
    Verifier,
    any_digest_matches,
    check_freshness,
    decode_base64,
    decode_hex,
    parse_timestamp,
    require,
    signing_key,
)
from skipcall_bridge.verify.hmac_grammar import PLACEHOLDER, HmacGrammar

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
MAX_LIST_ITEMS = 16  # more signatures than any rotation needs: a header built to slow us down


class HmacVerifier(Verifier):
    def __init__(self, grammar: HmacGrammar) -> None:
        self._g = grammar
        self._digest = ALGORITHMS[grammar.algorithm]
        self._headers = (grammar.signature.header, *grammar.signature.alternatives)
        # The template, split once: literal bytes and the names of the parts to fill in.
        self._parts = [
            (index % 2 == 1, piece)
            for index, piece in enumerate(PLACEHOLDER.split(grammar.signed))
            if index % 2 == 1 or piece
        ]

    @property
    def signs_url(self) -> bool:
        return "{url}" in self._g.signed

    # -- verify ----------------------------------------------------------------------------

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        header = require(request.headers.first(*self._headers))
        received, listed_timestamp = self._signatures(header)
        timestamp = self._timestamp(request, listed_timestamp, now)
        content = self._content(request, timestamp)
        expected = (self._mac(secret, content) for secret in secrets)
        if not any_digest_matches(expected, received):
            raise InvalidSignature

    def _signatures(self, header: str) -> tuple[list[bytes], str | None]:
        spec = self._g.signature
        if spec.format == "value":
            value = header
            if spec.prefix:
                if not value.lower().startswith(spec.prefix.lower()):
                    raise InvalidSignature
                value = value[len(spec.prefix) :]
            return [self._decode(value.strip())], None
        items = header.split(spec.item_separator)
        if len(items) > MAX_LIST_ITEMS:
            raise InvalidSignature
        signatures, timestamp = [], None
        for item in items:
            key, separator, value = item.strip().partition(spec.pair_separator)
            if not separator:
                continue
            if key == spec.key:
                signatures.append(self._decode(value.strip()))
            elif (
                self._g.timestamp is not None
                and key == self._g.timestamp.list_key
                and timestamp is None  # the first wins, as Stripe's own library reads it
            ):
                timestamp = value.strip()
        if not signatures:
            raise InvalidSignature
        return signatures, timestamp

    def _timestamp(self, request: SignedRequest, listed: str | None, now: float) -> str | None:
        spec = self._g.timestamp
        if spec is None:
            return None
        text = listed if spec.list_key else request.headers.get(spec.header or "")
        value = parse_timestamp(text)
        seconds = value / 1000 if spec.unit == "ms" else value
        check_freshness(seconds, now, spec.tolerance_seconds)
        return require(text)

    def _content(self, request: SignedRequest, timestamp: str | None) -> bytes:
        chunks = []
        for is_placeholder, piece in self._parts:
            if not is_placeholder:
                chunks.append(piece.encode())
            elif piece == "body":
                chunks.append(request.body)
            elif piece == "timestamp":
                chunks.append(require(timestamp).encode())
            elif piece == "id":
                chunks.append(require(request.headers.get(self._g.id_header or "")).encode())
            elif piece == "url":
                chunks.append(request.url.encode())
            elif piece == "method":
                chunks.append(request.method.encode())
            else:  # header:Name
                chunks.append(require(request.headers.get(piece.split(":", 1)[1])).encode())
        return b"".join(chunks)

    def _decode(self, value: str) -> bytes:
        return decode_hex(value) if self._g.encoding == "hex" else decode_base64(value)

    def _mac(self, secret: str, content: bytes) -> bytes:
        return hmac_module.new(self._key(secret), content, self._digest).digest()

    def _key(self, secret: str) -> bytes:
        encoding = self._g.key_encoding
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

    # -- what a sender does ------------------------------------------------------------------

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        spec = self._g.timestamp
        timestamp = None
        if spec is not None:
            timestamp = str(int(now * 1000) if spec.unit == "ms" else int(now))
            if spec.header:
                headers[spec.header] = timestamp
        if self._g.id_header:
            headers[self._g.id_header] = f"msg_{uuid.uuid4().hex}"
        request = SignedRequest(method, url, body, Headers(headers))
        digest = self._mac(secret, self._content(request, timestamp))
        text = digest.hex() if self._g.encoding == "hex" else base64.b64encode(digest).decode()
        signature = self._g.signature
        if signature.format == "value":
            headers[signature.header] = f"{signature.prefix}{text}"
        else:
            items = [f"{signature.key}{signature.pair_separator}{text}"]
            if spec is not None and spec.list_key:
                items.insert(0, f"{spec.list_key}{signature.pair_separator}{timestamp}")
            headers[signature.header] = signature.item_separator.join(items)
        return headers

    def delivery_id(self, request: SignedRequest) -> str | None:
        """The id header, when the signature covers it."""
        if self._g.id_header and "{id}" in self._g.signed:
            return request.headers.get(self._g.id_header)
        return None
