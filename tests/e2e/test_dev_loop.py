"""The builder's loop on `make dev`: your own sources file, edits picked up while it runs, a
broken edit reported while the last good version keeps serving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3

from skipcall_bridge_dev import devdata

CREATOR = devdata.CREATOR_ID
SEQUENCE = {"name": "{{ name }}", "creatorId": CREATOR, "assignedToIds": [CREATOR]}


def source(secret_id: str) -> dict[str, Any]:
    return {"auth": {"scheme": "bearer", "secretId": secret_id}, "sequence": SEQUENCE}


def post(gateway: str, name: str, secret_id: str) -> int:
    token = devdata.signing_secret(secret_id, "bearer")
    response = urllib3.request(
        "POST",
        f"{gateway}/webhooks/{name}",
        body=json.dumps({"name": f"from {name}"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    return response.status


def start_dev(tmp_path: Path, *options: str, stderr: int) -> tuple[Path, subprocess.Popen[str]]:
    """`skipcall-bridge dev` on free ports, with a sources file of one source, `mine`."""
    sources = tmp_path / "my.json"
    sources.write_text(json.dumps({"sources": {"mine": source("dev/mine")}}))
    command = [sys.executable, "-m", "skipcall_bridge.cli", "dev", *options,
               "--sources", str(sources), "--gateway-port", "0", "--sandbox-port", "0",
               "--moto-port", "0"]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment,
        cwd=tmp_path,  # where it writes .dev/stack-PID.json: not the repository's
    )  # fmt: skip
    return sources, process


def edit(path: Path, text: str) -> None:
    """Write, then give the file a modification time of its own: the watcher compares (time,
    size), and a file system with coarse times would otherwise need a second's wait."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**10, before + 10**10))


