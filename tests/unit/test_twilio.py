"""The `twilio` scheme against Twilio's own RequestValidator (the `twilio` package, a dev
dependency): what it accepts we accept, what we sign it accepts, and a change breaks both."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from skipcall_bridge.common.errors import InvalidForm, InvalidSignature
from skipcall_bridge.common.form_body import parse_form
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.twilio import TwilioVerifier

TOKEN = "12345678901234567890123456789012"  # an Auth Token's shape: 32 hex-like characters
URL = "https://hooks.example.com/webhooks/twilio"
NOW = 1_795_660_800.0
VERIFIER = TwilioVerifier()


class MultiDict(dict[str, list[str]]):
    """Form fields as a framework hands them to Twilio's validator (Flask's getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def fields_of(pairs: list[tuple[str, str]]) -> MultiDict:
    fields = MultiDict()
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def request(url: str, body: bytes, signature: str, **headers: str) -> SignedRequest:
    return SignedRequest("POST", url, body, Headers({"X-Twilio-Signature": signature, **headers}))


SMS = [
    ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
    ("SmsStatus", "received"),
    ("From", "+14155550100"),
    ("To", "+14155550199"),
    ("Body", "Call me back, please! 100% serious & quick"),
    ("NumMedia", "0"),
]


def test_an_inbound_sms_signed_by_twilio_s_validator_verifies() -> None:
    body = urlencode(SMS).encode()
    signature = RequestValidator(TOKEN).compute_signature(URL, fields_of(SMS))
    VERIFIER.verify(request(URL, body, signature), [TOKEN], NOW)
    # and each field, the URL and the key matter
    for changed in (
        request(URL, body.replace(b"quick", b"slow!"), signature),
        request(URL + "?x=1", body, signature),
        request(URL.replace("hooks.", "hook."), body, signature),
    ):
        with pytest.raises(InvalidSignature):
            VERIFIER.verify(changed, [TOKEN], NOW)
    with pytest.raises(InvalidSignature):
        VERIFIER.verify(request(URL, body, signature), ["another-token-of-32-characters!!"], NOW)


def test_the_port_twilio_may_or_may_not_sign_is_accepted_either_way() -> None:
    body = urlencode(SMS).encode()
    with_port = RequestValidator(TOKEN).compute_signature(
        "https://hooks.example.com:443/webhooks/twilio", fields_of(SMS)
    )
    VERIFIER.verify(request(URL, body, with_port), [TOKEN], NOW)
    without = RequestValidator(TOKEN).compute_signature(URL, fields_of(SMS))
    VERIFIER.verify(request("https://hooks.example.com:443/webhooks/twilio", body, without),
                    [TOKEN], NOW)  # fmt: skip


def test_a_json_body_is_bound_by_its_body_sha256() -> None:
    body = b'{"callSid":"CA1","status":"completed"}'
    url = f"{URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert RequestValidator(TOKEN).validate(url, body.decode(), signature)
    VERIFIER.verify(request(url, body, signature), [TOKEN], NOW)
    with pytest.raises(InvalidSignature):  # another body under the same signed URL
        VERIFIER.verify(request(url, b'{"callSid":"CA2"}', signature), [TOKEN], NOW)


def test_a_shared_key_signs_with_hmac_sha256_when_the_settings_header_says_so() -> None:
    body = urlencode(SMS).encode()
    signature = RequestValidator(TOKEN).compute_signature(URL, fields_of(SMS), "HMAC_SHA256")
    settings_header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    signed = request(URL, body, signature, **{"X-Twilio-Webhooks-Signature-Settings":
                                              settings_header})  # fmt: skip
    VERIFIER.verify(signed, [TOKEN], NOW)
    with pytest.raises(InvalidSignature):  # the same signature read as SHA-1
        VERIFIER.verify(request(URL, body, signature), [TOKEN], NOW)
    unknown = request(URL, body, signature, **{
        "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"})  # fmt: skip
    with pytest.raises(InvalidSignature):
        VERIFIER.verify(unknown, [TOKEN], NOW)


