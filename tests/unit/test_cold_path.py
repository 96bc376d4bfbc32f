"""What importing the handler may load: the cold start is paid by the sender."""

from __future__ import annotations

import json
import subprocess
import sys

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
        "skipcall_bridge.pipeline",
        "skipcall_bridge.sources",
    ],
)
def test_importing_the_handler_does_not_load(loaded: set[str], module: str) -> None:
    assert module not in loaded


def test_botocore_is_at_most_its_empty_package(loaded: set[str]) -> None:
    # Powertools' own __init__ imports the `botocore` package root to tag its user agent
    # (0.3 ms, no session or client); nothing of botocore's machinery may load.
    assert not [name for name in loaded if name.startswith("botocore.")]
