"""Salesforce Outbound Messages parsed safely; JSON parsed strictly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.common.errors import InvalidJson, InvalidXml
from skipcall_bridge.common.payloads import parse_body, parse_outbound_message
from skipcall_bridge_dev.sample_bodies import salesforce_outbound_message

ORG = "00D5e000000AbCdEAA"


def test_notifications_become_json_events() -> None:
    body = salesforce_outbound_message(
        [
            {"Id": "04l01", "type": "Contact", "fields": {"Id": "003A", "FirstName": "Grace"}},
            {"Id": "04l02", "type": "Lead", "fields": {"LastName": "Johnson"}},
        ],
        ORG,
    )
    message = parse_outbound_message(body)
    assert message["OrganizationId"] == ORG
    assert message["ActionId"] == "04k5e000000Xyz1AAA"
    assert message["Notification"] == [
        {"Id": "04l01", "sObject": {"type": "Contact", "Id": "003A", "FirstName": "Grace"}},
        {"Id": "04l02", "sObject": {"type": "Lead", "LastName": "Johnson"}},
    ]


def test_the_session_id_is_never_kept() -> None:
    body = salesforce_outbound_message(
        [{"Id": "04l01", "type": "Contact", "fields": {}}], ORG, session_id="00D!AQ0AQ.secret"
    )
    message = parse_outbound_message(body)
    assert "SessionId" not in message
    assert "secret" not in str(message)


def test_nil_fields_are_null() -> None:
    body = salesforce_outbound_message([{"Id": "04l01", "type": "Contact", "fields": {}}], ORG)
    body = body.replace(b"</sObject>", b'<sf:Phone xsi:nil="true"/></sObject>')
    assert parse_outbound_message(body)["Notification"][0]["sObject"]["Phone"] is None


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>',  # entities
        b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1/x.dtd"><d/>',  # DTD
        b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',  # XXE
        b"<notifications>unclosed",
        b'{"json": "is not the declared type"}',
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'/>",
    ],
)
def test_unsafe_or_foreign_xml_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidXml):
        parse_outbound_message(body)


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": NaN}', b"[Infinity]", b"<xml/>"])
def test_json_is_strict(body: bytes) -> None:
    with pytest.raises(InvalidJson):
        parse_body(body, "json")


@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    ),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "utf-32-be"]),
)
def test_json_bytes_are_read_as_json_loads_reads_them(value: object, encoding: str) -> None:
    body = json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")
    assert parse_body(body, "json") == json.loads(body)


@pytest.mark.parametrize("body", [b'{"a": "\xff"}', b'"\xc3"', b'[1, "\x80"]'])
def test_bytes_json_loads_refuses_are_invalid(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - what json.loads raises, to compare with
        json.loads(body)
    with pytest.raises(InvalidJson):
        parse_body(body, "json")