names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@settings(max_examples=150)
@given(pairs=st.lists(st.tuples(names, values), max_size=8, unique=True), port=st.booleans())
def test_twilio_s_validator_and_this_scheme_agree_on_any_form(
    pairs: list[tuple[str, str]], port: bool
) -> None:
    """Repeated names, repeated values under other names, empty values, any characters: the
    same verdicts both ways (their signature verifies here; ours validates there). A (name,
    value) pair sent twice is refused here: see the next tests."""
    url = "https://hooks.example.com:443/webhooks/twilio" if port else URL
    body = urlencode(pairs).encode()
    fields = fields_of(pairs)
    theirs = RequestValidator(TOKEN).compute_signature(url, fields)
    VERIFIER.verify(request(url, body, theirs), [TOKEN], NOW)
    ours = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=url)["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(url, fields, ours)


@given(
    pairs=st.lists(st.tuples(names, values), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_a_changed_added_or_repeated_field_is_refused(
    pairs: list[tuple[str, str]], data: Any
) -> None:
    """Security review #28, finding 2: Twilio signs each name's distinct values, so a pair sent
    again kept the signature valid, and the form parser made a list of it. A pair sent twice is
    refused, like any other change."""
    body = urlencode(pairs).encode()
    signature = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=URL)["X-Twilio-Signature"]
    extra = data.draw(st.one_of(st.tuples(names, values), st.sampled_from(pairs)))
    with pytest.raises(InvalidSignature):
        VERIFIER.verify(request(URL, urlencode([*pairs, extra]).encode(), signature), [TOKEN], NOW)


def test_json_sent_as_a_form_is_read_as_the_json_its_signature_binds() -> None:
    """Security review #28, finding 3: with `bodyFormat: auto`, JSON bytes bound by
    `bodySHA256` but sent as a form were parsed as form fields, text inside a JSON string
    becoming top-level fields (another delivery id and action, from a genuine signature)."""
    from skipcall_bridge.sources.catalog import SourceCatalog
    from skipcall_bridge.sources.parsing import parse_sources

    config = {"sources": {"twilio": {
        "auth": {"scheme": "twilio", "secretId": "t"}, "bodyFormat": "auto", "deliveryId": "id",
        "sequence": {"name": "{{ name }}", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    twilio = SourceCatalog.from_config(parse_sources(json.dumps(config))).get("twilio")
    assert twilio is not None
    body = json.dumps({"id": "evt-1", "name": "x&id=forged&action=unenrol"}).encode()
    url = VERIFIER.signed_url(URL, TOKEN, body)
    signature = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=url)["X-Twilio-Signature"]
    sent = SignedRequest(
        "POST",
        url,
        body,
        Headers(
            {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
        ),
    )
    VERIFIER.verify(sent, [TOKEN], NOW)
    reading = twilio.read(sent)
    assert [event_id for event_id, _ in reading.events] == ["evt-1"]
    assert reading.events[0][1]["name"] == "x&id=forged&action=unenrol"
    # a form body is never read from bytes that are JSON, whatever the source says
    with pytest.raises(InvalidForm):
        parse_form(body)


def test_a_form_delivery_s_id_is_that_of_its_fields_as_signed_not_of_their_order() -> None:
    """The fall-back id hashes what Twilio signs (sorted fields), not the bytes: reordered
    fields verify alike, and are the same delivery."""
    from skipcall_bridge.sources.catalog import SourceCatalog
    from skipcall_bridge.sources.parsing import parse_sources

    config = {"sources": {"twilio": {
        "auth": {"scheme": "twilio", "secretId": "t"}, "bodyFormat": "form",
        "sequence": {"name": "{{ Body }}", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    # no MessageSid or CallSid: the delivery's own id stands in
    twilio = SourceCatalog.from_config(parse_sources(json.dumps(config))).get("twilio")
    assert twilio is not None
    pairs = [("From", "+33612345678"), ("Body", "hello"), ("To", "+33700000000")]
    ids = set()
    for order in (pairs, pairs[::-1]):
        body = urlencode(order).encode()
        signature = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=URL)["X-Twilio-Signature"]
        sent = request(URL, body, signature)
        VERIFIER.verify(sent, [TOKEN], NOW)
        ids.add(twilio.read(sent).events[0][0])
    assert len(ids) == 1


def test_signed_url_adds_the_body_hash_for_json_only() -> None:
    body = b'{"a": 1}'
    url = VERIFIER.signed_url(URL, TOKEN, body)
    assert url == f"{URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=url)
    assert RequestValidator(TOKEN).validate(url, body.decode(), headers["X-Twilio-Signature"])
    assert VERIFIER.signed_url(URL, TOKEN, b"a=1") == URL


def test_a_missing_or_malformed_signature_fails() -> None:
    body = urlencode(SMS).encode()
    for signature in ("", "not base64!"):
        with pytest.raises(InvalidSignature):
            VERIFIER.verify(request(URL, body, signature), [TOKEN], NOW)
    with pytest.raises(InvalidSignature):
        VERIFIER.verify(SignedRequest("POST", URL, body, Headers({})), [TOKEN], NOW)


def test_signing_a_body_that_is_not_utf_8_fields_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#30 item 12: `sign twilio FILE` printed a traceback for a body Twilio could not sign."""
    from skipcall_bridge.cli.main import main

    body = tmp_path / "sms.form"
    body.write_bytes(b"Body=\xff\xfe&From=%2B14155550100")
    example = Path(__file__).resolve().parents[2] / "sources.example.json"
    assert main(["sign", "twilio", str(body), "--sources", str(example)]) == 2
    said = capsys.readouterr().err
    assert "cannot be signed as twilio signs: the form body is not UTF-8 fields" in said
    assert "Traceback" not in said
