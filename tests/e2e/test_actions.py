"""The enrol and unenrol presets, as their senders would call them, through `make dev`'s stack:
the sequence is created once by name, the contacts go in, and the follow-up takes them out.
What is in the sequence is read back from Skipcall (GET /v1/sequences/{id}/contacts)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.samples import FOLLOW_UP_BODIES, sample_body, sign_sample
from skipcall_bridge_dev.sandbox import workspace_membership_id

from .conftest import EXAMPLE_SOURCES, Stack

CATALOG = load_sources(EXAMPLE_SOURCES)
REP = next(member for member in devdata.MEMBERS if member != devdata.CREATOR_ID)
ENROL_PRESETS = {
    # preset: (target name, first names enrolled, the assignee's organization membership)
    "hubspot-enrol": ("HubSpot inbound", ["Katherine"], devdata.CREATOR_ID),
    "pipedrive-enrol": ("Pipedrive new people", ["Pierre"], REP),
    "close-enrol": ("Close open leads", ["Ada"], None),
    "automation-enrol": ("Webinar follow-up", ["Alan", "Joan"], REP),
    "calendly": ("Calendly bookings", ["Mary"], None),
    "intercom": ("Intercom leads", ["Annie"], None),
    "monday": ("monday.com new items", ["Hedy"], None),
    "dynamics": ("Dynamics 365 new contacts", ["Evelyn"], None),
    "zoho": ("Zoho CRM new leads", ["Mae"], devdata.CREATOR_ID),
    # form-encoded senders (bodyFormat form, or auto by Content-Type for Twilio)
    "activecampaign": ("ActiveCampaign subscribers", ["Radia"], None),
    "mailchimp": ("Mailchimp new subscribers", ["Frances"], None),
    "twilio": ("Twilio inbound texts", ["+14155550177"], None),  # a number is all a text says
    # ISO-8601 timestamps (#29); a public-key signature, its dev key in the secret (#29)
    "zendesk": ("Zendesk callbacks", ["Dorothy"], None),
    "sendgrid": ("Clicked the email", ["Ada"], None),
    "highlevel": ("HighLevel new contacts", ["Margaret"], None),  # the body's own timestamp
}


def send(stack: Stack, source: str, *, follow_up: bool = False) -> dict[str, Any]:
    sample = sign_sample(
        CATALOG, source, sample_body(source, follow_up=follow_up), url=stack.gateway
    )
    status, body = stack.post(sample.url, sample.body, sample.headers)
    assert status == 201, (source, body)
    return body  # type: ignore[no-any-return]


def in_sequence(stack: Stack, sequence_id: str) -> list[dict[str, Any]]:
    response = urllib3.request(
        "GET",
        f"{stack.sandbox}/v1/sequences/{sequence_id}/contacts?page=0&size=100",
        headers={"Authorization": f"Bearer {devdata.API_KEY}"},
    )
    assert response.status == 200, response.data
    return list(json.loads(response.data)["data"])


def named(stack: Stack, name: str) -> list[dict[str, Any]]:
    return [s for s in stack.sandbox_sequences() if s["name"] == name]


@pytest.mark.parametrize("source", sorted(ENROL_PRESETS))
def test_each_enrol_preset_enrols_into_a_sequence_created_once(stack: Stack, source: str) -> None:
    name, first_names, assignee = ENROL_PRESETS[source]
    first = send(stack, source)
    again = send(stack, source)  # the same delivery: the first answer, nothing done twice
    event = first["events"][0]
    assert first["status"] == "enrolled"
    assert event["action"] == "enrol"
    assert event["status"] == "enrolled"
    assert event["created"] is True
    assert again["events"][0] == {**event, "duplicate": True}
    [sequence] = named(stack, name)  # created once, by name
    assert event["sequenceId"] == sequence["id"]
    # listed as a create's would be (#23 item 6: it was [] although the enrol created it)
    assert [(s["id"], s["name"]) for s in first["sequences"]] == [(sequence["id"], name)]
    members = in_sequence(stack, sequence["id"])
    assert [m["contact"].get("firstName") for m in members] == first_names
    assert [m["contactId"] for m in members] == event["contactIds"]
    if assignee is not None:  # assignTo: the owner's workspace membership, not their org id
        expected = workspace_membership_id(assignee)
        assert {m["assignedToWorkspaceMembershipId"] for m in members} == {expected}


@pytest.mark.parametrize("source", sorted(FOLLOW_UP_BODIES))
def test_each_enrol_preset_takes_its_contacts_out_again(stack: Stack, source: str) -> None:
    name = ENROL_PRESETS[source][0]
    enrolled = send(stack, source)["events"][0]
    answer = send(stack, source, follow_up=True)
    event = answer["events"][0]
    assert answer["status"] == "unenrolled"
    assert event["action"] == "unenrol"
    assert event["sequenceId"] == enrolled["sequenceId"]
    assert set(event["contactIds"]) <= set(enrolled["contactIds"])
    left = [m["contactId"] for m in in_sequence(stack, enrolled["sequenceId"])]
    assert not set(event["contactIds"]) & set(left)
    assert len(named(stack, name)) == 1


def test_a_won_hubspot_deal_takes_its_contact_out(stack: Stack) -> None:
    """`hubspot-deals` finds the contact `hubspot-enrol` linked to the deal (its alias)."""
    enrolled = send(stack, "hubspot-enrol")["events"][0]
    answer = send(stack, "hubspot-deals")
    won, amount = answer["events"]
    assert won["action"] == "unenrol"
    assert won["status"] == "unenrolled"
    assert won["sequenceId"] == enrolled["sequenceId"]
    assert won["contactIds"] == enrolled["contactIds"]
    assert amount["status"] == "ignored"  # not a stage change: listed, never dead-lettered
    assert in_sequence(stack, enrolled["sequenceId"]) == []


def test_twilio_json_bodies_are_bound_by_body_sha256_and_read_by_content_type(
    stack: Stack,
) -> None:
    """The twilio preset is `auto`: a JSON body (Twilio's newer products) is read as JSON, its
    URL carries bodySHA256, and a changed body under that signed URL is refused."""
    body = json.dumps({"MessageSid": "SM0123456789abcdef0123456789abcd99",
                       "SmsStatus": "received", "From": "+14155550188"}).encode()  # fmt: skip
    sample = sign_sample(CATALOG, "twilio", body, url=stack.gateway)
    assert "bodySHA256=" in sample.url
    assert sample.headers["Content-Type"] == "application/json"
    status, answer = stack.post(sample.url, sample.body, sample.headers)
    assert status == 201, answer
    assert answer["events"][0]["status"] == "enrolled"
    changed = body.replace(b"0188", b"0189")
    status, _ = stack.refused(sample.url, changed, sample.headers)
    assert status == 401
