"""member() and contact() through the real handler, against the sandbox's /v1/users and
/v1/contacts and moto's link table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skipcall_bridge.letters.replay import ReplayFilter
from skipcall_bridge.runtime import current_runtime, replayer_of
from skipcall_bridge_dev.moto_stack import LINKS_TABLE

from .conftest import BEARER_TOKEN, CREATOR, MEMBERS, Receiver

NO_PHONE = "no phone number: `contact.phone`/`contact.phones` read nothing from this record"

SOURCE = {
    "auth": {"scheme": "bearer", "secretId": "it/zapier"},
    "defaultRegion": "FR",
    "contact": {"id": "id", "name": "name", "phone": "phone"},
    "sequence": {
        "name": "{{ title }}",
        "creatorId": "{{ member(ownerEmail) }}",
        "assignedToIds": "{{ member(ownerEmail) }}",
        "contactIds": "{{ map(&contact(@), people || `[]`) }}",
    },
}


@pytest.fixture
def crm(receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    path = tmp_path / "crm.json"
    path.write_text(json.dumps({"sources": {"crm": SOURCE}}))
    monkeypatch.setenv("SOURCES_CONFIG", str(path))
    current_runtime.cache_clear()
    return receiver


def deliver(receiver: Receiver, title: str, owner: str = "owner@example.com", people=None):  # type: ignore[no-untyped-def]
    body = {"title": title, "ownerEmail": owner, "people": people or []}
    return receiver.post("crm", body, {"Authorization": f"Bearer {BEARER_TOKEN}"})


ADA = {"id": "crm-1", "name": "Ada Lovelace", "phone": "06 12 34 56 78"}


def test_owner_and_contact_become_skipcall_ids(crm: Receiver) -> None:
    answer = deliver(crm, "first", people=[ADA, {"id": "crm-2", "name": "No Phone"}])
    assert answer.status == 201, answer.body
    (sequence,) = crm.sandbox.sequences
    (contact,) = crm.sandbox.state.contacts
    assert sequence["request"]["creatorId"] == CREATOR
    assert sequence["request"]["contactIds"] == [contact["id"]]
    assert contact["phoneNumbers"] == ["+33612345678"]
    assert answer.body["events"][0]["skippedContacts"] == [{"id": "crm-2", "reason": NO_PHONE}]
    link = crm.moto.client("dynamodb").get_item(
        TableName=LINKS_TABLE, Key={"id": {"S": "crm#crm-1"}}
    )
    assert link["Item"]["contactId"]["S"] == contact["id"]


def test_a_burst_does_not_multiply_directory_or_contact_calls(crm: Receiver) -> None:
    for index in range(20):
        assert deliver(crm, f"burst {index}", people=[ADA]).status == 201
    calls = crm.sandbox.state.calls
    assert calls["GET /v1/users"] == 1
    assert calls["POST /v1/contacts"] == 1
    assert calls["POST /v1/sequences"] == 20


def test_an_unknown_member_is_422_naming_the_email(crm: Receiver) -> None:
    answer = deliver(crm, "ghost", owner="ghost@example.com")
    assert answer.status == 422
    messages = {d["field"]: d["message"] for d in answer.body["error"]["details"]}
    assert "ghost@example.com" in messages["creatorId"]
    assert crm.sandbox.sequences == []


def test_users_are_read_across_pages(crm: Receiver) -> None:
    crm.sandbox.state.members = {f"m-{i:03d}": f"user{i:03d}@example.com" for i in range(250)}
    crm.sandbox.state.members.update(MEMBERS)
    answer = deliver(crm, "paged", owner="user249@example.com")
    assert answer.status == 201, answer.body
    assert crm.sandbox.sequences[0]["request"]["creatorId"] == "m-249"
    assert crm.sandbox.state.calls["GET /v1/users"] == 3  # pages of 100


def test_a_directory_outage_waits_in_the_dlq_and_the_replay_maps_it_again(crm: Receiver) -> None:
    crm.sandbox.inject("status", status=503, count=4)  # every attempt at GET /v1/users
    answer = deliver(crm, "later", people=[ADA])
    assert answer.status == 202
    (letter,) = crm.dead_letters()
    assert (letter["reason"], letter["retryable"], letter["sequence"]) == (
        "SKIPCALL_UNAVAILABLE", True, None,
    )  # fmt: skip
    crm.moto.client("sqs").send_message(QueueUrl=crm.queue_url, MessageBody=letter["_raw"])
    runtime = current_runtime()
    summary = replayer_of(runtime).run(ReplayFilter())
    assert summary.total("replayed") == 1
    (sequence,) = crm.sandbox.sequences
    assert sequence["request"]["creatorId"] == CREATOR
    assert len(sequence["request"]["contactIds"]) == 1


def test_directory_and_contact_calls_share_the_rate_limit(crm: Receiver) -> None:
    crm.sandbox.state.rate_limit, crm.sandbox.state.window_seconds = 3, 60.0
    assert deliver(crm, "fits", people=[ADA]).status == 201  # users + contact + sequence = 3
    answer = deliver(crm, "over", people=[ADA])
    assert answer.status == 202
    assert answer.body["deadLettered"][0]["reason"] == "RATE_LIMITED"
    assert crm.sandbox.state.throttled == 0  # the last answer said 0 left: nothing was sent
