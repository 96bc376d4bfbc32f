"""`jwt`: a JSON Web Token in `Authorization` (raw, or after `Bearer `), as monday.com signs its
requests: HS256 with the app's signing secret, `exp` and `iat` required, finite and checked
(with a small leeway for clocks; a token may live at most `maxLifetimeSeconds`, so a leaked one
is not a key for years), and `aud` the URL that was called. Decoding is PyJWT's; only HS256 is
accepted, whatever the token's header says."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.verify.base import (
    SignedRequest,
    Verifier,
    decode_base64,
    require,
    signing_key,
)

ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 8192


class JwtVerifier(Verifier):
    def __init__(
        self,
        header: str,
        audience: str,
        leeway_seconds: int,
        max_lifetime_seconds: int = 600,
        single_use: bool = False,
    ) -> None:
        self._header = header
        self._check_audience = audience == "url"
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._single_use = single_use

    @property
    def signs_url(self) -> bool:
        return self._check_audience  # `aud` is the URL called

    def check_secret(self, secret: str) -> None:
        signing_key(secret.encode())

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        token = self._token(request)
        import jwt  # PyJWT loads only where a source uses this scheme

        audience = _without_query(request.url) if self._check_audience else None
        for secret in secrets:
            key = signing_key(secret.encode())
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=audience,
                    # The times are checked against the receiver's clock (`now`), below.
                    options={
                        "require": ["exp", "iat"],
                        "verify_aud": self._check_audience,
                        "verify_exp": False,
                        "verify_iat": False,
                    },
                )
            except jwt.InvalidTokenError:
                continue
            _check_times(claims, now, self._leeway, self._max_lifetime)
            return
        raise InvalidSignature

    def single_use_token(self, request: SignedRequest) -> tuple[str, int] | None:
        """The verified token's hash and `exp` (a token's claims say nothing of the body, so a
        captured one could carry another body while it lives: `singleUse` binds it to its
        first). Called only after verify."""
        if not self._single_use:
            return None
        import jwt

        token = self._token(request)
        claims = jwt.decode(token, options={"verify_signature": False})
        expires = _finite(claims.get("exp"))
        assert expires is not None  # verify checked it
        return hashlib.sha256(token.encode()).hexdigest(), math.ceil(expires + self._leeway)

    def _token(self, request: SignedRequest) -> str:
        token = require(request.headers.get(self._header), f"{self._header} header")
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if len(token) > MAX_TOKEN_CHARS or not _canonical(token):
            raise InvalidSignature("malformed", "the token is not a JWT as an encoder writes it")
        return token

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        import jwt

        claims: dict[str, object] = {"accountId": 1825528, "userId": 4012689,
                                     "iat": int(now), "exp": int(now) + 300}  # fmt: skip
        if self._check_audience:
            claims["aud"] = _without_query(url)
        return {self._header: jwt.encode(claims, signing_key(secret.encode()), ALGORITHM)}


def _check_times(claims: dict[str, object], now: float, leeway: int, max_lifetime: int) -> None:
    """Finite numbers (JSON lets a forger write Infinity and NaN); not expired, not issued in
    the future (a clock's leeway either way); and not made to live longer than `max_lifetime`."""
    expires, issued = _finite(claims.get("exp")), _finite(claims.get("iat"))
    if expires is None or issued is None:
        raise InvalidSignature("malformed", "the token's exp or iat is not a finite number")
    if expires < now - leeway or issued > now + leeway:
        late = f"expired {now - expires:.0f} s ago" if expires < now - leeway else "issued later"
        raise InvalidSignature("stale", f"the token {late} ({leeway} s of leeway)")
    if expires - issued > max_lifetime or expires - now > max_lifetime + leeway:
        raise InvalidSignature("stale", f"the token lives longer than {max_lifetime} s")


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _canonical(token: str) -> bool:
    """Three base64url segments written the one way an encoder writes them: no padding, no
    stray bits in the last character. PyJWT also accepts a signature with `=` padding, so one
    token could be written several ways; the single-use ledger keys the token's text, and each
    spelling would pass it once (security review #28, finding 1)."""
    segments = token.split(".")
    if len(segments) != 3:
        return False
    try:
        for segment in segments:
            decode_base64(segment, url=True)
    except InvalidSignature:
        return False
    return True


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
