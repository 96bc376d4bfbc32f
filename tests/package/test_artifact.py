"""What `sam build` makes of each function of template.yaml, and the deployment zip made from
it. `make test` runs the real SAM CLI first (`make package`: `sam build` into build/sam, then
the zip) and passes the build's directory; run alone, this test builds it. Building reads the
package index, as installing does."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.aws.config import SERVICES, TRACING_SERVICES
from skipcall_bridge.sources.parsing import parse_sources

ROOT = Path(__file__).resolve().parents[2]
MAX_ZIP_BYTES = 20 * 1000 * 1000
BYTECODE_TAG = "cpython-313"  # the Lambda runtime's (python3.13)
DEV_ONLY = (
    "tests/", "moto/", "pytest", "_pytest/", "hypothesis/", "mypy/", "ruff", "cfn_lint/",
    "skipcall_bridge_dev/", "samcli/", "mypy_boto3", "boto3_stubs", "botocore_stubs",
)  # fmt: skip


def template_functions() -> dict[str, dict[str, Any]]:
    from cfnlint.decode import cfn_yaml  # CloudFormation's YAML, short tags and all

    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


FUNCTIONS = sorted(template_functions())


@pytest.fixture(scope="module")
def build_dir() -> Path:
    given = os.environ.get("SKIPCALL_BRIDGE_BUILD")
    if given:
        return Path(given)
    subprocess.run(["make", "-s", "package"], cwd=ROOT, check=True)  # noqa: S607
    return ROOT / "build" / "sam"


def files_of(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_every_function_of_the_template_is_built(build_dir: Path) -> None:
    """`sam build` fails on a function without a build rule; this says which were built."""
    assert FUNCTIONS == ["ReceiverFunction", "ReplayFunction", "WorkerFunction"]
    for name in FUNCTIONS:
        assert (build_dir / name / "sources.json").is_file(), name


def test_every_function_has_a_build_rule_in_src_makefile() -> None:
    makefile = (ROOT / "src" / "Makefile").read_text()
    targets = set(re.findall(r"build-([A-Za-z0-9]+)", makefile))
    for name, resource in template_functions().items():
        assert resource["Metadata"]["BuildMethod"] == "makefile", name
        assert name in targets, f"src/Makefile has no build-{name}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_holds_the_handler_the_template_names(build_dir: Path, function: str) -> None:
    handler = template_functions()[function]["Properties"]["Handler"]
    module, _, name = handler.rpartition(".")
    source = build_dir / function / (module.replace(".", "/") + ".py")
    assert source.is_file(), handler
    assert re.search(rf"^def {name}\(|^{name} = ", source.read_text(), re.MULTILINE), handler


@pytest.mark.parametrize("function", FUNCTIONS)
def test_holds_a_valid_sources_file(build_dir: Path, function: str) -> None:
    config = parse_sources((build_dir / function / "sources.json").read_bytes())
    assert config.sources


@pytest.mark.parametrize("function", FUNCTIONS)
def test_holds_bytecode_for_the_lambda_python_only(build_dir: Path, function: str) -> None:
    """Lambda cannot write __pycache__ in /var/task: without compiled modules every cold start
    compiles them all. Every module has its 3.13 bytecode, and there is no other."""
    names = files_of(build_dir / function)
    compiled = [name for name in names if name.endswith(".pyc")]
    assert compiled
    assert all(f".{BYTECODE_TAG}.pyc" in name for name in compiled)
    for source in (name for name in names if name.endswith(".py")):
        folder, _, module = source.rpartition("/")
        cached = f"{folder}/__pycache__/{module[:-3]}.{BYTECODE_TAG}.pyc".lstrip("/")
        assert cached in names, source


@pytest.mark.parametrize("function", FUNCTIONS)
def test_holds_nothing_from_tests_or_dev_tools(build_dir: Path, function: str) -> None:
    offenders = sorted(name for name in files_of(build_dir / function) if name.startswith(DEV_ONLY))
    assert offenders == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_holds_exactly_the_locked_versions_the_sdk_included(build_dir: Path, function: str) -> None:
    """boto3 and botocore ship at the versions the tests ran, not the runtime's bundled ones."""
    names = {name.split("/", 1)[0].lower() for name in os.listdir(build_dir / function)}
    text = (ROOT / "src" / "requirements.txt").read_text()
    locked = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE)
    assert ("boto3", "1.44.8") in locked
    for requirement, version in locked:
        distribution = re.sub(r"[-.]+", "_", requirement).lower()
        assert f"{distribution}-{version}.dist-info" in names, f"{requirement}=={version}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_keeps_botocore_data_of_the_services_called_and_loads_them(
    build_dir: Path, function: str
) -> None:
    """Trimmed to the services the functions call, and xray, whose client the X-Ray SDK makes
    when the template's tracing is on (without it every traced invocation failed); each still
    loads from the artifact's own botocore (pure Python: this interpreter imports it there)."""
    root = build_dir / function
    kept = sorted(path.name for path in (root / "botocore" / "data").iterdir() if path.is_dir())
    services = sorted(SERVICES + TRACING_SERVICES)
    assert kept == services
    script = (
        "import sys, botocore, botocore.session\n"
        "assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__\n"
        "session = botocore.session.get_session()\n"
        "print(sorted(session.get_available_services()))\n"
        "for name in sys.argv[2:]:\n"
        "    session.create_client(name, region_name='eu-west-1',\n"
        "                          aws_access_key_id='x', aws_secret_access_key='x')\n"
    )
    # -S: no site-packages, so only the artifact's own botocore can be imported.
    run = subprocess.run(  # noqa: S603 - this interpreter, on the built artifact
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(root)!r})\n" + script,
         str(root), *services],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(services)


