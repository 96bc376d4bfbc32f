"""The operator's CLI against the receiver's real AWS and Skipcall: `dlq` reads and deletes dead
letters (e.g. to resolve an OUTCOME_UNKNOWN one) without hiding any from the replay; `members`
lists the Skipcall users and prints a ready `members` map."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from skipcall_bridge.cli.main import main
from skipcall_bridge.common.observability import logger
from skipcall_bridge.letters.replay import ReplayFilter
from skipcall_bridge.runtime import current_runtime, replayer_of

from .conftest import EVENT, MEMBERS, Receiver


@pytest.fixture
def letters(receiver: Receiver) -> Iterator[Receiver]:
    level = logger.log_level
    receiver.sandbox.inject("slow", seconds=2.0)  # created, but answered after the budget
    assert receiver.bearer({**EVENT, "name": "maybe"}, source="quick").status == 202
    # the slow answer has landed: the sandbox created it after the receiver gave up
    assert receiver.sandbox.wait_until(lambda s: s.in_flight == 0 and len(s.sequences) == 1)
    receiver.sandbox.inject("status", status=503, count=4)
    assert receiver.bearer({**EVENT, "name": "down"}).status == 202
    yield receiver
    logger.setLevel(level)


def test_list_show_delete(letters: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "list"]) == 0
    printed = capsys.readouterr()
    listed = printed.out.splitlines()
    assert printed.err.startswith("\n2 of 2 dead letters shown")  # #30 item 11: apart
    assert listed[0].split()[:3] == ["message", "id", "source"]
    rows = {line.split()[2]: line.split()[0] for line in listed[1:]}
    assert set(rows) == {"OUTCOME_UNKNOWN", "SKIPCALL_UNAVAILABLE"}

    assert main(["dlq", "list", "--reason", "OUTCOME_UNKNOWN"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    assert main(["dlq", "show", rows["OUTCOME_UNKNOWN"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["reason"], shown["sequence"]["name"]) == ("OUTCOME_UNKNOWN", "maybe")

    # Reading hid nothing: the replay sees both at once.
    summary = replayer_of(current_runtime()).run(ReplayFilter(dry_run=True))
    assert (summary.total("would-replay"), summary.total("not-retryable")) == (1, 1)
    # the one held back says why in words, and that asking would send it (#30 item 13)
    [(source, _, why, anyway)] = summary.held_back
    assert (source, anyway) == ("quick", True)
    assert why.startswith("Skipcall may have created it already")

    # "maybe" exists in Skipcall: the person deletes its letter.
    assert [s["name"] for s in letters.sandbox.sequences] == ["maybe"]
    assert main(["dlq", "delete", rows["OUTCOME_UNKNOWN"]]) == 0
    assert main(["dlq", "delete", rows["OUTCOME_UNKNOWN"]]) == 1
    capsys.readouterr()
    assert [letter["reason"] for letter in letters.dead_letters()] == ["SKIPCALL_UNAVAILABLE"]


def test_members_lists_the_users_and_prints_a_members_map(
    receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    level = logger.log_level
    try:
        assert main(["members"]) == 0
    finally:
        logger.setLevel(level)
    out = capsys.readouterr().out
    table, _, mapping = out.partition("\nFor a source")
    for member, email in MEMBERS.items():
        assert any(line.startswith(email) and line.endswith(member) for line in table.splitlines())
    assert json.loads(mapping[mapping.index("{") :]) == {
        "members": {email: member for member, email in MEMBERS.items()}
    }


def test_members_says_why_when_skipcall_refuses(
    receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.sandbox.state.api_keys = set()
    level = logger.log_level
    try:
        assert main(["members"]) == 1
    finally:
        logger.setLevel(level)
    assert "did not list its users" in capsys.readouterr().err


def test_preview_reads_a_dead_letter_from_the_local_dlq(
    letters: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from skipcall_bridge_dev import stack

    # --dev reads the local stack's environment: here, the test's own moto and sandbox.
    monkeypatch.setattr(stack, "dev_stack_environment", lambda _sources: dict(os.environ))
    assert main(["dlq", "list", "--reason", "SKIPCALL_UNAVAILABLE"]) == 0
    message_id = capsys.readouterr().out.splitlines()[1].split()[0]
    sources = os.environ["SOURCES_CONFIG"]
    assert main(["preview", "zapier", message_id, "--letter", "--dev", "--sources", sources]) == 0
    assert '"name": "down"' in capsys.readouterr().out


def test_a_dry_run_maps_each_letter_again_and_says_which_would_fail_and_why(
    receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """#30 item 6: "would-replay 2" where one letter would fail again. Two letters failed to
    map; one's payload has since been mended (as a sources fix would), the other's has not."""
    assert receiver.bearer({**EVENT, "name": None}).status == 422
    assert receiver.bearer({**EVENT, "name": None, "n": 2}).status == 422
    still_broken, mended = receiver.dead_letters()
    capsys.readouterr()  # the receiver's own logs
    sqs = receiver.moto.client("sqs")
    sqs.send_message(QueueUrl=receiver.queue_url, MessageBody=still_broken["_raw"])
    fixed = json.loads(mended["_raw"])
    fixed["payload"]["name"] = "Call Ada again"
    sqs.send_message(QueueUrl=receiver.queue_url, MessageBody=json.dumps(fixed))
    level = logger.log_level
    try:
        assert main(["replay", "--dry-run"]) == 0
    finally:
        logger.setLevel(level)
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    counts = dict(zip(header.split()[1:], row.split()[1:], strict=True))
    assert counts == {"would-replay": "1", "would-fail": "1"}
    assert f"zapier {still_broken['deliveryId']}: name: " in out.split("would fail again")[1]
    assert receiver.sandbox.sequences == []  # a dry run sends nothing
    assert len(receiver.dead_letters()) == 2  # and leaves every letter in place
