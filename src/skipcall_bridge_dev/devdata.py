"""Fixed identities and secrets of the local stack, shared by `make dev`, events/ and tests.

Signing secrets are derived from the secret id, so `make events` can sign samples that the
stack will accept without either reading the other's state. None of these are real secrets.
"""

from __future__ import annotations

import base64
import hashlib

REGION = "us-east-1"
API_KEY_SECRET_ID = "skipcall-bridge/api-key"  # noqa: S105 - a secret's name
API_KEY = "sk_test_local_skipcall_bridge"  # the sandbox's own dev key
DEAD_LETTER_QUEUE = "skipcall-bridge-dlq"
WORK_QUEUE = "skipcall-bridge-work"
CREATOR_ID = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
MEMBERS = {
    CREATOR_ID: "owner@example.com",
    "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0002": "rep@example.com",
}
SALESFORCE_ORG_ID = "00D5e000000AbCdEAA"
GATEWAY_PORT = 3000
SANDBOX_PORT = 4010
MOTO_PORT = 5000


def signing_secret(secret_id: str, scheme: str) -> str:
    """The dev value of a signing secret, in the format its scheme expects."""
    seed = hashlib.sha256(f"skipcall-bridge-dev:{secret_id}".encode()).digest()
    if scheme == "standard-webhooks":
        return "whsec_" + base64.b64encode(seed[:24]).decode()
    if scheme == "close":  # Close signature keys are hex
        return seed.hex()
    if scheme == "basic":
        return f"dev:{seed[:12].hex()}"
    if scheme == "twilio":  # an Auth Token: 32 hex characters
        return seed[:16].hex()
    if scheme == "jwt":  # RFC 7518: an HS256 key of at least 32 bytes
        return "dev_" + seed.hex()
    return "dev_" + seed[:12].hex()
