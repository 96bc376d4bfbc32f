"""`skipcall-bridge preview`: what a payload would become, and why a signature fails."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev.preview import preview
from skipcall_bridge_dev.samples import sample_body, sign_sample

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_sources(ROOT / "sources.example.json")
URL = "http://127.0.0.1:3000/webhooks/hubspot"


def source(name: str):  # type: ignore[no-untyped-def]
    found = CATALOG.get(name)
    assert found is not None
    return found


def test_each_event_with_its_id_and_dto_and_the_lookups_it_would_make() -> None:
    lines = preview(source("pipedrive"), sample_body("pipedrive"))
    text = "\n".join(lines)
    assert lines[0].startswith("event 0  delivery id 7a3e4b1c")
    assert '"name": "Pipedrive person: Marie Curie"' in text
    assert "lookup: member('17'): 7d1f6a52" in text
    assert "lookup: contact(): POST /v1/contacts" in text
    assert "+33123456789" in text


def test_an_enrolment_shows_its_target_contacts_assignee_and_lookups() -> None:
    text = "\n".join(preview(source("pipedrive-enrol"), sample_body("pipedrive-enrol")))
    assert "action enrol" in text
    assert '"name": "Pipedrive new people"' in text
    assert "<workspace membership of 7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0002>" in text
    assert "target 'Pipedrive new people': its linked id, else POST /v1/sequences (once)" in text
    won = "\n".join(
        preview(source("pipedrive-enrol"), sample_body("pipedrive-enrol", follow_up=True))
    )
    assert "action unenrol" in won
    assert "lookup: linked('312'): the contact linked to pipedrive-enrol#312" in won


def test_an_event_whose_action_renders_nothing_is_ignored() -> None:
    lines = preview(source("hubspot-deals"), sample_body("hubspot-deals"))
    assert lines[0].endswith("action unenrol")
    assert any(line.endswith("action none (ignored)") for line in lines)


def test_field_errors_teach() -> None:
    body = json.dumps({"meta": {"id": "x"}, "data": {"titel": "Deal", "owner_id": 99}}).encode()
    text = "\n".join(preview(source("pipedrive"), body))
    assert "member(): '99' is not in the source's members map" in text


def test_a_letter_previews_its_own_event() -> None:
    letter = DeadLetter(source="zapier", deliveryId="d-1", receivedAt=datetime.now(UTC),
                        reason=Reason.MAPPING_FAILED, retryable=False, attempts=1,
                        error=ErrorInfo(code="MAPPING_FAILED", message="x"), sequence=None,
                        payload={"name": "from a letter", "creatorId": "c",
                                 "assignedToIds": ["a"]})  # fmt: skip
    lines = preview(source("zapier"), b"", letter=letter)
    assert lines[0].startswith("event 0  delivery id d-1")
    assert '"name": "from a letter"' in "\n".join(lines)


def test_a_good_signature_and_why_a_bad_one_fails() -> None:
    body = sample_body("hubspot")
    signed = sign_sample(CATALOG, "hubspot", body, url="http://127.0.0.1:3000")
    assert preview(source("hubspot"), body, headers=signed.headers, url=URL)[0] == (
        "signature (hubspot): ok with the dev secret"
    )
    stale = {**signed.headers, "X-HubSpot-Request-Timestamp": str(int(time.time() - 900) * 1000)}
    lines = preview(source("hubspot"), body, headers=stale, url=URL)
    assert lines[0] == "signature (hubspot): REFUSED, 401"
    assert re.fullmatch(  # the preview reads the clock a moment later
        r"  the X-HubSpot-Request-Timestamp header is 9\d\d s old: 300 s are allowed", lines[1]
    )
    moved = preview(source("hubspot"), body, headers=signed.headers, url=URL + "?x=1")
    assert any("it must be exactly" in line for line in moved)
    missing = preview(source("zapier"), sample_body("zapier"), headers={}, url=URL)
    assert "  no Authorization: Bearer or X-Api-Key header" in missing


def test_a_raw_http_request_gives_the_headers_the_path_and_the_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from skipcall_bridge.cli.main import main

    body = sample_body("hubspot")
    signed = sign_sample(CATALOG, "hubspot", body, url="http://127.0.0.1:3000")
    raw = "POST /webhooks/hubspot HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in signed.headers.items()
    )
    request = tmp_path / "request.http"
    request.write_bytes(raw.encode() + b"\r\n" + body)
    ignored = tmp_path / "ignored.json"
    ignored.write_bytes(b"{}")  # the raw request's own body wins
    code = main(["preview", "hubspot", str(ignored), "--headers", str(request),
                 "--sources", str(ROOT / "sources.example.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("signature (hubspot): ok with the dev secret")
    assert "event 1  delivery id 4106325902" in out


@pytest.mark.parametrize("name", ["activecampaign", "mailchimp", "twilio"])
def test_form_bodies_preview_sign_and_verify(name: str) -> None:
    """A body file of form fields previews as its sender's fields (twilio is `auto`: the body
    says form), and `sign` sends it with the form Content-Type, signed so that it verifies."""
    text = "\n".join(preview(source(name), sample_body(name)))
    assert "action enrol" in text, text
    sample = sign_sample(CATALOG, name, sample_body(name), url="http://127.0.0.1:3000")
    assert sample.headers["Content-Type"] == "application/x-www-form-urlencoded"
    report = "\n".join(preview(source(name), sample.body, headers=sample.headers, url=sample.url))
    assert "): ok with the dev secret" in report, report
    assert "action enrol" in report


def test_an_unreadable_form_says_why() -> None:
    lines = preview(source("activecampaign"), b"contact=1&contact[id]=2")
    assert lines == [
        "the body cannot be read as form: The form field 'contact' is both a value and a group "
        "or list."
    ]


def test_an_enrol_that_does_not_map_says_its_action_and_fails_the_gate() -> None:
    """#23 item 6: the heading says `enrol` (not "action not known"), and preview_report says
    it is not ok (the CLI exits 1, so CI can gate a sources change on it)."""
    from skipcall_bridge_dev.preview import preview_report

    text, ok = preview_report(source("zoho"), b'{"id": "1"}')
    assert not ok
    assert "action enrol, NOT MAPPED" in text[0], text
    _, fine = preview_report(source("zoho"), sample_body("zoho"))
    assert fine


def test_a_missing_signature_header_is_named_for_every_scheme() -> None:
    for name, header in [("calendly", "calendly-webhook-signature"), ("make", "x-signature"),
                         ("twilio", "x-twilio-signature")]:  # fmt: skip
        lines = preview(source(name), sample_body(name), headers={}, url=URL)
        assert lines[0].endswith("REFUSED, 401")
        assert f"  no {header} header" in [line.lower() for line in lines], (name, lines)


def test_a_typo_in_a_named_target_s_sequence_block_shows_before_the_name_is_created() -> None:
    """#23 item 5: the `sequence` block of a target by name renders only when the name is
    first created; preview renders it every time, so its typo shows now."""
    from skipcall_bridge.sources.catalog import SourceCatalog
    from skipcall_bridge.sources.parsing import parse_sources
    from skipcall_bridge_dev.preview import preview_report

    example = json.loads((ROOT / "sources.example.json").read_text())["sources"]["zoho"]
    typo = {**example, "sequence": {**example["sequence"], "creatorId": "{{ ownr }}"}}
    catalog = SourceCatalog.from_config(parse_sources(json.dumps({"sources": {"zoho": typo}})))
    broken = catalog.get("zoho")
    assert broken is not None
    lines, ok = preview_report(broken, sample_body("zoho"))
    assert not ok
    assert any(line.strip().startswith("sequence.creatorId") for line in lines), lines
    text = "\n".join(preview(source("zoho"), sample_body("zoho")))
    assert '"createdFrom"' in text  # the good one shows what the name is created from


def test_sign_signs_for_a_source_s_public_url_and_sends_to_the_given_one() -> None:
    """A HubSpot source behind its own domain (`publicUrl`): `sign`/`send` post to the local
    URL, signed for the public one, which is what the receiver checks."""
    from skipcall_bridge.sources.catalog import SourceCatalog
    from skipcall_bridge.sources.parsing import parse_sources
    from skipcall_bridge.verify import Headers, SignedRequest

    public = "https://crm-hooks.example.org/in/hubspot"
    example = json.loads((ROOT / "sources.example.json").read_text())["sources"]["hubspot"]
    config = {"sources": {"hubspot": {**example, "publicUrl": public}}}
    catalog = SourceCatalog.from_config(parse_sources(json.dumps(config)))
    sample = sign_sample(catalog, "hubspot", sample_body("hubspot"), url="http://127.0.0.1:3000",
                         secret="hubspot-client-secret-0123456789")  # fmt: skip
    assert sample.url == "http://127.0.0.1:3000/webhooks/hubspot"
    verifier = catalog.get("hubspot").verifier  # type: ignore[union-attr]
    signed = SignedRequest("POST", public, sample.body, Headers(sample.headers))
    verifier.verify(signed, ["hubspot-client-secret-0123456789"], time.time())
    local = SignedRequest("POST", sample.url, sample.body, Headers(sample.headers))
    with pytest.raises(InvalidSignature):  # not for the local URL
        verifier.verify(local, ["hubspot-client-secret-0123456789"], time.time())


@pytest.mark.parametrize("name", CATALOG.names)
def test_a_delivery_signed_fifteen_minutes_ago_is_refused_as_stale_or_not_at_all(
    name: str,
) -> None:
    """#30 item 4: a stale timestamp was reported as "the signature does not match the body"
    (stripe-style among others). Every preset that signs a time names it; the rest accept."""
    body = sample_body(name)
    signed = sign_sample(CATALOG, name, body, url="http://127.0.0.1:3000", now=time.time() - 900)
    lines = preview(source(name), signed.body, headers=signed.headers, url=signed.url)
    if lines[0].endswith("ok with the dev secret"):
        return
    assert lines[0].endswith("REFUSED, 401"), lines
    assert re.search(r"is 9\d\d s old: \d+ s are allowed$|expired \d+ s ago", lines[1]), lines
