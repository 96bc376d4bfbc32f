"""Project wiring that must not drift: pins, locks, the template and the README."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKS = {
    "runtime": (ROOT / "src" / "requirements.txt", PROJECT["dependencies"]),
    "dev": (
        ROOT / "requirements" / "dev.txt",
        PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"],
    ),
}


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes), as pip-compile wrote them."""
    entries: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        match = re.match(r"([A-Za-z0-9_.-]+)==([^ \\\n]+)", block)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            entries[name] = (match.group(2), block.count("--hash=sha256:"))
    return entries


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        found[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return found


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_is_not_stale_against_pyproject(lock: str) -> None:
    """Every pin of pyproject.toml is in the lock at the same version, with hashes: a changed
    pin without `make lock` fails here."""
    path, requirements = LOCKS[lock]
    entries = locked(path)
    assert all("==" in requirement for requirement in requirements)
    for name, version in pins(requirements).items():
        assert name in entries, f"{name} is pinned in pyproject.toml but not in {path.name}"
        assert entries[name][0] == version, f"{name}: {entries[name][0]} locked, {version} pinned"
    assert all(hashes for _, hashes in entries.values()), f"{path.name}: an entry has no hash"


def test_every_direct_import_of_the_runtime_is_declared() -> None:
    """What src/ imports from outside the standard library is a declared dependency."""
    modules = {
        "aws_lambda_powertools": "aws-lambda-powertools", "boto3": "boto3",
        "botocore": "boto3", "cryptography": "cryptography", "defusedxml": "defusedxml",
        "jmespath": "jmespath",
        "phonenumbers": "phonenumberslite", "pydantic": "pydantic",
        # pydantic pins its own core exactly; custom types use its public schema API.
        "pydantic_core": "pydantic", "urllib3": "urllib3",
        "jwt": "pyjwt",
        "moto": "moto", "mypy_boto3_sqs": "mypy-boto3-sqs", "mypy_boto3_dynamodb":
        "mypy-boto3-dynamodb", "mypy_boto3_secretsmanager": "mypy-boto3-secretsmanager",
        # Lambda's Python runtimes provide it; declared for development only, never zipped.
        "snapshot_restore_py": "snapshot-restore-py",
    }  # fmt: skip
    declared = set(pins(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]))
    for path in (ROOT / "src" / "skipcall_bridge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in (
                    "skipcall_bridge",
                    "skipcall_bridge_dev",
                ):
                    continue
                assert top in modules, f"{path.name} imports {top}: declare it and map it here"
                assert modules[top] in declared, f"{modules[top]} is not declared"


def test_the_template_points_at_the_real_handler() -> None:
    template = (ROOT / "template.yaml").read_text()
    assert "Handler: skipcall_bridge.handler.lambda_handler" in template
    assert "CodeUri: src/" in template
    assert (ROOT / "src" / "skipcall_bridge" / "handler.py").is_file()


def test_the_readme_curl_is_the_one_the_dev_stack_accepts() -> None:
    from skipcall_bridge.sources.catalog import load_sources
    from skipcall_bridge_dev.samples import curl_command, sample_body, sign_sample

    catalog = load_sources(ROOT / "sources.example.json")
    gateway = "http://127.0.0.1:3000"
    sample = sign_sample(catalog, "zapier", sample_body("zapier"), url=gateway)
    readme = (ROOT / "README.md").read_text()
    # `make dev` prints this command with the token it drew; the README names it $TOKEN
    token = sample.headers["Authorization"].removeprefix("Bearer ")
    written = curl_command(sample).replace(
        f"-H 'Authorization: Bearer {token}'", '-H "Authorization: Bearer $TOKEN"'
    )
    assert written != curl_command(sample)
    assert written in readme
    assert readme.index("make dev") < readme.index("make test") < readme.index("## ")


def test_the_queue_takes_the_largest_letter_and_the_data_outlives_the_stack() -> None:
    from cfnlint.decode import cfn_yaml

    from skipcall_bridge.common.envelope import MAX_MESSAGE_BYTES

    resources = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    queue = resources["DeadLetterQueue"]
    assert queue["Properties"]["MaximumMessageSize"] == MAX_MESSAGE_BYTES
    for name in ("DeadLetterQueue", "IdempotencyTable", "ContactLinksTable"):
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name


