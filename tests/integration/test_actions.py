"""Enrol and unenrol through the real handler, moto and the sandbox: a sequence created once by
name (also by two containers at once, and across an outage between create and link), contacts
grouped 100 a call in order, the calls a 100-event HubSpot batch makes, and the replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.cli.main import main
from skipcall_bridge.common.observability import logger
from skipcall_bridge.letters.replay import ReplayFilter
from skipcall_bridge.runtime import current_runtime, replayer_of
from skipcall_bridge.verify.hubspot import HubSpotVerifier
from skipcall_bridge_dev.gateway import to_event
from skipcall_bridge_dev.moto_stack import LINKS_TABLE
from skipcall_bridge_dev.sandbox import SkipcallSandbox, workspace_membership_id
from skipcall_bridge_dev.tcp_proxy import TcpProxy

from .conftest import BEARER_TOKEN, CREATOR, REP, Receiver

ROOT = Path(__file__).resolve().parents[2]
HUBSPOT_SECRET = "hubspot-client-secret"
CREATE = {"creatorId": CREATOR, "assignedToIds": [CREATOR, REP]}
SOURCES = {
    # Zapier, Make or n8n: this sequence (by name), these Skipcall contacts.
    "enrol": {
        "auth": {"scheme": "bearer", "secretId": "it/zapier"},
        "action": "{{ action || 'enrol' }}",
        "target": {"name": "{{ sequence }}"},
        "contactIds": "{{ contactIds }}",
        "assignTo": "{{ assignTo }}",
        "sequence": CREATE,
        "budgetSeconds": 8,
    },
    "by-id": {
        "auth": {"scheme": "bearer", "secretId": "it/zapier"},
        "action": "{{ action }}",
        "target": {"id": "{{ sequenceId }}"},
        "contactIds": "{{ contactIds }}",
    },
    # HubSpot webhooks: a lead status set to OPEN enrols the contact linked to the record.
    "hubspot": {
        "auth": {"scheme": "hubspot", "secretId": "it/hubspot"},
        "events": "[*]",
        "action": "{{ propertyName == 'hs_lead_status' && propertyValue == 'OPEN' && 'enrol' "
                  "|| null }}",
        "target": {"name": "HubSpot open leads"},
        "contactIds": "{{ [linked(to_string(objectId))] }}",
        "assignTo": "owner@example.com",
        "sequence": CREATE,
        # These tests are about grouping and links, not time: HubSpot's own 4 s would turn a
        # busy machine's slowness into BUDGET_EXHAUSTED letters (timings are `make bench`'s).
        "budgetSeconds": 20,
    },
}  # fmt: skip


@pytest.fixture
def actions(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Receiver]:
    receiver.moto.client("secretsmanager").create_secret(
        Name="it/hubspot", SecretString=HUBSPOT_SECRET
    )
    path = tmp_path / "actions.json"
    path.write_text(json.dumps({"sources": SOURCES}))
    monkeypatch.setenv("SOURCES_CONFIG", str(path))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://hooks.example.com")
    current_runtime.cache_clear()
    level = logger.log_level
    yield receiver
    logger.setLevel(level)  # the operator's commands quiet the logs


def seed_contacts(sandbox: SkipcallSandbox, count: int) -> list[str]:
    """Contacts that exist in Skipcall already (created by earlier deliveries)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with sandbox.state.lock:
        sandbox.state.contacts.extend(
            {"id": contact, "firstName": f"C{n}", "lastName": "Test", "phoneNumbers": []}
            for n, contact in enumerate(ids)
        )
    return ids


def link_contacts(receiver: Receiver, source: str, crm_ids: list[int], contacts: list[str]) -> None:
    dynamodb = receiver.moto.client("dynamodb")
    for crm_id, contact in zip(crm_ids, contacts, strict=True):
        dynamodb.put_item(
            TableName=LINKS_TABLE,
            Item={"id": {"S": f"{source}#{crm_id}"}, "contactId": {"S": contact}},
        )


def enrol(receiver: Receiver, name: str, contacts: list[str], **extra: Any) -> Any:
    body = {"sequence": name, "contactIds": contacts, **extra}
    return receiver.bearer(body, source="enrol")


