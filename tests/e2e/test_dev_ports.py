"""`make dev` on ports of your choosing (#23 item 1): a taken port is named with the option that
moves it, the running stack says where it listens (.dev/stack-PID.json) and every `--dev` command
finds it there, and SIGTERM stops it within seconds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from skipcall_bridge_dev.samples import sample_body

from .conftest import EXAMPLE_SOURCES

CLI = [sys.executable, "-m", "skipcall_bridge.cli"]
ENVIRONMENT = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


FREE_PORTS = ("--gateway-port", "0", "--sandbox-port", "0", "--moto-port", "0")


def dev(cwd: Path, *ports: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own CLI
        [*CLI, "dev", "--sources", str(EXAMPLE_SOURCES), *ports],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENVIRONMENT, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("option", "what"),
    [("--moto-port", "moto"), ("--gateway-port", "the gateway"),
     ("--sandbox-port", "the Skipcall sandbox")],
)  # fmt: skip
def test_a_taken_port_is_named_with_the_option_that_moves_it(
    tmp_path: Path, option: str, what: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--gateway-port": "0", "--sandbox-port": "0", "--moto-port": "0"}
        process = dev(tmp_path, *[x for k, v in {**ports, option: str(port)}.items()
                                  for x in (k, v)])  # fmt: skip
        _, stderr = process.communicate(timeout=60)  # it ends: moto's server used to wait on
    assert process.returncode == 2
    assert f"port {port} ({what}) is taken" in stderr
    assert option in stderr
    assert "Traceback" not in stderr
    assert not list((tmp_path / ".dev").glob("stack-*.json"))


def test_dev_commands_find_the_stack_where_it_listens_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    process = dev(tmp_path, *FREE_PORTS)
    state_file = tmp_path / ".dev" / f"stack-{process.pid}.json"
    try:
        state = _wait_for(state_file, process)
        assert state["pid"] == str(process.pid)
        assert not state["moto"].endswith(":5000")  # a free port, not the default
        listing = _dlq_list(tmp_path)
        assert listing.returncode == 0, listing.stderr
        assert "Traceback" not in listing.stderr
        assert listing.stdout.startswith("message id")
        body = tmp_path / "lead.json"
        body.write_bytes(sample_body("zapier"))
        sent = subprocess.run(  # noqa: S603 - our own CLI; no --url: the state file says where
            [*CLI, "send", "zapier", str(body), "--sources", str(EXAMPLE_SOURCES)],
            check=False, cwd=tmp_path, env=ENVIRONMENT, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert sent.returncode == 0, (sent.stdout, sent.stderr)
        assert sent.stdout.startswith("HTTP 201")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    assert not state_file.exists()


def _own_address() -> str | None:
    """This machine's address on its first non-loopback interface (a UDP socket's route: no
    packet is sent), or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_moto_listens_on_the_loopback_whatever_host_says(tmp_path: Path) -> None:
    """Security review #28, finding 7: `HOST=0.0.0.0` opened the other servers to the network,
    and moto with them (it signs anything and holds the API key)."""
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no address but the loopback")
    with _on_every_address(tmp_path) as endpoints:
        moto_port = int(endpoints["moto"].rsplit(":", 1)[1])
        gateway_port = int(endpoints["gateway"].rsplit(":", 1)[1])
        assert endpoints["moto"] == f"http://127.0.0.1:{moto_port}"
        with socket.create_connection((address, gateway_port), timeout=5):
            pass  # the gateway does listen on every address, as asked
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, moto_port), timeout=5).close()


def test_a_stack_listening_on_every_address_hands_out_urls_that_answer(tmp_path: Path) -> None:
    """#30 item 16: `make dev HOST=0.0.0.0` handed out http://0.0.0.0:… (the sandbox's among
    them), which the receiver's settings refuse: /health said 503."""
    with _on_every_address(tmp_path) as endpoints:
        for server in ("gateway", "sandbox", "moto"):
            assert endpoints[server].startswith("http://127.0.0.1:"), endpoints
        health = urllib3.request("GET", f"{endpoints['gateway']}/health", timeout=30)
        assert health.status == 200, health.data


@contextlib.contextmanager
def _on_every_address(cwd: Path) -> Iterator[dict[str, str]]:
    """`make dev HOST=0.0.0.0` on free ports: the endpoints it prints (--json), until Ctrl-C."""
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [*CLI, "dev", "--json", "--sources", str(EXAMPLE_SOURCES), "--host", "0.0.0.0",  # noqa: S104
         *FREE_PORTS],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENVIRONMENT, cwd=cwd,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> dict[str, str]:
    for _ in range(600):  # written once every server listens
        if path.exists() or process.poll() is not None:
            break
        time.sleep(0.1)
    state: dict[str, str] = json.loads(path.read_text())
    return state


def _dlq_list(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [*CLI, "dlq", "list", "--dev"], check=False, cwd=cwd, env=ENVIRONMENT,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_two_stacks_in_one_directory_keep_their_own_state_and_dev_says_which(
    tmp_path: Path,
) -> None:
    """#30 item 14: a second `make dev` overwrote .dev/stack.json, and whichever stopped first
    deleted it: `--dev` commands reached the wrong stack, or none."""
    first = dev(tmp_path, *FREE_PORTS)
    second = None
    try:
        first_state = _wait_for(tmp_path / ".dev" / f"stack-{first.pid}.json", first)
        second = dev(tmp_path, *FREE_PORTS)
        second_state = _wait_for(tmp_path / ".dev" / f"stack-{second.pid}.json", second)
        assert first_state["gateway"] != second_state["gateway"]
        both = _dlq_list(tmp_path)
        assert both.returncode == 0, both.stderr
        assert "2 `make dev` stacks run from this directory" in both.stderr
        assert f"pid {second.pid}, {second_state['gateway']}" in both.stderr  # the newest

        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
        assert not (tmp_path / ".dev" / f"stack-{second.pid}.json").exists()  # its own only
        assert (tmp_path / ".dev" / f"stack-{first.pid}.json").exists()
        alone = _dlq_list(tmp_path)
        assert alone.returncode == 0, alone.stderr
        assert "stacks run from this directory" not in alone.stderr
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)
