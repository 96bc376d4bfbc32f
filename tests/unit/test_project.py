"""Project wiring that must not drift: pinned runtime deps, the artifact's requirements."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lambda_requirements_match_the_pinned_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {dep for dep in project["dependencies"] if not dep.startswith("boto3")}
    lines = (ROOT / "src" / "requirements.txt").read_text().splitlines()
    required = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert required == pinned
    assert all("==" in dep for dep in project["dependencies"])


def test_the_template_points_at_the_real_handler() -> None:
    template = (ROOT / "template.yaml").read_text()
    assert "Handler: skipcall_bridge.handler.lambda_handler" in template
    assert "CodeUri: src/" in template
    assert (ROOT / "src" / "skipcall_bridge" / "handler.py").is_file()


def test_the_readme_curl_is_the_one_the_dev_stack_accepts() -> None:
    from skipcall_bridge.local.samples import curl_command, sample_body, sign_sample
    from skipcall_bridge.sources import load_sources

    catalog = load_sources(ROOT / "sources.example.json")
    gateway = "http://127.0.0.1:3000"
    sample = sign_sample(catalog, "zapier", sample_body("zapier"), url=gateway)
    readme = (ROOT / "README.md").read_text()
    assert curl_command(sample) in readme
    assert readme.index("make dev") < readme.index("make test") < readme.index("## ")


def test_the_queue_takes_the_largest_letter_and_the_data_outlives_the_stack() -> None:
    from cfnlint.decode import cfn_yaml

    from skipcall_bridge.envelope import MAX_MESSAGE_BYTES

    resources = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    queue = resources["DeadLetterQueue"]
    assert queue["Properties"]["MaximumMessageSize"] == MAX_MESSAGE_BYTES
    for name in ("DeadLetterQueue", "IdempotencyTable", "ContactLinksTable"):
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
