"""The `public-key` scheme (#29): each algorithm against signatures made by an implementation
other than ours (PyNaCl's libsodium for Ed25519, the `cryptography` primitives called directly
for RSA and ECDSA), key rotation, keys held in a secret, raw and DER ECDSA, and refused: a
tampered body or timestamp, another key's signature, a truncated one, a stale timestamp. A key
that does not load, or is of another type than the algorithm, is refused when the sources file
loads (check-config). ISO-8601 timestamps, and what check-config says of timestamps."""

from __future__ import annotations

import base64
import json
from typing import Any

import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.base import Verifier

BODY = b'[{"email":"ada@example.com","event":"delivered","sg_event_id":"ZmY0"}]'
NOW = 1_796_722_200  # 2026-12-08T09:30:00Z
STAMP = "2026-12-08T09:30:00Z"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"


def pem(public: Any) -> str:
    return str(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )


def der_base64(public: Any) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


class Sender:
    """A sender's key pair and how it signs, none of it our code."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        if algorithm == "ed25519":
            self._nacl = nacl.signing.SigningKey.generate()
            raw = bytes(self._nacl.verify_key)
            self.public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        elif algorithm.startswith("rsa-"):
            self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.public = self._rsa.public_key()
        else:
            self._ec = ec.generate_private_key(ec.SECP256R1())
            self.public = self._ec.public_key()

    def sign(self, content: bytes, *, raw_ecdsa: bool = False) -> bytes:
        if self.algorithm == "ed25519":
            return bytes(self._nacl.sign(content).signature)  # libsodium's
        if self.algorithm == "rsa-sha256":
            return self._rsa.sign(content, padding.PKCS1v15(), hashes.SHA256())
        if self.algorithm == "rsa-pss-sha256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            return self._rsa.sign(content, pss, hashes.SHA256())
        der = self._ec.sign(content, ec.ECDSA(hashes.SHA256()))
        if not raw_ecdsa:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32) + s.to_bytes(32)


ALGORITHMS = ["ed25519", "rsa-sha256", "rsa-pss-sha256", "ecdsa-p256-sha256"]
SENDERS = {algorithm: Sender(algorithm) for algorithm in ALGORITHMS}


def source(algorithm: str, keys: list[str], **auth: Any) -> Verifier:
    config = {
        "scheme": "public-key",
        "algorithm": algorithm,
        "publicKeys": keys,
        "signature": {"header": SIGNATURE_HEADER},
        "signed": "{timestamp}{body}",
        "timestamp": {"header": TIMESTAMP_HEADER, "unit": "iso8601"},
        **auth,
    }
    sequence = {"name": "x", "creatorId": "c", "assignedToIds": ["c"]}
    sources = {"sources": {"s": {"auth": config, "action": "create", "sequence": sequence}}}
    catalog = SourceCatalog.from_config(parse_sources(json.dumps(sources)))
    compiled = catalog.get("s")
    assert compiled is not None
    return compiled.verifier


def request(signature: bytes, body: bytes = BODY, stamp: str = STAMP) -> SignedRequest:
    headers = {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}
    return SignedRequest("POST", "https://h/webhooks/s", body, Headers(headers))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_genuine_delivery_verifies_and_every_forgery_is_refused(algorithm: str) -> None:
    sender, other = SENDERS[algorithm], Sender(algorithm)
    verifier = source(algorithm, [pem(sender.public)])
    signature = sender.sign(STAMP.encode() + BODY)
    verifier.verify(request(signature), [], NOW)
    forgeries = {
        "the body changed": request(signature, body=BODY.replace(b"delivered", b"bounced")),
        "the timestamp changed": request(signature, stamp="2026-12-08T09:30:01Z"),
        "another key's": request(other.sign(STAMP.encode() + BODY)),
        "truncated": request(signature[:-1]),
        "empty": request(b""),
    }
    for why, forged in forgeries.items():
        with pytest.raises(InvalidSignature):
            verifier.verify(forged, [], NOW)
        assert why


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_stale_or_future_timestamp_is_refused_though_signed(algorithm: str) -> None:
    sender = SENDERS[algorithm]
    verifier = source(algorithm, [pem(sender.public)])
    signature = sender.sign(STAMP.encode() + BODY)
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(InvalidSignature):
            verifier.verify(request(signature), [], now)
    verifier.verify(request(signature), [], NOW + 299)


def test_keys_are_tried_in_turn_and_may_be_base64_der_or_held_in_a_secret() -> None:
    old, new = Sender("ed25519"), SENDERS["ed25519"]
    content = STAMP.encode() + BODY
    rotating = source("ed25519", [pem(old.public), der_base64(new.public)])
    rotating.verify(request(new.sign(content)), [], NOW)
    rotating.verify(request(old.sign(content)), [], NOW)
    held = source("ed25519", [], publicKeysSecretId="skipcall-bridge/ghl-keys")
    held.verify(request(new.sign(content)), [pem(old.public), pem(new.public)], NOW)
    with pytest.raises(InvalidSignature):
        held.verify(request(new.sign(content)), [pem(old.public)], NOW)
    with pytest.raises(ConfigurationError, match="does not load"):
        held.verify(request(new.sign(content)), ["not a key"], NOW)


def test_ecdsa_takes_der_and_raw_r_and_s() -> None:
    sender = SENDERS["ecdsa-p256-sha256"]
    verifier = source("ecdsa-p256-sha256", [pem(sender.public)])
    content = STAMP.encode() + BODY
    verifier.verify(request(sender.sign(content)), [], NOW)
    verifier.verify(request(sender.sign(content, raw_ecdsa=True)), [], NOW)


def test_a_key_that_does_not_load_or_is_of_another_type_is_refused_at_load() -> None:
    ed_key, rsa_key = pem(SENDERS["ed25519"].public), pem(SENDERS["rsa-sha256"].public)
    p384 = pem(ec.generate_private_key(ec.SECP384R1()).public_key())
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    small = pem(weak.public_key())
    cases = {
        ("ed25519", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"): "does not load",
        ("ed25519", "bm90IGEga2V5"): "does not load",
        ("ed25519", rsa_key): "RSA key, not for ed25519",
        ("rsa-sha256", ed_key): "Ed25519 key, not for rsa-sha256",
        ("ecdsa-p256-sha256", p384): "secp384r1",
        ("rsa-pss-sha256", small): "1024 bits",
    }
    for (algorithm, key), message in cases.items():
        with pytest.raises(ConfigurationError, match=message):
            source(algorithm, [key])
    with pytest.raises(ConfigurationError, match="publicKeysSecretId"):
        source("ed25519", [])


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, len(STAMP) + len(BODY) - 1), flip=st.integers(1, 255))
def test_no_byte_of_the_timestamp_or_the_body_can_change(position: int, flip: int) -> None:
    sender = SENDERS["ed25519"]
    verifier = source("ed25519", [pem(sender.public)])
    signature = sender.sign(STAMP.encode() + BODY)
    signed = bytearray(STAMP.encode() + BODY)
    signed[position] ^= flip
    stamp, body = bytes(signed[: len(STAMP)]), bytes(signed[len(STAMP) :])
    try:
        text = stamp.decode("ascii")
    except UnicodeDecodeError:
        return  # not a header value any sender could send
    with pytest.raises(InvalidSignature):
        verifier.verify(request(signature, body=body, stamp=text), [], NOW)


def test_the_development_tools_sign_as_the_sender_does() -> None:
    """sign() with a private key (what `make events`, `sign` and `send` use) makes what the
    verifier takes, and the timestamp header an RFC 3339 time."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    verifier = source("ecdsa-p256-sha256", [pem(private.public_key())])
    headers = verifier.sign(BODY, key, NOW, method="POST", url="https://h/webhooks/s")
    assert headers[TIMESTAMP_HEADER] == STAMP
    verifier.verify(SignedRequest("POST", "", BODY, Headers(headers)), [], NOW)


