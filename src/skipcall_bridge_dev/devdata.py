"""Fixed identities and secrets of the local stack, shared by `make dev`, events/ and tests.

Signing secrets are derived from the secret id and the running stack's salt: `make dev` draws a
salt of its own (and writes it to its state file, where `make events`, `sign --dev` and the
other verbs find it), since secrets derived from this public code alone would let anyone who
reaches the stack sign deliveries to it (security review #28, finding 7). With no stack
running, or SKIPCALL_BRIDGE_DEV_SALT set (empty: the fixed values, as the samples in events/
and the tests use), that decides. None of these are real secrets.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

REGION = "us-east-1"
API_KEY_SECRET_ID = "skipcall-bridge/api-key"  # noqa: S105 - a secret's name
API_KEY = "sk_test_local_skipcall_bridge"  # the sandbox's own dev key
DEAD_LETTER_QUEUE = "skipcall-bridge-dlq"
WORK_QUEUE = "skipcall-bridge-work"
CREATOR_ID = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
MEMBERS = {
    CREATOR_ID: "owner@example.com",
    "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0002": "rep@example.com",
}
SALESFORCE_ORG_ID = "00D5e000000AbCdEAA"
GATEWAY_PORT = 3000
SANDBOX_PORT = 4010
MOTO_PORT = 5000


# Where each running `make dev` says it listens (in the directory it was started in), one file
# per stack: every `--dev` command reads them, so a stack on other ports is found as the
# default one is, and two stacks never overwrite or delete each other's (#30 item 14).
STATE_DIR = Path(".dev")
SALT_VARIABLE = "SKIPCALL_BRIDGE_DEV_SALT"


def state_file(pid: int, directory: Path = STATE_DIR) -> Path:
    return directory / f"stack-{pid}.json"


def running_stacks(directory: Path = STATE_DIR) -> list[dict[str, str]]:
    """What each live `make dev` started here wrote, the newest first (a file whose process is
    gone, as after a kill -9, is left out)."""
    found = []
    for path in directory.glob("stack-*.json"):
        try:
            state = json.loads(path.read_text())
            os.kill(int(state["pid"]), 0)  # signal 0: only whether the process exists
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append({key: value for key, value in state.items() if isinstance(value, str)})
    return sorted(found, key=lambda state: float(state.get("started") or 0), reverse=True)


def running_stack(directory: Path = STATE_DIR) -> dict[str, str]:
    """The endpoints of the `make dev` the `--dev` verbs reach ({} when none runs): the newest,
    named on stderr when more than one runs here."""
    stacks = running_stacks(directory)
    if len(stacks) > 1:
        _say_which(len(stacks), stacks[0].get("pid", "?"), stacks[0].get("gateway", "?"))
    return stacks[0] if stacks else {}


@functools.cache
def _say_which(count: int, pid: str, gateway: str) -> None:
    print(
        f"note: {count} `make dev` stacks run from this directory; this command reaches the "
        f"newest (pid {pid}, {gateway}). Stop the other, or start each from its own directory.",
        file=sys.stderr,
    )


def salt() -> str:
    """SKIPCALL_BRIDGE_DEV_SALT when set, else the running stack's, else none."""
    if SALT_VARIABLE in os.environ:
        return os.environ[SALT_VARIABLE]
    return running_stack().get("salt", "")


def signing_secret(secret_id: str, scheme: str) -> str:
    """The dev value of a signing secret, in the format its scheme expects."""
    drawn = salt()  # read once: it may come from the state file
    prefix = f"skipcall-bridge-dev:{drawn}:" if drawn else "skipcall-bridge-dev:"
    seed = hashlib.sha256(f"{prefix}{secret_id}".encode()).digest()
    if scheme == "standard-webhooks":
        return "whsec_" + base64.b64encode(seed[:24]).decode()
    if scheme == "close":  # Close signature keys are hex
        return seed.hex()
    if scheme == "basic":
        return f"dev:{seed[:12].hex()}"
    if scheme == "twilio":  # an Auth Token: 32 hex characters
        return seed[:16].hex()
    if scheme == "jwt":  # RFC 7518: an HS256 key of at least 32 bytes
        return "dev_" + seed.hex()
    return "dev_" + seed[:12].hex()
