from __future__ import annotations

import json

import pytest

from skipcall_bridge.common import errors
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.outcomes import DeliveryReport, EventOutcome
from skipcall_bridge.receive.responses import STATUS_BY_CODE, delivery_response, error_response

ERRORS = [
    (errors.InvalidJson("x"), 400),
    (errors.InvalidXml("x"), 400),
    (errors.InvalidForm("x"), 400),
    (errors.InvalidSignature(), 401),
    (errors.UnknownSource("x"), 404),
    (errors.RouteNotFound("x"), 404),
    (errors.PayloadTooLarge("x"), 413),
    (errors.MappingFailed("x", details=[{"field": "name"}]), 422),
    (errors.DeliveryConflict("x"), 409),
    (errors.Unavailable("x"), 503),
    (errors.InProgress(), 503),
    (errors.OutOfTime(), 503),
]


def leaf_errors(cls: type[errors.BridgeError]) -> set[type[errors.BridgeError]]:
    children = cls.__subclasses__()
    return set().union(*(leaf_errors(child) for child in children)) if children else {cls}


def test_every_error_class_has_a_status() -> None:
    classes = {type(error) for error, _ in ERRORS}
    assert leaf_errors(errors.BridgeError) <= classes
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


def created(delivery_id: str, sequence_id: str) -> EventOutcome:
    return EventOutcome(delivery_id=delivery_id, status="created", sequence={"id": sequence_id})


def dead(delivery_id: str, reason: Reason = Reason.RATE_LIMITED) -> EventOutcome:
    status = "unmapped" if reason is Reason.MAPPING_FAILED else "dead-lettered"
    return EventOutcome(delivery_id=delivery_id, status=status, reason=reason)


def test_created_is_201() -> None:
    response = delivery_response(DeliveryReport([created("d:0", "s1")]))
    assert response.status_code == 201
    assert response.body == {
        "status": "created",
        "sequences": [{"id": "s1"}],
        "events": [{"deliveryId": "d:0", "status": "created", "sequenceId": "s1"}],
    }


def test_anything_dead_lettered_is_202_with_each_events_outcome() -> None:
    partial = delivery_response(DeliveryReport([created("d:0", "s1"), dead("d:1")]))
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
    only_dead = delivery_response(DeliveryReport([dead("d"), dead("e", Reason.MAPPING_FAILED)]))
    assert only_dead.status_code == 202
    assert only_dead.body is not None
    assert only_dead.body["status"] == "dead-lettered"


def test_unmapped_is_422_with_the_field_errors() -> None:
    errors_ = [{"field": "creatorId", "message": "Field required"}]
    outcome = EventOutcome(
        delivery_id="d", status="unmapped", reason=Reason.MAPPING_FAILED, errors=errors_
    )
    response = delivery_response(DeliveryReport([outcome]))
    assert response.status_code == 422
    assert response.body is not None
    assert response.body["error"]["code"] == "MAPPING_FAILED"
    assert response.body["error"]["details"] == [{"event": 0, **errors_[0]}]


@pytest.mark.parametrize("status", ["created", "partial", "dead-lettered", "unmapped"])
def test_salesforce_gets_its_soap_ack_once_everything_is_stored(status: str) -> None:
    events = {
        "created": [created("a", "s")],
        "partial": [created("a", "s"), dead("b")],
        "dead-lettered": [dead("b")],
        "unmapped": [dead("c", Reason.MAPPING_FAILED)],
    }[status]
    report = DeliveryReport(events, body_format="xml")
    assert report.status == status
    response = delivery_response(report)
    assert response.status_code == 200
    assert response.content_type == "text/xml; charset=utf-8"
    assert "<Ack>true</Ack>" in str(response.body)
    assert 'xmlns="http://soap.sforce.com/2005/09/outbound"' in str(response.body)
