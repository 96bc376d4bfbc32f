"""A `public-key` source end to end (#29): its keys held in Secrets Manager (moto, over HTTP),
seeded as `make dev` seeds them, a delivery signed by the development tools with the dev key's
private half, verified by the real handler; a key rotated into the secret takes effect without
a deploy; SendGrid's own verifier (its Python helper) accepts what the dev tools send, so the
grammar below is SendGrid's Event Webhook."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from skipcall_bridge.runtime import current_runtime
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev.dev_keys import key_pair
from skipcall_bridge_dev.moto_stack import seed_signing_secrets
from skipcall_bridge_dev.samples import sign_sample

from .conftest import Receiver

KEYS_SECRET = "it/sendgrid-keys"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
SOURCES = {
    "sendgrid": {
        "auth": {
            "scheme": "public-key",
            "algorithm": "ecdsa-p256-sha256",
            "publicKeysSecretId": KEYS_SECRET,
            "signature": {"header": SIGNATURE},
            "signed": "{timestamp}{body}",
            "timestamp": {"header": TIMESTAMP, "unit": "s"},
        },
        "events": "[*]",
        "deliveryId": "sg_event_id",
        "action": "create",
        "sequence": {
            "name": "Follow-up {{ email }}",
            "creatorId": "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001",
            "assignedToIds": ["7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"],
        },
    }
}
BODY = (
    b'[{"email":"ada@example.com","timestamp":1796722200,"event":"open",'
    b'"sg_event_id":"c2ctZXZlbnQtMQ","sg_message_id":"m1.filter"}]'
)


@pytest.fixture
def sendgrid(receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "public-key.json"
    path.write_text(json.dumps({"sources": SOURCES}))
    seed_signing_secrets(receiver.moto, load_sources(path))  # as `make dev` does
    monkeypatch.setenv("SOURCES_CONFIG", str(path))
    current_runtime.cache_clear()
    yield path
    current_runtime.cache_clear()


def test_a_delivery_signed_with_the_dev_key_is_created_and_a_forgery_is_401(
    receiver: Receiver, sendgrid: Path
) -> None:
    catalog = load_sources(sendgrid)
    sample = sign_sample(catalog, "sendgrid", BODY, url="https://hooks.example.com")
    answer = receiver.post("sendgrid", BODY, sample.headers)
    assert answer.status == 201, answer.body
    assert [s["name"] for s in receiver.sandbox.sequences] == ["Follow-up ada@example.com"]
    forged = BODY.replace(b"open", b"click")
    assert receiver.post("sendgrid", forged, sample.headers).status == 401
    # the dev key's public half is what the secret holds; the private half never is
    held = receiver.moto.client("secretsmanager").get_secret_value(SecretId=KEYS_SECRET)
    assert held["SecretString"] == key_pair(KEYS_SECRET, "ecdsa-p256-sha256")[1]
    assert "PRIVATE" not in held["SecretString"]


def test_a_key_rotated_into_the_secret_is_taken_without_a_deploy(
    receiver: Receiver, sendgrid: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = ec.generate_private_key(ec.SECP256R1())
    public = (
        new.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private = new.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    old_public = key_pair(KEYS_SECRET, "ecdsa-p256-sha256")[1]
    receiver.moto.client("secretsmanager").put_secret_value(
        SecretId=KEYS_SECRET, SecretString=json.dumps([old_public, public])
    )
    current_runtime.cache_clear()  # a container that reads the secret after the rotation
    catalog = load_sources(sendgrid)
    sample = sign_sample(catalog, "sendgrid", BODY, url="https://h", secret=private)
    assert receiver.post("sendgrid", BODY, sample.headers).status == 201


def test_sendgrid_s_own_verifier_accepts_what_the_dev_tools_send(sendgrid: Path) -> None:
    catalog = load_sources(sendgrid)
    now = time.time()
    sample = sign_sample(catalog, "sendgrid", BODY, url="https://h", now=now)
    public_pem = key_pair(KEYS_SECRET, "ecdsa-p256-sha256")[1]
    der = "".join(line for line in public_pem.splitlines() if "-----" not in line)
    helper = EventWebhook()
    key = helper.convert_public_key_to_ecdsa(der)  # the form SendGrid's settings page shows
    assert helper.verify_signature(
        BODY.decode(), sample.headers[SIGNATURE], sample.headers[TIMESTAMP], key
    )
    assert not helper.verify_signature(
        BODY.decode().replace("open", "click"), sample.headers[SIGNATURE],
        sample.headers[TIMESTAMP], key,
    )  # fmt: skip
    assert base64.b64decode(sample.headers[SIGNATURE])[0] == 0x30  # DER, as SendGrid sends
