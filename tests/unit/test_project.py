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
