"""What the README and the deploy docs tell a new user, checked against what the project is
(#30 item 10): every preset named, the diagram's queues, the region on every secret command,
how to read the outputs again, every route, and where your own deploy answers live."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skipcall_bridge.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
INDEX = (ROOT / "docs" / "index.md").read_text()
DEPLOYING = (ROOT / "docs" / "deploying.md").read_text()
LOCAL = (ROOT / "docs" / "local.md").read_text()
PRESETS = list(json.loads((ROOT / "sources.example.json").read_text())["sources"])
# a preset's variants (hubspot-deals, close-enrol…) are their sender's
VARIANT = re.compile(r"-(enrol|deals|workflow|flow)$")
SHOWN = {"automation": "Zapier", "dynamics": "Dynamics 365", "zoho": "Zoho CRM",
         "monday": "monday.com"}  # fmt: skip


@pytest.mark.parametrize("preset", PRESETS)
def test_the_readme_names_the_sender_of_every_preset(preset: str) -> None:
    base = VARIANT.sub("", preset)
    shown = SHOWN.get(base, base)
    senders = README.split("It verifies each event")[0]
    assert shown.lower() in senders.lower(), f"{preset}: the README's sender list lacks it"


def _diagram(page: str) -> str:
    return page.split("```mermaid", 1)[1].split("```", 1)[0]


def test_the_overview_diagram_is_the_readme_s_with_the_work_queue() -> None:
    assert _diagram(INDEX) == _diagram(README)
    assert "work queue" in _diagram(INDEX)


@pytest.mark.parametrize("page", ["README.md", "docs/deploying.md", "docs/senders.md",
                                  "docs/sources.md", "docs/operating.md"])  # fmt: skip
def test_every_secrets_manager_command_names_the_stack_s_region(page: str) -> None:
    text = (ROOT / page).read_text()
    commands = re.findall(r"aws secretsmanager [^`\n]*", text)
    for command in commands:
        assert "--region" in command, f"{page}: {command}"


def test_the_deploy_docs_say_how_to_read_the_outputs_again_and_check_before_going_live() -> None:
    assert "sam list stack-outputs --stack-name skipcall-bridge --region" in DEPLOYING
    assert "skipcall-bridge check-deploy --stack skipcall-bridge" in DEPLOYING
    assert "check-deploy --stack" in README


def test_what_the_template_creates_names_every_route() -> None:
    template = (ROOT / "template.yaml").read_text()
    routes = re.findall(r"Method: (\w+)\s+Path: (\S+)", template)
    created = DEPLOYING.split("What the template creates:")[1].split("\n\n")[0]
    assert routes
    for method, path in routes:
        assert f"`{method} {path}`" in created, f"{method} {path} is not named"


def test_the_sources_option_is_described_as_the_operator_commands_take_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "Every command takes `--sources" not in LOCAL
    assert "take it only with `--dev` or `--stack NAME`" in LOCAL.replace("\n", " ")
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    assert "with --dev or --stack" in " ".join(capsys.readouterr().out.split())


def test_your_own_deploy_answers_stay_out_of_the_committed_samconfig() -> None:
    assert "samconfig.local.toml" in (ROOT / ".gitignore").read_text().split()
    assert "samconfig.local.toml" in DEPLOYING
    makefile = (ROOT / "Makefile").read_text()
    assert "--config-file $(SAMCONFIG)" in makefile
