"""As a sender would: signed HTTP requests to the local gateway, nothing else."""

from __future__ import annotations

import json
import time
from pathlib import Path

from skipcall_bridge.local.events import write_events
from skipcall_bridge.local.samples import SAMPLE_BODIES, sample_body, sign_sample
from skipcall_bridge.sources import load_sources

from .conftest import EXAMPLE_SOURCES, Stack

CATALOG = load_sources(EXAMPLE_SOURCES)


def test_health(stack: Stack) -> None:
    import urllib3

    response = urllib3.request("GET", f"{stack.gateway}/health")
    assert response.status == 200
    assert json.loads(response.data)["sources"] == 3


def test_every_example_source_creates_sequences(stack: Stack) -> None:
    for source in SAMPLE_BODIES:
        before = len(stack.sandbox_sequences())
        sample = sign_sample(CATALOG, source, sample_body(source), url=stack.gateway)
        status, body = stack.post(f"/webhooks/{source}", sample.body, sample.headers)
        assert status == 201, (source, body)
        created = stack.sandbox_sequences()[before:]
        assert [s["id"] for s in created] == [s["id"] for s in body["sequences"]]
    names = [s["name"] for s in stack.sandbox_sequences()]
    assert "Call Ada Lovelace (Analytical Engines)" in names
    assert "Call Alan Turing (no company)" in names
    assert "Follow up Grace Hopper" in names


def test_a_tampered_body_is_refused(stack: Stack) -> None:
    sample = sign_sample(CATALOG, "make", sample_body("make"), url=stack.gateway)
    status, body = stack.post("/webhooks/make", sample.body.replace(b"Ada", b"Eve"), sample.headers)
    assert (status, body["error"]["code"]) == (401, "INVALID_SIGNATURE")


def test_a_replayed_standard_webhook_is_refused_once_stale(stack: Stack) -> None:
    sample = sign_sample(
        CATALOG, "n8n", sample_body("n8n"), url=stack.gateway, now=time.time() - 600
    )
    status, _ = stack.post("/webhooks/n8n", sample.body, sample.headers)
    assert status == 401


def test_the_samples_in_events_are_accepted(stack: Stack, tmp_path: Path) -> None:
    """What `make events` writes for `sam local invoke` is valid against the dev stack."""
    written = write_events(EXAMPLE_SOURCES, tmp_path)
    assert {path.name for path in written} == {
        "zapier.json", "make.json", "n8n.json", "health.json", "env.json",
    }  # fmt: skip
    for source in SAMPLE_BODIES:
        event = json.loads((tmp_path / f"{source}.json").read_text())
        assert event["version"] == "2.0"
        headers = {k: v for k, v in event["headers"].items() if k != "host"}
        status, body = stack.post(event["rawPath"], event["body"].encode(), headers)
        assert status == 201, (source, body)


def test_the_committed_untimed_samples_still_verify(stack: Stack) -> None:
    """events/ in the repo: bearer and HMAC samples carry no timestamp, so they never go stale
    (standard-webhooks ones do, which is why `make events` re-signs them)."""
    events_dir = EXAMPLE_SOURCES.parent / "events"
    for source in ("zapier", "make"):
        event = json.loads((events_dir / f"{source}.json").read_text())
        headers = {k: v for k, v in event["headers"].items() if k != "host"}
        status, body = stack.post(event["rawPath"], event["body"].encode(), headers)
        assert status == 201, (source, body)
