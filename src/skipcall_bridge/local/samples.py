"""Sample deliveries, one per source of sources.example.json, and the signing that makes them
real requests: used by `make events`, the ready command `make dev` prints, and the e2e tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from skipcall_bridge.local import devdata
from skipcall_bridge.sources import SourceCatalog

REP_ID = next(member for member in devdata.MEMBERS if member != devdata.CREATOR_ID)

SAMPLE_BODIES: dict[str, Any] = {
    "zapier": {
        "name": "Inbound demo request: ACME Corp",
        "creatorId": devdata.CREATOR_ID,
        "assignedToIds": [devdata.CREATOR_ID, REP_ID],
    },
    "make": {
        "scenario": "Qualified leads",
        "leads": [
            {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "company": "Analytical Engines",
                "ownerId": devdata.CREATOR_ID,
            },
            {"firstName": "Alan", "lastName": "Turing", "ownerId": REP_ID},
        ],
    },
    "n8n": {
        "type": "lead.qualified",
        "timestamp": "2026-11-26T09:00:00Z",
        "data": {
            "lead": {"name": "Grace Hopper", "email": "grace@example.com"},
            "creatorId": devdata.CREATOR_ID,
            "assignees": [REP_ID],
        },
    },
}


@dataclass(frozen=True)
class SignedSample:
    source: str
    body: bytes
    headers: dict[str, str]


def sample_body(source: str) -> bytes:
    return json.dumps(SAMPLE_BODIES[source], separators=(",", ":")).encode()


def sign_sample(
    catalog: SourceCatalog,
    source: str,
    body: bytes,
    *,
    url: str,
    secret: str | None = None,
    now: float | None = None,
) -> SignedSample:
    """Sign `body` as the sender of `source` would, with the dev secret unless one is given."""
    configured = catalog.get(source)
    if configured is None:
        raise KeyError(source)
    scheme = configured.config.auth.scheme
    key = secret if secret is not None else devdata.signing_secret(configured.secret_id, scheme)
    headers = {"Content-Type": "application/json"}
    headers |= configured.verifier.sign(
        body, key, time.time() if now is None else now, method="POST", url=url
    )
    return SignedSample(source, body, headers)


def curl_command(base_url: str, sample: SignedSample) -> str:
    flags = " ".join(f"-H '{name}: {value}'" for name, value in sample.headers.items())
    return (
        f"curl -sS -X POST {base_url}/webhooks/{sample.source} {flags} "
        f"--data-binary '{sample.body.decode()}'"
    )
