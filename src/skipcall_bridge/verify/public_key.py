"""`public-key`: a signature the sender makes with its private key, checked with the public keys
it publishes (HighLevel's Ed25519 and legacy RSA, SendGrid's ECDSA P-256). Where the signature
is, what it covers and the timestamp are the declared grammar's (verify/signed.py), as for
`hmac`; the keys are the source's `publicKeys` and those in its `publicKeysSecretId` secret,
tried in turn (a rotation publishes the next key beside the current one).

- `ed25519`: RFC 8032, the 64-byte signature over the content itself;
- `rsa-sha256`: RSASSA-PKCS1-v1_5 with SHA-256;
- `rsa-pss-sha256`: RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt;
- `ecdsa-p256-sha256`: ECDSA on P-256 with SHA-256, the signature DER-encoded (as SendGrid
  sends it) or raw r‖s (64 bytes).

A key is PEM (`-----BEGIN PUBLIC KEY-----`) or base64 DER (SubjectPublicKeyInfo). The
`cryptography` package is imported only by a source of this scheme: an HMAC-only deployment
never loads it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature as BadSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    load_der_public_key,
    load_pem_private_key,
    load_pem_public_key,
)

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify.base import SignedRequest
from skipcall_bridge.verify.hmac_grammar import PublicKeyAlgorithm, PublicKeyGrammar
from skipcall_bridge.verify.signed import SignedContentVerifier

MAX_SECRET_KEYS = 8  # a secret holding more keys than a rotation needs is a mistake


class PublicKeyVerifier(SignedContentVerifier):
    def __init__(self, grammar: PublicKeyGrammar) -> None:
        super().__init__(grammar)
        self._algorithm = grammar.algorithm
        # loaded (and checked) when the sources file loads: a key that does not load is a
        # configuration error there, never a 401 at the first delivery
        self._keys = [load_public_key(text, grammar.algorithm) for text in grammar.public_keys]
        self._from_secret: dict[tuple[str, ...], list[PublicKeyTypes]] = {}

    def check_secret(self, secret: str) -> None:
        self._secret_keys([secret])

    def verify(self, request: SignedRequest, secrets: Sequence[str], now: float) -> None:
        received, content = self.signed_parts(request, now)
        for key in [*self._keys, *self._secret_keys(secrets)]:
            for signature in received:
                if verifies(key, self._algorithm, signature, content):
                    return
        raise InvalidSignature

    def _secret_keys(self, secrets: Sequence[str]) -> list[PublicKeyTypes]:
        """The keys the `publicKeysSecretId` secret holds, loaded once per value."""
        if not secrets:
            return []
        ident = tuple(secrets)
        loaded = self._from_secret.get(ident)
        if loaded is None:
            if len(secrets) > MAX_SECRET_KEYS:
                raise ConfigurationError(f"a public keys secret holds more than {MAX_SECRET_KEYS}")
            loaded = [load_public_key(text, self._algorithm) for text in secrets]
            self._from_secret = {ident: loaded}  # the secret's current value only
        return loaded

    def sign(
        self, body: bytes, secret: str, now: float, *, method: str, url: str
    ) -> dict[str, str]:
        """As the sender signs: `secret` is the private key, PEM (the development tools')."""
        headers, content, timestamp = self.sender_headers(body, now, method=method, url=url)
        return self.with_signature(headers, sign_with(secret, self._algorithm, content), timestamp)


def load_public_key(text: str, algorithm: PublicKeyAlgorithm) -> PublicKeyTypes:
    """A PEM or base64 DER public key of the algorithm's type; else ConfigurationError."""

    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = load_pem_public_key(stripped.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(stripped.split()), validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise ConfigurationError(
            "a public key does not load: give it as PEM (-----BEGIN PUBLIC KEY-----) or as "
            "base64 DER"
        ) from None
    problem = _type_problem(key, algorithm)
    if problem is not None:
        raise ConfigurationError(f"a public key is {problem}, not for {algorithm}")
    return key


def _type_problem(key: Any, algorithm: PublicKeyAlgorithm) -> str | None:

    if algorithm == "ed25519":
        return None if isinstance(key, ed25519.Ed25519PublicKey) else _kind(key)
    if algorithm.startswith("rsa-"):
        if not isinstance(key, rsa.RSAPublicKey):
            return _kind(key)
        return None if key.key_size >= 2048 else f"an RSA key of {key.key_size} bits"
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return _kind(key)
    return None if isinstance(key.curve, ec.SECP256R1) else f"an EC key on {key.curve.name}"


def _kind(key: Any) -> str:
    return f"an {type(key).__name__.removeprefix('_').replace('PublicKey', '')} key"


def verifies(key: Any, algorithm: PublicKeyAlgorithm, signature: bytes, content: bytes) -> bool:

    try:
        if algorithm == "ed25519":
            key.verify(signature, content)
        elif algorithm == "rsa-sha256":
            key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "rsa-pss-sha256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            key.verify(signature, content, pss, hashes.SHA256())
        else:
            if len(signature) == 64:  # raw r‖s, as JOSE writes it
                r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
                signature = encode_dss_signature(r, s)
            key.verify(signature, content, ec.ECDSA(hashes.SHA256()))
    except (BadSignature, ValueError):
        return False
    return True


def sign_with(private_pem: str, algorithm: PublicKeyAlgorithm, content: bytes) -> bytes:
    """What a sender sends (the development tools sign samples with this)."""

    key = load_pem_private_key(private_pem.encode(), password=None)
    if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(content)
    if algorithm == "rsa-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(content, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "rsa-pss-sha256" and isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return key.sign(content, pss, hashes.SHA256())
    if algorithm == "ecdsa-p256-sha256" and isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(content, ec.ECDSA(hashes.SHA256()))
    raise ConfigurationError(f"the signing key is not a {algorithm} private key")
