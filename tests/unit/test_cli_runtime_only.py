"""The operator's verbs work from an install without the development package: the CLI imports
it only to add the development verbs, and says what is missing when `--dev` needs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_DEV = "import sys; sys.modules['skipcall_bridge_dev'] = None; "


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI, no shell
        [sys.executable, "-c", WITHOUT_DEV + code], cwd=ROOT, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip


def test_the_operator_verbs_run_without_the_development_package() -> None:
    checked = run("from skipcall_bridge.cli.main import main; "
                  "sys.exit(main(['check-config', 'sources.example.json']))")  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "31 sources OK" in checked.stdout
    helped = run("from skipcall_bridge.cli.main import main; main(['--help'])")
    for verb in ("check-config", "schema", "replay", "dlq", "members", "links"):
        assert verb in helped.stdout
    assert "preview" not in helped.stdout.split("positional arguments")[-1]


def test_dev_without_the_development_package_says_so() -> None:
    done = run(
        "from skipcall_bridge.cli.main import main; sys.exit(main(['dlq', '--dev', 'list']))"
    )
    assert done.returncode == 2
    assert "needs the development package" in done.stderr
