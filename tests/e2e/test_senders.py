"""As each sender would: its real payload shape and signature, over HTTP to the local gateway."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import urllib3

from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.events import write_events
from skipcall_bridge_dev.sample_bodies import SAMPLE_BODIES, salesforce_outbound_message
from skipcall_bridge_dev.samples import sample_body, sign_sample

from .conftest import EXAMPLE_SOURCES, Stack

NO_PHONE = "no phone number: `contact.phone`/`contact.phones` read nothing from this record"

CATALOG = load_sources(EXAMPLE_SOURCES)
ENROL_SOURCES = {
    "hubspot-enrol", "hubspot-deals", "pipedrive-enrol", "close-enrol", "automation-enrol",
    "calendly", "intercom", "monday", "dynamics", "zoho", "activecampaign", "mailchimp", "twilio",
    "zendesk", "sendgrid", "highlevel",
}  # fmt: skip
EXPECTED_NAMES = {
    "hubspot": ["HubSpot contact.creation 1201", "HubSpot contact.propertyChange 1202"],
    "hubspot-workflow": ["Call Ada Lovelace (Analytical Engines)"],
    "pipedrive": ["Pipedrive person: Marie Curie"],
    "close": ["Close lead created: Analytical Engines Ltd"],
    "attio": ["Attio record.created a1b2c3d4-0000-4000-8000-000000000003"],
    "salesforce": ["Call Grace Hopper (Contact)", "Call Katherine Johnson (Contact)"],
    "salesforce-flow": ["Renewal call: Initech"],
    "zapier": ["Inbound demo request: ACME Corp"],
    "make": ["Call Ada Lovelace (Analytical Engines)", "Call Alan Turing (no company)"],
    "n8n": ["Follow up Grace Hopper"],
    "typeform": ["Call Dorothy (Demo request)"],
    "stripe-style": ["Call Katherine (qualified)"],
    "meta-style": ["Meta lead 444555666777 (form 98765)"],
    # REST hooks (#29): Asana signs with the secret of its handshake, Keap with nothing
    "asana": ["Asana task 1201"],
    "keap": ["Keap contact.add 2117"],
}


def test_health(stack: Stack) -> None:
    response = urllib3.request("GET", f"{stack.gateway}/health")
    assert response.status == 200
    assert json.loads(response.data) == {"status": "ok"}  # nothing more to the public


def test_every_example_source_has_a_sample() -> None:
    """The create presets here, the enrol presets in test_actions."""
    assert set(SAMPLE_BODIES) == set(CATALOG.names) == set(EXPECTED_NAMES) | ENROL_SOURCES


@pytest.mark.parametrize("source", sorted(EXPECTED_NAMES))
def test_each_sender_creates_its_sequences(stack: Stack, source: str) -> None:
    before = len(stack.sandbox_sequences())
    sample = sign_sample(CATALOG, source, sample_body(source), url=stack.gateway)
    status, body = stack.post(sample.url, sample.body, sample.headers)
    created = stack.sandbox_sequences()[before:]
    # A batch's events are worked several at once: Skipcall may see them in any order, the
    # answer lists them in the delivery's.
    assert sorted(s["name"] for s in created) == sorted(EXPECTED_NAMES[source])
    if source == "salesforce":  # Salesforce needs its SOAP acknowledgement, nothing else
        assert status == 200
        assert "<Ack>true</Ack>" in body
    else:
        assert status == 201, (source, body)
        assert [s["name"] for s in body["sequences"]] == EXPECTED_NAMES[source]
        assert {s["id"] for s in created} == {s["id"] for s in body["sequences"]}


def test_crm_owners_and_contacts_become_skipcall_ids(stack: Stack) -> None:
    """member() and contact(): no Skipcall id typed into the presets or the payloads."""
    answers = {}
    for source in ("hubspot-workflow", "pipedrive", "close", "n8n"):
        sample = sign_sample(CATALOG, source, sample_body(source), url=stack.gateway)
        status, answers[source] = stack.post(sample.url, sample.body, sample.headers)
        assert status == 201, (source, answers[source])
    state = json.loads(urllib3.request("GET", f"{stack.sandbox}/_sandbox/state").data)
    by_name = {s["name"]: s["request"] for s in state["sequences"]}
    phones = {c["firstName"]: c["phoneNumbers"] for c in state["contacts"]}
    assert phones["Ada"] == ["+33612345678"]  # HubSpot, national number with defaultRegion FR
    assert phones["Marie"] == ["+33123456789"]  # Pipedrive
    assert phones["Grace"] == ["+14155550132"]  # Close, US
    creator, rep = devdata.CREATOR_ID, next(m for m in devdata.MEMBERS if m != devdata.CREATOR_ID)
    assert by_name["Pipedrive person: Marie Curie"]["creatorId"] == rep  # members map: owner 17
    assert by_name["Follow up Grace Hopper"]["creatorId"] == creator  # by email, via /v1/users
    assert by_name["Follow up Grace Hopper"]["assignedToIds"] == [rep]
    close = answers["close"]["events"][0]
    assert close["skippedContacts"] == [{"id": "cont_N0ph", "reason": NO_PHONE}]
    contacts_before = len(state["contacts"])
    sample = sign_sample(CATALOG, "pipedrive", sample_body("pipedrive").replace(b"7a3e", b"8b4f"),
                         url=stack.gateway)  # fmt: skip
    assert stack.post(sample.url, sample.body, sample.headers)[0] == 201  # a new delivery
    state = json.loads(urllib3.request("GET", f"{stack.sandbox}/_sandbox/state").data)
    assert len(state["contacts"]) == contacts_before  # the same person: its link is reused


def test_a_tampered_body_is_refused(stack: Stack) -> None:
    sample = sign_sample(CATALOG, "make", sample_body("make"), url=stack.gateway)
    status, body = stack.refused(sample.url, sample.body.replace(b"Ada", b"Eve"), sample.headers)
    assert (status, body["error"]["code"]) == (401, "INVALID_SIGNATURE")


@pytest.mark.parametrize("source", ["n8n", "hubspot", "close", "zendesk", "sendgrid", "highlevel"])
def test_a_replayed_timestamped_delivery_is_refused_once_stale(stack: Stack, source: str) -> None:
    stale = time.time() - 600
    sample = sign_sample(CATALOG, source, sample_body(source), url=stack.gateway, now=stale)
    status, _ = stack.refused(sample.url, sample.body, sample.headers)
    assert status == 401


def test_hubspot_signs_the_url_it_called(stack: Stack) -> None:
    sample = sign_sample(CATALOG, "hubspot", sample_body("hubspot"), url=stack.gateway)
    status, _ = stack.refused(sample.url + "?extra=1", sample.body, sample.headers)
    assert status == 401


def test_salesforce_without_the_token_or_from_another_org_is_refused(stack: Stack) -> None:
    sample = sign_sample(CATALOG, "salesforce", sample_body("salesforce"), url=stack.gateway)
    status, _ = stack.refused(sample.url.split("?")[0], sample.body, sample.headers)
    assert status == 401
    foreign = salesforce_outbound_message(
        [{"Id": "04l5e00000AbC09AAA", "type": "Lead", "fields": {"LastName": "X"}}],
        organization_id="00D5e000000ZzZzZAA",
    )
    status, _ = stack.refused(sample.url, foreign, sample.headers)
    assert status == 401


def test_salesforce_xml_with_a_dtd_is_stored_and_acked(stack: Stack) -> None:
    """The token matched, so the body came from the org: it is kept (INVALID_XML letter,
    never parsed with its DTD) and acknowledged, or Salesforce would resend it for 24 h."""
    sample = sign_sample(CATALOG, "salesforce", sample_body("salesforce"), url=stack.gateway)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    status, body = stack.post(sample.url, bomb, sample.headers)
    assert status == 200
    assert "<Ack>true</Ack>" in str(body)


def test_pipedrive_with_wrong_credentials_is_refused(stack: Stack) -> None:
    sample = sign_sample(CATALOG, "pipedrive", sample_body("pipedrive"), url=stack.gateway,
                         secret="dev:wrong")  # fmt: skip
    status, _ = stack.refused(sample.url, sample.body, sample.headers)
    assert status == 401


def test_the_samples_in_events_are_accepted(stack: Stack, tmp_path: Path) -> None:
    """What `make events` writes for `sam local invoke` is valid against the dev stack."""
    written = {path.name for path in write_events(EXAMPLE_SOURCES, tmp_path)}
    presets = set(EXPECTED_NAMES) | ENROL_SOURCES
    assert written == {f"{name}.json" for name in presets} | {"health.json", "env.json"}
    env = json.loads((tmp_path / "env.json").read_text())["ReceiverFunction"]
    assert env["PUBLIC_BASE_URL"] == f"http://localhost:{devdata.GATEWAY_PORT}"
    for source in sorted(presets):
        event = json.loads((tmp_path / f"{source}.json").read_text())
        assert event["version"] == "2.0"
        headers = {k: v for k, v in event["headers"].items() if k != "host"}
        target = event["rawPath"] + (
            f"?{event['rawQueryString']}" if event["rawQueryString"] else ""
        )
        if source.startswith("hubspot") or source in ("monday", "twilio"):
            continue  # URL signed for localhost:3000: tests/integration/test_sam_events.py
        status, body = stack.post(target, event["body"].encode(), headers)
        assert status in (200, 201), (source, body)


def test_the_committed_untimed_samples_still_verify(stack: Stack) -> None:
    """events/ in the repo: samples with no timestamp in their signature never go stale
    (timestamped ones do, which is why `make events` re-signs them)."""
    events_dir = EXAMPLE_SOURCES.parent / "events"
    for source in ("zapier", "make", "pipedrive", "attio", "salesforce", "salesforce-flow"):
        event = json.loads((events_dir / f"{source}.json").read_text())
        headers = {k: v for k, v in event["headers"].items() if k != "host"}
        target = event["rawPath"] + (
            f"?{event['rawQueryString']}" if event["rawQueryString"] else ""
        )
        status, body = stack.post(target, event["body"].encode(), headers)
        assert status in (200, 201), (source, body)
