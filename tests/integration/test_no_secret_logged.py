"""With Powertools' development switches on (POWERTOOLS_DEV, debug logging), a delivery's
secrets still appear nowhere in what the receiver prints: the resolver never prints events."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import BEARER_TOKEN, EVENT, Receiver

INVOKE = """
import json, sys
from skipcall_bridge.handler import lambda_handler
from skipcall_bridge_dev.gateway import LocalContext, to_event
headers = [("Content-Type", "application/json"), ("Authorization", "Bearer " + sys.argv[1])]
event = to_event("POST", "/webhooks/zapier?key=" + sys.argv[1], headers,
                 json.dumps(json.loads(sys.argv[2])).encode(), "hooks.example.com")
print("status", lambda_handler(event, LocalContext(25, "ReceiverFunction"))["statusCode"])
"""


def test_powertools_dev_mode_prints_no_token(receiver: Receiver) -> None:
    environment = {**os.environ, "POWERTOOLS_DEV": "true", "POWERTOOLS_LOG_LEVEL": "DEBUG"}
    run = subprocess.run(  # noqa: S603 - this interpreter, our own handler
        [sys.executable, "-c", INVOKE, BEARER_TOKEN, json.dumps(EVENT)],
        capture_output=True, text=True, timeout=120, env=environment, check=False,
    )  # fmt: skip
    printed = run.stdout + run.stderr
    assert "status 201" in run.stdout, printed[-2000:]
    assert BEARER_TOKEN not in printed
