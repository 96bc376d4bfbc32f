"""One Lambda container in a process of its own: the real handler, configured by the
environment, invoked with the payload-2.0 event read from stdin; its result is the last line
on stdout (after the logs and metrics, which Lambda also writes there)."""

from __future__ import annotations

import json
import sys

from skipcall_bridge.handler import lambda_handler
from skipcall_bridge_dev.gateway import LocalContext

if __name__ == "__main__":
    result = lambda_handler(json.load(sys.stdin), LocalContext(25, "ReceiverFunction"))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
