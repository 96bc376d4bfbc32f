"""The whole local stack as a separate process (`skipcall-bridge dev`), on free ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SOURCES = ROOT / "sources.example.json"


@dataclass(frozen=True)
class Stack:
    gateway: str
    sandbox: str
    moto: str
    queue_url: str

    def post(self, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """POST to a path on the gateway, or a full URL; JSON answers are decoded."""
        url = target if target.startswith("http") else self.gateway + target
        response = urllib3.request("POST", url, body=body, headers=headers)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.status, json.loads(response.data)
        return response.status, response.data.decode()

    def sandbox_sequences(self) -> list[dict[str, Any]]:
        state = json.loads(urllib3.request("GET", f"{self.sandbox}/_sandbox/state").data)
        return list(state["sequences"])


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    command = [
        sys.executable, "-m", "skipcall_bridge.cli", "dev", "--json",
        "--sources", str(EXAMPLE_SOURCES),
        "--gateway-port", "0", "--sandbox-port", "0", "--moto-port", "0",
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"skipcall-bridge dev exited with {process.wait(10)}")
        yield Stack(**json.loads(line))
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: every server stops, exit status 0
        assert process.wait(timeout=15) == 0
