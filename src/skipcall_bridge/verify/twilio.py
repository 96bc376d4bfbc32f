"""`twilio`: Twilio's X-Twilio-Signature, as its RequestValidator checks it.

- Form bodies (most webhooks): base64 HMAC of the full URL followed by every POST field, names
  sorted, each name's distinct values sorted, as `name` + `value`; keyed with the account's Auth
  Token. The body's bytes are not signed, its fields are.
- JSON bodies: the URL carries `bodySHA256` (hex SHA-256 of the body) and the HMAC is of the
  URL alone; the body is bound through that hash, which must match.
- HMAC-SHA1 by default; where a Webhooks Rule signs with a SharedKey, Twilio says
  `algorithm=HMAC_SHA256` in X-Twilio-Webhooks-Signature-Settings. Either way the key is one of
  the source's secrets (the Auth Token, the SharedKey secret, or both while rotating).
- Twilio signs the URL sometimes with the port and sometimes without: both are accepted, as
  the validator does.
Nothing in the signature is a timestamp: a captured request verifies as long as the Auth Token
lives, so repeats are the idempotency records' to stop (docs/senders.md says so).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Literal
from urllib.parse import SplitResult, parse_qs, parse_qsl, urlsplit, urlunsplit

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    any_digest_matches,
    decode_base64,
    require,
    signing_key,
)

SIGNATURE_HEADER = "x-twilio-signature"
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
BODY_HASH_PARAMETER = "bodySHA256"
_HASHES: dict[str, Callable[..., hashlib._Hash]] = {
    "HMAC_SHA1": hashlib.sha1,
    "HMAC_SHA256": hashlib.sha256,
}


class TwilioVerifier(Verifier):
    @property
    def signs_url(self) -> bool:
        return True

    def signed_format(self, request: SignedRequest) -> Literal["json", "form"]:
        """`bodySHA256` in the URL: Twilio sent JSON and signed its hash; else it signed form
        fields. The Content-Type, which nothing signs, does not decide (finding 3: JSON bytes
        sent as a form turned text inside a JSON string into top-level fields)."""
        return "json" if BODY_HASH_PARAMETER in parse_qs(urlsplit(request.url).query) else "form"

    def signed_content(self, request: SignedRequest) -> bytes:
        """A form's fields as Twilio signs them (sorted): their bytes' order is not signed."""
        if self.signed_format(request) == "json":
            return request.body
        return signed_fields(request.body).encode()

    def check_secret(self, secret: str) -> None:
        signing_key(secret.encode())

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        received = decode_base64(
            require(request.headers.get(SIGNATURE_HEADER), "X-Twilio-Signature header")
        )
        digest = _HASHES.get(_algorithm(request.headers.get(SETTINGS_HEADER)))
        if digest is None:
            raise InvalidSignature("malformed", f"an algorithm in {SETTINGS_HEADER} not taken")
        hashes = parse_qs(urlsplit(request.url).query).get(BODY_HASH_PARAMETER)
        if hashes is not None:  # a JSON body: bound by its hash, the URL alone is signed
            body_hash = hashlib.sha256(request.body).hexdigest().encode()
            if len(hashes) != 1 or not hmac.compare_digest(hashes[0].encode(), body_hash):
                raise InvalidSignature("mismatch", "the body does not hash to the URL's bodySHA256")
            fields = ""
        else:
            fields = signed_fields(request.body)
        contents = [(url + fields).encode() for url in _port_variants(request.url)]
        expected = (
            hmac.new(signing_key(secret.encode()), content, digest).digest()
            for secret in secrets
            for content in contents
        )
        if not any_digest_matches(expected, [received]):
            raise InvalidSignature

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        """What Twilio sends (HMAC-SHA1 with the Auth Token); `url` already carries bodySHA256
        for a JSON body (signed_url adds it)."""
        has_hash = BODY_HASH_PARAMETER in parse_qs(urlsplit(url).query)
        content = url + ("" if has_hash else signed_fields(body))
        mac = hmac.new(signing_key(secret.encode()), content.encode(), hashlib.sha1)
        return {"X-Twilio-Signature": base64.b64encode(mac.digest()).decode()}

    def signed_url(self, url: str, secret: str, body: bytes = b"") -> str:
        """A JSON body's URL carries its hash, as Twilio adds it."""
        if not _is_json(body):
            return url
        separator = "&" if urlsplit(url).query else "?"
        return f"{url}{separator}{BODY_HASH_PARAMETER}={hashlib.sha256(body).hexdigest()}"


def signed_fields(body: bytes) -> str:
    """The form fields as Twilio signs them: sorted names, each with its sorted distinct
    values. A body that is not UTF-8 form fields signs as nothing Twilio would send; nor does
    one with a (name, value) pair twice: the signature cannot tell it from the pair once, so a
    captured request could be replayed with the pair repeated as a new body (finding 2)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except ValueError:
        raise InvalidSignature("malformed", "the form body is not UTF-8 fields") from None
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        if value in values.setdefault(name, set()):
            raise InvalidSignature("malformed", f"the form field {name!r} is sent twice alike")
        values[name].add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def _algorithm(settings: str | None) -> str:
    """`key=…,algorithm=HMAC_SHA256` -> HMAC_SHA256; absent (the Auth Token): HMAC_SHA1."""
    for part in (settings or "").split(","):
        name, equals, value = part.partition("=")
        if equals and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def _port_variants(url: str) -> list[str]:
    """The URL without its port and with the scheme's default one (Twilio signs either)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise InvalidSignature from None
    host = parts.netloc.rpartition(":")[0] if port is not None else parts.netloc
    default = 443 if parts.scheme == "https" else 80
    with_port = parts.netloc if port is not None else f"{host}:{default}"
    return [_with_netloc(parts, host), _with_netloc(parts, with_port)]


def _with_netloc(parts: SplitResult, netloc: str) -> str:
    return urlunsplit(parts._replace(netloc=netloc))


def _is_json(body: bytes) -> bool:
    return body.lstrip()[:1] in (b"{", b"[")
