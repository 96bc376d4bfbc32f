"""Subscription handshakes as the senders make them, over HTTP to `make dev`: monday.com's
unsigned challenge POST echoed as JSON, a Meta-style GET answered with its challenge only for
the right verify token, REST hooks' X-Hook-Secret echoed (and Asana's kept once an operator
armed it with `sources arm --dev`), and nothing created or dead-lettered by any."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys

import urllib3

from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata

from .conftest import EXAMPLE_SOURCES, Stack

CATALOG = load_sources(EXAMPLE_SOURCES)
CHALLENGE = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


def verify_token() -> str:
    return devdata.signing_secret("skipcall-bridge/sources/meta-style-verify-token", "bearer")


def test_monday_s_challenge_is_echoed_and_creates_nothing(stack: Stack) -> None:
    before = len(stack.sandbox_sequences())
    body = json.dumps({"challenge": CHALLENGE}).encode()
    status, answer = stack.post("/webhooks/monday", body, {"Content-Type": "application/json"})
    assert (status, answer) == (200, {"challenge": CHALLENGE})
    assert len(stack.sandbox_sequences()) == before


def test_a_challenge_with_anything_else_is_an_ordinary_unsigned_delivery(stack: Stack) -> None:
    body = json.dumps({"challenge": CHALLENGE, "event": {"type": "create_pulse"}}).encode()
    status, answer = stack.post("/webhooks/monday", body, {"Content-Type": "application/json"})
    assert status == 401
    assert answer["error"]["code"] == "INVALID_SIGNATURE"


def test_a_verify_token_get_is_answered_with_its_challenge(stack: Stack) -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "x"}
    good = urllib3.request("GET", f"{stack.gateway}/webhooks/meta-style",
                           fields={**query, "hub.verify_token": verify_token()})  # fmt: skip
    assert good.status == 200
    assert good.headers["content-type"].startswith("text/plain")
    assert good.data == b"1158201444"
    wrong = urllib3.request("GET", f"{stack.gateway}/webhooks/meta-style", fields=query)
    assert wrong.status == 401
    unsubscribe = {**query, "hub.mode": "unsubscribe", "hub.verify_token": verify_token()}
    refused = urllib3.request("GET", f"{stack.gateway}/webhooks/meta-style", fields=unsubscribe)
    assert refused.status == 401


def test_get_is_for_verify_token_sources_only(stack: Stack) -> None:
    other = urllib3.request("GET", f"{stack.gateway}/webhooks/zapier", fields={"hub.mode": "x"})
    assert other.status == 404
    assert json.loads(other.data)["error"]["code"] == "NOT_FOUND"


def test_mailchimp_s_check_of_the_url_is_answered_only_with_its_key(stack: Stack) -> None:
    """Mailchimp GETs the URL it is given before saving the webhook: 200 with the key."""
    key = devdata.signing_secret("skipcall-bridge/sources/mailchimp", "query-key")
    url = f"{stack.gateway}/webhooks/mailchimp"
    good = urllib3.request("GET", url, fields={"key": key})
    assert (good.status, json.loads(good.data)) == (200, {"status": "ok"})
    assert urllib3.request("GET", url).status == 401
    assert urllib3.request("GET", url, fields={"key": "wrong-key-0123456789"}).status == 401


def test_asana_s_hook_secret_is_kept_once_armed_and_then_signs_its_deliveries(
    stack: Stack,
) -> None:
    secret = "0f8e7d6c5b4a39281706f5e4d3c2b1a0"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    armed = subprocess.run(  # noqa: S603 - our own CLI, as an operator runs it
        [sys.executable, "-m", "skipcall_bridge.cli", "sources", "arm", "asana", "--dev",
         "--sources", str(EXAMPLE_SOURCES), "--minutes", "5"],
        cwd=stack.directory, env=environment, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert armed.returncode == 0, armed.stderr
    before = len(stack.sandbox_sequences())
    answer = urllib3.request("POST", f"{stack.gateway}/webhooks/asana", body=b"",
                             headers={"X-Hook-Secret": secret})  # fmt: skip
    assert (answer.status, answer.headers["X-Hook-Secret"]) == (200, secret)
    body = (
        b'{"events":[{"action":"added","created_at":"2026-12-08T10:00:00.000Z",'
        b'"resource":{"gid":"7301","resource_type":"task"}}]}'
    )
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    status, created = stack.post("/webhooks/asana", body, {"X-Hook-Signature": signature})
    assert status == 201, created
    assert [s["name"] for s in stack.sandbox_sequences()[before:]] == ["Asana task 7301"]
    # the window closed with the first handshake: another is echoed and changes nothing
    other = urllib3.request("POST", f"{stack.gateway}/webhooks/asana", body=b"",
                            headers={"X-Hook-Secret": "a" * 32})  # fmt: skip
    assert other.status == 200
    status, _ = stack.post("/webhooks/asana", body, {"X-Hook-Signature": signature})
    assert status == 201  # still the kept secret (answered from the first delivery's record)


def test_keap_s_hook_secret_is_echoed_and_creates_nothing(stack: Stack) -> None:
    before = len(stack.sandbox_sequences())
    answer = urllib3.request("POST", f"{stack.gateway}/webhooks/keap", body=b"{}",
                             headers={"X-Hook-Secret": "k3ap5ecret0123456789"})  # fmt: skip
    assert (answer.status, answer.headers["X-Hook-Secret"]) == (200, "k3ap5ecret0123456789")
    assert len(stack.sandbox_sequences()) == before
