"""The artifact `sam build` makes, as this machine can run it: src/Makefile's own rule builds an
x86-64 twin (only the native wheels differ from the arm64 zip), and each cold start runs it in a
fresh `python3.13 -I -S` with the environment Lambda sets for `Tracing: Active`."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TWIN = ROOT / "build" / "bench-artifact"
TRACING = {  # what Lambda sets for a function with Tracing: Active (no daemon: UDP goes nowhere)
    "AWS_LAMBDA_FUNCTION_NAME": "ReceiverFunction",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
    "Sampled=1",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
}


@functools.cache
def python313() -> str:
    check = "import sys; assert sys.version_info[:2] == (3, 13)"
    pyenv = glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13"))
    for candidate in [shutil.which("python3.13"), *pyenv]:
        if candidate and subprocess.run([candidate, "-c", check], check=False).returncode == 0:  # noqa: S603
            return candidate
    raise SystemExit("artifact bench: no Python 3.13 here (the Lambda runtime's)")


def build_twin(sources: Path) -> None:
    """src/Makefile's own rule, for this machine's architecture."""
    shutil.rmtree(TWIN, ignore_errors=True)
    subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", "-s", "-C", str(ROOT / "src"), "build-ReceiverFunction",  # noqa: S607
         f"ARTIFACTS_DIR={TWIN}", "WHEEL_PLATFORM=manylinux2014_x86_64",
         f"SOURCES_FILE={sources}", f"PYTHON={sys.executable}"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