# -- ISO-8601 timestamps and what check-config says of timestamps --------------------------

ZENDESK_SECRET = "zendesk_signing_secret_0123456789"
ZENDESK_BODY = b'{"ticket":{"id":42}}'
# printf '%s' "$STAMP$ZENDESK_BODY" | openssl dgst -sha256 -hmac "$ZENDESK_SECRET" -binary | base64
ZENDESK_SIGNATURE = "QYoAKmCWv5wejRc/PTTUbTkkSyJx6zqNvwWI67hNEf4="
ZENDESK_HEADERS = ("X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp")


def hmac_catalog(**auth: Any) -> SourceCatalog:
    config = {"scheme": "hmac", "secretId": "z", "encoding": "base64",
              "signature": {"header": ZENDESK_HEADERS[0]}, **auth}  # fmt: skip
    sequence = {"name": "x", "creatorId": "c", "assignedToIds": ["c"]}
    sources = {"sources": {"z": {"auth": config, "action": "create", "sequence": sequence}}}
    return SourceCatalog.from_config(parse_sources(json.dumps(sources)))


def test_an_iso_timestamp_is_signed_as_sent_and_checked_both_ways() -> None:
    catalog = hmac_catalog(
        signed="{timestamp}{body}",
        timestamp={"header": ZENDESK_HEADERS[1], "unit": "iso8601"},
    )
    verifier = catalog.get("z").verifier  # type: ignore[union-attr]
    headers = Headers(dict(zip(ZENDESK_HEADERS, (ZENDESK_SIGNATURE, STAMP), strict=True)))
    delivery = SignedRequest("POST", "https://h/webhooks/z", ZENDESK_BODY, headers)
    verifier.verify(delivery, [ZENDESK_SECRET], NOW)
    for now in (NOW + 301, NOW - 301, 1_577_836_800):  # 2020: the request #29 saw answered 201
        with pytest.raises(InvalidSignature):
            verifier.verify(delivery, [ZENDESK_SECRET], now)
    # the same moment written with an offset and a fraction is another text: not what was signed
    other = Headers({ZENDESK_HEADERS[0]: ZENDESK_SIGNATURE,
                     ZENDESK_HEADERS[1]: "2026-12-08T10:30:00.000+01:00"})  # fmt: skip
    with pytest.raises(InvalidSignature):
        verifier.verify(SignedRequest("POST", "", ZENDESK_BODY, other), [ZENDESK_SECRET], NOW)
    signed = verifier.sign(ZENDESK_BODY, ZENDESK_SECRET, NOW, method="POST", url="")
    assert signed == dict(zip(ZENDESK_HEADERS, (ZENDESK_SIGNATURE, STAMP), strict=True))


