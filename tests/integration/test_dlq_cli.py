"""`skipcall-bridge dlq`: a person reads and deletes dead letters (e.g. to resolve an
OUTCOME_UNKNOWN one) without hiding any from the replay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from skipcall_bridge.cli import main
from skipcall_bridge.observability import logger
from skipcall_bridge.replay import Replayer, ReplayFilter
from skipcall_bridge.runtime import current_runtime

from .conftest import EVENT, Receiver


@pytest.fixture
def letters(receiver: Receiver) -> Iterator[Receiver]:
    level = logger.log_level
    receiver.sandbox.inject("slow", seconds=2.0)  # created, but answered after the budget
    assert receiver.bearer({**EVENT, "name": "maybe"}, source="quick").status == 202
    time.sleep(1.2)
    receiver.sandbox.inject("status", status=503, count=4)
    assert receiver.bearer({**EVENT, "name": "down"}).status == 202
    yield receiver
    logger.setLevel(level)


def test_list_show_delete(letters: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:3] == ["message", "id", "source"]
    rows = {line.split()[2]: line.split()[0] for line in listed[1:]}
    assert set(rows) == {"OUTCOME_UNKNOWN", "SKIPCALL_UNAVAILABLE"}

    assert main(["dlq", "list", "--reason", "OUTCOME_UNKNOWN"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    assert main(["dlq", "show", rows["OUTCOME_UNKNOWN"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["reason"], shown["sequence"]["name"]) == ("OUTCOME_UNKNOWN", "maybe")

    # Reading hid nothing: the replay sees both at once.
    summary = Replayer.from_runtime(current_runtime()).run(ReplayFilter(dry_run=True))
    assert (summary.total("would-replay"), summary.total("not-retryable")) == (1, 1)

    # "maybe" exists in Skipcall: the person deletes its letter.
    assert [s["name"] for s in letters.sandbox.sequences] == ["maybe"]
    assert main(["dlq", "delete", rows["OUTCOME_UNKNOWN"]]) == 0
    assert main(["dlq", "delete", rows["OUTCOME_UNKNOWN"]]) == 1
    capsys.readouterr()
    assert [letter["reason"] for letter in letters.dead_letters()] == ["SKIPCALL_UNAVAILABLE"]
