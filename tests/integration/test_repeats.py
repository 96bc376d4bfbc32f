"""A sender's repeat of an event that did not map, after the sources file was fixed, on moto and
the sandbox over real HTTP: the repeat acts under its letter's replay key (DynamoDB), so the
replay then only deletes the letter, or the repeat gets back what the replay did; an unknown
outcome met by a repeat is never sent again by the replay."""

from __future__ import annotations

import json
import os
from pathlib import Path

from skipcall_bridge.runtime import current_runtime

from .conftest import CREATOR, SOURCES, Receiver, first_answer
from .test_exactly_once import replay

UNMAPPED = {"name": "Call Ada"}  # the first sources file reads the creator from the event


def deploy_fixed_sources() -> None:
    """The admin's fix (the creator and assignee given in the file), deployed: a new container."""
    fixed = json.loads(json.dumps(SOURCES))
    fixed["sources"]["zapier"]["sequence"] = {
        "name": "{{ name }}",
        "creatorId": CREATOR,
        "assignedToIds": [CREATOR],
    }
    Path(os.environ["SOURCES_CONFIG"]).write_text(json.dumps(fixed))
    current_runtime.cache_clear()


def test_a_fixed_mapping_reaches_skipcall_through_the_repeat_once(receiver: Receiver) -> None:
    assert receiver.bearer(UNMAPPED).status == 422
    deploy_fixed_sources()

    repeat = receiver.bearer(UNMAPPED)
    assert repeat.status == 201, repeat.body
    (event,) = repeat.body["events"]
    assert (event["status"], event["duplicate"]) == ("created", True)
    assert [s["name"] for s in receiver.sandbox.sequences] == ["Call Ada"]

    summary = replay()
    assert summary.total("already-created") == 1  # the letter goes; nothing is sent
    assert receiver.dead_letters() == []
    again = receiver.bearer(UNMAPPED)
    assert first_answer(again.body) == first_answer(repeat.body)
    assert receiver.sandbox.state.requests == 1


def test_after_the_replay_did_it_a_repeat_gets_back_what_it_did(receiver: Receiver) -> None:
    assert receiver.bearer(UNMAPPED).status == 422
    deploy_fixed_sources()
    assert replay().total("replayed") == 1
    (sequence,) = receiver.sandbox.sequences

    repeat = receiver.bearer(UNMAPPED)
    assert repeat.status == 201, repeat.body
    (event,) = repeat.body["events"]
    assert (event["sequenceId"], event["duplicate"]) == (sequence["id"], True)
    assert receiver.sandbox.state.requests == 1
    assert receiver.dead_letters() == []


def test_an_unknown_outcome_met_by_a_repeat_is_left_for_a_person(receiver: Receiver) -> None:
    assert receiver.bearer(UNMAPPED).status == 422
    deploy_fixed_sources()
    receiver.sandbox.inject("status", status=500)  # the create's answer says nothing sure

    repeat = receiver.bearer(UNMAPPED)
    assert repeat.status == 202, repeat.body
    (event,) = repeat.body["events"]
    assert (event["status"], event["reason"], event["duplicate"]) == (
        "dead-lettered",
        "OUTCOME_UNKNOWN",
        True,
    )
    sent = receiver.sandbox.state.requests

    # The letter said MAPPING_FAILED; the replay learns from the record what happened since
    # and stores the letter with that reason, without sending it.
    assert replay().total("failed") == 1
    assert replay().total("not-retryable") == 1
    assert receiver.bearer(UNMAPPED).status == 202
    assert receiver.sandbox.state.requests == sent
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("OUTCOME_UNKNOWN", False)
