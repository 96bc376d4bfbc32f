"""`make events`: signed payload-2.0 samples in events/ for `sam local invoke`, and env.json.

Timestamped signatures go stale after five minutes, so these are re-signed on demand with the
local stack's dev secrets and the current time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.gateway import to_event
from skipcall_bridge_dev.moto_stack import IDEMPOTENCY_TABLE, LINKS_TABLE
from skipcall_bridge_dev.sample_bodies import SAMPLE_BODIES
from skipcall_bridge_dev.samples import sample_body, sign_sample

# From inside the SAM container, which `make invoke` runs on the host's network
# (`--docker-network host`): the dev stack on the loopback, moto included.
DOCKER_HOST = "127.0.0.1"
PUBLIC_HOST = f"localhost:{devdata.GATEWAY_PORT}"


def write_events(sources_path: Path, out: Path) -> list[Path]:
    catalog = load_sources(sources_path)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in catalog.names:
        if name not in SAMPLE_BODIES:
            continue
        body = sample_body(name)
        sample = sign_sample(catalog, name, body, url=f"http://{PUBLIC_HOST}")
        headers = [("Host", PUBLIC_HOST), *sample.headers.items()]
        target = sample.url.removeprefix(f"http://{PUBLIC_HOST}")  # path and query
        event = to_event("POST", target, headers, sample.body, PUBLIC_HOST)
        written.append(_write(out / f"{name}.json", event))
    health = to_event("GET", "/health", [("Host", PUBLIC_HOST)], b"", PUBLIC_HOST)
    written.append(_write(out / "health.json", health))
    written.append(_write(out / "env.json", {"ReceiverFunction": sam_environment()}))
    return written


def sam_environment() -> dict[str, str]:
    moto = f"http://{DOCKER_HOST}:{devdata.MOTO_PORT}"
    return {
        "AWS_ENDPOINT_URL": moto,
        "SKIPCALL_API_URL": f"http://{DOCKER_HOST}:{devdata.SANDBOX_PORT}",
        "SKIPCALL_API_KEY_SECRET_ID": devdata.API_KEY_SECRET_ID,
        "DEAD_LETTER_QUEUE_URL": f"{moto}/123456789012/{devdata.DEAD_LETTER_QUEUE}",
        "PUBLIC_BASE_URL": f"http://{PUBLIC_HOST}",  # what the HubSpot samples were signed for
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "LINKS_TABLE": LINKS_TABLE,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
