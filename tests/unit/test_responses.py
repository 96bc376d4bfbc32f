from __future__ import annotations

import json

import pytest

from skipcall_bridge import errors
from skipcall_bridge.envelope import Reason
from skipcall_bridge.pipeline import DeadLetterRef, DeliveryReport, EventOutcome
from skipcall_bridge.responses import STATUS_BY_CODE, delivery_response, error_response

ERRORS = [
    (errors.InvalidJson("x"), 400),
    (errors.InvalidXml("x"), 400),
    (errors.InvalidSignature(), 401),
    (errors.UnknownSource("x"), 404),
    (errors.RouteNotFound("x"), 404),
    (errors.PayloadTooLarge("x"), 413),
    (errors.MappingFailed("x", details=[{"field": "name"}]), 422),
    (errors.Unavailable("x"), 503),
]


def leaf_errors(cls: type[errors.BridgeError]) -> set[type[errors.BridgeError]]:
    children = cls.__subclasses__()
    return set().union(*(leaf_errors(child) for child in children)) if children else {cls}


def test_every_error_class_has_a_status() -> None:
    classes = {type(error) for error, _ in ERRORS}
    assert leaf_errors(errors.BridgeError) == classes
    assert {error.code for error, _ in ERRORS} == set(STATUS_BY_CODE)


@pytest.mark.parametrize(("error", "status"), ERRORS)
def test_error_bodies_are_shaped_like_skipcalls(error: errors.BridgeError, status: int) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert response.body is not None
    body = response.body["error"]
    assert (body["code"], body["status"]) == (error.code, status)
    assert ("details" in body) == bool(error.details)
    assert ("Retry-After" in response.headers) == (status == 503)
    json.dumps(response.body)


def test_created_is_201_and_anything_dead_lettered_is_202() -> None:
    first = EventOutcome("d:0", sequence_id="s1")
    created = delivery_response(DeliveryReport("created", [{"id": "s1"}], [], events=[first]))
    assert created.status_code == 201
    assert created.body == {
        "status": "created",
        "sequences": [{"id": "s1"}],
        "events": [{"deliveryId": "d:0", "status": "created", "sequenceId": "s1"}],
    }
    second = EventOutcome("d:1", reason=Reason.RATE_LIMITED)
    refs = [DeadLetterRef("d:1", Reason.RATE_LIMITED)]
    partial = delivery_response(
        DeliveryReport("partial", [{"id": "s1"}], refs, events=[first, second])
    )
    assert partial.status_code == 202
    assert partial.body == {
        "status": "partial",
        "sequences": [{"id": "s1"}],
        "deadLettered": [{"deliveryId": "d:1", "reason": "RATE_LIMITED"}],
        "events": [
            {"deliveryId": "d:0", "status": "created", "sequenceId": "s1"},
            {"deliveryId": "d:1", "status": "dead-lettered", "reason": "RATE_LIMITED"},
        ],
    }
    refs = [DeadLetterRef("d", Reason.RATE_LIMITED)]
    dead = delivery_response(DeliveryReport("dead-lettered", [], refs))
    assert dead.status_code == 202
    assert dead.body is not None
    assert dead.body["status"] == "dead-lettered"


def test_unmapped_is_422_with_the_field_errors() -> None:
    errors_ = [{"event": 0, "field": "creatorId", "message": "Field required"}]
    response = delivery_response(
        DeliveryReport("unmapped", [], [DeadLetterRef("d", Reason.MAPPING_FAILED)], errors_)
    )
    assert response.status_code == 422
    assert response.body is not None
    assert response.body["error"]["code"] == "MAPPING_FAILED"
    assert response.body["error"]["details"] == errors_


@pytest.mark.parametrize("status", ["created", "partial", "dead-lettered", "unmapped"])
def test_salesforce_gets_its_soap_ack_once_everything_is_stored(status: str) -> None:
    report = DeliveryReport(status, [], [], body_format="salesforce-soap")  # type: ignore[arg-type]
    response = delivery_response(report)
    assert response.status_code == 200
    assert response.content_type == "text/xml; charset=utf-8"
    assert "<Ack>true</Ack>" in str(response.body)
    assert 'xmlns="http://soap.sforce.com/2005/09/outbound"' in str(response.body)