def test_only_the_stack_s_functions_and_named_operators_may_send_letters() -> None:
    """Security review #28, finding 5: a letter names a source and acts in its scope, so the
    queues refuse SendMessage to every principal but the functions that write letters there
    (and the `OperatorPrincipalArns` a deployer names, for a workstation's `replay`)."""
    from cfnlint.decode import cfn_yaml

    resources = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    senders = {
        "WorkQueuePolicy": ["ReceiverFunctionRole", "WorkerFunctionRole"],
        "DeadLetterQueuePolicy": [
            "ReceiverFunctionRole", "WorkerFunctionRole", "ReplayFunctionRole",
        ],
    }  # fmt: skip
    for policy, roles in senders.items():
        statements = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        (deny,) = [s for s in statements if s.get("Sid") == "OnlyTheStackSendsLetters"]
        assert (deny["Effect"], deny["Principal"], deny["Action"]) == (
            "Deny", "*", "sqs:SendMessage",
        )  # fmt: skip
        condition, *branches = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::If"]
        assert condition == "HasOperators"
        with_operators, functions_only = (b["Fn::Split"][1]["Fn::Sub"] for b in branches)
        expected = ",".join(f"${{{role}.Arn}}" for role in roles)
        assert functions_only == expected, policy
        assert with_operators == f"{expected},${{OperatorPrincipalArns}}", policy


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_packaging_never_creates_the_deployed_sources_file() -> None:
    """#23 item 9: `make test` packages; had it created src/sources.json from the example,
    `make dev` and `make replay` would load that copy from then on. `make -n` prints the
    commands without running them."""
    make = shutil.which("make")
    assert make is not None
    dry = subprocess.run(  # noqa: S603 - make, from PATH, on this repository's Makefile
        [make, "-n", "--no-print-directory", "package"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "cp sources.example.json src/sources.json" not in dry.stdout
    assert "SOURCES_FILE=" in dry.stdout
    deployed = ROOT / "src/sources.json"
    packaged = "src/sources.json" if deployed.exists() else "sources.example.json"
    assert f"building with {packaged} as each function's sources.json" in dry.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_no_silent_skips_under_ci() -> None:
    """#27 item 9: without Python 3.13, CI fails the 3.13 leg instead of printing 'skipped', and
    a function's build fails instead of shipping without bytecode, unless asked by name. Both
    stop before anything is installed."""
    make = shutil.which("make")
    assert make is not None
    leg = subprocess.run(  # noqa: S603 - make, from PATH, on this repository's Makefile
        [make, "--no-print-directory", "py313", "PY313=", "CI=true"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert leg.returncode != 0
    assert "CI=true: failing" in leg.stdout
    build = subprocess.run(  # noqa: S603
        [make, "--no-print-directory", "-C", "src", "build-WorkerFunction", "PYTHON313=",
         "ARTIFACTS_DIR=/nonexistent/never-written"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode != 0
    assert "ALLOW_NO_BYTECODE=1" in build.stderr


def test_the_build_checks_the_sources_with_its_own_interpreter_only_at_the_locked_versions(
    tmp_path: Path,
) -> None:
    """src/Makefile skips installing the lock to check the sources file when the building
    interpreter has every pinned version; one version off, and it installs (exit 3)."""
    from importlib import metadata

    sources = tmp_path / "sources.json"
    sources.write_text('{"sources": {}}')
    here = tmp_path / "here.txt"
    here.write_text(f"pydantic=={metadata.version('pydantic')} \\\n    --hash=sha256:00\n")
    other = tmp_path / "other.txt"
    other.write_text("pydantic==0.0.1 \\\n    --hash=sha256:00\n")

    def check(lock: Path) -> int:
        return subprocess.run(  # noqa: S603 - the project's own build step
            [sys.executable, "check_sources.py", "--lock", str(lock), str(sources)],
            cwd=ROOT / "src", capture_output=True, check=False,
        ).returncode  # fmt: skip

    assert check(here) == 0
    assert check(other) == 3
