"""Integration fixtures: moto in server mode and the Skipcall sandbox, each on a free port on
127.0.0.1, started once per session and reset per test; the real handler in-process, configured
only through the environment, exactly as on Lambda."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

from skipcall_bridge.aws.config import aws_session
from skipcall_bridge.runtime import current_runtime
from skipcall_bridge_dev.gateway import LocalContext, to_event
from skipcall_bridge_dev.moto_stack import (
    LINKS_TABLE,
    MotoServer,
    create_dead_letter_queue,
    create_idempotency_table,
    create_table,
)
from skipcall_bridge_dev.sandbox import SkipcallSandbox
from skipcall_bridge_dev.stack import receiver_environment

API_KEY = "sk_test_integration_key"
CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
REP = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0002"
MEMBERS = {CREATOR: "owner@example.com", REP: "rep@example.com"}
BEARER_TOKEN = "zapier-token-5f1e"
HMAC_SECRET = "make-hmac-secret-9c2d"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVERY_SECRET = (API_KEY, BEARER_TOKEN, HMAC_SECRET, SW_SECRET, SW_SECRET.removeprefix("whsec_"))

SEQUENCE = {
    "name": "{{ name }}",
    "creatorId": "{{ creatorId }}",
    "assignedToIds": "{{ assignedToIds }}",
    "contactIds": "{{ contactIds }}",
}
SOURCES = {
    "sources": {
        "zapier": {"auth": {"scheme": "bearer", "secretId": "it/zapier"}, "sequence": SEQUENCE},
        "make": {
            "auth": {
                "scheme": "hmac-sha256",
                "secretId": "it/make",
                "header": "X-Signature",
                "encoding": "base64",
            },
            "events": "leads",
            "sequence": SEQUENCE,
        },
        "n8n": {
            "auth": {"scheme": "standard-webhooks", "secretId": "it/n8n"},
            "sequence": SEQUENCE,
        },
        "leads": {  # a batch of creates, worked 8 at once (the default concurrency)
            "auth": {"scheme": "bearer", "secretId": "it/zapier"},
            "events": "leads",
            "sequence": SEQUENCE,
        },
        "leads-in-turn": {
            "auth": {"scheme": "bearer", "secretId": "it/zapier"},
            "events": "leads",
            "sequence": SEQUENCE,
            "concurrency": 1,
        },
        "quick": {
            "auth": {"scheme": "bearer", "secretId": "it/zapier"},
            "sequence": SEQUENCE,
            "budgetSeconds": 1,
        },
        "eager": {
            "auth": {"scheme": "bearer", "secretId": "it/zapier"},
            "sequence": SEQUENCE,
            "budgetSeconds": 1,
            "onUnknownOutcome": "retry",
        },
    }
}
EVENT = {"name": "Call Ada", "creatorId": CREATOR, "assignedToIds": [CREATOR, REP]}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class Receiver:
    """Sends requests the way API Gateway would hand them to the function."""

    def __init__(self, moto: MotoServer, sandbox: SkipcallSandbox, queue_url: str) -> None:
        self.moto = moto
        self.sandbox = sandbox
        self.queue_url = queue_url

    def post(
        self,
        source: str,
        body: bytes | dict[str, Any],
        headers: dict[str, str],
        *,
        content_type: str = "application/json",
        timeout: float = 25.0,
    ) -> Answer:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        pairs = [("Host", "hooks.example.com"), ("Content-Type", content_type), *headers.items()]
        event = to_event("POST", f"/webhooks/{source}", pairs, raw, "hooks.example.com")
        return self.invoke(event, timeout)

    def invoke(self, event: dict[str, Any], timeout: float = 25.0) -> Answer:
        from skipcall_bridge.handler import lambda_handler

        result = lambda_handler(event, LocalContext(timeout, "ReceiverFunction"))
        return Answer(result["statusCode"], json.loads(result["body"]), result["headers"])

    def bearer(self, body: dict[str, Any], source: str = "zapier", **kwargs: Any) -> Answer:
        return self.post(source, body, {"Authorization": f"Bearer {BEARER_TOKEN}"}, **kwargs)

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = self.moto.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["_attributes"] = {
                    name: value["StringValue"]
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                envelope["_raw"] = message["Body"]
                found.append(envelope)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer("127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SkipcallSandbox]:
    server = SkipcallSandbox({API_KEY}, MEMBERS, port=0).start()
    yield server
    server.stop()


@pytest.fixture
def receiver(
    moto: MotoServer, sandbox: SkipcallSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Receiver]:
    urllib3.PoolManager().request("POST", f"{moto.url}/moto-api/reset")
    sandbox.reset()
    sandbox.state.api_keys = {API_KEY}
    sandbox.state.members = dict(MEMBERS)
    sandbox.state.rate_limit, sandbox.state.window_seconds = 100, 60.0
    secrets = moto.client("secretsmanager")
    secrets.create_secret(Name="it/api-key", SecretString=json.dumps({"apiKey": API_KEY}))
    secrets.create_secret(Name="it/zapier", SecretString=BEARER_TOKEN)
    secrets.create_secret(
        Name="it/make", SecretString=json.dumps(["retired-make-secret-00", HMAC_SECRET])
    )
    secrets.create_secret(Name="it/n8n", SecretString=SW_SECRET)
    queue_url = create_dead_letter_queue(moto, "it-dlq")
    create_idempotency_table(moto)  # deduplication on, as deployed
    create_table(moto, LINKS_TABLE)
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(SOURCES))
    environment = receiver_environment(moto.url, sandbox.url, queue_url, sources)
    environment["SKIPCALL_API_KEY_SECRET_ID"] = "it/api-key"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    current_runtime.cache_clear()  # a new container: settings, caches and clients start cold
    yield Receiver(moto, sandbox, queue_url)
    current_runtime.cache_clear()


@pytest.fixture
def no_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every delivery finds its budget spent while its invocation still has its 25 s: all of it
    is the DLQ's reserve. (An invocation given 1.5 s would meet its own end, as on Lambda, before
    a loaded machine's moto answered its writes: the AWS calls are bounded by it.)"""
    from skipcall_bridge.receive import pipeline

    monkeypatch.setattr(pipeline, "DEAD_LETTER_RESERVE_SECONDS", 25.0)
    # The end-of-budget path's own second (what it stores by then) is a matter of time on a
    # loaded machine's moto: here it has 20 s, so that only the test's faults decide what is
    # stored. Its limit is tested with a stepped clock (tests/unit/test_pipeline.py).
    monkeypatch.setattr(pipeline, "TAIL_SECONDS", 20.0)


@pytest.fixture
def secret_reads() -> Iterator[list[str]]:
    """The SecretId of every GetSecretValue the receiver sends while the test runs."""
    reads: list[str] = []

    def count(**kwargs: Any) -> None:
        reads.append(kwargs["params"]["SecretId"])

    session = aws_session()
    session.register("before-parameter-build.secrets-manager.GetSecretValue", count)
    yield reads
    session.unregister("before-parameter-build.secrets-manager.GetSecretValue", count)


def first_answer(body: dict[str, Any]) -> dict[str, Any]:
    """An answer as its first delivery got it: a repeat marks its events `duplicate`."""
    events = [{k: v for k, v in e.items() if k != "duplicate"} for e in body.get("events", [])]
    return {**body, "events": events} if "events" in body else body