def test_edits_are_reloaded_and_a_broken_edit_keeps_the_last_good(tmp_path: Path) -> None:
    sources, process = start_dev(tmp_path, "--json", stderr=subprocess.PIPE)
    said: list[str] = []
    assert process.stderr is not None
    threading.Thread(target=lambda: said.extend(process.stderr or []), daemon=True).start()
    try:
        assert process.stdout is not None
        gateway = json.loads(process.stdout.readline())["gateway"]
        assert post(gateway, "mine", "dev/mine") == 201
        assert post(gateway, "later", "dev/later") == 404

        edit(sources, json.dumps({"sources": {"mine": source("dev/mine"),
                                              "later": source("dev/later")}}))  # fmt: skip
        deadline = time.monotonic() + 10
        while post(gateway, "later", "dev/later") != 201:
            assert time.monotonic() < deadline, f"not reloaded: {said}"
            time.sleep(0.2)
        assert any("sources reloaded" in line for line in said)
        # #30 item 7: the new source's URL and dev credential, on reload and on demand
        token = devdata.signing_secret("dev/later", "bearer")
        credential = f"Authorization: Bearer {token}"
        printed = "".join(said)
        assert f"{gateway}/webhooks/later" in printed.split("new source:")[1]
        assert credential in printed.split("new source:")[1]
        asked = subprocess.run(
            [sys.executable, "-m", "skipcall_bridge.cli", "secret", "later", "--dev"],
            check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        assert f"{gateway}/webhooks/later" in asked.stdout
        assert credential in asked.stdout

        edit(sources, '{"sources": {"mine": {"auth": ')  # a broken edit
        deadline = time.monotonic() + 10
        while not any("not reloaded" in line for line in said):
            assert time.monotonic() < deadline, f"no word of the broken edit: {said}"
            time.sleep(0.2)
        assert post(gateway, "later", "dev/later") == 201  # the last good version serves
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_the_console_prints_one_line_per_delivery(tmp_path: Path) -> None:
    _, process = start_dev(tmp_path, stderr=subprocess.STDOUT)
    lines: list[str] = []
    assert process.stdout is not None
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    try:
        deadline = time.monotonic() + 20
        while not any(line.startswith("receiver") for line in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.1)
        gateway = next(line for line in lines if line.startswith("receiver")).split()[1]
        gateway = gateway.removesuffix("/webhooks/{source}")
        before = len(lines)
        assert post(gateway, "mine", "dev/mine") == 201
        assert post(gateway, "mine", "dev/wrong") == 401
        deadline = time.monotonic() + 20  # a bound for a hang, not a margin
        while len(lines) < before + 3:
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
        printed = lines[before:]
        assert len(printed) == 3, printed  # one line each (and why a 401), no JSON logs, no EMF
        assert " mine " in printed[0]
        assert " 201  created " in printed[0]
        assert " 401  INVALID_SIGNATURE " in printed[1]
        assert printed[2].strip() == "why: the token is not the source's"  # #30 item 5
        assert not any(line.lstrip().startswith("{") for line in lines)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_a_deferred_delivery_is_finished_by_the_dev_stack_s_worker(tmp_path: Path) -> None:
    """A budget too short for even one event: the answer is `deferred`, and the dev stack's
    poller hands the work queue to WorkerFunction's handler, which creates the sequence."""
    sources = tmp_path / "slow.json"
    slow = {**source("dev/mine"), "budgetSeconds": 0.1}
    sources.write_text(json.dumps({"sources": {"mine": slow}}))
    command = [sys.executable, "-m", "skipcall_bridge.cli", "dev", "--sources", str(sources),
               "--gateway-port", "0", "--sandbox-port", "0", "--moto-port", "0"]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
        cwd=tmp_path,
    )  # fmt: skip
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in process.stdout or []:
            lines.append(line)
            seen.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        while not any(line.startswith("receiver") for line in lines):
            assert seen.wait(30), lines
            seen.clear()
        gateway = next(line for line in lines if line.startswith("receiver")).split()[1]
        gateway = gateway.removesuffix("/webhooks/{source}")
        token = devdata.signing_secret("dev/mine", "bearer")
        answer = urllib3.request(
            "POST",
            f"{gateway}/webhooks/mine",
            body=json.dumps({"name": "deferred lead"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert answer.status == 202
        assert answer.json()["events"][0]["status"] == "deferred"
        while not any(line.startswith("worker: 1 deferred event finished") for line in lines):
            assert seen.wait(30), lines  # a line at least every long poll would be too many
            seen.clear()
        page = urllib3.request("GET", f"{gateway}/_inspect").data.decode()
        assert "finished by the worker at" in page
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_a_resend_after_the_fix_is_done_once_and_the_replay_finds_it_done(tmp_path: Path) -> None:
    """The builder's loop of #23: a delivery that does not map (422), the sources file fixed
    while `make dev` runs, the same body sent again: done now (201, `duplicate`), and the
    replay of its letter then finds it done and only removes the letter."""
    sources, process = start_dev(tmp_path, "--json", stderr=subprocess.PIPE)
    said: list[str] = []
    assert process.stderr is not None
    threading.Thread(target=lambda: said.extend(process.stderr or []), daemon=True).start()

    def reloaded(times: int) -> None:
        deadline = time.monotonic() + 20  # a bound for a hang, not a margin
        while sum("sources reloaded" in line for line in said) < times:
            assert time.monotonic() < deadline, f"not reloaded: {said}"
            time.sleep(0.1)

    token = devdata.signing_secret("dev/mine", "bearer")

    def send() -> tuple[int, Any]:
        response = urllib3.request(
            "POST",
            f"{stack['gateway']}/webhooks/mine",
            body=json.dumps({"name": "Call Ada", "owner": "nobody"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return response.status, response.json()

    try:
        assert process.stdout is not None
        stack = json.loads(process.stdout.readline())
        typo = {**SEQUENCE, "creatorId": "{{ ownerId }}"}  # the event has no such field
        edit(sources, json.dumps({"sources": {"mine": {**source("dev/mine"), "sequence": typo}}}))
        reloaded(1)
        status, first = send()
        assert status == 422, first
        assert first["error"]["details"][0]["field"] == "creatorId"

        edit(sources, json.dumps({"sources": {"mine": source("dev/mine")}}))
        reloaded(2)
        status, repeat = send()
        assert status == 201, repeat
        (event,) = repeat["events"]
        assert (event["status"], event["duplicate"]) == ("created", True)

        replayed = subprocess.run(  # noqa: S603 - our own CLI, on this stack (.dev/stack-PID.json)
            [sys.executable, "-m", "skipcall_bridge.cli", "replay", "--dev",
             "--sources", str(sources)],
            check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )  # fmt: skip
        assert replayed.returncode == 0, replayed.stderr
        assert "already-created" in replayed.stdout, replayed.stdout
        # #30 item 11: the replay shows on the stack's console and in its inspector
        deadline = time.monotonic() + 20  # a bound for a hang, not a margin
        while not any(line.startswith("replay: 1 already-created") for line in said):
            assert time.monotonic() < deadline, said
            time.sleep(0.1)
        page = urllib3.request("GET", f"{stack['gateway']}/_inspect").data.decode()
        assert "replayed at" in page
        state = urllib3.request("GET", f"{stack['sandbox']}/_sandbox/state").json()
        assert [sequence["name"] for sequence in state["sequences"]] == ["Call Ada"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_make_dev_draws_its_own_dev_secrets_and_the_dev_verbs_find_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Security review #28, finding 7: the dev secrets were derived from public code alone, so
    anyone who reached the stack could sign to it. `make dev` draws a salt, writes it to its
    state file, and `send` (run where the stack runs) signs with it."""
    monkeypatch.delenv("SKIPCALL_BRIDGE_DEV_SALT")
    sources, process = start_dev(tmp_path, "--json", stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        stack = json.loads(process.stdout.readline())
        salt = json.loads((tmp_path / ".dev" / f"stack-{process.pid}.json").read_text())["salt"]
        assert len(salt) == 16
        monkeypatch.setenv("SKIPCALL_BRIDGE_DEV_SALT", "")
        assert post(stack["gateway"], "mine", "dev/mine") == 401  # the public derivation
        monkeypatch.setenv("SKIPCALL_BRIDGE_DEV_SALT", salt)
        assert post(stack["gateway"], "mine", "dev/mine") == 201
        monkeypatch.delenv("SKIPCALL_BRIDGE_DEV_SALT")
        body = tmp_path / "lead.json"
        body.write_text(json.dumps({"name": "sent by the CLI"}))
        sent = subprocess.run(  # noqa: S603 - our own CLI, where the stack runs
            [sys.executable, "-m", "skipcall_bridge.cli", "send", "mine", str(body),
             "--sources", str(sources), "--url", stack["gateway"]],
            capture_output=True, text=True, cwd=tmp_path, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )  # fmt: skip
        assert sent.stdout.startswith("HTTP 201"), sent.stdout + sent.stderr
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
