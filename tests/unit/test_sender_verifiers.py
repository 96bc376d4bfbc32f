"""HubSpot, Close, Attio, basic, bearer-with-header and Salesforce verifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature, InvalidXml
from skipcall_bridge.common.payloads import parse_outbound_message
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.attio import AttioVerifier
from skipcall_bridge.verify.basic import BasicVerifier
from skipcall_bridge.verify.bearer import BearerVerifier
from skipcall_bridge.verify.close import CloseVerifier
from skipcall_bridge.verify.hubspot import HubSpotVerifier, hubspot_uri
from skipcall_bridge.verify.query_key import QueryKeyVerifier
from skipcall_bridge.verify.salesforce import SalesforceVerifier
from skipcall_bridge_dev.sample_bodies import salesforce_outbound_message


def request(
    body: bytes, headers: dict[str, str], url: str = "https://hooks.example.com/webhooks/x",
    method: str = "POST",
) -> SignedRequest:  # fmt: skip
    return SignedRequest(method=method, url=url, body=body, headers=Headers(headers))


# --- HubSpot: the vectors from HubSpot's docs (webhook-signatures.md section 1a).
HS_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HS_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
HS_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
HS_URI = "https://www.example.com/webhook_uri"
HS_V2_GET = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
HS_V2_POST = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
NOW = 1_795_660_800.0


def legacy(signature: str, version: str) -> dict[str, str]:
    return {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}


class TestHubSpot:
    def test_v1_vector(self) -> None:
        HubSpotVerifier(["v1"], 300).verify(
            request(HS_V1_BODY, legacy(HS_V1, "v1")), [HS_SECRET], NOW
        )

    def test_v2_vectors(self) -> None:
        verifier = HubSpotVerifier(["v2"], 300)
        verifier.verify(request(b"", legacy(HS_V2_GET, "v2"), HS_URI, "GET"), [HS_SECRET], NOW)
        body = b'{"example_field":"example_value"}'
        verifier.verify(request(body, legacy(HS_V2_POST, "v2"), HS_URI), [HS_SECRET], NOW)

    def test_v3_matches_an_independent_computation(self) -> None:
        url = "https://hooks.example.com/webhooks/hubspot?portal=62515"
        timestamp = str(int(NOW * 1000))
        content = b"POST" + url.encode() + HS_V1_BODY + timestamp.encode()
        digest = hmac.new(HS_SECRET.encode(), content, hashlib.sha256).digest()
        headers = {
            "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        HubSpotVerifier(["v3"], 300).verify(request(HS_V1_BODY, headers, url), [HS_SECRET], NOW)

    def test_selective_percent_decoding(self) -> None:
        url = (
            "https://h.example.com/webhooks/hubspot?a=%3A%2f%3F%40%21%24%27%28%29%2A%2C%3B&b=%20%25"
        )
        assert hubspot_uri(url) == "https://h.example.com/webhooks/hubspot?a=:/?@!$'()*,;&b=%20%25"

    def test_v3_signs_the_decoded_uri(self) -> None:
        verifier = HubSpotVerifier(["v3"], 300)
        encoded = "https://h.example.com/webhooks/hubspot?next=%2Fdeals%3A1"
        headers = verifier.sign(b"[]", HS_SECRET, NOW, method="POST", url=encoded)
        # The receiver sees the URL as sent; signing used the same rule, so they agree.
        verifier.verify(request(b"[]", headers, encoded), [HS_SECRET], NOW)
        decoded = "https://h.example.com/webhooks/hubspot?next=/deals:1"
        verifier.verify(request(b"[]", headers, decoded), [HS_SECRET], NOW)

    @pytest.mark.parametrize("skew", [-301, 301])
    def test_v3_timestamps_are_milliseconds_within_five_minutes(self, skew: int) -> None:
        verifier = HubSpotVerifier(["v3"], 300)
        headers = verifier.sign(b"[]", HS_SECRET, NOW + skew, method="POST", url=HS_URI)
        with pytest.raises(InvalidSignature):
            verifier.verify(request(b"[]", headers, HS_URI), [HS_SECRET], NOW)

    def test_a_timestamp_in_seconds_is_refused(self) -> None:
        verifier = HubSpotVerifier(["v3"], 300)
        headers = verifier.sign(b"[]", HS_SECRET, NOW, method="POST", url=HS_URI)
        headers["X-HubSpot-Request-Timestamp"] = str(int(NOW))
        with pytest.raises(InvalidSignature):
            verifier.verify(request(b"[]", headers, HS_URI), [HS_SECRET], NOW)

    def test_a_bad_v3_is_not_rescued_by_a_good_v1(self) -> None:
        verifier = HubSpotVerifier(["v3", "v1"], 300)
        headers = {**legacy(HS_V1, "v1"), "X-HubSpot-Signature-v3": "AAAA",
                   "X-HubSpot-Request-Timestamp": str(int(NOW * 1000))}  # fmt: skip
        with pytest.raises(InvalidSignature):
            verifier.verify(request(HS_V1_BODY, headers), [HS_SECRET], NOW)

    def test_legacy_versions_only_where_configured(self) -> None:
        with pytest.raises(InvalidSignature):
            HubSpotVerifier(["v3"], 300).verify(
                request(HS_V1_BODY, legacy(HS_V1, "v1")), [HS_SECRET], NOW
            )

    @pytest.mark.parametrize(
        "headers",
        [
            {"X-HubSpot-Signature-v3": "%%%", "X-HubSpot-Request-Timestamp": "1795660800000"},
            {"X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": "soon"},
            {"X-HubSpot-Signature-v3": "AAAA"},
            legacy("zz", "v1"),
            legacy(HS_V1, "v9"),
        ],
    )
    def test_malformed_headers_are_401(self, headers: dict[str, str]) -> None:
        with pytest.raises(InvalidSignature):
            HubSpotVerifier(["v3", "v1"], 300).verify(
                request(HS_V1_BODY, headers), [HS_SECRET], NOW
            )

    def test_sign_sends_what_hubspot_sends(self) -> None:
        webhooks = HubSpotVerifier(["v3"], 300).sign(
            b"[]", HS_SECRET, NOW, method="POST", url=HS_URI
        )
        assert set(webhooks) == {"X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"}
        workflows = HubSpotVerifier(["v3", "v2"], 300, allow_legacy=True).sign(
            b"{}", HS_SECRET, NOW, method="POST", url=HS_URI
        )
        assert workflows["X-HubSpot-Signature-Version"] == "v2"

    def test_legacy_beside_v3_only_with_allow_legacy(self) -> None:
        legacy = HubSpotVerifier(["v2"], 300).sign(b"{}", HS_SECRET, NOW, method="POST", url=HS_URI)
        strict = HubSpotVerifier(["v3", "v2"], 300)
        with pytest.raises(InvalidSignature):
            strict.verify(request(b"{}", legacy, HS_URI), [HS_SECRET], NOW)
        HubSpotVerifier(["v3", "v2"], 300, allow_legacy=True).verify(
            request(b"{}", legacy, HS_URI), [HS_SECRET], NOW
        )
        HubSpotVerifier(["v2"], 300).verify(request(b"{}", legacy, HS_URI), [HS_SECRET], NOW)


@given(
    body=st.binary(min_size=1, max_size=256),
    index=st.integers(min_value=0),
    mask=st.integers(1, 255),
    shift=st.integers(min_value=1, max_value=299_000),
)
def test_hubspot_v3_breaks_when_body_timestamp_url_or_secret_change(
    body: bytes, index: int, mask: int, shift: int
) -> None:
    verifier = HubSpotVerifier(["v3"], 300)
    headers = verifier.sign(body, HS_SECRET, NOW, method="POST", url=HS_URI)
    verifier.verify(request(body, headers, HS_URI), [HS_SECRET], NOW)
    position = index % len(body)
    tampered = body[:position] + bytes([body[position] ^ mask]) + body[position + 1 :]
    moved = {**headers, "X-HubSpot-Request-Timestamp": str(int(NOW * 1000) + shift)}
    for changed, secret in [
        (request(tampered, headers, HS_URI), HS_SECRET),
        (request(body, moved, HS_URI), HS_SECRET),
        (request(body, headers, HS_URI + "/other"), HS_SECRET),
        (request(body, headers, HS_URI), HS_SECRET + "x"),
    ]:
        with pytest.raises(InvalidSignature):
            verifier.verify(changed, [secret], NOW)


# --- Close
CLOSE_KEY = "2b8c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a"


class TestClose:
    verifier = CloseVerifier(300)

    def test_matches_an_independent_computation(self) -> None:
        body = b'{"event":{"id":"ev_1"}}'
        digest = hmac.new(bytes.fromhex(CLOSE_KEY), b"1544271440" + body, hashlib.sha256)
        headers = {"close-sig-hash": digest.hexdigest(), "close-sig-timestamp": "1544271440"}
        self.verifier.verify(request(body, headers), [CLOSE_KEY], 1544271440)

    def test_the_key_is_hex_decoded_not_utf8(self) -> None:
        body = b"{}"
        wrong = hmac.new(CLOSE_KEY.encode(), b"1544271440" + body, hashlib.sha256).hexdigest()
        headers = {"close-sig-hash": wrong, "close-sig-timestamp": "1544271440"}
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(body, headers), [CLOSE_KEY], 1544271440)

    @pytest.mark.parametrize(
        "headers",
        [
            {"close-sig-timestamp": "1544271440"},
            {"close-sig-hash": "00", "close-sig-timestamp": "15442714.40"},
            {"close-sig-hash": "not hex", "close-sig-timestamp": "1544271440"},
        ],
    )
    def test_malformed_headers_are_401(self, headers: dict[str, str]) -> None:
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(b"{}", headers), [CLOSE_KEY], 1544271440)

    def test_stale_is_401_and_a_non_hex_key_is_a_configuration_error(self) -> None:
        headers = self.verifier.sign(b"{}", CLOSE_KEY, 1544271440, method="POST", url="")
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(b"{}", headers), [CLOSE_KEY], 1544271440 + 301)
        with pytest.raises(ConfigurationError):
            self.verifier.verify(request(b"{}", headers), ["not-hex"], 1544271440)


@given(body=st.binary(min_size=1, max_size=256), index=st.integers(0), mask=st.integers(1, 255))
def test_close_breaks_when_any_body_byte_changes(body: bytes, index: int, mask: int) -> None:
    verifier = CloseVerifier(300)
    headers = verifier.sign(body, CLOSE_KEY, NOW, method="POST", url="")
    verifier.verify(request(body, headers), [CLOSE_KEY], NOW)
    position = index % len(body)
    tampered = body[:position] + bytes([body[position] ^ mask]) + body[position + 1 :]
    with pytest.raises(InvalidSignature):
        verifier.verify(request(tampered, headers), [CLOSE_KEY], NOW)


# --- Attio, basic, bearer with a header
def test_attio_reads_either_header_and_never_trusts_its_unsigned_idempotency_key() -> None:
    verifier = AttioVerifier()
    secret = "attio-secret-4c1f9b"
    signature = hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
    for name in ("Attio-Signature", "X-Attio-Signature"):
        headers = {name: signature, "Idempotency-Key": "idem-1"}
        verifier.verify(request(b"{}", headers), [secret], NOW)
        assert verifier.delivery_id(request(b"{}", headers)) is None
    with pytest.raises(InvalidSignature):
        verifier.verify(request(b"{ }", {"Attio-Signature": signature}), [secret], NOW)


class TestBasic:
    verifier = BasicVerifier()

    def test_accepts_the_configured_credentials_during_rotation(self) -> None:
        new = "pipedrive:new-password-0123456"
        headers = self.verifier.sign(b"", new, NOW, method="POST", url="")
        assert headers == {"Authorization": "Basic " + base64.b64encode(new.encode()).decode()}
        self.verifier.verify(request(b"{}", headers), ["pipedrive:old-password-0123456", new], NOW)

    @pytest.mark.parametrize(
        "authorization",
        ["", "Basic", "Basic !!!", "Bearer pipedrive:pw-0123456789abcdef",
         "Basic " + base64.b64encode(b"pipedrive:wrong-0123456789abcd").decode()],
    )  # fmt: skip
    def test_refuses_anything_else(self, authorization: str) -> None:
        with pytest.raises(InvalidSignature):
            self.verifier.verify(
                request(b"{}", {"Authorization": authorization}),
                ["pipedrive:pw-0123456789abcdef"],
                NOW,
            )

    def test_a_secret_without_a_colon_is_a_configuration_error(self) -> None:
        headers = {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}
        with pytest.raises(ConfigurationError):
            self.verifier.verify(request(b"{}", headers), ["no-colon"], NOW)


def test_bearer_with_a_header_reads_only_that_header() -> None:
    verifier = BearerVerifier(header="X-Skipcall-Token")
    tok = "tok-0123456789abcdef"
    verifier.verify(request(b"{}", {"x-skipcall-token": tok}), [tok], NOW)
    verifier.verify(request(b"{}", {"X-Skipcall-Token": f"Bearer {tok}"}), [tok], NOW)
    with pytest.raises(InvalidSignature):
        verifier.verify(request(b"{}", {"Authorization": f"Bearer {tok}"}), [tok], NOW)
    assert verifier.sign(b"", tok, NOW, method="POST", url="") == {"X-Skipcall-Token": tok}


@pytest.mark.parametrize("secret", [":", "user:", ":password-0123456789", "user:short"])
def test_basic_credentials_that_authenticate_anyone_are_refused(secret: str) -> None:
    """#22 finding 13: no user, or a password under 16 bytes, is a misconfiguration."""
    headers = {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
    with pytest.raises(ConfigurationError):
        BasicVerifier().verify(request(b"{}", headers), [secret], NOW)


def test_a_short_query_key_is_refused_even_when_it_matches() -> None:
    verifier = QueryKeyVerifier("code")
    with pytest.raises(ConfigurationError, match="at least 16"):
        verifier.verify(request(b"{}", {}, url="https://h.example/webhooks/d?code=a"), ["a"], NOW)


# --- Salesforce
ORG = "00D5e000000AbCdEAA"
SF_BODY = salesforce_outbound_message(
    [{"Id": "04l5e00000AbC01AAA", "type": "Contact", "fields": {"LastName": "Hopper"}}], ORG
)
BOMB = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>'


class TestSalesforce:
    verifier = SalesforceVerifier([ORG[:15]], "token")
    url = verifier.signed_url("https://h.example.com/webhooks/salesforce", "s3cret")

    def test_token_in_the_url_and_an_allowed_org(self) -> None:
        assert self.url == "https://h.example.com/webhooks/salesforce?token=s3cret"
        self.verifier.verify(request(SF_BODY, {}, self.url), ["s3cret"], NOW)

    @pytest.mark.parametrize(
        "url",
        [
            "https://h.example.com/webhooks/salesforce",
            "https://h.example.com/webhooks/salesforce?token=wrong",
            "https://h.example.com/webhooks/salesforce?token=s3cret&token=s3cret",
        ],
    )
    def test_a_missing_wrong_or_repeated_token_is_401(self, url: str) -> None:
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(SF_BODY, {}, url), ["s3cret"], NOW)

    def test_another_org_is_401(self) -> None:
        body = salesforce_outbound_message(
            [{"Id": "04l5e00000AbC01AAA", "type": "Lead", "fields": {}}], "00D5e000000ZzZzZAA"
        )
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(body, {}, self.url), ["s3cret"], NOW)

    def test_xml_is_parsed_only_after_the_token_matched(self) -> None:
        wrong = "https://h.example.com/webhooks/salesforce?token=nope"
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(BOMB, {}, wrong), ["s3cret"], NOW)
        # The token's holder sent it: verified, and the pipeline stores it as INVALID_XML.
        self.verifier.verify(request(BOMB, {}, self.url), ["s3cret"], NOW)
        with pytest.raises(InvalidXml):
            parse_outbound_message(BOMB)
