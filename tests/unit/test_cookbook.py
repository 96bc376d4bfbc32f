"""docs/sources.md's cookbook (#29 item 5): each sender's `auth` block, read from the page,
verifies a request signed as that sender's own documentation says (the HMACs computed here
with the standard library, GitHub's with its documented vector; the keys made by PyNaCl and the
`cryptography` primitives), and refuses the same request tampered with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_796_722_200
SECRET = "whsec_cookbook_secret_0123456789"
BODY = b'{"id":"evt_1","email":"ada@example.com","timestamp":"2026-12-08T09:30:00Z"}'


def cookbook() -> dict[str, dict[str, Any]]:
    """Each `### Sender` of the cookbook section and the first JSON block under it."""
    page = (ROOT / "docs" / "sources.md").read_text()
    section = page.split("## Senders without a preset: a cookbook", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for part in section.split("\n### ")[1:]:
        name = part.split("\n", 1)[0].strip()
        found = re.search(r"```json\n(.*?)```", part, re.DOTALL)
        assert found is not None, f"{name}: no JSON block"
        blocks[name] = json.loads(found.group(1))
    return blocks


BLOCKS = cookbook()


def verifier_of(auth: dict[str, Any]) -> Any:
    sequence = {"name": "x", "creatorId": "c", "assignedToIds": ["c"]}
    sources = {"sources": {"s": {"auth": auth, "action": "create", "sequence": sequence}}}
    source = SourceCatalog.from_config(parse_sources(json.dumps(sources))).get("s")
    assert source is not None
    return source.verifier


def mac(content: bytes) -> bytes:
    return hmac.new(SECRET.encode(), content, hashlib.sha256).digest()


def pem(public: Any) -> str:
    return str(public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode())  # fmt: skip


def zendesk(body: bytes) -> tuple[dict[str, str], list[str]]:
    stamp = "2026-12-08T09:30:00Z"
    signature = base64.b64encode(mac(stamp.encode() + body)).decode()
    headers = {"X-Zendesk-Webhook-Signature": signature,
               "X-Zendesk-Webhook-Signature-Timestamp": stamp}  # fmt: skip
    return headers, [SECRET]


def webflow(body: bytes) -> tuple[dict[str, str], list[str]]:
    stamp = str(NOW * 1000)
    signature = mac(f"{stamp}:".encode() + body).hex()
    return {"X-Webflow-Signature": signature, "X-Webflow-Timestamp": stamp}, [SECRET]


def github(body: bytes) -> tuple[dict[str, str], list[str]]:
    return {"X-Hub-Signature-256": "sha256=" + mac(body).hex()}, [SECRET]


def shopify(body: bytes) -> tuple[dict[str, str], list[str]]:
    return {"X-Shopify-Hmac-Sha256": base64.b64encode(mac(body)).decode()}, [SECRET]


HIGHLEVEL_KEY = nacl.signing.SigningKey.generate()


def highlevel(body: bytes) -> tuple[dict[str, str], list[str]]:
    signature = base64.b64encode(HIGHLEVEL_KEY.sign(body).signature).decode()
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes(HIGHLEVEL_KEY.verify_key))
    return {"X-GHL-Signature": signature}, [pem(public)]


SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


def sendgrid(body: bytes) -> tuple[dict[str, str], list[str]]:
    stamp = str(NOW)
    der = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(der).decode(),
               "X-Twilio-Email-Event-Webhook-Timestamp": stamp}  # fmt: skip
    return headers, [pem(SENDGRID_KEY.public_key())]


def asana(body: bytes) -> tuple[dict[str, str], list[str]]:
    return {"X-Hook-Signature": mac(body).hex()}, [SECRET]


SENDERS: dict[str, Callable[[bytes], tuple[dict[str, str], list[str]]]] = {
    "Zendesk": zendesk, "Webflow": webflow, "GitHub": github, "Shopify": shopify,
    "HighLevel": highlevel, "SendGrid": sendgrid, "Asana": asana,
}  # fmt: skip


def test_the_cookbook_has_the_senders_the_issue_names() -> None:
    assert set(BLOCKS) == set(SENDERS)


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_each_block_verifies_what_its_sender_sends_and_refuses_it_tampered(sender: str) -> None:
    verifier = verifier_of(BLOCKS[sender])
    headers, secrets = SENDERS[sender](BODY)
    request = SignedRequest("POST", "https://h/webhooks/s", BODY, Headers(headers))
    verifier.verify(request, secrets, NOW)
    tampered = SignedRequest("POST", "https://h/webhooks/s", BODY.replace(b"ada", b"eve"),
                             Headers(headers))  # fmt: skip
    with pytest.raises(InvalidSignature):
        verifier.verify(tampered, secrets, NOW)


def test_github_s_documented_vector() -> None:
    """docs.github.com, "Validating webhook deliveries": the secret "It's a Secret to
    Everybody" and the payload "Hello, World!"."""
    verifier = verifier_of(BLOCKS["GitHub"])
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    request = SignedRequest("POST", "", b"Hello, World!",
                            Headers({"X-Hub-Signature-256": signature}))  # fmt: skip
    verifier.verify(request, ["It's a Secret to Everybody"], NOW)
