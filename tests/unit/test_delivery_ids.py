"""Delivery ids: the sender's event id, else its signed delivery header, else the body's SHA-256
(of its fingerprint where the sender changes fields between attempts)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.sources.templates import EventMappingError
from skipcall_bridge.verify import Headers, SignedRequest

SEQUENCE = {"name": "n", "creatorId": "c", "assignedToIds": ["a"]}


def source(name: str, **config: Any):  # type: ignore[no-untyped-def]
    catalog = SourceCatalog.from_config(
        parse_sources(json.dumps({"sources": {name: {"sequence": SEQUENCE, **config}}}))
    )
    found = catalog.get(name)
    assert found is not None
    return found


def ids(
    src: Any,
    body: bytes,
    events: list[Any],
    headers: dict[str, str] | None = None,
    payload: Any = None,
) -> list[str]:
    request = SignedRequest("POST", "https://h/webhooks/x", body, Headers(headers or {}))
    return list(src.delivery_ids(events, lambda: src.base_delivery_id(request, payload)))


def test_hubspot_uses_each_events_event_id() -> None:
    hubspot = source("hs", auth={"scheme": "hubspot", "secretId": "s"}, events="[*]")
    events = [{"eventId": 4106325901}, {"eventId": 4106325902}]
    assert ids(hubspot, b"[]", events) == ["4106325901", "4106325902"]


def test_events_without_an_id_fall_back_to_the_body_hash_and_index() -> None:
    zapier = source("zap", auth={"scheme": "bearer", "secretId": "s"})
    body = b'{"vid": 1}'
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert ids(zapier, body, [{"vid": 1}], payload={"vid": 1}) == [digest]
    assert ids(zapier, body, [{}, {"eventId": None}]) == [f"{digest}:0", f"{digest}:1"]


def test_a_retry_counter_does_not_change_a_body_hash_id() -> None:
    """A Pipedrive v1 body without a deliveryId expression: `retry` goes 0, 1, 2..."""
    pipedrive = source("pd", auth={"scheme": "basic", "secretId": "s"})
    first = {"retry": 0, "current": {"id": 5}, "meta": {"attempt": 1, "id": 9}}
    again = {"meta": {"id": 9, "attempt": 3}, "current": {"id": 5}, "retry": 2}
    one = ids(pipedrive, json.dumps(first).encode(), [first], payload=first)
    two = ids(pipedrive, json.dumps(again, indent=2).encode(), [again], payload=again)
    assert one == two
    other = {**first, "current": {"id": 6}}
    assert ids(pipedrive, json.dumps(other).encode(), [other], payload=other) != one


def test_an_unsigned_header_never_names_a_delivery() -> None:
    """Attio's Idempotency-Key is not signed: a replayed capture with a fresh key is the same
    delivery, because the id comes from the signed body."""
    attio = source("attio", auth={"scheme": "attio", "secretId": "s"})
    body = b'{"webhook_id": "w", "events": [{}, {}]}'
    first = ids(attio, body, [{}, {}], {"Idempotency-Key": "k1"})
    assert first == ids(attio, body, [{}, {}], {"Idempotency-Key": "fresh"})
    assert first[0].startswith("sha256:")


def test_close_and_salesforce_defaults() -> None:
    close = source("close", auth={"scheme": "close", "secretId": "s"})
    assert ids(close, b"{}", [{"event": {"id": "ev_1"}}]) == ["ev_1"]
    salesforce = source(
        "sf", auth={"scheme": "salesforce", "secretId": "s", "organizationIds": ["00D5e000000AbCd"]}
    )
    assert ids(salesforce, b"<x/>", [{"Id": "04l1"}, {"Id": "04l2"}]) == ["04l1", "04l2"]
    assert salesforce.budget_seconds == 20
    assert salesforce.body_format == "xml"


def test_signed_header_ids_and_explicit_expressions() -> None:
    n8n = source("n8n", auth={"scheme": "standard-webhooks", "secretId": "s"})
    assert ids(n8n, b"{}", [{}, {}], {"webhook-id": "msg_1"}) == ["msg_1:0", "msg_1:1"]
    pipedrive = source(
        "pd",
        auth={"scheme": "basic", "secretId": "s"},
        deliveryId="(meta.version == '2.0' && meta.id) || join(':', [to_string(meta.webhook_id), "
        "to_string(meta.timestamp), to_string(meta.id)])",
    )
    v2 = {"meta": {"version": "2.0", "id": "7a3e"}}
    v1 = {"meta": {"v": 1, "webhook_id": 991, "timestamp": 1764147600, "id": 42}}
    assert ids(pipedrive, b"{}", [v2]) == ["7a3e"]
    assert ids(pipedrive, b"{}", [v1]) == ["991:1764147600:42"]


def test_an_id_expression_that_fails_or_yields_a_list_or_an_object_is_an_error() -> None:
    """Security review #28, finding 2: it fell back to a hash of the body, so a captured Twilio
    request with a signed field repeated (a list) replayed under a new id each time. The
    delivery is now kept whole, for a person, rather than acted on under a made-up id."""
    odd = source("odd", auth={"scheme": "bearer", "secretId": "s"}, deliveryId="abs(id)")
    with pytest.raises(EventMappingError, match="deliveryId"):
        ids(odd, b"{}", [{"id": "text"}])
    nested = source("nested", auth={"scheme": "bearer", "secretId": "s"}, deliveryId="id")
    for value in ({"a": 1}, ["a", "a"]):
        with pytest.raises(EventMappingError, match="deliveryId"):
            ids(nested, b"{}", [{"id": value}])
    body = json.dumps({"id": ["a", "a"]}).encode()
    request = SignedRequest("POST", "https://h.example/webhooks/nested", body)
    reading = nested.read(request)
    assert reading.events == []
    assert reading.unselectable is not None
    assert reading.whole_body_id == "sha256:" + hashlib.sha256(body).hexdigest()
    # an id that is absent is no error: the delivery's own id stands in
    digest = "sha256:" + hashlib.sha256(b"{}").hexdigest()
    assert ids(nested, b"{}", [{"name": "no id"}]) == [digest]


def test_the_body_is_not_hashed_when_every_event_has_its_own_id() -> None:
    hubspot = source("hs", auth={"scheme": "hubspot", "secretId": "s"}, events="[*]")

    def never() -> str:
        raise AssertionError("hashed a body nobody needed")

    assert hubspot.delivery_ids([{"eventId": 1}, {"eventId": 2}], never) == ["1", "2"]
