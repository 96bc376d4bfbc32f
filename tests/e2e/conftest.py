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
    control_token: str
    directory: str = ""  # where it runs: `--dev` commands started here find it

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

    def effects(self) -> tuple[int, int, int]:
        """What a delivery can change: Skipcall requests, dead letters, deferred events. A
        refused request changes none of them."""
        import boto3

        from skipcall_bridge_dev import devdata

        state = json.loads(urllib3.request("GET", f"{self.sandbox}/_sandbox/state").data)
        sqs = boto3.client(
            "sqs", endpoint_url=self.moto, region_name=devdata.REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        work_url = self.queue_url.replace(devdata.DEAD_LETTER_QUEUE, devdata.WORK_QUEUE)
        depths = []
        for url in (self.queue_url, work_url):
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages",
                                "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]  # fmt: skip
            depths.append(sum(int(v) for v in attributes.values()))
        return int(state["requests"]), depths[0], depths[1]

    def refused(self, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """POST that must be refused: its answer, once it is checked that nothing moved."""
        before = self.effects()
        status, answer = self.post(target, body, headers)
        assert self.effects() == before, "a refused request reached Skipcall or a queue"
        return status, answer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    command = [
        sys.executable, "-m", "skipcall_bridge.cli", "dev", "--json",
        "--sources", str(EXAMPLE_SOURCES),
        "--gateway-port", "0", "--sandbox-port", "0", "--moto-port", "0",
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    directory = tmp_path_factory.mktemp("dev")  # where it writes .dev/stack-PID.json
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment,
        cwd=directory,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"skipcall-bridge dev exited with {process.wait(10)}")
        yield Stack(**json.loads(line), directory=str(directory))
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: every server stops, exit status 0
        assert process.wait(timeout=15) == 0
