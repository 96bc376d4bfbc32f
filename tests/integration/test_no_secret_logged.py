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


def test_a_refused_delivery_s_log_says_why_and_its_answer_does_not(receiver: Receiver) -> None:
    """#30 item 5: the operator reads why a sender got 401 (missing, stale, another key or a
    changed body) in the log; the sender learns nothing, and the token presented is nowhere."""
    wrong = "not-the-token-" + "x" * 24
    run = subprocess.run(  # noqa: S603 - this interpreter, our own handler
        [sys.executable, "-c", INVOKE.replace('print("status", ', 'print("answer", json.dumps(')
         .replace('["statusCode"])', '))'), wrong, json.dumps(EVENT)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False,
    )  # fmt: skip
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    [refused] = [line for line in lines if line.get("message") == "Signature rejected"]
    assert refused["refusal"] == "mismatch"
    assert refused["why"] == "the token is not the source's"
    [answer] = [line for line in run.stdout.splitlines() if line.startswith("answer ")]
    assert json.loads(json.loads(answer.removeprefix("answer "))["body"]) == {
        "error": {"code": "INVALID_SIGNATURE",
                  "message": "The request signature could not be verified.", "status": 401}
    }  # fmt: skip
    assert wrong not in run.stdout + run.stderr
