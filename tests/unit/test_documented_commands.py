"""Every `skipcall-bridge …` command the README and docs/ write is one the CLI accepts (#23
item 2: `dlq list --dev`, written in docs/local.md, was refused). Synopses are read with every
optional part given (`[--dev]` -> `--dev`) and each placeholder replaced by a value of its kind."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from skipcall_bridge.cli.main import _parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAM = re.compile(r"^(?:\.venv/bin/)?skipcall-bridge\s+")
# a placeholder's value, by the option before it (else a plain word: a name, a file, an id)
VALUES = {"--reason": "RATE_LIMITED", "--max": "5", "--gateway-port": "3001",
          "--sandbox-port": "4011", "--moto-port": "5001"}  # fmt: skip


def documented_commands() -> list[tuple[str, str]]:
    """(file, command) for each code span or code line that runs skipcall-bridge."""
    found = []
    for path in DOCS:
        text = path.read_text()
        spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
        lines = [line for block in blocks for line in block.splitlines()]
        for candidate in [" ".join(span.split()) for span in spans] + lines:
            command = candidate.split("#", 1)[0].strip()
            if PROGRAM.match(command) and not command.startswith("skipcall-bridge/"):
                found.append((path.name, command))
    return found


def arguments(command: str) -> list[str]:
    synopsis = command.replace("…", "").replace("[", " ").replace("]", " ")
    words = shlex.split(PROGRAM.sub("", synopsis))
    given = []
    for index, word in enumerate(words):
        placeholder = re.fullmatch(r"[A-Z][A-Z0-9_]*", word) and word not in VALUES.values()
        previous = words[index - 1] if index else ""
        given.append(VALUES.get(previous, "x") if placeholder else word)
    return given


COMMANDS = documented_commands()


def test_the_docs_write_the_commands_this_test_reads() -> None:
    written = {command for _, command in COMMANDS}
    assert len(written) >= 15
    assert any("dlq list --dev" in command for command in written)


@pytest.mark.parametrize(("where", "command"), COMMANDS)
def test_each_documented_command_parses(where: str, command: str) -> None:
    try:
        _parser().parse_args(arguments(command))
    except SystemExit as exc:
        pytest.fail(f"{where}: `{command}` is refused by the CLI (exit {exc.code})")


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "--dev", "list"], ["dlq", "list", "--dev"], ["dlq", "show", "ID", "--dev"],
        ["links", "show", "NAME", "--dev", "--sources", "my.json"],
    ],
)  # fmt: skip
def test_dev_and_sources_are_read_before_or_after_the_verb(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert args.dev is True
    expected = Path("my.json") if "my.json" in argv else args.sources
    assert args.sources == expected
