"""What every declared signature shares, whatever makes it (an HMAC, a private key): the
signature read from its header (one value, or a list of `key=value` items), the timestamp read
and checked (seconds, milliseconds or RFC 3339), and the signed content built from the `signed`
template. verify/hmac.py and verify/public_key.py differ only in how a signature is made and
checked."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    Headers,
    SignedRequest,
    Verifier,
    check_freshness,
    decode_base64,
    decode_hex,
    parse_rfc3339,
    parse_timestamp,
    require,
)
from skipcall_bridge.verify.hmac_grammar import PLACEHOLDER, SignedGrammar, TimestampSpec

MAX_LIST_ITEMS = 16  # more signatures than any rotation needs: a header built to slow us down


class SignedContentVerifier(Verifier):
    def __init__(self, grammar: SignedGrammar) -> None:
        self._g = grammar
        self._headers = (grammar.signature.header, *grammar.signature.alternatives)
        self._header_names = " or ".join(self._headers) + " header"
        # The template, split once: literal bytes and the names of the parts to fill in.
        self._parts = [
            (index % 2 == 1, piece)
            for index, piece in enumerate(PLACEHOLDER.split(grammar.signed))
            if index % 2 == 1 or piece
        ]

    @property
    def signs_url(self) -> bool:
        return "{url}" in self._g.signed

    def signed_parts(self, request: SignedRequest, now: float) -> tuple[list[bytes], bytes]:
        """The signatures the request carries and the content they must sign (its timestamp
        checked first). Raises InvalidSignature."""
        header = require(request.headers.first(*self._headers), self._header_names)
        received, listed_timestamp = self._signatures(header)
        timestamp = self._timestamp(request, listed_timestamp, now)
        return received, self._content(request, timestamp)

    def _signatures(self, header: str) -> tuple[list[bytes], str | None]:
        spec = self._g.signature
        if spec.format == "value":
            value = header
            if spec.prefix:
                if not value.lower().startswith(spec.prefix.lower()):
                    raise InvalidSignature("malformed", f"the signature lacks its {spec.prefix!r}")
                value = value[len(spec.prefix) :]
            return [self._decode(value.strip())], None
        items = header.split(spec.item_separator)
        if len(items) > MAX_LIST_ITEMS:
            raise InvalidSignature("malformed", f"the signature header lists over {MAX_LIST_ITEMS}")
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
            raise InvalidSignature("missing", f"no {spec.key}= signature in {self._header_names}")
        return signatures, timestamp

    def _timestamp(self, request: SignedRequest, listed: str | None, now: float) -> str | None:
        spec = self._g.timestamp
        if spec is None:
            return None
        if spec.body_field is not None:
            text = body_field(request.body, spec.body_field)
            what = f"the body's {spec.body_field}"
        elif spec.list_key:
            text, what = listed, f"the {spec.list_key}= timestamp"
        else:
            text, what = request.headers.get(spec.header or ""), f"the {spec.header} header"
        check_freshness(seconds_of(spec, text, what), now, spec.tolerance_seconds, what)
        return require(text, what)  # signed as the header's text, as sent

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
                id_header = self._g.id_header or ""
                chunks.append(
                    require(request.headers.get(id_header), f"{id_header} header").encode()
                )
            elif piece == "url":
                chunks.append(request.url.encode())
            elif piece == "method":
                chunks.append(request.method.encode())
            else:  # header:Name
                name = piece.split(":", 1)[1]
                chunks.append(require(request.headers.get(name), f"{name} header").encode())
        return b"".join(chunks)

    def _decode(self, value: str) -> bytes:
        return decode_hex(value) if self._g.encoding == "hex" else decode_base64(value)

    # -- what a sender does ------------------------------------------------------------------

    def sender_headers(
        self, body: bytes, now: float, *, method: str, url: str
    ) -> tuple[dict[str, str], bytes, str | None]:
        """The headers a sender sets before it signs (the timestamp, the id), the content it
        signs, and the timestamp's text."""
        headers: dict[str, str] = {}
        spec = self._g.timestamp
        timestamp = None
        if spec is not None and spec.body_field is None:  # a body's own field is the body's
            timestamp = timestamp_text(spec, now)
            if spec.header:
                headers[spec.header] = timestamp
        if self._g.id_header:
            headers[self._g.id_header] = f"msg_{uuid.uuid4().hex}"
        request = SignedRequest(method, url, body, Headers(headers))
        return headers, self._content(request, timestamp), timestamp

    def with_signature(
        self, headers: dict[str, str], signature: bytes, timestamp: str | None
    ) -> dict[str, str]:
        """`headers` with the signature header added, as the grammar says it is written."""
        text = (
            signature.hex() if self._g.encoding == "hex" else base64.b64encode(signature).decode()
        )
        spec = self._g.signature
        if spec.format == "value":
            return {**headers, spec.header: f"{spec.prefix}{text}"}
        items = [f"{spec.key}{spec.pair_separator}{text}"]
        listed = self._g.timestamp
        if listed is not None and listed.list_key:
            items.insert(0, f"{listed.list_key}{spec.pair_separator}{timestamp}")
        return {**headers, spec.header: spec.item_separator.join(items)}

    def delivery_id(self, request: SignedRequest) -> str | None:
        """The id header, when the signature covers it."""
        if self._g.id_header and "{id}" in self._g.signed:
            return request.headers.get(self._g.id_header)
        return None


def body_field(body: bytes, name: str) -> str | None:
    """A top-level field of a JSON object body, as text (None: absent, or not JSON). Read from
    the bytes the signature covers: the field is as signed as the rest."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    value = parsed.get(name) if isinstance(parsed, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def seconds_of(spec: TimestampSpec, text: str | None, what: str = "the timestamp") -> float:
    """A timestamp's text as Unix seconds, in the grammar's unit (raises InvalidSignature)."""
    if spec.unit == "iso8601":
        return parse_rfc3339(text)
    value = parse_timestamp(text, what)
    return value / 1000 if spec.unit == "ms" else value


def timestamp_text(spec: TimestampSpec, now: float) -> str:
    """`now` as a sender writes it in the grammar's unit."""
    if spec.unit == "iso8601":
        return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(int(now * 1000) if spec.unit == "ms" else int(now))
