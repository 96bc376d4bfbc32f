"""Payload-2.0 event -> the raw request: bytes as sent, and the public URL senders signed."""

from __future__ import annotations

import base64

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from skipcall_bridge.common.errors import InvalidJson
from skipcall_bridge.receive.gateway_event import PublicUrl, signed_request
from skipcall_bridge_dev.gateway import to_event


def event(
    target: str, body: bytes, content_type: str = "application/json"
) -> APIGatewayProxyEventV2:
    headers = [("Host", "abc.execute-api.eu-west-3.amazonaws.com"), ("Content-Type", content_type)]
    raw = to_event("POST", target, headers, body, "abc.execute-api.eu-west-3.amazonaws.com")
    return APIGatewayProxyEventV2(raw)


def test_text_bodies_are_the_bytes_sent() -> None:
    request = signed_request(event("/webhooks/x", '{"é": 1}'.encode()), "x", None)
    assert request.body == '{"é": 1}'.encode()


def test_base64_bodies_are_decoded_before_anything_else() -> None:
    binary = bytes(range(256))
    raw = event("/webhooks/x", binary, "application/octet-stream")
    assert raw.is_base64_encoded
    assert signed_request(raw, "x", None).body == binary


def test_invalid_base64_is_a_400() -> None:
    raw = event("/webhooks/x", b"\xff", "application/octet-stream")
    raw.raw_event["body"] = "not base64!"
    with pytest.raises(InvalidJson):
        signed_request(raw, "x", None)


def test_public_url_is_derived_from_host_path_and_raw_query() -> None:
    request = signed_request(event("/webhooks/hubspot?b=2&a=%3A1", b"[]"), "hubspot", None)
    assert (
        request.url == "https://abc.execute-api.eu-west-3.amazonaws.com/webhooks/hubspot?b=2&a=%3A1"
    )
    assert request.method == "POST"


@pytest.mark.parametrize("base", ["https://hooks.example.com", "https://hooks.example.com/"])
def test_public_base_url_wins(base: str) -> None:
    public = PublicUrl(base_url=base)
    request = signed_request(event("/prod/webhooks/hubspot?x=1", b"[]"), "hubspot", public)
    assert request.url == "https://hooks.example.com/webhooks/hubspot?x=1"


def test_a_source_s_public_url_wins_over_the_base_and_the_host_header() -> None:
    public = PublicUrl("https://crm-hooks.example.org/in/hubspot", "https://hooks.example.com")
    headers = [("Host", "attacker.example"), ("Content-Type", "application/json")]
    raw = APIGatewayProxyEventV2(
        to_event("POST", "/prod/webhooks/hubspot?x=1", headers, b"[]", "abc.example")
    )
    request = signed_request(raw, "hubspot", public)
    assert request.url == "https://crm-hooks.example.org/in/hubspot?x=1"
    # Without either, the domain API Gateway was called at, never the client's Host header
    # (security review #28, finding 10): the docs say to set one behind a proxy.
    assert signed_request(raw, "hubspot").url.startswith("https://abc.example/prod/")


def test_headers_are_case_insensitive() -> None:
    request = signed_request(event("/webhooks/x", b"{}"), "x", None)
    assert request.headers.get("CONTENT-TYPE") == "application/json"
    assert base64.b64encode(request.body) == b"e30="
