"""Sender-specific behaviour through the real handler: batches, Salesforce acks, delivery ids."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.runtime import current_runtime
from skipcall_bridge.verify.hubspot import HubSpotVerifier
from skipcall_bridge.verify.salesforce import SalesforceVerifier
from skipcall_bridge_dev.gateway import LocalContext, to_event
from skipcall_bridge_dev.sample_bodies import salesforce_outbound_message

from .conftest import CREATOR, SEQUENCE, Receiver

ORG = "00D5e000000AbCdEAA"
HUBSPOT_SECRET = "hubspot-client-secret"
SF_TOKEN = "sf-token-31d-0123456789"
SOURCES = {
    "hubspot": {
        "auth": {"scheme": "hubspot", "secretId": "it/hubspot"},
        "events": "[*]",
        "concurrency": 1,  # one call at a time: an injected fault meets the first event's call
        "sequence": {**SEQUENCE, "name": "HubSpot {{ objectId }}",
                     "creatorId": "{{ creatorId || '" + CREATOR + "' }}",
                     "assignedToIds": [CREATOR]},
    },
    "salesforce": {
        "auth": {"scheme": "salesforce", "secretId": "it/salesforce", "organizationIds": [ORG]},
        "sequence": {**SEQUENCE, "name": "Call {{ sObject.LastName }}",
                     "creatorId": "{{ sObject.SkipcallOwner__c }}", "assignedToIds": [CREATOR]},
    },
}  # fmt: skip


@pytest.fixture
def senders(receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    secrets = receiver.moto.client("secretsmanager")
    secrets.create_secret(Name="it/hubspot", SecretString=HUBSPOT_SECRET)
    secrets.create_secret(Name="it/salesforce", SecretString=SF_TOKEN)
    path = tmp_path / "senders.json"
    path.write_text(json.dumps({"sources": SOURCES}))
    monkeypatch.setenv("SOURCES_CONFIG", str(path))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://hooks.example.com")
    current_runtime.cache_clear()  # `receiver` clears it again afterwards
    return receiver


def hubspot_post(receiver: Receiver, events: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    body = json.dumps(events).encode()
    url = "https://hooks.example.com/webhooks/hubspot"
    headers = HubSpotVerifier(["v3"], 300).sign(
        body, HUBSPOT_SECRET, time.time(), method="POST", url=url
    )
    return receiver.post("hubspot", body, headers)


def salesforce_post(body: bytes) -> dict[str, Any]:
    """Raw handler result: the Salesforce answer is XML, not the JSON `Receiver` decodes."""
    from skipcall_bridge.handler import lambda_handler

    url = SalesforceVerifier([ORG], "token").signed_url("/webhooks/salesforce", SF_TOKEN)
    event = to_event("POST", url, [("Content-Type", "text/xml")], body, "hooks.example.com")
    return lambda_handler(event, LocalContext(25, "ReceiverFunction"))


def test_a_hubspot_batch_reports_each_events_outcome(senders: Receiver) -> None:
    events = [
        {"eventId": 101, "objectId": 1},
        {"eventId": 102, "objectId": 2, "creatorId": 7001},  # a CRM owner id: does not map
        {"eventId": 103, "objectId": 3},
    ]
    senders.sandbox.inject("status", status=400, count=1)  # Skipcall refuses the first call
    answer = hubspot_post(senders, events)
    assert answer.status == 202
    assert answer.body["status"] == "partial"
    assert [s["name"] for s in answer.body["sequences"]] == ["HubSpot 3"]
    assert sorted((d["deliveryId"], d["reason"]) for d in answer.body["deadLettered"]) == [
        ("101", "SKIPCALL_REJECTED"),
        ("102", "MAPPING_FAILED"),
    ]
    (created,) = senders.sandbox.sequences
    assert answer.body["events"] == [  # every event's outcome, in the delivery's order
        {
            "deliveryId": "101",
            "action": "create",
            "status": "dead-lettered",
            "reason": "SKIPCALL_REJECTED",
        },
        {"deliveryId": "102", "status": "unmapped", "reason": "MAPPING_FAILED"},
        {"deliveryId": "103", "action": "create", "status": "created", "sequenceId": created["id"]},
    ]
    letters = {letter["deliveryId"]: letter for letter in senders.dead_letters()}
    assert letters["102"]["payload"] == events[1]  # each letter holds its own event only
    assert letters["101"]["sequence"]["name"] == "HubSpot 1"


def test_a_hubspot_batch_where_nothing_maps_is_202_not_a_4xx_hubspot_would_retry(
    senders: Receiver,
) -> None:
    answer = hubspot_post(senders, [{"eventId": 1, "creatorId": 1}, {"eventId": 2, "creatorId": 2}])
    assert answer.status == 202
    assert answer.body["status"] == "dead-lettered"
    assert [e["status"] for e in answer.body["events"]] == ["unmapped", "unmapped"]
    assert len(senders.dead_letters()) == 2


def test_salesforce_is_acked_once_everything_is_created_or_stored(senders: Receiver) -> None:
    body = salesforce_outbound_message(
        [
            {
                "Id": "04l01",
                "type": "Contact",
                "fields": {"LastName": "Hopper", "SkipcallOwner__c": CREATOR},
            },
            {"Id": "04l02", "type": "Contact", "fields": {"LastName": "NoOwner"}},
        ],
        ORG,
        session_id="00D5e000000AbCd!AQ4AQLiveSessionToken",
    )
    result = salesforce_post(body)
    assert result["statusCode"] == 200
    assert "<Ack>true</Ack>" in result["body"]
    assert result["headers"]["Content-Type"].startswith("text/xml")
    assert [s["name"] for s in senders.sandbox.sequences] == ["Call Hopper"]
    (letter,) = senders.dead_letters()
    assert (letter["deliveryId"], letter["reason"]) == ("04l02", "MAPPING_FAILED")
    assert "LiveSessionToken" not in letter["_raw"]


def test_salesforce_is_not_acked_when_nothing_could_store_it(
    senders: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", senders.queue_url + "-missing")
    current_runtime.cache_clear()
    senders.sandbox.inject("status", status=503, count=10)
    body = salesforce_outbound_message(
        [
            {
                "Id": "04l01",
                "type": "Contact",
                "fields": {"LastName": "H", "SkipcallOwner__c": CREATOR},
            }
        ],
        ORG,
    )
    result = salesforce_post(body)
    assert result["statusCode"] == 503  # no Ack: Salesforce sends it again