@pytest.mark.parametrize(
    "text",
    ["2026-12-08T09:30:00", "2026-12-08", "1796722200", "2026-12-08T09:30:00+0100",
     "2026-02-30T09:30:00Z", "\uff12\uff10\uff12\uff16-12-08T09:30:00Z", ""],
)  # fmt: skip
def test_what_is_not_an_rfc_3339_time_is_refused(text: str) -> None:
    catalog = hmac_catalog(
        signed="{timestamp}{body}",
        timestamp={"header": ZENDESK_HEADERS[1], "unit": "iso8601"},
    )
    verifier = catalog.get("z").verifier  # type: ignore[union-attr]
    headers = Headers({ZENDESK_HEADERS[0]: ZENDESK_SIGNATURE, ZENDESK_HEADERS[1]: text})
    with pytest.raises(InvalidSignature):
        verifier.verify(SignedRequest("POST", "", ZENDESK_BODY, headers), [ZENDESK_SECRET], NOW)


def test_check_config_tells_an_unsigned_timestamp_from_an_unchecked_one() -> None:
    unchecked = hmac_catalog(signed=f"{{header:{ZENDESK_HEADERS[1]}}}{{body}}").warnings()
    assert unchecked == [
        f"z: the signed header {ZENDESK_HEADERS[1]} is a timestamp that is never checked: "
        "declare it as `timestamp` (unit s, ms or iso8601) and sign {timestamp} instead, so a "
        "captured request goes stale"
    ]
    none = hmac_catalog().warnings()
    assert len(none) == 1
    assert none[0].startswith("z: no signed timestamp")
    checked = hmac_catalog(
        signed="{timestamp}{body}",
        timestamp={"header": ZENDESK_HEADERS[1], "unit": "iso8601"},
    )
    assert checked.warnings() == []