def hubspot_batch(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events, separators=(",", ":")).encode()
    headers = HubSpotVerifier(["v3"], 300).sign(
        body, HUBSPOT_SECRET, time.time(), method="POST",
        url="https://hooks.example.com/webhooks/hubspot",
    )  # fmt: skip
    return body, headers


def lead_status(object_id: int, value: str = "OPEN") -> dict[str, Any]:
    return {
        "eventId": 90_000 + object_id, "subscriptionId": 11, "portalId": 62515, "appId": 54321,
        "occurredAt": 1_795_660_800_000 + object_id, "attemptNumber": 0,
        "subscriptionType": "contact.propertyChange", "objectId": object_id,
        "propertyName": "hs_lead_status", "propertyValue": value, "changeSource": "CRM",
    }  # fmt: skip


def in_sequence(sandbox: SkipcallSandbox, name: str) -> list[str]:
    [sequence] = [s for s in sandbox.sequences if s["name"] == name]
    return sandbox.enrolled(sequence["id"])


def test_a_100_event_hubspot_batch_makes_one_create_and_one_enrol_call(actions: Receiver) -> None:
    contacts = seed_contacts(actions.sandbox, 100)
    link_contacts(actions, "hubspot", list(range(1, 101)), contacts)
    events = [lead_status(n) for n in range(1, 101)]
    events[7] = lead_status(8, "UNQUALIFIED")  # not OPEN: ignored, listed
    answer = actions.post("hubspot", *hubspot_batch(events))
    assert answer.status == 201, answer.body
    assert answer.body["status"] == "enrolled"
    statuses = [event["status"] for event in answer.body["events"]]
    assert statuses.count("enrolled") == 99
    assert statuses[7] == "ignored"
    assert sum(1 for event in answer.body["events"] if event.get("created")) == 1
    calls = dict(actions.sandbox.state.calls)
    assert calls == {
        "POST /v1/sequences": 1,  # created once, by name
        "GET /v1/users": 1,  # assignTo: the owner's organization membership (then cached)
        "GET /v1/workspaces": 1,  # ... and their workspace membership (then cached)
        "GET /v1/workspaces/{id}/members": 1,
        "POST /v1/sequences/{id}/contacts": 1,  # 99 contacts in one call, in order
    }
    expected = [contact for n, contact in enumerate(contacts) if n != 7]
    assert in_sequence(actions.sandbox, "HubSpot open leads") == expected
    [sequence] = actions.sandbox.sequences
    entries = actions.sandbox.state.enrolments[sequence["id"]].values()
    assert {e["assignedToWorkspaceMembershipId"] for e in entries} == {
        workspace_membership_id(CREATOR)
    }
    retry = [{**event, "attemptNumber": 1} for event in events]  # HubSpot's retry, changed body
    again = actions.post("hubspot", *hubspot_batch(retry))
    assert [e.get("duplicate") for e in again.body["events"]] == [True] * 100
    assert dict(actions.sandbox.state.calls) == calls  # nothing sent twice


def test_contacts_beyond_100_go_in_further_calls_in_order(actions: Receiver) -> None:
    contacts = seed_contacts(actions.sandbox, 250)
    answer = enrol(actions, "Big list", contacts)
    assert answer.status == 201, answer.body
    assert actions.sandbox.state.calls["POST /v1/sequences/{id}/contacts"] == 3
    assert in_sequence(actions.sandbox, "Big list") == contacts
    out = enrol(actions, "Big list", contacts[:120], action="unenrol")
    assert out.body["events"][0]["status"] == "unenrolled"
    assert actions.sandbox.state.calls["DELETE /v1/sequences/{id}/contacts"] == 2
    assert in_sequence(actions.sandbox, "Big list") == contacts[120:]


def test_a_name_is_created_once_then_reused(actions: Receiver) -> None:
    first, second = seed_contacts(actions.sandbox, 2)
    one = enrol(actions, "Inbound", [first])
    two = enrol(actions, "Inbound", [second])
    assert one.body["events"][0]["created"] is True
    assert "created" not in two.body["events"][0]
    assert one.body["events"][0]["sequenceId"] == two.body["events"][0]["sequenceId"]
    assert [s["name"] for s in actions.sandbox.sequences] == ["Inbound"]
    current_runtime.cache_clear()  # another container, with a cold cache: the table answers
    three = enrol(actions, "Inbound", [first], action="unenrol")
    assert three.body["events"][0]["sequenceId"] == one.body["events"][0]["sequenceId"]
    assert in_sequence(actions.sandbox, "Inbound") == [second]


