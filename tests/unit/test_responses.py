from __future__ import annotations

import json

import pytest

from skipcall_bridge import errors
from skipcall_bridge.envelope import Reason
from skipcall_bridge.pipeline import DeadLetterRef, DeliveryReport
from skipcall_bridge.responses import STATUS_BY_CODE, delivery_response, error_response

ERRORS = [
    (errors.InvalidJson("x"), 400),
    (errors.InvalidSignature(), 401),
    (errors.UnknownSource("x"), 404),
    (errors.RouteNotFound("x"), 404),
    (errors.PayloadTooLarge("x"), 413),
    (errors.MappingFailed("x", details=[{"field": "name"}]), 422),
    (errors.Unavailable("x"), 503),
]


def test_every_error_class_has_a_status() -> None:
    classes = {type(error) for error, _ in ERRORS}
    assert set(errors.BridgeError.__subclasses__()) == classes
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
    created = delivery_response(DeliveryReport([{"id": "s1"}], []))
    assert created.status_code == 201
    assert created.body == {"status": "created", "sequences": [{"id": "s1"}]}
    partial = delivery_response(
        DeliveryReport([{"id": "s1"}], [DeadLetterRef("d:1", Reason.RATE_LIMITED)])
    )
    assert partial.status_code == 202
    assert partial.body == {
        "status": "partial",
        "sequences": [{"id": "s1"}],
        "deadLettered": [{"deliveryId": "d:1", "reason": "RATE_LIMITED"}],
    }
    assert (
        delivery_response(DeliveryReport([], [DeadLetterRef("d", Reason.RATE_LIMITED)])).body[
            "status"
        ]
        == "dead-lettered"
    )
