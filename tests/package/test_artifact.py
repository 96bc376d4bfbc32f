"""What is in the arm64 deployment zip. `make test` builds it first (`make package`) and passes
its path; run alone, this test builds it. Building reads the package index, as installing does."""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from skipcall_bridge.sources import parse_sources

ROOT = Path(__file__).resolve().parents[2]
MAX_ZIP_BYTES = 20 * 1000 * 1000
DEV_ONLY = (
    "tests/", "moto/", "pytest", "_pytest/", "hypothesis/", "mypy/", "ruff", "cfn_lint/",
    "boto3/", "botocore/", "s3transfer/", "skipcall_bridge_dev/",
)  # fmt: skip


@pytest.fixture(scope="module")
def artifact() -> Iterator[zipfile.ZipFile]:
    given = os.environ.get("SKIPCALL_BRIDGE_ZIP")
    path = Path(given) if given else ROOT / "dist" / "skipcall-bridge-arm64.zip"
    if not given:
        subprocess.run(["make", "-s", "package"], cwd=ROOT, check=True)  # noqa: S607
    with zipfile.ZipFile(path) as archive:
        yield archive


@pytest.fixture(scope="module")
def names(artifact: zipfile.ZipFile) -> set[str]:
    return set(artifact.namelist())


def test_holds_the_handler_at_the_root(names: set[str]) -> None:
    assert "skipcall_bridge/handler.py" in names
    assert "skipcall_bridge/pipeline.py" in names


def test_holds_a_valid_sources_file(artifact: zipfile.ZipFile) -> None:
    config = parse_sources(artifact.read("sources.json"))
    assert config.sources


def test_holds_the_runtime_dependencies_built_for_arm64_python_313(names: set[str]) -> None:
    for package in (
        "aws_lambda_powertools/",
        "pydantic/",
        "urllib3/",
        "aws_xray_sdk/",
        "jmespath/",
    ):
        assert any(name.startswith(package) for name in names), package
    native = [name for name in names if name.startswith("pydantic_core/") and name.endswith(".so")]
    assert native
    assert all("cpython-313-aarch64-linux-gnu" in name for name in native), native


def test_holds_nothing_from_tests_dev_tools_or_the_runtime(names: set[str]) -> None:
    offenders = sorted(name for name in names if name.startswith(DEV_ONLY))
    assert offenders == []


def test_holds_bytecode_for_the_lambda_python_only(names: set[str]) -> None:
    """Lambda cannot write __pycache__ in /var/task: without compiled modules every cold start
    compiles them all. `make test` says which interpreter tag to expect (none without 3.13)."""
    tag = os.environ.get("SKIPCALL_BRIDGE_BYTECODE", "")
    compiled = [name for name in names if name.endswith(".pyc")]
    assert all(f".{tag}.pyc" in name for name in compiled) if tag else not compiled
    if not tag:
        pytest.skip("built without Python 3.13 on this machine: no bytecode to check")
    sources = [
        name for name in names if name.endswith(".py") and name.startswith("skipcall_bridge/")
    ]
    for source in sources:
        folder, _, module = source.rpartition("/")
        assert f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc" in names, source
    assert any(name.startswith("pydantic/__pycache__/") for name in compiled)


def test_stays_small(artifact: zipfile.ZipFile) -> None:
    assert artifact.filename is not None
    size = Path(artifact.filename).stat().st_size
    assert size <= MAX_ZIP_BYTES, f"{size / 1e6:.1f} MB"


# The Lambda runtime provides these (and their own dependencies): src/Makefile leaves them out.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "python_dateutil", "six"}


def test_holds_exactly_the_locked_versions(names: set[str]) -> None:
    text = (ROOT / "src" / "requirements.txt").read_text()
    locked = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE)
    assert len(locked) > 5
    for requirement, version in locked:
        distribution = re.sub(r"[-.]+", "_", requirement).lower()
        shipped = any(
            name.lower().startswith(f"{distribution}-{version}.dist-info/") for name in names
        )
        assert shipped != (distribution in RUNTIME_PROVIDED), f"{requirement}=={version}"


def test_holds_only_the_runtime_package_its_dependencies_and_the_sources(names: set[str]) -> None:
    """Built from an allow-list: every top-level entry is the runtime package, the sources file,
    or a distribution of src/requirements.txt (its modules and its .dist-info)."""
    locked = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (ROOT / "src" / "requirements.txt")
                        .read_text(), re.MULTILINE)  # fmt: skip
    normalised = {re.sub(r"[-_.]+", "_", name).lower() for name in locked}
    allowed_files = {"sources.json", "typing_extensions.py", "six.py", "__pycache__"}
    offenders = []
    for top in {name.split("/", 1)[0] for name in names}:
        key = re.sub(r"[-_.]+", "_", top.split("-")[0].removesuffix(".py")).lower()
        if top in ("skipcall_bridge", *allowed_files) or top.endswith(".dist-info"):
            continue
        if key in normalised or key in MODULES_OF:
            continue
        offenders.append(top)
    assert sorted(offenders) == []


# Top-level modules whose name differs from their distribution's.
MODULES_OF = {"aws_xray_sdk", "jwt", "phonenumbers", "yaml", "dateutil", "google", "pydantic_core",
              "annotated_types", "typing_inspection", "defusedxml", "wrapt"}  # fmt: skip