def test_the_zip_is_the_receivers_artifact_and_stays_small(build_dir: Path) -> None:
    path = ROOT / "dist" / "skipcall-bridge-arm64.zip"
    with zipfile.ZipFile(path) as archive:
        zipped = {name for name in archive.namelist() if not name.endswith("/")}
        assert zipped == files_of(build_dir / "ReceiverFunction")
    size = path.stat().st_size
    assert size <= MAX_ZIP_BYTES, f"{size / 1e6:.1f} MB"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_artifact_zips_small(build_dir: Path, function: str) -> None:
    buffer = io.BytesIO()
    root = build_dir / function
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files_of(root):
            archive.write(root / name, name)
    assert buffer.tell() <= MAX_ZIP_BYTES, f"{buffer.tell() / 1e6:.1f} MB"


def test_holds_only_the_runtime_package_its_dependencies_and_the_sources(build_dir: Path) -> None:
    """Built from an allow-list: every top-level entry is the runtime package, the sources file,
    or a distribution of src/requirements.txt (its modules and its .dist-info)."""
    locked = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (ROOT / "src" / "requirements.txt")
                        .read_text(), re.MULTILINE)  # fmt: skip
    normalised = {re.sub(r"[-_.]+", "_", name).lower() for name in locked}
    allowed_files = {"sources.json", "typing_extensions.py", "six.py", "__pycache__"}
    for function in FUNCTIONS:
        offenders = []
        for top in os.listdir(build_dir / function):
            key = re.sub(r"[-_.]+", "_", top.split("-")[0].split(".")[0]).lower()
            if top in ("skipcall_bridge", *allowed_files) or top.endswith(".dist-info"):
                continue
            if key in normalised or key in MODULES_OF:
                continue
            offenders.append(top)
        assert sorted(offenders) == [], function


# Top-level modules whose name differs from their distribution's (_cffi_backend: cffi's
# extension, beside its package).
MODULES_OF = {"aws_xray_sdk", "jwt", "phonenumbers", "yaml", "dateutil", "google", "pydantic_core",
              "annotated_types", "typing_inspection", "defusedxml", "wrapt",
              "_cffi_backend"}  # fmt: skip


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_tracer_the_template_turns_on_loads_from_the_artifact(
    build_dir: Path, function: str
) -> None:
    """`Tracing: Active`: the X-Ray SDK's recorder makes an xray client when it loads. With
    botocore's data trimmed past it, every traced invocation failed before the handler ran
    (found by `make bench`, which runs the artifact traced). Pure Python from the artifact
    (wrapt falls back from its arm64 extension)."""
    root = build_dir / function
    script = (
        f"import os, sys; sys.path.insert(0, {str(root)!r})\n"
        "os.environ['AWS_LAMBDA_FUNCTION_NAME'] = 'ReceiverFunction'\n"
        "from aws_xray_sdk.core import xray_recorder\n"
        "import botocore\n"
        "assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__\n"
        "print('recorder', type(xray_recorder).__name__)\n"
    )
    run = subprocess.run(  # noqa: S603 - this interpreter, on the built artifact
        [sys.executable, "-S", "-c", script, str(root)],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("recorder")
