"""The `twilio` scheme against Twilio's own RequestValidator (the `twilio` package, a dev
dependency): what it accepts we accept, what we sign it accepts, and a change breaks both."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from skipcall_bridge.errors import InvalidSignature
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
@given(pairs=st.lists(st.tuples(names, values), max_size=8), port=st.booleans())
def test_twilio_s_validator_and_this_scheme_agree_on_any_form(
    pairs: list[tuple[str, str]], port: bool
) -> None:
    """Repeated names, repeated values, empty values, any characters: the same verdicts both
    ways (their signature verifies here; ours validates there)."""
    url = "https://hooks.example.com:443/webhooks/twilio" if port else URL
    body = urlencode(pairs).encode()
    fields = fields_of(pairs)
    theirs = RequestValidator(TOKEN).compute_signature(url, fields)
    VERIFIER.verify(request(url, body, theirs), [TOKEN], NOW)
    ours = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=url)["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(url, fields, ours)


@given(pairs=st.lists(st.tuples(names, values), min_size=1, max_size=6), data=st.data())
def test_a_changed_or_added_field_breaks_the_signature(
    pairs: list[tuple[str, str]], data: Any
) -> None:
    body = urlencode(pairs).encode()
    signature = VERIFIER.sign(body, TOKEN, NOW, method="POST", url=URL)["X-Twilio-Signature"]
    extra = data.draw(st.tuples(names, values))
    if extra[1] in fields_of(pairs).get(extra[0], []):
        return  # the same pair again: Twilio signs distinct values, so this one is no change
    with pytest.raises(InvalidSignature):
        VERIFIER.verify(request(URL, urlencode([*pairs, extra]).encode(), signature), [TOKEN], NOW)


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