def test_an_unenrol_from_a_name_never_created_creates_nothing(actions: Receiver) -> None:
    [contact] = seed_contacts(actions.sandbox, 1)
    answer = enrol(actions, "Never made", [contact], action="unenrol")
    assert answer.status == 201
    assert answer.body["events"][0]["status"] == "unenrolled"
    assert actions.sandbox.sequences == []
    assert dict(actions.sandbox.state.calls) == {}


def test_an_unknown_sequence_id_is_dead_lettered_not_retried(actions: Receiver) -> None:
    [contact] = seed_contacts(actions.sandbox, 1)
    body = {"action": "enrol", "sequenceId": str(uuid.uuid4()), "contactIds": [contact]}
    answer = actions.bearer(body, source="by-id")
    assert answer.status == 202
    [letter] = actions.dead_letters()
    assert letter["reason"] == "SKIPCALL_REJECTED"
    assert letter["error"]["status"] == 404
    assert letter["action"] == "enrol"
    assert letter["target"] == {"id": body["sequenceId"]}
    assert letter["contactIds"] == [contact]


def test_a_create_that_fails_releases_the_name_for_the_next_delivery(actions: Receiver) -> None:
    [contact] = seed_contacts(actions.sandbox, 1)
    actions.sandbox.inject("status", status=400)  # refused: provably nothing was created
    first = enrol(actions, "Retry me", [contact])
    assert first.status == 202
    [letter] = actions.dead_letters()
    assert letter["reason"] == "SKIPCALL_REJECTED"
    assert letter["target"] == {"name": "Retry me"}
    second = enrol(actions, "Retry me", [contact], note="a new delivery")
    assert second.status == 201, second.body
    assert in_sequence(actions.sandbox, "Retry me") == [contact]


