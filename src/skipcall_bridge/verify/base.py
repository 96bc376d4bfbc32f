"""The common verifier interface and the request view every scheme works on."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
# A shorter key authenticates nobody: an empty one is what a forger would guess first.
MIN_KEY_BYTES = 16


class Headers:
    """Read-only, case-insensitive header lookup (payload 2.0 lowercases; REST does not)."""

    __slots__ = ("_values",)

    def __init__(self, raw: Mapping[str, str] | None = None) -> None:
        self._values = {name.lower(): value for name, value in (raw or {}).items()}

    def get(self, name: str) -> str | None:
        return self._values.get(name.lower())

    def first(self, *names: str) -> str | None:
        for name in names:
            value = self.get(name)
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class SignedRequest:
    """What a verifier may look at: the raw bytes and the request line as the sender sent it."""

    method: str
    url: str
    body: bytes
    headers: Headers = field(default_factory=Headers)


class Verifier(ABC):
    """One auth scheme: checks a request, and signs one the way its sender would."""

    def check_secret(self, secret: str) -> None:
        """Raise ConfigurationError when a secret's value is not of the shape this scheme needs
        (the receiver would answer 503 with it): what `check-deploy` asks of each source's
        secret, without printing it. The scheme's own key derivation decides."""
        if not secret.strip():
            raise ConfigurationError("the secret is empty")

    @abstractmethod
    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        """Return when any secret authenticates the request; raise InvalidSignature otherwise."""

    @abstractmethod
    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        """The headers a sender would add: for the CLI, the samples in events/ and the tests."""

    def signed_content(self, request: SignedRequest) -> bytes:
        """What the signature covers of the body, as bytes to identify the delivery by: the
        body itself, for schemes that sign its bytes."""
        return request.body

    def signed_format(self, request: SignedRequest) -> Literal["json", "form"] | None:
        """The body format the signature proves, for schemes that sign a format (else None:
        the source's configured format decides)."""
        return None

    @property
    def signs_url(self) -> bool:
        """Whether the signature covers the URL the sender called (then the receiver must know
        that URL: a source's `publicUrl` or PUBLIC_BASE_URL)."""
        return False

    def signed_url(self, url: str, secret: str, body: bytes = b"") -> str:
        """The URL a sender would call for `body` (schemes that carry the secret, or a hash of
        the body, in the URL change it)."""
        return url

    def single_use_token(self, request: SignedRequest) -> tuple[str, int] | None:
        """For a verified request whose credential may be used once (with one body): the
        credential's SHA-256 and until when it verifies (Unix seconds); else None."""
        return None

    def delivery_id(self, request: SignedRequest) -> str | None:
        """The sender's id for this delivery, when the scheme carries one in a header that the
        signature covers (an unsigned header could be changed by whoever replays a request)."""
        return None


def any_digest_matches(expected: Iterable[bytes], received: Iterable[bytes]) -> bool:
    """Constant-time comparison of every expected digest against every received one."""
    candidates = list(received)
    matched = False
    for digest in expected:
        for candidate in candidates:
            # No short-circuit: every pair is compared, so timing says nothing about which matched.
            matched |= hmac.compare_digest(digest, candidate)
    return matched


def require(value: str | None, what: str = "the credential") -> str:
    """The header's value; `what` names it in the refusal ("no X-Signature header")."""
    if value is None or not value.strip():
        raise InvalidSignature("missing", f"no {what}")
    return value.strip()


def check_freshness(
    timestamp: float, now: float, tolerance_seconds: int, what: str = "the signed timestamp"
) -> None:
    """Both ways: a request from the future is as suspect as a replayed one."""
    age = now - timestamp
    if abs(age) > tolerance_seconds:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise InvalidSignature("stale", f"{what} is {when}: {tolerance_seconds} s are allowed")


def parse_timestamp(value: str | None, what: str = "the timestamp") -> int:
    """A non-negative integer timestamp, ASCII digits only; anything else fails the check."""
    text = require(value, what)
    if not text.isascii() or not text.isdigit() or len(text) > 15:
        raise InvalidSignature("malformed", f"{what} is not a whole number of seconds")
    return int(text)


# RFC 3339: a date, a time (fractions of a second allowed) and a zone, `Z` or an offset. A
# time without a zone is not a moment (it would be read in whatever zone the server runs in).
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(value: str | None) -> float:
    """An RFC 3339 timestamp (`2026-12-08T09:30:00Z`, `...:00.123+01:00`) as Unix seconds;
    anything else fails the check."""
    text = require(value, "the timestamp")
    match = _RFC3339.fullmatch(text) if text.isascii() else None
    if match is None:
        raise InvalidSignature("malformed", "the timestamp is not an RFC 3339 time with a zone")
    date, clock, fraction, zone = match.groups()
    try:
        when = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError:  # a 30th of February, a 25th hour
        raise InvalidSignature("malformed", "the timestamp is no real time") from None
    return when.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def signing_key(key: bytes) -> bytes:
    """The key as given, once it is long enough to authenticate anyone; else the source is
    misconfigured (503 and a log line, never a forgery accepted)."""
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"a signing key is {len(key)} bytes; at least {MIN_KEY_BYTES} are needed"
        )
    return key


def shared_secret(secret: str) -> bytes:
    """A secret presented as is (a bearer token, a query key, a verify token), once it is long
    enough that guessing it is out of reach; else the source is misconfigured (503 and a log
    line, never a forgery accepted)."""
    return signing_key(secret.encode())


def hmac_sha256(key: bytes, content: bytes) -> bytes:
    return hmac.new(signing_key(key), content, hashlib.sha256).digest()


def decode_hex(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidSignature("malformed", "the signature is not hexadecimal") from None


def decode_base64(value: str, *, url: bool = False) -> bytes:
    """A signature or credential as an encoder writes it (`url`: base64url without padding, as
    a JWT's segments are): the same bytes spelled another way (other unused bits in the last
    character, padding where there is none) are refused, so that one signature has one
    spelling. Anything else that is not base64 is InvalidSignature too."""
    try:
        if url:
            if _BASE64URL.fullmatch(value) is None:
                raise InvalidSignature("malformed", "the signature is not base64url")
            decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            spelled = base64.urlsafe_b64encode(decoded).rstrip(b"=")
        else:
            decoded = base64.b64decode(value, validate=True)
            spelled = base64.b64encode(decoded)
    except (ValueError, binascii.Error):
        raise InvalidSignature("malformed", "the signature is not base64") from None
    if spelled.decode("ascii") != value:
        raise InvalidSignature("malformed", "the signature is not base64 as an encoder writes it")
    return decoded
