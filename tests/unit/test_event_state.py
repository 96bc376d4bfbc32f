"""The one key's named states (acting/state.py) and what each actor does about each: the table
the worker, the replay and a sender's repeat read (#28 item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from skipcall_bridge.acting.state import Actor, Found, letter_stored

ANSWER = {"delivery_id": "d1", "reason": None}
UNKNOWN_ERROR = {"code": "TIMEOUT", "message": "Skipcall did not answer in time."}


def kept(reason: str) -> dict[str, Any]:
    return {"reason": reason, "retryable": False, "attempts": 1, "error": UNKNOWN_ERROR}


RECORDS: dict[str, dict[str, Any]] = {
    "created": {**ANSWER, "status": "created", "action": "create"},
    "deferred": {**ANSWER, "status": "deferred"},
    "dead-lettered": {**ANSWER, "status": "dead-lettered", "reason": "SKIPCALL_UNAVAILABLE"},
    "dead-lettered, unknown": {**ANSWER, "status": "dead-lettered", "reason": "OUTCOME_UNKNOWN"},
    "unmapped": {**ANSWER, "status": "unmapped"},
    "finished by a run": {**ANSWER, "status": "deferred", "finished": {"action": None}},
    "a run's kept failure": {**ANSWER, "status": "deferred",
                             "pendingLetter": kept("SKIPCALL_REJECTED")},
    "a run's kept unknown": {**ANSWER, "status": "deferred",
                             "pendingLetter": kept("OUTCOME_UNKNOWN")},
    "the receiver's unknown, letter not stored": {
        **ANSWER, "status": "unfinished", "pending_letter": {"reason": "OUTCOME_UNKNOWN",
                                                            "error": UNKNOWN_ERROR}},
}  # fmt: skip
# (record, actor, retaken) -> decision
TABLE = {
    ("created", "worker", False): "done",
    ("created", "replay", False): "done",
    ("deferred", "worker", False): "take",
    ("deferred", "replay", False): "take",  # a work message SQS redrove to the DLQ
    ("dead-lettered", "worker", False): "dead-lettered",  # its letter is the replay's
    ("dead-lettered", "replay", False): "take",
    ("dead-lettered, unknown", "replay", False): "dead-lettered",  # a second letter: removed
    ("dead-lettered, unknown", "replay", True): "take",  # a person asked
    ("unmapped", "replay", False): "take",
    ("unmapped", "worker", False): "dead-lettered",
    ("finished by a run", "worker", False): "done",
    ("finished by a run", "replay", False): "done",
    ("a run's kept failure", "worker", False): "store-letter",
    ("a run's kept failure", "replay", False): "take",
    ("a run's kept unknown", "worker", False): "store-letter",
    ("a run's kept unknown", "replay", False): "store-letter",
    ("a run's kept unknown", "replay", True): "take",
    ("the receiver's unknown, letter not stored", "worker", False): "store-letter",
    ("the receiver's unknown, letter not stored", "replay", False): "store-letter",
    ("the receiver's unknown, letter not stored", "replay", True): "take",
}


@pytest.mark.parametrize(("record", "actor", "retaken"), sorted(TABLE))
def test_what_each_actor_does_about_each_record(record: str, actor: Actor, retaken: bool) -> None:
    assert Found(RECORDS[record]).decide(actor, retaken=retaken) == TABLE[record, actor, retaken]


def test_an_unmapped_record_is_another_delivery_s_for_a_letter_accepted_whole() -> None:
    assert Found(RECORDS["unmapped"]).decide("replay", retaken=False, unclaimed=True) == "done"


@pytest.mark.parametrize(
    "record", ["a run's kept unknown", "the receiver's unknown, letter not stored"]
)
def test_an_unknown_outcome_stays_unknown_once_its_letter_is_stored(record: str) -> None:
    """Else the next replay would take it and send it again blindly."""
    stored = Found(letter_stored(RECORDS[record]))
    assert stored.state == "unknown"
    assert stored.decide("replay", retaken=False) == "dead-lettered"
    assert stored.decide("worker", retaken=False) == "dead-lettered"
    assert stored.decide("replay", retaken=True) == "take"
    assert "pending_letter" not in stored.record
