"""The `skipcall-bridge` command as a user runs it: output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import urllib3

from skipcall_bridge_dev.devdata import CREATOR_ID as CREATOR
from skipcall_bridge_dev.samples import sample_body

from .conftest import EXAMPLE_SOURCES, Stack


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "skipcall_bridge.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def body_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / f"{source}.body"
    path.write_bytes(sample_body(source))
    return path


def test_send_signs_and_delivers_as_the_sender_would(stack: Stack, tmp_path: Path) -> None:
    result = cli("send", "hubspot", str(body_file(tmp_path, "hubspot")),
                 "--sources", str(EXAMPLE_SOURCES), "--url", stack.gateway)  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, _, answer = result.stdout.partition("\n")
    assert status == "HTTP 201"
    assert json.loads(answer)["status"] == "created"


def test_send_exits_1_when_the_receiver_refuses(stack: Stack, tmp_path: Path) -> None:
    result = cli("send", "close", str(body_file(tmp_path, "close")), "--secret", "00ff" * 8,
                 "--sources", str(EXAMPLE_SOURCES), "--url", stack.gateway)  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP 401")


def test_sign_prints_the_url_and_headers(tmp_path: Path) -> None:
    result = cli("sign", "salesforce", str(body_file(tmp_path, "salesforce")),
                 "--sources", str(EXAMPLE_SOURCES), "--secret", "tok")  # fmt: skip
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "POST http://127.0.0.1:3000/webhooks/salesforce?token=tok"
    assert 'SOAPAction: ""' in lines


def test_check_config(tmp_path: Path) -> None:
    ok = cli("check-config", str(EXAMPLE_SOURCES))
    assert ok.returncode == 0
    assert "31 sources OK" in ok.stdout
    assert "skipcall-bridge/sources/salesforce" in ok.stdout
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"sources": {"x": {"auth": {"scheme": "none"}}}}))
    bad = cli("check-config", str(broken))
    assert bad.returncode == 2
    assert "sources.x.auth" in bad.stderr
    unsaid = {"sources": {"x": {"auth": {"scheme": "bearer", "secretId": "s"}}}}
    broken.write_text(json.dumps(unsaid))  # creates (the default action) from nothing
    bad = cli("check-config", str(broken))
    assert bad.returncode == 2
    assert "sources.x: Value error, action create: `sequence` (with its name) is required" in (
        bad.stderr
    )


def test_usage_errors_exit_2() -> None:
    assert cli("nope").returncode == 2
    assert cli("sign", "zapier", "/nonexistent/body").returncode == 2
    assert cli("sign", "nobody", str(EXAMPLE_SOURCES)).returncode == 2


def test_send_exits_1_when_the_delivery_is_dead_lettered(stack: Stack, tmp_path: Path) -> None:
    fault = json.dumps({"kind": "status", "status": 503, "count": 8}).encode()
    control = {"X-Inspector-Token": stack.control_token}
    urllib3.request("POST", f"{stack.sandbox}/_sandbox/faults", body=fault, headers=control)
    body = tmp_path / "zap.json"
    body.write_text(json.dumps({"name": "kept", "creatorId": CREATOR, "assignedToIds": [CREATOR]}))
    result = cli("send", "zapier", str(body), "--sources", str(EXAMPLE_SOURCES),
                 "--url", stack.gateway)  # fmt: skip
    urllib3.request("POST", f"{stack.sandbox}/_sandbox/reset", headers=control)  # no fault left
    assert result.stdout.startswith("HTTP 202")
    assert result.returncode == 1


def test_preview_then_send(stack: Stack, tmp_path: Path) -> None:
    body = tmp_path / "zap.json"
    body.write_text(json.dumps({"name": "previewed", "creatorId": CREATOR,
                                "assignedToIds": [CREATOR]}))  # fmt: skip
    shown = cli("preview", "zapier", str(body), "--sources", str(EXAMPLE_SOURCES))
    assert shown.returncode == 0
    assert '"name": "previewed"' in shown.stdout
    sent = cli("preview", "zapier", str(body), "--sources", str(EXAMPLE_SOURCES), "--send",
               "--url", f"{stack.gateway}/webhooks/zapier")  # fmt: skip
    assert "HTTP 201" in sent.stdout
    assert sent.returncode == 0
