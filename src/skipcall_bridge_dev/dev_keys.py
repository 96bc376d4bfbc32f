"""Key pairs for the local stack's `public-key` sources: derived, like the dev signing secrets,
from the secret (or source) name and the running stack's salt, so `make dev` (which puts the
public half in the source's `publicKeysSecretId` secret) and `make events`, `sign` and `send`
(which sign with the private half) agree without sharing a file. Never real keys.

Ed25519 and P-256 keys are a seed turned into a key; an RSA key is two primes found from a
seeded stream (2048 bits), the same on every run with the same salt."""

from __future__ import annotations

import functools
import hashlib

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.verify.schemes import PublicKeyAuth
from skipcall_bridge_dev import devdata

PUBLIC_EXPONENT = 65537
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]
# secp256r1's order: a private scalar is in [1, n-1]
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def key_pair(name: str, algorithm: str) -> tuple[str, str]:
    """(private PEM, public PEM) of the dev key for `name` (a secret id, or a source's name)."""
    return _key_pair(devdata.salt(), name, algorithm)


@functools.cache
def _key_pair(salt: str, name: str, algorithm: str) -> tuple[str, str]:
    seed = hashlib.sha256(f"skipcall-bridge-dev-key:{salt}:{name}".encode()).digest()
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    elif algorithm == "ecdsa-p256-sha256":
        scalar = int.from_bytes(seed) % (_P256_ORDER - 1) + 1
        key = ec.derive_private_key(scalar, ec.SECP256R1())
    else:
        key = _rsa(seed)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


def _rsa(seed: bytes) -> rsa.RSAPrivateKey:
    stream = _Stream(seed)
    p = _prime(stream, 1024)
    q = _prime(stream, 1024)
    while q == p:
        q = _prime(stream, 1024)
    d = pow(PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q),
    )  # fmt: skip
    return numbers.private_key()


class _Stream:
    """Bytes from SHA-256 in counter mode: the same seed, the same numbers."""

    def __init__(self, seed: bytes) -> None:
        self._seed, self._counter = seed, 0

    def integer(self, bits: int) -> int:
        chunks = b""
        while len(chunks) * 8 < bits:
            self._counter += 1
            chunks += hashlib.sha256(self._seed + self._counter.to_bytes(8)).digest()
        return int.from_bytes(chunks) >> (len(chunks) * 8 - bits)


def _prime(stream: _Stream, bits: int) -> int:
    """A prime of exactly `bits` bits, coprime with the exponent's order."""
    while True:
        candidate = stream.integer(bits) | (3 << (bits - 2)) | 1  # top two bits: n has 2*bits
        if any(candidate % small == 0 for small in _SMALL_PRIMES):
            continue
        if (candidate - 1) % PUBLIC_EXPONENT and _probably_prime(candidate, stream):
            return candidate


def _probably_prime(n: int, stream: _Stream, rounds: int = 24) -> bool:
    """Miller-Rabin with bases from the stream (an error below 4^-24)."""
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(stream.integer(64) % (n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def dev_signing_key(source: Source) -> str:
    """What the development tools sign a source's samples with: its dev signing secret, or,
    for a `public-key` source, the private half of its dev key pair."""
    auth = source.config.auth
    if isinstance(auth, PublicKeyAuth):
        return key_pair(source.secret_id or source.name, auth.algorithm)[0]
    assert source.secret_id is not None  # every other scheme has one
    return devdata.signing_secret(source.secret_id, auth.scheme)


def dev_secret_value(source: Source) -> str | None:
    """What the local stack keeps under the source's secret: the dev signing secret, or a
    `public-key` source's dev public key (None: it names no secret; its keys are the file's,
    which the local stack cannot sign for)."""
    auth = source.config.auth
    if source.secret_id is None:
        return None
    if isinstance(auth, PublicKeyAuth):
        return key_pair(source.secret_id, auth.algorithm)[1]
    return devdata.signing_secret(source.secret_id, auth.scheme)


def dev_credential(catalog: SourceCatalog, name: str, gateway: str) -> str:
    """One source's URL and its dev credential, in the form a person pastes into the sender."""
    source = catalog.get(name)
    assert source is not None
    auth = source.config.auth
    url = f"{gateway}/webhooks/{name}"
    if auth.scheme == "public-key":  # a private key is no line to paste: the tools sign
        where = f"secret {source.secret_id}" if source.secret_id else "the sources file"
        return f"  {name:<18} {url}\n  {'':<18} dev public key in {where} (make events signs)"
    secret = dev_signing_key(source)
    if auth.scheme == "basic":
        credential = f"basic auth   {secret}"
    elif auth.scheme == "bearer":
        header = getattr(auth, "header", None)
        credential = f"{header}: {secret}" if header else f"Authorization: Bearer {secret}"
    elif auth.scheme in ("salesforce", "query-key"):
        url, credential = source.verifier.signed_url(url, secret), "the key is in the URL"
    elif auth.scheme == "twilio":
        credential = f"auth token   {secret}"
    else:
        credential = f"signing secret   {secret}"
    return f"  {name:<18} {url}\n  {'':<18} {credential}"
