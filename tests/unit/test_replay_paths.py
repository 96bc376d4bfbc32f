"""The letter runs (the replay's and the worker's) on paths no batch reaches by itself: an
unenrolment replayed, a record that conflicts or is held by another run, and the table failing
after Skipcall acted."""

from __future__ import annotations

import json
from typing import Any

from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.acting.naming import SequenceNamer
from skipcall_bridge.common.errors import InProgress, Unavailable
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.letters.replay import Replayer
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources

from .fakes import MemoryIdempotency, unavailable
from .test_actions import SOURCES, Crm


class ReplayTable(MemoryIdempotency):
    """The table as the replay meets it, once the flags are set: the event's key held by
    another run, or failing when the outcome is written."""

    held_elsewhere: bool = False
    fails_on_complete: bool = False

    def claim(self, key: dict[str, Any]) -> dict[str, Any] | None:
        if self.held_elsewhere:
            raise InProgress
        return super().claim(key)

    def take(self, key: dict[str, Any], found: dict[str, Any]) -> dict[str, Any] | None:
        if self.held_elsewhere:
            raise InProgress
        return super().take(key, found)

    def complete(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        if self.fails_on_complete:
            raise Unavailable("table down")
        super().complete(key, outcome)


def unenrol_letter(world: Crm) -> Any:
    """Contact c1 enrolled in A, then an unenrolment that Skipcall failed: its letter."""
    world.send([{"id": "e1", "action": "enrol", "sequence": "A", "contacts": ["c1", "c2"]}])

    def down(action: str, sequence: str, contacts: list[str]) -> CallFailed | None:
        return unavailable() if action == "unenrol" else None

    world.skipcall.membership_fault = down
    report = world.send([{"id": "e2", "action": "unenrol", "sequence": "A", "contacts": ["c1"]}])
    assert [outcome.status for outcome in report.events] == ["dead-lettered"]
    (letter,) = world.queue.letters
    world.skipcall.membership_fault = lambda a, s, c: None
    return letter


def replayer(world: Crm) -> Replayer:
    catalog = SourceCatalog.from_config(parse_sources(json.dumps(SOURCES)))  # the receiver's
    return Replayer(catalog, world.queue, world.skipcall, world.guard,
                    namer=SequenceNamer(MemoryLinks()), sleep=lambda s: None)  # fmt: skip


def test_an_unenrolment_is_replayed_as_a_removal_from_its_sequence() -> None:
    world = Crm()
    letter = unenrol_letter(world)
    (sequence_id,) = world.skipcall.members
    assert world.skipcall.members[sequence_id] == ["c1", "c2"]
    finished = replayer(world).finish(letter)
    assert finished.outcome == "replayed"
    assert world.skipcall.membership_calls[-1] == ("unenrol", sequence_id, ["c1"])
    assert world.skipcall.members[sequence_id] == ["c2"]
    again = replayer(world).finish(letter)  # the same letter once more: done before
    assert again.outcome == "already-created"
    assert len(world.skipcall.membership_calls) == 3  # enrol, failed unenrol, replayed unenrol


def test_a_replay_held_by_another_run_waits_and_calls_nothing() -> None:
    world = Crm(guard=ReplayTable())
    letter = unenrol_letter(world)
    calls = len(world.skipcall.membership_calls)
    assert isinstance(world.guard, ReplayTable)
    world.guard.held_elsewhere = True
    assert replayer(world).finish(letter).outcome == "busy"
    assert len(world.skipcall.membership_calls) == calls


def test_a_replay_whose_id_was_replayed_with_other_content_is_a_conflict_for_a_person() -> None:
    world = Crm()
    letter = unenrol_letter(world)
    calls = len(world.skipcall.membership_calls)
    ident = ("crm", letter.delivery_id, "receive")  # the event's one key
    world.guard.records[ident] = ('"another payload"', {"action": "unenrol"})
    finished = replayer(world).finish(letter)
    assert finished.outcome == "failed"
    assert finished.failure is not None
    assert (finished.failure.reason, finished.failure.retryable) == (
        Reason.SKIPCALL_REJECTED,
        False,
    )
    assert finished.failure.error.code == "DELIVERY_CONFLICT"
    assert len(world.skipcall.membership_calls) == calls


def test_the_table_failing_after_skipcall_acted_still_ends_the_letter_as_done() -> None:
    """Done is done: the letter leaves (keeping it would act again); the claim stays held until
    the invocation's time lapses it, so a second run meanwhile waits rather than acting."""
    world = Crm(guard=ReplayTable())
    letter = unenrol_letter(world)
    assert isinstance(world.guard, ReplayTable)
    world.guard.fails_on_complete = True
    assert replayer(world).finish(letter).outcome == "replayed"
    calls = len(world.skipcall.membership_calls)
    assert replayer(world).finish(letter).outcome == "busy"
    assert len(world.skipcall.membership_calls) == calls
