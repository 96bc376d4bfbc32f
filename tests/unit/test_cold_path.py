"""What importing the handler may load: the cold start is paid by the sender."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def loaded() -> set[str]:
    code = "import sys, json, skipcall_bridge.handler; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(  # noqa: S603 - a fresh interpreter, our own module
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(
    "module",
    [
        "boto3",
        "aws_xray_sdk",
        "aws_lambda_powertools.utilities.parameters",
        "aws_lambda_powertools.utilities.idempotency",
        "urllib3",
        "defusedxml",
        "skipcall_bridge.receive.pipeline",
        "skipcall_bridge.sources.catalog",
    ],
)
def test_importing_the_handler_does_not_load(loaded: set[str], module: str) -> None:
    assert module not in loaded


def test_botocore_is_at_most_its_empty_package(loaded: set[str]) -> None:
    # Powertools' own __init__ imports the `botocore` package root to tag its user agent
    # (0.3 ms, no session or client); nothing of botocore's machinery may load.
    assert not [name for name in loaded if name.startswith("botocore.")]


def test_without_deduplication_every_client_is_built_without_boto3(tmp_path: Path) -> None:
    # boto3's import (s3transfer, the resource layer) is ~20 ms of a cold start that no client
    # here needs; only Powertools idempotency imports it, where deduplication is on.
    sources = tmp_path / "sources.json"
    sequence = {"name": "{{ name }}", "creatorId": "m", "assignedToIds": ["m"]}
    zapier = {"auth": {"scheme": "bearer", "secretId": "s"}, "sequence": sequence}
    sources.write_text(json.dumps({"sources": {"zapier": zapier}}))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SKIPCALL_API_KEY_SECRET_ID": "api-key",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "SOURCES_CONFIG": str(sources),
        "LINKS_TABLE": "links",
    }
    code = (
        "import sys, json\n"
        "from skipcall_bridge.runtime import current_runtime\n"
        "current_runtime().prepare()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(  # noqa: S603 - a fresh interpreter, our own module
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout))
    assert "botocore.client" in loaded  # the clients were built...
    assert "boto3" not in loaded  # ...from botocore alone
    # The replay's core loads with the first repeat of an event that did not map, not before.
    assert "skipcall_bridge.receive.pipeline" in loaded
    assert "skipcall_bridge.letters.runs" not in loaded
    # No source of the example signs with a public key: `cryptography` is never loaded (#29).
    assert "skipcall_bridge.verify.public_key" not in loaded
    assert not any(name.split(".")[0] == "cryptography" for name in loaded)


def test_a_sources_file_builds_only_the_schemes_it_uses() -> None:
    # Each scheme's model is built on its first validation (about 0.8 ms each, eleven of them).
    code = (
        "import json\n"
        "from skipcall_bridge.sources.catalog import parse_sources\n"
        "from skipcall_bridge.verify import schemes\n"
        "auth = {'scheme': 'bearer', 'secretId': 's'}\n"
        "sequence = {'name': 'n', 'creatorId': 'c', 'assignedToIds': ['c']}\n"
        "parse_sources(json.dumps({'sources': {'z': {'auth': auth, 'sequence': sequence}}}))\n"
        "print(json.dumps({name: model.__pydantic_complete__ "
        "for name, model in schemes.SCHEMES.items()}))\n"
    )
    out = subprocess.run(  # noqa: S603 - a fresh interpreter, our own module
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    built = json.loads(out.stdout)
    assert built.pop("bearer") is True
    assert not any(built.values()), built