def test_a_create_with_no_known_outcome_holds_the_name_for_a_person(
    actions: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """The create timed out after Skipcall took it: no second sequence, ever, without a say."""
    first_contact, second_contact = seed_contacts(actions.sandbox, 2)
    actions.sandbox.inject("slow", seconds=3.5)  # longer than the client's 3 s read timeout
    first = enrol(actions, "Maybe", [first_contact])
    assert first.status == 202
    [letter] = actions.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("OUTCOME_UNKNOWN", False)
    # the slow answer lands: Skipcall did create it
    assert actions.sandbox.wait_until(lambda s: s.in_flight == 0 and len(s.sequences) == 1)
    second = enrol(actions, "Maybe", [second_contact])
    assert second.status == 202
    [pending] = actions.dead_letters()
    assert pending["reason"] == "SEQUENCE_PENDING"
    assert pending["retryable"] is True
    assert "links set" in pending["error"]["message"]
    [created] = actions.sandbox.sequences  # only the one
    assert created["name"] == "Maybe"

    # A person settles it: Skipcall has it, so the name stands for that id; both letters go.
    assert "--source enrol" in pending["error"]["message"]  # names belong to their source
    assert main(["links", "show", "Maybe", "--source", "enrol"]) == 0
    assert "unknown whether Skipcall created it" in capsys.readouterr().out
    assert main(["links", "set", "Maybe", created["id"], "--source", "enrol"]) == 0
    sqs = actions.moto.client("sqs")
    for held in (letter, pending):
        sqs.send_message(QueueUrl=actions.queue_url, MessageBody=held["_raw"])
    summary = replayer_of(current_runtime()).run(ReplayFilter(include_unknown=True))
    assert summary.total("replayed") == 2
    assert len(actions.sandbox.sequences) == 1
    assert in_sequence(actions.sandbox, "Maybe") == [first_contact, second_contact]


def test_a_name_skipcall_never_created_is_forgotten_then_created_once(
    actions: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    [contact] = seed_contacts(actions.sandbox, 1)
    actions.sandbox.inject("slow", seconds=3.5, then_status=504)  # no answer, nothing made
    assert enrol(actions, "Lost", [contact]).status == 202
    [letter] = actions.dead_letters()
    assert letter["reason"] == "OUTCOME_UNKNOWN"
    assert actions.sandbox.sequences == []  # the person looks: Skipcall has none
    assert main(["links", "forget", "Lost", "--source", "enrol"]) == 0
    assert main(["links", "show", "Lost", "--source", "enrol"]) == 1
    capsys.readouterr()
    actions.moto.client("sqs").send_message(QueueUrl=actions.queue_url, MessageBody=letter["_raw"])
    summary = replayer_of(current_runtime()).run(ReplayFilter(include_unknown=True))
    assert summary.total("replayed") == 1
    assert in_sequence(actions.sandbox, "Lost") == [contact]


def test_a_name_given_without_its_source_is_looked_for_in_every_scope(
    actions: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """#30 item 2: names belong to their source; without `--source` the verbs search them all,
    use the one match and name it, list several, and never say "forgotten" of nothing."""
    assert main(["links", "set", "Alone", "seq-1", "--source", "enrol"]) == 0
    assert main(["links", "set", "Alone too", "seq-9", "--source", "hubspot"]) == 0
    assert main(["links", "set", "Twice", "seq-2", "--source", "enrol"]) == 0
    assert main(["links", "set", "Twice", "seq-3", "--shared"]) == 0
    capsys.readouterr()

    assert main(["links", "show", "Alone"]) == 0
    shown = capsys.readouterr()
    assert "sequence seq-1" in shown.out
    assert "--source enrol" in shown.err

    assert main(["links", "show", "Twice"]) == 1
    listed = capsys.readouterr().out
    assert "--source enrol" in listed
    assert "--shared" in listed
    assert main(["links", "forget", "Twice"]) == 1  # which one? nothing is forgotten
    assert main(["links", "show", "Twice", "--shared"]) == 0
    assert main(["links", "show", "Twice", "--source", "enrol"]) == 0

    assert main(["links", "forget", "Alone"]) == 0
    assert "'Alone' forgotten" in capsys.readouterr().out
    assert main(["links", "show", "Alone too", "--source", "hubspot"]) == 0  # not a match
    assert main(["links", "forget", "Alone"]) == 1  # gone already
    assert main(["links", "forget", "Nobody", "--source", "enrol"]) == 1
    assert main(["links", "set", "Nobody", "seq-4"]) == 1  # a new link names its scope
    refused = capsys.readouterr()
    assert "forgotten:" not in refused.out
    assert refused.err.count("no record") == 3


def test_two_containers_racing_on_a_new_name_create_one_sequence(actions: Receiver) -> None:
    a, b = seed_contacts(actions.sandbox, 2)
    actions.sandbox.inject("slow", seconds=2.5)  # the winner's create takes a while
    events = [
        to_event("POST", "/webhooks/enrol",
                 [("Host", "hooks.example.com"), ("Content-Type", "application/json"),
                  ("Authorization", f"Bearer {BEARER_TOKEN}")],
                 json.dumps({"sequence": "Race", "contactIds": [contact]}).encode(),
                 "hooks.example.com")
        for contact in (a, b)
    ]  # fmt: skip
    started = time.perf_counter()
    containers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.container"],
            cwd=ROOT, env=dict(os.environ), text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in events
    ]  # fmt: skip
    results = [
        json.loads(container.communicate(json.dumps(event), timeout=60)[0].splitlines()[-1])
        for container, event in zip(containers, events, strict=True)
    ]
    elapsed = time.perf_counter() - started
    answers = [json.loads(result["body"]) for result in results]
    assert [result["statusCode"] for result in results] == [201, 201], answers
    ids = {answer["events"][0]["sequenceId"] for answer in answers}
    created = [answer["events"][0].get("created", False) for answer in answers]
    assert len(ids) == 1
    assert sorted(created) == [False, True]  # one created it, the other waited and reused it
    assert actions.sandbox.state.calls["POST /v1/sequences"] == 1
    assert sorted(in_sequence(actions.sandbox, "Race")) == sorted([a, b])
    print(f"race: both answered 201 in {elapsed:.2f} s, one sequence {ids.pop()}")


def test_an_outage_between_create_and_link_is_finished_by_the_replay(
    actions: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB goes down while Skipcall creates: the letter keeps the new id; the replay
    links it and enrols, and no second sequence is ever made."""
    host, port = actions.moto.url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    current_runtime.cache_clear()
    try:
        first, second = seed_contacts(actions.sandbox, 2)
        actions.sandbox.inject("slow", seconds=0.5)

        def cut_once_skipcall_creates() -> None:
            while actions.sandbox.state.calls["POST /v1/sequences"] == 0:
                time.sleep(0.01)
            proxy.cut()

        watcher = threading.Thread(target=cut_once_skipcall_creates)
        watcher.start()
        answer = enrol(actions, "Outage", [first])
        watcher.join()
        assert answer.status == 202, answer.body
        [letter] = actions.dead_letters()
        assert letter["reason"] == "LINKS_UNAVAILABLE"
        assert letter["created"] is True
        [sequence] = actions.sandbox.sequences
        assert letter["target"] == {"id": sequence["id"], "name": "Outage"}
        proxy.restore()
        actions.sandbox.state.calls.clear()
        sqs = actions.moto.client("sqs")
        sqs.send_message(QueueUrl=actions.queue_url, MessageBody=letter["_raw"])
        # The scheduled replay comes minutes later: by then the delivery's claim, which the
        # outage kept from being recorded, has lapsed (on the store's clock). The replay
        # claims the delivery's key too, so it waits for that.
        guard = current_runtime().guard
        assert replayer_of(current_runtime()).run(ReplayFilter()).total("busy") == 1
        monkeypatch.setattr(guard, "_wall_clock", lambda: time.time() + 60)
        summary = replayer_of(current_runtime()).run(ReplayFilter())
        assert summary.total("replayed") == 1
        assert dict(actions.sandbox.state.calls) == {"POST /v1/sequences/{id}/contacts": 1}
        assert enrol(actions, "Outage", [second]).status == 201  # the link is there now
        assert len(actions.sandbox.sequences) == 1
        assert in_sequence(actions.sandbox, "Outage") == [first, second]
    finally:
        proxy.close()


def test_an_enrolment_that_fails_is_replayed_as_the_same_action(actions: Receiver) -> None:
    contacts = seed_contacts(actions.sandbox, 3)
    enrol(actions, "Replayed", contacts[:1], assignTo="rep@example.com")  # all known, cached
    actions.sandbox.inject("status", status=503, count=10)  # Skipcall down for this delivery
    answer = enrol(actions, "Replayed", contacts, assignTo="rep@example.com")
    assert answer.status == 202
    [letter] = actions.dead_letters()
    assert (letter["action"], letter["reason"], letter["retryable"]) == (
        "enrol", "SKIPCALL_UNAVAILABLE", True,
    )  # fmt: skip
    assert letter["contactIds"] == contacts
    assert letter["assignee"] == workspace_membership_id(REP)
    actions.sandbox.state.faults.clear()
    sqs = actions.moto.client("sqs")
    sqs.send_message(QueueUrl=actions.queue_url, MessageBody=letter["_raw"])
    summary = replayer_of(current_runtime()).run(ReplayFilter())
    assert summary.total("replayed") == 1
    assert in_sequence(actions.sandbox, "Replayed") == contacts
    assert len(actions.sandbox.sequences) == 1


def test_a_replay_whose_create_fails_releases_the_name_and_a_later_one_creates_it(
    actions: Receiver,
) -> None:
    """Skipcall down at delivery and at the first replay: each run releases its claim (nothing
    was made), so the replay that finds Skipcall back creates the sequence, once."""
    [contact] = seed_contacts(actions.sandbox, 1)
    actions.sandbox.inject("status", status=503, count=50)
    assert enrol(actions, "Later", [contact]).status == 202
    [letter] = actions.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("SKIPCALL_UNAVAILABLE", True)
    sqs = actions.moto.client("sqs")
    sqs.send_message(QueueUrl=actions.queue_url, MessageBody=letter["_raw"])
    replayer = replayer_of(current_runtime())
    assert replayer.run(ReplayFilter()).total("failed") == 1
    actions.sandbox.state.faults.clear()
    assert replayer_of(current_runtime()).run(ReplayFilter()).total("replayed") == 1
    assert in_sequence(actions.sandbox, "Later") == [contact]
    assert len(actions.sandbox.sequences) == 1