def test_rfc_8032_s_first_ed25519_vector_verifies() -> None:
    """RFC 8032, section 7.1, TEST 1: the empty message under its published key."""
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    ))  # fmt: skip
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    verifier = source("ed25519", [pem(public)], signed="{body}", timestamp=None)
    headers = Headers({SIGNATURE_HEADER: base64.b64encode(signature).decode()})
    verifier.verify(SignedRequest("POST", "", b"", headers), [], NOW)
    with pytest.raises(InvalidSignature):
        verifier.verify(SignedRequest("POST", "", b"\x00", headers), [], NOW)


def test_a_timestamp_inside_the_signed_body_is_checked_too() -> None:
    """HighLevel's: the body's `timestamp` field, signed with the rest of the body."""
    sender = SENDERS["ed25519"]
    verifier = source(
        "ed25519", [pem(sender.public)], signed="{body}",
        timestamp={"bodyField": "timestamp", "unit": "iso8601"},
    )  # fmt: skip
    for stamp, now, accepted in [(STAMP, NOW, True), (STAMP, NOW + 301, False),
                                 (None, NOW, False), ("yesterday", NOW, False)]:  # fmt: skip
        body = json.dumps({"type": "ContactCreate", "timestamp": stamp}).encode()
        signature = sender.sign(body)
        headers = Headers({SIGNATURE_HEADER: base64.b64encode(signature).decode()})
        attempt = SignedRequest("POST", "", body, headers)
        if accepted:
            verifier.verify(attempt, [], now)
        else:
            with pytest.raises(InvalidSignature):
                verifier.verify(attempt, [], now)
    with pytest.raises(ConfigurationError, match="leave \\{timestamp\\} out"):
        source("ed25519", [pem(sender.public)], signed="{timestamp}{body}",
               timestamp={"bodyField": "timestamp", "unit": "iso8601"})  # fmt: skip


def test_the_highlevel_preset_holds_highlevel_s_published_key() -> None:
    from pathlib import Path

    from skipcall_bridge.sources.catalog import load_sources

    catalog = load_sources(Path(__file__).resolve().parents[2] / "sources.example.json")
    highlevel = catalog.get("highlevel")
    assert highlevel is not None
    auth = highlevel.config.auth
    assert getattr(auth, "algorithm", None) == "ed25519"
    assert getattr(auth, "public_keys", None) == [
        "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg="
    ]


def test_libsodium_accepts_what_the_development_tools_sign() -> None:
    """The other way round: an Ed25519 signature made by our sign_with (what `make events`,
    `sign` and `send` produce) verifies with PyNaCl, and fails there once tampered."""
    from nacl.exceptions import BadSignatureError

    from skipcall_bridge.verify.public_key import sign_with

    private = ed25519.Ed25519PrivateKey.generate()
    key = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signature = sign_with(key, "ed25519", BODY)
    nacl.signing.VerifyKey(raw).verify(BODY, signature)
    with pytest.raises(BadSignatureError):
        nacl.signing.VerifyKey(raw).verify(BODY + b" ", signature)
