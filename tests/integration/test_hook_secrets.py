"""REST-hook handshakes end to end (#29 item 3): `skipcall-bridge sources arm` opens the window
in the deduplication table (moto's DynamoDB, over HTTP), the real handler answers the
subscription POST with its `X-Hook-Secret`, keeps that secret in Secrets Manager only while the
window is open, and verifies the sender's deliveries with it from then on. At any other time
the handshake is echoed and nothing is stored; nothing reaches Skipcall either way."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from skipcall_bridge.cli.main import main
from skipcall_bridge.common.observability import logger
from skipcall_bridge.runtime import current_runtime

from .conftest import Receiver

PLACEHOLDER = "placeholder-until-the-handshake"
SEQUENCE = {
    "name": "Asana task {{ events[0].resource.gid }}",
    "creatorId": "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001",
    "assignedToIds": ["7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"],
}
SOURCES = {
    "asana": {
        "auth": {"scheme": "hmac", "secretId": "it/asana",
                 "signature": {"header": "X-Hook-Signature"}},
        "handshake": {"type": "hook-secret", "keep": True},
        "action": "create", "sequence": SEQUENCE,
    },
    "echoing": {
        "auth": {"scheme": "query-key", "secretId": "it/zapier", "parameter": "key"},
        "handshake": {"type": "hook-secret"},
        "action": "create", "sequence": SEQUENCE,
    },
}  # fmt: skip
BODY = b'{"events":[{"action":"added","resource":{"gid":"1201","resource_type":"task"}}]}'


@pytest.fixture
def hooks(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Receiver]:
    receiver.moto.client("secretsmanager").create_secret(Name="it/asana", SecretString=PLACEHOLDER)
    path = tmp_path / "hooks.json"
    path.write_text(json.dumps({"sources": SOURCES}))
    monkeypatch.setenv("SOURCES_CONFIG", str(path))
    current_runtime.cache_clear()
    level = logger.log_level
    yield receiver
    logger.setLevel(level)  # the operator's commands quiet the logs


def secret(receiver: Receiver) -> str:
    held = receiver.moto.client("secretsmanager").get_secret_value(SecretId="it/asana")
    return str(held["SecretString"])


def signed(key: str, body: bytes = BODY) -> dict[str, str]:
    return {"X-Hook-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def test_an_armed_source_keeps_the_first_handshake_s_secret_and_verifies_with_it(
    hooks: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sources", "arm", "asana", "--minutes", "5"]) == 0
    assert "armed: the next X-Hook-Secret handshake to asana" in capsys.readouterr().out
    hook_secret = "b4d9f1c0e2a7465f8c31d0aa5e6b7c21"
    answer = hooks.post("asana", b"", {"X-Hook-Secret": hook_secret})
    assert answer.status == 200
    assert answer.headers["X-Hook-Secret"] == hook_secret
    assert secret(hooks) == hook_secret
    # the window is closed: a second handshake (anyone's) is echoed, and changes nothing
    other = hooks.post("asana", b"", {"X-Hook-Secret": "another0secret0value0000000000"})
    assert other.status == 200
    assert secret(hooks) == hook_secret
    assert hooks.sandbox.state.requests == 0  # a handshake creates nothing
    delivery = hooks.post("asana", BODY, signed(hook_secret))
    assert delivery.status == 201, delivery.body
    assert [s["name"] for s in hooks.sandbox.sequences] == ["Asana task 1201"]
    assert hooks.post("asana", BODY, signed(PLACEHOLDER)).status == 401


def test_a_source_never_armed_only_echoes_and_keeps_its_secret(hooks: Receiver) -> None:
    answer = hooks.post("asana", b"", {"X-Hook-Secret": "b4d9f1c0e2a7465f8c31d0aa5e6b7c21"})
    assert answer.status == 200
    assert answer.headers["X-Hook-Secret"] == "b4d9f1c0e2a7465f8c31d0aa5e6b7c21"
    assert secret(hooks) == PLACEHOLDER
    echoed = hooks.post("echoing", b"", {"X-Hook-Secret": "k3ap0hook0secret0000000000"})
    assert (echoed.status, echoed.headers["X-Hook-Secret"]) == (200, "k3ap0hook0secret0000000000")
    assert hooks.sandbox.state.requests == 0


def test_only_a_source_that_keeps_its_hook_secret_can_be_armed(
    hooks: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sources", "arm", "echoing"]) == 2
    assert "keeps no secret" in capsys.readouterr().err
    assert main(["sources", "arm", "asana", "--minutes", "0"]) == 2
    assert "--minutes is 1 to 60" in capsys.readouterr().err
